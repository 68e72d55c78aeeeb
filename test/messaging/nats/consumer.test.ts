// jetstreamConsumer against the real JetStream server: ack, nak with backoff, term + dead letter
// (terminal errors, poison payloads, the last delivery), heartbeats, draining close, close with a
// timeout, deduplicated redeliveries, and the publish helper. Each test has its own stream.
import { headers, nanos } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryIdempotencyStore } from '../../../src/idempotency/index.js';
import { Policy } from '../../../src/index.js';
import {
  isConsumerClosedError,
  type JetStreamConsumer,
  type JetStreamConsumerEvent,
  jetstreamConsumer,
  publish,
  TerminalMessageError,
} from '../../../src/messaging/nats/index.js';
import { exponential, retry } from '../../../src/retry/index.js';
import { timeout } from '../../../src/timeout/index.js';
import { deferred } from '../../support/deferred.js';
import { HAS } from '../../support/servers.js';
import { type Bench, sleep, streamBench, until } from './support.js';

let bench: Bench | undefined;
const workers: JetStreamConsumer[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close({ timeout: 100 }).catch(() => undefined);
  await bench?.close();
  bench = undefined;
});

async function open(opts?: { dlq?: boolean }): Promise<Bench> {
  bench = await streamBench(opts);
  return bench;
}

function track(w: JetStreamConsumer): { w: JetStreamConsumer; events: JetStreamConsumerEvent[] } {
  workers.push(w);
  const events: JetStreamConsumerEvent[] = [];
  w.on('*', (e) => events.push(e));
  return { w, events };
}

async function pending(b: Bench, name = 'w'): Promise<{ pending: number; ackPending: number; redelivered: number }> {
  const i = await b.jsm.consumers.info(b.stream, name);
  return { pending: i.num_pending, ackPending: i.num_ack_pending, redelivered: i.num_redelivered };
}

async function dlqMessages(b: Bench, expected: number) {
  await until(
    async () => (await b.jsm.streams.info(`${b.stream}_DLQ`)).state.messages >= expected,
    8000,
    'dead letters',
  );
  const out = [];
  for (let seq = 1; seq <= expected; seq++) {
    const m = await b.jsm.streams.getMessage(`${b.stream}_DLQ`, { seq });
    out.push(m);
  }
  return out;
}

