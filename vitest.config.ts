import { defineConfig } from 'vitest/config';

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
    globalSetup: ['test/support/servers-setup.ts'],
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/index.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: { lines: 90, statements: 90, branches: 85 },
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
