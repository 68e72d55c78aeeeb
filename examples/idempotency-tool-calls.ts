// An agent's tool calls go through `idempotent()`: a redelivered tool call (same tool-call id) is
// answered from the store instead of running the tool again. Memory store by default; pass
// `--sqlite` to keep the records in a SQLite file across runs.
// Run: npx tsx examples/idempotency-tool-calls.ts [--sqlite]
import Database from 'better-sqlite3';
import {
  type IdempotencyStore,
  idempotent,
  isIdempotencyKeyReusedError,
  memoryIdempotencyStore,
} from '../src/idempotency/index.js';
import { sqliteIdempotencyStore } from '../src/idempotency/sqlite/index.js';

interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly args: Record<string, unknown>;
}

const useSqlite = process.argv.includes('--sqlite');
const db = useSqlite ? new Database('idempotency-demo.db') : undefined;
const store: IdempotencyStore = db === undefined ? memoryIdempotencyStore() : sqliteIdempotencyStore(db);

let emailsSent = 0;
const tools: Record<string, (args: Record<string, unknown>) => Promise<unknown>> = {
  send_email: async (args) => {
    emailsSent++;
    return { messageId: `msg-${emailsSent}`, to: args.to };
  },
};

const once = idempotent({
  store,
  ttl: 24 * 3_600_000,
  // A 4xx-like tool error is terminal: store it, so the retry gets the same answer.
  cacheErrors: (error) => (error as { code?: string }).code === 'E_BAD_ARGS',
});
once.on('replay', (e) => console.log(`  ↺ tool call ${e.key} answered from the store`));

function runTool(call: ToolCall): Promise<unknown> {
  const tool = tools[call.name];
  if (tool === undefined) throw new Error(`unknown tool ${call.name}`);
  // The tool-call id is the key; name + args are fingerprinted so a reused id with other args fails.
  return once.execute(() => tool(call.args), { key: call.id, data: { name: call.name, args: call.args } });
}

const call: ToolCall = { id: 'call_abc123', name: 'send_email', args: { to: 'ada@example.com' } };
console.log('first delivery:', await runTool(call));
console.log('redelivered (agent retried the step):', await runTool(call));
try {
  await runTool({ ...call, args: { to: 'someone@else.com' } });
} catch (error) {
  if (isIdempotencyKeyReusedError(error)) console.log('same id, other arguments → refused:', error.code);
}
console.log(`emails actually sent: ${emailsSent}`);
db?.close();
