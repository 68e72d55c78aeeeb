// A game day for an agent's tool call. The `search_docs` tool goes through fallback → retry →
// breaker → timeout, and two chaos policies play the search backend: a "brownout" (30 % of calls
// fail with 503, 10 % stall for 2 s) and a full "outage" (every call fails). Both are switched at run
// time through `enabled`, and their draws come from seeded sources: every run is the same game day.
//
// Phases: steady → brownout (retries and the per-attempt timeout absorb it) → outage (the breaker
// opens, the fallback answers from a cache without calling the backend) → steady again (the breaker
// closes by itself). Every phase prints how the agent's questions were answered and what each layer did.
//
// Run: `npx tsx examples/chaos-game-day.ts`
import { circuitBreaker, consecutive, isBrokenCircuitError } from '../src/breaker/index.js';
import { chaos } from '../src/chaos/index.js';
import { fallback } from '../src/fallback/index.js';
import { Policy } from '../src/index.js';
import { constant, retry } from '../src/retry/index.js';
import { seededRandom } from '../src/testing/index.js';
import { timeout } from '../src/timeout/index.js';

type Phase = 'steady' | 'brownout' | 'outage';
let phase: Phase = 'steady';
let backendCalls = 0;

/** The real tool, faked: the search backend answers in 5 ms. */
async function searchDocs(query: string, signal: AbortSignal): Promise<string> {
  backendCalls++;
  await new Promise((r) => setTimeout(r, 5));
  signal.throwIfAborted();
  return `3 docs about "${query}"`;
}

const unavailable = (): Error => Object.assign(new Error('503 search unavailable'), { status: 503 });

const brownout = chaos({
  fault: { rate: 0.3, error: unavailable },
  latency: { rate: 0.1, ms: 2_000 }, // abortable: the per-attempt timeout cuts it
  enabled: () => phase === 'brownout', // asked on every call: a feature flag in real life
  random: seededRandom(7),
  name: 'brownout',
});
const outage = chaos({ fault: { rate: 1, error: unavailable }, enabled: () => phase === 'outage', name: 'outage' });

export const breaker = circuitBreaker({ strategy: consecutive(5), breakDuration: 300, name: 'search' });

export const tool = Policy.wrap(
  fallback({ to: (_error, ctx) => `cached docs about "${String(ctx.data.query)}" (may be stale)` }),
  retry({ maxRetries: 2, backoff: constant(10), handle: (e) => !isBrokenCircuitError(e), name: 'search' }),
  breaker,
  timeout({ after: 100, name: 'per-attempt' }),
  brownout, // innermost: chaos plays the backend
  outage,
);

const counts = new Map<string, number>();
tool.on('*', (e) => {
  if (e.type === 'success') return; // what each layer did beyond passing a result on
  const what = e.type === 'chaos' ? `${e.name} ${e.injection}` : `${e.kind} ${e.type}`;
  counts.set(what, (counts.get(what) ?? 0) + 1);
});

async function run(next: Phase, questions: number): Promise<void> {
  phase = next;
  counts.clear();
  const before = backendCalls;
  const started = Date.now();
  let real = 0;
  let cached = 0;
  for (let i = 0; i < questions; i++) {
    const query = `runbook ${i}`;
    const answer = await tool.execute(({ signal }) => searchDocs(query, signal), { data: { query } });
    if (answer.startsWith('cached')) cached++;
    else real++;
  }
  const layers =
    [...counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([what, n]) => `${what} ×${n}`)
      .join(', ') || 'nothing to do';
  console.log(
    `${next.padEnd(8)} ${questions} questions in ${Date.now() - started} ms: ${real} answered, ${cached} from cache`,
  );
  console.log(`         backend calls: ${backendCalls - before}; breaker ${breaker.state}; ${layers}`);
}

export async function main(): Promise<void> {
  await run('steady', 10);
  await run('brownout', 40);
  await run('outage', 10);
  await new Promise((r) => setTimeout(r, 350)); // the break ends: the next call probes
  await run('steady', 10);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
