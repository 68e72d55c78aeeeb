// The built-in classifier against the real error classes of the openai 6.x and @anthropic-ai/sdk
// clients (built the way the clients build them, from a status, a body and headers), plain HTTP
// shapes, network errors and breakwater's own errors.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError } from '../../src/breaker/index.js';
import { BulkheadRejectedError } from '../../src/bulkhead/index.js';
import { TimeoutError } from '../../src/core/errors.js';
import { classifyError, GatewayUnavailableError } from '../../src/gateway/index.js';
import { StreamTimeoutError } from '../../src/stream/index.js';

const h = (o: Record<string, string> = {}) => new Headers(o);
const openai = (status: number, error: Record<string, unknown>, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error }, undefined, h(headers));
const anthropic = (status: number, type: string, message: string) =>
  Anthropic.APIError.generate(status, { type: 'error', error: { type, message } }, undefined, h());

describe('openai 6.x errors', () => {
  it.each([
    [
      'RateLimitError',
      openai(429, { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' }),
      'rate-limited',
    ],
    [
      '429 "Request too large … tokens per min" (a rate limit, not a context length)',
      openai(429, {
        message: 'Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 36431.',
        code: 'rate_limit_exceeded',
      }),
      'rate-limited',
    ],
    [
      'BadRequestError context_length_exceeded',
      openai(400, {
        message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
      }),
      'context-length',
    ],
    [
      'BadRequestError content_policy_violation',
      openai(400, {
        message: 'Your request was rejected as a result of our safety system.',
        type: 'invalid_request_error',
        code: 'content_policy_violation',
      }),
      'content-policy',
    ],
    [
      'Azure content_filter',
      openai(400, {
        message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        code: 'content_filter',
      }),
      'content-policy',
    ],
    [
      'BadRequestError (other)',
      openai(400, { message: 'Invalid value for temperature', type: 'invalid_request_error' }),
      'client',
    ],
    ['UnprocessableEntityError', openai(422, { message: 'nope' }), 'client'],
    [
      'AuthenticationError',
      openai(401, { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' }),
      'auth',
    ],
    ['PermissionDeniedError', openai(403, { message: 'Project does not have access' }), 'auth'],
    [
      'insufficient_quota (429)',
      openai(429, {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      }),
      'auth',
    ],
    [
      'NotFoundError (a deployment without this model)',
      openai(404, { message: 'The model does not exist' }),
      'unknown',
    ],
    ['InternalServerError', openai(500, { message: 'The server had an error' }), 'unknown'],
    ['503', openai(503, { message: 'Service unavailable' }), 'overloaded'],
    ['504', openai(504, { message: 'Gateway timeout' }), 'timeout'],
    ['APIConnectionTimeoutError', new OpenAI.APIConnectionTimeoutError(), 'timeout'],
    [
      'APIConnectionError',
      new OpenAI.APIConnectionError({ message: undefined, cause: new Error('ECONNRESET') }),
      'unknown',
    ],
  ])('%s', (_name, error, cls) => {
    expect(classifyError(error)).toBe(cls);
  });
});

describe('@anthropic-ai/sdk errors', () => {
  it.each([
    ['OverloadedError 529 overloaded_error', anthropic(529, 'overloaded_error', 'Overloaded'), 'overloaded'],
    [
      'RateLimitError rate_limit_error',
      anthropic(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'),
      'rate-limited',
    ],
    [
      'invalid_request_error "prompt is too long"',
      anthropic(400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
      'context-length',
    ],
    [
      'invalid_request_error content filtering',
      anthropic(400, 'invalid_request_error', 'Output blocked by content filtering policy'),
      'content-policy',
    ],
    ['invalid_request_error (other)', anthropic(400, 'invalid_request_error', 'max_tokens: must be ≥ 1'), 'client'],
    ['authentication_error', anthropic(401, 'authentication_error', 'invalid x-api-key'), 'auth'],
    ['permission_error', anthropic(403, 'permission_error', 'no access'), 'auth'],
    ['api_error 500', anthropic(500, 'api_error', 'Internal server error'), 'unknown'],
    [
      'request_too_large 413',
      anthropic(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes'),
      'context-length',
    ],
    ['APIConnectionTimeoutError', new Anthropic.APIConnectionTimeoutError(), 'timeout'],
  ])('%s', (_name, error, cls) => {
    expect(classifyError(error)).toBe(cls);
  });
});

describe('plain HTTP shapes and network errors', () => {
  it.each([
    ['a fetch Response 429', new Response('{}', { status: 429, headers: { 'retry-after': '2' } }), 'rate-limited'],
    ['a fetch Response 503', new Response('{}', { status: 503 }), 'overloaded'],
    ['{ status: 529 }', { status: 529, headers: {} }, 'overloaded'],
    ['{ statusCode: 401 }', { statusCode: 401 }, 'auth'],
    [
      '{ response: { status: 502 } } (axios-like)',
      Object.assign(new Error('bad gateway'), { response: { status: 502 } }),
      'unknown',
    ],
    ['{ status: 400 }', { status: 400, headers: {} }, 'client'],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'unknown'],
    ['ETIMEDOUT', Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }), 'timeout'],
    [
      'fetch failed (cause: UND_ERR_HEADERS_TIMEOUT)',
      new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }) }),
      'timeout',
    ],
    ['a DOMException TimeoutError', new DOMException('The operation timed out', 'TimeoutError'), 'timeout'],
    ['a string', 'boom', 'unknown'],
    ['undefined', undefined, 'unknown'],
    ['a plain Error', new Error('boom'), 'unknown'],
  ])('%s', (_name, error, cls) => {
    expect(classifyError(error)).toBe(cls);
  });
});

describe("breakwater's own errors", () => {
  it.each([
    ['TimeoutError', new TimeoutError(100), 'timeout'],
    ['StreamTimeoutError', new StreamTimeoutError('first-chunk', 100), 'timeout'],
    ['BrokenCircuitError', new BrokenCircuitError(1000), 'overloaded'],
    ['BulkheadRejectedError', new BulkheadRejectedError('full'), 'overloaded'],
    ['GatewayUnavailableError', new GatewayUnavailableError('x', 10), 'overloaded'],
  ])('%s', (_name, error, cls) => {
    expect(classifyError(error)).toBe(cls);
  });
});
