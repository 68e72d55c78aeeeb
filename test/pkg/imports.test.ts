// The source import graph: every file under src/<module>/ imports only core/, its own module and the
// modules test/pkg/arrows.ts allows it (e.g. `retry` importing `breaker` fails here). Packages (the
// database and broker clients) and Node built-ins only in adapter subpaths (src/<module>/<adapter>/),
// and only packages declared as peer dependencies. This reads the sources, so it needs no build;
// the tree-shaking test checks the same rule on the bundles users get.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { ARROWS } from './arrows.js';
import { pkg, ROOT } from './support.js';

const SRC = path.join(ROOT, 'src');
const peers = Object.keys((pkg as { peerDependencies?: Record<string, string> }).peerDependencies ?? {});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** `src/retry/retry.ts` → `retry`; `src/index.ts` → `core` (the root entry re-exports core). */
function moduleOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? 'core' : (rel[0] as string);
}

/** True for a file in an adapter subpath (`src/idempotency/postgres/…`). */
const inAdapter = (file: string): boolean => path.relative(SRC, file).split(path.sep).length > 2;

/** What `file` (with contents `text`) imports that the rules forbid, one line each. */
function violations(file: string, text: string): string[] {
  const own = moduleOf(file);
  const allowed = new Set(['core', own, ...(ARROWS[own] ?? [])]);
  const out: string[] = [];
  const where = path.relative(ROOT, file);
  // Static imports, re-exports and dynamic `import()`s; comments (JSDoc examples) are not imports.
  for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(SRC + path.sep)) {
        out.push(`${where} imports ${spec}, outside src/`);
        continue;
      }
      const mod = moduleOf(target);
      if (!allowed.has(mod)) {
        out.push(
          `${where} (module \`${own}\`) imports ${spec} (module \`${mod}\`): not an arrow of test/pkg/arrows.ts`,
        );
      }
    } else if (spec.startsWith('node:') || !peers.some((p) => spec === p || spec.startsWith(`${p}/`))) {
      if (spec.startsWith('node:') && inAdapter(file)) continue;
      out.push(`${where} imports ${spec}: only adapter subpaths may import Node built-ins, and only peer dependencies`);
    } else if (!inAdapter(file)) {
      out.push(`${where} imports ${spec}: a client package belongs in an adapter subpath (src/${own}/<adapter>/)`);
    }
  }
  return out;
}

const files = walk(SRC);

describe('source import graph', () => {
  test('the walk finds every module, and the rule rejects a forbidden arrow', () => {
    expect(files.length).toBeGreaterThan(50);
    const mods = new Set(files.map(moduleOf));
    for (const m of ['core', 'retry', 'breaker', 'timeout', 'bulkhead']) expect(mods).toContain(m);
    // `retry` importing `breaker`, a package outside an adapter, a Node built-in: each is caught.
    const retry = path.join(SRC, 'retry/x.ts');
    expect(violations(retry, "import { circuitBreaker } from '../breaker/breaker.js';")).toHaveLength(1);
    expect(violations(retry, "export * from '../breaker/index.js';")).toHaveLength(1);
    expect(violations(retry, "const m = await import('../bulkhead/bulkhead.js');")).toHaveLength(1);
    expect(violations(retry, "import pg from 'pg';")).toHaveLength(1);
    expect(violations(retry, "import { readFileSync } from 'node:fs';")).toHaveLength(1);
    expect(violations(path.join(SRC, 'core/x.ts'), "import { retry } from '../retry/retry.js';")).toHaveLength(1);
    // What is allowed: core, its own module, a listed arrow, a peer in an adapter subpath.
    expect(violations(retry, "import { Policy } from '../core/policy.js';\nimport './backoff.js';")).toEqual([]);
    expect(violations(path.join(SRC, 'messaging/x.ts'), "import '../idempotency/index.js';")).toEqual([]);
    expect(violations(path.join(SRC, 'idempotency/postgres/x.ts'), "import pg from 'pg';")).toEqual([]);
    // A JSDoc example is not an import.
    expect(violations(retry, "/** ```ts\n * import { bulkhead } from 'breakwater/bulkhead';\n */")).toEqual([]);
  });

  test('every file in src/ imports only core, itself and its allowed arrows', () => {
    expect(files.flatMap((f) => violations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });
});
