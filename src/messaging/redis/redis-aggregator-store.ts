import { LuaScript } from '../../core/redis.js';
import type { AggregatorStore, GroupUpdate, StoredGroup } from '../aggregator-store.js';
import type { CompletedBy } from '../completion.js';
import { AggregatorLockError } from '../errors.js';

/**
 * What the store needs from an ioredis client: Lua scripts.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisAggregatorStore, type RedisScriptable } from 'breakwater/messaging/redis';
 *
 * const client: RedisScriptable = new Redis({ maxRetriesPerRequest: 1 }); // an ioredis `Redis` fits as it is
 * const store = redisAggregatorStore(client, { prefix: 'myapp:results:' });
 * ```
 */
export interface RedisScriptable {
  /** Runs a cached Lua script. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Runs (and caches) a Lua script. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * Options for {@link redisAggregatorStore}.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisAggregatorStore, type RedisAggregatorStoreOptions } from 'breakwater/messaging/redis';
 *
 * const options: RedisAggregatorStoreOptions = {
 *   prefix: 'myapp:results:', // one per aggregator
 *   lease: 10_000, // a crashed holder's lock lapses after 10 s
 *   lockWait: 2_000, // then AggregatorLockError (reason: 'timeout'): the broker redelivers
 * };
 * const store = redisAggregatorStore(new Redis(), options);
 * ```
 */
export interface RedisAggregatorStoreOptions {
  /**
   * Prefix of every key the store writes; use one per aggregator.
   * @defaultValue 'breakwater:aggregator:'
   */
  readonly prefix?: string | undefined;
  /**
   * Lease of a key's lock in ms, renewed every `lease / 3` while its holder works. A crashed holder's
   * lock lapses after it.
   * @defaultValue 30000
   */
  readonly lease?: number | undefined;
  /**
   * Longest `withGroup` waits for a key's lock, in ms, before it rejects with
   * {@link AggregatorLockError} (`reason: 'timeout'`).
   * @defaultValue 10000
   */
  readonly lockWait?: number | undefined;
}

// The lock: SET NX PX holding a fencing token from a counter; the group comes back in the same call.
const ACQUIRE = /*#__PURE__*/ new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
return {t, redis.call('GET', KEYS[3])}`);

// Writes the group and releases the lock, if the lock still holds our token and no newer token has
// written the group (the fencing check). ARGV: token, key, value ('' deletes), status, dueAt, firstAt, closedAt.
const WRITE = /*#__PURE__*/ new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local cur = redis.call('GET', KEYS[2])
if cur then
  local f = tonumber(string.match(cur, '^(%d+)|'))
  if f and f > tonumber(ARGV[1]) then return 0 end
end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('ZREM', KEYS[5], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[1] .. '|' .. ARGV[3])
  if ARGV[4] == 'open' then
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2])
    redis.call('ZREM', KEYS[5], ARGV[2])
    if ARGV[5] == '' then redis.call('ZREM', KEYS[3], ARGV[2]) else redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2]) end
  else
    redis.call('ZREM', KEYS[3], ARGV[2])
    redis.call('ZREM', KEYS[4], ARGV[2])
    redis.call('ZADD', KEYS[5], ARGV[7], ARGV[2])
  end
end
redis.call('DEL', KEYS[1])
return 1`);

const RELEASE = /*#__PURE__*/ new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

const RENEW = /*#__PURE__*/ new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`);

const DUE = /*#__PURE__*/ new LuaScript(
  `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])`,
);

const COUNT = /*#__PURE__*/ new LuaScript(`return redis.call('ZCARD', KEYS[1])`);

// KEYS[1] the closed set; ARGV: keep, group key prefix.
const TRIM = /*#__PURE__*/ new LuaScript(`
local n = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if n <= 0 then return 0 end
local ks = redis.call('ZRANGE', KEYS[1], 0, n - 1)
for _, k in ipairs(ks) do
  local g = ARGV[2] .. k
  local v = redis.call('GET', g)
  if v and string.find(v, '^%d+|%["closed"') then redis.call('DEL', g) end
  redis.call('ZREM', KEYS[1], k)
end
return #ks`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Row = [
  status: 'open' | 'closed',
  generation: number,
  messages: string[],
  ids: string[],
  firstAt: number,
  lastAt: number,
  dueAt: number | null,
  closedAt: number | null,
  completedBy: CompletedBy | null,
];

function decode(v: string): StoredGroup {
  const r = JSON.parse(v.slice(v.indexOf('|') + 1)) as Row;
  return {
    status: r[0],
    generation: r[1],
    messages: r[2],
    ids: r[3],
    firstAt: r[4],
    lastAt: r[5],
    dueAt: r[6] ?? undefined,
    closedAt: r[7] ?? undefined,
    completedBy: r[8] ?? undefined,
  };
}

function encode(g: StoredGroup): string {
  const r: Row = [
    g.status,
    g.generation,
    g.messages as string[],
    g.ids as string[],
    g.firstAt,
    g.lastAt,
    g.dueAt ?? null,
    g.closedAt ?? null,
    g.completedBy ?? null,
  ];
  return JSON.stringify(r);
}

