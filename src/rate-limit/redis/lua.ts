// The one Lua script of the Redis rate limit store: every operation on a key (take, check, adjust,
// block, cap) is one atomic EVALSHA, on Redis's own clock (TIME), so processes whose clocks disagree
// still share one correct bucket. The arithmetic is that of token-bucket.ts and sliding-window.ts.
//
// KEYS[1] the key; ARGV: op, algorithm ('t' | 'w'), limit, per, capacity, x (cost | delta | ms |
// remaining), y (an adjust's acquire time). Returns { ok, wait, remaining, now, blockedFor } (numbers
// as strings: Lua numbers would come back truncated to integers).
// Token bucket hash fields: n (tokens), a (refill accounted up to), s (latest TIME seen).
// Sliding window hash fields: one per slot index (cost admitted in it), u (held off until), s.
export const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local op, alg = ARGV[1], ARGV[2]
local limit, per, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local x, y = tonumber(ARGV[6]), tonumber(ARGV[7])
local k = KEYS[1]
local eps = 1e-9
local function f(v) return string.format('%.17g', v) end
local write = op ~= 'check'
local ok, wait, rem, held = 0, 0, 0, 0
if alg == 't' then
  local rate = limit / per
  local h = redis.call('HMGET', k, 'n', 'a', 's')
  local n = tonumber(h[1]) or cap
  local a = tonumber(h[2]) or now
  local s = tonumber(h[3]) or now
  if now < s then a = a - (s - now) end
  s = now
  if now > a then n = math.min(cap, n + (now - a) * rate); a = now end
  if op == 'take' or op == 'check' then
    if a <= now and n + eps >= x then
      ok = 1
      if op == 'take' then n = n - x end
    else
      if a > now then wait = a - now end
      if x - n > eps then wait = wait + (x - n) / rate end
    end
  elseif op == 'adjust' then n = math.min(cap, n - x)
  elseif op == 'block' then
    if n > 0 then n = 0 end
    if now + x > a then a = now + x end
  elseif op == 'cap' then
    if n > x then n = x end
  end
  if a > now then held = a - now end
  rem = n
  if write then
    redis.call('HSET', k, 'n', f(n), 'a', f(a), 's', f(s))
    redis.call('PEXPIRE', k, math.ceil(held + math.max(0, cap - n) / rate) + 1000)
  end
else
  local S = 50
  local w = per / S
  local h = redis.call('HGETALL', k)
  local u, s = now, now
  local idx, val = {}, {}
  for i = 1, #h, 2 do
    local fld = h[i]
    if fld == 'u' then u = tonumber(h[i + 1])
    elseif fld == 's' then s = tonumber(h[i + 1])
    else
      local j = tonumber(fld)
      idx[#idx + 1] = j
      val[j] = tonumber(h[i + 1])
    end
  end
  local rebased = false
  if now < s then
    local shift = math.floor(s / w) - math.floor(now / w)
    u = u - (s - now)
    if shift > 0 then
      local moved = {}
      for i = 1, #idx do
        moved[idx[i] - shift] = val[idx[i]]
        idx[i] = idx[i] - shift
      end
      val = moved
      rebased = true
    end
  end
  s = now
  table.sort(idx)
  local cur = math.floor(now / w)
  local min = cur - S
  local sum = 0
  local live = {}
  for i = 1, #idx do
    if idx[i] >= min then
      sum = sum + val[idx[i]]
      live[#live + 1] = idx[i]
    elseif write and not rebased then
      redis.call('HDEL', k, string.format('%.0f', idx[i]))
    end
  end
  local changed = {}
  local function add(i, c)
    if val[i] == nil or i < min then
      val[i] = 0
      live[#live + 1] = i
    end
    val[i] = val[i] + c
    sum = sum + c
    changed[i] = true
  end
  if op == 'take' or op == 'check' then
    local c, extra = x, 0
    if c > limit then
      local more = math.ceil(c / limit) - 1
      c = c - more * limit
      extra = more * (per + w)
    end
    if extra == 0 and u <= now and sum + c <= limit + eps then
      ok = 1
      if op == 'take' then add(cur, c) end
    else
      local start = math.max(u, now)
      local at = start
      local need = sum + c - limit
      if need > eps then
        local freed = 0
        for i = 1, #live do
          freed = freed + val[live[i]]
          if freed + eps >= need then
            at = math.max(start, (live[i] + S + 1) * w)
            break
          end
        end
      end
      wait = at - now + extra
    end
  elseif op == 'adjust' then
    local i = math.floor(y / w)
    if val[i] ~= nil and i >= min then
      local v = val[i] + x
      if v < 0 then v = 0 end
      sum = sum + v - val[i]
      val[i] = v
      changed[i] = true
    elseif x > 0 then add(cur, x) end
  elseif op == 'block' then
    if now + x > u then u = now + x end
  elseif op == 'cap' then
    if x < 0 then x = 0 end
    if limit - sum > x then add(cur, limit - sum - x) end
  end
  if u > now then held = u - now end
  rem = limit - sum
  if write then
    if rebased then
      redis.call('DEL', k)
      for i = 1, #live do changed[live[i]] = true end
    end
    for i, _ in pairs(changed) do redis.call('HSET', k, string.format('%.0f', i), f(val[i])) end
    redis.call('HSET', k, 'u', f(u), 's', f(s))
    redis.call('PEXPIRE', k, math.ceil(held + per + w) + 1000)
  end
end
return { ok, f(wait), f(rem), f(now), f(held) }
`;
