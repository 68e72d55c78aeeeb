/**
 * OpenTelemetry for any policy, pipeline, registry or gateway (the sidecar pattern as a library):
 * a span per call with a child span per attempt, span events for retries, fallbacks, rejections and
 * breaker transitions, and metrics for calls, retries, breaker state, bulkhead occupancy, limiter
 * waits and gen_ai token usage. Imports `@opentelemetry/api` (an optional peer dependency); no
 * other breakwater entry point does.
 *
 * @example
 * ```ts
 * import { Policy } from 'breakwater';
 * import { instrument } from 'breakwater/otel';
 * import { retry } from 'breakwater/retry';
 *
 * const policy = Policy.wrap(retry({ maxRetries: 2 }));
 * const uninstrument = instrument(policy, { name: 'search' });
 * await policy.execute(() => search(query)); // one span, one child span per attempt
 * uninstrument();
 * ```
 *
 * @module
 */
export { instrument } from './instrument.js';
export { EVENT_TYPES } from './names.js';
export type {
  AttemptInfo,
  GenAiCall,
  Instrumentable,
  InstrumentOptions,
  InterceptedCall,
  Interceptor,
  LayerInfo,
  Uninstrument,
  Usage,
  UsageEvent,
} from './types.js';
export { readUsage } from './usage.js';
