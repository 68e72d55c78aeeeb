import type { Clock, TimerHandle } from './clock.js';

/**
 * An entry of a {@link DeadlineQueue}. Policies extend it (a timeout's scope *is* its entry), so
 * scheduling a deadline allocates nothing beyond the object the policy needed anyway.
 */
export class DeadlineEntry {
  /** Clock time at which {@link DeadlineEntry.expire} runs (`NaN` until a coarse queue sets it). */
  dueAt = 0;
  /** @internal */ prev: DeadlineEntry | undefined = undefined;
  /** @internal */ next: DeadlineEntry | undefined = undefined;
  /** @internal */ queued = false;
  /** Called once when the deadline passes while the entry is still queued. */
  expire(): void {}
}

/** Runs a callback once the current turn of the event loop is done (`setImmediate`). @internal */
export type Defer = (callback: () => void) => unknown;

/**
 * Many pending deadlines of the same duration served by one timer. Entries are appended in
 * deadline order (same duration, non-decreasing start), so the list stays sorted with O(1) add
 * and O(1) removal; the one timer is armed for the head. While nothing is pending the timer is
 * unref'd, so an idle process exits at once; it is re-armed lazily when it fires.
 *
 * With a `defer` function the queue is *coarse*: {@link DeadlineQueue.add} reads no clock. The
 * entries added during one turn of the event loop get their due time together when the turn ends
 * (one clock read per turn instead of per entry), and the idle timer is ref'd again only then if
 * entries are still pending (until then the deferred callback holds the process). The clock is
 * read after the entries started, so none expires early; one expires late by at most the rest of
 * the turn it started in, as Node's own timers run late by the turn that is running.
 * {@link DeadlineQueue.due} fixes the due time at once for a caller that needs it.
 * (docs/architecture.md, "The shared deadline queue".)
 */
export class DeadlineQueue {
  readonly #clock: Omit<Clock, 'sleep'>;
  readonly #defer: Defer | undefined;
  #head: DeadlineEntry | undefined = undefined;
  #tail: DeadlineEntry | undefined = undefined;
  /** Coarse mode: the first entry whose due time is not set yet (every later one is unset too). */
  #open: DeadlineEntry | undefined = undefined;
  #ms = 0;
  #timer: TimerHandle = undefined;
  #armed = false;
  #refed = false;
  #deferred = false;
  #size = 0;
  readonly #fire = (): void => this.#onTimer();
  readonly #turnEnd = (): void => this.#onTurnEnd();

  constructor(clock: Omit<Clock, 'sleep'>, defer?: Defer) {
    this.#clock = clock;
    this.#defer = defer;
  }

  /** The duration of the entries (that of the last one added). */
  get ms(): number {
    return this.#ms;
  }

  /** Number of entries still pending. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues `entry` to expire `ms` after `now` (the caller's `clock.now()`, passed in so that it is
   * read once per call). A coarse queue takes no `now`: the due time is set when the turn ends.
   * `ms` must be the same for every entry of a queue.
   */
  add(entry: DeadlineEntry, ms: number, now?: number): void {
    entry.queued = true;
    entry.next = undefined;
    entry.prev = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.next = entry;
    this.#tail = entry;
    this.#size++;
    this.#ms = ms;
    if (now === undefined && this.#defer !== undefined) {
      entry.dueAt = Number.NaN;
      this.#open ??= entry;
      this.#schedule();
    } else entry.dueAt = (now ?? this.#clock.now()) + ms;
    if (!this.#armed) {
      this.#armed = this.#refed = true;
      this.#timer = this.#clock.setTimeout(this.#fire, ms);
    } else if (!this.#refed) {
      if (this.#defer !== undefined) this.#schedule();
      else this.#ref(true);
    }
  }

  /** Removes `entry` if still queued (the call settled before its deadline). */
  remove(entry: DeadlineEntry): void {
    if (!entry.queued) return;
    entry.queued = false;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    if (entry === this.#open) this.#open = next;
    entry.prev = entry.next = undefined;
    // Idle: unref at once, so that nothing holds the process past the last call. (Only the ref is
    // deferred to the end of a turn: within a turn, calls that come and go toggle nothing.)
    if (--this.#size === 0 && this.#refed) this.#ref(false);
  }

  /** The due time of a queued entry, fixing it now if the turn it started in has not ended. */
  due(entry: DeadlineEntry): number {
    if (Number.isNaN(entry.dueAt)) {
      // An entry removed before its turn ended has no due time left to keep: it is now.
      if (entry.queued) this.#close(this.#clock.now());
      else entry.dueAt = this.#clock.now();
    }
    return entry.dueAt;
  }

  /** Cancels the timer and forgets every entry without expiring it. */
  clear(): void {
    while (this.#head !== undefined) this.remove(this.#head);
    if (this.#armed) {
      this.#armed = false;
      this.#clock.clearTimeout(this.#timer);
    }
  }

  #ref(on: boolean): void {
    this.#refed = on;
    if (on) this.#clock.ref?.(this.#timer);
    else this.#clock.unref?.(this.#timer);
  }

  #schedule(): void {
    if (!this.#deferred) {
      this.#deferred = true;
      (this.#defer as Defer)(this.#turnEnd);
    }
  }

  #onTurnEnd(): void {
    this.#deferred = false;
    if (this.#open !== undefined) this.#close(this.#clock.now());
    if (this.#armed && !this.#refed && this.#size > 0) this.#ref(true);
  }

  /** Sets the due time of every entry still open: they all started before `now`. */
  #close(now: number): void {
    for (let e = this.#open; e !== undefined; e = e.next) e.dueAt = now + this.#ms;
    this.#open = undefined;
  }

  #onTimer(): void {
    this.#armed = false;
    const now = this.#clock.now();
    if (this.#open !== undefined) this.#close(now);
    let head = this.#head;
    while (head !== undefined && head.dueAt <= now) {
      this.remove(head);
      head.expire();
      head = this.#head;
    }
    if (head !== undefined && !this.#armed) {
      this.#armed = this.#refed = true;
      this.#timer = this.#clock.setTimeout(this.#fire, Math.max(1, head.dueAt - now));
    }
  }
}
