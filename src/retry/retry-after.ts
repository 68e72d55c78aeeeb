// Server hints: how long the server asked us to wait, from our own errors or common HTTP/LLM SDK shapes.

type Bag = { get?: (name: string) => unknown; [key: string]: unknown } | null | undefined;

function header(h: Bag, name: string): string | undefined {
  let v: unknown;
  if (typeof h?.get === 'function') v = h.get(name);
  else if (typeof h === 'object' && h !== null) for (const k of Object.keys(h)) if (k.toLowerCase() === name) v = h[k];
  if (Array.isArray(v)) v = v[0];
  return typeof v === 'string' || typeof v === 'number' ? String(v).trim() : undefined;
}

function fromHeaders(h: Bag, now: number): number | undefined {
  const ms = Number(header(h, 'retry-after-ms') ?? Number.NaN);
  if (ms >= 0) return ms;
  const ra = header(h, 'retry-after');
  if (ra === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return date >= 0 ? Math.max(0, date - now) : undefined;
}

/**
 * The delay (ms) a failure asks for: `retryAfter` on the error, or the `retry-after-ms` /
 * `Retry-After` header (seconds or an HTTP date) of `error.headers` or `error.response.headers`
 * (a `Headers` instance or a plain object, any case). `undefined` when there is none.
 * @example
 * ```ts
 * retryAfterHint({ status: 429, headers: { 'retry-after-ms': '150' } }, Date.now()); // 150
 * ```
 * @internal
 */
export function retryAfterHint(error: unknown, now: number): number | undefined {
  const e = error as { retryAfter?: unknown; headers?: Bag; response?: { headers?: Bag } | null } | null;
  if (typeof e !== 'object' || e === null) return undefined;
  const ra = e.retryAfter;
  if (typeof ra === 'number' && ra >= 0 && ra < Number.POSITIVE_INFINITY) return ra;
  return fromHeaders(e.headers, now) ?? fromHeaders(e.response?.headers, now);
}
