import { describe, expect, test } from 'vitest';
import { type CircuitBreaker, isBrokenCircuitError } from '../../src/breaker/index.js';
import { isBulkheadRejectedError } from '../../src/bulkhead/index.js';
import type { CallContext, Context } from '../../src/core/context.js';
import type { PolicyEventBase } from '../../src/core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline } from '../../src/core/policy.js';
import { Policy } from '../../src/index.js';
import { isRateLimitedError } from '../../src/rate-limit/index.js';
import { algorithm, MemoryStore } from '../../src/rate-limit/store.js';
import {
  type ConfigAppliedEvent,
  type ConfigRejectedEvent,
  isUnknownTargetError,
  type LayerConfig,
  type PolicyFactory,
  type RegistryConfig,
  type RegistryEvent,
  registry,
  UnknownTargetError,
} from '../../src/registry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { deferred } from '../support/deferred.js';

const boom = (): never => {
  throw new Error('boom');
};

/** Runs `fn` through `target` and counts the attempts it made. */
async function attempts(mesh: { get(t: string): Policy }, target: string, fn: (ctx: Context) => unknown = boom) {
  let n = 0;
  const r = await mesh.get(target).executeOutcome((ctx) => {
    n++;
    return fn(ctx);
  });
  return { n, r };
}

// The breaker is outermost: each call (with its retries) is one outcome, and an open circuit
// rejects at once (a retry outside it would wait out the break, as told by `retryAfter`).
const base = (maxRetries: number): RegistryConfig => ({
  policies: {
    llm: [
      { breaker: { strategy: { type: 'consecutive', failures: 2 }, breakDuration: 10_000 } },
      { retry: { maxRetries, backoff: 0 } },
    ],
  },
  targets: { openai: 'llm', search: { retry: { maxRetries: 1, backoff: 0 } } },
});

const llmOf = (c: RegistryConfig): LayerConfig[] => (c.policies as Record<string, LayerConfig[]>).llm as LayerConfig[];

