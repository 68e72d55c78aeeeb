/**
 * The allowed imports between feature modules: every module may import `core/` and itself, and
 * the modules listed here besides. This is the one list: the tree-shaking test and the import-graph
 * test read it, and docs/architecture.md shows it. Add an arrow only when a module is built on
 * another by design (the gateway on the rate limiter, hedging and streams; the registry builds
 * every policy kind from config).
 */
export const ARROWS: Readonly<Record<string, readonly string[]>> = {
  gateway: ['rate-limit', 'hedge', 'stream', 'breaker', 'retry', 'timeout', 'bulkhead'],
  registry: ['retry', 'timeout', 'breaker', 'bulkhead', 'fallback', 'rate-limit', 'hedge', 'stream', 'chaos'],
  messaging: ['idempotency'],
  // The saga's log is an event stream: it takes any EventStore (types only; no store code is bundled).
  saga: ['event-store'],
  // deciderSpec / projectionSpec test event-store deciders and projections (and compare events as the store does).
  testing: ['event-store'],
};

/** The modules `mod` may reach, directly or through others (itself excluded, core excluded). */
export function reachable(mod: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(ARROWS[mod] ?? [])];
  while (todo.length > 0) {
    const m = todo.pop() as string;
    if (seen.has(m) || m === mod) continue;
    seen.add(m);
    todo.push(...(ARROWS[m] ?? []));
  }
  return seen;
}
