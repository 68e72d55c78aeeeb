/**
 * Scenario 11, child side: build a subject with 60-second timeouts, run 1,000 sequential and then
 * 1,000 concurrent calls, and report how many ref'd timers are still pending
 * (`process.getActiveResourcesInfo()` lists only timers that hold the process open). The parent
 * then measures how long the child takes to exit after it printed its last line.
 */
import type { Libs } from '../lib/libs.js';
import { CATALOG, type Kind, setTimeoutMs } from './catalog.js';

/** The subjects of scenario 11: row → policy kind. */
export const TIMER_ROWS: Record<string, { title: string; kind: Kind }> = {
  '11a': { title: 'timeout(60 s) cooperative', kind: 'timeout-cooperative' },
  '11b': { title: 'timeout(60 s) aggressive', kind: 'timeout-aggressive' },
  '11c': { title: '4-layer pipeline with timeout(60 s)', kind: 'pipeline' },
};

const pendingTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Child side; `kind === 'bare'` runs the calls with no policy. */
export async function childTimers(libs: Libs, kind: Kind | 'bare', lib: string): Promise<unknown> {
  setTimeoutMs(60_000);
  const before = pendingTimers();
  let run: () => Promise<unknown> = async () => 1;
  if (kind !== 'bare') {
    const inst = CATALOG[kind][lib]?.(libs, 'ignore');
    if (inst === undefined) return { unavailable: true };
    run = inst.run;
  }
  // Rejections (a full bulkhead, then an open breaker in the pipeline) are expected and ignored.
  const quiet = (): Promise<unknown> => run().catch(() => undefined);
  for (let i = 0; i < 1000; i++) await quiet();
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 1000; i++) all.push(quiet());
  await Promise.all(all);
  return { timers: pendingTimers() - before };
}
