/** A source whose chunks, end and failure a test pushes by hand; it counts pulls and `return()` calls. */
export interface Manual<T> extends AsyncIterable<T> {
  push(value: T): void;
  end(): void;
  fail(error: unknown): void;
  /** Calls of the iterator's `return()`. */
  readonly returned: number;
  /** Calls of the iterator's `next()`. */
  readonly pulls: number;
  /** A `next()` is waiting for a chunk. */
  readonly waiting: boolean;
}

type Item<T> = { kind: 'value'; value: T } | { kind: 'end' } | { kind: 'error'; error: unknown };

export function manualSource<T>(): Manual<T> {
  const queue: Item<T>[] = [];
  let wait: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  let done = false;
  let returned = 0;
  let pulls = 0;
  const deliver = (item: Item<T>): void => {
    if (done) return;
    if (wait === undefined) {
      queue.push(item);
      return;
    }
    const w = wait;
    wait = undefined;
    if (item.kind === 'value') w.resolve({ done: false, value: item.value });
    else {
      done = true;
      if (item.kind === 'end') w.resolve({ done: true, value: undefined });
      else w.reject(item.error);
    }
  };
  const iterator: AsyncIterator<T> = {
    next() {
      pulls++;
      if (done) return Promise.resolve({ done: true, value: undefined });
      const item = queue.shift();
      if (item === undefined) {
        if (wait !== undefined) throw new Error('manualSource: two concurrent next() calls');
        return new Promise((resolve, reject) => {
          wait = { resolve, reject };
        });
      }
      if (item.kind === 'value') return Promise.resolve({ done: false, value: item.value });
      done = true;
      return item.kind === 'end' ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(item.error);
    },
    return() {
      returned++;
      done = true;
      const w = wait;
      wait = undefined;
      w?.resolve({ done: true, value: undefined });
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    push: (value) => deliver({ kind: 'value', value }),
    end: () => deliver({ kind: 'end' }),
    fail: (error) => deliver({ kind: 'error', error }),
    get returned() {
      return returned;
    },
    get pulls() {
      return pulls;
    },
    get waiting() {
      return wait !== undefined;
    },
  };
}

/** Settles a promise into an inspectable record without an unhandled rejection. */
export function track<T>(p: Promise<T>): { state: 'pending' | 'ok' | 'error'; value?: T; error?: unknown } {
  const r: { state: 'pending' | 'ok' | 'error'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => {
      r.state = 'ok';
      r.value = value;
    },
    (error: unknown) => {
      r.state = 'error';
      r.error = error;
    },
  );
  return r;
}
