// Model API down → break and switch to a fallback model. After 3 failures in a row the breaker
// opens: calls stop hitting the dead API (no timeouts piling up, no wasted quota) and the fallback
// answers at once from a smaller model. After the break one probe tries the primary again.
//
// Run: `npx tsx examples/breaker-fallback-model.ts`

import { circuitBreaker, consecutive, isBrokenCircuitError } from '../src/breaker/index.js';
import { fallback } from '../src/fallback/index.js';
import { Policy } from '../src/index.js';
import { timeout } from '../src/timeout/index.js';

let primaryUp = false;
/** A fake primary model: fails while "down". */
async function primary(prompt: string): Promise<string> {
  if (!primaryUp) throw Object.assign(new Error('503 Service Unavailable'), { status: 503 });
  return `[primary] ${prompt}`;
}
/** A smaller model on another provider. */
async function backup(prompt: string): Promise<string> {
  return `[backup] ${prompt}`;
}

export const breaker = circuitBreaker({
  strategy: consecutive(3),
  breakDuration: 200, // short for the demo; 10–60 s in production
  // A 400 (bad request) is the caller's fault, not the provider's: it does not count.
  handle: (e) => (e as { status?: number }).status === undefined || (e as { status: number }).status >= 500,
  name: 'primary-model',
});

export const chat = Policy.wrap(
  fallback({ to: (_failure, ctx) => backup(String(ctx.data.prompt)), name: 'backup-model' }),
  breaker,
  timeout(20_000),
);

export async function main(): Promise<void> {
  breaker.on('open', (e) => console.log(`breaker open for ${e.breakDuration} ms (${String(e.cause)})`));
  breaker.on('half-open', () => console.log('breaker half-open: probing the primary'));
  breaker.on('close', () => console.log('breaker closed: primary is back'));
  const ask = (prompt: string) => chat.execute(() => primary(prompt), { data: { prompt } });
  for (let i = 1; i <= 5; i++) console.log(await ask(`question ${i}`), `(state: ${breaker.state})`);
  // While open, a caller without a fallback learns when to come back:
  const direct = await breaker.executeOutcome(() => primary('direct'));
  if (!direct.ok && isBrokenCircuitError(direct.error)) console.log(`retry in ${direct.error.retryAfter} ms`);
  primaryUp = true;
  await new Promise((r) => setTimeout(r, 250));
  console.log(await ask('question 6'), `(state: ${breaker.state})`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
