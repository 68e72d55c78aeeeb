import type { Clock, TimerHandle } from '../../core/clock.js';
import type { BreakerChange, BreakerLink, BreakerStore } from '../breaker.js';
import { type BreakerBackend, BreakerStoreError, newToken, type Op, type Reply, type Shared } from './backend.js';

/** Settings of {@link SharedBreakerStore}. @internal */
export interface SharedSettings {
  /** Longest time an instance may miss a shared transition while the store answers (ms). */
  readonly staleness: number;
  /** Longest wait for one operation before the store counts as unreachable (ms). */
  readonly timeout: number;
  /** Probe lease length (ms); renewed while the probe runs, so it only matters when the holder dies. */
  readonly lease: number;
  /** The breaker's clock. */
  readonly clock: Clock;
}

type Local = 'closed' | 'open' | 'isolated';

/**
 * The protocol between one breaker and the shared record, whatever the backend. See the fleet-wide
 * section of docs/circuit-breaker.md for the rules; in short:
 *
 * - local transitions are pushed as fenced operations, whose reply (and every notification and poll)
 *   is reconciled with the local state;
 * - the epoch only grows: a newer record is adopted, an older one (a restarted server re-seeded by an
 *   instance that knew less) is overwritten by seeding what this instance knows;
 * - while the backend fails, the breaker runs locally (`degraded`); on the first answer the local
 *   changes are reconciled: an open (or isolation, or reset) made meanwhile is pushed if the shared
 *   record is closed, else the shared record wins.
 * @internal
 */
export class SharedBreakerStore implements BreakerStore {
  readonly #backend: BreakerBackend;
  readonly #o: SharedSettings;
  readonly #me = newToken();
  #link: BreakerLink | undefined = undefined;
  /** The newest shared record seen. */
  #known: Shared | undefined = undefined;
  /** A `sync` from here is running: the breaker's reports of it are ignored. */
  #applying = false;
  /** A local change may be missing from the shared record: compare in full on the next answer. */
  #dirty = false;
  /** This instance holds an isolation. */
  #own = false;
  /** This instance was last seen in the record's set of isolation holders. */
  #member = false;
  /** A `reset()` not yet in the shared record. */
  #pendingReset = false;
  /** The reset count this instance knows of (its own included). */
  #resets = 0;
  /** Lease tokens held for probes running here (epoch `#known.e`). */
  readonly #held: string[] = [];
  #slots = 1;
  /** Openings and end of the local break (on the clock), for pushing and seeding it. */
  #openings = 0;
  #until = 0;
  #degraded = false;
  #closed = false;
  #polling = false;
  #seeding = false;
  /** Writes in flight: until they answer, a same-epoch record may predate them and is not adopted. */
  #writes = 0;
  /** The record whose probe slots were all taken when last asked, and until when not to ask again. */
  #busy: Shared | undefined = undefined;
  #busyUntil = 0;
  #pollTimer: TimerHandle = undefined;
  #renewTimer: TimerHandle = undefined;
  #stop: (() => Promise<void>) | undefined = undefined;
  #first: Promise<void> | undefined = undefined;

  constructor(backend: BreakerBackend, settings: SharedSettings) {
    this.#backend = backend;
    this.#o = settings;
  }

  /** True while the shared store is unreachable and the breaker runs on its local state. */
  get degraded(): boolean {
    return this.#degraded;
  }

  attach(link: BreakerLink): void {
    if (this.#link !== undefined) throw new TypeError('Expected `store` to serve one breaker; this one already does');
    this.#link = link;
    const s = link.snapshot();
    // A breaker restored open or isolated brings that state to the fleet (an open anywhere wins).
    if (s.state !== 'closed') {
      this.#dirty = true;
      this.#openings = s.openings;
      this.#until = s.openUntil;
      if (s.state === 'isolated') this.#own = true;
    }
    this.#stop = this.#backend.listen(
      (state) => this.#observe(state, undefined),
      () => void this.#poll(),
    );
    this.#first = this.#poll();
    this.#tick();
  }

