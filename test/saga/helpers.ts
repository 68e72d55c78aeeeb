// Shared test helpers: a saga whose steps record what they did, with failures injected by name.

import { type CallContext, throwIfAborted } from '../../src/core/context.js';
import type { Policy } from '../../src/core/policy.js';
import { BaseLayer, type Chain, invoke, Pipeline } from '../../src/core/policy.js';
import { defineSaga, parallel, type Saga, type SagaStep } from '../../src/saga/index.js';

export interface Recorder {
  readonly calls: string[];
  readonly keys: string[];
  /** Step names that throw from `run` (forever, or the given number of times). */
  readonly failRun: Map<string, number>;
  /** Step names whose compensation throws (forever, or the given number of times). */
  readonly failCompensate: Map<string, number>;
}

export function recorder(): Recorder {
  return { calls: [], keys: [], failRun: new Map(), failCompensate: new Map() };
}

function consume(m: Map<string, number>, name: string): boolean {
  const n = m.get(name);
  if (n === undefined || n <= 0) return false;
  m.set(name, n - 1);
  return true;
}

/** A step that records `run:<name>` / `undo:<name>` and fails when told to. */
export function recStep(rec: Recorder, name: string, extra: Partial<SagaStep> = {}): SagaStep {
  return {
    name,
    run: async (input: unknown, ctx) => {
      rec.calls.push(`run:${name}`);
      rec.keys.push(ctx.key);
      await Promise.resolve();
      if (consume(rec.failRun, name)) throw new Error(`${name} failed`);
      return { step: name, input, attempt: ctx.attempt };
    },
    compensate: async (_input: unknown, result: unknown) => {
      rec.calls.push(`undo:${name}`);
      await Promise.resolve();
      if (consume(rec.failCompensate, name)) throw new Error(`undo ${name} failed`);
      if ((result as { step?: string } | undefined)?.step !== name) throw new Error('wrong result');
    },
    ...extra,
  };
}

/** a → (b ‖ c) → d → e */
export function tripSaga(rec: Recorder, extra: Partial<Record<string, Partial<SagaStep>>> = {}): Saga {
  const s = (n: string) => recStep(rec, n, extra[n]);
  return defineSaga({ name: 'trip', steps: [s('a'), parallel([s('b'), s('c')]), s('d'), s('e')] });
}

class TestRetry extends BaseLayer<{ type: 'retry'; kind: string; name: string | undefined }> {
  readonly #max: number;
  constructor(max: number) {
    super('retry', undefined);
    this.#max = max;
  }
  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    for (let i = 0; ; i++) {
      try {
        return await invoke(ctx, inner);
      } catch (e) {
        if (i >= this.#max) throw e;
        throwIfAborted(ctx);
        ctx.attempt++;
      }
    }
  }
}

/** A minimal retry policy (no delay), so these tests do not depend on `breakwater/retry`. */
export function testRetry(maxRetries: number): Policy {
  return new Pipeline([new TestRetry(maxRetries)]) as Policy;
}