describe('get: one stable policy per target', () => {
  test('the same object across updates, running the pipeline in force', async () => {
    const mesh = registry({ config: base(1) });
    const p = mesh.get('openai');
    expect(mesh.get('openai')).toBe(p);
    expect(p.target).toBe('openai');
    expect(p.layers.map((l) => l.kind)).toEqual(['breaker', 'retry']);
    expect((await attempts(mesh, 'openai')).n).toBe(2);
    expect(mesh.update(base(3))).toMatchObject({ ok: true, version: 2 });
    expect(mesh.get('openai')).toBe(p);
    expect((await attempts(mesh, 'openai')).n).toBe(4); // the new retry; the kept breaker's second failure opens it
    await expect(p.execute(() => 'ok')).rejects.toSatisfy(isBrokenCircuitError);
    await expect(p.bind((a: number, b: number) => a + b)(1, 2)).rejects.toSatisfy(isBrokenCircuitError);
    expect(await mesh.get('search').bind((a: number, b: number) => a + b)(1, 2)).toBe(3);
    expect(await mesh.get('search').executeOutcome(() => 7)).toEqual({ ok: true, value: 7 });
  });

  test('calls in flight finish on the old pipeline; calls started after the update use the new one', async () => {
    const mesh = registry({ config: { targets: { t: { retry: { maxRetries: 1, backoff: 0 } } } } });
    const gate = deferred();
    let oldAttempts = 0;
    const inFlight = mesh.get('t').executeOutcome(async () => {
      oldAttempts++;
      await gate.promise;
      throw new Error('down');
    });
    expect(mesh.update({ targets: { t: { retry: { maxRetries: 4, backoff: 0 } } } }).ok).toBe(true);
    const fresh = await attempts(mesh, 't');
    expect(fresh.n).toBe(5);
    gate.resolve();
    expect((await inFlight).ok).toBe(false);
    expect(oldAttempts).toBe(2);
  });

  test('a bound function follows updates', async () => {
    const mesh = registry({ config: { targets: { t: { fallback: { value: 'v1' } } } } });
    const call = mesh.get('t').bind(boom);
    expect(await call()).toBe('v1');
    mesh.update({ targets: { t: { fallback: { value: 'v2' } } } });
    expect(await call()).toBe('v2');
  });

  test('an unknown target is a typed error naming it and the known ones', () => {
    const mesh = registry({ config: base(1) });
    expect(() => mesh.get('opneai')).toThrow(UnknownTargetError);
    expect(() => mesh.get('opneai')).toThrow('"opneai" is not a target of the registry config; did you mean "openai"?');
    try {
      mesh.get('zzz');
    } catch (e) {
      expect(isUnknownTargetError(e)).toBe(true);
      expect((e as UnknownTargetError).code).toBe('ERR_UNKNOWN_TARGET');
      expect((e as UnknownTargetError).target).toBe('zzz');
      expect((e as UnknownTargetError).known).toEqual(['openai', 'search']);
      expect((e as Error).message).toBe('"zzz" is not a target of the registry config (targets: openai, search)');
    }
    expect(mesh.has('openai')).toBe(true);
    expect(mesh.has('zzz')).toBe(false);
    expect(() => mesh.describe('zzz')).toThrow(UnknownTargetError);
  });

  test('a removed target rejects its calls; added back, the same object works again', async () => {
    const mesh = registry({ config: base(1) });
    const p = mesh.get('search');
    mesh.update({ targets: { openai: { retry: 1 } } });
    expect(mesh.targets).toEqual(['openai']);
    const r = await p.executeOutcome(() => 1);
    expect(r.ok).toBe(false);
    expect(isUnknownTargetError((r as { error: unknown }).error)).toBe(true);
    expect(String((r as { error: Error }).error.message)).toContain('was removed');
    expect(p.layers).toEqual([]);
    expect(() => mesh.get('search')).toThrow(UnknownTargetError);
    mesh.update(base(1));
    expect(mesh.get('search')).toBe(p);
    expect(await p.execute(() => 1)).toBe(1);
  });

  test('describe() shows the layers in force with complete options and the built policies', () => {
    const mesh = registry({
      config: {
        defaults: { retry: { maxRetries: 2 } },
        policies: { p: [{ timeout: '1.5s' }, { retry: {} }] },
        targets: { t: { policy: 'p', retry: { backoff: 10 } } },
      },
    });
    const d = mesh.describe('t');
    expect(d.map(({ kind, name, options, path }) => ({ kind, name, options, path }))).toEqual([
      {
        kind: 'timeout',
        name: undefined,
        options: { after: 1500, strategy: 'cooperative' },
        path: 'policies.p[0].timeout',
      },
      { kind: 'retry', name: undefined, options: { maxRetries: 2, backoff: 10 }, path: 'policies.p[1].retry' },
    ]);
    expect(d[0]?.policy.layers[0]?.kind).toBe('timeout');
    expect(mesh.config).toEqual({
      defaults: { retry: { maxRetries: 2 } },
      policies: { p: [{ timeout: '1.5s' }, { retry: {} }] },
      targets: { t: { policy: 'p', retry: { backoff: 10 } } },
    });
  });

  test('the registry keeps its own copy of the config; the options it hands out are frozen', () => {
    const config = { targets: { t: { retry: { maxRetries: 1 } } } };
    const mesh = registry({ config });
    config.targets.t.retry.maxRetries = 9;
    expect(mesh.describe('t')[0]?.options.maxRetries).toBe(1);
    expect(mesh.config).toEqual({ targets: { t: { retry: { maxRetries: 1 } } } });
    expect(Object.isFrozen(mesh.describe('t')[0]?.options)).toBe(true);
    // Unchanged settings compare equal to the copy, whatever the caller did to its object.
    expect(mesh.update({ targets: { t: { retry: { maxRetries: 1 } } } })).toMatchObject({ ok: true, changes: [] });
  });

  test('a target with an empty pipeline runs the function as is', async () => {
    const mesh = registry({ config: { targets: { t: [] } } });
    expect(await mesh.get('t').execute(() => 5)).toBe(5);
  });
});