  changed(change: BreakerChange, detail?: { readonly breakDuration: number; readonly openings: number }): void {
    if (this.#applying || this.#closed) return;
    if (change === 'open' && detail !== undefined) {
      this.#openings = detail.openings;
      this.#until = this.#o.clock.now() + detail.breakDuration;
      this.#held.length = 0; // the open ends this half-open period and its leases
    } else if (change === 'close') this.#openings = 0;
    else if (change === 'isolate') this.#own = true;
    else if (change === 'release') this.#own = false;
    else if (change === 'reset') {
      this.#own = false;
      this.#openings = 0;
      this.#held.length = 0;
      this.#pendingReset = true;
      this.#resets = Math.max(this.#resets, this.#known?.r ?? 0) + 1;
    }
    if (this.#degraded) {
      // Local rules meanwhile: the last local isolation handle closes the circuit.
      this.#dirty = true;
      if (change === 'release') this.#apply('closed', 0, 0);
      return;
    }
    const k = this.#known;
    // A probe's failure reopens only its own half-open period; a trip opens any closed record.
    if (change === 'open' && detail !== undefined)
      this.#push('open', [k?.e ?? 0, detail.breakDuration, k?.s === 'open' ? 1 : 0]);
    else if (change === 'isolate') this.#push('isolate', []);
    else if (change === 'release') this.#push('unisolate', []);
    else if (change === 'reset') this.#push('reset', []);
  }

  async lease(probes: number): Promise<boolean> {
    this.#slots = probes;
    await this.#first;
    const k = this.#known;
    if (this.#closed || this.#degraded || k === undefined) return true; // no one to ask: local rules
    // The fleet's slots were taken a moment ago: reject without asking again on every call.
    const now = this.#o.clock.now();
    if (k === this.#busy && now < this.#busyUntil) return false;
    const token = newToken();
    let reply: Reply;
    this.#writes++;
    try {
      reply = await this.#exec('acquire', [k.e, token, this.#o.lease]);
    } catch (error) {
      this.#writes--;
      this.#fail(error);
      return true;
    }
    this.#writes--;
    // A transition that overtook the reply ended this period: the lease went with it.
    const granted = reply.ok === 1 && this.#known === k;
    if (granted) {
      this.#held.push(token);
      this.#renewSoon();
    }
    const x = reply.state;
    if (!granted && x?.s === 'open' && x.e === k.e) {
      // Until the break ends in Redis time, or for a poll interval while others hold the slots
      // (a freed or lapsed slot is noticed that late at most).
      this.#busy = k;
      this.#busyUntil = now + (x.rem > 0 ? x.rem : this.#o.staleness / 2);
    }
    this.#observe(x, k.e);
    return granted || (x?.s === 'closed' && this.#link?.state === 'closed');
  }

  done(ok: boolean): void {
    const token = this.#held.shift();
    const k = this.#known;
    if (token === undefined || k === undefined || this.#degraded || this.#closed) {
      if (ok && this.#degraded) this.#dirty = true;
      return;
    }
    if (!ok) this.#busy = undefined; // the slot it frees is this instance's to reuse
    this.#send(ok ? 'confirm' : 'release', [k.e, token]);
  }

  /** Stops the poll and the notifications; the breaker then runs on its local state alone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clock = this.#o.clock;
    clock.clearTimeout(this.#pollTimer);
    clock.clearTimeout(this.#renewTimer);
    await this.#stop?.();
  }

  /** One operation, bounded by `timeout`; rejects with a {@link BreakerStoreError}. */
  #exec(op: Op, args: readonly (string | number)[]): Promise<Reply> {
    if (!this.#backend.ready()) return Promise.reject(new BreakerStoreError('Breaker store is not connected'));
    const { clock, timeout } = this.#o;
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      const end = (): boolean => {
        if (settled) return false;
        settled = true;
        clock.clearTimeout(timer);
        return true;
      };
      const timer = clock.setTimeout(() => {
        if (end()) reject(new BreakerStoreError(`Breaker store gave no answer within ${timeout} ms`));
      }, timeout);
      this.#backend.exec(op, this.#me, this.#slots, args).then(
        (reply) => {
          if (end()) resolve(reply);
        },
        (error: unknown) => {
          if (end()) reject(new BreakerStoreError('Breaker store operation failed', { cause: error }));
        },
      );
    });
  }

  /** Pushes a local change; the reply is reconciled like any news. */
  #push(op: Op, args: readonly (string | number)[]): void {
    this.#send(op, args, () => {
      // A release that could not be told keeps the local rule: the last local handle closes.
      if (op === 'unisolate' && !this.#own) this.#apply('closed', 0, 0);
    });
  }

