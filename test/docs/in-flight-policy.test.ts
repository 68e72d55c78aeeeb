// The worked example of docs/architecture.md: it works as the page says, and the page shows it verbatim.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { inFlight } from '../../examples/in-flight-policy.js';
import { Policy } from '../../src/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { ROOT } from './guides.js';

const gate = () => {
  let open: () => void = () => undefined;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
};

describe('the worked example: an in-flight gauge', () => {
  test('counts running calls alone and inside a pipeline, on success, failure and synchronous throw', async () => {
    const gauge = inFlight();
    const g = gate();
    const a = gauge.execute(() => g.p);
    const b = Policy.wrap(gauge, timeout(1000)).execute(() => g.p);
    expect(gauge.inFlight).toBe(2);
    g.open();
    await Promise.all([a, b]);
    expect(gauge.inFlight).toBe(0);
    await expect(gauge.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(
      Policy.wrap(gauge, retry({ maxRetries: 0 })).execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(gauge.inFlight).toBe(0);
  });

  test('a retry inside it keeps one call in flight across attempts', async () => {
    const clock = virtualClock();
    const gauge = inFlight();
    const seen: number[] = [];
    const p = Policy.wrap(gauge, retry({ maxRetries: 2, backoff: constant(10), clock })).execute(({ attempt }) => {
      seen.push(gauge.inFlight);
      if (attempt < 3) throw new Error('again');
      return 'ok';
    });
    await clock.advance(20);
    await expect(p).resolves.toBe('ok');
    expect(seen).toEqual([1, 1, 1]);
    expect(gauge.inFlight).toBe(0);
  });

  test('emits peak only to listeners, at multiples of `every`', async () => {
    const gauge = inFlight({ every: 2, name: 'g' });
    const g = gate();
    const peaks: unknown[] = [];
    const off = gauge.on('peak', (e) => peaks.push([e.kind, e.name, e.inFlight]));
    const calls = [1, 2, 3, 4].map(() => gauge.execute(() => g.p));
    off();
    const more = gauge.execute(() => g.p);
    g.open();
    await Promise.all([...calls, more]);
    expect(peaks).toEqual([
      ['in-flight', 'g', 2],
      ['in-flight', 'g', 4],
    ]);
  });

  test('rejects bad options with the option named', () => {
    expect(() => inFlight({ every: 0 })).toThrow(/`every`.*integer ≥ 1.*0/);
    expect(() => inFlight(null as never)).toThrow(TypeError);
  });

  test('docs/architecture.md shows this file verbatim', () => {
    const page = readFileSync(`${ROOT}docs/architecture.md`, 'utf8');
    const file = readFileSync(`${ROOT}examples/in-flight-policy.ts`, 'utf8').trimEnd();
    expect(page).toContain(`\`\`\`ts\n${file}\n\`\`\``);
  });
});
