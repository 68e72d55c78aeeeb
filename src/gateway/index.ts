/**
 * The API-gateway pattern as an in-process library: one entry point for calls to named targets (an
 * LLM, a service), each served by several endpoints, with routing (weighted, round-robin,
 * least-busy, latency), outlier ejection with probes, failover and fallbacks by error class
 * (rate-limited, context length, content policy, overloaded), waiting for the earliest recovery,
 * usage and cost per key and endpoint, budgets, an auth hook and one event stream.
 *
 * @example
 * ```ts
 * import { gateway } from 'breakwater/gateway';
 *
 * const gw = gateway({
 *   targets: {
 *     chat: {
 *       endpoints: [
 *         { id: 'a', call: (req, { signal }) => providerA(req, signal), cost: { input: 2.5, output: 10 } },
 *         { id: 'b', call: (req, { signal }) => providerB(req, signal), cost: { input: 3, output: 15 } },
 *       ],
 *     },
 *   },
 * });
 * const { value, endpoint, attempts } = await gw.call('chat', { messages });
 * ```
 *
 * @module
 */
export { classifyError, type ErrorClass } from './classify.js';
export {
  BudgetExceededError,
  GatewayAuthError,
  GatewayUnavailableError,
  isBudgetExceededError,
  isGatewayAuthError,
  isGatewayUnavailableError,
} from './errors.js';
export { gateway } from './gateway.js';
export type { EjectionOptions, HealthState } from './health.js';
export type { Strategy } from './strategy.js';
export type {
  EndpointLimits,
  EndpointOptions,
  EndpointSnapshot,
  Fallbacks,
  Gateway,
  GatewayCallOptions,
  GatewayEvent,
  GatewayInterceptor,
  GatewayOptions,
  GatewayResult,
  GatewaySnapshot,
  InterceptedGatewayCall,
  KeyInfo,
  KeySnapshot,
  TargetOptions,
} from './types.js';
export {
  estimateTokens,
  readChunkUsage,
  readTokenUsage,
  type TokenCost,
  type TokenUsage,
  type UsageTotals,
} from './usage.js';
