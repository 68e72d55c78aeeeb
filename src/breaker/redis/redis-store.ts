import { type Clock, systemClock } from '../../core/clock.js';
import { LuaScript } from '../../core/redis.js';
import { checkNumber, checkObject, fail } from '../../core/validate.js';
import type { BreakerStore } from '../breaker.js';
import type { BreakerBackend, Op, Reply, Shared } from './backend.js';
import { SharedBreakerStore } from './shared-store.js';

/**
 * The subscriber connection the store makes with `duplicate()` (an ioredis client).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { type RedisBreakerClient, type RedisBreakerSubscriber, redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const redis = new Redis({ maxRetriesPerRequest: 1 });
 * const client: RedisBreakerClient = {
 *   evalsha: (sha, keys, ...args) => redis.evalsha(sha, keys, ...args),
 *   eval: (script, keys, ...args) => redis.eval(script, keys, ...args),
 *   // The store's notification connection, named so that it shows in CLIENT LIST.
 *   duplicate: (): RedisBreakerSubscriber => redis.duplicate({ connectionName: 'breaker-events' }),
 * };
 * const store = redisBreakerStore(client, { key: 'llm:openai' });
 * ```
 */
export interface RedisBreakerSubscriber {
  /** Subscribes to a channel. */
  subscribe(channel: string): Promise<unknown>;
  /** Listens to `message`, `ready` and `error`. */
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Closes the connection. */
  disconnect(): void;
}

/**
 * What the store needs from an ioredis client (`Redis`; on a cluster every key shares one hash slot).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { type RedisBreakerClient, redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const client: RedisBreakerClient = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   maxRetriesPerRequest: 1,
 * });
 * const store = redisBreakerStore(client, { key: 'llm:openai' });
 * ```
 */
export interface RedisBreakerClient {
  /** Runs a cached Lua script. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Runs (and caches) a Lua script. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** A second connection for notifications; without one the store polls only. */
  duplicate?(): RedisBreakerSubscriber;
  /** ioredis's connection status: a client known to be reconnecting fails fast instead of queueing. */
  readonly status?: string | undefined;
}

/**
 * Options for {@link redisBreakerStore}.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from 'breakwater/breaker';
 * import { type RedisBreakerStoreOptions, redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const options: RedisBreakerStoreOptions = {
 *   key: 'llm:openai',
 *   prefix: 'myapp:breaker:',
 *   staleness: 500, // the fleet agrees within 0.5 s
 *   timeout: 250, // a slower operation counts Redis as unreachable: the breaker runs on local state
 * };
 * const breaker = circuitBreaker({ store: redisBreakerStore(redis, options) });
 * ```
 */
export interface RedisBreakerStoreOptions {
  /** The breaker's name in Redis: every instance with the same `key` (and `prefix`) shares one circuit. */
  readonly key: string;
  /**
   * Prefix of the Redis keys and channel (`<prefix>{<key>}`).
   * @defaultValue 'breakwater:breaker:'
   */
  readonly prefix?: string | undefined;
  /**
   * Longest time (ms) an instance keeps acting on a state the fleet has left, while Redis answers:
   * a transition reaches the others at once by pub/sub; a poll every `staleness / 2` ms is the
   * backstop for a lost notification.
   * @defaultValue 1000
   */
  readonly staleness?: number | undefined;
  /**
   * Longest wait (ms) for one Redis operation; past it the store counts as unreachable and the
   * breaker runs on its local state (`degraded` event). Also bounds how long a probe waits for its lease.
   * @defaultValue 1000
   */
  readonly timeout?: number | undefined;
  /**
   * Probe lease (ms). The holder renews it every `lease / 3` ms while its probe runs, so it only
   * matters when the holder dies: the fleet then waits up to this long for its next probe.
   * @defaultValue 5000
   */
  readonly lease?: number | undefined;
  /** The breaker's clock (only set it with a virtual clock in tests). @defaultValue systemClock */
  readonly clock?: Clock | undefined;
}

/**
 * A {@link BreakerStore} in Redis: pass it as `circuitBreaker({ store })`.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from 'breakwater/breaker';
 * import { type RedisBreakerStore, redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const store: RedisBreakerStore = redisBreakerStore(redis, { key: 'llm:openai' });
 * const breaker = circuitBreaker({ store });
 * const health = () => ({ circuit: breaker.state, sharedStateReachable: !store.degraded });
 * process.on('SIGTERM', () => void store.close());
 * ```
 */
export interface RedisBreakerStore extends BreakerStore {
  /** True while Redis is unreachable and the breaker runs on its local state. */
  readonly degraded: boolean;
  /** Stops polling and closes the notification connection (the client itself stays yours). */
  close(): Promise<void>;
}