class Store implements AggregatorStore {
  readonly #client: RedisScriptable;
  readonly #p: string;
  readonly #lease: number;
  readonly #lockWait: number;

  constructor(client: RedisScriptable, prefix: string, lease: number, lockWait: number) {
    this.#client = client;
    this.#p = prefix;
    this.#lease = lease;
    this.#lockWait = lockWait;
  }

  async withGroup<T>(
    key: string,
    fn: (group: StoredGroup | undefined, tx: undefined) => Promise<GroupUpdate<T>>,
  ): Promise<T> {
    const p = this.#p;
    const lock = `${p}l:${key}`;
    const gkey = `${p}g:${key}`;
    const end = Date.now() + this.#lockWait;
    let wait = 5;
    let got: [number, string?];
    for (;;) {
      got = (await this.#script(ACQUIRE, [lock, `${p}fence`, gkey], [this.#lease])) as [number, string?];
      if (got[0] !== 0) break;
      if (Date.now() >= end) throw new AggregatorLockError(key, 'timeout');
      await sleep(Math.min(wait, Math.max(1, end - Date.now())));
      wait = Math.min(wait * 2, 100);
    }
    const token = String(got[0]);
    const before = typeof got[1] === 'string' ? decode(got[1]) : undefined;
    let lost = false;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const renew = (): void => {
      this.#script(RENEW, [lock], [token, this.#lease]).then(
        (r) => {
          if (r !== 1) lost = true;
          else if (!done) timer = setTimeout(renew, this.#lease / 3);
        },
        () => {
          if (!done) timer = setTimeout(renew, this.#lease / 3);
        },
      );
    };
    timer = setTimeout(renew, this.#lease / 3);
    let u: GroupUpdate<T>;
    try {
      u = await fn(before, undefined);
    } catch (error) {
      done = true;
      clearTimeout(timer);
      await this.#script(RELEASE, [lock], [token]).catch(() => undefined);
      throw error;
    }
    done = true;
    clearTimeout(timer);
    const w = u.write;
    if (w === undefined) {
      await this.#script(RELEASE, [lock], [token]);
      if (lost) throw new AggregatorLockError(key, 'lost');
      return u.value;
    }
    const ok = await this.#script(
      WRITE,
      [lock, gkey, `${p}due`, `${p}open`, `${p}closed`],
      [
        token,
        key,
        w === null ? '' : encode(w),
        w === null ? '' : w.status,
        w?.dueAt ?? '',
        w?.firstAt ?? 0,
        w?.closedAt ?? 0,
      ],
    );
    if (ok !== 1) throw new AggregatorLockError(key, 'lost');
    return u.value;
  }

  async due(now: number, limit: number): Promise<string[]> {
    return (await this.#script(DUE, [`${this.#p}due`], [now, limit])) as string[];
  }

  async count(): Promise<number> {
    return (await this.#script(COUNT, [`${this.#p}open`], [])) as number;
  }

  async trim(keep: number): Promise<number> {
    return (await this.#script(TRIM, [`${this.#p}closed`], [keep, `${this.#p}g:`])) as number;
  }

  #script(script: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    return script.run(this.#client, keys, args);
  }
}

/**
 * An aggregator store in Redis (ioredis): groups survive restarts and are shared by a fleet. One
 * writer per key by a lock (`SET NX PX`) holding a fencing token from a counter; the write of the
 * group is a Lua script that checks the lock still holds that token and no newer token wrote the
 * group, and releases the lock. A holder whose lock lapsed (a pause longer than `lease`) has its
 * write refused with {@link AggregatorLockError}; its `onComplete` may then have run while another
 * holder completes the group too, so an `onComplete` with effects outside Redis should dedupe on
 * `${key}#${generation}`. Keys of one store share `prefix` on one Redis node (no cluster slots).
 *
 * @throws TypeError / RangeError when `client` is not an ioredis client or an option is invalid.
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const store = redisAggregatorStore(new Redis(), { prefix: 'myapp:results:' });
 * const results = durableAggregator({ store, correlate: (r: ToolResult) => r.taskId, complete: { size: 3 } });
 * ```
 */
export function redisAggregatorStore(client: RedisScriptable, options?: RedisAggregatorStoreOptions): AggregatorStore {
  const c = client as Partial<RedisScriptable> | null;
  if (c === null || typeof c !== 'object' || typeof c.evalsha !== 'function' || typeof c.eval !== 'function') {
    throw new TypeError('Expected `client` to be an ioredis client');
  }
  const prefix = options?.prefix ?? 'breakwater:aggregator:';
  if (typeof prefix !== 'string') throw new TypeError(`Expected \`prefix\` to be a string, got ${String(prefix)}`);
  const lease = options?.lease ?? 30_000;
  if (typeof lease !== 'number' || !(lease >= 3) || !Number.isFinite(lease)) {
    throw new RangeError(`Expected \`lease\` to be a finite number ≥ 3, got ${String(lease)}`);
  }
  const lockWait = options?.lockWait ?? 10_000;
  if (typeof lockWait !== 'number' || !(lockWait >= 0)) {
    throw new RangeError(`Expected \`lockWait\` to be a number ≥ 0, got ${String(lockWait)}`);
  }
  return new Store(client, prefix, lease, lockWait);
}