describe('state carries over for unchanged settings', () => {
  const breakerOf = (mesh: ReturnType<typeof registry>, t: string) =>
    mesh.describe(t).find((l) => l.kind === 'breaker')?.policy as CircuitBreaker;

  test('an open breaker stays open across an unrelated edit, and across an edit of another layer of its pipeline', async () => {
    const clock = virtualClock();
    const mesh = registry({ config: base(0), clock });
    await attempts(mesh, 'openai');
    await attempts(mesh, 'openai');
    const breaker = breakerOf(mesh, 'openai');
    expect(breaker.state).toBe('open');
    // Another target changes.
    mesh.update({ ...base(0), targets: { openai: 'llm', search: { retry: { maxRetries: 5, backoff: 0 } } } });
    expect(breakerOf(mesh, 'openai')).toBe(breaker);
    expect((await attempts(mesh, 'openai', () => 'ok')).r.ok).toBe(false);
    // The retry inside the breaker changes; the breaker keeps its state.
    const r = mesh.update(base(3));
    expect(r.ok && r.changes).toEqual([
      {
        target: 'openai',
        kind: 'retry',
        name: undefined,
        change: 'rebuilt',
        options: [{ path: 'maxRetries', before: 0, after: 3 }],
      },
      {
        target: 'search',
        kind: 'retry',
        name: undefined,
        change: 'rebuilt',
        options: [{ path: 'maxRetries', before: 5, after: 1 }],
      },
    ]);
    expect(breakerOf(mesh, 'openai').state).toBe('open');
    // A layer inserted in front does not move the breaker's identity either.
    const cfg = base(3);
    mesh.update({ ...cfg, policies: { llm: [{ bulkhead: 10 }, ...llmOf(cfg)] } });
    expect(breakerOf(mesh, 'openai')).toBe(breaker);
    const { n, r: outcome } = await attempts(mesh, 'openai', () => 'ok');
    expect(n).toBe(0);
    expect(isBrokenCircuitError((outcome as { error: unknown }).error)).toBe(true);
  });

  test('a breaker whose settings change starts fresh (closed)', async () => {
    const mesh = registry({ config: base(0) });
    await attempts(mesh, 'openai');
    await attempts(mesh, 'openai');
    expect(breakerOf(mesh, 'openai').state).toBe('open');
    const cfg = base(0);
    const llm = llmOf(cfg) as Record<string, any>[];
    const r = mesh.update({
      ...cfg,
      policies: { llm: [{ breaker: { ...llm[0]?.breaker, breakDuration: 20_000 } }, llm[1] as LayerConfig] },
    });
    expect(r.ok && r.changes).toEqual([
      {
        target: 'openai',
        kind: 'breaker',
        name: undefined,
        change: 'rebuilt',
        options: [{ path: 'breakDuration', before: 10_000, after: 20_000 }],
      },
    ]);
    expect(breakerOf(mesh, 'openai').state).toBe('closed');
    expect(await mesh.get('openai').execute(() => 'ok')).toBe('ok');
  });

  test('defaults written out or left implicit are the same settings', () => {
    const mesh = registry({ config: { targets: { t: [{ bulkhead: 2 }, { retry: {} }, { timeout: 5000 }] } } });
    const before = mesh.describe('t').map((l) => l.policy);
    const r = mesh.update({
      targets: {
        t: [
          { bulkhead: { limit: 2, queue: 0 } },
          { retry: { maxRetries: 3 } },
          { timeout: { after: '5s', strategy: 'cooperative' } },
        ],
      },
    });
    expect(r.ok && r.changes).toEqual([]);
    expect(mesh.describe('t').map((l) => l.policy)).toEqual(before);
    expect(mesh.version).toBe(2);
  });

  test('a bulkhead kept across an update still counts the calls admitted before it', async () => {
    const mesh = registry({ config: { targets: { t: { bulkhead: 1 }, other: { retry: 1 } } } });
    const gate = deferred();
    const held = mesh.get('t').execute(() => gate.promise);
    mesh.update({ targets: { t: { bulkhead: 1 }, other: { retry: 2 } } });
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isBulkheadRejectedError);
    // A changed bulkhead is a new one: it does not count the call still running on the old.
    mesh.update({ targets: { t: { bulkhead: 2 }, other: { retry: 2 } } });
    expect(await mesh.get('t').execute(() => 1)).toBe(1);
    gate.resolve();
    await held;
  });

  test('a retry budget is kept while its own settings are unchanged, even when the retry is rebuilt', async () => {
    const clock = virtualClock();
    // One retry per 10 s window, whatever the number of calls.
    const budget = { ratio: 0, minPerSecond: 0.1, window: 10_000 };
    const mesh = registry({ config: { targets: { t: { retry: { maxRetries: 2, backoff: 0, budget } } } }, clock });
    expect((await attempts(mesh, 't')).n).toBe(2); // the budget's one retry is spent
    expect((await attempts(mesh, 't')).n).toBe(1);
    mesh.update({ targets: { t: { retry: { maxRetries: 3, backoff: 0, budget } } } });
    expect((await attempts(mesh, 't')).n).toBe(1); // same budget: still spent
    mesh.update({ targets: { t: { retry: { maxRetries: 3, backoff: 0, budget: { ...budget, window: 20_000 } } } } });
    expect((await attempts(mesh, 't')).n).toBe(3); // a new budget: two retries per 20 s window
  });

  test('two targets that bind one named policy get their own instances', async () => {
    const mesh = registry({ config: base(0) });
    mesh.update({ ...base(0), targets: { openai: 'llm', anthropic: 'llm' } });
    await attempts(mesh, 'openai');
    await attempts(mesh, 'openai');
    expect(breakerOf(mesh, 'openai').state).toBe('open');
    expect(breakerOf(mesh, 'anthropic').state).toBe('closed');
  });
});

