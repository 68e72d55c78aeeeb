// Server hints: how long the server asked us to wait, from our own errors or common HTTP/LLM SDK shapes.

type HeaderBag = { get?: (name: string) => string | null | undefined } & Record<string, unknown>;

function header(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const bag = headers as HeaderBag;
  if (typeof bag.get === 'function') {
    const v = bag.get(name);
    return typeof v === 'string' ? v : undefined;
  }
  for (const k of Object.keys(bag)) {
    if (k.toLowerCase() === name) {
      const v = bag[k];
      if (typeof v === 'string') return v;
      if (typeof v === 'number') return String(v);
      if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
    }
  }
  return undefined;
}

function fromHeaders(headers: unknown, now: number): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = header(headers, 'retry-after');
  if (ra === undefined) return undefined;
  const trimmed = ra.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The delay (ms) a failure asks for, or `undefined`: a numeric `retryAfter` property (breakwater's
 * own errors, e.g. an open breaker), else `retry-after-ms` or `Retry-After` (seconds or an HTTP date)
 * on `error.headers` or `error.response.headers` (a `Headers` object or a plain object).
 *
 * @example
 * ```ts
 * retryAfterHint({ status: 429, headers: { 'retry-after': '2' } }, Date.now()); // 2000
 * ```
 */
export function retryAfterHint(error: unknown, now: number): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as { retryAfter?: unknown; headers?: unknown; response?: { headers?: unknown } | null };
  if (typeof e.retryAfter === 'number' && Number.isFinite(e.retryAfter) && e.retryAfter >= 0) return e.retryAfter;
  const direct = fromHeaders(e.headers, now);
  if (direct !== undefined) return direct;
  const response = e.response;
  return response !== null && typeof response === 'object' ? fromHeaders(response.headers, now) : undefined;
}
