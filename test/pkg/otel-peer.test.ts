// `@opentelemetry/api` is an optional peer dependency that only `breakwater/otel` imports. Simulate a
// user who has not installed it: bundling any other entry point from dist/ must not need it, and
// bundling `breakwater/otel` must (so the simulation is real).
import { build, type Plugin } from 'esbuild';
import { beforeAll, describe, expect, test } from 'vitest';
import { hasDist, ROOT, specifier, subpaths } from './support.js';

beforeAll(() => {
  if (!hasDist()) throw new Error('dist/ is missing: run `npx tsup` (or `npm run build`) before the package checks');
});

const absent: Plugin = {
  name: 'opentelemetry-absent',
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\// }, (args) => ({
      errors: [{ text: `${args.path} is not installed` }],
    }));
  },
};

async function bundleWithoutOtel(sub: string): Promise<void> {
  await build({
    stdin: { contents: `export * from '${specifier(sub)}';`, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    // The other optional peers are not what this test is about.
    external: ['pg', 'ioredis', 'better-sqlite3', '@nats-io/*'],
    logLevel: 'silent',
    plugins: [absent],
  });
}

describe('without @opentelemetry/api installed', () => {
  test.each(subpaths.filter((s) => s !== './otel'))('%s bundles', async (sub) => {
    await expect(bundleWithoutOtel(sub)).resolves.toBeUndefined();
  });

  test('breakwater/otel needs it (the simulation is real)', async () => {
    await expect(bundleWithoutOtel('./otel')).rejects.toThrow(/@opentelemetry\/api is not installed/);
  });
});
