// The Redis adapters' shared script runner and time bound (src/core/redis.ts), against a fake
// ioredis client: the real servers are exercised by each store's own tests.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LuaScript, type ScriptClient, withTimeout } from '../../src/core/redis.js';

function fakeClient(cached: Set<string>) {
  const calls: string[] = [];
  const client: ScriptClient = {
    evalsha: async (sha, n, ...args) => {
      calls.push(`evalsha ${sha.slice(0, 8)} ${n} ${args.join(',')}`);
      if (!cached.has(sha)) throw new Error('NOSCRIPT No matching script. Please use EVAL.');
      return 'ok';
    },
    eval: async (script, n, ...args) => {
      calls.push(`eval ${n} ${args.join(',')}`);
      cached.add(createHash('sha1').update(script).digest('hex'));
      return 'ok';
    },
  };
  return { client, calls };
}

describe('LuaScript', () => {
  it('runs by SHA-1, and sends the script itself once after NOSCRIPT (a flushed or restarted server)', async () => {
    const script = new LuaScript("return redis.call('GET', KEYS[1])");
    const sha = createHash('sha1').update(script.text).digest('hex');
    const cache = new Set<string>();
    const { client, calls } = fakeClient(cache);
    expect(await script.run(client, ['k1', 'k2'], ['a', 1])).toBe('ok');
    expect(await script.run(client, ['k1'], [])).toBe('ok');
    expect(calls).toEqual([
      `evalsha ${sha.slice(0, 8)} 2 k1,k2,a,1`,
      'eval 2 k1,k2,a,1',
      `evalsha ${sha.slice(0, 8)} 1 k1`,
    ]);
    cache.clear(); // SCRIPT FLUSH
    expect(await script.run(client, ['k'], ['x'])).toBe('ok');
    expect(calls.slice(3)).toEqual([`evalsha ${sha.slice(0, 8)} 1 k,x`, 'eval 1 k,x']);
  });

  it('passes any other error through, without sending the script', async () => {
    const script = new LuaScript('return 1');
    const boom = new Error('READONLY You cannot write against a read only replica.');
    const evalFn = vi.fn();
    const client: ScriptClient = { evalsha: () => Promise.reject(boom), eval: evalFn };
    await expect(script.run(client, [], [])).rejects.toBe(boom);
    expect(evalFn).not.toHaveBeenCalled();
  });

  it('a client that throws synchronously makes run() reject, on the first call and once the SHA is known', async () => {
    // The stores call run() where a synchronous throw escapes their handlers (the aggregator's
    // lease renewal in a timer, `.catch(() => undefined)` on a release): it must always be a rejection.
    const script = new LuaScript('return 2');
    const boom = new Error('client closed');
    const client: ScriptClient = {
      evalsha: () => {
        throw boom;
      },
      eval: () => {
        throw boom;
      },
    };
    await expect(script.run(client, [], [])).rejects.toBe(boom); // the SHA is computed first
    let p: Promise<unknown> | undefined;
    expect(() => {
      p = script.run(client, [], []);
    }).not.toThrow();
    await expect(p).rejects.toBe(boom);
  });
});

describe('withTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles as the operation does, mapping a failure, and clears its timer', async () => {
    vi.useFakeTimers();
    const fail = (e: unknown) => new Error('mapped', { cause: e });
    await expect(withTimeout(Promise.resolve(7), 100, () => new Error('late'), fail)).resolves.toBe(7);
    const cause = new Error('ECONNRESET');
    await expect(withTimeout(Promise.reject(cause), 100, () => new Error('late'), fail)).rejects.toMatchObject({
      message: 'mapped',
      cause,
    });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the timeout error when the operation hangs; a huge bound is clamped, not fired at once', async () => {
    vi.useFakeTimers();
    const late = withTimeout(
      new Promise(() => {}),
      250,
      () => new Error('no answer within 250 ms'),
      (e) => e,
    );
    const check = expect(late).rejects.toThrow('no answer within 250 ms');
    await vi.advanceTimersByTimeAsync(250);
    await check;
    let settled = false;
    void withTimeout(
      new Promise(() => {}),
      2 ** 40,
      () => new Error('late'),
      (e) => e,
    ).catch(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(settled).toBe(false);
  });
});
