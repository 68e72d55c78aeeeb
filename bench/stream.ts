/**
 * Stream benchmark (standalone: `npx tsx bench/stream.ts`, well under 30 s).
 *
 * Overhead per chunk of iterating a stream through `streamTimeout` against iterating the source
 * directly: a 10,000-chunk in-memory async generator (each chunk ready at once, so the cost of the
 * layer is all there is to see), read with `for await`. Subjects, with the platform timers:
 * - baseline: `for await` over the generator;
 * - `streamTimeout({ firstChunk })`: after the first chunk, no timer and no clock read per chunk;
 * - `streamTimeout({ firstChunk, idle, total })`: one `Date.now()` per chunk for the idle limit, one
 *   timer per stream re-armed when it fires early.
 * Rounds interleave the subjects; the table reports medians per chunk and the overhead over the baseline.
 */
import { streamTimeout } from '../src/stream/index.js';

const CHUNKS = 10_000;
const STREAMS = 20; // per round and subject
const ROUNDS = 15;
const BUDGET_MS = 20_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function* source(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

const firstOnly = streamTimeout({ firstChunk: 10_000 });
const allLimits = streamTimeout({ firstChunk: 10_000, idle: 5_000, total: 600_000 });

type Subject = () => Promise<AsyncIterable<number>>;
const subjects: Record<string, Subject> = {
  'baseline: `for await` over the generator': async () => source(CHUNKS),
  '`streamTimeout({ firstChunk })`': () => firstOnly.execute(() => source(CHUNKS)),
  '`streamTimeout({ firstChunk, idle, total })`': () => allLimits.execute(() => source(CHUNKS)),
};

/** ns per chunk over STREAMS streams of CHUNKS chunks. */
async function run(make: Subject): Promise<number> {
  let sum = 0;
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < STREAMS; s++) {
    for await (const x of await make()) sum += x;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (sum !== (STREAMS * CHUNKS * (CHUNKS - 1)) / 2) throw new Error('lost chunks');
  return ns / (STREAMS * CHUNKS);
}

async function main(): Promise<void> {
  const started = performance.now();
  const names = Object.keys(subjects);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let w = 0; w < 3; w++) for (const n of names) await run(subjects[n] as Subject);
  for (let r = 0; r < ROUNDS && (r < 3 || performance.now() - started < BUDGET_MS); r++) {
    for (const n of names) (times[n] as number[]).push(await run(subjects[n] as Subject));
  }
  const base = median(times[names[0] as string] as number[]);
  log(`\n### Stream overhead per chunk (${CHUNKS.toLocaleString()}-chunk in-memory async generator, \`for await\`)\n`);
  log('| subject | per chunk (median) | overhead | ratio |');
  log('|---|---:|---:|---:|');
  for (const n of names) {
    const m = median(times[n] as number[]);
    const over = n === names[0] ? '—' : `+${(m - base).toFixed(0)} ns`;
    log(`| ${n} | ${m.toFixed(0)} ns | ${over} | ${(m / base).toFixed(2)}× |`);
  }
  log(
    `\n_Node ${process.version}, ${(times[names[0] as string] as number[]).length} interleaved rounds of ${STREAMS} streams each; wall time (\`process.hrtime\`); ${((performance.now() - started) / 1000).toFixed(1)} s._`,
  );
}

await main();
