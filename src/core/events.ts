/** Fields every policy event carries. */
export interface PolicyEventBase {
  /** The event name, e.g. `'retry'`. */
  readonly type: string;
  /** The kind of policy that emitted it, e.g. `'retry'`, `'timeout'`. */
  readonly kind: string;
  /** The `name` option of the emitting policy, if one was given. */
  readonly name: string | undefined;
}

/** A listener for events of type `E`. */
export type Listener<E> = (event: E) => void;

/** Removes a listener. Calling it twice is harmless. */
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
