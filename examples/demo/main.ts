// `npm run demo`: breakwater protecting a small "agent" that talks to a flaky fake LLM API.
// Every section uses embedded defaults (in-memory / SQLite); nothing to set up.
// Flags: --sqlite (idempotency records in SQLite), --memory (agent events in memory, not SQLite).
import Database from 'better-sqlite3';
import { memoryEventStore } from '../../src/event-store/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import { eventStoreSection } from '../event-store-agent.js';
import { messagingSection } from '../messaging-agent.js';
import { sagaSection } from '../saga-trip.js';
import { startFakeLlm } from './fake-llm.js';
import { gatewaySection } from './gateway.js';
import { outageSection } from './outage.js';
import { registrySection } from './registry.js';
import { resilienceSection } from './resilience.js';
import { telemetrySection } from './telemetry.js';
import { toolsSection } from './tools.js';
import { color, heading } from './util.js';

const started = performance.now();
const llm = await startFakeLlm(Number(process.env.DEMO_SEED ?? 42));
try {
  await resilienceSection(llm);
  await outageSection(llm);
  await gatewaySection(Number(process.env.DEMO_SEED ?? 42));
  await registrySection(llm);
  await telemetrySection(llm);
  await toolsSection({ sqlite: process.argv.includes('--sqlite') });
  await messagingSection();
  heading('saga: three trip bookings, a failed step compensated, a crash resumed');
  await sagaSection(Number(process.env.DEMO_SEED ?? 42));
  // The agent's log as events: SQLite by default (.demo-data/events.db), memory with --memory.
  const memory = process.argv.includes('--memory');
  heading(`event store: the agent's run as events (${memory ? 'memory' : 'SQLite .demo-data/events.db'})`);
  if (memory) await eventStoreSection(memoryEventStore());
  else {
    const { mkdirSync } = await import('node:fs');
    mkdirSync('.demo-data', { recursive: true });
    const db = new Database('.demo-data/events.db');
    db.pragma('journal_mode = WAL');
    await eventStoreSection(sqliteEventStore(db));
    db.close();
  }
} finally {
  await llm.close();
}
console.log(color.bold(`\ndemo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`));
