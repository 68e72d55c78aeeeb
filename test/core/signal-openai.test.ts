// The report that started issue 12: the official openai SDK inside `retry()` left one abort listener
// per call on the one signal every call received, and Node printed MaxListenersExceededWarning.
import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import { constant, retry } from '../../src/retry/index.js';
import { timeout } from '../../src/timeout/index.js';

let server: Server;
let client: OpenAI;
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `c${requests}`,
          object: 'chat.completion',
          created: 0,
          model: 'fake',
          choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('the real openai 6.x client behind breakwater', () => {
  it.each([
    ['retry()', () => retry({ maxRetries: 2, backoff: constant(0) })],
    ['Policy.wrap(timeout, retry)', () => Policy.wrap(timeout(30_000), retry({ maxRetries: 2, backoff: constant(0) }))],
  ])('300 calls through %s: the caller’s signal keeps 0 listeners and no warning is printed', async (_n, make) => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const policy = make();
      const ac = new AbortController();
      const seen = new Set<AbortSignal>();
      for (let i = 0; i < 300; i++) {
        const r = await policy.execute(
          ({ signal }) => {
            seen.add(signal);
            return client.chat.completions.create(
              { model: 'fake', messages: [{ role: 'user', content: 'hi' }] },
              { signal },
            );
          },
          { signal: ac.signal },
        );
        expect(r.choices[0]?.message.content).toBe('ok');
        // The SDK's listener is on the call's own signal, which the caller's no longer references.
        expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      }
      expect(seen.size).toBe(300);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
