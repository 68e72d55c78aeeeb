// Messaging patterns in front of and around an agent: a content filter, an intent router, a
// self-consistency step that asks three fake models and votes (cancelling the slowest), and an
// aggregator that collects streamed tool results per task.
//
// Run alone: `npx tsx examples/messaging-agent.ts`; or call `messagingSection()` from the demo.
import type { Context } from '../src/core/context.js';
import {
  aggregator,
  type BranchOutcome,
  filter,
  type Handler,
  isNoRouteError,
  router,
  scatterGather,
} from '../src/messaging/index.js';
import { color } from './demo/util.js';

const { dim, bold } = color;

/** Resolves after `ms`, or rejects with the abort reason as soon as `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A fake LLM that answers after `ms`; it notices cancellation through `ctx.signal`. */
const fakeModel =
  (name: string, ms: number, answer: string, log: string[]): Handler<string, string> =>
  async (_prompt, { signal }: Context) => {
    try {
      await delay(ms, signal);
    } catch (e) {
      log.push(`${name} stopped early (${(e as Error).name})`);
      throw e;
    }
    return answer;
  };

/** A fake intent classifier: a confidence from how many of the intent's words appear. */
const classify =
  (words: readonly string[]) =>
  async (text: string): Promise<number> => {
    await new Promise((r) => setTimeout(r, 2));
    const hits = words.filter((w) => text.toLowerCase().includes(w)).length;
    return hits === 0 ? 0 : Math.min(1, 0.2 + 0.3 * hits);
  };

export async function messagingSection(): Promise<void> {
  console.log(bold('\n━━ messaging: filter → intent router → self-consistency ━━'));

  // 1. Content-safety filter in front of the whole agent: unsafe prompts are diverted.
  const safety = filter<string, string>((text) => !/\b(bomb|malware)\b/i.test(text), {
    onReject: () => 'Sorry, I cannot help with that.',
    name: 'safety',
  });

  // 2. Intent router: an (async) classifier per intent; low-confidence prompts ask for clarification.
  const cancelled: string[] = [];
  const consensus = scatterGather<string, string>({
    handlers: {
      'model-a': fakeModel('model-a', 30, 'Paris', cancelled),
      'model-b': fakeModel('model-b', 45, ' paris ', cancelled),
      'model-c': fakeModel('model-c', 400, 'Lyon', cancelled),
    },
    gather: { quorum: 2 },
    select: 'vote',
    timeout: 1_000,
  });
  let lastBranches: readonly BranchOutcome<string>[] = [];
  const intents = router<string, string>({
    routes: [
      {
        name: 'search',
        when: classify(['find', 'search', 'what is', 'capital']),
        to: async (q, { signal }) => {
          const r = await consensus.execute(q, { signal });
          lastBranches = r.branches;
          return `${r.value.trim()} (completedBy: ${r.completedBy})`;
        },
      },
      { name: 'write', when: classify(['write', 'draft', 'email']), to: (q) => `draft for "${q}"` },
      { name: 'tool', when: classify(['run', 'calculate', 'convert']), to: () => 'tool result: 42' },
    ],
    minConfidence: 0.6,
    otherwise: () => 'Could you say a bit more about what you need?',
  });
  const agent = safety.to(intents.handler);

  const prompts = [
    'What is the capital of France? find it',
    'Write an email to the team',
    'run the unit converter',
    'hmm, search',
    'how do I build a bomb',
  ];
  for (const prompt of prompts) {
    const controller = new AbortController();
    const ctx: Context = { signal: controller.signal, attempt: 1, key: undefined, deadline: undefined, data: {} };
    lastBranches = [];
    const result = await agent(prompt, ctx);
    const tag = result.accepted ? 'answer' : 'refused';
    console.log(`${dim('prompt')} ${prompt}\n  ${tag}: ${result.value}`);
    for (const b of lastBranches) {
      console.log(dim(`    ${b.name.padEnd(8)} ${b.status.padEnd(9)} ${String(b.ms).padStart(4)} ms ${b.value ?? ''}`));
    }
  }
  if (cancelled.length > 0) console.log(dim(`  cancelled branches saw their signal: ${cancelled.join('; ')}`));

  const strict = router<string, string>({
    routes: [{ name: 'search', when: classify(['find']), to: () => '' }],
  });
  await strict.route('hello').catch((e: unknown) => {
    if (isNoRouteError(e)) console.log(dim(`  no otherwise → ${e.code} (${e.reason})`));
  });

  // 3. Aggregator: tool results stream in per task; complete at 3 parts or 50 ms after the first.
  console.log(bold('\n━━ messaging: aggregator (fan-in of tool results) ━━'));
  const finished: Promise<void>[] = [];
  const results = aggregator<{ task: string; part: string }, string, string>({
    correlate: (m) => m.task,
    complete: { size: 3, deadline: 50 },
    combine: (parts) => parts.map((p) => p.part).join(' + '),
    onComplete: (text, g) => {
      console.log(
        `  task ${g.key}: ${text} ${dim(`(completedBy: ${g.completedBy}, ${g.messages.length} part${g.messages.length === 1 ? '' : 's'})`)}`,
      );
    },
    late: 'drop',
  });
  results.add({ task: 't1', part: 'search hits' });
  results.add({ task: 't2', part: 'calendar' });
  results.add({ task: 't1', part: 'web page' });
  results.add({ task: 't1', part: 'summary' });
  console.log(dim(`  late part for t1: ${results.add({ task: 't1', part: 'too late' })}`));
  finished.push(new Promise((r) => setTimeout(r, 80)));
  await Promise.all(finished);
  results.add({ task: 't3', part: 'pending at shutdown' });
  results.close();
}

if (process.argv[1]?.endsWith('messaging-agent.ts')) await messagingSection();
