import { describe, expect, it } from 'vitest';
import { Emitter, type PolicyEventBase } from '../../src/core/events.js';
import { Policy } from '../../src/core/policy.js';
import { fallback } from '../../src/fallback/fallback.js';
import { constant } from '../../src/retry/backoff.js';
import { retry } from '../../src/retry/retry.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

type E = PolicyEventBase & { readonly type: 'a' | 'b'; readonly n?: number };

describe('Emitter', () => {
  it('delivers to typed and "*" listeners; has() reflects listeners', () => {
    const em = new Emitter<E>();
    expect(em.has('a')).toBe(false);
    const got: string[] = [];
    const offA = em.on('a', (e) => got.push(`a:${e.type}`));
    expect(em.has('a')).toBe(true);
    expect(em.has('b')).toBe(false);
    const offAll = em.on('*', (e) => got.push(`*:${e.type}`));
    expect(em.has('b')).toBe(true);
    em.emit({ type: 'a', kind: 'k', name: undefined });
    em.emit({ type: 'b', kind: 'k', name: undefined });
    expect(got).toEqual(['a:a', '*:a', '*:b']);
    offA();
    offA(); // twice is harmless
    offAll();
    expect(em.count).toBe(0);
    expect(em.has('a')).toBe(false);
    em.emit({ type: 'a', kind: 'k', name: undefined });
    expect(got).toHaveLength(3);
  });

  it('a throwing listener does not stop the others', () => {
    const em = new Emitter<E>();
    const got: number[] = [];
    em.on('a', () => {
      throw new Error('listener');
    });
    em.on('a', () => got.push(1));
    em.on('*', () => got.push(2));
    expect(() => em.emit({ type: 'a', kind: 'k', name: undefined })).not.toThrow();
    expect(got).toEqual([1, 2]);
  });

  it('unsubscribing during an emit does not skip the listeners of that emit', () => {
    const em = new Emitter<E>();
    const got: number[] = [];
    const off1 = em.on('a', () => {
      got.push(1);
      off1();
    });
    em.on('a', () => got.push(2));
    em.emit({ type: 'a', kind: 'k', name: undefined });
    em.emit({ type: 'a', kind: 'k', name: undefined });
    expect(got).toEqual([1, 2, 2]);
  });

  it('removes only the unsubscribed copy of a listener added twice', () => {
    const em = new Emitter<E>();
    let n = 0;
    const l = () => n++;
    const off = em.on('a', l);
    em.on('a', l);
    off();
    em.emit({ type: 'a', kind: 'k', name: undefined });
    expect(n).toBe(1);
    expect(em.count).toBe(1);
  });

  it('emit with no listener map at all is a no-op', () => {
    expect(() => new Emitter<E>().emit({ type: 'a', kind: 'k', name: undefined })).not.toThrow();
  });
});

describe('pipeline events', () => {
  it("a pipeline's on sees every layer's events, tagged with kind and name", async () => {
    const clock = virtualClock();
    const p = Policy.wrap(
      fallback({ to: () => 'fb', name: 'fb' }),
      retry({ maxRetries: 1, backoff: constant(0), clock, name: 'r' }),
      timeout({ after: 10, clock, name: 't' }),
    );
    const seen2: { type: string; kind: string; name: string | undefined }[] = [];
    p.on('*', (e) => seen2.push({ type: e.type, kind: e.kind, name: e.name }));
    const out = p.execute(
      (ctx) =>
        new Promise<string>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    await clock.advance(10);
    await clock.advance(10);
    await expect(out).resolves.toBe('fb');
    expect(seen2).toEqual([
      { type: 'timeout', kind: 'timeout', name: 't' },
      { type: 'retry', kind: 'retry', name: 'r' },
      { type: 'timeout', kind: 'timeout', name: 't' },
      { type: 'give-up', kind: 'retry', name: 'r' },
      { type: 'fallback', kind: 'fallback', name: 'fb' },
    ]);
  });

  it('typed listeners see only their type; unsubscribe detaches from every layer', async () => {
    const p = Policy.wrap(retry({ maxRetries: 1, backoff: constant(0) }), fallback({ to: () => 0 }));
    const types: string[] = [];
    const off = p.on('success', (e) => types.push(e.type));
    await p.execute(() => 1);
    expect(types).toEqual(['success']);
    off();
    await p.execute(() => 1);
    expect(types).toEqual(['success']);
    for (const layer of p.layers) expect(layer.events.count).toBe(0);
  });

  it('a layer included twice delivers each event once', async () => {
    const r = retry({ maxRetries: 0 });
    const p = Policy.wrap(r, r);
    let n = 0;
    p.on('success', () => n++);
    await p.execute(() => 1);
    expect(n).toBe(2); // two runs of the same layer, each emitting once to one listener
    expect(r.layers[0]?.events.count).toBe(1);
  });

  it('no listener → no event object is built (has() gates emit)', async () => {
    const r = retry({ maxRetries: 1, backoff: constant(0) });
    const events = r.layers[0]?.events as Emitter<PolicyEventBase>;
    let emits = 0;
    const original = events.emit.bind(events);
    events.emit = (e) => {
      emits++;
      original(e);
    };
    let calls = 0;
    await r.execute(() => {
      if (++calls === 1) throw new Error('once');
      return 1;
    });
    expect(emits).toBe(0);
    r.on('retry', () => {});
    calls = 0;
    await r.execute(() => {
      if (++calls === 1) throw new Error('once');
      return 1;
    });
    expect(emits).toBe(1); // only the listened-to 'retry', not 'success'
  });

  it('a throwing listener never breaks a call', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(
      fallback({ to: () => 'fb' }),
      retry({ maxRetries: 1, backoff: constant(0), clock }),
      timeout({ after: 5, clock }),
    );
    p.on('*', () => {
      throw new Error('bad listener');
    });
    let calls = 0;
    await expect(
      p.execute(() => {
        calls++;
        throw new Error('fail');
      }),
    ).resolves.toBe('fb');
    expect(calls).toBe(2);
    await expect(p.execute(() => 'ok')).resolves.toBe('ok');
  });
});
