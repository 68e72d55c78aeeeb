import { defineConfig } from 'vitest/config';

// Package-level checks that need the built `dist/` (tree-shaking, size budgets, exports).
export default defineConfig({
  test: {
    include: ['test/pkg/**/*.test.ts'],
    testTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: '.reports/vitest-pkg.json' }]],
  },
});
