// Property test: for random branch latencies and failures on the virtual clock, the chosen value
// and completedBy match a simple model, and every branch still running at the decision observes
// an abort (a cancellation, or a TimeoutError when the gather timed out).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTimeoutError } from '../../src/core/errors.js';
import {
  type GatherMode,
  type Handler,
  isBranchCancelledError,
  isGatherError,
  scatterGather,
} from '../../src/messaging/index.js';
import { virtualClock } from '../../src/testing/index.js';

interface Branch {
  readonly ms: number;
  readonly ok: boolean;
  readonly value: string; // one of a few answers, spelled differently
}
type GatherKind = 'all' | 'first' | { quorum: number } | 'until2';
type SelectKind = 'first' | 'best' | 'vote';

const norm = (v: string): string => v.trim().toLowerCase();
// Coarse on purpose, so that ties (broken by declaration order) are common.
const score = (v: string): number => (norm(v).length > 2 ? 1 : 0);

interface Expected {
  readonly outcome: { ok: true; value: string } | { ok: false };
  readonly completedBy: string;
  readonly statuses: string[];
  readonly decidedAt: number;
}

function model(branches: readonly Branch[], gather: GatherKind, select: SelectKind, timeout: number): Expected {
  const n = branches.length;
  const order = branches.map((b, i) => ({ ...b, i })).sort((a, b) => a.ms - b.ms);
  const statuses: string[] = branches.map(() => 'running');
  const ok: { i: number; value: string }[] = [];
  let failures = 0;
  const quorum = typeof gather === 'object' ? gather.quorum : 0;
  let completedBy: string | undefined;
  let decidedAt = timeout;
  for (const b of order) {
    if (b.ms > timeout) break;
    statuses[b.i] = b.ok ? 'ok' : 'error';
    if (b.ok) ok.push({ i: b.i, value: b.value });
    else failures++;
    const settled = ok.length + failures;
    if (b.ok && gather === 'first') completedBy = 'first';
    else if (b.ok && quorum > 0 && ok.length >= quorum) completedBy = 'quorum';
    else if (b.ok && gather === 'until2' && ok.length >= 2) completedBy = 'until';
    else if (!b.ok && quorum > 0 && failures > n - quorum) completedBy = 'quorum';
    else if (settled === n) completedBy = gather === 'first' ? 'first' : 'all';
    if (completedBy !== undefined) {
      decidedAt = b.ms;
      break;
    }
  }
  completedBy ??= 'timeout';
  for (let i = 0; i < n; i++)
    if (statuses[i] === 'running') statuses[i] = completedBy === 'timeout' ? 'timeout' : 'cancelled';
  if (ok.length < Math.max(1, quorum)) return { outcome: { ok: false }, completedBy, statuses, decidedAt };
  let value: string;
  if (select === 'first') value = (ok[0] as { value: string }).value;
  else if (select === 'best') {
    const best = [...ok].sort((a, b) => score(b.value) - score(a.value) || a.i - b.i)[0] as { value: string };
    value = best.value;
  } else {
    const groups = new Map<string, { i: number; value: string }[]>();
    for (const r of ok) groups.set(norm(r.value), [...(groups.get(norm(r.value)) ?? []), r]);
    const ranked = [...groups.values()].sort(
      (a, b) =>
        b.length - a.length ||
        score((b[0] as { value: string }).value) - score((a[0] as { value: string }).value) ||
        Math.min(...a.map((r) => r.i)) - Math.min(...b.map((r) => r.i)),
    );
    // all members of a group share a score: the earliest declared member wins
    value = [...(ranked[0] as { i: number; value: string }[])].sort((a, b) => a.i - b.i)[0]?.value as string;
  }
  return { outcome: { ok: true, value }, completedBy, statuses, decidedAt };
}

const branchArb = (ms: number): fc.Arbitrary<Branch> =>
  fc.record({
    ms: fc.constant(ms),
    ok: fc.boolean(),
    value: fc.constantFrom('yes', ' Yes', 'YES ', 'no', 'No', 'maybe'),
  });

const scenario = fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 6 }).chain((slots) =>
  fc.record({
    branches: fc.tuple(...slots.map((s) => branchArb(s * 10))),
    gather: fc.oneof(
      fc.constantFrom<GatherKind>('all', 'first', 'until2'),
      fc.integer({ min: 1, max: slots.length }).map((quorum): GatherKind => ({ quorum })),
    ),
    select: fc.constantFrom<SelectKind>('first', 'best', 'vote'),
    timeout: fc.integer({ min: 0, max: 31 }).map((t) => t * 10 + 5),
  }),
);

describe('scatterGather (property)', () => {
  it('matches the model; every branch running at the decision observes an abort; no timer left', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ branches, gather, select, timeout }) => {
        const clock = virtualClock({ flushTurns: 10 });
        const observed: unknown[] = branches.map(() => undefined);
        const handlers = branches.map((b, i) => ({
          name: `b${i}`,
          handler: (async (_q, ctx) => {
            try {
              await clock.sleep(b.ms, ctx.signal);
            } catch (e) {
              observed[i] = e;
              throw e;
            }
            if (!b.ok) throw new Error(`b${i}`);
            return b.value;
          }) as Handler<string, string>,
        }));
        const mode: GatherMode<string> =
          gather === 'until2' ? { until: (ok) => ok.length >= 2 } : (gather as GatherMode<string>);
        const sg = scatterGather<string, string>({ handlers, gather: mode, select, score, timeout, clock });
        const p = sg.execute('q').then(
          (r) => ({ ok: true as const, r }),
          (e: unknown) => ({ ok: false as const, e }),
        );
        await clock.advance(400);
        const got = await p;
        const want = model(branches, gather, select, timeout);
        const outcomes = got.ok ? got.r.branches : isGatherError(got.e) ? got.e.branches : [];
        expect(got.ok).toBe(want.outcome.ok);
        if (got.ok && want.outcome.ok) expect(got.r.value).toBe(want.outcome.value);
        expect(got.ok ? got.r.completedBy : isGatherError(got.e) && got.e.completedBy).toBe(want.completedBy);
        expect(outcomes.map((b) => b.status)).toEqual(want.statuses);
        want.statuses.forEach((s, i) => {
          if (s === 'cancelled') expect(isBranchCancelledError(observed[i])).toBe(true);
          else if (s === 'timeout') expect(isTimeoutError(observed[i])).toBe(true);
          else expect(observed[i]).toBeUndefined();
          if (s === 'cancelled' || s === 'timeout') expect(outcomes[i]?.ms).toBe(want.decidedAt);
          else expect(outcomes[i]?.ms).toBe(branches[i]?.ms);
        });
        expect(clock.pending).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
