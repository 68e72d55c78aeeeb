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
  #listeners: Map<string, Listener<E>[]> | undefined = undefined;
  /** Total number of listeners; 0 means every emit can be skipped. */
  count = 0;

  /** True when `type` (or `'*'`) has a listener. */
  has(type: E['type']): boolean {
    if (this.count === 0) return false;
    const m = this.#listeners as Map<string, Listener<E>[]>;
    return m.has(type) || m.has('*');
  }

  on(type: string, listener: Listener<E>): Unsubscribe {
    this.#listeners ??= new Map();
    const list = this.#listeners.get(type);
    // Copy on write: an emit in progress keeps iterating its own array.
    this.#listeners.set(type, list === undefined ? [listener] : [...list, listener]);
    this.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const m = this.#listeners as Map<string, Listener<E>[]>;
      const current = m.get(type) ?? [];
      const i = current.indexOf(listener);
      if (i < 0) return;
      const next = current.slice(0, i).concat(current.slice(i + 1));
      if (next.length === 0) m.delete(type);
      else m.set(type, next);
      this.count--;
    };
  }

  emit(event: E): void {
    const m = this.#listeners;
    if (m === undefined) return;
    const own = m.get(event.type);
    if (own !== undefined) for (const l of own) safeCall(l, event);
    const any = m.get('*');
    if (any !== undefined) for (const l of any) safeCall(l, event);
  }
}

function safeCall<E>(listener: Listener<E>, event: E): void {
  try {
    listener(event);
  } catch {
    // A listener's failure must never change the outcome of the call it observes.
  }
}
