// A fake LLM provider on 127.0.0.1 (node:http) speaking the OpenAI chat-completions or the Anthropic
// messages wire format, answering each request with the next scripted mode: success, 429 with
// retry-after-ms, 500, 529 overloaded, a context-length error, a content-policy refusal, and
// streams that stall before or after the first chunk or hold their first chunk until released.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Mode =
  | 'ok'
  | '429'
  | '500'
  | '529'
  | '401'
  | 'context'
  | 'policy'
  | 'stream'
  | 'stall-first'
  | 'stall-mid'
  | 'hold-first';

export type Wire = 'openai' | 'anthropic';

export interface Seen {
  readonly mode: Mode;
  readonly body: Record<string, unknown>;
  /** Resolves when the response ends: true if the client went away before the server finished. */
  readonly closed: Promise<boolean>;
  /** For `hold-first`: sends the stream (first chunk and the rest). */
  release(): void;
}

export interface FakeProvider {
  readonly url: string;
  readonly wire: Wire;
  /** Modes for the next requests, in order; once used up every request gets `ok` (or `fallback`). */
  script(...modes: Mode[]): void;
  readonly requests: Seen[];
  /** Resolves with the next request the server receives (or the latest one not yet taken). */
  next(): Promise<Seen>;
  /** Number of responses still open. */
  readonly open: number;
  /** Forgets the script and the requests seen (between tests). */
  reset(): void;
  close(): Promise<void>;
}

const openaiOk = (model: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 0,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
});

const anthropicOk = (model: string) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model,
  content: [{ type: 'text', text: 'Paris.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 14, output_tokens: 4 },
});

function openaiChunks(model: string): string[] {
  const c = (content: string) =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
  return [
    c('Par'),
    c('is.'),
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model, choices: [], usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 } })}\n\n`,
    'data: [DONE]\n\n',
  ];
}

function anthropicChunks(model: string): string[] {
  const e = (event: string, data: Record<string, unknown>) =>
    `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;
  return [
    e('message_start', {
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 14, output_tokens: 1 },
      },
    }),
    e('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    e('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Paris.' } }),
    e('content_block_stop', { index: 0 }),
    e('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }),
    e('message_stop', {}),
  ];
}

function error(
  wire: Wire,
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  code?: string,
  headers: Record<string, string> = {},
) {
  const body =
    wire === 'openai'
      ? { error: { message, type, param: null, code: code ?? null } }
      : { type: 'error', error: { type, message } };
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

export async function fakeProvider(wire: Wire): Promise<FakeProvider> {
  const queue: Mode[] = [];
  const requests: Seen[] = [];
  const waiting: ((s: Seen) => void)[] = [];
  let taken = 0;
  const open = new Set<ServerResponse>();

  function handle(req: IncomingMessage, res: ServerResponse): void {
    let raw = '';
    req.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      const model = String(body.model ?? 'model');
      const mode = queue.shift() ?? (body.stream === true ? 'stream' : 'ok');
      open.add(res);
      const closed = new Promise<boolean>((resolve) => {
        res.on('close', () => {
          open.delete(res);
          resolve(!res.writableFinished);
        });
      });
      let release = (): void => {};
      const seen: Seen = { mode, body, closed, release: () => release() };
      requests.push(seen);
      const w = waiting.shift();
      if (w !== undefined) {
        taken++;
        w(seen);
      }
      const chunks = wire === 'openai' ? openaiChunks(model) : anthropicChunks(model);
      const sse = () => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
      };
      switch (mode) {
        case 'ok':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(wire === 'openai' ? openaiOk(model) : anthropicOk(model)));
          return;
        case '429':
          return wire === 'openai'
            ? error(wire, res, 429, 'requests', 'Rate limit reached for requests', 'rate_limit_exceeded', {
                'retry-after-ms': '1500',
                'x-ratelimit-remaining-requests': '0',
              })
            : error(wire, res, 429, 'rate_limit_error', 'Number of requests has exceeded your rate limit', undefined, {
                'retry-after': '2',
              });
        case '500':
          return error(wire, res, 500, wire === 'openai' ? 'server_error' : 'api_error', 'The server had an error');
        case '529':
          return error(wire, res, 529, 'overloaded_error', 'Overloaded');
        case '401':
          return error(
            wire,
            res,
            401,
            wire === 'openai' ? 'invalid_request_error' : 'authentication_error',
            'invalid api key',
            'invalid_api_key',
          );
        case 'context':
          return wire === 'openai'
            ? error(
                wire,
                res,
                400,
                'invalid_request_error',
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                'context_length_exceeded',
              )
            : error(wire, res, 400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum');
        case 'policy':
          return wire === 'openai'
            ? error(
                wire,
                res,
                400,
                'invalid_request_error',
                'Your request was rejected as a result of our safety system.',
                'content_policy_violation',
              )
            : error(wire, res, 400, 'invalid_request_error', 'Output blocked by content filtering policy');
        case 'stream':
          sse();
          for (const c of chunks.slice(0, -1)) res.write(c);
          res.end(chunks.at(-1));
          return;
        case 'stall-first':
          sse();
          return; // headers, then silence
        case 'stall-mid':
          sse();
          res.write(chunks[0]);
          res.write(chunks[1]);
          return; // two chunks, then silence
        case 'hold-first':
          sse();
          release = () => {
            if (res.writableEnded || res.destroyed) return;
            for (const c of chunks.slice(0, -1)) res.write(c);
            res.end(chunks.at(-1));
          };
          return;
      }
    });
  }

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    wire,
    script: (...modes) => {
      queue.push(...modes);
    },
    requests,
    next: () => {
      if (taken < requests.length) return Promise.resolve(requests[taken++] as Seen);
      return new Promise((resolve) => waiting.push(resolve));
    },
    get open() {
      return open.size;
    },
    reset: () => {
      queue.length = 0;
      requests.length = 0;
      waiting.length = 0;
      taken = 0;
    },
    close: async () => {
      for (const r of open) r.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
