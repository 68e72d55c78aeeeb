import type { Clock, TimerHandle } from './clock.js';

/**
 * An entry of a {@link DeadlineQueue}. Policies extend it (a timeout's scope *is* its entry), so
 * scheduling a deadline allocates nothing beyond the object the policy needed anyway.
 */
export class DeadlineEntry {
  /** Clock time at which {@link DeadlineEntry.expire} runs. */
  dueAt = 0;
  /** @internal */ prev: DeadlineEntry | undefined = undefined;
  /** @internal */ next: DeadlineEntry | undefined = undefined;
  /** @internal */ queued = false;
  /** Called once when the deadline passes while the entry is still queued. */
  expire(): void {}
}

/**
 * Many pending deadlines of the same duration served by one timer. Entries are appended in
 * deadline order (same duration, non-decreasing `now`), so the list stays sorted with O(1) add
 * and O(1) removal; the one timer is armed for the head. While nothing is pending the timer is
 * unref'd, so an idle process exits at once; it is re-armed lazily when it fires.
 */
export class DeadlineQueue {
  readonly #clock: Omit<Clock, 'sleep'>;
  #head: DeadlineEntry | undefined = undefined;
  #tail: DeadlineEntry | undefined = undefined;
  #timer: TimerHandle = undefined;
  #armed = false;
  #refed = false;
  #size = 0;
  readonly #fire = (): void => this.#onTimer();

  constructor(clock: Omit<Clock, 'sleep'>) {
    this.#clock = clock;
  }

  /** Number of entries still pending. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues `entry` to expire `ms` after `now` (the caller's `clock.now()`, passed in so that it is
   * read once per call). `ms` must be the same for every entry of a queue.
   */
  add(entry: DeadlineEntry, now: number, ms: number): void {
    entry.dueAt = now + ms;
    entry.queued = true;
    entry.next = undefined;
    entry.prev = this.#tail;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.next = entry;
    this.#tail = entry;
    this.#size++;
    if (!this.#armed) this.#arm(ms);
    else if (!this.#refed) {
      this.#refed = true;
      this.#clock.ref?.(this.#timer);
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
    entry.prev = entry.next = undefined;
    if (--this.#size === 0 && this.#refed) {
      this.#refed = false;
      this.#clock.unref?.(this.#timer);
    }
  }

  /** Cancels the timer and forgets every entry without expiring it. */
  clear(): void {
    while (this.#head !== undefined) this.remove(this.#head);
    if (this.#armed) {
      this.#armed = false;
      this.#clock.clearTimeout(this.#timer);
    }
  }

  #arm(ms: number): void {
    this.#armed = true;
    this.#refed = true;
    this.#timer = this.#clock.setTimeout(this.#fire, ms);
  }

  #onTimer(): void {
    this.#armed = false;
    const now = this.#clock.now();
    let head = this.#head;
    while (head !== undefined && head.dueAt <= now) {
      this.remove(head);
      head.expire();
      head = this.#head;
    }
    if (head !== undefined && !this.#armed) this.#arm(Math.max(1, head.dueAt - now));
  }
}
