// LLM timeout → fallback model: give the large model 200 ms; when it times out, answer with a
// small, fast model instead. Other failures (a 400, a content-filter refusal) are not hidden.
//
// Run: `npx tsx examples/fallback-llm-timeout.ts`

import { fallback } from '../src/fallback/index.js';
import { Policy } from '../src/index.js';
import { isTimeoutError, timeout } from '../src/timeout/index.js';

/** A fake model that answers after `ms`, and stops as soon as its signal aborts. */
export function fakeModel(name: string, ms: number): (prompt: string, signal: AbortSignal) => Promise<string> {
  return (prompt, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(`[${name}] ${prompt.toUpperCase()}`);
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
}

const large = fakeModel('large', 1_000); // too slow today
const small = fakeModel('small', 20);

export const chat = Policy.wrap(
  fallback({
    handle: isTimeoutError, // only a timeout falls back
    to: (_failure, ctx) => small(String(ctx.data.prompt), ctx.signal),
    name: 'small-model',
  }),
  timeout({ after: 200, name: 'large-model' }),
);

export async function main(): Promise<void> {
  chat.on('*', (e) => console.log(`event: ${e.kind}/${e.name} ${e.type}`));
  const prompt = 'summarise the incident';
  const answer = await chat.execute(({ signal }) => large(prompt, signal), { data: { prompt } });
  console.log(answer);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
