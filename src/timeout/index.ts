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
export { timeout, type TimeoutOptions, type TimeoutStrategy, type TimeoutEvent } from './timeout.js';
export { TimeoutError, isTimeoutError } from '../core/errors.js';
