// A fake LLM HTTP API on 127.0.0.1 (random port) that misbehaves at seeded random: 429 with
// retry-after-ms, 500, slow and stalled responses, and (when asked) a full outage phase.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A small seeded PRNG (mulberry32) so every demo run tells the same story. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FakeLlm {
  readonly url: string;
  /** While true every request for the primary model fails with 503 (a provider outage). */
  outage: boolean;
  readonly stats: { requests: number; byKind: Record<string, number> };
  close(): Promise<void>;
}

export async function startFakeLlm(seed = 42): Promise<FakeLlm> {
  const random = seeded(seed);
  const stats = { requests: 0, byKind: {} as Record<string, number> };
  const state = { outage: false };
  const count = (kind: string) => {
    stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      stats.requests++;
      const model = req.url?.split('/').pop() ?? 'model';
      if (state.outage && model !== 'gpt-small') {
        count('outage');
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
        return;
      }
      if (model === 'gpt-small') {
        // The small fallback model is slower to think but always there.
        count('small');
        setTimeout(() => reply(res, body, model, 'ok'), 30);
        return;
      }
      const r = random();
      if (r < 0.15) {
        count('429');
        const wait = 100 + Math.floor(random() * 300);
        res.writeHead(429, { 'retry-after-ms': String(wait), 'content-type': 'application/json' });
        res.end('{"error":"rate_limited"}');
      } else if (r < 0.25) {
        count('500');
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
      } else if (r < 0.33) {
        count('slow');
        setTimeout(() => reply(res, body, model, 'slow'), 1500);
      } else if (r < 0.37) {
        count('stalled'); // never answers; only the client's abort ends it
      } else {
        count('ok');
        setTimeout(() => reply(res, body, model, 'ok'), 20 + Math.floor(random() * 80));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/chat`,
    get outage() {
      return state.outage;
    },
    set outage(v: boolean) {
      state.outage = v;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function reply(res: import('node:http').ServerResponse, body: string, model: string, how: string): void {
  if (res.destroyed) return;
  let prompt = '';
  try {
    prompt = (JSON.parse(body) as { prompt?: string }).prompt ?? '';
  } catch {}
  const content = `(${model}) answer to "${prompt.slice(0, 24)}"`;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ content, how, usage: { prompt_tokens: prompt.length, completion_tokens: 12 } }));
}

/** The error an SDK would throw: status plus response headers (read by retry's Retry-After rule). */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Headers;
  constructor(status: number, headers: Headers) {
    super(`HTTP ${status}`);
    this.status = status;
    this.headers = headers;
  }
}

export interface ChatReply {
  readonly content: string;
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number };
}

/** A minimal chat client: one POST, honours the signal, throws HttpError on non-2xx. */
export async function chat(url: string, model: string, prompt: string, signal: AbortSignal): Promise<ChatReply> {
  const res = await fetch(`${url}/${model}`, {
    method: 'POST',
    body: JSON.stringify({ prompt }),
    headers: { 'content-type': 'application/json' },
    signal,
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new HttpError(res.status, res.headers);
  }
  return (await res.json()) as ChatReply;
}
