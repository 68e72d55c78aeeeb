// The real openai 6.x client streaming chat completions from a local fake server (node:http, SSE
// `data:` lines) behind streamTimeout: a stall before the first chunk, a stall midway, a normal
// stream, an early break, and retry before the first chunk. The policy's timers run on a virtual
// clock; the sockets are real, and the server reports when a client went away.
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import { constant, retry } from '../../src/retry/index.js';
import { isStreamTimeoutError, streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { track } from './support.js';

type Mode = 'stall-headers' | 'stall-first' | 'stall-mid' | 'normal';

interface Seen {
  readonly mode: Mode;
  /** Resolves when the response ends: `true` if the client went away before the server finished. */
  readonly closed: Promise<boolean>;
}

let server: Server;
let client: OpenAI;
const requests: Seen[] = [];
const waiting: ((s: Seen) => void)[] = [];
const open = new Set<ServerResponse>();

const chunk = (n: number, content: string): string =>
  `data: ${JSON.stringify({
    id: `c${n}`,
    object: 'chat.completion.chunk',
    created: 0,
    model: 'fake',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  })}\n\n`;

function handle(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (d: Buffer) => {
    body += d.toString();
  });
  req.on('end', () => {
    const mode = (JSON.parse(body) as { model: Mode }).model;
    open.add(res);
    const closed = new Promise<boolean>((resolve) => {
      res.on('close', () => {
        open.delete(res);
        resolve(!res.writableFinished);
      });
    });
    const seen = { mode, closed };
    requests.push(seen);
    waiting.shift()?.(seen);
    if (mode === 'stall-headers') return; // no response at all
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (mode === 'stall-first') return; // headers, then silence
    res.write(chunk(1, 'Hel'));
    res.write(chunk(2, 'lo'));
    if (mode === 'stall-mid') return; // two chunks, then silence
    res.write(chunk(3, ', world'));
    res.end('data: [DONE]\n\n');
  });
}

/**
 * `p`, or a rejection if it has not settled after `ms` of real time. A liveness bound, not a timing
 * assertion: without it, a socket the client forgot would still close once undici's finalizer
 * collects the response (seconds later), and a test for a prompt close could not fail.
 */
function soon<T>(p: Promise<T>, ms = 2_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The next request the server receives (or the one already received at `index`). */
function request(index: number): Promise<Seen> {
  const r = requests[index];
  if (r !== undefined) return Promise.resolve(r);
  return new Promise((resolve) => waiting.push(resolve));
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'test', maxRetries: 0 });
});

afterEach(() => {
  for (const res of open) res.destroy();
  requests.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const call = (model: Mode, signal: AbortSignal) =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true }, { signal });

const text = (chunks: ChatCompletionChunk[]): string => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('streamTimeout with the real openai client', () => {
  it('(c) a normal stream: execute resolves at the first chunk and the rest follows', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const policy = streamTimeout({ firstChunk: 5_000, idle: 5_000, total: 60_000, clock });
    const stream = await policy.execute(({ signal }) => call('normal', signal), { signal: caller.signal });
    const got: ChatCompletionChunk[] = [];
    for await (const c of stream) got.push(c);
    expect(text(got)).toBe('Hello, world');
    expect(await soon((await request(0)).closed)).toBe(false); // the server finished the response
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.scheduled).toBe(0);
  });

  it('(a) no first chunk (headers sent, then silence): execute rejects with first-chunk and the request is aborted', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const policy = streamTimeout({ firstChunk: 5_000, idle: 1_000, clock });
    const p = track(policy.execute(({ signal }) => call('stall-first', signal), { signal: caller.signal }));
    const seen = await request(0);
    await clock.advance(4_999);
    expect(p.state).toBe('pending');
    await clock.advance(1);
    expect(p.state).toBe('error');
    expect(p.error).toMatchObject({ code: 'ERR_STREAM_TIMEOUT', phase: 'first-chunk', ms: 5_000 });
    expect(await soon(seen.closed)).toBe(true); // the server saw the client go away
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.scheduled).toBe(0);
  });

  it('(a′) no response at all: the same, while the SDK still waits for headers', async () => {
    const clock = virtualClock();
    const p = track(streamTimeout({ firstChunk: 5_000, clock }).execute(({ signal }) => call('stall-headers', signal)));
    const seen = await request(0);
    await clock.advance(5_000);
    expect(p.error).toMatchObject({ phase: 'first-chunk' });
    expect(await soon(seen.closed)).toBe(true);
  });

  it('(b) a stall midway: the iterator throws idle after the chunks that came, and the request is aborted', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const policy = streamTimeout({ firstChunk: 5_000, idle: 2_000, clock });
    const stream = await policy.execute(({ signal }) => call('stall-mid', signal), { signal: caller.signal });
    const seen = await request(0);
    const got: ChatCompletionChunk[] = [];
    let twoChunks!: () => void;
    const gotTwo = new Promise<void>((resolve) => {
      twoChunks = resolve;
    });
    const done = track(
      (async () => {
        for await (const c of stream) {
          got.push(c);
          if (got.length === 2) twoChunks();
        }
      })(),
    );
    await gotTwo;
    await clock.advance(1_999);
    expect(done.state).toBe('pending');
    await clock.advance(1);
    expect(done.state).toBe('error');
    expect(isStreamTimeoutError(done.error) && done.error.phase).toBe('idle');
    expect(text(got)).toBe('Hello');
    expect(await soon(seen.closed)).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.scheduled).toBe(0);
  });

  it('break after the first chunk aborts the request', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const stream = await streamTimeout({ idle: 2_000, clock }).execute(({ signal }) => call('stall-mid', signal), {
      signal: caller.signal,
    });
    const seen = await request(0);
    for await (const c of stream) {
      expect(c.choices[0]?.delta.content).toBe('Hel');
      break;
    }
    expect(await soon(seen.closed)).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.scheduled).toBe(0);
  });

  it('the caller’s abort midway rejects the iterator with the caller’s reason and aborts the request', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const stream = await streamTimeout({ idle: 60_000, clock }).execute(({ signal }) => call('stall-mid', signal), {
      signal: caller.signal,
    });
    const seen = await request(0);
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const n = track(it.next());
    const reason = new Error('user closed the tab');
    caller.abort(reason);
    await clock.flush();
    expect(n.error).toBe(reason);
    expect(await soon(seen.closed)).toBe(true);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('retry around streamTimeout: a stall before the first chunk is retried, on a new request', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const policy = Policy.wrap(
      retry({ maxRetries: 2, backoff: constant(0), clock }),
      streamTimeout({ firstChunk: 5_000, idle: 5_000, clock }),
    );
    const modes: Mode[] = ['stall-first', 'normal'];
    const p = track(
      policy.execute(({ signal, attempt }) => call(modes[attempt - 1] as Mode, signal), { signal: caller.signal }),
    );
    const first = await request(0);
    await clock.advance(5_000);
    expect(await soon(first.closed)).toBe(true);
    const second = await request(1);
    expect(second.mode).toBe('normal');
    const stream = (await new Promise<unknown>((resolve, reject) => {
      const poll = (): void => {
        if (p.state === 'ok') resolve(p.value);
        else if (p.state === 'error') reject(p.error);
        else setImmediate(poll);
      };
      poll();
    })) as AsyncIterable<ChatCompletionChunk>;
    const got: ChatCompletionChunk[] = [];
    for await (const c of stream) got.push(c);
    expect(text(got)).toBe('Hello, world');
    expect(requests).toHaveLength(2);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
