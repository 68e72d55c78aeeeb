/**
 * JetStream consumer benchmark (standalone: `npx tsx bench/nats.ts`; needs NATS with JetStream on
 * 127.0.0.1:4222, or NATS_URL). Messages/s through `jetstreamConsumer` beside a bare
 * `consumer.consume()` loop on the same stream with the same ack mode and pull batch: each round
 * publishes MESSAGES messages on a subject of its own and gives each subject a fresh durable
 * consumer filtered to it, so subject and baseline read the same messages from the same server;
 * rounds interleave subject and baseline and report the median. The handler parses the JSON and
 * adds a number (no I/O), so the rows show the consumer's own cost over the client's.
 */
import { AckPolicy, type Consumer, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { memoryIdempotencyStore } from '../src/idempotency/index.js';
import { jetstreamConsumer } from '../src/messaging/nats/index.js';

const MESSAGES = 4000;
const ROUNDS = 3;
const BATCH = 100;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const stream = `BW_BENCH_${id}`;
await jsm.streams.add({ name: stream, subjects: [`bwbench.${id}.>`] });

let n = 0;
async function fresh(): Promise<Consumer> {
  const subject = `bwbench.${id}.s${n}`;
  const name = `c${n++}`;
  const payload = JSON.stringify({ value: 1, text: 'a tool result of a few dozen bytes' });
  const acks = [];
  for (let i = 0; i < MESSAGES; i++) acks.push(js.publish(subject, payload));
  await Promise.all(acks);
  await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: subject });
  return js.consumers.get(stream, name);
}

let sink = 0;
const work = (m: { value: number }): void => {
  sink += m.value;
};

async function bare(confirm: boolean): Promise<number> {
  const consumer = await fresh();
  const t0 = performance.now();
  const iter = await consumer.consume({ max_messages: BATCH });
  let seen = 0;
  for await (const m of iter) {
    work(m.json<{ value: number }>());
    if (confirm) await m.ackAck();
    else m.ack();
    if (++seen === MESSAGES) break;
  }
  const ms = performance.now() - t0;
  return (MESSAGES / ms) * 1000;
}

async function breakwater(
  confirm: boolean,
  opts: { idempotent?: boolean; concurrency?: number } = {},
): Promise<number> {
  const consumer = await fresh();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const t0 = performance.now();
  const worker = jetstreamConsumer<{ value: number }>({
    consumer,
    handler: (m) => {
      work(m);
      if (++seen === MESSAGES) done();
    },
    ack: confirm ? 'confirm' : 'fire',
    batch: BATCH,
    concurrency: opts.concurrency ?? 1,
    ackWait: 30_000,
    maxDeliver: 5,
    idempotency: opts.idempotent ? memoryIdempotencyStore() : undefined,
  });
  await all;
  await worker.close(); // waits for the last acks
  const ms = performance.now() - t0;
  return (MESSAGES / ms) * 1000;
}

const started = performance.now();
type Key = 'bareFire' | 'bwFire' | 'bareConfirm' | 'bwConfirm' | 'bwIdem' | 'bwConc';
const r: Record<Key, number[]> = { bareFire: [], bwFire: [], bareConfirm: [], bwConfirm: [], bwIdem: [], bwConc: [] };
// warm-up
await bare(false);
await breakwater(false);
for (let i = 0; i < ROUNDS; i++) {
  r.bareFire.push(await bare(false));
  r.bwFire.push(await breakwater(false));
  r.bareConfirm.push(await bare(true));
  r.bwConfirm.push(await breakwater(true));
  r.bwIdem.push(await breakwater(false, { idempotent: true }));
  r.bwConc.push(await breakwater(true, { concurrency: 16 }));
}
await jsm.streams.delete(stream);
await nc.close();

const fmt = (x: number): string => `${Math.round(x).toLocaleString('en-US')} msg/s`;
const row = (name: string, xs: number[], base: number[]): string =>
  `| ${name} | ${fmt(median(xs))} | ${(median(xs) / median(base)).toFixed(2)}× |`;
log(
  `\n### JetStream consumer throughput (${MESSAGES.toLocaleString('en-US')} messages per round, pull batch ${BATCH})\n`,
);
log('| subject | messages/s (median) | vs bare loop, same ack mode |');
log('|---|---:|---:|');
log(row('bare `consume()` loop, `ack()`', r.bareFire, r.bareFire));
log(row("`jetstreamConsumer` `ack: 'fire'`", r.bwFire, r.bareFire));
log(row("`jetstreamConsumer` `ack: 'fire'` + idempotency (memory store)", r.bwIdem, r.bareFire));
log(row('bare `consume()` loop, `await ackAck()`', r.bareConfirm, r.bareConfirm));
log(row("`jetstreamConsumer` `ack: 'confirm'` (default)", r.bwConfirm, r.bareConfirm));
log(row("`jetstreamConsumer` `ack: 'confirm'`, concurrency 16", r.bwConc, r.bareConfirm));
log(
  `\n_Node ${process.version}, ${ROUNDS} interleaved rounds, sink ${sink > 0 ? 'ok' : '0'}; ${((performance.now() - started) / 1000).toFixed(1)} s._`,
);
