// Dead letters of messages published with JetStream's publish expectations: the copied headers must
// not make the dead-letter publish fail (the expectations were about the source stream).
import { headers } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type JetStreamConsumer,
  type JetStreamConsumerEvent,
  jetstreamConsumer,
  TerminalMessageError,
} from '../../src/messaging/nats/index.js';
import { type Bench, streamBench, until } from '../messaging/nats/support.js';

let bench: Bench | undefined;
const workers: JetStreamConsumer[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close({ timeout: 100 }).catch(() => undefined);
  await bench?.close();
  bench = undefined;
});

describe('jetstreamConsumer: dead letters of messages published with expectations', () => {
  async function deadLetters(b: Bench, publishOriginal: () => Promise<unknown>, bad: (msg: { id: number }) => boolean) {
    await publishOriginal();
    const events: JetStreamConsumerEvent[] = [];
    const w = jetstreamConsumer<{ id: number }>({
      consumer: await b.consumer(),
      handler: (m) => {
        if (bad(m)) throw new TerminalMessageError('bad order');
      },
      deadLetter: { js: b.js, subject: b.dlq },
      backoff: [50],
    });
    workers.push(w);
    w.on('*', (e) => events.push(e));
    await until(() => events.some((e) => e.type === 'dead-letter' || (e.type === 'error' && e.op === 'dead-letter')));
    const failure = events.find((e) => e.type === 'error');
    expect(failure === undefined ? undefined : String((failure as { error: unknown }).error)).toBeUndefined();
    const m = await b.jsm.streams.getMessage(`${b.stream}_DLQ`, { seq: 1 });
    expect(m?.header.get('Breakwater-Reason')).toBe('terminal');
    return m;
  }

  it('a message published with expect.streamName is dead-lettered, not nak-ed forever', async () => {
    const b = await streamBench();
    bench = b;
    const m = await deadLetters(
      b,
      () => b.js.publish(`${b.subject}.orders`, JSON.stringify({ id: 1 }), { expect: { streamName: b.stream } }),
      () => true,
    );
    expect(m?.json()).toEqual({ id: 1 });
  });

  it('a message published with expect.lastSequence (true of the source, not of the DLQ) is dead-lettered', async () => {
    const b = await streamBench();
    bench = b;
    const m = await deadLetters(
      b,
      async () => {
        await b.js.publish(`${b.subject}.orders`, JSON.stringify({ id: 1 }));
        await b.js.publish(`${b.subject}.orders`, JSON.stringify({ id: 2 }), { expect: { lastSequence: 1 } });
      },
      (msg) => msg.id === 2,
    );
    expect(m?.json()).toEqual({ id: 2 });
  });

  it('a rollup message (Nats-Rollup, allowed on the source stream) is dead-lettered', async () => {
    const b = await streamBench();
    bench = b;
    await b.jsm.streams.update(b.stream, { allow_rollup_hdrs: true });
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    h.set('X-Trace', 'abc');
    const m = await deadLetters(
      b,
      () => b.js.publish(`${b.subject}.orders`, JSON.stringify({ id: 3 }), { headers: h }),
      () => true,
    );
    expect(m?.json()).toEqual({ id: 3 });
    expect(m?.header.get('X-Trace')).toBe('abc');
  });
});
