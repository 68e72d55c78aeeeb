// A unique stream (and dead-letter stream) per test on the shared NATS server, deleted afterwards.
import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';

export const NATS_SERVER = process.env.NATS_URL ?? '127.0.0.1:4222';
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(cond: () => boolean | Promise<boolean>, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(10);
  }
}

export interface Bench {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly subject: string;
  readonly dlq: string;
  consumer(config?: Partial<ConsumerConfig>, name?: string): Promise<Consumer>;
  /** Another connection (another worker) to the same stream. */
  connectAgain(): Promise<{ nc: NatsConnection; js: JetStreamClient }>;
  close(): Promise<void>;
}

let n = 0;

export async function streamBench(opts: { dlq?: boolean; servers?: string } = {}): Promise<Bench> {
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}${n++}`;
  const servers = opts.servers ?? NATS_SERVER;
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `BW_${id}`;
  const subject = `bw.${id}`;
  const dlq = `bwdlq.${id}`;
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  if (opts.dlq !== false) await jsm.streams.add({ name: `${stream}_DLQ`, subjects: [`${dlq}.>`, dlq] });
  const extra: NatsConnection[] = [];
  return {
    nc,
    js,
    jsm,
    stream,
    subject,
    dlq,
    async consumer(config = {}, name = 'w') {
      await jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(5000),
        ...config,
      });
      return js.consumers.get(stream, name);
    },
    async connectAgain() {
      const c = await connect({ servers });
      extra.push(c);
      return { nc: c, js: jetstream(c) };
    },
    async close() {
      await jsm.streams.delete(stream).catch(() => undefined);
      if (opts.dlq !== false) await jsm.streams.delete(`${stream}_DLQ`).catch(() => undefined);
      for (const c of extra) await c.close().catch(() => undefined);
      await nc.close();
    },
  };
}