describe('a rejected update keeps the last good config', () => {
  test('whole: nothing of a config with one problem is applied', async () => {
    const mesh = registry({ config: base(1) });
    const rejected: ConfigRejectedEvent[] = [];
    mesh.on('config-rejected', (e) => rejected.push(e));
    const before = mesh.describe('openai').map((l) => l.policy);
    const bad = { ...base(5), targets: { openai: 'llm', search: { retry: -1 } } };
    const r = mesh.update(bad);
    expect(r).toEqual({
      ok: false,
      version: 1,
      errors: [{ path: 'targets.search.retry', message: 'expected an integer ≥ 0, got -1' }],
    });
    expect(rejected).toEqual([
      {
        type: 'config-rejected',
        kind: 'registry',
        name: undefined,
        version: 1,
        errors: r.ok ? [] : r.errors,
        source: undefined,
      },
    ]);
    expect(mesh.version).toBe(1);
    expect(mesh.config).toEqual(base(1));
    expect(mesh.describe('openai').map((l) => l.policy)).toEqual(before);
    expect((await attempts(mesh, 'openai')).n).toBe(2);
  });

  test('a factory that throws while building rejects the whole update', () => {
    let fail = false;
    const factories: Record<string, PolicyFactory> = {
      flaky: {
        create: () => {
          if (fail) throw new RangeError('Expected `level` to be an integer ≤ 3, got 9');
          return Policy.noop;
        },
      },
    };
    const mesh = registry({ config: { targets: { a: { retry: 1 }, b: { flaky: {} } } }, factories });
    fail = true;
    const r = mesh.update({ targets: { a: { retry: 2 }, b: { flaky: { level: 9 } } } });
    expect(r).toEqual({
      ok: false,
      version: 1,
      errors: [{ path: 'targets.b.flaky.level', message: 'expected an integer ≤ 3, got 9' }],
    });
    expect(mesh.describe('a')[0]?.options.maxRetries).toBe(1);
    fail = false;
    expect(mesh.update({ targets: { a: { retry: 2 }, b: { flaky: { level: 9 } } } }).ok).toBe(true);
  });

  test('a factory that throws something else is reported at the layer; one that returns no policy too', () => {
    const factories: Record<string, PolicyFactory> = {
      weird: { create: () => boom() },
      picky: {
        create: () => {
          throw new TypeError('Expected at least one of `a`, `b`');
        },
      },
      empty: { create: () => ({}) as Policy },
    };
    expect(() =>
      registry({ config: { targets: { a: { weird: {} }, b: { empty: {} }, c: { picky: {} } } }, factories }),
    ).toThrow(
      'targets.a.weird: the weird factory threw: boom\ntargets.b.empty: the empty factory returned object, not a Policy\ntargets.c.picky: expected at least one of `a`, `b`',
    );
  });

  test('update(undefined) and other non-configs are rejected, not thrown', () => {
    const mesh = registry({ config: base(1) });
    for (const bad of [undefined, null, 'x', [], 1]) {
      const r = mesh.update(bad as never);
      expect(r.ok).toBe(false);
    }
    expect(mesh.version).toBe(1);
  });
});

