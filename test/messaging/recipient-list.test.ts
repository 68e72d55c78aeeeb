import { describe, expect, it } from 'vitest';
import { recipientList } from '../../src/messaging/index.js';

describe('recipientList', () => {
  it('sends to every matching route in parallel and reports one result per recipient in route order', async () => {
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const list = recipientList<number, string>({
      routes: [
        {
          name: 'even',
          when: (n) => n % 2 === 0,
          to: async (n) => {
            started.push('even');
            await gate;
            return `even:${n}`;
          },
        },
        { name: 'odd', when: (n) => n % 2 === 1, to: () => 'odd' },
        {
          name: 'all',
          when: async () => true,
          to: async () => {
            started.push('all');
            await gate;
            return 'all';
          },
        },
        { name: 'fails', when: () => 0.5, to: () => Promise.reject(new Error('down')) },
      ],
    });
    const p = list.route(2);
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual(['even', 'all']); // both running before either finished
    release();
    const results = await p;
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['even', 'ok'],
      ['all', 'ok'],
      ['fails', 'error'],
    ]);
    expect(results[0]).toMatchObject({ value: 'even:2', confidence: 1 });
    expect(results[2]?.error).toBeInstanceOf(Error);
    expect(results[2]?.confidence).toBe(0.5);
  });

  it('honours minConfidence and resolves empty when none match', async () => {
    const list = recipientList<number, number>({
      routes: [
        { name: 'low', when: () => 0.3, to: (n) => n },
        { name: 'high', when: () => 0.9, to: (n) => n * 2 },
      ],
      minConfidence: 0.5,
    });
    await expect(list.route(2)).resolves.toEqual([{ name: 'high', status: 'ok', confidence: 0.9, value: 4 }]);
    const none = recipientList<number, number>({ routes: [{ name: 'x', when: () => false, to: (n) => n }] });
    await expect(none.route(1)).resolves.toEqual([]);
  });

  it('passes the caller signal to handlers and rejects with its reason on abort', async () => {
    const controller = new AbortController();
    const reason = new Error('caller');
    let seen: AbortSignal | undefined;
    const list = recipientList<number, number>({
      routes: [
        {
          name: 'slow',
          when: () => true,
          to: (_n, ctx) =>
            new Promise((_, reject) => {
              seen = ctx.signal;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
        },
      ],
    });
    const p = list.route(1, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 0));
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(seen?.aborted).toBe(true);
  });

  it('validates options', () => {
    expect(() => recipientList(undefined as never)).toThrow(TypeError);
    expect(() => recipientList({ routes: {} as never })).toThrow('`routes`');
    expect(() => recipientList({ routes: [], minConfidence: -1 })).toThrow('`minConfidence`');
    expect(() => recipientList({ routes: [], policy: 'x' as never })).toThrow('`policy`');
  });
});
