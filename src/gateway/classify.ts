// The built-in error classifier: duck typing on the shapes the `openai` 6.x and `@anthropic-ai/sdk`
// clients throw (`status`, `headers`, `code`, `type`, `error`), plain HTTP responses or
// `{ status, headers }`, Node and undici network errors, and breakwater's own errors. No SDK is
// imported: the shapes are read, never the classes.
import { isBrokenCircuitError, isIsolatedCircuitError } from '../breaker/errors.js';
import { isBulkheadRejectedError } from '../bulkhead/errors.js';
import { isBreakwaterError, isTimeoutError } from '../core/errors.js';
import { isRateLimitedError } from '../rate-limit/errors.js';
import { isStreamTimeoutError } from '../stream/errors.js';
import { isGatewayUnavailableError } from './errors.js';

/**
 * What kind of failure an endpoint error is, which decides what the gateway does next:
 * - `'rate-limited'`: the endpoint cools down for its Retry-After; another endpoint is tried.
 * - `'context-length'`: the request is too long for this endpoint; endpoints with a larger
 *   `contextWindow`, then the target's `fallbacks['context-length']`, are tried. Never retried as is.
 * - `'content-policy'`: the provider refused the content; the target's `fallbacks['content-policy']` is tried.
 * - `'auth'`: the endpoint's credentials are refused (401, 403, an exhausted quota); the endpoint is
 *   ejected and another is tried.
 * - `'overloaded'`, `'timeout'`, `'unknown'` (5xx, connection failures): counted towards ejection;
 *   another endpoint is tried.
 * - `'client'`: the request itself is wrong (400, 422, …); the call fails at once.
 *
 * @example
 * ```ts
 * import { classifyError, type ErrorClass, gateway } from 'breakwater/gateway';
 *
 * // A provider whose quota error has no 429: fail over as from a rate limit.
 * const classify = (e: unknown): ErrorClass =>
 *   (e as { code?: unknown }).code === 'quota_exceeded' ? 'rate-limited' : classifyError(e);
 * const gw = gateway({ targets, classify });
 * ```
 */
export type ErrorClass =
  | 'rate-limited'
  | 'context-length'
  | 'content-policy'
  | 'auth'
  | 'overloaded'
  | 'timeout'
  | 'client'
  | 'unknown';

/** Every {@link ErrorClass}, for validation and tables. @internal */
export const ERROR_CLASSES: readonly ErrorClass[] = [
  'rate-limited',
  'context-length',
  'content-policy',
  'auth',
  'overloaded',
  'timeout',
  'client',
  'unknown',
];

type Shape = {
  status?: unknown;
  statusCode?: unknown;
  code?: unknown;
  type?: unknown;
  name?: unknown;
  message?: unknown;
  error?: unknown;
  response?: { status?: unknown } | null;
  cause?: unknown;
};

const CONTEXT =
  /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|reduce the length of the (messages|prompt)|input is too long|exceeds the model's (maximum|context)/i;
const POLICY = /content[_ ]?(management )?polic|content[_ ]filter|responsible ?ai|safety system|flagged by|moderation/i;