describe('events', () => {
  test('config-applied lists what changed; versions count applied configs', () => {
    const mesh = registry({ config: base(1) });
    const applied: ConfigAppliedEvent[] = [];
    mesh.on('config-applied', (e) => applied.push(e));
    mesh.update({ ...base(1), targets: { openai: 'llm', mail: { timeout: 100 } } });
    expect(applied).toEqual([
      {
        type: 'config-applied',
        kind: 'registry',
        name: undefined,
        version: 2,
        added: ['mail'],
        removed: ['search'],
        changed: [],
        changes: [
          { target: 'mail', kind: 'timeout', name: undefined, change: 'added' },
          { target: 'search', kind: 'retry', name: undefined, change: 'removed' },
        ],
        source: undefined,
      },
    ]);
    expect(mesh.version).toBe(2);
  });

  test('listeners attached once see the events of pipelines built by later updates, tagged with the target', async () => {
    const mesh = registry({ config: base(1) });
    const all: string[] = [];
    const own: string[] = [];
    mesh.on('retry', (e) => all.push(`${e.target}:${e.type}:${e.attempt}`));
    mesh.get('openai').on('retry', (e) => own.push(`${e.target}:${e.attempt}`));
    await attempts(mesh, 'openai');
    mesh.update(base(2)); // openai's retry is rebuilt
    await attempts(mesh, 'search');
    await attempts(mesh, 'openai');
    expect(all).toEqual(['openai:retry:1', 'search:retry:1', 'openai:retry:1', 'openai:retry:2']);
    expect(own).toEqual(['openai:1', 'openai:1', 'openai:2']);
  });

  test('a call in flight on a replaced pipeline still reports to the listeners', async () => {
    const mesh = registry({ config: { targets: { t: { retry: { maxRetries: 1, backoff: 0 } } } } });
    const seen: number[] = [];
    mesh.on('give-up', (e) => seen.push(e.attempt));
    const gate = deferred();
    const p = mesh.get('t').executeOutcome(async () => {
      await gate.promise;
      throw new Error('x');
    });
    mesh.update({ targets: { t: { retry: { maxRetries: 3, backoff: 0 } } } });
    gate.resolve();
    await p;
    expect(seen).toEqual([2]);
  });

  test("'*' gets config events and every pipeline event once, beside typed listeners", async () => {
    const mesh = registry({ config: { targets: { t: { retry: { maxRetries: 1, backoff: 0 } } } } });
    const star: string[] = [];
    const typed: string[] = [];
    const offStar = mesh.on('*', (e: RegistryEvent) => star.push(e.type));
    mesh.on('retry', (e) => typed.push(e.type));
    await attempts(mesh, 't');
    mesh.update({ targets: { t: { retry: { maxRetries: 1, backoff: 0 } } } });
    mesh.update({ targets: 'x' as never });
    expect(star).toEqual(['retry', 'give-up', 'config-applied', 'config-rejected']);
    expect(typed).toEqual(['retry']);
    offStar();
    await attempts(mesh, 't');
    expect(star).toHaveLength(4);
  });

  test('no listener, no forwarder: layers nobody observes build no events', async () => {
    const mesh = registry({ config: base(1) });
    const counts = () => mesh.describe('openai').map((l) => l.policy.layers[0]?.events.count);
    expect(counts()).toEqual([0, 0]);
    const off1 = mesh.on('retry', () => {});
    const off2 = mesh.get('openai').on('open', () => {});
    expect(counts()).toEqual([2, 2]);
    mesh.update(base(2));
    expect(counts()).toEqual([2, 2]);
    off1();
    off2();
    off2();
    expect(counts()).toEqual([0, 0]);
  });

  test('a throwing listener breaks neither a call nor an update', async () => {
    const mesh = registry({ config: { targets: { t: { retry: { maxRetries: 1, backoff: 0 } } } } });
    mesh.on('retry', () => boom());
    mesh.on('config-applied', () => boom());
    expect((await attempts(mesh, 't')).n).toBe(2);
    expect(mesh.update({ targets: { t: { retry: 2 } } }).ok).toBe(true);
  });

  test('custom kinds: their events reach registry listeners too', async () => {
    class Ping extends BaseLayer<PolicyEventBase> {
      run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
        if (this.listening('ping')) this.emit({ type: 'ping', kind: 'ping', name: this.name });
        return Promise.resolve(invoke(ctx, inner));
      }
    }
    const mesh = registry({
      config: { targets: { t: { ping: {} } } },
      factories: { ping: { create: (o) => new Pipeline([new Ping('ping', o.name as string | undefined)]) } },
    });
    const seen: string[] = [];
    mesh.on('ping', (e) => seen.push(`${e.target}:${e.kind}`));
    mesh.get('t').on('ping', (e) => seen.push(`own ${e.target}`));
    await mesh.get('t').execute(() => 1);
    mesh.update({ targets: { t: { ping: { name: 'renamed' } } } });
    await mesh.get('t').execute(() => 1);
    expect(seen).toEqual(['own t', 't:ping', 'own t', 't:ping']);
  });
});

