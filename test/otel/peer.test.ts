// `@opentelemetry/api` is an optional peer: only `breakwater/otel` may import it, and the module
// must keep its promises when no context manager is registered.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { instrument } from '../../src/otel/index.js';
import { VERSION } from '../../src/otel/names.js';
import { constant, retry } from '../../src/retry/index.js';
import { childrenOf, only, sdk } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = `${dir}/${name}`;
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the optional peer', () => {
  it('no source file outside src/otel imports @opentelemetry', () => {
    const all = files(`${ROOT}src`);
    const importers = all.filter((f) => /from '@opentelemetry\//.test(readFileSync(f, 'utf8')));
    expect(importers.length).toBeGreaterThan(0); // the scan sees the otel module's own imports
    expect(importers.filter((f) => !f.startsWith(`${ROOT}src/otel/`))).toEqual([]);
  });

  it('the instrumentation scope version is the package version', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});

describe('without a context manager', () => {
  it('attempt spans are still children of their call span (the parent is passed, not looked up)', async () => {
    const o = sdk();
    const policy = retry({ maxRetries: 1, backoff: constant(0) });
    instrument(policy, { tracerProvider: o.tracerProvider });
    let n = 0;
    await policy.execute(() => (n++ === 0 ? Promise.reject(new Error('x')) : 'ok'));
    const spans = o.spans();
    const call = only(spans, 'breakwater retry');
    expect(childrenOf(spans, call).map((s) => s.attributes['breakwater.attempt'])).toEqual([1, 2]);
    // Per-call events need the active context: without a manager they are not attached to the span.
    expect(call.events).toEqual([]);
  });
});
