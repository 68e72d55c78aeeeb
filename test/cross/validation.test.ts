// Bad options to the adapters' factories: a TypeError/RangeError that names the option.
import { describe, expect, it } from 'vitest';
import { redisRateLimitStore } from '../../src/rate-limit/redis/index.js';

const client = { eval: () => 1, evalsha: () => 1 } as unknown as Parameters<typeof redisRateLimitStore>[0];

describe('redisRateLimitStore options', () => {
  it('a timeout that is not a number is a TypeError naming it (was a RangeError showing "got 1s")', () => {
    expect(() => redisRateLimitStore(client, { timeout: '1s' as unknown as number })).toThrow(
      new TypeError('Expected `timeout` to be a number, got "1s"'),
    );
    expect(() => redisRateLimitStore(client, { timeout: -1 })).toThrow(RangeError);
    expect(() => redisRateLimitStore(client, { timeout: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('options that are not an object are refused (were accepted silently)', () => {
    expect(() => redisRateLimitStore(client, null as never)).toThrow(
      new TypeError('Expected `options` to be an object, got null'),
    );
    expect(() => redisRateLimitStore(client, 5 as never)).toThrow(/`options` to be an object, got 5/);
  });
});
