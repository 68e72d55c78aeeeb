// Section: the agent mesh. The chat and tool pipelines come from one JSON config file
// (.demo-data/agent-mesh.json) watched by the registry. Mid-run the retry policy is edited in the
// file and hot-reloaded: calls in flight finish on the old pipeline, new calls use the new one,
// and the breaker keeps its state. Then a bad edit is refused and the last good config stays.
import { mkdirSync, writeFileSync } from 'node:fs';
import { type FileRegistry, registryFromFile } from '../../src/registry/file/index.js';
import type { ConfigAppliedEvent, ConfigRejectedEvent, LayerChange, RegistryConfig } from '../../src/registry/index.js';
import { chat, type FakeLlm, HttpError } from './fake-llm.js';
import { color, describeError, heading, pool } from './util.js';

const FILE = '.demo-data/agent-mesh.json';

/** The demo's agent mesh: one pipeline template for chat calls, one for tools. */
function meshConfig(chatRetries: number | string): RegistryConfig {
  return {
    defaults: { retry: { backoff: { type: 'exponential', initial: 50, max: 1_000 } } },
    policies: {
      llm: [
        { timeout: { after: '4s', name: 'total' } },
        { retry: { maxRetries: chatRetries as number, handle: 'retryable' } },
        { breaker: { strategy: { type: 'consecutive', failures: 8 }, breakDuration: '1s' } },
        { timeout: { after: '1s', name: 'attempt' } },
      ],
      tool: [{ bulkhead: { limit: 4, queue: 16 } }, { timeout: '2s' }, { retry: 1 }],
    },
    targets: { chat: 'llm', 'web-search': 'tool' },
  };
}

function describeChange(c: LayerChange): string {
  const what = `${c.target} ${c.kind}${c.name ? ` "${c.name}"` : ''}`;
  if (c.change !== 'rebuilt') return `${what} ${c.change}`;
  const opts = (c.options ?? []).map((o) => `${o.path} ${JSON.stringify(o.before)} → ${JSON.stringify(o.after)}`);
  return `${what} rebuilt (${opts.join(', ')})`;
}

/** Writes the file and waits (at most 5 s) for the watcher's verdict on it. */
async function edit(mesh: FileRegistry, config: unknown): Promise<ConfigAppliedEvent | ConfigRejectedEvent> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (e: ConfigAppliedEvent | ConfigRejectedEvent) => {
      for (const off of offs) off();
      clearTimeout(timer);
      resolve(e);
    };
    const timer = setTimeout(() => reject(new Error(`no reload of ${FILE} within 5 s`)), 5_000);
    offs.push(mesh.on('config-applied', done), mesh.on('config-rejected', done));
    writeFileSync(FILE, JSON.stringify(config, null, 2));
  });
}

export async function registrySection(llm: FakeLlm, calls = 24): Promise<{ before: number; after: number }> {
  heading(`registry: the agent mesh from one config file (${FILE}), hot-reloaded`);
  mkdirSync('.demo-data', { recursive: true });
  writeFileSync(FILE, JSON.stringify(meshConfig(0), null, 2));
  const mesh = await registryFromFile(FILE, {
    watch: true,
    debounce: 50,
    functions: {
      // A 4xx other than 429 is the caller's fault: retrying cannot help.
      retryable: (e: unknown) => !(e instanceof HttpError) || e.status === 429 || e.status >= 500,
    },
  });
  try {
    for (const t of mesh.targets) {
      const layers = mesh.describe(t).map((l) => `${l.kind}${l.name ? ` ${l.name}` : ''}`);
      console.log(color.dim(`  ${t}: ${layers.join(' → ')}`));
    }
    let retries = 0;
    mesh.on('retry', () => retries++);

    const phase = async (label: string): Promise<number> => {
      retries = 0;
      let ok = 0;
      const failures: Record<string, number> = {};
      const startedOn: Record<string, number> = {};
      await pool(calls, 6, async (i) => {
        // The version in force when a call starts is the one it runs on to the end.
        startedOn[`v${mesh.version}`] = (startedOn[`v${mesh.version}`] ?? 0) + 1;
        const r = await mesh
          .get('chat')
          .executeOutcome(({ signal }) => chat(llm.url, 'gpt-fake', `${label} ${i}`, signal));
        if (r.ok) ok++;
        else {
          const why = describeError(r.error);
          failures[why] = (failures[why] ?? 0) + 1;
        }
      });
      const failed = Object.entries(failures).map(([k, n]) => `${n}× ${k}`);
      const on = Object.entries(startedOn).map(([v, n]) => `${n} on ${v}`);
      console.log(
        `  ${color.bold(label)}: ${color.green(`${ok} ok`)}, ${failed.length ? color.red(`failed: ${failed.join(', ')}`) : '0 failed'}, ${retries} retries ${color.dim(`(started: ${on.join(', ')})`)}`,
      );
      return ok;
    };

    const before = await phase(`v${mesh.version} (llm retry.maxRetries = 0)`);

    // Edit the file mid-run while calls are in flight: they finish on the pipeline they started on.
    const inFlight = phase('during the edit');
    const applied = await edit(mesh, meshConfig(4));
    if (applied.type === 'config-applied') {
      console.log(`  ${color.yellow('▶')} config v${applied.version} applied from the file:`);
      for (const c of applied.changes) console.log(`      ${describeChange(c)}`);
      const breaker = mesh.describe('chat').find((l) => l.kind === 'breaker');
      const state = (breaker?.policy as { state?: string } | undefined)?.state;
      console.log(color.dim(`      breaker kept, state ${state}`));
    }
    await inFlight;
    const after = await phase(`v${mesh.version} (llm retry.maxRetries = 4)`);

    // A bad edit is refused with its path; the last good config stays in force.
    const rejected = await edit(mesh, meshConfig(-1));
    if (rejected.type === 'config-rejected') {
      console.log(`  ${color.yellow('▶')} bad edit refused, still v${rejected.version}:`);
      for (const e of rejected.errors) console.log(`      ${color.red(`${e.path}: ${e.message}`)}`);
    }
    const still = await mesh
      .get('chat')
      .executeOutcome(({ signal }) => chat(llm.url, 'gpt-fake', 'still served', signal));
    console.log(
      color.dim(`  a call after the refused edit: ${still.ok ? 'ok' : describeError(still.error)} (v${mesh.version})`),
    );
    return { before, after };
  } finally {
    mesh.close();
  }
}
