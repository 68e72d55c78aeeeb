// Section: the agent's LLM calls through one gateway of two fake providers — "Northwind" (the OpenAI
// wire format, through the real `openai` client) goes down for a while, "Southpaw" (the Anthropic
// wire format, through the real `@anthropic-ai/sdk` client) rate limits with 429 + retry-after-ms.
// Routing, ejections, probes and fallbacks print live; then a usage and cost table per model and
// per key (one key runs into its budget).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Context } from '../../src/core/context.js';
import { gateway, isBudgetExceededError, isGatewayUnavailableError } from '../../src/gateway/index.js';
import { timeout } from '../../src/timeout/index.js';
import { seeded } from './fake-llm.js';
import { color, describeError, heading, pool } from './util.js';

interface Provider {
  readonly url: string;
  outage: boolean;
  close(): Promise<void>;
}

const body = (req: IncomingMessage): Promise<Record<string, unknown>> =>
  new Promise((resolve) => {
    let raw = '';
    req.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    req.on('end', () => resolve(JSON.parse(raw || '{}') as Record<string, unknown>));
  });

const promptTokens = (b: Record<string, unknown>): number => Math.ceil(JSON.stringify(b.messages ?? []).length / 4);

/** Northwind: OpenAI wire format; `gpt-fake` fails with 503 during an outage, `gpt-small` never does. */
async function northwind(random: () => number): Promise<Provider> {
  const state = { outage: false };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const b = await body(req);
    const model = String(b.model);
    if (state.outage && model === 'gpt-fake') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Service unavailable', type: 'server_error', code: null } }));
      return;
    }
    const completion = 20 + Math.floor(random() * 60);
    setTimeout(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl',
            object: 'chat.completion',
            created: 0,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: promptTokens(b), completion_tokens: completion, total_tokens: 0 },
          }),
        );
      },
      15 + Math.floor(random() * 40),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get outage() {
      return state.outage;
    },
    set outage(v: boolean) {
      state.outage = v;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Southpaw: Anthropic wire format; admits 6 requests per rolling 400 ms, then 429 with retry-after-ms. */
async function southpaw(random: () => number): Promise<Provider> {
  const admitted: number[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const b = await body(req);
    const now = Date.now();
    while (admitted.length > 0 && (admitted[0] as number) <= now - 400) admitted.shift();
    if (admitted.length >= 6) {
      const wait = (admitted[0] as number) + 400 - now;
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': String(wait) });
      res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Too many requests' } }));
      return;
    }
    admitted.push(now);
    const output = 30 + Math.floor(random() * 80);
    setTimeout(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'msg',
            type: 'message',
            role: 'assistant',
            model: String(b.model),
            content: [{ type: 'text', text: 'ok' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: promptTokens(b), output_tokens: output },
          }),
        );
      },
      25 + Math.floor(random() * 40),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    outage: false,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

type Chat = { readonly messages: { role: 'user'; content: string }[]; readonly max_tokens: number };

const usd = (n: number): string => `$${n.toFixed(4)}`;

export async function gatewaySection(seed = 42): Promise<void> {
  heading('gateway: two providers, one outage, one rate limit — every LLM call through one entry point');
  const random = seeded(seed + 7);
  const [north, south] = await Promise.all([northwind(random), southpaw(random)]);
  // The SDKs' own retries are off: the gateway fails over itself and counts every attempt.
  const openai = new OpenAI({ apiKey: 'sk-demo', baseURL: `${north.url}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: 'sk-ant-demo', baseURL: south.url, maxRetries: 0 });
  const viaOpenAI =
    (model: string) =>
    (req: Chat, { signal }: Context) =>
      openai.chat.completions.create({ model, messages: req.messages, max_tokens: req.max_tokens }, { signal });
  const viaAnthropic =
    (model: string) =>
    (req: Chat, { signal }: Context) =>
      anthropic.messages.create({ model, messages: req.messages, max_tokens: req.max_tokens }, { signal });

  const t0 = performance.now();
  const at = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`;
  const keys: Record<string, { budget?: number }> = {
    'team-search': {},
    'team-support': {},
    'team-batch': { budget: 0.015 },
  };
  const gw = gateway<Chat>({
    ejection: { consecutiveFailures: 2, base: 400, max: 2_000, jitter: 50, cooldown: 200 },
    maxWait: 1_500,
    auth: (_req, o) => {
      const key = o?.key ?? '';
      const k = keys[key];
      if (k === undefined) throw new Error(`unknown key ${key}`);
      return { key, ...(k.budget === undefined ? {} : { budget: { usd: k.budget } }) };
    },
    targets: {
      chat: {
        strategy: 'least-busy',
        policy: timeout(1_000), // per attempt
        endpoints: [
          {
            id: 'northwind/gpt-fake',
            model: 'gpt-fake',
            provider: 'openai',
            call: viaOpenAI('gpt-fake'),
            cost: { input: 2.5, output: 10 },
          },
          {
            id: 'southpaw/claude-fake',
            model: 'claude-fake',
            provider: 'anthropic',
            call: viaAnthropic('claude-fake'),
            cost: { input: 3, output: 15 },
          },
        ],
        fallbacks: ['small'],
      },
      small: {
        endpoints: [
          {
            id: 'northwind/gpt-small',
            model: 'gpt-small',
            provider: 'openai',
            call: viaOpenAI('gpt-small'),
            cost: { input: 0.15, output: 0.6 },
          },
        ],
      },
    },
  });
  const live = (mark: string, text: string) => console.log(`  ${mark} ${color.dim(at())} ${text}`);
  gw.on('eject', (e) => {
    if (e.cooldown) return; // 429 cool-downs are counted below, not printed one by one
    live(
      color.red('✖'),
      `${e.endpoint} ejected for ${Math.round(e.duration)} ms (${e.reason}, ejection #${e.ejections})`,
    );
  });
  gw.on('recover', (e) => live(color.green('✔'), `${e.endpoint} recovered (probe succeeded)`));
  let cooldowns = 0;
  gw.on('eject', (e) => {
    if (e.cooldown) cooldowns++;
  });
  const fellBack: string[] = [];
  gw.on('fallback', (e) => fellBack.push(`${e.from}→${e.to} (${e.reason})`));

  const routed = new Map<string, number>();
  let window: string[] = [];
  const flush = (upTo: number) => {
    if (window.length === 0) return;
    const counts = new Map<string, number>();
    for (const w of window) counts.set(w, (counts.get(w) ?? 0) + 1);
    const parts = [...counts].map(([k, n]) => `${k}×${n}`).join('  ');
    console.log(`  ${color.dim(`calls ≤${String(upTo).padStart(3)}`)}  ${parts}`);
    window = [];
  };
  const failures = new Map<string, number>();
  const N = 90;
  const teams = ['team-search', 'team-support', 'team-batch'];
  let done = 0;
  await pool(N, 6, async (i) => {
    if (i === 20) {
      north.outage = true;
      live(color.red('▼'), 'northwind: outage begins (503 on gpt-fake)');
      setTimeout(() => {
        north.outage = false;
        live(color.green('▲'), 'northwind: outage over');
      }, 1_200);
    }
    const key = teams[i % teams.length] as string;
    const request: Chat = {
      messages: [{ role: 'user', content: `question ${i}: ${'context '.repeat(20 + (i % 7) * 10)}` }],
      max_tokens: 200,
    };
    try {
      const r = await gw.call('chat', request, { key });
      const mark = r.target === 'small' ? `${r.endpoint} (fallback)` : r.endpoint;
      routed.set(mark, (routed.get(mark) ?? 0) + 1);
      window.push(r.attempts > 1 ? `${mark} after ${r.attempts} tries` : mark);
    } catch (e) {
      const what = isBudgetExceededError(e)
        ? 'budget exceeded'
        : isGatewayUnavailableError(e)
          ? 'unavailable'
          : describeError(e);
      failures.set(`${key}: ${what}`, (failures.get(`${key}: ${what}`) ?? 0) + 1);
      window.push(color.yellow(what));
    }
    if (++done % 15 === 0) flush(done);
    await new Promise((r) => setTimeout(r, 15));
  });
  flush(done);
  console.log(
    `  ${N} calls in ${at()}: ${[...routed].map(([k, n]) => `${k} ${n}`).join(', ')}; 429 cool-downs ${cooldowns}; fallbacks ${fellBack.length}`,
  );
  for (const [what, n] of failures) console.log(`  ${color.yellow('!')} ${what} ×${n}`);

  const snap = gw.snapshot();
  console.log('\n  usage and cost per model');
  console.log('  | model | requests | errors | input tok | output tok | cost |');
  console.log('  |---|---:|---:|---:|---:|---:|');
  for (const t of Object.values(snap.targets)) {
    for (const e of t.endpoints) {
      const u = e.usage;
      console.log(
        `  | ${e.id} | ${u.requests} | ${u.errors} | ${u.inputTokens} | ${u.outputTokens} | ${usd(u.cost)} |`,
      );
    }
  }
  console.log('\n  usage and cost per key');
  console.log('  | key | requests | input tok | output tok | cost | budget |');
  console.log('  |---|---:|---:|---:|---:|---:|');
  for (const [key, k] of Object.entries(snap.keys)) {
    const u = k.usage;
    const budget = k.budget === undefined ? '—' : `${usd(k.budget.spent)} of ${usd(k.budget.usd)}`;
    console.log(`  | ${key} | ${u.requests} | ${u.inputTokens} | ${u.outputTokens} | ${usd(u.cost)} | ${budget} |`);
  }
  await Promise.all([north.close(), south.close()]);
}
