// The nak delay of a consumer without `backoff` (no server needed): the backoff of its policy's
// outermost retry, looked up at each nak, so a registry's hot reload of that retry applies.
import { describe, expect, it } from 'vitest';
import { Policy } from '../../../src/index.js';
import { nakDelay, policyBackoff } from '../../../src/messaging/nats/consumer.js';
import { registry } from '../../../src/registry/index.js';
import { constant, exponential, retry } from '../../../src/retry/index.js';
import { timeout } from '../../../src/timeout/index.js';

const delays = (policy: Parameters<typeof policyBackoff>[0], counts: number[]) =>
  counts.map((n) => nakDelay(policyBackoff(policy), n, new Error('down'), () => 0.5));

describe('the default nak backoff', () => {
  it('without a policy, or without a retry in it: 1 s, 2 s, 5 s, 10 s, then 30 s', () => {
    expect(delays(undefined, [1, 2, 3, 4, 5, 9])).toEqual([1000, 2000, 5000, 10_000, 30_000, 30_000]);
    expect(delays(timeout(5000), [1, 2])).toEqual([1000, 2000]);
  });

  it("the outermost retry's backoff, asked for retry number = delivery count", () => {
    const p = Policy.wrap(
      timeout(5000),
      retry({ backoff: exponential({ initial: 100, factor: 2, jitter: 'none' }) }),
      retry({ backoff: constant(7) }),
    );
    expect(delays(p, [1, 2, 3])).toEqual([100, 200, 400]);
  });

  it("follows a registry's hot reload of the retry", () => {
    const r = registry({
      config: { targets: { tools: [{ retry: { maxRetries: 1, backoff: { type: 'constant', delay: 50 } } }] } },
    });
    const schedule = policyBackoff(r.get('tools'));
    expect(nakDelay(schedule, 1, undefined, () => 0.5)).toBe(50);
    const u = r.update({
      targets: { tools: [{ retry: { maxRetries: 1, backoff: { type: 'constant', delay: 80 } } }] },
    });
    expect(u.ok).toBe(true);
    expect(nakDelay(schedule, 1, undefined, () => 0.5)).toBe(80);
    // Without a retry any more: the default schedule.
    expect(r.update({ targets: { tools: [{ timeout: 1000 }] } }).ok).toBe(true);
    expect(nakDelay(schedule, 1, undefined, () => 0.5)).toBe(1000);
  });
});
