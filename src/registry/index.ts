/**
 * The service-mesh control plane, in process: named resilience pipelines built from one JSON
 * config (defaults, named policies, targets with overrides), validated with a path for every
 * problem, and updated while the process runs. A rejected update keeps the last good config;
 * layers whose settings did not change keep their state.
 *
 * @example
 * ```ts
 * import { registry } from 'breakwater/registry';
 *
 * const mesh = registry({
 *   config: {
 *     defaults: { retry: { maxRetries: 2 } },
 *     policies: { llm: [{ timeout: '60s' }, { retry: {} }, { breaker: {} }, { timeout: { after: '20s', name: 'attempt' } }] },
 *     targets: { openai: 'llm', search: [{ timeout: 5000 }, { retry: 1 }] },
 *   },
 * });
 * await mesh.get('search').execute(({ signal }) => fetch(url, { signal }));
 * const r = mesh.update(nextConfig); // { ok: true, version: 2 } or { ok: false, errors }
 * ```
 *
 * @module
 */
export type { LayerConfig, PolicyConfig, RegistryConfig, ResolvedLayer, TargetConfig } from './config.js';
export {
  formatIssues,
  isRegistryConfigError,
  isUnknownTargetError,
  RegistryConfigError,
  UnknownTargetError,
} from './errors.js';
export type { FactoryEnv, PolicyFactory } from './factory.js';
export { type RegistrySchemaOptions, registrySchema } from './json-schema.js';
export { registry } from './registry.js';
export type {
  AnySchema,
  ArraySchema,
  BooleanSchema,
  ConfigIssue,
  EitherSchema,
  FunctionSchema,
  NumberSchema,
  ObjectSchema,
  OptionSchema,
  StringSchema,
  TaggedSchema,
} from './schema.js';
export type {
  BuiltLayer,
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  LayerChange,
  OptionChange,
  PipelineEvent,
  Registry,
  RegistryCall,
  RegistryEvent,
  RegistryInterceptor,
  RegistryOptions,
  RegistryPolicy,
  TargetEvent,
  UpdateResult,
} from './types.js';
