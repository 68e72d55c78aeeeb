// Attribute, span and metric names. Semantic-convention names where one exists (`error.type`,
// `gen_ai.*`), `breakwater.*` otherwise. Kept in one place so the guide and the tests can list them.

/** The instrumentation scope: tracer and meter name. */
export const SCOPE = 'breakwater';
/** The package version, reported as the instrumentation scope version (a test keeps it in sync). */
export const VERSION = '0.1.0';
/** The semantic-conventions version the names below follow (`gen_ai.provider.name` is 1.37). */
export const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.37.0';

export const ERROR_TYPE = 'error.type';
export const TARGET = 'breakwater.target';
export const PATH = 'breakwater.policy.path';
export const KIND = 'breakwater.policy.kind';
export const NAME = 'breakwater.policy.name';
export const OUTCOME = 'breakwater.outcome';
export const ATTEMPTS = 'breakwater.attempts';
export const ATTEMPT = 'breakwater.attempt';
export const ATTEMPT_OUTCOME = 'breakwater.attempt.outcome';
export const ATTEMPT_DELAY = 'breakwater.attempt.delay_ms';
export const RETRY_DELAY = 'breakwater.retry.delay_ms';
export const GIVE_UP_REASON = 'breakwater.retry.give_up_reason';
export const TIMEOUT_MS = 'breakwater.timeout.ms';
export const BREAKER_STATE = 'breakwater.breaker.state';
export const SHADOW = 'breakwater.rate_limit.shadow';
export const COST = 'breakwater.gen_ai.cost';
export const STREAM_PHASE = 'breakwater.stream.phase';
export const STREAM_OUTCOME = 'breakwater.stream.outcome';
export const HEDGE_TRIGGER = 'breakwater.hedge.trigger';
export const CHAOS_INJECTION = 'breakwater.chaos.injection';
/** The endpoint of a gateway attempt; the gateway's span events put their fields under `breakwater.gateway.*`. */
export const GATEWAY = 'breakwater.gateway.';
export const ENDPOINT = 'breakwater.gateway.endpoint';

export const GEN_AI_OPERATION = 'gen_ai.operation.name';
export const GEN_AI_PROVIDER = 'gen_ai.provider.name';
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const GEN_AI_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const GEN_AI_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
export const GEN_AI_TOOL = 'gen_ai.tool.name';
export const GEN_AI_INPUT = 'gen_ai.input.messages';
export const GEN_AI_OUTPUT = 'gen_ai.output.messages';

export const ATTEMPT_SPAN = 'breakwater attempt';

/**
 * The event types `instrument` subscribes to: the policies' (`retry`, `give-up`, `timeout`,
 * `fallback`, `reject`, `enqueue`, the breaker's transitions), the stream timeout's (`first-chunk`,
 * `stream-end`), hedging's (`hedge`, `hedge-denied`, `hedge-win`), fault injection's (`chaos`), the
 * rate limiter's (`rate-limited`, `wait`, `feedback`, `store-error`), a shared breaker store's
 * (`degraded`, `resynced`), a registry's (`config-applied`, `config-rejected`) and the gateway's (`usage`, `route`, `attempt`, `eject`,
 * `recover`, `rejected`). Events of other types are not seen (so a layer builds none of them, e.g.
 * a retry's per-call `success`).
 *
 * @example
 * ```ts
 * import { EVENT_TYPES } from 'breakwater/otel';
 * if (!EVENT_TYPES.includes('my-event')) console.warn('instrument() will not see my-event');
 * ```
 */
export const EVENT_TYPES: readonly string[] = [
  'retry',
  'give-up',
  'timeout',
  'fallback',
  'reject',
  'enqueue',
  'open',
  'half-open',
  'close',
  'isolate',
  'first-chunk',
  'stream-end',
  'hedge',
  'hedge-denied',
  'hedge-win',
  'chaos',
  'rate-limited',
  'wait',
  'feedback',
  'store-error',
  'degraded',
  'resynced',
  'config-applied',
  'config-rejected',
  'usage',
  'route',
  'attempt',
  'eject',
  'recover',
  'rejected',
];

/** The breaker states the state gauge reports, one series each (1 for the current state, else 0). */
export const BREAKER_STATES: readonly string[] = ['closed', 'open', 'half-open', 'isolated'];

/**
 * A low-cardinality name for an error, for `error.type`: a breakwater (or Node) error's string `code`
 * (`ERR_TIMEOUT`, `ECONNRESET`), an HTTP client error's numeric `status` (`'429'`), the error's
 * `name` (`'TypeError'`, `'AbortError'`), or `'_OTHER'`.
 */
export function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; status?: unknown; name?: unknown };
    if (typeof e.code === 'string' && e.code !== '') return e.code;
    if (typeof e.status === 'number') return String(e.status);
    if (typeof e.name === 'string' && e.name !== '') return e.name;
  }
  return '_OTHER';
}
