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
export { type FallbackEvent, type FallbackOptions, type FallbackReason, fallback } from './fallback.js';
