// Model-based test of the registry's update state machine: random sequences of valid updates,
// invalid updates (one mutation of a valid config), lookups and calls, checked against a model
// that only remembers the last good config and its version.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Clock } from '../../src/index.js';
import {
  isUnknownTargetError,
  type Registry,
  type RegistryConfig,
  type RegistryPolicy,
  registry,
} from '../../src/registry/index.js';
import { FUNCTIONS, mutations, validConfig } from './support/configs.js';

interface Model {
  version: number;
  config: RegistryConfig;
  targets: string[];
  /** Every policy object handed out, by target: must stay the same object forever. */
  handed: Map<string, RegistryPolicy>;
  applied: number;
  rejected: number;
}

interface Real {
  mesh: Registry;
  applied: number;
  rejected: number;
}

const targetsOf = (c: RegistryConfig): string[] => Object.keys(c.targets ?? {});

class Update implements fc.AsyncCommand<Model, Real> {
  readonly config: RegistryConfig;
  constructor(config: RegistryConfig) {
    this.config = config;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const res = r.mesh.update(this.config);
    expect(res).toMatchObject({ ok: true, version: m.version + 1 });
    m.version++;
    m.config = this.config;
    m.targets = targetsOf(this.config);
    m.applied++;
    expect(r.applied).toBe(m.applied);
  }
  toString = () => `update(${JSON.stringify(this.config)})`;
}

class BadUpdate implements fc.AsyncCommand<Model, Real> {
  readonly config: RegistryConfig;
  readonly what: string;
  constructor(config: RegistryConfig, what: string) {
    this.config = config;
    this.what = what;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const res = r.mesh.update(this.config);
    expect(res.ok).toBe(false);
    expect(res.version).toBe(m.version);
    m.rejected++;
    expect(r.rejected).toBe(m.rejected);
  }
  toString = () => `badUpdate(${this.what})`;
}

class Call implements fc.AsyncCommand<Model, Real> {
  readonly target: string;
  constructor(target: string) {
    this.target = target;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const known = m.targets.includes(this.target);
    expect(r.mesh.has(this.target)).toBe(known);
    let p = m.handed.get(this.target);
    if (known) {
      const got = r.mesh.get(this.target);
      if (p !== undefined) expect(got).toBe(p);
      p = got;
      m.handed.set(this.target, got);
    } else {
      expect(() => r.mesh.get(this.target)).toThrow();
    }
    if (p === undefined) return;
    const out = await p.executeOutcome(() => 'ok');
    // A known target runs its pipeline (chaos may inject a fault or a result); a removed one rejects.
    const unknown = out.ok === false && isUnknownTargetError(out.error);
    expect(unknown).toBe(!known);
  }
  toString = () => `call(${this.target})`;
}

class Check implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    expect(r.mesh.version).toBe(m.version);
    expect(r.mesh.config).toEqual(m.config);
    expect([...r.mesh.targets].sort()).toEqual([...m.targets].sort());
  }
  toString = () => 'check';
}

/**
 * A clock on which every wait ends at once (timeouts fire, injected latency and hedge delays pass):
 * this model is about which pipeline answers, not about time.
 */
const fast: Clock = {
  now: () => Date.now(),
  setTimeout: (callback) => setTimeout(callback, 0),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  sleep: (_ms, signal) => (signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve()),
};

const TARGETS = ['openai', 'anthropic', 'search', 'sql', 'mail', 'nobody'];

const commands = [
  validConfig.map((c) => new Update(c)),
  validConfig.chain((c) =>
    fc.constantFrom(...mutations(c)).map((m) => new BadUpdate(m.apply(c), `${m.what} at ${m.path}`)),
  ),
  fc.constantFrom(...TARGETS).map((t) => new Call(t)),
  fc.constant(new Check()),
];

describe('registry model', () => {
  test('versions, the config in force and stable policy objects follow the model', async () => {
    await fc.assert(
      fc.asyncProperty(validConfig, fc.commands(commands, { maxCommands: 25 }), async (initial, cmds) => {
        const mesh = registry({ config: initial, functions: FUNCTIONS, clock: fast });
        const real: Real = { mesh, applied: 0, rejected: 0 };
        mesh.on('config-applied', () => real.applied++);
        mesh.on('config-rejected', () => real.rejected++);
        const model: Model = {
          version: 1,
          config: initial,
          targets: targetsOf(initial),
          handed: new Map(),
          applied: 0,
          rejected: 0,
        };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      }),
      { numRuns: 60 },
    );
  });
});
