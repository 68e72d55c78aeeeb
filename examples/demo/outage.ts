// Section 2: the primary model goes down. A circuit breaker stops sending it traffic and a fallback
// switches to a smaller model; a bulkhead keeps at most 4 calls in flight. State changes print live.
import { circuitBreaker, consecutive, isBrokenCircuitError } from '../../src/breaker/index.js';
import { bulkhead } from '../../src/bulkhead/index.js';
import { fallback } from '../../src/fallback/index.js';
import { Policy } from '../../src/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { timeout } from '../../src/timeout/index.js';
import { chat, type FakeLlm } from './fake-llm.js';
import { color, describeError, heading, pool } from './util.js';

export async function outageSection(llm: FakeLlm): Promise<void> {
  heading('outage: breaker + bulkhead + fallback to a smaller model');
  const t0 = performance.now();
  const at = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`;
  const timeline: string[] = [];

  const breaker = circuitBreaker({ strategy: consecutive(3), breakDuration: 400, name: 'gpt-fake' });
  const limiter = bulkhead({ limit: 4, queue: 20, queueTimeout: 5_000, name: 'llm-slots' });
  const primary = Policy.wrap(
    fallback({
      // Degrade instead of failing: the small model answers while the big one is down.
      to: ({ error }, ctx) => chat(llm.url, 'gpt-small', `fallback after ${describeError(error)}`, ctx.signal),
    }),
    limiter,
    breaker,
    retry({ maxRetries: 1, backoff: constant(50), handle: (e) => !isBrokenCircuitError(e) }),
    timeout(1_000),
  );
  breaker.on('*', (e) => {
    if (e.type === 'open' || e.type === 'half-open' || e.type === 'close') {
      const line = `${at()} breaker ${e.type}${e.type === 'open' ? ` (break ${e.breakDuration} ms, cause ${describeError(e.cause)})` : ''}`;
      timeline.push(line);
      console.log(`  ${color.yellow('▶')} ${line}`);
    }
  });
  let rejected = 0;
  breaker.on('reject', () => rejected++);

  const counts = { primary: 0, small: 0 };
  const call = async (i: number) => {
    const reply = await primary.execute(({ signal }) => chat(llm.url, 'gpt-fake', `call ${i}`, signal));
    if (reply.content.startsWith('(gpt-small)')) counts.small++;
    else counts.primary++;
    await new Promise((r) => setTimeout(r, 40));
  };
  let outageOver: Promise<void> = Promise.resolve();
  await pool(60, 6, async (i) => {
    // From call 15 on, the provider is down for 1.5 s.
    if (i === 15) {
      llm.outage = true;
      console.log(`  ${color.red('✖')} ${at()} provider outage begins`);
      outageOver = new Promise((resolve) =>
        setTimeout(() => {
          llm.outage = false;
          console.log(`  ${color.green('✔')} ${at()} provider is back`);
          resolve();
        }, 1_500),
      );
    }
    await call(i);
  });
  await outageOver;
  // Traffic after the recovery: the next probe closes the circuit and gpt-fake answers again.
  await pool(30, 6, (i) => call(60 + i));
  console.log(
    `  ${color.bold('summary')}: ${counts.primary} answered by gpt-fake, ${counts.small} by the fallback gpt-small, ` +
      `${rejected} calls short-circuited by the open breaker; bulkhead active=${limiter.active} queued=${limiter.queued}`,
  );
  console.log(`  ${color.bold('breaker timeline')}:${timeline.length === 0 ? ' no transitions' : ''}`);
  for (const line of timeline) console.log(color.dim(`    ${line}`));
  console.log(color.dim(`  final state: ${breaker.state}`));
}
