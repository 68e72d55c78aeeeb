// Fails each test of the calling file that leaves an unhandled rejection behind: a rejection no
// caller sees is a bug (a hedge loser, a closed stream, a waiter that left). `settleMs` lets the
// rejections of work that outlives the test's last await surface before the check.
import { afterEach, beforeEach, expect } from 'vitest';

export function failOnUnhandledRejections(settleMs = 0): void {
  let unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeEach(() => {
    unhandled = [];
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    await new Promise((r) => setTimeout(r, settleMs));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });
}
