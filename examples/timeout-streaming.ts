// Timeouts for a streaming LLM call: a total deadline around retries, and a per-attempt limit that
// cuts off a stalled stream so the retry can try again. The per-attempt timeout is cooperative: it
// aborts the signal the stream reads and waits for it to stop, so no attempt keeps running unseen.
//
// Run: `npx tsx examples/timeout-streaming.ts`
import { Policy } from '../src/index.js';
import { constant, retry } from '../src/retry/index.js';
import { isTimeoutError, timeout } from '../src/timeout/index.js';

/** A fake token stream: the first attempt stalls after two tokens, the next ones flow. */
export function fakeStream(): (signal: AbortSignal, attempt: number) => AsyncGenerator<string> {
  return async function* stream(signal, attempt) {
    const tokens = ['The', ' answer', ' is', ' 42', '.'];
    for (let i = 0; i < tokens.length; i++) {
      const stall = attempt === 1 && i === 2;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          clearTimeout(t);
          reject(signal.reason);
        };
        const t = setTimeout(
          () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          stall ? 60_000 : 10,
        );
        signal.addEventListener('abort', onAbort, { once: true });
      });
      yield tokens[i] as string;
    }
  };
}

export const streaming = Policy.wrap(
  timeout({ after: 2_000, name: 'total' }), // the whole call, retries included
  retry({ maxRetries: 2, backoff: constant(50), name: 'retry' }),
  timeout({ after: 300, name: 'attempt' }), // one stalled stream is cut off after 300 ms
);

export async function main(): Promise<void> {
  const stream = fakeStream();
  streaming.on('timeout', (e) => console.log(`${e.name} timeout after ${e.ms} ms`));
  streaming.on('retry', (e) => console.log(`retry #${e.attempt} (${isTimeoutError(e.error) ? 'stalled' : 'failed'})`));
  const text = await streaming.execute(async ({ signal, attempt, deadline }) => {
    console.log(`attempt ${attempt}, ${deadline === undefined ? 'no' : Math.round(deadline - Date.now())} ms left`);
    let out = '';
    for await (const token of stream(signal, attempt)) out += token;
    return out;
  });
  console.log(text);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
