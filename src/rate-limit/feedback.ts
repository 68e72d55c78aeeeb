// Server feedback: what a response or error says about the server's own limit. OpenAI sends
// `x-ratelimit-remaining-requests|tokens` and `x-ratelimit-reset-requests|tokens` (a duration such
// as `6m0s`, `1s`, `120ms`); Anthropic `anthropic-ratelimit-requests|tokens-remaining|reset`
// (RFC 3339); a 429 or 503 `Retry-After` / `retry-after-ms`.
import { type HeaderBag, header, retryAfterHeader } from '../core/headers.js';

/**
 * What the server said about its limit.
 *
 * @example
 * ```ts
 * import { rateLimit, type ServerHint } from 'breakwater/rate-limit';
 *
 * const rpm = rateLimit({ limit: 500, per: 60_000 }); // reads the responses' rate limit headers
 * rpm.on('feedback', (e) => {
 *   const hint: ServerHint = e.hint;
 *   log.info(`server: ${hint.remaining ?? '?'} left, whole again in ${hint.reset ?? '?'} ms`, hint.retryAfter);
 * });
 * ```
 */
export interface ServerHint {
  /** Admit nothing for this long (ms): a Retry-After. */
  readonly retryAfter?: number | undefined;
  /** What the server still allows now (requests or tokens). */
  readonly remaining?: number | undefined;
  /** Ms until the server's limit is whole again. */
  readonly reset?: number | undefined;
}

const UNIT: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** `6m0s`, `1s`, `120ms`, `1h2m3.5s` or plain seconds (`"20"`) → ms; `undefined` when unreadable. @internal */
export function parseDuration(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT[m[2] as string] as number);
    end = re.lastIndex;
  }
  return end > 0 && end === text.length ? total : undefined;
}

function bag(value: unknown): HeaderBag {
  const v = value as { headers?: unknown; response?: { headers?: unknown } | null };
  const h = v.headers ?? v.response?.headers;
  return typeof h === 'object' ? (h as HeaderBag) : undefined;
}

/**
 * Reads the hint a result or error carries in `headers` or `response.headers` (a `Headers`
 * instance or a plain object); `kind` picks the requests or the tokens headers. `undefined` when it
 * carries none.
 * @internal
 */
export function readHint(value: unknown, kind: 'requests' | 'tokens', now: number): ServerHint | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const h = bag(value);
  if (h === undefined || h === null) return undefined;
  const retryAfter = retryAfterHeader(h, now);
  let remaining: number | undefined;
  let reset: number | undefined;
  let r = header(h, `x-ratelimit-remaining-${kind}`);
  let t = header(h, `x-ratelimit-reset-${kind}`);
  if (t !== undefined) reset = parseDuration(t);
  if (r === undefined) {
    r = header(h, `anthropic-ratelimit-${kind}-remaining`);
    t = header(h, `anthropic-ratelimit-${kind}-reset`);
    if (t !== undefined) {
      const at = Date.parse(t);
      if (at >= 0) reset = Math.max(0, at - now);
    }
  }
  if (r !== undefined && r !== '') {
    const n = Number(r);
    if (n >= 0) remaining = n;
  }
  return retryAfter === undefined && remaining === undefined ? undefined : { retryAfter, remaining, reset };
}
