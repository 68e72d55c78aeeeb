/**
 * Fields every policy event carries.
 *
 * @example
 * ```ts
 * import { Policy, type PolicyEventBase } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 * import { timeout } from 'breakwater/timeout';
 *
 * const logEvent = (e: PolicyEventBase) => log.info(`${e.kind}${e.name ? `(${e.name})` : ''}: ${e.type}`);
 * const policy = Policy.wrap(timeout(10_000), retry({ name: 'search' }));
 * policy.on('*', logEvent); // every event of both layers
 * ```
 */
export interface PolicyEventBase {
  /** The event name, e.g. `'retry'`. */
  readonly type: string;
  /** The kind of policy that emitted it, e.g. `'retry'`, `'timeout'`. */
  readonly kind: string;
  /** The `name` option of the emitting policy, if one was given. */
  readonly name: string | undefined;
}

/**
 * A listener for events of type `E`.
 *
 * @example
 * ```ts
 * import type { Listener } from 'breakwater';
 * import { retry, type RetryEvent } from 'breakwater/retry';
 *
 * const logRetry: Listener<RetryEvent> = (e) => log.info(`${e.name} ${e.type} after attempt ${e.attempt}`);
 * const policy = retry({ name: 'search' });
 * policy.on('retry', logRetry);
 * policy.on('give-up', logRetry);
 * ```
 */
export type Listener<E> = (event: E) => void;

/**
 * Removes a listener. Calling it twice is harmless.
 *
 * @example
 * ```ts
 * import type { Unsubscribe } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 *
 * const policy = retry({ maxRetries: 3 });
 * const off: Unsubscribe = policy.on('retry', (e) => log.warn(`retrying in ${e.delay} ms`));
 * // later, e.g. when the request that added it ends:
 * off();
 * ```
 */
export type Unsubscribe = () => void;

/**
 * A tiny typed event emitter. `has(type)` lets an emitter skip building the event object when
 * nobody listens; a throwing listener is isolated from the call and from other listeners.
 * @internal
 */
export class Emitter<E extends PolicyEventBase> {
  // Copy on write: an emit in progress keeps iterating the arrays it started with.
  #m = new Map<string, Listener<E>[]>();
  /** Total number of listeners; 0 means every emit can be skipped. */
  count = 0;

  /** True when `type` (or `'*'`) has a listener. */
  has(type: E['type']): boolean {
    return this.count > 0 && (this.#m.has(type) || this.#m.has('*'));
  }

  on(type: string, listener: Listener<E>): Unsubscribe {
    const m = this.#m;
    m.set(type, [...(m.get(type) ?? []), listener]);
    this.count++;
    let on = true;
    return () => {
      if (on) {
        on = false;
        const a = [...(m.get(type) as Listener<E>[])];
        a.splice(a.indexOf(listener), 1);
        if (a.length) m.set(type, a);
        else m.delete(type);
        this.count--;
      }
    };
  }

  emit(event: E): void {
    const m = this.#m;
    for (const l of [...(m.get(event.type) ?? []), ...(m.get('*') ?? [])]) {
      try {
        l(event);
      } catch {
        // A listener's failure must never change the outcome of the call it observes.
      }
    }
  }
}
