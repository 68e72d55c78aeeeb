/**
 * Fallback: replace a failure (or an unwanted result) with a value, computed from the failure.
 *
 * @example
 * ```ts
 * import { fallback } from 'breakwater/fallback';
 * const policy = fallback({ to: () => 'Sorry, try again later.' });
 * ```
 *
 * @module
 */
export { fallback, type FallbackOptions, type FallbackReason, type FallbackEvent } from './fallback.js';
