// Hedging an LLM call on time to first token. `streamTimeout({ firstChunk })` resolves `execute` only
// when the first chunk has arrived, so a `hedge()` around it races the attempts on time to first
// token: while attempt 1 has sent nothing after `delay`, attempt 2 goes to another deployment; the
// first stream to produce a token is returned, the other is aborted (its signal's reason is a
// `HedgeCancelledError`) and its iterator closed, so it stops generating (and billing) tokens.
//
// Two fake deployments: `eu` answers in ~40 ms when warm, but is cold for the third call (first token
// after 2 s); `us` always answers in ~60 ms.
//
// Run: `npx tsx examples/hedge-ttft.ts`
import { hedge, hedgeBudget, isHedgeCancelledError } from '../src/hedge/index.js';
import { Policy } from '../src/index.js';
import { streamTimeout } from '../src/stream/index.js';

/** `value` after `ms`, or the signal's reason as soon as it aborts. */
function after<T>(ms: number, value: T, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A fake streaming deployment: the first token after `ttft` ms, then one every 10 ms. */
async function* deployment(name: string, ttft: number, signal: AbortSignal): AsyncGenerator<string> {
  const tokens = [`[${name}]`, ' Incident', ' resolved:', ' disk', ' full', ' on', ' db-2.'];
  let sent = 0;
  try {
    for (const token of tokens) {
      yield await after(sent === 0 ? ttft : 10, token, signal);
      sent++;
    }
  } catch (error) {
    const why = isHedgeCancelledError(error) ? `cancelled by the hedge (attempt ${error.winner} won)` : String(error);
    console.log(`  ${name}: ${why} after ${sent} tokens`);
    throw error;
  }
}

// Shared across calls: hedges are at most ~10 % of calls (plus 1 per second), so a provider-wide
// slowdown does not double the load.
const budget = hedgeBudget({ ratio: 0.1, minPerSecond: 1 });

export const chat = Policy.wrap(
  // p95 of the observed time to first token once 20 calls were seen; `max` until then (and as a cap).
  hedge({ delay: { percentile: 95, min: 50, max: 150 }, maxHedges: 1, budget, name: 'chat' }),
  streamTimeout({ firstChunk: 5_000, idle: 1_000, name: 'ttft' }), // per attempt
);

export async function main(): Promise<void> {
  chat.on('hedge', (e) => console.log(`  no first token after ${Math.round(e.delay)} ms: attempt ${e.attempt} starts`));
  chat.on('hedge-win', (e) => console.log(`  attempt ${e.attempt} of ${e.attempts} answered first`));

  for (let call = 1; call <= 3; call++) {
    const cold = call === 3;
    console.log(`call ${call}${cold ? ' (eu is cold)' : ''}:`);
    const started = Date.now();
    const stream: AsyncIterable<string> = await chat.execute(({ signal, attempt }) =>
      attempt === 1 ? deployment('eu', cold ? 2_000 : 40, signal) : deployment('us', 60, signal),
    );
    const ttft = Date.now() - started;
    let text = '';
    for await (const token of stream) text += token;
    console.log(`  first token after ${ttft} ms: ${text}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
