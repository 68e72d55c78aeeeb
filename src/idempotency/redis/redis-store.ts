import { LuaScript, withTimeout } from '../../core/redis.js';
import { IdempotencyRecordMalformedError, IdempotencyStoreUnavailableError } from '../errors.js';
import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from '../store.js';
import { checkRecord, newToken } from '../store.js';

/**
 * What the store needs from an ioredis client (`Redis` or a cluster client with one slot per key).
 *
 * @example
 * ```ts
 * import { Cluster } from 'ioredis';
 * import { redisIdempotencyStore, type RedisLike } from 'breakwater/idempotency/redis';
 *
 * // A `Redis` client fits, and so does a cluster client: each record is one key.
 * const client: RedisLike = new Cluster([{ host: '127.0.0.1', port: 7000 }], { enableOfflineQueue: false });
 * const store = redisIdempotencyStore(client);
 * ```
 */
export interface RedisLike {
  /** Runs a cached Lua script. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Runs (and caches) a Lua script. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Reads a string key. */
  get(key: string): Promise<string | null>;
}

/**
 * Options for {@link redisIdempotencyStore}.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisIdempotencyStore, type RedisIdempotencyStoreOptions } from 'breakwater/idempotency/redis';
 *
 * const options: RedisIdempotencyStoreOptions = { prefix: 'billing:idem:', timeout: 1_000 };
 * const store = redisIdempotencyStore(new Redis({ enableOfflineQueue: false }), options);
 * ```
 */
export interface RedisIdempotencyStoreOptions {
  /**
   * Prefix of every record key.
   * @defaultValue 'breakwater:idempotency:'
   */
  readonly prefix?: string | undefined;
  /**
   * Longest one store operation may take, in ms, before it fails with
   * `IdempotencyStoreUnavailableError`. Also configure the client to fail fast while disconnected
   * (`enableOfflineQueue: false` or a small `maxRetriesPerRequest`).
   * @defaultValue 5000
   */
  readonly timeout?: number | undefined;
}

// A record is one string value: line 1 the header `["p"|"c",token,leaseUntil,expiresAt]`, line 2 the
// fingerprint as JSON, then the result. Owner checks compare the header's prefix `["p","<token>",`.
// Physical expiry (PX) follows the lease or the TTL, so crashed holders' keys disappear by themselves.

// Claim: SET NX PX; else take over a lapsed record; else return the live value.
const CLAIM = /*#__PURE__*/ new LuaScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local nl = string.find(v, '\\n', 1, true)
local ok, h = pcall(cjson.decode, nl and string.sub(v, 1, nl - 1) or v)
if ok and type(h) == 'table' and tonumber(h[4]) and tonumber(h[4]) <= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return v`);

// Compare-and-set on the owner: in progress, same token, lease not lapsed. ARGV[3] = '' deletes;
// otherwise the header is replaced by ARGV[3] and ARGV[5] is appended (the result).
const CAS = /*#__PURE__*/ new LuaScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
local nl = string.find(v, '\\n', 1, true)
if not nl then return 0 end
local ok, h = pcall(cjson.decode, string.sub(v, 1, nl - 1))
if not ok or type(h) ~= 'table' or not tonumber(h[3]) or tonumber(h[3]) <= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3] .. string.sub(v, nl) .. ARGV[5], 'PX', ARGV[4])
end
return 1`);

const header = (status: 'p' | 'c', token: string, leaseUntil: number, expiresAt: number): string =>
  JSON.stringify([status, token, leaseUntil, expiresAt]);
const ownerPrefix = (token: string): string => `${JSON.stringify(['p', token]).slice(0, -1)},`;
const px = (ms: number): number => Math.max(1, Math.ceil(ms));

class RedisStore implements IdempotencyStore {
  readonly #client: RedisLike;
  readonly #prefix: string;
  readonly #timeout: number;