// The shared record: a hash `<base>` {s: closed|open|isolated, e: epoch, u: break end (Redis time,
// ms), n: openings, r: resets}; a set `<base>:isolations` of the instances holding an isolation; one
// key per probe slot `<base>:probe:<i>` = `<epoch>:<lease token>` (SET NX PX: a dead holder's lease
// lapses by itself) or `<epoch>:+` once that probe succeeded. KEYS = [hash, set, slot 1, …, slot N];
// ARGV = [op, instance id, …]. Every transition bumps the epoch, deletes the slots (ending the
// half-open period) and publishes the record on the channel `<base>`. Time is Redis's (TIME), so the
// instances' clocks need not agree. Each reply: {ok} without a record, else {ok, s, e, ms left, n, r,
// holders, me among them}.
const SCRIPT = `
local op, me = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 's', 'e', 'u', 'n', 'r')
local s = h[1]
local e, u, n, r = tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
local function reply(ok)
  if not s then return {ok} end
  return {ok, s, e, u - now, n, r, redis.call('SCARD', KEYS[2]), redis.call('SISMEMBER', KEYS[2], me)}
end
local function save(to)
  s = to
  e = e + 1
  redis.call('HSET', KEYS[1], 's', s, 'e', e, 'u', u, 'n', n, 'r', r)
  for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
  redis.call('PUBLISH', KEYS[1], table.concat({s, e, u - now, n, r, redis.call('SCARD', KEYS[2])}, ','))
end
if op == 'seed' then
  -- ARGV: state, epoch, ms left, openings, resets, isolated by me (1/0), lease ms, lease tokens...
  local se = tonumber(ARGV[4])
  if s and e >= se then return reply(0) end
  e = se - 1
  u = now + tonumber(ARGV[5])
  n = tonumber(ARGV[6])
  r = math.max(r, tonumber(ARGV[7]))
  if ARGV[8] == '1' then redis.call('SADD', KEYS[2], me) end
  save(ARGV[3])
  for j = 10, #ARGV do
    if KEYS[j - 7] then redis.call('SET', KEYS[j - 7], e .. ':' .. ARGV[j], 'PX', ARGV[9]) end
  end
  return reply(1)
end
if not s then return reply(-1) end
if op == 'read' then return reply(1) end
if op == 'open' then
  -- ARGV: epoch seen, break ms, strict (1: only a reopen of that epoch's half-open period)
  if (s == 'closed' and ARGV[5] ~= '1') or (s == 'open' and e == tonumber(ARGV[3])) then
    n = n + 1
    u = now + tonumber(ARGV[4])
    save('open')
    return reply(1)
  end
  return reply(0)
end
if op == 'acquire' then
  -- ARGV: epoch, token, lease ms
  if s ~= 'open' or e ~= tonumber(ARGV[3]) or now < u then return reply(0) end
  for i = 3, #KEYS do
    local v = redis.call('GET', KEYS[i])
    if v and string.find(v, e .. ':', 1, true) ~= 1 then redis.call('DEL', KEYS[i]) end
    if redis.call('SET', KEYS[i], e .. ':' .. ARGV[4], 'NX', 'PX', ARGV[5]) then return reply(1) end
  end
  return reply(0)
end
if op == 'confirm' then
  -- ARGV: epoch, token. All slots succeeded: close.
  if s ~= 'open' or e ~= tonumber(ARGV[3]) then return reply(0) end
  local mine, good = e .. ':' .. ARGV[4], e .. ':+'
  local found, count = false, 0
  for i = 3, #KEYS do
    local v = redis.call('GET', KEYS[i])
    if v == mine then
      redis.call('SET', KEYS[i], good, 'PX', 86400000)
      v = good
      found = true
    end
    if v == good then count = count + 1 end
  end
  if not found then return reply(0) end
  if count >= #KEYS - 2 then
    n = 0
    u = 0
    save('closed')
  end
  return reply(1)
end
if op == 'release' then
  -- ARGV: epoch, token
  local mine = e .. ':' .. ARGV[4]
  for i = 3, #KEYS do
    if e == tonumber(ARGV[3]) and redis.call('GET', KEYS[i]) == mine then redis.call('DEL', KEYS[i]) end
  end
  return reply(1)
end
if op == 'renew' then
  -- ARGV: epoch, lease ms, tokens... A lost lease takes a free slot back, if there is one.
  if s ~= 'open' or e ~= tonumber(ARGV[3]) then return reply(0) end
  local kept = 0
  for j = 5, #ARGV do
    local v = e .. ':' .. ARGV[j]
    local held = false
    for i = 3, #KEYS do
      if not held and redis.call('GET', KEYS[i]) == v then
        redis.call('PEXPIRE', KEYS[i], ARGV[4])
        held = true
      end
    end
    for i = 3, #KEYS do
      if not held and redis.call('SET', KEYS[i], v, 'NX', 'PX', ARGV[4]) then held = true end
    end
    if held then kept = kept + 1 end
  end
  return reply(kept)
end
if op == 'isolate' then
  redis.call('SADD', KEYS[2], me)
  if s ~= 'isolated' then
    n = 0
    u = 0
    save('isolated')
  end
  return reply(1)
end
if op == 'unisolate' then
  redis.call('SREM', KEYS[2], me)
  if s == 'isolated' and redis.call('SCARD', KEYS[2]) == 0 then save('closed') end
  return reply(1)
end
if op == 'reset' then
  redis.call('DEL', KEYS[2])
  n = 0
  u = 0
  r = r + 1
  save('closed')
  return reply(1)
end
return redis.error_reply('unknown breaker op ' .. op)`;

