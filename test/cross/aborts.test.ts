import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { chaos } from '../../src/chaos/index.js';
import { gateway } from '../../src/gateway/index.js';
import { hedge } from '../../src/hedge/index.js';
import { type Context, Policy } from '../../src/index.js';
import { rateLimit } from '../../src/rate-limit/index.js';
import { registry } from '../../src/registry/index.js';
import { streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { failOnUnhandledRejections } from '../support/unhandled.js';

failOnUnhandledRejections(5);

const reason = () => Object.assign(new Error('caller gave up'), { tag: Symbol('reason') });
const listeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

describe('caller abort at awkward moments', () => {
  it('hedge: during the hedge delay (attempts ignore their signal)', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const caller = new AbortController();
    let started = 0;
    const r = p.execute(
      (ctx) => {
        started++;
        void ctx.signal;
        return clock.sleep(1_000).then(() => 'late');
      },
      { signal: caller.signal },
    );
    await clock.advance(50);
    const why = reason();
    caller.abort(why);
    const settled = expect(r).rejects.toBe(why);
    await clock.advance(100); // past the hedge delay
    expect(started).toBe(1);
    await clock.advance(1_000); // the primary settles (late): the call rejects with the reason
    await settled;
    expect(started).toBe(1); // no hedge starts after the caller aborted
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('hedge: during the hedge delay (attempts honour their signal): rejects at once with the reason', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const caller = new AbortController();
    const r = p.execute((ctx) => clock.sleep(1_000, ctx.signal).then(() => 'late'), { signal: caller.signal });
    await clock.advance(50);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('hedge: abort after a hedge started, rejection is the caller reason, not ERR_HEDGE_CANCELLED', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, maxHedges: 2, clock });
    const caller = new AbortController();
    const seen: AbortSignal[] = [];
    const r = p.execute(
      (ctx) => {
        seen.push(ctx.signal);
        return clock.sleep(1_000, ctx.signal);
      },
      { signal: caller.signal },
    );
    await clock.advance(150);
    expect(seen.length).toBe(2);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    for (const s of seen) expect(s.reason).toBe(why);
    await clock.advance(1_000);
    expect(seen.length).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('rateLimit wait: abort while queued rejects with the reason; the next waiter moves up; no timer', async () => {
    const clock = virtualClock();
    const p = rateLimit({ limit: 1, per: 1_000, mode: 'wait', clock });
    await p.execute(() => 1);
    const caller = new AbortController();
    const ran: string[] = [];
    const a = p.execute(() => ran.push('a'), { signal: caller.signal });
    const b = p.execute(() => ran.push('b'));
    await clock.advance(10);
    const why = reason();
    caller.abort(why);
    await expect(a).rejects.toBe(why);
    expect(listeners(caller.signal)).toBe(0);
    await clock.advance(990);
    await b;
    expect(ran).toEqual(['b']);
    expect(clock.pending).toBe(0);
  });

  it('rateLimit wait: an already-aborted signal is rejected with its reason and takes no token', async () => {
    const clock = virtualClock();
    const p = rateLimit({ limit: 1, per: 1_000, mode: 'wait', clock });
    const why = reason();
    const c = new AbortController();
    c.abort(why);
    await expect(p.execute(() => 1, { signal: c.signal })).rejects.toBe(why);
    await expect(p.execute(() => 'ok')).resolves.toBe('ok'); // the token is still there
  });

  it('rateLimit reject mode: an already-aborted signal is rejected with its reason and takes no token', async () => {
    const clock = virtualClock();
    const p = rateLimit({ limit: 1, per: 1_000, clock });
    const why = reason();
    const c = new AbortController();
    c.abort(why);
    await expect(p.execute(() => 1, { signal: c.signal })).rejects.toBe(why);
    await expect(p.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('streamTimeout: abort between the first chunk and the rest', async () => {
    const clock = virtualClock();
    const p = streamTimeout({ idle: 1_000, clock });
    const caller = new AbortController();
    let inner: AbortSignal | undefined;
    let returned = false;
    const s = await p.execute(
      (ctx) => {
        inner = ctx.signal;
        return {
          i: 0,
          [Symbol.asyncIterator]() {
            return this;
          },
          next(this: { i: number }) {
            if (this.i++ === 0) return Promise.resolve({ value: 1, done: false });
            return new Promise(() => {}); // a source that ignores its signal
          },
          return() {
            returned = true;
            return Promise.resolve({ value: undefined, done: true });
          },
        } as AsyncIterator<number> & AsyncIterable<number>;
      },
      { signal: caller.signal },
    );
    const it = s[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toEqual({ value: 1, done: false });
    const pending = it.next();
    const why = reason();
    caller.abort(why);
    await expect(pending).rejects.toBe(why);
    expect(inner?.aborted).toBe(true);
    expect(returned).toBe(true);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
    await expect(it.next()).resolves.toMatchObject({ done: true });
  });

  it('streamTimeout: abort after the first chunk, before the reader calls next()', async () => {
    const clock = virtualClock();
    const p = streamTimeout({ firstChunk: 1_000, clock });
    const caller = new AbortController();
    const s = await p.execute(
      async function* (ctx: Context) {
        yield 1;
        await clock.sleep(10, ctx.signal);
        yield 2;
      },
      { signal: caller.signal },
    );
    const why = reason();
    caller.abort(why);
    const it = s[Symbol.asyncIterator]();
    // the held first chunk may or may not be delivered, but then it must fail with the reason
    const first = await it.next().catch((e) => e);
    if (first !== why) await expect(it.next()).rejects.toBe(why);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('gateway: abort during the cool-down wait rejects with the reason, no timer left', async () => {
    const clock = virtualClock();
    const e429 = Object.assign(new Error('429'), { status: 429, headers: { 'retry-after-ms': '5000' } });
    let calls = 0;
    const gw = gateway({
      clock,
      targets: {
        a: {
          endpoints: [
            {
              id: 'a1',
              call: () => {
                calls++;
                throw e429;
              },
            },
          ],
        },
      },
    });
    const caller = new AbortController();
    const r = gw.call('a', {}, { signal: caller.signal });
    await clock.advance(100);
    expect(calls).toBe(1);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
    await clock.advance(10_000);
    expect(calls).toBe(1);
  });

  it('gateway: already-aborted signal never calls an endpoint', async () => {
    const clock = virtualClock();
    let calls = 0;
    const gw = gateway({ clock, targets: { a: { endpoints: [{ id: 'a1', call: () => ++calls }] } } });
    const why = reason();
    const c = new AbortController();
    c.abort(why);
    await expect(gw.call('a', {}, { signal: c.signal })).rejects.toBe(why);
    expect(calls).toBe(0);
  });

  it('gateway: hedge on the target, caller abort during the hedge delay', async () => {
    const clock = virtualClock();
    const seen: AbortSignal[] = [];
    const slow = (_q: unknown, ctx: Context) => {
      seen.push(ctx.signal);
      return clock.sleep(1_000, ctx.signal).then(() => 'v');
    };
    const gw = gateway({
      clock,
      targets: {
        a: {
          hedge: { delay: 100 },
          endpoints: [
            { id: 'a1', call: slow },
            { id: 'a2', call: slow },
          ],
        },
      },
    });
    const caller = new AbortController();
    const r = gw.call('a', {}, { signal: caller.signal });
    await clock.advance(50);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    await clock.advance(2_000);
    expect(seen.length).toBe(1);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('chaos latency: abort during the injected latency', async () => {
    const clock = virtualClock();
    const p = chaos({ latency: { rate: 1, ms: 1_000 }, clock });
    const caller = new AbortController();
    let ran = false;
    const r = p.execute(() => (ran = true), { signal: caller.signal });
    await clock.advance(10);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    expect(ran).toBe(false);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('registry: update while a call waits in a rate limiter; the call finishes on the old pipeline', async () => {
    const clock = virtualClock();
    const mesh = registry({
      clock,
      config: { targets: { t: [{ rateLimit: { limit: 1, per: 1_000, mode: 'wait' } }] } },
    } as never);
    const policy = mesh.get('t');
    await policy.execute(() => 1);
    const caller = new AbortController();
    const r = policy.execute(() => 'x', { signal: caller.signal });
    await clock.advance(10);
    const u = mesh.update({ targets: { t: [{ rateLimit: { limit: 2, per: 1_000, mode: 'wait' } }] } });
    expect(u.ok).toBe(true);
    const why = reason();
    caller.abort(why);
    await expect(r).rejects.toBe(why);
    expect(clock.pending).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
  });

  it('timeout outside a rate limiter in wait mode: the waiter is rejected with the TimeoutError (deadline-aware)', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(timeout({ after: 100, clock }), rateLimit({ limit: 1, per: 1_000, mode: 'wait', clock }));
    await p.execute(() => 1);
    const r = p.execute(() => 2);
    await expect(r).rejects.toMatchObject({ code: expect.stringMatching(/ERR_RATE_LIMITED|ERR_TIMEOUT/) });
    expect(clock.pending).toBe(0);
  });
});
