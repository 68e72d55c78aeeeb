import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

// The package.json `exports` map is the one list of entry points; tsup and typedoc derive theirs.
// Entries that point at a plain file (package.json, the registry's JSON Schema) are not code.
const pkg = JSON.parse(readFileSync('./package.json', 'utf8')) as { exports: Record<string, unknown> };
const entry: Record<string, string> = {};
for (const sub of Object.keys(pkg.exports)) {
  if (typeof pkg.exports[sub] === 'string') continue;
  const name = sub === '.' ? 'index' : `${sub.slice(2)}/index`;
  entry[name] = `src/${name}.ts`;
}

export default defineConfig({
  entry,
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  splitting: true,
  treeshake: true,
  // Node built-ins stay imports with their `node:` prefix (Node-only subpaths such as
  // breakwater/registry/file use them; Deno and Bun need the prefix, every supported Node has it).
  external: ['pg', 'ioredis', 'better-sqlite3', /^@nats-io\//, /^@opentelemetry\//, /^node:/],
  removeNodeProtocol: false,
});
