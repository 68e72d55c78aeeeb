import { defineConfig } from 'vitest/config';

// Package-level checks that need the built `dist/`: exports agree, tree-shaking, whole-entry bundles,
// and the per-import gzip budgets (test/pkg/size.test.ts; `npm run size` runs just those).
export default defineConfig({
  test: {
    include: ['test/pkg/**/*.test.ts'],
    testTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: '.reports/vitest-pkg.json' }]],
  },
});
