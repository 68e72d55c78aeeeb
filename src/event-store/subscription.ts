// The catch-up subscription loop shared by every store: pages of history in global order, then
// waits for local appends (or polls) for live events.
import type { Clock } from '../core/clock.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import { SubscriptionError } from './errors.js';
import type { Cursor, StoreBackend } from './internal.js';
import type { Event, StoredEvent, SubscribeOptions, Subscription } from './types.js';

const MAX_RETRIES = 5;

/** Default handler policy: up to 5 retries, exponential backoff 100 ms … 5 s. @internal */
export async function retryWithBackoff<T>(fn: () => T | PromiseLike<T>, clock: Clock, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= MAX_RETRIES || signal.aborted) throw error;
      await clock.sleep(Math.min(5000, 100 * 2 ** attempt), signal);
    }
  }
}

class Stopped {}

/** @internal */
export function startSubscription<E extends Event>(backend: StoreBackend, options: SubscribeOptions<E>): Subscription {
  checkObject('options', options);
  checkFunction('handler', options.handler, false);
  checkFunction('onError', options.onError);
  const batchSize = checkNumber('batchSize', options.batchSize ?? 100, 1, { integer: true, max: 10_000 });
  const pollInterval = checkNumber('pollInterval', options.pollInterval ?? 250, 1);
  const from = options.from ?? 'start';
  if (from !== 'start' && from !== 'end') checkNumber('from', from, 0, { integer: true });
  const stop = new AbortController();
  const external = options.signal;
  const onAbort = (): void => stop.abort(new Stopped());
  external?.addEventListener('abort', onAbort, { once: true });
  if (external?.aborted) stop.abort(new Stopped());
  const { clock } = backend;
  const policy = options.policy;
  const handler = options.handler as (event: StoredEvent) => unknown;
  let position: number | undefined;

  const handle = async (event: StoredEvent): Promise<void> => {
    try {
      if (policy === undefined) await retryWithBackoff(() => handler(event), clock, stop.signal);
      else await policy.execute(() => handler(event), { signal: stop.signal });
    } catch (error) {
      if (stop.signal.aborted) throw new Stopped();
      const action = options.onError === undefined ? 'stop' : await options.onError(error, event as StoredEvent<E>);
      if (action !== 'skip') throw new SubscriptionError(event.position, event.id, { cause: error });
    }
  };

  // Reads run under the same policy, so a dropped connection is retried from the same cursor: no
  // event is skipped or handled twice. When the policy gives up, `done` rejects with the store's error.
  const read = <T>(fn: () => Promise<T>): Promise<T> =>
    policy === undefined ? retryWithBackoff(fn, clock, stop.signal) : policy.execute(fn, { signal: stop.signal });

  const run = async (): Promise<void> => {
    let cursor: Cursor = await read(() => backend.cursorFor(from));
    while (!stop.signal.aborted) {
      const generation = backend.generation();
      const at = cursor;
      const page = await read(() => backend.page(at, batchSize, options.types));
      for (const event of page.events) {
        if (stop.signal.aborted) return;
        await handle(event);
        position = event.position;
      }
      cursor = page.next;
      if (page.events.length < batchSize) await backend.wait(pollInterval, stop.signal, generation);
    }
  };

  const done = run().then(
    () => external?.removeEventListener('abort', onAbort),
    (error: unknown) => {
      external?.removeEventListener('abort', onAbort);
      if (error instanceof Stopped || (stop.signal.aborted && !(error instanceof SubscriptionError))) return;
      stop.abort(new Stopped());
      throw error;
    },
  );
  // A subscription nobody awaits must not crash the process with an unhandled rejection.
  done.catch(() => undefined);
  return {
    get position() {
      return position;
    },
    done,
    close() {
      stop.abort(new Stopped());
      return done.catch(() => undefined);
    },
  };
}
