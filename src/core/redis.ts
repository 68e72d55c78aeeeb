/**
 * What the Redis adapters share (breaker, idempotency, rate-limit and aggregator stores): a Lua
 * script run by its SHA-1 (`EVALSHA`) and sent whole when the server has lost its script cache
 * (a restart, `SCRIPT FLUSH`), and a bound on how long one operation may take. Clients are
 * ioredis-shaped. Imported only by the `…/redis` subpaths.
 * @internal
 */

/** The two calls a script needs from an ioredis client (`Redis` or `Cluster`). @internal */
export interface ScriptClient {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

async function sha1(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** A Lua script, run by its SHA-1 once that is known (WebCrypto computes it once, asynchronously). @internal */
export class LuaScript {
  readonly text: string;
  #sha: string | undefined;
  #pending: Promise<string> | undefined;

  constructor(text: string) {
    this.text = text;
  }

  /** Runs the script on `client` with `keys` (`KEYS`) and `args` (`ARGV`). */
  run(client: ScriptClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const sha = this.#sha;
    if (sha === undefined) {
      this.#pending ??= sha1(this.text).then((hex) => (this.#sha = hex));
      return this.#pending.then(() => this.run(client, keys, args));
    }
    let pending: Promise<unknown>;
    try {
      pending = client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      // Always a rejection, as on the first call (callers attach handlers to the promise).
      return Promise.reject(error);
    }
    return pending.catch((error: unknown) => {
      // The server lost its script cache: send the script itself (which caches it again).
      if (!String((error as Error | null)?.message).startsWith('NOSCRIPT')) throw error;
      return client.eval(this.text, keys.length, ...keys, ...args);
    });
  }
}

/**
 * Settles as `pending` does, with a failure mapped by `failed`, or rejects with `timedOut()` when
 * `pending` has not settled within `ms` (a delay above the platform's 2^31 − 1 ms limit is clamped
 * to it, not fired after 1 ms). The timer is cleared as soon as `pending` settles. @internal
 */
export function withTimeout<T>(
  pending: Promise<T>,
  ms: number,
  timedOut: () => unknown,
  failed: (error: unknown) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), Math.min(ms, 2_147_483_647));
    pending.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(failed(error));
      },
    );
  });
}