describe('factories and functions', () => {
  test('a custom kind: its schema gives paths, its validator too, create gets the env', async () => {
    const made: unknown[] = [];
    const clock = virtualClock();
    const factories: Record<string, PolicyFactory> = {
      tagged: {
        shorthand: 'label',
        options: {
          type: 'object',
          props: {
            label: { type: 'string' },
            weight: { type: 'number', min: 0, default: 1 },
            check: { type: 'function' },
          },
          required: ['label'],
        },
        validate: (o) =>
          (o.label as string).length > 5 ? [{ path: 'label', message: 'expected at most 5 characters' }] : undefined,
        create: (o, env) => {
          const state = env.keep('state', o.weight, () => ({ id: made.length }));
          made.push({
            ...o,
            target: env.target,
            clock: env.clock === clock,
            fn: typeof env.fn('yes'),
            state: state.id,
          });
          return Policy.noop;
        },
      },
    };
    const functions = { yes: () => true };
    expect(() =>
      registry({
        config: { targets: { a: { tagged: { label: 7, weight: -1, extra: 1 } }, b: { tagged: 'toolong' } } },
        factories,
        functions,
      }),
    ).toThrow(
      [
        'targets.a.tagged.label: expected a string, got 7',
        'targets.a.tagged.weight: expected a number ≥ 0, got -1',
        'targets.a.tagged.extra: unknown option (expected one of "label", "weight", "check", "name")',
        'targets.b.tagged: expected at most 5 characters', // the shorthand: the label is the value at that path
      ].join('\n'),
    );
    const mesh = registry({
      config: { targets: { a: { tagged: { label: 'x', check: 'yes' } } } },
      factories,
      functions,
      clock,
    });
    expect(made).toEqual([{ label: 'x', check: 'yes', weight: 1, target: 'a', clock: true, fn: 'function', state: 0 }]);
    expect(await mesh.get('a').execute(() => 3)).toBe(3);
    // Rebuilt with the same weight: the kept state object is handed back; another weight makes a new one.
    mesh.update({ targets: { a: { tagged: { label: 'y', check: 'yes' } } } });
    mesh.update({ targets: { a: { tagged: { label: 'y', check: 'yes', weight: 2 } } } });
    expect(made.map((m) => (m as { state: number }).state)).toEqual([0, 0, 2]);
  });

  test('a custom kind without a schema takes any object, checked by its validator', () => {
    const factories: Record<string, PolicyFactory> = {
      loose: {
        validate: (o) => (o.n === 1 ? undefined : [{ path: 'n', message: 'expected 1' }]),
        create: () => Policy.noop,
      },
    };
    expect(registry({ config: { targets: { a: { loose: { n: 1 } } } }, factories }).targets).toEqual(['a']);
    expect(() => registry({ config: { targets: { a: { loose: { n: 2 } } } }, factories })).toThrow(
      'targets.a.loose.n: expected 1',
    );
    expect(() => registry({ config: { targets: { a: { loose: 3 } } }, factories })).toThrow(
      'targets.a.loose: expected an object, got 3',
    );
  });

  test('fallback by reference to a function, or by a JSON value copied per call', async () => {
    const mesh = registry({
      config: { targets: { a: { fallback: { to: 'cached' } }, b: { fallback: { value: { text: 'sorry' } } } } },
      functions: { cached: (reason: { error: unknown }) => `cached after ${(reason.error as Error).message}` },
    });
    expect(await mesh.get('a').execute(boom)).toBe('cached after boom');
    const v1 = (await mesh.get('b').execute(boom)) as { text: string };
    v1.text = 'changed by a caller';
    expect(await mesh.get('b').execute(boom)).toEqual({ text: 'sorry' });
  });

  test('retry `handle` by reference', async () => {
    const mesh = registry({
      config: { targets: { t: { retry: { maxRetries: 3, backoff: 0, handle: 'transient' } } } },
      functions: { transient: (e: unknown) => (e as Error).message !== 'fatal' },
    });
    expect((await attempts(mesh, 't', () => Promise.reject(new Error('fatal')))).n).toBe(1);
    expect((await attempts(mesh, 't')).n).toBe(4);
  });

  test('the registry clock drives every policy', async () => {
    const clock = virtualClock();
    const mesh = registry({ config: { targets: { t: { timeout: '2s' } } }, clock });
    const p = mesh
      .get('t')
      .execute(
        ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      );
    const check = expect(p).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await clock.advance(2000);
    await check;
  });
});

describe('kinds merged from other branches', () => {
  test('streamTimeout: a first chunk that does not come in time fails the call; events carry the target', async () => {
    const clock = virtualClock();
    const mesh = registry({ config: { targets: { chat: { streamTimeout: { firstChunk: '1s', idle: 500 } } } }, clock });
    const seen: string[] = [];
    mesh.on('timeout', (e) => seen.push(`${e.target}:${e.kind}`));
    async function* slow(signal: AbortSignal) {
      await clock.sleep(5_000, signal);
      yield 'late';
    }
    const p = mesh.get('chat').execute(({ signal }) => slow(signal));
    const check = expect(p).rejects.toMatchObject({ code: 'ERR_STREAM_TIMEOUT', phase: 'first-chunk' });
    await clock.advance(1_000);
    await check;
    expect(seen).toEqual(['chat:stream-timeout']);
    expect(() => registry({ config: { targets: { chat: { streamTimeout: {} } } } })).toThrow(
      'targets.chat.streamTimeout.firstChunk: expected at least one of `firstChunk`, `idle`, `total`',
    );
  });
});

