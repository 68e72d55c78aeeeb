/**
 * Idempotency: run an operation once per key, even when callers, brokers or agents repeat it.
 * `idempotent()` is a policy (the key comes from `execute(fn, { key })`), `idempotentConsumer()`
 * wraps an at-least-once message handler, and stores keep the records: in memory here, and SQLite,
 * PostgreSQL and Redis under `breakwater/idempotency/sqlite`, `/postgres`, `/redis`.
 *
 * @example
 * ```ts
 * import { idempotent } from 'breakwater/idempotency';
 * const once = idempotent();
 * await once.execute(() => sendEmail(to), { key: `welcome:${userId}` });
 * ```
 *
 * @module
 */
export { type IdempotentConsumerOptions, idempotentConsumer } from './consumer.js';
export {
  IdempotencyInProgressError,
  IdempotencyKeyMissingError,
  IdempotencyKeyReusedError,
  IdempotencyLeaseLostError,
  IdempotencyNotSerializableError,
  IdempotencyRecordMalformedError,
  IdempotencyStoreUnavailableError,
  isIdempotencyInProgressError,
  isIdempotencyKeyMissingError,
  isIdempotencyKeyReusedError,
  isIdempotencyLeaseLostError,
  isIdempotencyNotSerializableError,
  isIdempotencyRecordMalformedError,
  isIdempotencyStoreUnavailableError,
} from './errors.js';
export { type IdempotencyEvent, type IdempotentOptions, idempotent } from './idempotent.js';
export { type MemoryIdempotencyStoreOptions, memoryIdempotencyStore } from './memory-store.js';
export { fingerprintOf, type ReplayedError } from './serialize.js';
export type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStatus, IdempotencyStore } from './store.js';
