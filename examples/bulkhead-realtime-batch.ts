// Separate bulkheads for real-time and batch agent work. Both share one model API quota; a batch
// job of 50 summaries must not starve the chat users. Batch work gets 2 slots and a long queue;
// real-time work gets its own 4 slots, a short queue and a 2 s queue timeout (a user would rather
// see "busy, try again" than wait).
//
// Run: `npx tsx examples/bulkhead-realtime-batch.ts`

import { bulkhead, isBulkheadRejectedError } from '../src/bulkhead/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function callModel(prompt: string, ms: number): Promise<string> {
  await sleep(ms);
  return `reply to ${prompt}`;
}

export const realtime = bulkhead({ limit: 4, queue: 8, queueTimeout: 2_000, name: 'realtime' });
export const batch = bulkhead({ limit: 2, queue: 1_000, name: 'batch' });

export async function main(): Promise<void> {
  batch.on('reject', (e) => console.log(`batch rejected: ${e.error.reason}`));
  const jobs = Array.from({ length: 50 }, (_, i) => batch.execute(() => callModel(`doc ${i}`, 20)));
  console.log(`batch: ${batch.active} running, ${batch.queued} queued`);
  const t = Date.now();
  const chat = await realtime.execute(() => callModel('hello from a user', 10));
  console.log(`${chat} after ${Date.now() - t} ms (not behind the batch queue)`);
  const user = new AbortController();
  const pending = batch.execute(() => callModel('cancelled doc', 20), { signal: user.signal });
  user.abort(new Error('user closed the tab'));
  await pending.catch((e: Error) => console.log(`queued call left at once: ${e.message}`));
  try {
    await Promise.all(jobs);
  } catch (e) {
    if (!isBulkheadRejectedError(e)) throw e;
  }
  console.log(`batch done: ${batch.active} running, ${batch.queued} queued`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
