/**
 * Messaging benchmarks (standalone: `npx tsx bench/messaging.ts`, bounded to well under 30 s).
 *
 * 1. Aggregator throughput with 1,000 open groups: messages/s through `add()` while ~1k groups stay
 *    open (each completes at `size` and its key reopens), with and without timed rules (inactivity
 *    timeout + deadline arm one platform timer per group), against a hand-written floor (a `Map` of
 *    arrays with a size check).
 * 2. Scatter-gather overhead: `execute()` over 3 handlers that resolve at once, against a plain
 *    `Promise.all` over the same handlers; reported per call and as a ratio.
 *
 * Rows interleave subject and baseline rounds and report the median of the rounds.
 */
import { aggregator, scatterGather } from '../src/messaging/index.js';

const ROUNDS = 5;
// Fewer rounds when the machine is busy, so a run stays well under 30 s of wall time.
const BUDGET_MS = 18_000;
const GROUPS = 1_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

// --- 1. aggregator -------------------------------------------------------------------------------

interface Msg {
  readonly key: number;
  readonly n: number;
}
const MESSAGES = 300_000;
const msgs: Msg[] = Array.from({ length: MESSAGES }, (_, n) => ({ key: (n * 7919) % GROUPS, n }));

function aggRun(timed: boolean): number {
  let completed = 0;
  const agg = aggregator<Msg, number, number>({
    correlate: (m) => m.key,
    complete: timed ? { size: 16, timeout: 60_000, deadline: 120_000 } : { size: 16 },
    combine: (ms) => ms.length,
    onComplete: () => {
      completed++;
    },
  });
  for (let k = 0; k < GROUPS; k++) agg.add({ key: k, n: -1 }); // 1k open groups before timing
  const t0 = performance.now();
  for (const m of msgs) agg.add(m);
  const ms = performance.now() - t0;
  if (agg.openGroups !== GROUPS || completed === 0) throw new Error('unexpected aggregator state');
  agg.close();
  return (MESSAGES / ms) * 1000;
}

function floorRun(): number {
  let completed = 0;
  const groups = new Map<number, Msg[]>();
  const add = (m: Msg): void => {
    let g = groups.get(m.key);
    if (g === undefined) {
      g = [];
      groups.set(m.key, g);
    }
    g.push(m);
    if (g.length >= 16) {
      groups.delete(m.key);
      completed += g.length > 0 ? 1 : 0;
    }
  };
  for (let k = 0; k < GROUPS; k++) add({ key: k, n: -1 });
  const t0 = performance.now();
  for (const m of msgs) add(m);
  const ms = performance.now() - t0;
  if (completed === 0) throw new Error('unexpected floor state');
  return (MESSAGES / ms) * 1000;
}

// --- 2. scatter-gather ---------------------------------------------------------------------------

const CALLS = 10_000;
const handlers = {
  a: async (q: number) => q + 1,
  b: async (q: number) => q + 2,
  c: async (q: number) => q + 3,
};
const list = Object.values(handlers);
const sgAll = scatterGather<number, number>({ handlers, gather: 'all', timeout: 10_000 });
const sgFirst = scatterGather<number, number>({ handlers, gather: 'first', timeout: 10_000 });
const sgVote = scatterGather<number, number>({ handlers, gather: { quorum: 2 }, select: 'vote', timeout: 10_000 });

async function perCall(fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await fn(i);
  return ((performance.now() - t0) * 1000) / CALLS; // µs per call
}
const plain = (i: number): Promise<number[]> => Promise.all(list.map((h) => h(i)));

async function main(): Promise<void> {
  const started = performance.now();
  // warm-up
  for (let i = 0; i < 3; i++) {
    aggRun(false);
    aggRun(true);
    floorRun();
  }
  await perCall(plain);
  await perCall((i) => sgAll.execute(i));

  const agg: Record<'plain' | 'timed' | 'floor', number[]> = { plain: [], timed: [], floor: [] };
  for (let r = 0; r < ROUNDS && (r === 0 || performance.now() - started < BUDGET_MS / 2); r++) {
    agg.floor.push(floorRun());
    agg.plain.push(aggRun(false));
    agg.timed.push(aggRun(true));
  }
  const fmt = (n: number): string => `${(n / 1e6).toFixed(2)} M/s`;
  log('\n### Aggregator throughput (1,000 open groups, groups complete at 16 messages)\n');
  log('| subject | messages/s (median) | vs floor |');
  log('|---|---:|---:|');
  const floor = median(agg.floor);
  log(`| floor: \`Map\` of arrays + size check | ${fmt(floor)} | 1.00× |`);
  log(`| aggregator \`{ size }\` | ${fmt(median(agg.plain))} | ${(floor / median(agg.plain)).toFixed(2)}× slower |`);
  log(
    `| aggregator \`{ size, timeout, deadline }\` (1 timer per group) | ${fmt(median(agg.timed))} | ${(floor / median(agg.timed)).toFixed(2)}× slower |`,
  );

  const sg: Record<'plain' | 'all' | 'first' | 'vote', number[]> = { plain: [], all: [], first: [], vote: [] };
  for (let r = 0; r < ROUNDS && (r === 0 || performance.now() - started < BUDGET_MS); r++) {
    sg.plain.push(await perCall(plain));
    sg.all.push(await perCall((i) => sgAll.execute(i)));
    sg.first.push(await perCall((i) => sgFirst.execute(i)));
    sg.vote.push(await perCall((i) => sgVote.execute(i)));
  }
  const base = median(sg.plain);
  const row = (name: string, xs: number[]): string => {
    const m = median(xs);
    return `| ${name} | ${m.toFixed(2)} µs | +${(m - base).toFixed(2)} µs | ${(m / base).toFixed(2)}× |`;
  };
  log('\n### Scatter-gather overhead (3 handlers that resolve at once)\n');
  log('| subject | per call (median) | overhead | ratio |');
  log('|---|---:|---:|---:|');
  log(`| \`Promise.all\` (baseline) | ${base.toFixed(2)} µs | — | 1.00× |`);
  log(row("`scatterGather` gather 'all'", sg.all));
  log(row("`scatterGather` gather 'first' (2 branches cancelled)", sg.first));
  log(row('`scatterGather` quorum 2 + vote (1 cancelled)', sg.vote));
  log(
    `\n_Node ${process.version}, ${agg.floor.length}/${sg.plain.length} interleaved rounds, ${MESSAGES.toLocaleString()} messages and ${CALLS.toLocaleString()} calls per round; ${((performance.now() - started) / 1000).toFixed(1)} s._`,
  );
}

await main();
