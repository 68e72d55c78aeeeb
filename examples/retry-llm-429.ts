// LLM 429 → backoff that honours the server's `retry-after-ms`.
//
// A fake chat client answers "429 Too Many Requests" with a `retry-after-ms` header twice, then a
// reply. `retry` waits at least what the server asked for (its own exponential backoff otherwise),
// retries 429/5xx/network errors only, and never retries a 400 or the caller's abort.
//
// Run: `npx tsx examples/retry-llm-429.ts`
import { exponential, type RetryEvent, retry } from '../src/retry/index.js';

/** The shape most LLM SDKs (OpenAI, Anthropic, …) give an HTTP error: status + headers. */
export class ApiError extends Error {
  readonly status: number;
  readonly headers: Headers;
  constructor(status: number, headers: Record<string, string> = {}) {
    super(`HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.headers = new Headers(headers);
  }
}

/** A fake model endpoint: rate-limited for the first `limited` calls. */
export function fakeChat(limited: number): (prompt: string, signal: AbortSignal) => Promise<string> {
  let calls = 0;
  return async (prompt, signal) => {
    signal.throwIfAborted();
    calls++;
    if (calls <= limited) throw new ApiError(429, { 'retry-after-ms': '150' });
    return `echo: ${prompt}`;
  };
}

/** Retry what is worth retrying: rate limits, overload, server errors and network failures. */
export const isTransient = (error: unknown): boolean => {
  const status = (error as { status?: unknown }).status;
  return typeof status !== 'number' || status === 408 || status === 429 || status >= 500;
};

export const llmRetry = retry({
  maxRetries: 4,
  backoff: exponential({ initial: 50, max: 2_000 }), // full jitter by default
  handle: isTransient,
  name: 'llm',
});

export async function main(): Promise<void> {
  const chat = fakeChat(2);
  const started = Date.now();
  const off = llmRetry.on('retry', (e: RetryEvent & { type: 'retry' }) => {
    console.log(`attempt ${e.attempt} failed (${String(e.error)}), retrying in ${Math.round(e.delay)} ms`);
  });
  const reply = await llmRetry.execute(({ signal }) => chat('hello', signal));
  off();
  console.log(`${reply} after ${Date.now() - started} ms`); // ≥ 300 ms: two server-imposed waits

  // A 400 is not retried: the error comes back unchanged, at once.
  const bad = await llmRetry.executeOutcome(() => Promise.reject(new ApiError(400)));
  console.log(bad.ok ? 'unexpected' : `not retried: ${String(bad.error)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
