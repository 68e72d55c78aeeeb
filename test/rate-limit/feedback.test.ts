import { describe, expect, it } from 'vitest';
import { parseDuration, readHint } from '../../src/rate-limit/feedback.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('parseDuration (OpenAI reset headers)', () => {
  it.each([
    ['6m0s', 360_000],
    ['1s', 1000],
    ['120ms', 120],
    ['1h2m3.5s', 3_723_500],
    ['0s', 0],
    ['2m', 120_000],
    ['1m30s250ms', 90_250],
    ['20', 20_000],
    ['0.5', 500],
  ])('%s → %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '5x', '1s garbage', '-1s', 's'])('%j → undefined', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('readHint', () => {
  it('OpenAI requests and tokens families, in headers or response.headers', () => {
    const headers = {
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '149000',
      'x-ratelimit-reset-tokens': '6m0s',
    };
    expect(readHint({ headers }, 'requests', NOW)).toEqual({ retryAfter: undefined, remaining: 59, reset: 1000 });
    expect(readHint({ response: { headers: new Headers(headers) } }, 'tokens', NOW)).toEqual({
      retryAfter: undefined,
      remaining: 149_000,
      reset: 360_000,
    });
  });

  it('Anthropic: remaining and an RFC 3339 reset', () => {
    const headers = {
      'anthropic-ratelimit-tokens-remaining': '0',
      'anthropic-ratelimit-tokens-reset': '2026-03-01T12:00:07Z',
      'retry-after': '7',
    };
    expect(readHint({ headers }, 'tokens', NOW)).toEqual({ retryAfter: 7000, remaining: 0, reset: 7000 });
  });

  it('a 429 with only Retry-After / retry-after-ms', () => {
    expect(readHint({ status: 429, headers: { 'Retry-After': '2' } }, 'requests', NOW)).toEqual({
      retryAfter: 2000,
      remaining: undefined,
      reset: undefined,
    });
    expect(readHint({ headers: new Headers({ 'retry-after-ms': '150' }) }, 'requests', NOW)?.retryAfter).toBe(150);
  });

  it.each([
    ['no object', 'x'],
    ['null', null],
    ['no headers', { status: 429 }],
    ['headers not an object', { headers: 'retry-after: 5' }],
    ['headers without hints', { headers: { 'content-type': 'application/json' } }],
    ['garbage remaining', { headers: { 'x-ratelimit-remaining-requests': 'lots' } }],
    ['negative remaining', { headers: { 'x-ratelimit-remaining-requests': '-3' } }],
    ['the other family only', { headers: { 'x-ratelimit-remaining-tokens': '5' } }],
  ])('%s → undefined', (_label, value) => {
    expect(readHint(value, 'requests', NOW)).toBeUndefined();
  });
});
