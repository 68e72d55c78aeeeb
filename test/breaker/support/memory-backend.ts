// An in-memory twin of the Redis breaker script (src/breaker/redis/redis-store.ts), operation for
// operation, on an injectable clock: the fleet conformance suite and the race tests run the store
// protocol against it and against real Redis. `down` makes every operation fail (an outage);
// `restart()` loses every key (a Redis restart without persistence).
import type { BreakerBackend, Op, Reply, Shared } from '../../../src/breaker/redis/backend.js';

interface Rec {
  s: Shared['s'];
  e: number;
  u: number;
  n: number;
  r: number;
}

export class MemoryBackend implements BreakerBackend {
  rec: Rec | undefined = undefined;
  readonly holders = new Set<string>();
  readonly slots = new Map<number, { v: string; until: number }>();
  readonly #listeners = new Set<{ onState: (s: Shared) => void; onResume: () => void }>();
  down = false;
  /** Every operation run, in order (for tests that count them). */
  readonly log: Op[] = [];
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  ready(): boolean {
    return !this.down;
  }

  /** Loses every key, like a Redis restart without persistence. */
  restart(): void {
    this.rec = undefined;
    this.holders.clear();
    this.slots.clear();
  }

  /** Brings the backend back after `down`, telling listeners notifications resume. */
  up(): void {
    this.down = false;
    for (const l of this.#listeners) queueMicrotask(l.onResume);
  }

  listen(onState: (s: Shared) => void, onResume: () => void): () => Promise<void> {
    const l = { onState, onResume };
    this.#listeners.add(l);
    return async () => {
      this.#listeners.delete(l);
    };
  }

  exec(op: Op, me: string, slots: number, args: readonly (string | number)[]): Promise<Reply> {
    if (this.down) return Promise.reject(new Error('backend down'));
    this.log.push(op);
    return Promise.resolve(this.run(op, me, slots, args));
  }

  #slot(i: number, now: number): string | undefined {
    const x = this.slots.get(i);
    if (x !== undefined && x.until <= now) {
      this.slots.delete(i);
      return undefined;
    }
    return x?.v;
  }

  #setNx(i: number, v: string, px: number, now: number): boolean {
    if (this.#slot(i, now) !== undefined) return false;
    this.slots.set(i, { v, until: now + px });
    return true;
  }

  run(op: Op, me: string, n: number, args: readonly (string | number)[]): Reply {
    const a = args.map(String);
    const now = this.#now();
    const rec = this.rec;
    const reply = (ok: number): Reply => ({
      ok,
      state:
        this.rec === undefined
          ? undefined
          : {
              s: this.rec.s,
              e: this.rec.e,
              rem: this.rec.u - now,
              n: this.rec.n,
              r: this.rec.r,
              i: this.holders.size,
              m: this.holders.has(me),
            },
    });
    const save = (r: Rec, to: Shared['s']) => {
      r.s = to;
      r.e++;
      this.rec = r;
      for (let i = 1; i <= n; i++) this.slots.delete(i);
      const state: Shared = { s: r.s, e: r.e, rem: r.u - now, n: r.n, r: r.r, i: this.holders.size };
      for (const l of this.#listeners) queueMicrotask(() => l.onState(state));
    };
    if (op === 'seed') {
      const [s, se, ms, openings, resets, iso, lease, ...tokens] = a as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        ...string[],
      ];
      if (rec !== undefined && rec.e >= Number(se)) return reply(0);
      const r: Rec = {
        s: s as Shared['s'],
        e: Number(se) - 1,
        u: now + Number(ms),
        n: Number(openings),
        r: Math.max(rec?.r ?? 0, Number(resets)),
      };
      if (iso === '1') this.holders.add(me);
      save(r, s as Shared['s']);
      tokens.forEach((tok, j) => {
        if (j < n) this.slots.set(j + 1, { v: `${r.e}:${tok}`, until: now + Number(lease) });
      });
      return reply(1);
    }
    if (rec === undefined) return reply(-1);
    const e = rec.e;
    switch (op) {
      case 'read':
        return reply(1);
      case 'open': {
        const [seen, ms, strict] = a as [string, string, string];
        if ((rec.s === 'closed' && strict !== '1') || (rec.s === 'open' && e === Number(seen))) {
          rec.n++;
          rec.u = now + Number(ms);
          save(rec, 'open');
          return reply(1);
        }
        return reply(0);
      }
      case 'acquire': {
        const [seen, token, lease] = a as [string, string, string];
        if (rec.s !== 'open' || e !== Number(seen) || now < rec.u) return reply(0);
        for (let i = 1; i <= n; i++) {
          const v = this.#slot(i, now);
          if (v !== undefined && !v.startsWith(`${e}:`)) this.slots.delete(i);
          if (this.#setNx(i, `${e}:${token}`, Number(lease), now)) return reply(1);
        }
        return reply(0);
      }
      case 'confirm': {
        const [seen, token] = a as [string, string];
        if (rec.s !== 'open' || e !== Number(seen)) return reply(0);
        const mine = `${e}:${token}`;
        const good = `${e}:+`;
        let found = false;
        let count = 0;
        for (let i = 1; i <= n; i++) {
          let v = this.#slot(i, now);
          if (v === mine) {
            this.slots.set(i, { v: good, until: now + 86_400_000 });
            v = good;
            found = true;
          }
          if (v === good) count++;
        }
        if (!found) return reply(0);
        if (count >= n) {
          rec.n = 0;
          rec.u = 0;
          save(rec, 'closed');
        }
        return reply(1);
      }
      case 'release': {
        const [seen, token] = a as [string, string];
        for (let i = 1; i <= n; i++) {
          if (e === Number(seen) && this.#slot(i, now) === `${e}:${token}`) this.slots.delete(i);
        }
        return reply(1);
      }
      case 'renew': {
        const [seen, lease, ...tokens] = a as [string, string, ...string[]];
        if (rec.s !== 'open' || e !== Number(seen)) return reply(0);
        let kept = 0;
        for (const tok of tokens) {
          const v = `${e}:${tok}`;
          let held = false;
          for (let i = 1; i <= n && !held; i++) {
            if (this.#slot(i, now) === v) {
              this.slots.set(i, { v, until: now + Number(lease) });
              held = true;
            }
          }
          for (let i = 1; i <= n && !held; i++) held = this.#setNx(i, v, Number(lease), now);
          if (held) kept++;
        }
        return reply(kept);
      }
      case 'isolate':
        this.holders.add(me);
        if (rec.s !== 'isolated') {
          rec.n = 0;
          rec.u = 0;
          save(rec, 'isolated');
        }
        return reply(1);
      case 'unisolate':
        this.holders.delete(me);
        if (rec.s === 'isolated' && this.holders.size === 0) save(rec, 'closed');
        return reply(1);
      case 'reset':
        this.holders.clear();
        rec.n = 0;
        rec.u = 0;
        rec.r++;
        save(rec, 'closed');
        return reply(1);
    }
    throw new Error(`unknown breaker op ${op}`);
  }
}