describe.skipIf(!HAS.nats)('jetstreamConsumer', () => {
  it('acks each handled message (confirmed), with the decoded JSON and, with idempotency, the message id as ctx.key', async () => {
    const b = await open({ dlq: false });
    for (let i = 0; i < 3; i++) await publish(b.js, `${b.subject}.a`, { i }, { msgId: `m-${i}` });
    const seen: unknown[] = [];
    const keys: (string | undefined)[] = [];
    const { w, events } = track(
      jetstreamConsumer<{ i: number }>({
        consumer: await b.consumer(),
        handler: (m, ctx) => {
          seen.push(m.i);
          keys.push(ctx.key);
        },
        idempotency: memoryIdempotencyStore(),
      }),
    );
    await until(() => events.filter((e) => e.type === 'ack').length === 3);
    expect(seen).toEqual([0, 1, 2]);
    expect(keys).toEqual(['m-0', 'm-1', 'm-2']);
    expect(await pending(b)).toEqual({ pending: 0, ackPending: 0, redelivered: 0 });
    await w.close();
  });

  it('naks a transient failure with the backoff of its delivery count, then acks the redelivery', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { x: 1 }, { msgId: 'one' });
    const at: number[] = [];
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          at.push(Date.now());
          if (at.length < 3) throw new Error('flaky');
        },
        backoff: [150, 300],
      }),
    );
    await until(() => events.some((e) => e.type === 'ack'));
    expect(events.filter((e) => e.type === 'nak').map((e) => (e as { delay: number }).delay)).toEqual([150, 300]);
    expect((at[1] as number) - (at[0] as number)).toBeGreaterThanOrEqual(140);
    expect((at[2] as number) - (at[1] as number)).toBeGreaterThanOrEqual(290);
    expect(await pending(b)).toMatchObject({ pending: 0, ackPending: 0 });
  });

  it("takes a breakwater/retry backoff, and an error's retryAfter as the least delay", async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, 1, { msgId: 'one' });
    let n = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          n++;
          if (n === 1) throw new Error('first');
          if (n === 2) throw Object.assign(new Error('busy'), { retryAfter: 250 });
        },
        backoff: exponential({ initial: 40, factor: 2, jitter: 'none' }),
      }),
    );
    await until(() => events.some((e) => e.type === 'ack'));
    expect(events.filter((e) => e.type === 'nak').map((e) => (e as { delay: number }).delay)).toEqual([40, 250]);
  });

  it("without `backoff`, naks with the backoff of the policy's outermost retry (delivery count = retry number)", async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, 1, { msgId: 'one' });
    let n = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          n++;
          if (n <= 4) throw new Error('down'); // 2 deliveries × (1 + 1 in-process retry)
        },
        policy: Policy.wrap(
          timeout(5000),
          retry({ maxRetries: 1, backoff: exponential({ initial: 60, factor: 3, jitter: 'none' }) }),
        ),
      }),
    );
    await until(() => events.some((e) => e.type === 'ack'));
    // In-process: one retry after 60 ms per delivery; between deliveries: delay(1) = 60, delay(2) = 180.
    expect(events.filter((e) => e.type === 'nak').map((e) => (e as { delay: number }).delay)).toEqual([60, 180]);
    expect(n).toBe(5);
  });

  it('without `backoff` or a retry in the policy, naks after the default schedule (1 s first)', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, 1, { msgId: 'one' });
    const { w, events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          throw new Error('down');
        },
        policy: timeout(5000),
      }),
    );
    await until(() => events.some((e) => e.type === 'nak'));
    expect((events.find((e) => e.type === 'nak') as { delay: number }).delay).toBe(1000);
    await w.close();
  });

  it('terminates a terminal failure at once and dead-letters it with its headers and the error', async () => {
    const b = await open();
    const h = headers();
    h.set('X-Trace', 'abc');
    await b.js.publish(`${b.subject}.orders`, JSON.stringify({ bad: true }), { headers: h, msgID: 'order-1' });
    let calls = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          calls++;
          throw new TerminalMessageError('an order without items');
        },
        deadLetter: { js: b.js, subject: b.dlq },
      }),
    );
    await until(() => events.some((e) => e.type === 'dead-letter'));
    const [m] = await dlqMessages(b, 1);
    expect(m?.json()).toEqual({ bad: true });
    expect(m?.header.get('X-Trace')).toBe('abc');
    expect(m?.header.get('Breakwater-Reason')).toBe('terminal');
    expect(m?.header.get('Breakwater-Error-Code')).toBe('ERR_TERMINAL_MESSAGE');
    expect(m?.header.get('Breakwater-Error-Message')).toBe('an order without items');
    expect(m?.header.get('Breakwater-Delivery-Count')).toBe('1');
    expect(m?.header.get('Breakwater-Stream')).toBe(b.stream);
    expect(m?.header.get('Breakwater-Stream-Seq')).toBe('1');
    expect(m?.header.get('Breakwater-Subject')).toBe(`${b.subject}.orders`);
    expect(calls).toBe(1);
    await sleep(100);
    expect(await pending(b)).toMatchObject({ pending: 0, ackPending: 0 });
  });

  it('a payload that does not decode is poison: dead-lettered with ERR_MESSAGE_DECODE, handler never called', async () => {
    const b = await open();
    await b.js.publish(`${b.subject}.a`, 'not json {', { msgID: 'poison' });
    let calls = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => void calls++,
        deadLetter: { js: b.js, subject: (msg) => `${b.dlq}.${msg.subject.split('.').at(-1)}` },
      }),
    );
    await until(() => events.some((e) => e.type === 'dead-letter'));
    const [m] = await dlqMessages(b, 1);
    expect(m?.subject).toBe(`${b.dlq}.a`);
    expect(m?.string()).toBe('not json {');
    expect(m?.header.get('Breakwater-Error-Code')).toBe('ERR_MESSAGE_DECODE');
    expect(calls).toBe(0);
  });

  it('the maxDeliver-th failed delivery is terminated and dead-lettered with reason max-deliver', async () => {
    const b = await open();
    await publish(b.js, `${b.subject}.a`, { x: 1 }, { msgId: 'x' });
    let calls = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer({ max_deliver: 3 }), // maxDeliver read from the consumer
        handler: () => {
          calls++;
          throw new Error('still down');
        },
        backoff: [20],
        deadLetter: { js: b.js, subject: b.dlq },
      }),
    );
    await until(() => events.some((e) => e.type === 'dead-letter'));
    expect(calls).toBe(3);
    const [m] = await dlqMessages(b, 1);
    expect(m?.header.get('Breakwater-Reason')).toBe('max-deliver');
    expect(m?.header.get('Breakwater-Delivery-Count')).toBe('3');
    expect(m?.header.get('Breakwater-Error-Message')).toBe('still down');
  });

  it('a dead-letter publish that fails keeps the message (nak, not term)', async () => {
    const b = await open({ dlq: false }); // no stream listens on the dead-letter subject
    await publish(b.js, `${b.subject}.a`, { x: 1 }, { msgId: 'x' });
    const { w, events } = track(
      jetstreamConsumer({
        consumer: await b.consumer(),
        handler: () => {
          throw new TerminalMessageError();
        },
        backoff: [5000],
        deadLetter: { js: b.js, subject: `nowhere.${b.dlq}` },
      }),
    );
    await until(() => events.some((e) => e.type === 'nak'), 15_000);
    expect(events.find((e) => e.type === 'error')).toMatchObject({ op: 'dead-letter' });
    expect(events.some((e) => e.type === 'dead-letter')).toBe(false);
    await w.close();
    expect((await pending(b)).ackPending + (await pending(b)).pending).toBe(1);
  });

  it('a handler that outlives ack_wait is not redelivered while it sends working()', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { slow: true }, { msgId: 'slow' });
    let calls = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer({ ack_wait: nanos(400) }), // heartbeat = ack_wait / 3, from the info
        handler: async () => {
          calls++;
          await sleep(1200);
        },
      }),
    );
    await until(() => events.some((e) => e.type === 'ack'), 5000);
    expect(calls).toBe(1);
  });

  it('without the heartbeat, the same handler is redelivered mid-run (the test above can fail)', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { slow: true }, { msgId: 'slow' });
    let calls = 0;
    track(
      jetstreamConsumer({
        consumer: await b.consumer({ ack_wait: nanos(400) }),
        handler: async () => {
          calls++;
          await sleep(1200);
        },
        heartbeat: false,
        concurrency: 2,
      }),
    );
    await until(() => calls >= 2, 5000);
  });

  it('close() stops pulling, drains what was buffered, waits for in-flight handlers and their acks', async () => {
    const b = await open({ dlq: false });
    for (let i = 0; i < 8; i++) await publish(b.js, `${b.subject}.a`, i, { msgId: `m${i}` });
    // Messages the server sent toward the stopped pull request come back after ack_wait.
    const consumer = await b.consumer({ ack_wait: nanos(1000) });
    const handled: number[] = [];
    let started = 0;
    const { w } = track(
      jetstreamConsumer<number>({
        consumer,
        handler: async (m) => {
          started++;
          await sleep(200);
          handled.push(m);
        },
        concurrency: 2,
        batch: 8,
      }),
    );
    await until(() => started === 2);
    expect(w.inFlight).toBe(2);
    await w.close();
    expect(w.inFlight).toBe(0);
    expect(handled.length).toBe(started);
    const afterClose = started;
    await sleep(100);
    expect(started).toBe(afterClose); // nothing runs after close resolved
    // What was handled is acked (confirmed); the rest goes to the next worker: each message once.
    expect((await pending(b)).ackPending + (await pending(b)).pending).toBe(8 - afterClose);
    const rest: number[] = [];
    const { events } = track(
      jetstreamConsumer<number>({ consumer, handler: (m) => void rest.push(m), concurrency: 4 }),
    );
    await until(() => events.filter((e) => e.type === 'ack').length === 8 - afterClose, 8000);
    expect([...handled, ...rest].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('close({ timeout }) aborts ctx.signal with ConsumerClosedError and hands the message back at once', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { long: true }, { msgId: 'long' });
    const consumer = await b.consumer({ ack_wait: nanos(30_000) });
    let reason: unknown;
    let started = false;
    const { w, events } = track(
      jetstreamConsumer({
        consumer,
        handler: (_m, { signal }) =>
          new Promise((_, reject) => {
            started = true;
            signal.addEventListener('abort', () => {
              reason = signal.reason;
              reject(signal.reason);
            });
          }),
      }),
    );
    await until(() => started);
    const t0 = Date.now();
    await w.close({ timeout: 100 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(isConsumerClosedError(reason)).toBe(true);
    expect(events.find((e) => e.type === 'nak')).toMatchObject({ delay: 0 });
    // Redelivered at once (not after ack_wait) to the next worker.
    let count = 0;
    const { events: next } = track(
      jetstreamConsumer({
        consumer,
        handler: (_m, ctx) => {
          count = (ctx.data.msg as { info: { deliveryCount: number } }).info.deliveryCount;
        },
      }),
    );
    await until(() => next.some((e) => e.type === 'ack'), 3000); // ack_wait is 30 s
    expect(count).toBeGreaterThanOrEqual(1);
  });

  it('close({ timeout }) hands back at once the message of a handler that ignores its signal (no heartbeat holds it)', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { hung: true }, { msgId: 'hung' });
    // ack_wait 1 s: the heartbeat (every 333 ms) would keep the message with this worker forever.
    const consumer = await b.consumer({ ack_wait: nanos(1000) });
    const release = deferred();
    let started = false;
    let lateOutcome = false;
    const { w, events } = track(
      jetstreamConsumer({
        consumer,
        handler: async () => {
          started = true;
          await release.promise; // hangs, deaf to ctx.signal
          lateOutcome = true;
        },
      }),
    );
    await until(() => started);
    const closing = w.close({ timeout: 100 });
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    try {
      await until(() => events.some((e) => e.type === 'nak'), 2000, 'the hung message handed back');
      expect(events.filter((e) => e.type === 'nak')).toMatchObject([{ delay: 0 }]);
      let next = 0;
      const { events: other } = track(jetstreamConsumer({ consumer, handler: () => void next++ }));
      await until(() => other.some((e) => e.type === 'ack'), 3000, 'another worker handling it');
      expect(next).toBe(1);
      // close returned once it handed the message back: a deaf handler does not hang a shutdown.
      await until(() => closed, 2000, 'close({ timeout }) to return while the handler hangs');
      expect(lateOutcome).toBe(false);
    } finally {
      release.resolve(); // lets afterEach's close end if an assertion failed
    }
    // The handler's late success sends nothing and reports no ack.
    await until(() => lateOutcome, 2000, 'the late handler to finish');
    await new Promise((r) => setTimeout(r, 50));
    expect(events.map((e) => e.type)).toEqual(['nak']);
  });

  it("a maxDeliver above the consumer's max_deliver still dead-letters the server's last delivery", async () => {
    const b = await open();
    await publish(b.js, `${b.subject}.a`, { x: 1 }, { msgId: 'md' });
    let deliveries = 0;
    const { events } = track(
      jetstreamConsumer({
        consumer: await b.consumer({ max_deliver: 2 }),
        handler: () => {
          deliveries++;
          throw new Error('transient');
        },
        backoff: [10],
        maxDeliver: 5, // the server stops after 2: the 2nd delivery is the last
        heartbeat: 1000, // with maxDeliver and heartbeat given, the consumer's info is still read
        deadLetter: { js: b.js, subject: b.dlq },
      }),
    );
    await until(() => events.some((e) => e.type === 'dead-letter'), 5000, 'a dead letter');
    expect(deliveries).toBe(2);
    expect(events.find((e) => e.type === 'dead-letter')).toMatchObject({ reason: 'max-deliver', deliveryCount: 2 });
    expect(await dlqMessages(b, 1)).toHaveLength(1);
  });

  it('idempotency: a redelivery of a message already handled (its ack lost) is acked without running again', async () => {
    const b = await open({ dlq: false });
    await publish(b.js, `${b.subject}.a`, { charge: 10 }, { msgId: 'charge-1' });
    const store = memoryIdempotencyStore();
    const effects: string[] = [];
    // Worker A handles it, then loses its connection before the ack can go out.
    const a = await b.connectAgain();
    const consumerA = await b.consumer({ ack_wait: nanos(500) });
    const wa = jetstreamConsumer({
      consumer: await a.js.consumers.get(b.stream, 'w'),
      handler: async (_m, ctx) => {
        effects.push(`A:${ctx.key}`);
        await a.nc.close();
      },
      idempotency: store,
    });
    workers.push(wa);
    await until(() => effects.length === 1);
    // Worker B gets the redelivery after ack_wait: the stored result is replayed, the effect not run.
    const { events } = track(
      jetstreamConsumer({
        consumer: consumerA,
        handler: (_m, ctx) => void effects.push(`B:${ctx.key}`),
        idempotency: { store, key: 'msg-id' },
      }),
    );
    await until(() => events.some((e) => e.type === 'ack'), 5000);
    expect(effects).toEqual(['A:charge-1']);
    expect(await pending(b)).toMatchObject({ pending: 0, ackPending: 0 });
  });

  it('publish sets Nats-Msg-Id: a retried publish is stored once', async () => {
    const b = await open({ dlq: false });
    const first = await publish(b.js, `${b.subject}.a`, { a: 1 }, { msgId: 'same' });
    const again = await publish(b.js, `${b.subject}.a`, { a: 1 }, { msgId: 'same' });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    expect((await b.jsm.streams.info(b.stream)).state.messages).toBe(1);
  });
});

describe('jetstreamConsumer options', () => {
  const consumer = { consume: () => undefined, info: () => undefined } as never;
  it('names a bad option', () => {
    expect(() => jetstreamConsumer(undefined as never)).toThrow(/`options`/);
    expect(() => jetstreamConsumer({ consumer: {} as never, handler: () => 1 })).toThrow(/`consumer`/);
    expect(() => jetstreamConsumer({ consumer, handler: 1 as never })).toThrow(/`handler`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, concurrency: 0 })).toThrow(/`concurrency`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, maxDeliver: 0 })).toThrow(/`maxDeliver`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, backoff: [-1] })).toThrow(/`backoff`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, ack: 'maybe' as never })).toThrow(/`ack`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, heartbeat: 0 })).toThrow(/`heartbeat`/);
    expect(() => jetstreamConsumer({ consumer, handler: () => 1, idempotency: {} as never })).toThrow(/`idempotency`/);
    expect(() =>
      jetstreamConsumer({ consumer, handler: () => 1, deadLetter: { js: {} as never, subject: 'x' } }),
    ).toThrow(/`deadLetter.js`/);
    expect(() => publish({} as never, 's', 1, { msgId: '' })).toThrow(/`msgId`/);
  });
});
