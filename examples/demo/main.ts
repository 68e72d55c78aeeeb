// `npm run demo`: breakwater protecting a small "agent" that talks to a flaky fake LLM API.
// Every section uses embedded defaults (in-memory / SQLite); nothing to set up.
// Flags: --sqlite (durable stores in .demo-data/ instead of memory).
import { messagingSection } from '../messaging-agent.js';
import { startFakeLlm } from './fake-llm.js';
import { outageSection } from './outage.js';
import { resilienceSection } from './resilience.js';
import { toolsSection } from './tools.js';
import { color } from './util.js';

const started = performance.now();
const llm = await startFakeLlm(Number(process.env.DEMO_SEED ?? 42));
try {
  await resilienceSection(llm);
  await outageSection(llm);
  await toolsSection({ sqlite: process.argv.includes('--sqlite') });
  await messagingSection();
} finally {
  await llm.close();
}
console.log(color.bold(`\ndemo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`));
