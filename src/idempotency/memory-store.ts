import { checkNumber, checkObject } from '../core/validate.js';
import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from './store.js';
import { newToken } from './store.js';

/**
 * Options for {@link memoryIdempotencyStore}.
 *
 * @example
 * ```ts
 * import { idempotent, memoryIdempotencyStore, type MemoryIdempotencyStoreOptions } from 'breakwater/idempotency';
 *
 * const options: MemoryIdempotencyStoreOptions = { maxEntries: 50_000 }; // well above the in-flight peak
 * const once = idempotent({ store: memoryIdempotencyStore(options) });
 * ```
 */
export interface MemoryIdempotencyStoreOptions {
  /**
   * Most records kept. When full, a lapsed record is evicted first, then the oldest completed one,
   * then the oldest of all (which may cost a duplicate run: size it above your in-flight peak).
   * @defaultValue 10000
   */
  readonly maxEntries?: number | undefined;
}

interface Entry {
  status: 'in-progress' | 'completed';
  token: string;
  fingerprint: string | undefined;
  leaseUntil: number;
  expiresAt: number;
  result: string | undefined;
}

const view = (key: string, e: Entry): IdempotencyRecord => ({
  key,
  status: e.status,
  token: e.token,
  fingerprint: e.fingerprint,
  leaseUntil: e.leaseUntil,
  expiresAt: e.expiresAt,
  result: e.result,
});

class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #max: number;
  // Insertion order = age: a Map iterates oldest first, which is what eviction wants.
  readonly #entries = new Map<string, Entry>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Number of records held (including lapsed ones not yet evicted). */
  get size(): number {
    return this.#entries.size;
  }

  claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const { now } = request;
    const current = this.#entries.get(key);
    if (current !== undefined && current.expiresAt > now) {
      return Promise.resolve({ claimed: false, record: view(key, current) });
    }
    if (current !== undefined) this.#entries.delete(key);
    else if (this.#entries.size >= this.#max) this.#evict(now);
    const token = newToken();
    const leaseUntil = now + request.lease;
    this.#entries.set(key, {
      status: 'in-progress',
      token,
      fingerprint: request.fingerprint,
      leaseUntil,
      expiresAt: leaseUntil,
      result: undefined,
    });
    return Promise.resolve({ claimed: true, token });
  }

  complete(key: string, token: string, result: string, ttl: number, now: number): Promise<boolean> {
    const e = this.#owned(key, token, now);
    if (e === undefined) return Promise.resolve(false);
    e.status = 'completed';
    e.result = result;
    e.expiresAt = now + ttl;
    return Promise.resolve(true);
  }

  renew(key: string, token: string, lease: number, now: number): Promise<boolean> {
    const e = this.#owned(key, token, now);
    if (e === undefined) return Promise.resolve(false);
    e.leaseUntil = now + lease;
    e.expiresAt = e.leaseUntil;
    return Promise.resolve(true);
  }

  release(key: string, token: string, now: number): Promise<boolean> {
    const e = this.#owned(key, token, now);
    if (e === undefined) return Promise.resolve(false);
    this.#entries.delete(key);
    return Promise.resolve(true);
  }

  get(key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const e = this.#entries.get(key);
    return Promise.resolve(e === undefined || e.expiresAt <= now ? undefined : view(key, e));
  }

  #owned(key: string, token: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    return e !== undefined && e.status === 'in-progress' && e.token === token && e.leaseUntil > now ? e : undefined;
  }

  // Makes room for one record: the first lapsed record among the oldest few, else the oldest
  // completed one among them, else the oldest of all. Bounded work per claim.
  #evict(now: number): void {
    const entries = this.#entries;
    let completed: string | undefined;
    let oldest: string | undefined;
    let seen = 0;
    for (const [k, e] of entries) {
      oldest ??= k;
      if (e.expiresAt <= now) {
        entries.delete(k);
        return;
      }
      if (completed === undefined && e.status === 'completed') completed = k;
      if (++seen >= 64) break;
    }
    entries.delete((completed ?? oldest) as string);
  }
}

/**
 * An in-process idempotency store: the default, for one process (tests, a single server, an agent
 * run). Bounded by `maxEntries`; lapsed records are evicted when room is needed.
 *
 * @throws TypeError / RangeError when `maxEntries` is not an integer ≥ 1.
 * @example
 * ```ts
 * const policy = idempotent({ store: memoryIdempotencyStore({ maxEntries: 1000 }) });
 * ```
 */
export function memoryIdempotencyStore(
  options?: MemoryIdempotencyStoreOptions,
): IdempotencyStore & { readonly size: number } {
  checkObject('options', options);
  const max = checkNumber('maxEntries', options?.maxEntries ?? 10_000, 1, { integer: true });
  return new MemoryIdempotencyStore(max);
}
