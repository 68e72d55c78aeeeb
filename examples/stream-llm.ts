// Time limits for a streaming LLM call: a time-to-first-token limit, an idle limit between tokens,
// retry and a fallback model before the first token only. The large model's first attempt never
// sends a token; its second stalls after two tokens, which the reader sees as an error (no retry:
// the tokens it printed would be printed twice).
//
// Run: `npx tsx examples/stream-llm.ts`

import { fallback } from '../src/fallback/index.js';
import { Policy } from '../src/index.js';
import { constant, retry } from '../src/retry/index.js';
import { isStreamTimeoutError, streamTimeout } from '../src/stream/index.js';

/** A token that arrives after `ms`, or the signal's reason as soon as it aborts. */
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

/** A fake model: `stallAt` is the index of the token that never comes (-1: none). */
async function* model(name: string, stallAt: number, signal: AbortSignal): AsyncGenerator<string> {
  const tokens = [`[${name}]`, ' The', ' answer', ' is', ' 42.'];
  for (let i = 0; i < tokens.length; i++) yield await after(i === stallAt ? 60_000 : 20, tokens[i] as string, signal);
}

// The small model has its own limits; it is only asked when the large one failed to start.
const small = streamTimeout({ firstChunk: 1_000, idle: 500, name: 'small' });

export const llm = Policy.wrap(
  fallback({
    handle: (e) => isStreamTimeoutError(e),
    to: (_failure, ctx) => small.execute(({ signal }) => model('small', -1, signal), { signal: ctx.signal }),
  }),
  retry({ maxRetries: 1, backoff: constant(50) }),
  streamTimeout({ firstChunk: 200, idle: 150, total: 30_000, name: 'large' }),
);

export async function main(): Promise<void> {
  llm.on('first-chunk', (e) => console.log(`${e.name}: first token after ${e.ms} ms`));
  llm.on('timeout', (e) => console.log(`${e.kind === 'stream-timeout' ? e.name : e.kind}: ${e.phase} timeout`));
  llm.on('retry', (e) => console.log(`retry #${e.attempt}`));
  llm.on('fallback', () => console.log('fallback to the small model'));

  // Attempt 1 sends nothing (retried), attempt 2 stalls after two tokens (surfaces to the reader).
  const stream: AsyncIterable<string> = await llm.execute(({ signal, attempt }) =>
    model('large', attempt === 1 ? 0 : 2, signal),
  );
  let text = '';
  try {
    for await (const token of stream) text += token;
  } catch (e) {
    if (!isStreamTimeoutError(e)) throw e;
    console.log(`stream stalled after "${text}" (${e.phase}, ${e.ms} ms): not retried`);
  }

  // Every attempt of the large model stalls before its first token: the small model answers.
  const fromSmall: AsyncIterable<string> = await llm.execute(({ signal }) => model('large', 0, signal));
  text = '';
  for await (const token of fromSmall) text += token;
  console.log(text);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