  constructor(client: RedisLike, prefix: string, timeout: number) {
    this.#client = client;
    this.#prefix = prefix;
    this.#timeout = timeout;
  }

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const { now, lease } = request;
    const token = newToken();
    const value = `${header('p', token, now + lease, now + lease)}\n${JSON.stringify(request.fingerprint ?? null)}\n`;
    for (let i = 0; i < 5; i++) {
      const r = await this.#script(CLAIM, key, [value, px(lease), now]);
      if (r === 1) return { claimed: true, token };
      if (typeof r === 'string') return { claimed: false, record: parse(key, r) };
      // 0: the key vanished between SET NX and GET (expired or released): try again.
    }
    throw new IdempotencyStoreUnavailableError('redis', { cause: new Error('claim kept racing') });
  }

  async complete(key: string, token: string, result: string, ttl: number, now: number): Promise<boolean> {
    const h = header('c', token, now, now + ttl);
    return (await this.#script(CAS, key, [ownerPrefix(token), now, h, px(ttl), result])) === 1;
  }

  async renew(key: string, token: string, lease: number, now: number): Promise<boolean> {
    const h = header('p', token, now + lease, now + lease);
    return (await this.#script(CAS, key, [ownerPrefix(token), now, h, px(lease), ''])) === 1;
  }

  async release(key: string, token: string, now: number): Promise<boolean> {
    return (await this.#script(CAS, key, [ownerPrefix(token), now, '', 1, ''])) === 1;
  }

  async get(key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const v = await this.#guard(this.#client.get(this.#prefix + key));
    if (v === null) return undefined;
    const record = parse(key, v);
    return record.expiresAt <= now ? undefined : record;
  }

  #script(script: LuaScript, key: string, args: (string | number)[]): Promise<unknown> {
    return this.#guard(script.run(this.#client, [this.#prefix + key], args));
  }

  #guard<T>(pending: Promise<T>): Promise<T> {
    return withTimeout(
      pending,
      this.#timeout,
      () => new IdempotencyStoreUnavailableError('redis', { cause: new Error(`no answer within ${this.#timeout} ms`) }),
      (error) => new IdempotencyStoreUnavailableError('redis', { cause: error }),
    );
  }
}

function parse(key: string, v: string): IdempotencyRecord {
  const a = v.indexOf('\n');
  const b = a < 0 ? -1 : v.indexOf('\n', a + 1);
  let h: unknown;
  let fp: unknown;
  try {
    if (b < 0) throw new Error('no header');
    h = JSON.parse(v.slice(0, a));
    fp = JSON.parse(v.slice(a + 1, b));
  } catch (cause) {
    throw new IdempotencyRecordMalformedError(key, { cause });
  }
  if (!Array.isArray(h)) throw new IdempotencyRecordMalformedError(key);
  const status = h[0] === 'p' ? 'in-progress' : h[0] === 'c' ? 'completed' : undefined;
  const result = status === 'completed' ? v.slice(b + 1) : undefined;
  return checkRecord(key, status, h[1], fp, h[2], h[3], result);
}

/**
 * An idempotency store in Redis (ioredis): shared by a fleet, records expire on their own. Claim is
 * `SET NX PX` (taking over a lapsed record in the same Lua script); completion, renewal and release
 * are Lua compare-and-sets on the fencing token.
 *
 * @throws TypeError when `client` is not an ioredis client or an option is invalid.
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * const once = idempotent({ store: redisIdempotencyStore(redis, { prefix: 'myapp:idem:' }) });
 * ```
 */
export function redisIdempotencyStore(client: RedisLike, options?: RedisIdempotencyStoreOptions): IdempotencyStore {
  const c = client as Partial<RedisLike> | null;
  if (c === null || typeof c !== 'object' || typeof c.evalsha !== 'function' || typeof c.get !== 'function') {
    throw new TypeError('Expected `client` to be an ioredis client');
  }
  const prefix = options?.prefix ?? 'breakwater:idempotency:';
  if (typeof prefix !== 'string') throw new TypeError('Expected `prefix` to be a string');
  const timeout = options?.timeout ?? 5000;
  if (typeof timeout !== 'number' || !(timeout > 0)) {
    throw new RangeError(`Expected \`timeout\` to be a number > 0, got ${String(timeout)}`);
  }
  return new RedisStore(client, prefix, timeout);
}
