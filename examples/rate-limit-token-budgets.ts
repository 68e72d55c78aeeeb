// Per-user token budgets for LLM calls, and the provider's own rate limit.
//
// Each user may spend 1,000 tokens per second (a minute's budget, compressed so the example runs in a
// moment). A call is charged an estimate before it is sent (prompt length / 4 + max_tokens) and trued
// up with the real `usage.total_tokens` afterwards: the refund lets a waiting call in sooner. A call
// that does not fit waits its turn (`mode: 'wait'`), never longer than `maxWait`; one larger than the
// whole budget is refused at once. Behind the per-user budgets, one organisation-wide limiter reads the
// provider's headers: a 429 with `retry-after-ms` drains it, and every user's next call waits it out.
//
// Run: `npx tsx examples/rate-limit-token-budgets.ts`
import { Policy } from '../src/index.js';
import { isRateLimitedError, rateLimit } from '../src/rate-limit/index.js';
import { retry } from '../src/retry/index.js';

interface Completion {
  readonly text: string;
  readonly usage: { readonly total_tokens: number };
}

/** What an SDK's HTTP error looks like: status + headers. */
class ApiError extends Error {
  readonly status: number;
  readonly headers: Headers;
  constructor(status: number, headers: Record<string, string>) {
    super(`HTTP ${status}`);
    this.status = status;
    this.headers = new Headers(headers);
  }
}

const MAX_TOKENS = 400;
let overloaded = false; // the provider answers the next request with a 429
let requests = 0;

/** A fake chat completion: ~40 ms, uses far fewer tokens than `max_tokens` allows. */
async function complete(prompt: string, signal: AbortSignal): Promise<Completion> {
  requests++;
  await new Promise((r) => setTimeout(r, 40));
  signal.throwIfAborted();
  if (overloaded) {
    overloaded = false;
    throw new ApiError(429, { 'retry-after-ms': '300' });
  }
  return { text: `re: ${prompt.slice(0, 20)}`, usage: { total_tokens: Math.ceil(prompt.length / 4) + 60 } };
}

const estimate = (prompt: string): number => Math.ceil(prompt.length / 4) + MAX_TOKENS;
const t0 = Date.now();
const log = (line: string): void => console.log(`${String(Date.now() - t0).padStart(5)} ms  ${line}`);

export const perUser = rateLimit<Completion>({
  limit: 1_000,
  per: 1_000,
  cost: (ctx) => estimate(ctx.data.prompt as string),
  actualCost: (completion) => completion.usage.total_tokens, // the difference is refunded
  key: (ctx) => ctx.data.user as string,
  mode: 'wait',
  maxWait: 2_000,
  feedback: false, // the provider's headers describe the organisation's limit, not this user's
  name: 'tokens-per-user',
});

// Requests per second for the whole organisation; it reads the 429's retry-after-ms (feedback: 'requests').
export const orgRequests = rateLimit({ limit: 20, per: 1_000, mode: 'wait', maxWait: 2_000, name: 'org-rps' });

export const llm = Policy.wrap(
  perUser, // a retried call is charged to the user once
  retry({ maxRetries: 2, handle: (e) => (e as { status?: number }).status === 429 }), // waits ≥ retry-after-ms
  orgRequests, // outside the attempt: sees each 429 and drains
);

function ask(user: string, prompt: string): Promise<string> {
  return llm
    .execute(({ signal }) => complete(prompt, signal), { data: { user, prompt } })
    .then((c) => {
      log(`${user}: "${c.text}" (${c.usage.total_tokens} tokens, estimated ${estimate(prompt)})`);
      return c.text;
    })
    .catch((error: unknown) => {
      if (!isRateLimitedError(error)) throw error;
      const wait = Number.isFinite(error.retryAfter) ? `retry in ${Math.ceil(error.retryAfter)} ms` : 'never fits';
      log(`${user}: refused (${error.reason}, cost ${error.cost}): ${wait}`);
      return '';
    });
}

export async function main(): Promise<void> {
  perUser.on('wait', (e) => log(`${e.key} is over budget: waits ~${Math.round(e.delay)} ms for ${e.cost} tokens`));
  orgRequests.on('feedback', (e) => log(`provider says retry after ${e.hint.retryAfter} ms: org bucket drained`));
  orgRequests.on('wait', (e) => log(`org limit: a call waits ~${Math.round(e.delay)} ms (${e.queued} queued)`));

  const question = 'Summarise the last three incidents and their root causes, one line each.';
  console.log(`estimate per call: ${estimate(question)} tokens; budget: 1000 tokens/s per user`);

  // Alice sends three at once: the third does not fit and waits; bob's budget is his own.
  await Promise.all([ask('alice', question), ask('alice', question), ask('alice', question), ask('bob', question)]);
  const alice = await perUser.snapshot({ key: 'alice' });
  log(`alice has ${Math.floor(alice.remaining)} of ${alice.capacity} tokens left`);

  // A prompt larger than the whole budget can never fit: refused at once, not queued.
  await ask('bob', 'x'.repeat(4_000));

  // The provider is overloaded: its 429 drains the org limiter; carol's retry and dave's call, made
  // right after, both wait it out instead of meeting another 429.
  overloaded = true;
  const drained = new Promise<void>((resolve) => {
    const off = orgRequests.on('feedback', () => {
      off();
      resolve();
    });
  });
  await Promise.all([ask('carol', 'What is the status of db-2?'), drained.then(() => ask('dave', 'And db-3?'))]);
  log(`${requests} requests reached the provider (one 429)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
