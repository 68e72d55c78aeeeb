// Folding a stream into state (with time travel and snapshots), shared by every store.
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import type {
  AggregateOptions,
  AggregateResult,
  Event,
  EventStoreSession,
  Snapshot,
  SnapshotStore,
  StoredEvent,
} from './types.js';

/** @internal */
export async function aggregateStream<S, E extends Event>(
  session: Pick<EventStoreSession, 'read'>,
  stream: string,
  options: AggregateOptions<S, E>,
): Promise<AggregateResult<S>> {
  checkObject('options', options);
  checkFunction('evolve', options.evolve, false);
  const until = options.until;
  let untilVersion = Number.MAX_SAFE_INTEGER;
  let untilTime = Number.POSITIVE_INFINITY;
  if (until !== undefined) {
    checkObject('until', until);
    if ('version' in until) untilVersion = checkNumber('until.version', until.version, 0, { integer: true });
    else if ('time' in until) {
      const t = until.time instanceof Date ? until.time.getTime() : until.time;
      untilTime = checkNumber('until.time', t, Number.NEGATIVE_INFINITY);
    } else throw new TypeError('Expected `until` to have `version` or `time`');
  }
  const init = options.initialState;
  let state: S = typeof init === 'function' ? (init as () => S)() : init;
  let version = 0;
  const snaps = options.snapshots;
  let schemaVersion = 1;
  let every = 0;
  if (snaps !== undefined) {
    checkObject('snapshots', snaps);
    every = checkNumber('snapshots.every', snaps.every, 1, { integer: true });
    schemaVersion = checkNumber('snapshots.schemaVersion', snaps.schemaVersion ?? 1, 0, { integer: true });
    // A snapshot carries no time, so time travel always replays from the start.
    if (untilTime === Number.POSITIVE_INFINITY) {
      const snap = await snaps.store.load(stream);
      if (snap !== undefined && snap.schemaVersion === schemaVersion && snap.version <= untilVersion) {
        state = snaps.deserialize === undefined ? (snap.state as S) : snaps.deserialize(snap.state);
        version = snap.version;
      }
    }
  }
  const fromVersion = version;
  if (version < untilVersion) {
    for await (const event of session.read<E>(stream, { from: version + 1, to: untilVersion })) {
      if (event.timestamp > untilTime) break;
      state = options.evolve(state, event as StoredEvent<E>);
      version = event.version;
    }
  }
  if (snaps !== undefined && until === undefined && version - fromVersion >= every) {
    const data = snaps.serialize === undefined ? state : snaps.serialize(state);
    await snaps.store.save(stream, { version, schemaVersion, state: data });
  }
  return { state, version };
}

/**
 * An in-process {@link SnapshotStore}: snapshots are copied through JSON so later mutation of a
 * state cannot change a stored snapshot.
 *
 * @example
 * ```ts
 * const snapshots = memorySnapshotStore();
 * await store.aggregate('agent-1', { ...decider, snapshots: { store: snapshots, every: 100 } });
 * ```
 */
export function memorySnapshotStore(): SnapshotStore & { readonly size: number } {
  const map = new Map<string, string>();
  return {
    get size() {
      return map.size;
    },
    load(stream) {
      const s = map.get(stream);
      return Promise.resolve(s === undefined ? undefined : (JSON.parse(s) as Snapshot));
    },
    save(stream, snapshot) {
      map.set(stream, JSON.stringify(snapshot));
      return Promise.resolve();
    },
  };
}