const STATES = ['closed', 'open', 'isolated'];

function readShared(v: readonly unknown[], at: number, member: unknown): Shared {
  const s = String(v[at]);
  if (!STATES.includes(s)) throw new Error(`Unexpected breaker state in Redis: ${JSON.stringify(s)}`);
  return {
    s: s as Shared['s'],
    e: Number(v[at + 1]),
    rem: Number(v[at + 2]),
    n: Number(v[at + 3]),
    r: Number(v[at + 4]),
    i: Number(v[at + 5]),
    m: member === undefined ? undefined : Number(member) === 1,
  };
}

const RUN = /*#__PURE__*/ new LuaScript(SCRIPT);

/** The shared record in Redis: the script above, and the channel for notifications. @internal */
export class RedisBackend implements BreakerBackend {
  readonly #client: RedisBreakerClient;
  readonly #base: string;
  readonly #keys: string[];

  constructor(client: RedisBreakerClient, base: string) {
    this.#client = client;
    this.#base = base;
    this.#keys = [base, `${base}:isolations`];
  }

  ready(): boolean {
    const status = this.#client.status;
    return status !== 'reconnecting' && status !== 'end' && status !== 'close';
  }

  async exec(op: Op, me: string, slots: number, args: readonly (string | number)[]): Promise<Reply> {
    const keys = this.#keys;
    for (let i = keys.length - 1; i <= slots; i++) keys.push(`${this.#base}:probe:${i}`);
    const v = await RUN.run(this.#client, keys.slice(0, 2 + slots), [op, me, ...args]);
    if (!Array.isArray(v)) throw new Error('Unexpected reply from the breaker script');
    return { ok: Number(v[0]), state: v.length > 1 ? readShared(v, 1, v[7]) : undefined };
  }

  listen(onState: (state: Shared) => void, onResume: () => void): () => Promise<void> {
    const sub = this.#client.duplicate?.();
    if (sub === undefined) return () => Promise.resolve();
    let connected = false;
    sub.on('error', () => {}); // reconnects by itself; the poll covers the gap
    sub.on('ready', () => {
      if (connected) onResume(); // notifications may have been missed while it was away
      connected = true;
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#base) return;
      try {
        onState(readShared(message.split(','), 0, undefined));
      } catch {
        // A malformed message: the next poll reads the record.
      }
    });
    sub.subscribe(this.#base).catch(() => {});
    return () => {
      sub.disconnect();
      return Promise.resolve();
    };
  }
}

/**
 * A breaker store in Redis (ioredis): every breaker built with a store of the same `key` — in any
 * process — shares one circuit. The open, half-open and isolated state, the break (escalation
 * included) and the probe slots are shared; each breaker keeps its own failure statistics and decides
 * locally when to open. A closed breaker's calls never touch Redis. A transition reaches the other
 * instances by pub/sub at once, and within `staleness` ms by polling if a notification is lost. While
 * Redis is unreachable each breaker runs on its local state (`degraded` event) and reconciles when it
 * answers again (`resynced`): an open anywhere wins.
 *
 * @throws TypeError when `client` is not an ioredis client or an option is invalid.
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { circuitBreaker, consecutive } from 'breakwater/breaker';
 * import { redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const redis = new Redis({ maxRetriesPerRequest: 1 });
 * const openai = circuitBreaker({
 *   strategy: consecutive(5),
 *   breakDuration: 10_000,
 *   store: redisBreakerStore(redis, { key: 'llm:openai' }),
 * });
 * ```
 */
export function redisBreakerStore(client: RedisBreakerClient, options: RedisBreakerStoreOptions): RedisBreakerStore {
  const c = client as Partial<RedisBreakerClient> | null;
  if (c === null || typeof c !== 'object' || typeof c.evalsha !== 'function' || typeof c.eval !== 'function')
    fail('client', 'an ioredis client', client);
  checkObject('options', options);
  if (options === undefined) fail('options', 'an object with a `key`', options);
  const { key, prefix = 'breakwater:breaker:' } = options;
  if (typeof key !== 'string' || key === '') fail('key', 'a non-empty string', key);
  if (typeof prefix !== 'string') fail('prefix', 'a string', prefix);
  const staleness = checkNumber('staleness', options.staleness ?? 1000, 0, { exclusiveMin: true });
  const timeout = checkNumber('timeout', options.timeout ?? 1000, 0, { exclusiveMin: true });
  const lease = checkNumber('lease', options.lease ?? 5000, 0, { exclusiveMin: true });
  for (const [name, v] of [
    ['staleness', staleness],
    ['timeout', timeout],
    ['lease', lease],
  ] as const) {
    if (!Number.isFinite(v)) fail(name, 'a finite number', v, RangeError);
  }
  checkObject('clock', options.clock);
  const clock = options.clock ?? systemClock;
  return new SharedBreakerStore(new RedisBackend(client, `${prefix}{${key}}`), {
    staleness,
    timeout,
    lease,
    clock,
  });
}
