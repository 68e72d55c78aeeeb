// The agent's event log: every LLM call, tool call and decision is an event in the run's stream
// (SQLite by default, or memory). At the end the run is replayed to an earlier version (time travel)
// and a projection prints cost and calls per model.
// Run: npx tsx examples/event-store-agent.ts          (EVENT_STORE=memory for the in-memory store)
// The demo (`npm run demo`) can call `eventStoreSection()`.
import Database from 'better-sqlite3';
import {
  commandHandler,
  type Event,
  type EventStore,
  memoryEventStore,
  projection,
  startProjection,
} from '../src/event-store/index.js';
import { sqliteEventStore } from '../src/event-store/sqlite/index.js';

type AgentEvent =
  | Event<'ModelCalled', { model: string; promptTokens: number; costUsd: number; reply: string }>
  | Event<'ToolCalled', { tool: string; args: Record<string, unknown>; ok: boolean }>
  | Event<'Decided', { action: 'call-tool' | 'answer'; reason: string }>;

interface AgentState {
  readonly step: number;
  readonly spentUsd: number;
  readonly toolsUsed: readonly string[];
  readonly answered: boolean;
}

type AgentCommand =
  | { type: 'CallModel'; model: string; promptTokens: number; reply: string }
  | { type: 'CallTool'; tool: string; args: Record<string, unknown>; ok: boolean }
  | { type: 'Decide'; action: 'call-tool' | 'answer'; reason: string };

const PRICE_PER_1K: Record<string, number> = { 'big-model': 0.01, 'small-model': 0.0005 };

const agent = {
  initialState: (): AgentState => ({ step: 0, spentUsd: 0, toolsUsed: [], answered: false }),
  evolve: (s: AgentState, e: AgentEvent): AgentState => {
    switch (e.type) {
      case 'ModelCalled':
        return { ...s, step: s.step + 1, spentUsd: s.spentUsd + e.data.costUsd };
      case 'ToolCalled':
        return { ...s, toolsUsed: [...s.toolsUsed, e.data.tool] };
      case 'Decided':
        return e.data.action === 'answer' ? { ...s, answered: true } : s;
    }
  },
  decide: (c: AgentCommand, s: AgentState): AgentEvent[] => {
    if (s.answered) throw new Error('the run has already answered');
    switch (c.type) {
      case 'CallModel': {
        const costUsd = ((PRICE_PER_1K[c.model] ?? 0.01) * c.promptTokens) / 1000;
        return [
          { type: 'ModelCalled', data: { model: c.model, promptTokens: c.promptTokens, costUsd, reply: c.reply } },
        ];
      }
      case 'CallTool':
        return [{ type: 'ToolCalled', data: { tool: c.tool, args: c.args, ok: c.ok } }];
      case 'Decide':
        return [{ type: 'Decided', data: { action: c.action, reason: c.reason } }];
    }
  },
};

/** Runs a small scripted agent against `store` and prints the replay and the cost projection. */
export async function eventStoreSection(store: EventStore = memoryEventStore()): Promise<void> {
  const run = `agent-run-${Date.now().toString(36)}`;
  const handler = commandHandler({ store, decider: agent });
  const script: AgentCommand[] = [
    { type: 'CallModel', model: 'big-model', promptTokens: 1200, reply: 'I should search for flights.' },
    { type: 'Decide', action: 'call-tool', reason: 'needs live data' },
    { type: 'CallTool', tool: 'search-flights', args: { from: 'OSL', to: 'LIS' }, ok: true },
    { type: 'CallModel', model: 'small-model', promptTokens: 3000, reply: 'Two options found.' },
    { type: 'CallTool', tool: 'price-check', args: { flight: 'TP1234' }, ok: false },
    { type: 'CallModel', model: 'big-model', promptTokens: 4100, reply: 'TP1234 at 09:10 is the best.' },
    { type: 'Decide', action: 'answer', reason: 'enough information' },
  ];
  for (const command of script) await handler.handle(run, command, { metadata: { run } });

  const now = await store.aggregate(run, agent);
  const earlier = await store.aggregate(run, { ...agent, until: { version: 3 } });
  console.log(
    `stream ${run}: ${now.version} events, spent $${now.state.spentUsd.toFixed(4)}, answered: ${now.state.answered}`,
  );
  console.log(
    `replayed to version 3: step ${earlier.state.step}, tools ${JSON.stringify(earlier.state.toolsUsed)}, answered: ${earlier.state.answered}`,
  );

  const perModel = new Map<string, { calls: number; costUsd: number }>();
  const costs = projection<AgentEvent>({
    name: `cost-per-model-${run}`,
    handles: {
      ModelCalled: (e) => {
        if (e.stream !== run) return;
        const m = perModel.get(e.data.model) ?? { calls: 0, costUsd: 0 };
        perModel.set(e.data.model, { calls: m.calls + 1, costUsd: m.costUsd + e.data.costUsd });
      },
    },
  });
  const runner = startProjection({ store, projection: costs });
  await runner.caughtUp();
  await runner.close();
  console.log('| model | calls | cost (USD) |\n|---|---:|---:|');
  for (const [model, m] of perModel) console.log(`| ${model} | ${m.calls} | ${m.costUsd.toFixed(4)} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.EVENT_STORE === 'memory') await eventStoreSection(memoryEventStore());
  else {
    const db = new Database(':memory:');
    await eventStoreSection(sqliteEventStore(db));
    db.close();
  }
}