describe('hedge and chaos', () => {
  test('hedge: a slow primary is hedged after the delay; the first success wins; the budget is kept across edits', async () => {
    const clock = virtualClock();
    const budget = { ratio: 0, minPerSecond: 0.1, window: 10_000 };
    const cfg = (delay: string): RegistryConfig => ({ targets: { llm: { hedge: { delay, maxHedges: 1, budget } } } });
    const mesh = registry({ config: cfg('100ms'), clock });
    const seen: string[] = [];
    mesh.on('hedge', (e) => seen.push(`${e.target}:${e.type}`));
    mesh.on('hedge-denied', (e) => seen.push(`${e.target}:${e.type}`));
    const run = () =>
      mesh
        .get('llm')
        .execute(({ attempt, signal }) =>
          attempt === 1 ? clock.sleep(10_000, signal).then(() => 'primary') : Promise.resolve(`hedge ${attempt}`),
        );
    const p = run();
    await clock.advance(100);
    expect(await p).toBe('hedge 2');
    expect(seen).toEqual(['llm:hedge']);
    const budgetBefore = mesh.describe('llm')[0]?.policy;
    mesh.update(cfg('200ms')); // the budget's settings did not change: its one hedge stays spent
    expect(mesh.describe('llm')[0]?.policy).not.toBe(budgetBefore);
    const q = run();
    const done = expect(q).resolves.toBe('primary');
    await clock.advance(10_000);
    await done;
    expect(seen).toEqual(['llm:hedge', 'llm:hedge-denied']);
  });

  test('chaos: faults by a named error function, results as fresh JSON copies, switched off from the config', async () => {
    const mesh = registry({
      config: { targets: { tool: { chaos: { fault: { rate: 1, error: 'gameDay' } } } } },
      functions: { gameDay: () => new Error('injected by the game day') },
      random: () => 0,
    });
    await expect(mesh.get('tool').execute(() => 'real')).rejects.toThrow('injected by the game day');
    mesh.update({ targets: { tool: { chaos: { result: { rate: 1, value: { canned: true } } } } } });
    const a = (await mesh.get('tool').execute((): unknown => 'real')) as { canned: boolean };
    a.canned = false;
    expect(await mesh.get('tool').execute(() => 'real')).toEqual({ canned: true });
    mesh.update({ targets: { tool: { chaos: { result: { rate: 1, value: { canned: true } }, enabled: false } } } });
    expect(await mesh.get('tool').execute(() => 'real')).toBe('real');
    expect(() => registry({ config: { targets: { t: { chaos: { latency: { rate: 2 } } } } } })).toThrow(
      'targets.t.chaos.latency.rate: expected a number ≥ 0 and ≤ 1, got 2',
    );
    expect(() => registry({ config: { targets: { t: { chaos: { enabled: true } } } } })).toThrow(
      'targets.t.chaos.fault: expected at least one of `fault`, `latency`, `result`',
    );
  });
});

describe('rateLimit', () => {
  test('a limiter keeps its spent tokens across unrelated edits; a changed one starts with a full bucket', async () => {
    const clock = virtualClock();
    const cfg = (limit: number, other: number): RegistryConfig => ({
      targets: { llm: { rateLimit: { limit, per: '10s' } }, other: { retry: other } },
    });
    const mesh = registry({ config: cfg(2, 1), clock });
    const seen: string[] = [];
    mesh.on('rate-limited', (e) => seen.push(`${e.target}:${e.kind}`));
    const call = () => mesh.get('llm').executeOutcome(() => 'ok');
    expect((await call()).ok).toBe(true);
    expect((await call()).ok).toBe(true);
    const third = await call();
    expect(third.ok === false && isRateLimitedError(third.error)).toBe(true);
    mesh.update(cfg(2, 2)); // unrelated: the bucket is still empty
    expect((await call()).ok).toBe(false);
    mesh.update(cfg(3, 2)); // changed: a new, full bucket
    expect((await call()).ok).toBe(true);
    expect(seen).toEqual(['llm:rate-limit', 'llm:rate-limit']);
  });

  test('cost and key by function name; a shared store made once and kept while its setting is unchanged', async () => {
    let made = 0;
    const mesh = registry({
      config: {
        targets: { llm: { rateLimit: { limit: 10, per: 1000, cost: 'tokens', key: 'user', store: 'shared' } } },
      },
      functions: {
        tokens: () => 4,
        user: (ctx: Context) => String(ctx.key),
        shared: () => {
          made++;
          // A stand-in for a shared (Redis) store.
          return new MemoryStore(
            algorithm({ algorithm: 'token-bucket', limit: 10, per: 1000, capacity: 10 }),
            100,
            Date.now,
          );
        },
      },
    });
    const call = (user: string) => mesh.get('llm').executeOutcome(() => 'ok', { key: user });
    expect((await call('a')).ok).toBe(true);
    expect((await call('a')).ok).toBe(true);
    expect((await call('a')).ok).toBe(false); // 12 > 10 for user a
    expect((await call('b')).ok).toBe(true);
    mesh.update({
      targets: { llm: { rateLimit: { limit: 20, per: 1000, cost: 'tokens', key: 'user', store: 'shared' } } },
    });
    expect(made).toBe(1);
  });

  test('options that do not go together are reported with their paths', () => {
    expect(() =>
      registry({
        config: {
          targets: {
            a: { rateLimit: { limit: 1, per: 1000, algorithm: 'sliding-window', burst: 5 } },
            b: { rateLimit: { limit: 1, per: 1000, maxWait: 100 } },
            c: { rateLimit: { limit: 1, per: 1000, feedback: true } },
            d: { rateLimit: { limit: 0, per: '1s' } },
          },
        },
      }),
    ).toThrow(
      [
        "targets.a.rateLimit.burst: expected no burst with algorithm 'sliding-window' (the window admits at most `limit`)",
        "targets.b.rateLimit.maxWait: expected no maxWait unless mode is 'wait'",
        'targets.c.rateLimit.feedback: expected "requests", "tokens" or false, got true',
        'targets.d.rateLimit.limit: expected a number > 0, got 0',
      ].join('\n'),
    );
  });
});