  /**
   * Sends a write and reconciles its reply. Writes are counted until their reply is handled (not just
   * received): replies are handled in order, so a reply never undoes what a later one already says.
   */
  #send(op: Op, args: readonly (string | number)[], failed?: () => void): void {
    this.#writes++;
    const sent = this.#known?.e ?? -1;
    this.#exec(op, args).then(
      (reply) => {
        this.#writes--;
        this.#observe(reply.state, sent);
      },
      (error: unknown) => {
        this.#writes--;
        this.#fail(error);
        failed?.();
      },
    );
  }

  #fail(error: unknown): void {
    this.#dirty = true;
    if (this.#degraded || this.#closed) return;
    this.#degraded = true;
    this.#held.length = 0; // their leases lapse on their own
    const link = this.#link;
    if (link?.listening('degraded')) link.emit({ type: 'degraded', kind: 'breaker', name: link.name, error });
  }

  /** Reads the record (the backstop of the notifications, and the health check while degraded). */
  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const sent = this.#known?.e ?? -1;
      const reply = await this.#exec('read', []);
      if (this.#degraded) {
        this.#degraded = false;
        const link = this.#link;
        if (link?.listening('resynced')) link.emit({ type: 'resynced', kind: 'breaker', name: link.name });
      }
      this.#observe(reply.state, sent);
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#polling = false;
    }
  }

  #tick(): void {
    if (this.#closed) return;
    const clock = this.#o.clock;
    this.#pollTimer = clock.setTimeout(() => {
      this.#tick();
      void this.#poll();
    }, this.#o.staleness / 2);
    clock.unref?.(this.#pollTimer);
  }

  #renewSoon(): void {
    if (this.#renewTimer !== undefined || this.#closed) return;
    const clock = this.#o.clock;
    this.#renewTimer = clock.setTimeout(() => {
      this.#renewTimer = undefined;
      const k = this.#known;
      if (this.#held.length === 0 || k === undefined || this.#degraded || this.#closed) return;
      this.#renewSoon();
      this.#send('renew', [k.e, this.#o.lease, ...this.#held]);
    }, this.#o.lease / 3);
    clock.unref?.(this.#renewTimer);
  }

  /**
   * The record as seen now: adopt it, push what it lacks, or seed it when it is missing or went back.
   * `sent` is the epoch this instance knew when it sent the request (undefined for a notification):
   * a record older than that means the server lost it; one older than what was learned since is
   * merely late.
   */
  #observe(x: Shared | undefined, sent: number | undefined): void {
    const link = this.#link;
    if (this.#closed || link === undefined) return;
    const k = this.#known;
    if (x === undefined || (sent !== undefined && x.e < sent)) {
      this.#seed();
      return;
    }
    if (k !== undefined && x.e < k.e) {
      if (this.#writes === 0) this.#reconcile(k, false); // late: what it would have told is known
      return;
    }
    const answer = sent !== undefined;
    if (x.m !== undefined) this.#member = x.m;
    const newer = k === undefined || x.e > k.e;
    if (newer) {
      this.#known = x;
      this.#held.length = 0; // leases belong to the period that just ended
      if (x.r > this.#resets) {
        // A reset elsewhere: end this instance's isolations and statistics too.
        const first = k === undefined;
        this.#resets = x.r;
        if (!first) {
          this.#own = false;
          this.#pendingReset = false;
          this.#dirty = false;
          this.#applying = true;
          try {
            link.reset();
          } finally {
            this.#applying = false;
          }
        }
      }
    } else if (!answer && !this.#dirty && x.m === undefined) return; // a notification of what we know
    if (this.#pendingReset && x.r >= this.#resets) this.#pendingReset = false;
    this.#reconcile(x, newer);
  }

  #reconcile(x: Shared, newer: boolean): void {
    const link = this.#link as BreakerLink;
    if (this.#pendingReset) {
      if (this.#writes === 0) this.#push('reset', []);
      return;
    }
    // A record read before this instance's own writes landed may contradict them: their answers will tell.
    if (this.#writes > 0) return;
    const local = link.state;
    const localOpen = local === 'open' || local === 'half-open';
    if (this.#dirty) {
      this.#dirty = false;
      // An open anywhere wins: an open made while the store was away is pushed onto a closed record.
      if (x.s === 'closed' && localOpen && !this.#own) {
        this.#push('open', [x.e, Math.max(0, this.#until - this.#o.clock.now()), 0]);
        return;
      }
    }
    if (x.m !== undefined && x.m !== this.#own) {
      this.#push(this.#own ? 'isolate' : 'unisolate', []);
      return;
    }
    if (this.#own) {
      if (local !== 'isolated') this.#apply('isolated', 0, 0);
    } else if (x.s === 'open') {
      // Adopt a newer break, unless it is the one this instance just opened itself (same number).
      if (!localOpen || (newer && !(local === 'open' && this.#openings === x.n))) this.#apply('open', x.rem, x.n);
    } else if (x.s !== local) this.#apply(x.s, 0, 0);
  }

  #apply(state: Local, ms: number, openings: number): void {
    const link = this.#link as BreakerLink;
    if (state === 'open') {
      ms = Math.max(0, ms);
      this.#openings = openings;
      this.#until = this.#o.clock.now() + ms;
    } else if (state === 'closed') this.#openings = 0;
    this.#applying = true;
    try {
      link.sync(state, ms, openings);
    } finally {
      this.#applying = false;
    }
  }

  /** Writes what this instance knows into a missing or older record (e.g. after a server restart). */
  #seed(): void {
    if (this.#seeding || this.#closed || this.#degraded) return;
    this.#seeding = true;
    const link = this.#link as BreakerLink;
    const local = link.state;
    const k = this.#known;
    let s: Local = local === 'half-open' ? 'open' : local;
    // An isolation held only by others stays; one nobody else is known to hold ends with the record.
    if (s === 'isolated' && !this.#own && (k === undefined || k.i <= (this.#member ? 1 : 0))) s = 'closed';
    // The same state as the known epoch keeps its number; anything newer takes the next one, so that
    // every instance that knew the old record sees a change.
    const same = k !== undefined && k.s === s && !this.#pendingReset && !this.#dirty;
    const e = k === undefined ? 1 : k.e + (same ? 0 : 1);
    const rem = s === 'open' ? Math.max(0, this.#until - this.#o.clock.now()) : 0;
    const args = [s, e, rem, s === 'open' ? this.#openings : 0, this.#resets, this.#own ? 1 : 0, this.#o.lease];
    this.#writes++;
    const sent = k?.e ?? -1;
    this.#exec('seed', [...args, ...this.#held]).then(
      (reply) => {
        this.#writes--;
        this.#seeding = false;
        if (reply.ok === 1 && reply.state !== undefined) {
          // What this instance seeded is what it knows: its leases (seeded too) stay valid.
          this.#dirty = false;
          this.#known = reply.state;
        }
        if (reply.state !== undefined) this.#observe(reply.state, sent);
      },
      (error: unknown) => {
        this.#writes--;
        this.#seeding = false;
        this.#fail(error);
      },
    );
  }
}
