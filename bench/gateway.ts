/**
 * Gateway overhead per call (standalone: `npx tsx bench/gateway.ts`, bounded to well under 30 s).
 *
 * The same fake endpoint (an in-memory "chat completion" that resolves at once with OpenAI-shaped
 * usage) called directly, through a composed breakwater pipeline (retry + breaker + timeout, what a
 * user would write around one provider) and through `gateway()` in several shapes: one endpoint, three
 * weighted endpoints, with a per-key account, with a per-attempt `timeout` policy, and with a
 * listener on every event. The gateway's work per call: routing (filters, strategy), health
 * bookkeeping, the per-attempt context and signal ownership (a `Policy.noop` execute), usage and
 * cost accounting and the result object.
 *
 * Rows interleave subject and baseline rounds and report the median of the rounds (process CPU time).
 */
import { circuitBreaker, consecutive } from '../src/breaker/index.js';
import type { Context } from '../src/core/context.js';
import { gateway } from '../src/gateway/index.js';
import { Policy } from '../src/index.js';
import { retry } from '../src/retry/index.js';
import { timeout } from '../src/timeout/index.js';

const ROUNDS = 9;
const BUDGET_MS = 20_000;
const CALLS = 20_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const completion = {
  id: 'chatcmpl-1',
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
};
type Req = { readonly model: string; readonly messages: readonly { role: string; content: string }[] };
const request: Req = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Capital of France?' }] };
// The fake endpoint: what `client.chat.completions.create(req, { signal })` would be, minus the network.
const endpoint = async (_req: Req, _ctx?: Context): Promise<typeof completion> => completion;

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system; // µs
};

async function perCall(run: () => Promise<unknown>): Promise<number> {
  const t0 = cpu();
  for (let i = 0; i < CALLS; i++) await run();
  return (cpu() - t0) / CALLS; // µs per call
}

type Subject = readonly [name: string, run: () => Promise<unknown>];

async function table(title: string, subjects: readonly Subject[], started: number): Promise<void> {
  const samples = subjects.map(() => [] as number[]);
  for (const [, run] of subjects) await perCall(run); // warm-up
  for (let r = 0; r < ROUNDS && (r < 3 || performance.now() - started < BUDGET_MS); r++) {
    const order = r % 2 === 0 ? subjects.map((_, i) => i) : subjects.map((_, i) => subjects.length - 1 - i);
    for (const i of order) samples[i]?.push(await perCall((subjects[i] as Subject)[1]));
  }
  const base = median(samples[0] as number[]);
  log(`\n### ${title}\n`);
  log('| subject | per call (median) | overhead | ratio to direct |');
  log('|---|---:|---:|---:|');
  subjects.forEach(([name], i) => {
    const m = median(samples[i] as number[]);
    log(
      i === 0
        ? `| ${name} (baseline) | ${m.toFixed(2)} µs | — | 1.00× |`
        : `| ${name} | ${m.toFixed(2)} µs | +${(m - base).toFixed(2)} µs | ${(m / base).toFixed(2)}× |`,
    );
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const pipeline = Policy.wrap(retry({ maxRetries: 2 }), circuitBreaker({ strategy: consecutive(5) }), timeout(20_000));
  const ep = (id: string) => ({ id, call: endpoint, cost: { input: 2.5, output: 10 } });
  const one = gateway<Req>({ targets: { chat: { endpoints: [ep('a')] } } });
  const three = gateway<Req>({ targets: { chat: { endpoints: [ep('a'), ep('b'), ep('c')] } } });
  const withTimeout = gateway<Req>({ targets: { chat: { endpoints: [ep('a')], policy: timeout(20_000) } } });
  const observed = gateway<Req>({ targets: { chat: { endpoints: [ep('a'), ep('b')] } } });
  let seen = 0;
  observed.on('*', () => {
    seen++;
  });
  const keyed = { key: 'team-a' };
  await table(
    'Gateway overhead per call over a direct call (the endpoint resolves at once)',
    [
      ['direct `await endpoint(req)`', () => endpoint(request)],
      [
        '`Policy.wrap(retry(), circuitBreaker(), timeout())` around it',
        () => pipeline.execute((ctx) => endpoint(request, ctx)),
      ],
      ['`gateway`: 1 endpoint', () => one.call('chat', request)],
      ['`gateway`: 3 weighted endpoints', () => three.call('chat', request)],
      ['`gateway`: 3 endpoints, per-key usage (`key`)', () => three.call('chat', request, keyed)],
      ['`gateway`: 1 endpoint, `policy: timeout(20000)`', () => withTimeout.call('chat', request)],
      ['`gateway`: 2 endpoints, a listener on every event', () => observed.call('chat', request)],
    ],
    started,
  );
  if (seen === 0) throw new Error('the listener saw nothing');
  log(
    `\n_Node ${process.version}, ${CALLS.toLocaleString()} sequential calls per sample, CPU time, median of up to ${ROUNDS} interleaved rounds; ${((performance.now() - started) / 1000).toFixed(1)} s._`,
  );
}

await main();
