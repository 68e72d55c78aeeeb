// Model-based test: random appends and reads against an array-of-arrays model.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  type EventStore,
  type ExpectedVersion,
  isConcurrencyError,
  memoryEventStore,
} from '../../src/event-store/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import { HAS } from '../support/servers.js';
import { newPool, pgStore } from './pg-helpers.js';

interface Model {
  streams: Map<string, { id: string; data: number }[]>;
  all: { stream: string; version: number; data: number }[];
  batches: { stream: string; events: { id: string; type: string; data: number }[]; version: number }[];
  seq: number;
}
interface Real {
  store: EventStore;
}
type Cmd = fc.AsyncCommand<Model, Real>;

const STREAMS = ['a', 'b', 'c\'"🙂'];
const eq = (a: unknown, b: unknown, what: string) => {
  if (JSON.stringify(a) !== JSON.stringify(b))
    throw new Error(`${what}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
};
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

class Append implements Cmd {
  readonly stream: string;
  readonly n: number;
  readonly kind: 'exact' | 'stale' | 'any' | 'no-stream' | 'exists';
  constructor(stream: string, n: number, kind: 'exact' | 'stale' | 'any' | 'no-stream' | 'exists') {
    this.stream = stream;
    this.n = n;
    this.kind = kind;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    const cur = m.streams.get(this.stream)?.length ?? 0;
    const expected: ExpectedVersion =
      this.kind === 'exact' ? cur : this.kind === 'stale' ? cur + 1 : (this.kind as ExpectedVersion);
    const ok =
      this.kind === 'exact' ||
      this.kind === 'any' ||
      (this.kind === 'no-stream' ? cur === 0 : this.kind === 'exists' ? cur > 0 : false);
    const events = Array.from({ length: this.n }, () => ({ id: `e${m.seq}`, type: 'E', data: m.seq++ }));
    try {
      const res = await r.store.append(this.stream, events, { expectedVersion: expected });
      if (!ok) throw new Error('append should have conflicted');
      let list = m.streams.get(this.stream);
      if (list === undefined) {
        list = [];
        m.streams.set(this.stream, list);
      }
      for (const e of events) {
        list.push({ id: e.id, data: e.data });
        m.all.push({ stream: this.stream, version: list.length, data: e.data });
      }
      eq(res.version, list.length, 'version');
      if (this.n > 0) m.batches.push({ stream: this.stream, events, version: list.length });
    } catch (e) {
      if (ok || !isConcurrencyError(e)) throw e;
      eq(e.actual, cur, 'actual');
    }
  }
  toString = () => `append(${this.stream}, ${this.n}, ${this.kind})`;
}

class Retry implements Cmd {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.batches.length > 0;
  async run(m: Model, r: Real) {
    const b = m.batches[this.pick % m.batches.length] as Model['batches'][number];
    const res = await r.store.append(b.stream, b.events, { expectedVersion: 'any' });
    eq(res.version, b.version, 'retried version');
  }
  toString = () => `retry(${this.pick})`;
}

class Read implements Cmd {
  readonly stream: string;
  readonly from: number;
  readonly limit: number;
  readonly backward: boolean;
  constructor(stream: string, from: number, limit: number, backward: boolean) {
    this.stream = stream;
    this.from = from;
    this.limit = limit;
    this.backward = backward;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    const list = m.streams.get(this.stream) ?? [];
    const got = (
      await collect(
        r.store.read(this.stream, {
          from: this.from,
          limit: this.limit,
          direction: this.backward ? 'backward' : 'forward',
        }),
      )
    ).map((e) => e.data);
    const want = this.backward
      ? list.slice(0, Math.min(this.from, list.length)).reverse().slice(0, this.limit)
      : list.slice(Math.max(this.from - 1, 0)).slice(0, this.limit);
    eq(
      got,
      want.map((e) => e.data),
      'read',
    );
    eq(await r.store.version(this.stream), list.length, 'version()');
  }
  toString = () => `read(${this.stream}, ${this.from}, ${this.limit}, ${this.backward})`;
}

class ReadAll implements Cmd {
  readonly skip: number;
  readonly limit: number;
  constructor(skip: number, limit: number) {
    this.skip = skip;
    this.limit = limit;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    const all = await collect(r.store.readAll());
    eq(
      all.map((e) => [e.stream, e.version, e.data]),
      m.all.map((e) => [e.stream, e.version, e.data]),
      'readAll',
    );
    const after = this.skip === 0 ? undefined : all[Math.min(this.skip, all.length) - 1]?.position;
    const page = await collect(r.store.readAll({ after, limit: this.limit }));
    eq(
      page.map((e) => e.data),
      m.all
        .slice(Math.min(this.skip, all.length))
        .slice(0, this.limit)
        .map((e) => e.data),
      'readAll page',
    );
  }
  toString = () => `readAll(${this.skip}, ${this.limit})`;
}

const commands = [
  fc
    .tuple(
      fc.constantFrom(...STREAMS),
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom('exact', 'stale', 'any', 'no-stream', 'exists') as fc.Arbitrary<Append['kind']>,
    )
    .map(([s, n, k]) => new Append(s, n, k)),
  fc.nat().map((p) => new Retry(p)),
  fc
    .tuple(fc.constantFrom(...STREAMS), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 5 }), fc.boolean())
    .map(([s, f, l, b]) => new Read(s, f, l, b)),
  fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 6 })).map(([s, l]) => new ReadAll(s, l)),
];

function model(make: () => Promise<{ store: EventStore; close(): unknown }>, numRuns = 60) {
  return async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
        const { store, close } = await make();
        try {
          await fc.asyncModelRun(
            () => ({ model: { streams: new Map(), all: [], batches: [], seq: 0 }, real: { store } }),
            cmds,
          );
        } finally {
          await close();
        }
      }),
      { numRuns },
    );
  };
}

describe('event store model', () => {
  it(
    'memory behaves like the model',
    model(async () => ({ store: memoryEventStore(), close: () => undefined })),
  );
  it(
    'sqlite behaves like the model',
    model(async () => {
      const db = new Database(':memory:');
      return { store: sqliteEventStore(db), close: () => db.close() };
    }),
  );
});

describe.skipIf(!HAS.postgres)('postgres event store model', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = newPool(4);
  });
  afterAll(async () => {
    await pool.end();
  });
  it(
    'postgres behaves like the model',
    model(async () => {
      const { store, drop } = await pgStore(pool);
      return { store, close: drop };
    }, 12),
    60_000,
  );
});
