/**
 * Timeout: abort a call's signal after a limit, cooperatively or aggressively, and set `ctx.deadline`.
 *
 * @example
 * ```ts
 * import { timeout } from 'breakwater/timeout';
 * await timeout(5_000).execute(({ signal }) => fetch(url, { signal }));
 * ```
 *
 * @module
 */

export { isTimeoutError, TimeoutError } from '../core/errors.js';
export { type TimeoutEvent, type TimeoutOptions, type TimeoutStrategy, timeout } from './timeout.js';
