// The game day of docs/chaos.md: chaos injected under an agent's model pipeline (fallback → retry →
// breaker → timeout → chaos → model), switched on at run time, with the assertions a team makes.
import { describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import { chaos } from '../../src/chaos/index.js';
import { fallback } from '../../src/fallback/index.js';
import { Policy } from '../../src/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { seededRandom, virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';

function gameDay(seed: number) {
  const clock = virtualClock();
  const flags = { chaos: false };
  const overloaded = () => Object.assign(new Error('529 overloaded'), { status: 529 });
  const injected = chaos({
    fault: { rate: 0.3, error: overloaded },
    latency: { rate: 0.1, ms: 5_000 },
    enabled: () => flags.chaos,
    random: seededRandom(seed),
    clock,
  });
  const breaker = circuitBreaker({ strategy: consecutive(5), breakDuration: 10_000, clock });
  const llm = Policy.wrap(
    fallback({ to: () => 'CACHED' }),
    retry({ maxRetries: 2, backoff: constant(200), clock, random: seededRandom(seed + 1) }),
    breaker,
    timeout({ after: 2_000, clock }),
    injected,
  );
  const counts = { chaos: 0, retry: 0, timeout: 0, fallback: 0, open: 0, modelCalls: 0 };
  llm.on('*', (e) => {
    if (e.type in counts) counts[e.type as keyof typeof counts]++;
  });
  const model = async ({ signal }: { signal: AbortSignal }) => {
    counts.modelCalls++;
    await clock.sleep(50, signal);
    return 'ANSWER';
  };
  const ask = async (): Promise<string> => {
    const p = llm.execute(model);
    await clock.runAll();
    return p;
  };
  return { clock, flags, breaker, counts, ask };
}

describe('game day: chaos under retry, breaker, timeout and fallback', () => {
  it('every call still answers, the layers absorb what chaos injects, and the run replays', async () => {
    const run = async (seed: number) => {
      const g = gameDay(seed);
      const answers: string[] = [];
      for (let i = 0; i < 20; i++) answers.push(await g.ask());
      // Chaos is off: the model answers every call, nothing is injected.
      expect(answers.every((a) => a === 'ANSWER')).toBe(true);
      expect(g.counts.chaos).toBe(0);

      g.flags.chaos = true; // the game day starts
      for (let i = 0; i < 200; i++) answers.push(await g.ask());
      g.flags.chaos = false; // and ends
      await g.clock.advance(10_000); // past any break
      for (let i = 0; i < 20; i++) answers.push(await g.ask());
      return { answers, g };
    };
    const { answers, g } = await run(7);
    const during = answers.slice(20, 220);
    // 1. No call failed: each got the model's answer or the fallback.
    expect(new Set(answers)).toEqual(new Set(['ANSWER', 'CACHED']));
    // 2. The layers did their work: retries absorbed faults, the timeout cut injected latency.
    expect(g.counts.chaos).toBeGreaterThan(0);
    expect(g.counts.retry).toBeGreaterThan(0);
    expect(g.counts.timeout).toBeGreaterThan(0);
    // 3. Degradation stayed bounded: most calls still got a real answer.
    const cached = during.filter((a) => a === 'CACHED').length;
    expect(cached).toBe(g.counts.fallback);
    expect(cached / during.length).toBeLessThan(0.2);
    // 4. After the game day, the breaker is closed again and every answer is real.
    expect(g.breaker.state).toBe('closed');
    expect(answers.slice(220).every((a) => a === 'ANSWER')).toBe(true);
    // 5. The same seeds replay the same game day, call for call.
    const again = await run(7);
    expect(again.answers).toEqual(answers);
    expect(again.g.counts).toEqual(g.counts);
  });
});
