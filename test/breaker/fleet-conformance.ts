// One conformance suite for a breaker store shared by a fleet, run against the in-memory twin of the
// Redis script (virtual time) and against real Redis (real time, short breaks). Each "instance" is a
// breaker with its own store on the same shared record, as each process of a fleet would have.
import { describe, expect, it } from 'vitest';
import {
  type BreakerEvent,
  BrokenCircuitError,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  circuitBreaker,
  consecutive,
  IsolatedCircuitError,
} from '../../src/breaker/index.js';
import type { Clock } from '../../src/core/clock.js';

/** One instance's store, as the suite uses it. */
export interface FleetStore {
  readonly degraded: boolean;
  close(): Promise<void>;
}

export interface FleetEnv {
  readonly clock: Clock;
  /** The staleness bound the stores were built with (ms). */
  readonly staleness: number;
  /**
   * A store for one more instance (the same shared record); `notify: false` polls only, every
   * `staleness / 2` ms (default: the env's).
   */
  store(opts?: StoreOpts): FleetStore & NonNullable<CircuitBreakerOptions['store']>;
  /** Lets `ms` pass (virtual time, or a real sleep). */
  advance(ms: number): Promise<void>;
  /** The shared record's state, read behind the stores' backs (undefined when there is none). */
  shared(): Promise<string | undefined>;
  /** Operations other than `read` the stores sent so far. */
  writes(): number;
  /** The store becomes unreachable for every instance / reachable again. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Every shared key is lost (a restart of a server without persistence). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOpts {
  readonly notify?: boolean | undefined;
  readonly staleness?: number | undefined;
}

export interface FleetOptions {
  readonly skip?: boolean;
}

/** Polls `cond`, letting time pass in steps of 5 ms, until it holds; fails after `ms` of (env) time. */
export async function eventually(env: FleetEnv, cond: () => boolean, ms: number, what: string): Promise<number> {
  const start = env.clock.now();
  for (;;) {
    if (cond()) return env.clock.now() - start;
    if (env.clock.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await env.advance(5);
  }
}

interface Instance {
  readonly breaker: CircuitBreaker;
  readonly store: FleetStore;
  readonly events: BreakerEvent[];
}

const boom = (): never => {
  throw new Error('downstream failed');
};

export function describeFleetConformance(name: string, make: () => Promise<FleetEnv>, options: FleetOptions = {}) {
  describe.skipIf(options.skip === true)(`fleet-wide breaker conformance: ${name}`, () => {
    async function fleet(
      n: number,
      body: (
        xs: Instance[],
        env: FleetEnv,
        join: (o?: Partial<CircuitBreakerOptions>, s?: StoreOpts) => Instance,
      ) => Promise<void>,
      opts: Partial<CircuitBreakerOptions> & { notify?: boolean } = {},
    ): Promise<void> {
      const env = await make();
      const all: Instance[] = [];
      const join = (o: Partial<CircuitBreakerOptions> = {}, so: StoreOpts = {}): Instance => {
        const store = env.store({ notify: opts.notify ?? true, ...so });
        const events: BreakerEvent[] = [];
        const breaker = circuitBreaker({
          strategy: consecutive(2),
          breakDuration: 300,
          clock: env.clock,
          ...opts,
          ...o,
          store,
          name: `i${all.length}`,
        });
        for (const type of ['open', 'close', 'half-open', 'isolate', 'degraded', 'resynced'] as const)
          breaker.on(type, (e) => void events.push(e));
        const x = { breaker, store, events };
        all.push(x);
        return x;
      };
      try {
        const xs = Array.from({ length: n }, () => join());
        await env.advance(20); // first reads
        await body(xs, env, join);
      } finally {
        for (const x of all) await x.store.close();
        await env.close();
      }
    }

    const trip = async (x: Instance) => {
      await x.breaker.execute(boom).catch(() => {});
      await x.breaker.execute(boom).catch(() => {});
      expect(x.breaker.state).toBe('open');
    };
    const states = (xs: Instance[]) => xs.map((x) => x.breaker.state);
    const count = (x: Instance, type: BreakerEvent['type']) => x.events.filter((e) => e.type === type).length;

    it('an open on one instance reaches every other within the staleness bound; they reject without calling', () =>
      fleet(3, async ([a, b, c], env) => {
        await trip(a as Instance);
        const took = await eventually(
          env,
          () => states([b, c] as Instance[]).every((s) => s === 'open'),
          env.staleness,
          'all open',
        );
        expect(took).toBeLessThanOrEqual(env.staleness);
        let ran = 0;
        const err = await (b as Instance).breaker.execute(() => ran++).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BrokenCircuitError);
        expect((err as BrokenCircuitError).retryAfter).toBeGreaterThan(0);
        expect(ran).toBe(0);
        for (const x of [b, c] as Instance[]) expect(x.events.filter((e) => e.type === 'open')).toHaveLength(1);
        expect(await env.shared()).toBe('open');
      }));

    it('without notifications, the poll alone brings an open within the staleness bound', () =>
      fleet(
        2,
        async ([a, b], env) => {
          await trip(a as Instance);
          await eventually(env, () => (b as Instance).breaker.state === 'open', env.staleness, 'b open by polling');
        },
        { notify: false },
      ));

    for (const probes of [1, 2]) {
      it(`exactly ${probes} probe(s) run fleet-wide after the break, and their success closes every instance`, () =>
        fleet(
          3,
          async (xs, env) => {
            await trip(xs[0] as Instance);
            await eventually(env, () => states(xs).every((s) => s === 'open'), env.staleness, 'all open');
            await env.advance(320);
            let ran = 0;
            let release!: () => void;
            const gate = new Promise<void>((r) => {
              release = r;
            });
            const calls = xs.flatMap((x) =>
              [0, 1, 2].map(() =>
                x.breaker.execute(async () => {
                  ran++;
                  await gate;
                  return 'ok';
                }),
              ),
            );
            const all = Promise.allSettled(calls);
            await env.advance(50); // every lease request answered
            release();
            const settled = await all;
            expect(ran).toBe(probes);
            expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(probes);
            for (const r of settled) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(BrokenCircuitError);
            await eventually(env, () => states(xs).every((s) => s === 'closed'), env.staleness, 'all closed');
            expect(await env.shared()).toBe('closed');
            for (const x of xs)
              expect(count(x, 'close'), JSON.stringify(xs.map((y) => y.events.map((e) => e.type)))).toBe(1);
          },
          { halfOpen: { probes } },
        ));
    }

    it('while the fleet probes, the other instances reject at once without asking the store on every call', () =>
      fleet(3, async ([a, b, c], env) => {
        await trip(a as Instance);
        await eventually(env, () => states([b, c] as Instance[]).every((s) => s === 'open'), env.staleness, 'all open');
        await env.advance(320);
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        const probe = (a as Instance).breaker.execute(() => gate.then(() => 'ok'));
        await env.advance(20);
        const before = env.writes();
        let rejected = 0;
        for (let i = 0; i < 50; i++) {
          for (const x of [b, c] as Instance[]) {
            const r = await x.breaker.executeOutcome(() => 'ran');
            if (!r.ok && r.error instanceof BrokenCircuitError) rejected++;
          }
        }
        expect(rejected).toBe(100);
        expect(env.writes() - before).toBeLessThanOrEqual(4); // one denied lease request per instance (and a retry)
        release();
        expect(await probe).toBe('ok');
        await eventually(
          env,
          () => states([a, b, c] as Instance[]).every((s) => s === 'closed'),
          env.staleness,
          'all closed',
        );
      }));

    it('a failed probe reopens every instance, with the escalated break shared', () =>
      fleet(
        3,
        async (xs, env) => {
          await trip(xs[0] as Instance);
          await eventually(env, () => states(xs).every((s) => s === 'open'), env.staleness, 'all open');
          await env.advance(220);
          const b = xs[1] as Instance;
          expect(b.breaker.state).toBe('half-open');
          await b.breaker.execute(boom).catch(() => {});
          await eventually(
            env,
            () => xs.every((x) => x.events.some((e) => e.type === 'open' && e.openings === 2)),
            env.staleness,
            'all reopened as opening 2',
          );
          for (const x of xs) {
            const last = x.events.filter((e) => e.type === 'open').at(-1) as BreakerEvent & { breakDuration: number };
            expect(last.breakDuration).toBeGreaterThan(200); // 400 ms for opening 2, less the notification's way
            expect(x.breaker.snapshot().openings).toBe(2);
          }
          await env.advance(250); // past the first break, not the second
          expect(states(xs).every((s) => s === 'open')).toBe(true);
        },
        { breakDuration: (n) => 200 * n },
      ));

    it('a stale instance cannot close a circuit that another one reopened (fencing)', () =>
      fleet(2, async ([a, c], env, join) => {
        // b hears of nothing (no notifications, a poll every 10 s): only the shared record's epoch
        // can stop its late success from closing the circuit.
        const b = join({}, { notify: false, staleness: 20_000 });
        await env.advance(20);
        await trip(a as Instance);
        await eventually(env, () => (c as Instance).breaker.state === 'open', env.staleness, 'c open');
        await (b as Instance).breaker.execute(boom).catch(() => {});
        await (b as Instance).breaker.execute(boom).catch(() => {}); // b opens on its own; the fleet already was
        await env.advance(20);
        await eventually(
          env,
          () => states([a, b, c] as Instance[]).every((s) => s === 'open'),
          env.staleness,
          'all open',
        );
        await env.advance(320);
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        // b probes and hangs; meanwhile c resets and the circuit is tripped again elsewhere.
        const probe = (b as Instance).breaker.execute(() => gate.then(() => 'late ok'));
        await env.advance(30);
        (c as Instance).breaker.reset();
        await eventually(env, () => (a as Instance).breaker.state === 'closed', env.staleness, 'a closed by the reset');
        await trip(a as Instance);
        await eventually(env, () => (c as Instance).breaker.state === 'open', env.staleness, 'c open again');
        release();
        expect(await probe).toBe('late ok');
        await env.advance(50);
        // The late success belonged to a period that ended: the fleet stays open.
        expect(await env.shared()).toBe('open');
        expect(states([a, c] as Instance[])).toEqual(['open', 'open']);
        await eventually(env, () => (b as Instance).breaker.state === 'open', 100, 'b open (the refusal told it)');
      }));

    it('isolate() on one instance isolates all; the circuit closes when the last holder anywhere releases', () =>
      fleet(3, async ([a, b, c], env) => {
        const ha = (a as Instance).breaker.isolate();
        await eventually(
          env,
          () => states([b, c] as Instance[]).every((s) => s === 'isolated'),
          env.staleness,
          'all isolated',
        );
        expect(await (c as Instance).breaker.execute(() => 1).catch((e: unknown) => e)).toBeInstanceOf(
          IsolatedCircuitError,
        );
        const hb = (b as Instance).breaker.isolate();
        ha.release();
        await env.advance(60);
        expect(states([a, b, c] as Instance[])).toEqual(['isolated', 'isolated', 'isolated']);
        hb.release();
        await eventually(
          env,
          () => states([a, b, c] as Instance[]).every((s) => s === 'closed'),
          env.staleness,
          'all closed',
        );
        expect(await env.shared()).toBe('closed');
      }));

    it('reset() on one instance closes every instance and ends every isolation', () =>
      fleet(3, async ([a, b, c], env) => {
        await trip(a as Instance);
        await eventually(env, () => (c as Instance).breaker.state === 'open', env.staleness, 'c open');
        const h = (b as Instance).breaker.isolate();
        await eventually(env, () => (a as Instance).breaker.state === 'isolated', env.staleness, 'a isolated');
        (c as Instance).breaker.reset();
        await eventually(
          env,
          () => states([a, b, c] as Instance[]).every((s) => s === 'closed'),
          env.staleness,
          'all closed',
        );
        h.release(); // a handle from before the reset is void
        await env.advance(60);
        expect(states([a, b, c] as Instance[])).toEqual(['closed', 'closed', 'closed']);
        expect(await (b as Instance).breaker.execute(() => 'ran')).toBe('ran');
      }));

    it('a closed circuit sends nothing to the store: no write on successes or failures below the threshold', () =>
      fleet(2, async ([a], env) => {
        const before = env.writes();
        for (let i = 0; i < 200; i++) {
          await (a as Instance).breaker.execute(() => i);
          if (i % 10 === 0) await (a as Instance).breaker.execute(boom).catch(() => {});
        }
        expect(env.writes()).toBe(before);
      }));

    it('an unreachable store degrades to local state (one event, no failed call) and resyncs: an open made meanwhile wins', () =>
      fleet(
        3,
        async ([a, b, c], env) => {
          await env.down();
          expect(await (a as Instance).breaker.execute(() => 'still works')).toBe('still works');
          await trip(a as Instance); // opens locally; the push fails
          await eventually(env, () => (a as Instance).store.degraded, 2000, 'a degraded');
          expect(count(a as Instance, 'degraded')).toBe(1);
          await env.advance(100);
          expect(count(a as Instance, 'degraded')).toBe(1);
          expect((b as Instance).breaker.state).toBe('closed');
          await env.up();
          await eventually(env, () => !(a as Instance).store.degraded, 3000, 'a resynced');
          expect(count(a as Instance, 'resynced')).toBe(1);
          await eventually(
            env,
            () => states([b, c] as Instance[]).every((s) => s === 'open'),
            3000,
            'the open reaches b and c',
          );
          expect(await env.shared()).toBe('open');
        },
        { breakDuration: 60_000 },
      ));

    it('a reset() made while the store is unreachable applies at once locally and to the fleet when it answers', () =>
      fleet(
        3,
        async ([a, b, c], env) => {
          await trip(a as Instance);
          await eventually(
            env,
            () => states([b, c] as Instance[]).every((s) => s === 'open'),
            env.staleness,
            'all open',
          );
          await env.down();
          (c as Instance).breaker.reset();
          expect((c as Instance).breaker.state).toBe('closed');
          await eventually(env, () => (c as Instance).store.degraded, 2000, 'c degraded');
          expect(states([a, b] as Instance[])).toEqual(['open', 'open']);
          await env.up();
          await eventually(env, () => states([a, b, c] as Instance[]).every((s) => s === 'closed'), 3000, 'all closed');
          expect(await env.shared()).toBe('closed');
        },
        { breakDuration: 60_000 },
      ));

    it('a lost record (server restart) is re-seeded from the instances: an open circuit stays open', () =>
      fleet(
        3,
        async (xs, env, join) => {
          await trip(xs[0] as Instance);
          await eventually(env, () => states(xs).every((s) => s === 'open'), env.staleness, 'all open');
          await env.restart();
          let shared: string | undefined;
          const t0 = env.clock.now();
          while (shared !== 'open' && env.clock.now() - t0 < 3000) {
            await env.advance(20);
            shared = await env.shared();
          }
          expect(shared).toBe('open');
          const late = join();
          await eventually(env, () => late.breaker.state === 'open', env.staleness, 'a new instance sees the open');
          expect(states(xs).every((s) => s === 'open')).toBe(true);
        },
        { breakDuration: 60_000 },
      ));

    it('a lost record keeps an isolation: the holder re-registers it', () =>
      fleet(2, async ([a, b], env) => {
        const h = (a as Instance).breaker.isolate();
        await eventually(env, () => (b as Instance).breaker.state === 'isolated', env.staleness, 'b isolated');
        await env.restart();
        let shared: string | undefined;
        const t0 = env.clock.now();
        while (shared !== 'isolated' && env.clock.now() - t0 < 3000) {
          await env.advance(20);
          shared = await env.shared();
        }
        expect(shared).toBe('isolated');
        h.release();
        await eventually(
          env,
          () => (b as Instance).breaker.state === 'closed',
          env.staleness,
          'b closed after release',
        );
      }));

    it('a breaker restored open (initialState) brings its open to a closed fleet', () =>
      fleet(2, async ([a], env, join) => {
        const now = env.clock.now();
        join({
          initialState: {
            state: 'open',
            openUntil: now + 5000,
            openings: 1,
            window: { type: 'consecutive', count: 0 },
          },
        });
        await eventually(env, () => (a as Instance).breaker.state === 'open', env.staleness, 'a open');
      }));
  });
}
