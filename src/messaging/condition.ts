import type { Context } from '../core/context.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import type { Condition, Route } from './types.js';

/**
 * Turns what a `when` returned into a confidence: `true` → 1, `false` → 0, a number as is
 * (`NaN` → 0). A confidence `> 0` matches.
 * @internal
 */
export function toConfidence(value: unknown): number {
  if (value === true) return 1;
  if (typeof value === 'number') return Number.isNaN(value) ? 0 : value;
  return 0;
}

/** Runs a condition, awaiting it only when it returned a thenable. @internal */
export function evaluate<M>(when: Condition<M>, message: M, ctx: Context): number | Promise<number> {
  const r = when(message, ctx);
  if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(r).then(toConfidence);
  }
  return toConfidence(r);
}

/** Validates a route list. @internal */
export function checkRoutes(routes: unknown): void {
  if (!Array.isArray(routes)) throw new TypeError('Expected `routes` to be an array');
  const names = new Set<string>();
  routes.forEach((route: Route<unknown, unknown>, i) => {
    checkObject(`routes[${i}]`, route);
    if (route === undefined) throw new TypeError(`Expected \`routes[${i}]\` to be an object, got undefined`);
    if (typeof route.name !== 'string' || route.name === '') {
      throw new TypeError(`Expected \`routes[${i}].name\` to be a non-empty string`);
    }
    if (names.has(route.name)) throw new TypeError(`Expected \`routes[${i}].name\` to be unique, got a duplicate`);
    names.add(route.name);
    checkFunction(`routes[${i}].when`, route.when, false);
    checkFunction(`routes[${i}].to`, route.to, false);
    checkPolicy(`routes[${i}].policy`, route.policy);
  });
}

/** Validates an optional policy option. @internal */
export function checkPolicy(name: string, policy: unknown): void {
  if (policy === undefined) return;
  if (
    policy === null ||
    typeof policy !== 'object' ||
    typeof (policy as { execute?: unknown }).execute !== 'function'
  ) {
    throw new TypeError(`Expected \`${name}\` to be a policy`);
  }
}

/** Validates an optional confidence threshold in [0, 1]. @internal */
export function checkConfidence(value: unknown): number {
  if (value === undefined) return 0;
  return checkNumber('minConfidence', value, 0, { max: 1 });
}
