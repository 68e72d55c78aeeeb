/**
 * Loads the subjects: breakwater's modules from `dist/` — the code users run — when a build at
 * least as new as `src/` exists (`npm run bench` builds first), else from `src/` through tsx (each
 * module optional, so the suite runs while modules are still being written); and the peer
 * libraries.
 */
import { createRequire } from 'node:module';
import * as cockatiel from 'cockatiel';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import { hasDist } from './bundle.js';

/** What the suite needs from any breakwater policy. */
export interface BwPolicy {
  execute<T>(fn: (ctx: { readonly signal: AbortSignal }) => T | PromiseLike<T>, options?: unknown): Promise<T>;
  readonly layers: readonly unknown[];
}

/** The breakwater API surface the suite uses; a module that is missing leaves its fields undefined. */
export interface Breakwater {
  Policy: { wrap(...policies: BwPolicy[]): BwPolicy };
  retry?: (options?: Record<string, unknown>) => BwPolicy;
  constant?: (ms: number) => unknown;
  timeout?: (options: number | Record<string, unknown>) => BwPolicy;
  circuitBreaker?: (options: Record<string, unknown>) => BwPolicy;
  consecutive?: (n: number) => unknown;
  failureRate?: (options: Record<string, unknown>) => unknown;
  bulkhead?: (options: Record<string, unknown>) => BwPolicy;
  fallback?: (options: Record<string, unknown>) => BwPolicy;
}

/** Minimal typing of opossum 10 (it ships no types). */
export interface OpossumBreaker {
  fire(...args: unknown[]): Promise<unknown>;
  open(): void;
  shutdown(): void;
  readonly opened: boolean;
}
export type OpossumCtor = new (
  action: (...args: any[]) => unknown,
  options?: Record<string, unknown>,
) => OpossumBreaker;

/** Every library under test. */
export interface Libs {
  readonly bw: Breakwater;
  /** Breakwater modules that failed to load, with the reason. */
  readonly missing: Record<string, string>;
  readonly cockatiel: typeof cockatiel;
  readonly Opossum: OpossumCtor;
  readonly pRetry: typeof pRetry;
  readonly pLimit: typeof pLimit;
  readonly PQueue: typeof PQueue;
}

const SRC = new URL('../../src/', import.meta.url);
const DIST = new URL('../../dist/', import.meta.url);
const fromDist = hasDist();

/** Where breakwater's modules are loaded from, for the report. */
export const benchSource: string = fromDist ? 'dist/ (the built package)' : 'src/ via tsx (no fresh dist/ build)';

function moduleUrl(sub: string): string {
  if (fromDist) return new URL(sub === '.' ? 'index.js' : `${sub}/index.js`, DIST).href;
  return new URL(sub === '.' ? 'index.ts' : `${sub}/index.ts`, SRC).href;
}

async function optional(
  sub: string,
  names: readonly string[],
  into: Record<string, unknown>,
  missing: Record<string, string>,
): Promise<void> {
  try {
    // A computed specifier: modules that do not exist yet neither break the run nor the typecheck.
    const mod = (await import(moduleUrl(sub))) as Record<string, unknown>;
    for (const n of names) if (typeof mod[n] === 'function') into[n] = mod[n];
  } catch (error) {
    missing[sub] = (error as Error).message.split('\n')[0] ?? String(error);
  }
}

/** Imports every subject library. */
export async function loadLibs(): Promise<Libs> {
  const core = (await import(moduleUrl('.'))) as { Policy: Breakwater['Policy'] };
  const bw: Record<string, unknown> = { Policy: core.Policy };
  const missing: Record<string, string> = {};
  await optional('retry', ['retry', 'constant'], bw, missing);
  await optional('timeout', ['timeout'], bw, missing);
  await optional('breaker', ['circuitBreaker', 'consecutive', 'failureRate'], bw, missing);
  await optional('bulkhead', ['bulkhead'], bw, missing);
  await optional('fallback', ['fallback'], bw, missing);
  const require = createRequire(import.meta.url);
  return {
    bw: bw as unknown as Breakwater,
    missing,
    cockatiel,
    Opossum: require('opossum') as OpossumCtor,
    pRetry,
    pLimit,
    PQueue,
  };
}
