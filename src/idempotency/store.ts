import { IdempotencyRecordMalformedError } from './errors.js';

/**
 * The state of a live record. A released or expired record is simply absent.
 *
 * @example
 * ```ts
 * import type { IdempotencyStatus } from 'breakwater/idempotency';
 *
 * function describe(status: IdempotencyStatus): string {
 *   switch (status) {
 *     case 'in-progress': return 'running: a holder has the lease, duplicates wait or are rejected';
 *     case 'completed': return 'done: duplicates get the stored result';
 *   }
 * }
 * ```
 */
export type IdempotencyStatus = 'in-progress' | 'completed';

/**
 * One stored idempotency record, as a store returns it.
 *
 * @example
 * ```ts
 * import { memoryIdempotencyStore, type IdempotencyRecord } from 'breakwater/idempotency';
 *
 * const store = memoryIdempotencyStore(); // the store your `idempotent({ store })` uses
 * const record: IdempotencyRecord | undefined = await store.get(`welcome:${userId}`, Date.now());
 * if (record?.status === 'completed') console.log('sent; replayed until', new Date(record.expiresAt));
 * else if (record) console.log('sending; lease ends in', record.leaseUntil - Date.now(), 'ms');
 * ```
 */
export interface IdempotencyRecord {
  /** The idempotency key. */
  readonly key: string;
  /** `'in-progress'` while a holder runs, `'completed'` once its result is stored. */
  readonly status: IdempotencyStatus;
  /** The fencing token of the claim that created (or completed) this record. */
  readonly token: string;
  /** The request fingerprint stored with the claim, if any. */
  readonly fingerprint: string | undefined;
  /** In progress: when the holder's lease ends (ms, the caller's clock). */
  readonly leaseUntil: number;
  /** When the record stops counting (ms): the lease end while in progress, the retention end once completed. */
  readonly expiresAt: number;
  /** The serialised outcome (JSON) once completed. */
  readonly result: string | undefined;
}

/**
 * What {@link IdempotencyStore.claim} is asked to store.
 *
 * @example
 * ```ts
 * import { fingerprintOf, memoryIdempotencyStore, type ClaimRequest } from 'breakwater/idempotency';
 *
 * const store = memoryIdempotencyStore();
 * const fingerprint = await fingerprintOf({ to, plan }, 'job-7');
 * const request: ClaimRequest = { fingerprint, lease: 30_000, now: Date.now() };
 * const result = await store.claim('job-7', request); // the key is free: an in-progress record, leased 30 s
 * ```
 */
export interface ClaimRequest {
  /** The request fingerprint to store with the claim. */
  readonly fingerprint: string | undefined;
  /** Lease length in ms. */
  readonly lease: number;
  /** The caller's current time in ms. */
  readonly now: number;
}

/**
 * The answer of {@link IdempotencyStore.claim}: the claim, or the live record that blocks it.
 *
 * @example
 * ```ts
 * import { memoryIdempotencyStore, type ClaimResult } from 'breakwater/idempotency';
 *
 * const store = memoryIdempotencyStore();
 * const first: ClaimResult = await store.claim('k', { fingerprint: undefined, lease: 1_000, now: 0 });
 * const second: ClaimResult = await store.claim('k', { fingerprint: undefined, lease: 1_000, now: 500 });
 * if (first.claimed && !second.claimed) console.log(second.record.token === first.token); // true: the live claim holds
 * ```
 */
export type ClaimResult =
  | {
      readonly claimed: true;
      /** The new fencing token: pass it to `complete`, `renew`, `release`. */
      readonly token: string;
    }
  | { readonly claimed: false; readonly record: IdempotencyRecord };

/**
 * Where idempotency records live. Every implementation passes one conformance suite:
 * - `claim` is atomic: it creates an in-progress record with a lease and a new fencing token when the
 *   key is free (absent, released, lease lapsed, or completed and past its retention); otherwise it
 *   returns the live record untouched;
 * - `complete`, `renew` and `release` act only while the record is in progress, holds `token`, and its
 *   lease has not lapsed at `now`; they return `false` otherwise (the caller lost its claim);
 * - `get` returns the live record, or `undefined` when it is absent or lapsed at `now`.
 *
 * Times are the caller's clock (ms). Methods reject with `IdempotencyStoreUnavailableError` when the
 * backend cannot be reached, and with `IdempotencyRecordMalformedError` for an unreadable record.
 *
 * @example
 * ```ts
 * import { idempotent, memoryIdempotencyStore, type IdempotencyStore } from 'breakwater/idempotency';
 *
 * // A store around another one, counting the claims that found the key taken.
 * const counted = (inner: IdempotencyStore): IdempotencyStore => ({
 *   claim: async (key, request) => {
 *     const result = await inner.claim(key, request);
 *     if (!result.claimed) metrics.duplicates.inc({ status: result.record.status });
 *     return result;
 *   },
 *   complete: (...args) => inner.complete(...args),
 *   renew: (...args) => inner.renew(...args),
 *   release: (...args) => inner.release(...args),
 *   get: (...args) => inner.get(...args),
 * });
 * const once = idempotent({ store: counted(memoryIdempotencyStore()) });
 * ```
 */
export interface IdempotencyStore {
  /** Atomically claims `key`, or returns the live record that holds it. */
  claim(key: string, request: ClaimRequest): Promise<ClaimResult>;
  /** Stores `result` (kept `ttl` ms) if `token` still owns the in-progress claim. */
  complete(key: string, token: string, result: string, ttl: number, now: number): Promise<boolean>;
  /** Extends the lease to `now + lease` if `token` still owns the in-progress claim. */
  renew(key: string, token: string, lease: number, now: number): Promise<boolean>;
  /** Deletes the in-progress record if `token` still owns it, so the next caller runs again. */
  release(key: string, token: string, now: number): Promise<boolean>;
  /** Reads the live record for `key`. */
  get(key: string, now: number): Promise<IdempotencyRecord | undefined>;
}

/**
 * Checks the shape of a record read from a durable store and returns it typed; throws
 * `IdempotencyRecordMalformedError` naming the key otherwise. @internal
 */
export function checkRecord(
  key: string,
  status: unknown,
  token: unknown,
  fingerprint: unknown,
  leaseUntil: unknown,
  expiresAt: unknown,
  result: unknown,
): IdempotencyRecord {
  const lease = typeof leaseUntil === 'string' ? Number(leaseUntil) : leaseUntil;
  const expires = typeof expiresAt === 'string' ? Number(expiresAt) : expiresAt;
  const ok =
    (status === 'in-progress' || (status === 'completed' && typeof result === 'string')) &&
    typeof token === 'string' &&
    token !== '' &&
    (fingerprint == null || typeof fingerprint === 'string') &&
    typeof lease === 'number' &&
    Number.isFinite(lease) &&
    typeof expires === 'number' &&
    Number.isFinite(expires) &&
    (result == null || typeof result === 'string');
  if (!ok) throw new IdempotencyRecordMalformedError(key);
  return {
    key,
    status,
    token,
    fingerprint: (fingerprint ?? undefined) as string | undefined,
    leaseUntil: lease,
    expiresAt: expires,
    result: (result ?? undefined) as string | undefined,
  };
}

/** A new unique fencing token. @internal */
export function newToken(): string {
  return crypto.randomUUID();
}
