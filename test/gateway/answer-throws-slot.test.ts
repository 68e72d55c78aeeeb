// A stream answer holds its endpoint's slot until it ends (MeteredStream frees it); when reading
// the answer fails before a MeteredStream exists (here: an rpm limiter reading a header bag that
// throws), nothing else would free it.
import { describe, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';

describe('gateway: an answer that fails to be read', () => {
  it('gives its endpoint’s concurrency slot back', async () => {
    const clock = virtualClock();
    const broken = {
      headers: {
        get() {
          throw new Error('unreadable headers');
        },
      },
      async *[Symbol.asyncIterator]() {
        yield { choices: [{ delta: { content: 'x' } }] };
      },
    };
    const gw = gateway({
      clock,
      targets: { a: { endpoints: [{ id: 'a1', call: () => broken, limits: { rpm: 1000, concurrency: 1 } }] } },
    });
    await expect(gw.call('a', {})).rejects.toThrow('unreadable headers');
    expect(gw.snapshot().targets.a?.endpoints[0]?.inflight).toBe(0);
  });
});