describe('intercept', () => {
  test('interceptors run around every call, first registered outermost, with the target and the layers in force', async () => {
    const mesh = registry({
      config: { targets: { a: { retry: { maxRetries: 1, backoff: 0 } }, b: { timeout: 100 } } },
    });
    const log: string[] = [];
    const off1 = mesh.intercept(async (call) => {
      log.push(`1 ${call.name} ${call.layers.map((l) => l.kind).join(',')}`);
      const r = await call.proceed(call.fn);
      log.push('1 done');
      return r;
    });
    mesh.intercept((call) => {
      log.push(`2 ${call.name}`);
      let n = 0;
      return call.proceed((ctx) => {
        log.push(`attempt ${++n}`);
        return call.fn(ctx);
      });
    });
    let first = true;
    expect(
      await mesh.get('a').execute(() => {
        if (first) {
          first = false;
          throw new Error('once');
        }
        return 'ok';
      }),
    ).toBe('ok');
    expect(log).toEqual(['1 a retry', '2 a', 'attempt 1', 'attempt 2', '1 done']);
    off1();
    off1();
    log.length = 0;
    expect(await mesh.get('b').execute(() => 2)).toBe(2);
    expect(log).toEqual(['2 b', 'attempt 1']);
  });

  test('a call keeps the pipeline it started on even when the interceptor proceeds after an update', async () => {
    const mesh = registry({ config: { targets: { a: { retry: { maxRetries: 0, backoff: 0 } } } } });
    const gate = deferred();
    mesh.intercept(async (call) => {
      await gate.promise;
      return call.proceed(call.fn);
    });
    let attempts = 0;
    const p = mesh.get('a').executeOutcome(() => {
      attempts++;
      throw new Error('x');
    });
    mesh.update({ targets: { a: { retry: { maxRetries: 3, backoff: 0 } } } });
    gate.resolve();
    await p;
    expect(attempts).toBe(1);
  });

  test('a throwing interceptor rejects the call; the registry exposes every layer in force and its name', async () => {
    const mesh = registry({
      config: { targets: { a: [{ retry: 1 }, { breaker: {} }], b: { bulkhead: 2 } } },
      name: 'agent-mesh',
    });
    expect(mesh.name).toBe('agent-mesh');
    expect(mesh.layers.map((l) => l.kind)).toEqual(['retry', 'breaker', 'bulkhead']);
    mesh.update({ targets: { a: [{ retry: 1 }, { breaker: {} }] } });
    expect(mesh.layers.map((l) => l.kind)).toEqual(['retry', 'breaker']);
    mesh.intercept(() => boom());
    await expect(mesh.get('a').execute(() => 1)).rejects.toThrow('boom');
    expect(() => mesh.intercept(3 as never)).toThrow(TypeError);
    expect(() => registry({ config: {}, name: 3 as never })).toThrow('Expected `name` to be a string, got 3');
  });
});

describe('bad options', () => {
  test('registry() options are checked with TypeErrors that name them', () => {
    expect(() => registry(undefined as never)).toThrow(TypeError);
    expect(() => registry({ config: {}, functions: { f: 1 as never } })).toThrow(
      'Expected `functions.f` to be a function, got 1',
    );
    expect(() => registry({ config: {}, factories: { retry: { create: () => Policy.noop } } })).toThrow(
      'Expected `factories.retry` to be a new kind (a built-in kind cannot be replaced)',
    );
    expect(() => registry({ config: {}, factories: { x: {} as never } })).toThrow(
      'Expected `factories.x.create` to be a function',
    );
    expect(() =>
      registry({ config: {}, factories: { x: { create: () => Policy.noop, options: { type: 'number' } as never } } }),
    ).toThrow('factories.x.options');
    expect(() => registry({ config: {}, random: 3 as never })).toThrow('Expected `random` to be a function, got 3');
    const mesh = registry({ config: {} });
    expect(() => mesh.on('retry', 3 as never)).toThrow(TypeError);
  });

  test('a listener on one target with a non-function is a TypeError', () => {
    const mesh = registry({ config: base(1) });
    expect(() => mesh.get('openai').on('retry', null as never)).toThrow(TypeError);
  });

  test('a call through a target whose fn throws synchronously rejects', async () => {
    const mesh = registry({ config: base(0) });
    await expect(mesh.get('search').execute(boom)).rejects.toThrow('boom');
  });
});
