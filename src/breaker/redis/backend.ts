import { BreakwaterError, errorGuard } from '../../core/errors.js';

/**
 * The shared record of a fleet's breaker, as a backend reports it.
 * @internal
 */
export interface Shared {
  /** `open` covers half-open: the break is over when `rem ≤ 0`. */
  readonly s: 'closed' | 'open' | 'isolated';
  /** The epoch: bumped by every shared transition; a fenced operation names the one it saw. */
  readonly e: number;
  /** Ms left of the break (the backend's clock); ≤ 0 once a probe may run. */
  readonly rem: number;
  /** Consecutive openings (drives an escalating break); 0 after a close. */
  readonly n: number;
  /** How many times `reset()` ran anywhere: a rise tells every instance to reset. */
  readonly r: number;
  /** How many instances hold an isolation. */
  readonly i: number;
  /** Whether this instance is one of them (unknown in a notification). */
  readonly m?: boolean | undefined;
}

/** The atomic operations on the shared record. @internal */
export type Op =
  | 'read'
  | 'seed'
  | 'open'
  | 'acquire'
  | 'confirm'
  | 'release'
  | 'renew'
  | 'isolate'
  | 'unisolate'
  | 'reset';

/** What an operation returns: `ok` (1 applied or granted, 0 not, for `renew` the leases kept) and the record after it. @internal */
export interface Reply {
  readonly ok: number;
  /** Undefined when there is no shared record (never written, or lost in a restart): seed it. */
  readonly state: Shared | undefined;
}

/**
 * Where the shared record lives: each operation is atomic and one round trip (a Lua script on Redis).
 * The arguments of each operation are documented with the Redis script.
 * @internal
 */
export interface BreakerBackend {
  exec(op: Op, me: string, slots: number, args: readonly (string | number)[]): Promise<Reply>;
  /**
   * Starts delivering the record after every shared transition to `onState`, and calls `onResume` when
   * delivery resumes after a break (notifications may have been missed). Returns the stop function.
   */
  listen(onState: (state: Shared) => void, onResume: () => void): () => Promise<void>;
  /** False when the backend knows it cannot answer now, so that the store fails fast instead of queueing. */
  ready(): boolean;
}

/**
 * The shared store could not be reached (or did not answer in time): carried by the breaker's
 * `degraded` event. Calls never fail with it — the breaker runs on its local state meanwhile.
 *
 * @example
 * ```ts
 * breaker.on('degraded', (e) => { if (isBreakerStoreError(e.error)) log.warn(e.error.message, e.error.cause); });
 * ```
 */
export class BreakerStoreError extends BreakwaterError {
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super('ERR_BREAKER_STORE', message, options);
  }
}

/**
 * True for a {@link BreakerStoreError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * breaker.on('degraded', (e) => isBreakerStoreError(e.error) && metrics.increment('breaker.store.down'));
 * ```
 */
export const isBreakerStoreError: (error: unknown) => error is BreakerStoreError =
  /*#__PURE__*/ errorGuard<BreakerStoreError>('ERR_BREAKER_STORE');

/** A random hex token (instance id, lease owner). */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}
