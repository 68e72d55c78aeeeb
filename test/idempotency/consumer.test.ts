import { describe, expect, it, vi } from 'vitest';
import {
  idempotentConsumer,
  isIdempotencyKeyReusedError,
  memoryIdempotencyStore,
} from '../../src/idempotency/index.js';

interface Msg {
  readonly id: string;
  readonly body: { readonly amount: number };
}

describe('idempotentConsumer()', () => {
  it('runs the effect of each message id once and acknowledges redeliveries with the stored result', async () => {
    const charged: number[] = [];
    const handle = idempotentConsumer({ store: memoryIdempotencyStore(), id: (m: Msg) => m.id }, async (m: Msg) => {
      charged.push(m.body.amount);
      return { receipt: `r-${m.id}` };
    });
    const deliveries: Msg[] = [
      { id: 'm1', body: { amount: 10 } },
      { id: 'm2', body: { amount: 20 } },
      { id: 'm1', body: { amount: 10 } },
      { id: 'm2', body: { amount: 20 } },
      { id: 'm1', body: { amount: 10 } },
    ];
    const results = await Promise.all(deliveries.map((m) => handle(m)));
    expect(charged.sort()).toEqual([10, 20]);
    expect(results.map((r) => r.receipt)).toEqual(['r-m1', 'r-m2', 'r-m1', 'r-m2', 'r-m1']);
  });

  it('releases the id after a failure so the redelivery runs again', async () => {
    let attempts = 0;
    const handle = idempotentConsumer({ id: (m: Msg) => m.id }, () => {
      attempts++;
      if (attempts === 1) throw new Error('transient');
      return 'ok';
    });
    const m: Msg = { id: 'm', body: { amount: 1 } };
    await expect(handle(m)).rejects.toThrow('transient');
    expect(await handle(m)).toBe('ok');
    expect(await handle(m)).toBe('ok');
    expect(attempts).toBe(2);
  });

  it('checks the payload when asked to', async () => {
    const handle = idempotentConsumer({ id: (m: Msg) => m.id, fingerprint: (m) => m.body }, (m: Msg) => m.body.amount);
    expect(await handle({ id: 'm', body: { amount: 1 } })).toBe(1);
    const err = await handle({ id: 'm', body: { amount: 2 } }).catch((e: unknown) => e);
    expect(isIdempotencyKeyReusedError(err)).toBe(true);
  });

  it('gives the handler the policy context', async () => {
    const seen = vi.fn();
    const handle = idempotentConsumer({ id: (m: Msg) => m.id }, (_m: Msg, ctx) => seen(ctx.key, ctx.attempt));
    await handle({ id: 'x', body: { amount: 0 } });
    expect(seen).toHaveBeenCalledWith('x', 1);
  });

  it('rejects a bad id and validates its arguments', async () => {
    const throwing = idempotentConsumer(
      {
        id: () => {
          throw new Error('no id');
        },
      },
      () => 1,
    );
    await expect(throwing({})).rejects.toThrow('no id');
    const numeric = idempotentConsumer({ id: () => 1 as never }, () => 1);
    await expect(numeric({})).rejects.toThrow(/id\(message\)/);
    expect(() => idempotentConsumer({} as never, () => 1)).toThrow(/id/);
    expect(() => idempotentConsumer({ id: () => 'x' }, undefined as never)).toThrow(/handler/);
    expect(() => idempotentConsumer(undefined as never, () => 1)).toThrow(/options/);
    expect(() => idempotentConsumer({ id: () => 'x', fingerprint: 1 as never }, () => 1)).toThrow(/fingerprint/);
  });
});
