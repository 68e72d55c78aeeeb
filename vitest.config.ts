import { defineConfig } from 'vitest/config';
import { probeServers, type Servers } from './test/support/probe.js';

// Which servers answer (PG_URL, REDIS_URL, NATS_URL; 127.0.0.1 on the standard ports by default):
// probed once per run, reported once, and handed to the test files (test/support/servers.ts reads it
// with inject). Under CI=true a missing server fails the run here. Without one, its tests are skipped
// and the coverage thresholds (which count the adapters' code) are not enforced.
// Vitest loads this file once more for each project: the probe (and its messages) happens once.
const once = globalThis as { breakwaterServers?: Promise<Servers> };
once.breakwaterServers ??= probeServers().then((found) => {
  if (!(found.postgres && found.redis && found.nats)) {
    console.warn('[breakwater tests] coverage thresholds are not enforced while a server is missing');
  }
  return found;
});
const servers = await once.breakwaterServers;
const everyServer = servers.postgres && servers.redis && servers.nats;

// Tests that use PostgreSQL run in their own project, one file at a time and after the rest: the
// event store's gap-safe reads wait for every transaction open anywhere in the cluster (by design),
// so a test that holds a transaction open must not run beside one that asserts what readAll sees.
const POSTGRES = [
  'test/event-store/event-store.model.test.ts',
  'test/event-store/postgres.test.ts',
  'test/event-store/postgres-projections.test.ts',
  'test/event-store/postgres-outage.test.ts',
  'test/idempotency/postgres-store.test.ts',
  'test/idempotency/multi-process.test.ts',
  'test/messaging/postgres-aggregator-store.test.ts',
  'test/cross/aggregator-race.test.ts',
  'test/messaging/nats/fleet.test.ts',
  'test/saga/crash.test.ts',
  'test/saga/postgres-outage.test.ts',
  'test/saga/saga-index.test.ts',
];

export default defineConfig({
  test: {
    restoreMocks: true,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    setupFiles: ['test/setup.ts'],
    provide: { servers },
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/index.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: everyServer ? { lines: 90, statements: 90, branches: 85 } : {},
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/pkg/**', '**/node_modules/**', ...POSTGRES],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'postgres', include: POSTGRES, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
