// Many agent workers, one breaker per LLM provider. Every worker builds its breaker with a Redis
// store of the same key: when one worker's calls to the provider fail and its breaker opens, every
// other worker stops calling the provider too (within the staleness bound, 1 s by default; usually
// a few ms), and after the break one probe in the whole fleet decides whether it is back.
//
// Three "workers" share one process here so the example runs alone; in production each is its own
// process or pod. Needs Redis on 127.0.0.1:6379 (or REDIS_URL).
// Run: `npx tsx examples/breaker-fleet-redis.ts`

import { Redis } from 'ioredis';
import { type CircuitBreaker, circuitBreaker, consecutive, isBrokenCircuitError } from '../src/breaker/index.js';
import { type RedisBreakerStore, redisBreakerStore } from '../src/breaker/redis/index.js';

let providerUp = false;
/** A fake provider API: fails while "down". */
async function complete(prompt: string): Promise<string> {
  if (!providerUp) throw Object.assign(new Error('529 overloaded'), { status: 529 });
  return `[model] ${prompt}`;
}

/** What each worker process does at startup: one breaker per provider, shared through Redis. */
export function providerBreaker(
  redis: Redis,
  provider: string,
  worker: string,
): { breaker: CircuitBreaker; store: RedisBreakerStore } {
  const store = redisBreakerStore(redis, { key: `llm:${provider}`, prefix: `example:${process.pid}:` });
  const breaker = circuitBreaker({
    strategy: consecutive(3),
    breakDuration: (n) => Math.min(300 * 2 ** (n - 1), 60_000), // short for the demo; escalates fleet-wide
    handle: (e) => ((e as { status?: number }).status ?? 500) >= 500, // a 4xx is our bug, not an outage
    store,
    name: `${provider}@${worker}`,
  });
  breaker.on('open', (e) => console.log(`${worker}: ${provider} open for ${Math.round(e.breakDuration)} ms`));
  breaker.on('close', () => console.log(`${worker}: ${provider} closed`));
  breaker.on('degraded', (e) => console.warn(`${worker}: Redis unreachable, running locally`, e.error));
  return { breaker, store };
}

export async function main(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // reconnects by itself; the breakers run locally meanwhile
  const workers = ['w1', 'w2', 'w3'].map((w) => providerBreaker(redis, 'openai', w));
  await new Promise((r) => setTimeout(r, 100));
  const [w1, w2] = workers as [(typeof workers)[0], (typeof workers)[0]];

  // Worker 1 meets the outage first: three failures open the circuit for every worker.
  for (let i = 0; i < 3; i++) await w1.breaker.execute(() => complete('hello')).catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  const r = await w2.breaker.executeOutcome(() => complete('hello'));
  if (!r.ok && isBrokenCircuitError(r.error))
    console.log(`w2 never called the provider; retry in ${r.error.retryAfter} ms`);

  // The provider recovers; after the break exactly one worker probes, and its success closes all.
  providerUp = true;
  await new Promise((r) => setTimeout(r, 350));
  const answers = await Promise.allSettled(workers.map((w) => w.breaker.execute(() => complete('probe?'))));
  console.log(answers.map((a) => (a.status === 'fulfilled' ? a.value : 'rejected (another worker probes)')));
  await new Promise((r) => setTimeout(r, 50));
  console.log(workers.map((w) => w.breaker.state));

  for (const w of workers) await w.store.close();
  await redis.del(`example:${process.pid}:{llm:openai}`);
  redis.disconnect();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
