// Section 3: the agent's tool calls go through `idempotent()`. The model "retries" a step and the
// same tool call (same tool-call id) is delivered again: it is answered from the store, not re-run.
// Memory store by default; `npm run demo -- --sqlite` keeps records in a SQLite file.
import Database from 'better-sqlite3';
import { type IdempotencyStore, idempotent, memoryIdempotencyStore } from '../../src/idempotency/index.js';
import { sqliteIdempotencyStore } from '../../src/idempotency/sqlite/index.js';
import { color, heading } from './util.js';

export interface ToolCall {
  readonly id: string;
  readonly name: 'send_email' | 'create_ticket';
  readonly args: Record<string, unknown>;
}

export async function toolsSection(options: { readonly sqlite: boolean }): Promise<void> {
  heading(`idempotent tool calls (${options.sqlite ? 'SQLite store: .demo-data/idempotency.db' : 'memory store'})`);
  let db: Database.Database | undefined;
  let store: IdempotencyStore;
  if (options.sqlite) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync('.demo-data', { recursive: true });
    db = new Database('.demo-data/idempotency.db');
    store = sqliteIdempotencyStore(db);
  } else {
    store = memoryIdempotencyStore();
  }
  const effects = { emails: 0, tickets: 0 };
  const tools: Record<ToolCall['name'], (args: Record<string, unknown>) => Promise<unknown>> = {
    send_email: async (args: Record<string, unknown>) => ({ messageId: `msg-${++effects.emails}`, to: args.to }),
    create_ticket: async (args: Record<string, unknown>) => ({
      ticket: `T-${100 + ++effects.tickets}`,
      title: args.title,
    }),
  };
  const once = idempotent({ store, ttl: 3_600_000 });
  once.on('replay', (e) => console.log(`  ${color.yellow('↺')} ${e.key}: redelivered, answered from the store`));

  const run = (call: ToolCall) =>
    once.execute(() => tools[call.name](call.args), { key: call.id, data: { name: call.name, args: call.args } });

  const runId = options.sqlite ? Date.now().toString(36) : 'demo';
  const calls: ToolCall[] = [
    { id: `call_${runId}_1`, name: 'send_email', args: { to: 'ada@example.com' } },
    { id: `call_${runId}_2`, name: 'create_ticket', args: { title: 'Refund order 42' } },
  ];
  for (const call of calls) console.log(`  ${color.green('→')} ${call.id} ${call.name}:`, await run(call));
  // The model's step failed later and the agent replays the whole step: both tool calls again,
  // plus two concurrent duplicates of the first (an at-least-once queue delivering twice).
  const [a, b] = calls as [ToolCall, ToolCall];
  await Promise.all([run(a), run(a), run(b)]);
  console.log(
    `  ${color.bold('summary')}: 5 deliveries of 2 tool calls → ${effects.emails} email sent, ${effects.tickets} ticket created`,
  );
  db?.close();
}
