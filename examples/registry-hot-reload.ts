// The agent mesh: every LLM and tool call of an agent asks a registry for its pipeline by name, and
// the pipelines come from one JSON config that changes while the agent runs.
//
// v1 gives the `web-search` tool no retry, and a flaky backend (every third request fails) costs the
// agent answers. An operator pushes v2 with two retries (backoff 10 ms): the calls already running
// finish on v1, new ones use v2 and succeed, and the layers whose settings did not change — the
// chat breaker, open after an outage — keep their state. Then a bad update (four mistakes) is
// rejected whole, each problem named by its path, and v2 stays in force.
//
// Run: `npx tsx examples/registry-hot-reload.ts`

import type { RegistryConfig } from '../src/registry/index.js';
import { registry } from '../src/registry/index.js';

let searches = 0;
/** A flaky search backend: every third request fails with a 503; each takes 20 ms. */
async function search(query: string, signal: AbortSignal): Promise<string> {
  const n = ++searches;
  await new Promise((r) => setTimeout(r, 20));
  signal.throwIfAborted();
  if (n % 3 === 0) throw Object.assign(new Error('503 from the search backend'), { status: 503 });
  return `hits for "${query}"`;
}

const config = (searchRetries: number): RegistryConfig => ({
  defaults: { retry: { backoff: { type: 'constant', delay: 10 } } },
  policies: {
    llm: [
      { timeout: { after: '2s', name: 'total' } },
      { retry: { maxRetries: 1, handle: 'isTransient' } },
      { breaker: { strategy: { type: 'consecutive', failures: 2 }, breakDuration: '1m' } },
      { timeout: { after: '500ms', name: 'attempt' } },
    ],
    tool: [{ bulkhead: { limit: 4, queue: 8 } }, { timeout: '1s' }, { retry: { maxRetries: searchRetries } }],
  },
  targets: { chat: 'llm', 'web-search': 'tool' },
});

const isTransient = (e: unknown): boolean => ((e as { status?: number }).status ?? 500) >= 500;
export const mesh = registry({ config: config(0), functions: { isTransient } });

async function searchRound(label: string, n: number): Promise<void> {
  const version = mesh.version;
  const tool = mesh.get('web-search'); // the same object for the registry's life
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => tool.executeOutcome(({ signal }) => search(`q${i}`, signal))),
  );
  const ok = results.filter((r) => r.ok).length;
  console.log(`${label} (started on v${version}): ${ok} of ${n} searches answered`);
}

export async function main(): Promise<void> {
  mesh.on('config-applied', (e) => {
    console.log(`config v${e.version} applied; changed targets: ${e.changed.join(', ')}`);
    for (const c of e.changes) {
      const options = (c.options ?? []).map(
        (o) => `${o.path} ${JSON.stringify(o.before)} → ${JSON.stringify(o.after)}`,
      );
      console.log(`  ${c.target}: ${c.kind}${c.name ? ` "${c.name}"` : ''} ${c.change} ${options.join(', ')}`);
    }
  });
  mesh.on('config-rejected', (e) => console.log(`config rejected: v${e.version} stays in force`));
  mesh.on('open', (e) => console.log(`${e.target}: circuit open`));

  for (const t of mesh.targets) {
    const layers = mesh.describe(t).map((l) => `${l.kind}${l.name ? ` "${l.name}"` : ''}`);
    console.log(`${t}: ${layers.join(' → ')}`);
  }

  // The model provider is down: a chat call fails twice (its retry included) and the chat breaker opens.
  const chat = mesh.get('chat');
  await chat.executeOutcome(() => Promise.reject(Object.assign(new Error('529 overloaded'), { status: 529 })));
  await searchRound('v1, no retry', 6);

  // v2: the tool gets two retries. A round already running when it lands finishes on v1.
  const running = searchRound('during the update', 6);
  const r = mesh.update(config(2));
  console.log(`update → ok: ${r.ok}, version ${r.version}`);
  await running;
  await searchRound('after the update', 6);
  const breaker = mesh.describe('chat').find((l) => l.kind === 'breaker')?.policy as { state?: string } | undefined;
  console.log(`chat breaker kept across the update: still ${breaker?.state}`);

  // A bad update: rejected whole, every problem with its path; nothing changes.
  const bad = config(2) as unknown as {
    policies: { tool: Record<string, unknown>[] };
    targets: Record<string, unknown>;
  };
  bad.policies.tool[2] = { retry: { maxRetries: -1, backof: 5 } };
  bad.targets.chat = { policy: 'llm', atempt: '1s' }; // a typo for the layer named "attempt"
  bad.targets.sql = 'tools'; // and one for the policy "tool"
  const rejected = mesh.update(bad as unknown as RegistryConfig);
  if (!rejected.ok) for (const e of rejected.errors) console.log(`  ${e.path}: ${e.message}`);
  await searchRound(`still v${mesh.version}`, 6);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
