// Tool failure rate too high → degraded answer. An agent calls a search tool; when more than half
// of the calls in the last 30 s failed (with at least 10 calls), the breaker opens and the agent
// answers without search results instead of waiting on a broken tool.
//
// Run: `npx tsx examples/breaker-tool-degraded.ts`

import { circuitBreaker, failureRate, isBrokenCircuitError } from '../src/breaker/index.js';

let calls = 0;
/** A flaky search tool: 70 % of calls fail. */
async function searchTool(query: string): Promise<string[]> {
  calls++;
  if (calls % 10 < 7) throw new Error('search backend error');
  return [`result for ${query}`];
}

export const searchBreaker = circuitBreaker({
  strategy: failureRate({ threshold: 0.5, minThroughput: 10, window: 30_000 }),
  slowCall: { duration: 5_000, rate: 0.8 }, // a tool that hangs is as bad as one that fails
  breakDuration: (openings) => Math.min(5_000 * 2 ** (openings - 1), 60_000), // escalate
  halfOpen: { probes: 2, probeTimeout: 5_000 },
  name: 'search-tool',
});

export async function answer(question: string): Promise<string> {
  try {
    const hits = await searchBreaker.execute(() => searchTool(question));
    return `answer to "${question}" using ${hits.length} search hit(s)`;
  } catch (error) {
    if (isBrokenCircuitError(error)) return `answer to "${question}" (search unavailable, from model knowledge only)`;
    return `answer to "${question}" (search failed this time)`;
  }
}

export async function main(): Promise<void> {
  searchBreaker.on('open', (e) => console.log(`search tool disabled for ${e.breakDuration} ms`));
  for (let i = 0; i < 14; i++) console.log(await answer(`q${i}`));
  console.log('snapshot:', JSON.stringify(searchBreaker.snapshot()).slice(0, 80), '…');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
