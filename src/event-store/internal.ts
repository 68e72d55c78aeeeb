// Shared pieces of the three stores: input validation, event normalisation, expected-version rule,
// upcasting, a promise mutex and a wake-up notifier. Not part of the public API.
import type { Clock, TimerHandle } from '../core/clock.js';
import { checkNumber, checkOneOf } from '../core/validate.js';
import { DuplicateEventError } from './errors.js';
import type {
  EventMetadata,
  ExpectedVersion,
  NewEvent,
  ProjectionContext,
  ReadAllOptions,
  ReadOptions,
  StoredEvent,
  Upcasters,
} from './types.js';

/** A resumable place in the global order. `tx` is the PostgreSQL transaction id (as text). @internal */
export interface Cursor {
  readonly position: number;
  readonly tx?: string | undefined;
}

/** One page of the global order and the cursor after it. @internal */
export interface Page {
  readonly events: readonly StoredEvent[];
  readonly next: Cursor;
}

/** A held projection lock. @internal */
export interface ProjectionLock {
  /** Extends the lease; false when it was lost. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

/** What subscriptions and projections need from a store. @internal */
export interface StoreBackend {
  readonly clock: Clock;
  cursorFor(from: number | 'start' | 'end'): Promise<Cursor>;
  page(after: Cursor, limit: number, types: readonly string[] | undefined): Promise<Page>;
  /** Counts local appends; pass a value read before a page to {@link StoreBackend.wait}. */
  generation(): number;
  /**
   * Resolves at the next local append (at once if one happened since `since`), after `ms`, or when
   * `signal` aborts.
   */
  wait(ms: number, signal: AbortSignal, since: number): Promise<void>;
  lockProjection(name: string, owner: string, leaseMs: number): Promise<ProjectionLock | undefined>;
  /** Reads a page after the checkpoint, applies it and stores the new checkpoint, in one transaction. */
  runBatch(
    name: string,
    owner: string,
    limit: number,
    types: readonly string[] | undefined,
    apply: (events: readonly StoredEvent[], ctx: ProjectionContext) => Promise<void>,
  ): Promise<number>;
  /** Runs `truncate` and deletes the checkpoint in one transaction. */
  resetProjection(name: string, owner: string, truncate: (ctx: ProjectionContext) => Promise<void>): Promise<void>;
}

/** Key under which a store exposes its {@link StoreBackend}. @internal */
export const BACKEND: unique symbol = Symbol.for('breakwater.event-store.backend') as never;

/** @internal */
export function backendOf(store: unknown): StoreBackend {
  const b = (store as { [BACKEND]?: StoreBackend } | null)?.[BACKEND];
  if (b === undefined) throw new TypeError('Expected `store` to be a breakwater event store');
  return b;
}

/** A normalised event ready to store: JSON text computed once. @internal */
export interface PreparedEvent {
  readonly id: string;
  readonly idGiven: boolean;
  readonly type: string;
  readonly dataJson: string;
  readonly metadataJson: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

/** @internal */
export function checkStream(stream: unknown): string {
  if (typeof stream !== 'string' || stream.length === 0) {
    throw new TypeError('Expected `stream` to be a non-empty string');
  }
  return stream;
}

/** @internal */
export function checkExpected(expected: unknown): ExpectedVersion {
  if (expected === undefined) return 'any';
  if (typeof expected === 'number') return checkNumber('expectedVersion', expected, 0, { integer: true });
  return checkOneOf<'any' | 'no-stream' | 'exists'>('expectedVersion', expected, ['any', 'no-stream', 'exists']);
}

/** Emmett's rule: does a stream at `actual` satisfy `expected`? @internal */
export function matches(expected: ExpectedVersion, actual: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no-stream') return actual === 0;
  if (expected === 'exists') return actual > 0;
  return expected === actual;
}

/** JSON with sorted object keys, so `{a,b}` and `{b,a}` compare equal (as jsonb does). @internal */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${canonical(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** @internal */
export function defaultId(): string {
  return globalThis.crypto.randomUUID();
}

/** Validates and serialises the events of one append. @internal */
export function prepare(events: unknown, generateId: () => string): PreparedEvent[] {
  if (!Array.isArray(events)) throw new TypeError('Expected `events` to be an array');
  const out: PreparedEvent[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as NewEvent | null;
    if (e === null || typeof e !== 'object') throw new TypeError(`Expected \`events[${i}]\` to be an object`);
    if (typeof e.type !== 'string' || e.type.length === 0) {
      throw new TypeError(`Expected \`events[${i}].type\` to be a non-empty string`);
    }
    if (e.id !== undefined && (typeof e.id !== 'string' || e.id.length === 0)) {
      throw new TypeError(`Expected \`events[${i}].id\` to be a non-empty string`);
    }
    const m = e.metadata;
    if (m !== undefined && (m === null || typeof m !== 'object' || Array.isArray(m))) {
      throw new TypeError(`Expected \`events[${i}].metadata\` to be an object`);
    }
    let dataJson: string | undefined;
    try {
      dataJson = JSON.stringify(e.data);
    } catch (cause) {
      throw new TypeError(`Expected \`events[${i}].data\` to be JSON-serialisable`, { cause });
    }
    if (dataJson === undefined) throw new TypeError(`Expected \`events[${i}].data\` to be JSON-serialisable`);
    const metadataJson = m === undefined ? '{}' : JSON.stringify(m);
    const id = e.id ?? generateId();
    if (seen.has(id)) throw new TypeError(`Expected \`events[${i}].id\` to be unique within the append`);
    seen.add(id);
    out.push({
      id,
      idGiven: e.id !== undefined,
      type: e.type,
      dataJson,
      metadataJson,
      data: JSON.parse(dataJson),
      metadata: JSON.parse(metadataJson) as EventMetadata,
    });
  }
  return out;
}

/** Same event content (type, data, metadata), key order ignored. @internal */
export function sameContent(p: PreparedEvent, stored: StoredEvent): boolean {
  return (
    p.type === stored.type &&
    canonical(p.data) === canonical(stored.data) &&
    canonical(p.metadata) === canonical(stored.metadata)
  );
}

/**
 * Decides whether an append is a retry of one already stored: every id found, in `stream`, at
 * consecutive versions, with the same content → the original result. Some ids found otherwise →
 * {@link DuplicateEventError}. No id found → `undefined` (a new append).
 * @internal
 */
export function replayResult(
  stream: string,
  prepared: readonly PreparedEvent[],
  found: readonly (StoredEvent | undefined)[],
): { version: number; nextExpectedVersion: number; positions: number[] } | undefined {
  const first = found[0];
  if (found.every((f) => f === undefined)) return undefined;
  for (let i = 0; i < prepared.length; i++) {
    const p = prepared[i] as PreparedEvent;
    const e = found[i];
    if (
      e === undefined ||
      first === undefined ||
      e.stream !== stream ||
      e.version !== first.version + i ||
      !sameContent(p, e)
    ) {
      throw new DuplicateEventError(
        e === undefined ? (prepared.find((_, j) => found[j] !== undefined) as PreparedEvent).id : p.id,
      );
    }
  }
  const version = (first as StoredEvent).version + prepared.length - 1;
  return { version, nextExpectedVersion: version, positions: found.map((e) => (e as StoredEvent).position) };
}

/** The schema version new events of `type` are written at. @internal */
export function currentSchema(upcasters: Upcasters | undefined, type: string): number {
  const chain = upcasters?.[type];
  return chain === undefined ? 1 : chain.length + 1;
}

/** Applies the upcaster chain from `schema` to the current version. @internal */
export function upcast(upcasters: Upcasters | undefined, event: StoredEvent, schema: number): StoredEvent {
  const chain = upcasters?.[event.type];
  if (chain === undefined || schema > chain.length) return event;
  let data = event.data;
  for (let v = Math.max(schema, 1); v <= chain.length; v++) data = (chain[v - 1] as (d: unknown) => unknown)(data);
  return { ...event, data };
}

/** Validated read options. @internal */
export interface ReadRange {
  readonly from: number;
  readonly to: number;
  readonly backward: boolean;
  readonly limit: number;
}

/** @internal */
export function readRange(options: ReadOptions | undefined): ReadRange {
  const backward =
    options?.direction === undefined
      ? false
      : checkOneOf('direction', options.direction, ['forward', 'backward']) === 'backward';
  const from =
    options?.from === undefined
      ? backward
        ? Number.MAX_SAFE_INTEGER
        : 1
      : checkNumber('from', options.from, 0, { integer: true });
  const to =
    options?.to === undefined
      ? backward
        ? 1
        : Number.MAX_SAFE_INTEGER
      : checkNumber('to', options.to, 0, { integer: true });
  const limit =
    options?.limit === undefined ? Number.MAX_SAFE_INTEGER : checkNumber('limit', options.limit, 0, { integer: true });
  return { from, to, backward, limit: limit === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : limit };
}

/** @internal */
export function readAllRange(options: ReadAllOptions | undefined): {
  after: number | undefined;
  limit: number;
  types: readonly string[] | undefined;
} {
  const after = options?.after === undefined ? undefined : checkNumber('after', options.after, 0, { integer: true });
  const limit =
    options?.limit === undefined ? Number.MAX_SAFE_INTEGER : checkNumber('limit', options.limit, 0, { integer: true });
  const types = options?.types;
  if (types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== 'string'))) {
    throw new TypeError('Expected `types` to be an array of strings');
  }
  return { after, limit: limit === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : limit, types };
}

/** A FIFO async mutex. @internal */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Wakes waiters when something was appended. @internal */
export class Notifier {
  readonly #clock: Clock;
  #waiters = new Set<() => void>();
  #generation = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get generation(): number {
    return this.#generation;
  }

  notify(): void {
    this.#generation++;
    const ws = this.#waiters;
    if (ws.size === 0) return;
    this.#waiters = new Set();
    for (const w of ws) w();
  }

  wait(ms: number, signal: AbortSignal, since: number = this.#generation): Promise<void> {
    if (signal.aborted || since !== this.#generation) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: TimerHandle | undefined;
      const done = (): void => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
      if (Number.isFinite(ms)) timer = this.#clock.setTimeout(done, ms);
    });
  }
}

/** Paged async iteration over a source of pages. @internal */
export async function* paged<T, C>(
  first: C,
  fetch: (cursor: C, limit: number) => Promise<{ items: readonly T[]; next: C }>,
  limit: number,
  pageSize = 500,
): AsyncGenerator<T> {
  let cursor = first;
  let left = limit;
  while (left > 0) {
    const want = Math.min(pageSize, left);
    const { items, next } = await fetch(cursor, want);
    for (const item of items) yield item;
    left -= items.length;
    if (items.length < want) return;
    cursor = next;
  }
}
