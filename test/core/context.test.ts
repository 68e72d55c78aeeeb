import { describe, expect, it } from 'vitest';
import { AbortScope, CallContext, fork, throwIfAborted } from '../../src/core/context.js';

/** Counts the abort listeners currently attached to a signal. */
function countListeners(signal: AbortSignal): { readonly count: number } {
  let count = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  const seen = new Set<unknown>();
  signal.addEventListener = ((type: string, l: EventListenerOrEventListenerObject, o?: AddEventListenerOptions) => {
    if (type === 'abort' && !seen.has(l)) {
      seen.add(l);
      count++;
      if (o?.once) {
        // a once listener is removed by the platform when it fires
        add(
          'abort',
          () => {
            if (seen.delete(l)) count--;
          },
          { once: true },
        );
      }
    }
    add(type, l, o);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: EventListenerOrEventListenerObject, o?: EventListenerOptions) => {
    if (type === 'abort' && seen.delete(l)) count--;
    remove(type, l, o);
  }) as typeof signal.removeEventListener;
  return {
    get count() {
      return count;
    },
  };
}

describe('AbortScope', () => {
  it('records an abort without a controller, and materialises an aborted signal on read', () => {
    const s = new AbortScope(undefined, undefined, undefined);
    expect(s.aborted).toBe(false);
    s.abort('why');
    s.abort('ignored');
    expect(s.aborted).toBe(true);
    expect(s.abortedHere).toBe(true);
    expect(s.reason).toBe('why');
    expect(s.signal.aborted).toBe(true);
    expect(s.signal.reason).toBe('why');
    expect(s.signal).toBe(s.signal);
  });

  it('propagates a parent abort to a child, with the parent’s reason, read before or after', () => {
    const parent = new AbortScope(undefined, undefined, 100);
    const early = new AbortScope(parent, undefined, 50);
    const earlySignal = early.signal; // materialised before the abort
    const late = new AbortScope(parent, undefined, 50);
    expect(early.deadline).toBe(50);
    parent.abort('p');
    expect(earlySignal.aborted).toBe(true);
    expect(earlySignal.reason).toBe('p');
    expect(late.aborted).toBe(true);
    expect(late.abortedHere).toBe(false);
    expect(late.reason).toBe('p');
    expect(late.signal.reason).toBe('p'); // materialised after the abort
  });

  it('a child abort does not abort the parent', () => {
    const parent = new AbortScope(undefined, undefined, undefined);
    const child = new AbortScope(parent, undefined, undefined);
    const ps = parent.signal;
    child.abort('c');
    expect(child.signal.reason).toBe('c');
    expect(parent.aborted).toBe(false);
    expect(ps.aborted).toBe(false);
  });

  it('follows the caller signal at the root, and detaches on dispose', () => {
    const ac = new AbortController();
    const listeners = countListeners(ac.signal);
    const s = new AbortScope(undefined, ac.signal, undefined);
    expect(s.aborted).toBe(false);
    const sig = s.signal;
    expect(listeners.count).toBe(1);
    s.dispose();
    s.dispose();
    expect(listeners.count).toBe(0);
    ac.abort('late');
    expect(s.aborted).toBe(true); // still reports the caller's state
    expect(s.reason).toBe('late');
    expect(sig.aborted).toBe(false); // but its own controller is detached
  });

  it('a caller abort reaches a materialised scope signal and removes its listener', () => {
    const ac = new AbortController();
    const listeners = countListeners(ac.signal);
    const s = new AbortScope(undefined, ac.signal, undefined);
    const sig = s.signal;
    ac.abort('caller');
    expect(sig.aborted).toBe(true);
    expect(sig.reason).toBe('caller');
    expect(listeners.count).toBe(0);
  });

  it('a scope whose caller already aborted materialises an aborted signal', () => {
    const s = new AbortScope(undefined, AbortSignal.abort('pre'), undefined);
    expect(s.signal.reason).toBe('pre');
  });

  it('an own abort of a materialised scope detaches it from its parent', () => {
    const ac = new AbortController();
    const listeners = countListeners(ac.signal);
    const s = new AbortScope(undefined, ac.signal, undefined);
    void s.signal;
    s.abort('own');
    expect(listeners.count).toBe(0);
    expect(s.signal.reason).toBe('own');
  });
});

describe('CallContext', () => {
  it('throwIfAborted throws the caller’s reason once it aborted, without allocating a signal', () => {
    const ac = new AbortController();
    const ctx = new CallContext(() => 1, { signal: ac.signal });
    expect(() => throwIfAborted(ctx)).not.toThrow();
    ac.abort('r');
    expect(() => throwIfAborted(ctx)).toThrow('r');
    expect(() => throwIfAborted(new CallContext(() => 1, undefined))).not.toThrow();
  });

  it('with a scope: the abort, reason, deadline and signal come from the scope', () => {
    const ac = new AbortController();
    const ctx = new CallContext(() => 1, { signal: ac.signal });
    const scope = new AbortScope(undefined, undefined, 42);
    ctx.scope = scope;
    expect(ctx.deadline).toBe(42);
    expect(() => throwIfAborted(ctx)).not.toThrow();
    scope.abort('t');
    expect(() => throwIfAborted(ctx)).toThrow('t');
    expect(ctx.signal.reason).toBe('t');
  });

  it('fork copies key, data, caller signal, attempt and scope into a new context', () => {
    const ac = new AbortController();
    const fn = () => 1;
    const ctx = new CallContext(fn, { key: 'k', signal: ac.signal, data: { a: 1 } });
    ctx.attempt = 3;
    ctx.scope = new AbortScope(undefined, ac.signal, 9);
    const f = fork(ctx);
    expect(f).not.toBe(ctx);
    expect(f.fn).toBe(fn);
    expect(f.key).toBe('k');
    expect(f.data).toBe(ctx.data);
    expect(f.callerSignal).toBe(ac.signal);
    expect(f.attempt).toBe(3);
    expect(f.scope).toBe(ctx.scope);
    const other = () => 2;
    expect(fork(ctx, other).fn).toBe(other);
    f.attempt = 4;
    expect(ctx.attempt).toBe(3);
  });

  it('a fork of a context without data shares the data object, whichever side reads it first', () => {
    const a = new CallContext(() => 1, undefined);
    const fa = fork(a);
    fa.data.x = 1; // the fork reads first: created on the original
    expect(a.data).toBe(fa.data);
    expect(a.data).toEqual({ x: 1 });
    const b = new CallContext(() => 1, undefined);
    const fb = fork(b);
    b.data.y = 2; // the original reads first
    expect(fb.data).toBe(b.data);
    const ffb = fork(fb); // a fork of a fork
    expect(ffb.data).toBe(b.data);
  });
});