/** `error.error` and `error.error.error` (OpenAI puts the body's `error` there, Anthropic the whole body). */
function bodies(e: Shape): [Shape | undefined, Shape | undefined] {
  const b = typeof e.error === 'object' && e.error !== null ? (e.error as Shape) : undefined;
  const inner = b !== undefined && typeof b.error === 'object' && b.error !== null ? (b.error as Shape) : undefined;
  return [b, inner];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The built-in classifier: reads an `openai` 6.x or `@anthropic-ai/sdk` error (`RateLimitError`,
 * `APIConnectionTimeoutError`, `BadRequestError` with `context_length_exceeded`, content-policy
 * refusals, Anthropic's `overloaded_error` 529, `rate_limit_error`, `invalid_request_error` "prompt
 * is too long"), a plain HTTP `Response` or `{ status, headers }` (thrown as is), a Node or undici
 * network error, and breakwater's own errors (a `TimeoutError` is `'timeout'`, a `BrokenCircuitError`
 * or `BulkheadRejectedError` `'overloaded'`, a `RateLimitedError` `'rate-limited'`).
 *
 * @example
 * ```ts
 * const gw = gateway({
 *   targets,
 *   classify: (e) => (isMyQuotaError(e) ? 'rate-limited' : classifyError(e)),
 * });
 * ```
 */
export function classifyError(error: unknown): ErrorClass {
  if (typeof error !== 'object' || error === null) return 'unknown';
  const e = error as Shape;
  const [body, inner] = bodies(e);
  const code = str(e.code) || str(body?.code) || str(inner?.code);
  const type = str(e.type) || str(inner?.type) || str(body?.type);
  const name = str(e.name);
  // breakwater's own errors (by their brand guards: stable codes, not classes).
  if (isBreakwaterError(error)) {
    if (isTimeoutError(error) || isStreamTimeoutError(error)) return 'timeout';
    if (isRateLimitedError(error)) return 'rate-limited';
    if (
      isBrokenCircuitError(error) ||
      isIsolatedCircuitError(error) ||
      isBulkheadRejectedError(error) ||
      isGatewayUnavailableError(error)
    )
      return 'overloaded';
  }
  const status = statusOf(e);
  // Messages are read only where a request error can be (a 429 "Request too large … tokens per
  // min" is a rate limit, not a context length).
  const message =
    status === undefined || status === 400 || status === 413 || status === 422
      ? `${str(e.message)} ${str(body?.message)} ${str(inner?.message)}`
      : '';
  if (code === 'context_length_exceeded' || code === 'string_above_max_length' || CONTEXT.test(message))
    return 'context-length';
  if (POLICY.test(code) || name === 'ContentFilterFinishReasonError' || POLICY.test(message)) return 'content-policy';
  if (code === 'insufficient_quota' || type === 'authentication_error' || type === 'permission_error') return 'auth';
  if (type === 'overloaded_error') return 'overloaded';
  if (type === 'rate_limit_error') return 'rate-limited';
  if (status !== undefined) {
    if (status === 429) return 'rate-limited';
    if (status === 401 || status === 403) return 'auth';
    if (status === 408 || status === 504) return 'timeout';
    if (status === 529 || status === 503) return 'overloaded';
    if (status === 413) return 'context-length';
    // A 404 from an LLM API is a deployment that does not serve this model: try another.
    if (status === 404 || status >= 500) return 'unknown';
    if (status >= 400) return 'client';
  }
  // openai's errors keep the name `Error`: their constructor's name, or the message, tells.
  const ctor = str((e as { constructor?: { name?: unknown } }).constructor?.name);
  if (/timeout|timed ?out/i.test(name) || ctor === 'APIConnectionTimeoutError') return 'timeout';
  if (status === undefined && /^request timed out/i.test(str(e.message))) return 'timeout';
  switch (code) {
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
  }
  // A `fetch` failure wraps the network error in `cause`.
  if (name === 'TypeError' && typeof e.cause === 'object' && e.cause !== null) return classifyError(e.cause);
  return 'unknown';
}

/**
 * A refusal by one of breakwater's own policies (an open or isolated breaker, a full bulkhead, a
 * rate limiter): in a target's `policy`, shared by every endpoint, it says nothing about the
 * endpoint the attempt was meant for. @internal
 */
export function isRefusal(error: unknown): boolean {
  return (
    isBreakwaterError(error) &&
    (isBrokenCircuitError(error) ||
      isIsolatedCircuitError(error) ||
      isBulkheadRejectedError(error) ||
      isRateLimitedError(error))
  );
}

/** The HTTP status an error carries (`status`, `statusCode`, `response.status`), if any. @internal */
export function statusOf(e: Shape): number | undefined {
  const s = e.status ?? e.statusCode ?? e.response?.status;
  return typeof s === 'number' && s >= 100 && s < 600 ? s : undefined;
}
