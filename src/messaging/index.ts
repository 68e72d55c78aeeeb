/**
 * Messaging patterns (enterprise integration patterns) for services and agents: a content-based
 * {@link router} (intent router), a {@link recipientList} (fan-out), a {@link filter} (content-safety
 * gate), an {@link aggregator} (fan-in by correlation key) and {@link scatterGather} (ask N, gather
 * by all/first/quorum, pick first/best/vote, cancel the losers). A {@link durableAggregator} keeps
 * its groups in a store shared by a fleet (`breakwater/messaging/postgres`, `/redis`); JetStream
 * consumers are in `breakwater/messaging/nats`. Every handler is
 * `(message, ctx) => result`, runs under an optional Policy and gets `ctx.signal`.
 *
 * @example
 * ```ts
 * import { router, scatterGather } from 'breakwater/messaging';
 *
 * const intents = router<string, string>({
 *   routes: [{ name: 'search', when: isSearch, to: search }],
 *   otherwise: chat,
 * });
 * const { route, value } = await intents.route(prompt, { signal });
 * ```
 *
 * @module
 */
export {
  type AddResult,
  type Aggregator,
  type AggregatorOptions,
  aggregator,
  type Completion,
  type CompletionRules,
  type GroupView,
  type LatePolicy,
} from './aggregator.js';
export {
  type AggregatorStore,
  type GroupUpdate,
  memoryAggregatorStore,
  type StoredGroup,
} from './aggregator-store.js';
export type { CompletedBy } from './completion.js';
export {
  type DurableAddResult,
  type DurableAggregator,
  type DurableAggregatorOptions,
  type DurableCompletion,
  durableAggregator,
} from './durable-aggregator.js';
export {
  AggregatorClosedError,
  AggregatorLockError,
  BranchCancelledError,
  FilteredError,
  isAggregatorClosedError,
  isAggregatorLockError,
  isBranchCancelledError,
  isFilteredError,
  isLateMessageError,
  isNoRouteError,
  LateMessageError,
  NoRouteError,
  type NoRouteReason,
} from './errors.js';
export {
  type FilterOptions,
  type FilterResult,
  filter,
  type MessageFilter,
  type RejectAction,
} from './filter.js';
export { GatherError, isGatherError } from './gather-error.js';
export {
  type RecipientList,
  type RecipientListOptions,
  type RecipientResult,
  recipientList,
} from './recipient-list.js';
export { type RouteResult, type Router, type RouterOptions, router } from './router.js';
export {
  type BranchOutcome,
  type GatherCompletedBy,
  type GatherMode,
  type GatherResult,
  type ScatterGather,
  type ScatterGatherOptions,
  type SelectMode,
  scatterGather,
} from './scatter-gather.js';
export { type BranchValue, defaultNormalize } from './select.js';
export type { Condition, Handler, Route } from './types.js';
