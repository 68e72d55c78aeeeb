// An agent's LLM calls through one gateway over two fake providers: "northwind" goes down (503) for a
// while, "southpaw" rate limits (429 with `retry-after-ms` past 3 requests per 300 ms). The gateway
// routes around both — an outage ejects its endpoint until a probe finds it back, a 429 cools its
// endpoint for exactly the server's retry-after — and falls back to a small model when neither can
// take a call. One team has a budget and runs into it. Each call prints its route; a usage and
// cost table per endpoint and per key closes the run.
//
// The providers are plain functions (no network) that answer like the OpenAI SDK: a completion with
// `usage`, or an error with `status` and `headers`.
// Run: `npx tsx examples/gateway-two-providers.ts`
import type { Context } from '../src/core/context.js';
import { gateway, isBudgetExceededError, isGatewayUnavailableError } from '../src/gateway/index.js';
import { seededRandom } from '../src/testing/index.js';
import { timeout } from '../src/timeout/index.js';

type Chat = { readonly messages: { role: 'user'; content: string }[]; readonly max_tokens: number };
type Completion = { readonly content: string; readonly usage: { prompt_tokens: number; completion_tokens: number } };

/** An SDK-style HTTP error. */
const httpError = (status: number, headers: Record<string, string> = {}): Error =>
  Object.assign(new Error(`HTTP ${status}`), { status, headers: new Headers(headers) });

const answer = async (model: string, req: Chat, signal: AbortSignal, ms: number): Promise<Completion> => {
  await new Promise((r) => setTimeout(r, ms));
  signal.throwIfAborted();
  const prompt = Math.ceil(JSON.stringify(req.messages).length / 4);
  return { content: `[${model}] ok`, usage: { prompt_tokens: prompt, completion_tokens: 40 + (prompt % 30) } };
};

let northwindDown = false;
/** Northwind: the main model fails with 503 during its outage; its small model never does. */
const northwind = (model: string) => (req: Chat, ctx: Context) => {
  if (northwindDown && model === 'gpt-fake') return Promise.reject(httpError(503));
  return answer(model, req, ctx.signal, 15);
};

const admitted: number[] = [];
/** Southpaw: admits 3 requests per rolling 300 ms, then 429 with `retry-after-ms`. */
const southpaw = (model: string) => (req: Chat, ctx: Context) => {
  const now = Date.now();
  while (admitted.length > 0 && (admitted[0] as number) <= now - 300) admitted.shift();
  if (admitted.length >= 3) {
    return Promise.reject(httpError(429, { 'retry-after-ms': String((admitted[0] as number) + 300 - now) }));
  }
  admitted.push(now);
  return answer(model, req, ctx.signal, 25);
};

const budgets: Record<string, number | undefined> = { 'team-search': undefined, 'team-batch': 0.003 };

export const gw = gateway<Chat>({
  ejection: { consecutiveFailures: 2, base: 250, max: 1_000, jitter: 20 },
  maxWait: 1_000,
  random: seededRandom(3),
  auth: (_req, options) => {
    const key = options?.key ?? '';
    if (!(key in budgets)) throw new Error('unknown key');
    const usd = budgets[key];
    return { key, ...(usd === undefined ? {} : { budget: { usd } }) };
  },
  targets: {
    chat: {
      strategy: 'round-robin',
      policy: timeout(1_000), // per attempt
      endpoints: [
        { id: 'northwind/gpt-fake', call: northwind('gpt-fake'), cost: { input: 2.5, output: 10 } },
        { id: 'southpaw/claude-fake', call: southpaw('claude-fake'), cost: { input: 3, output: 15 } },
      ],
      fallbacks: ['small'], // any class of failure, and "no endpoint can take it now"
    },
    small: {
      endpoints: [{ id: 'northwind/gpt-small', call: northwind('gpt-small'), cost: { input: 0.15, output: 0.6 } }],
    },
  },
});

const t0 = Date.now();
const at = (): string => `${String(Date.now() - t0).padStart(5)} ms`;

async function ask(i: number, key: string): Promise<void> {
  const request: Chat = {
    messages: [{ role: 'user', content: `step ${i}: ${'context '.repeat(40)}` }],
    max_tokens: 100,
  };
  try {
    const r = await gw.call('chat', request, { key });
    const via = r.fallbacks > 0 ? ` (fallback from chat)` : '';
    const tries = r.attempts > 1 ? `, ${r.attempts} attempts` : '';
    console.log(
      `${at()}  #${String(i).padStart(2)} ${key.padEnd(11)} → ${r.endpoint}${via}${tries}, $${r.cost.toFixed(5)}`,
    );
  } catch (error) {
    if (isBudgetExceededError(error)) {
      console.log(
        `${at()}  #${String(i).padStart(2)} ${key.padEnd(11)} ✖ budget: $${error.spent.toFixed(5)} of $${error.budget}`,
      );
    } else if (isGatewayUnavailableError(error)) {
      console.log(
        `${at()}  #${String(i).padStart(2)} ${key.padEnd(11)} ✖ unavailable, retry in ${error.retryAfter} ms`,
      );
    } else throw error;
  }
}

export async function main(): Promise<void> {
  gw.on('eject', (e) => {
    const why = e.cooldown
      ? `cooling for ${Math.round(e.duration)} ms (429)`
      : `ejected for ${Math.round(e.duration)} ms (${e.reason})`;
    console.log(`${at()}      ${e.endpoint} ${why}`);
  });
  gw.on('recover', (e) => console.log(`${at()}      ${e.endpoint} is back (its probe succeeded)`));

  // Rounds of three concurrent calls (two from the search agent, one from the batch job), 60 ms
  // apart; northwind is down in rounds 3–6.
  let i = 0;
  for (let round = 0; round < 13; round++) {
    if (round === 3) northwindDown = true;
    if (round === 7) northwindDown = false;
    if (round === 3 || round === 7) console.log(`${at()}  --- northwind outage ${northwindDown ? 'begins' : 'ends'}`);
    await Promise.all([ask(++i, 'team-search'), ask(++i, 'team-search'), ask(++i, 'team-batch')]);
    await new Promise((r) => setTimeout(r, 60));
  }

  const snap = gw.snapshot();
  console.log('\n| endpoint | state | requests | errors | input tok | output tok | cost |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const t of Object.values(snap.targets)) {
    for (const e of t.endpoints) {
      const u = e.usage;
      const row = [e.id, e.state, u.requests, u.errors, u.inputTokens, u.outputTokens, `$${u.cost.toFixed(5)}`];
      console.log(`| ${row.join(' | ')} |`);
    }
  }
  console.log('\n| key | requests | input tok | output tok | cost | budget |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [key, k] of Object.entries(snap.keys)) {
    const u = k.usage;
    const budget = k.budget === undefined ? '—' : `$${k.budget.spent.toFixed(5)} of $${k.budget.usd}`;
    console.log(
      `| ${key} | ${u.requests} | ${u.inputTokens} | ${u.outputTokens} | $${u.cost.toFixed(5)} | ${budget} |`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
