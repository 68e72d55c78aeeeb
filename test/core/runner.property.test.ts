import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CallContext } from '../../src/core/context.js';
import { BaseLayer, type Chain, FAILURE_ONLY, FAST, invoke, Pipeline, SKIP, STATEFUL } from '../../src/core/policy.js';

/**
 * The fast-path protocol (`enter` / `exit`, one `.then` per run of fast layers) against a model:
 * the plain nested semantics where every layer wraps the rest of the chain with its own `await`.
 */

type Mode = 'pass' | 'map' | 'throw' | 'async';
interface Spec {
  /** fast: enter/exit; skip: has enter but declines; run: no fast path at all. */
  readonly kind: 'fast' | 'skip' | 'run';
  readonly stateful: boolean;
  readonly failureOnly: boolean;
  readonly enterThrows: boolean;
  readonly mode: Mode;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const spec: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom('fast', 'fast', 'fast', 'skip', 'run'),
  stateful: fc.boolean(),
  failureOnly: fc.boolean(),
  enterThrows: fc.nat(5).map((n) => n === 0),
  mode: fc.constantFrom<Mode>('pass', 'map', 'throw', 'async'),
});

/** What a layer does with the outcome of the rest of the chain. */
function transform(i: number, mode: Mode, o: Outcome): Outcome | Promise<Outcome> {
  if (mode === 'pass') return o;
  if (mode === 'map')
    return o.ok ? { ok: true, value: `${String(o.value)}>m${i}` } : { ok: true, value: `rescued${i}` };
  if (mode === 'throw') return { ok: false, error: `e${i}` };
  return Promise.resolve().then(() => (o.ok ? { ok: true, value: `${String(o.value)}>a${i}` } : o));
}

/** The reference: each layer awaits the rest and transforms its outcome. */
async function model(specs: readonly Spec[], i: number, fnOutcome: Outcome, trace: string[]): Promise<Outcome> {
  if (i === specs.length) {
    trace.push('fn');
    return fnOutcome;
  }
  const s = specs[i] as Spec;
  if (s.kind === 'fast' && s.enterThrows) {
    trace.push(`enter${i}!`);
    return { ok: false, error: `enter${i}` };
  }
  trace.push(s.kind === 'fast' ? `enter${i}` : `run${i}`);
  const inner = await model(specs, i + 1, fnOutcome, trace);
  if (s.kind === 'fast' && s.failureOnly && inner.ok) return inner;
  trace.push(s.kind === 'fast' ? `exit${i}${s.stateful ? `:t${i}` : ''}` : `ran${i}`);
  return transform(i, s.kind === 'fast' && s.failureOnly ? (s.mode === 'map' ? 'pass' : s.mode) : s.mode, inner);
}

class Synthetic extends BaseLayer<never> {
  readonly #i: number;
  readonly #s: Spec;
  readonly #trace: string[];
  declare enter?: (ctx: CallContext) => unknown;
  declare exit?: (ctx: CallContext, token: unknown, ok: boolean, value: unknown) => unknown;

  constructor(i: number, s: Spec, trace: string[]) {
    super('synthetic', String(i));
    this.#i = i;
    this.#s = s;
    this.#trace = trace;
    if (s.kind === 'run') return;
    this.enter = () => {
      if (s.kind === 'skip') return SKIP;
      if (s.enterThrows) {
        trace.push(`enter${i}!`);
        throw `enter${i}`;
      }
      trace.push(`enter${i}`);
      return `t${i}`;
    };
    this.exit = (_ctx, token, ok, value) => {
      // A failure-only exit passes successes through untouched (and may not be called for them).
      if (ok && s.failureOnly) return value;
      trace.push(`exit${i}${s.stateful ? `:${String(token)}` : ''}`);
      const mode = s.failureOnly && s.mode === 'map' ? 'pass' : s.mode;
      const r = transform(i, mode, ok ? { ok: true, value } : { ok: false, error: value });
      const unwrap = (o: Outcome) => {
        if (o.ok) return o.value;
        throw o.error;
      };
      return r instanceof Promise ? r.then(unwrap) : unwrap(r);
    };
  }

  get flags(): number {
    const s = this.#s;
    return s.kind === 'run' ? 0 : FAST | (s.stateful ? STATEFUL : 0) | (s.failureOnly ? FAILURE_ONLY : 0);
  }

  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    this.#trace.push(`run${this.#i}`);
    let o: Outcome;
    try {
      o = { ok: true, value: await invoke(ctx, inner) };
    } catch (error) {
      o = { ok: false, error };
    }
    this.#trace.push(`ran${this.#i}`);
    const r = await transform(this.#i, this.#s.mode, o);
    if (r.ok) return r.value;
    throw r.error;
  }
}

describe('fast-path runner (model-based)', () => {
  it('runs enter/exit hooks like nested awaits: same trace, tokens, outcome', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spec, { maxLength: 6 }), fc.boolean(), fc.boolean(), async (specs, fnOk, fnSync) => {
        const expected: string[] = [];
        const want = await model(specs, 0, fnOk ? { ok: true, value: 'v' } : { ok: false, error: 'boom' }, expected);
        const trace: string[] = [];
        const policy = new Pipeline(specs.map((s, i) => new Synthetic(i, s, trace)));
        const fn = () => {
          trace.push('fn');
          if (fnSync) {
            if (fnOk) return 'v';
            throw 'boom';
          }
          return fnOk ? Promise.resolve('v') : Promise.reject('boom');
        };
        const got = await policy.executeOutcome(fn);
        expect(trace).toEqual(expected);
        expect(got.ok ? { ok: true, value: got.value } : { ok: false, error: got.error }).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });
});
