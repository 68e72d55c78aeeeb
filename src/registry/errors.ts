import { BreakwaterError, errorGuard } from '../core/errors.js';
import type { ConfigIssue } from './schema.js';

/**
 * `path: message` lines, as in {@link RegistryConfigError}'s message.
 *
 * @example
 * ```ts
 * const r = mesh.update(next);
 * if (!r.ok) console.error(formatIssues(r.errors));
 * ```
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('\n');
}

/**
 * Thrown by `registry()` (and `registryFromFile()`) when the initial config is invalid. `errors`
 * lists every problem, each with its path, e.g.
 * `targets.openai.retry.maxRetries: expected an integer ≥ 0, got -1`.
 *
 * @example
 * ```ts
 * try { registry({ config }); }
 * catch (e) { if (isRegistryConfigError(e)) for (const { path, message } of e.errors) console.error(path, message); }
 * ```
 */
export class RegistryConfigError extends BreakwaterError {
  /** Every problem found, in config order. */
  readonly errors: readonly ConfigIssue[];

  constructor(errors: readonly ConfigIssue[]) {
    const n = errors.length;
    super(
      'ERR_REGISTRY_CONFIG',
      `Invalid registry config (${n} problem${n === 1 ? '' : 's'}):\n${formatIssues(errors)}`,
    );
    this.errors = errors;
  }
}

/**
 * Thrown by `registry.get(target)` for a target the config does not have, and the rejection of a
 * call through a policy whose target a later config removed. `known` lists the targets in force.
 *
 * @example
 * ```ts
 * try { mesh.get('opneai'); }
 * catch (e) { if (isUnknownTargetError(e)) console.error(e.message); } // … did you mean "openai"?
 * ```
 */
export class UnknownTargetError extends BreakwaterError {
  /** The name asked for. */
  readonly target: string;
  /** The targets of the config in force. */
  readonly known: readonly string[];

  constructor(target: string, known: readonly string[], hint: string | undefined, removed: boolean) {
    const what = removed ? 'was removed from the registry config' : 'is not a target of the registry config';
    const tail =
      hint !== undefined ? `; did you mean ${JSON.stringify(hint)}?` : ` (targets: ${known.join(', ') || 'none'})`;
    super('ERR_UNKNOWN_TARGET', `${JSON.stringify(target)} ${what}${tail}`);
    this.target = target;
    this.known = known;
  }
}

/**
 * True for a {@link RegistryConfigError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isRegistryConfigError(e)) console.error(e.errors);
 * ```
 */
export const isRegistryConfigError: (error: unknown) => error is RegistryConfigError =
  /*#__PURE__*/ errorGuard<RegistryConfigError>('ERR_REGISTRY_CONFIG');

/**
 * True for an {@link UnknownTargetError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isUnknownTargetError(e)) console.error(`no policy for ${e.target}`);
 * ```
 */
export const isUnknownTargetError: (error: unknown) => error is UnknownTargetError =
  /*#__PURE__*/ errorGuard<UnknownTargetError>('ERR_UNKNOWN_TARGET');
