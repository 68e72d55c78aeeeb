import { describe, expect, it } from 'vitest';
import { retryAfterHint } from '../../src/retry/retry-after.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('retryAfterHint', () => {
  it.each([
    ['retryAfter property', { retryAfter: 1_234 }, 1_234],
    ['retryAfter 0', { retryAfter: 0 }, 0],
    ['Retry-After seconds', { headers: { 'retry-after': '3' } }, 3_000],
    ['Retry-After fractional seconds', { headers: { 'Retry-After': ' 1.5 ' } }, 1_500],
    ['Retry-After as a number value', { headers: { 'retry-after': 2 } }, 2_000],
    ['Retry-After as an array (node IncomingHttpHeaders style)', { headers: { 'retry-after': ['4'] } }, 4_000],
    ['Retry-After HTTP date', { headers: { 'retry-after': new Date(NOW + 7_000).toUTCString() } }, 7_000],
    ['Retry-After date in the past → 0', { headers: { 'retry-after': new Date(NOW - 7_000).toUTCString() } }, 0],
    ['retry-after-ms wins over Retry-After', { headers: { 'retry-after-ms': '250', 'retry-after': '9' } }, 250],
    ['Headers instance', { headers: new Headers({ 'Retry-After-Ms': '42' }) }, 42],
    ['response.headers plain object', { response: { headers: { 'retry-after': '1' } } }, 1_000],
    ['response.headers Headers', { response: { headers: new Headers({ 'retry-after': '2' }) } }, 2_000],
    [
      'bad retry-after-ms falls back to Retry-After',
      { headers: { 'retry-after-ms': 'soon', 'retry-after': '1' } },
      1_000,
    ],
    [
      'error.headers without a hint, response.headers with one',
      { headers: {}, response: { headers: { 'retry-after': '5' } } },
      5_000,
    ],
  ])('%s', (_label, error, expected) => {
    expect(retryAfterHint(error, NOW)).toBe(expected);
  });

  it.each([
    ['no object', 'rate limited'],
    ['null', null],
    ['no hint', new Error('x')],
    ['negative retryAfter', { retryAfter: -1 }],
    ['NaN retryAfter', { retryAfter: Number.NaN }],
    ['string retryAfter', { retryAfter: '5' }],
    ['garbage Retry-After', { headers: { 'retry-after': 'later please' } }],
    ['negative retry-after-ms', { headers: { 'retry-after-ms': '-5' } }],
    ['headers not an object', { headers: 'retry-after: 5' }],
    ['Headers without the header', { headers: new Headers() }],
    ['null response', { response: null }],
    ['response without headers', { response: {} }],
    ['header value of another type', { headers: { 'retry-after': { s: 1 } } }],
  ])('%s → undefined', (_label, error) => {
    expect(retryAfterHint(error, NOW)).toBeUndefined();
  });
});
