// Reading response headers off the shapes HTTP and LLM SDK clients hand back (a `Headers` instance,
// a plain object in any case, node's arrays), and the server's "wait this long" hint. Shared by
// retry (its delay) and the rate limiter (server feedback); kept small, as every bundle of either
// carries it.

/** A header bag: a `Headers`-like object with `get`, or a plain object keyed in any case. @internal */
export type HeaderBag = { get?: (name: string) => unknown; [key: string]: unknown } | null | undefined;

/** The value of header `name` (lower case) in `h`, trimmed; `undefined` when absent. @internal */
export function header(h: HeaderBag, name: string): string | undefined {
  let v: unknown;
  if (typeof h?.get === 'function') v = h.get(name);
  else if (typeof h === 'object' && h !== null) for (const k of Object.keys(h)) if (k.toLowerCase() === name) v = h[k];
  if (Array.isArray(v)) v = v[0];
  return typeof v === 'string' || typeof v === 'number' ? String(v).trim() : undefined;
}

/**
 * The delay (ms) headers ask for: `retry-after-ms`, else `Retry-After` (seconds or an HTTP date,
 * measured from `now`). `undefined` when neither is there or readable.
 * @internal
 */
export function retryAfterHeader(h: HeaderBag, now: number): number | undefined {
  const ms = Number(header(h, 'retry-after-ms') ?? Number.NaN);
  if (ms >= 0) return ms;
  const ra = header(h, 'retry-after');
  if (ra === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return date >= 0 ? Math.max(0, date - now) : undefined;
}
