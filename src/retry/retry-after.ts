// Server hints: how long the server asked us to wait, from our own errors or common HTTP/LLM SDK shapes.
import { type HeaderBag, retryAfterHeader } from '../core/headers.js';

/**
 * The delay (ms) a failure asks for: `retryAfter` on the error, or the `retry-after-ms` /
 * `Retry-After` header (seconds or an HTTP date) of `error.headers` or `error.response.headers`
 * (a `Headers` instance or a plain object, any case). `undefined` when there is none; `Infinity`
 * when the error says no retry can succeed.
 * @example
 * ```ts
 * retryAfterHint({ status: 429, headers: { 'retry-after-ms': '150' } }, Date.now()); // 150
 * ```
 * @internal
 */
export function retryAfterHint(error: unknown, now: number): number | undefined {
  const e = error as { retryAfter?: unknown; headers?: HeaderBag; response?: { headers?: HeaderBag } | null } | null;
  if (typeof e !== 'object' || e === null) return undefined;
  const ra = e.retryAfter;
  // `Infinity` is a hint too: no retry can succeed (a rate limiter's `capacity` rejection).
  if (typeof ra === 'number' && ra >= 0) return ra;
  return retryAfterHeader(e.headers, now) ?? retryAfterHeader(e.response?.headers, now);
}
