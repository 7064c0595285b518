"""The Lua scripts behind the Redis state store (see redis.py for the key layout).

Each script runs atomically on the server, so every read-modify-write of the store is
one round trip and safe across any number of replicas. Expiring entries live in their
own string keys (SET NX PX: Redis itself expires them); a per-group sorted set indexes
them by expiry time (ms, server clock) so a group can be listed or cleared, and is
trimmed on every add so marks with unique keys do not pile up.

KEYS/ARGV layout shared by the per-key scripts:
KEYS[1] group hash, KEYS[2] the key's expiring-entry string, KEYS[3] the group's expiry
index, KEYS[4] the set of group names, KEYS[5] the group's key index (the hash's keys,
for state.list: _redis_list.py); ARGV[1] key, ARGV[2] group, then script args.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# Drop the group name from the set once nothing is left in it.
_FORGET_IF_EMPTY = """
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
end
"""

DELETE = (
    """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
"""
    + _FORGET_IF_EMPTY
)

TAKE = (
    """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
else
  value = redis.call('GET', KEYS[2])
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
"""
    + _FORGET_IF_EMPTY
    + """
return value
"""
)

# ARGV[3] the increment as JSON text, ARGV[4] '1' when it is an integer.
# Returns {'ok', new JSON text} | {'nan', current JSON text} | {'range', 'int' or ''}.
# int + int uses HINCRBY (exact 64-bit); anything with a float uses doubles, written
# with 17 significant digits so Python reads back the very same float.
INCR = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local expiring = false
if not current then
  current = redis.call('GET', KEYS[2])
  expiring = current ~= false and current ~= nil
end
if not current then current = '0' end
local number = tonumber(current)
if number == nil or string.find(current, '^%s') or string.find(current, '^0[xX]') then
  return {'nan', current}
end
local integral = string.find(current, '^%-?%d+$') ~= nil and ARGV[4] == '1'
local text
if not integral then
  local result = number + tonumber(ARGV[3])
  if result ~= result or result == math.huge or result == -math.huge then
    return {'range', ''}
  end
  text = string.format('%.17g', result)
  if not string.find(text, '[%.eEn]') then text = text .. '.0' end
end
if expiring then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
if integral then
  if expiring then redis.call('HSET', KEYS[1], ARGV[1], current) end
  local ok = redis.pcall('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
  if type(ok) == 'table' and ok.err then return {'range', 'int'} end
  return {'ok', redis.call('HGET', KEYS[1], ARGV[1])}
end
redis.call('HSET', KEYS[1], ARGV[1], text)
return {'ok', text}
"""

# ARGV[3] the value, ARGV[4] TTL in ms ('' for none). Returns 1 when this call set it.
ADD_IF_ABSENT = (
    _NOW
    + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local set
if ARGV[4] == '' then
  set = redis.call('SET', KEYS[2], ARGV[3], 'NX')
else
  set = redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4])
end
if not set then return 0 end
local expires = '+inf'
if ARGV[4] ~= '' then expires = now + tonumber(ARGV[4]) end
redis.call('ZADD', KEYS[3], expires, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""
)

# KEYS[1] group hash, KEYS[2] expiry index; ARGV[1] the prefix of its entries' keys.
# Returns a flat list key, value, key, value...
ITEMS = """
local out = redis.call('HGETALL', KEYS[1])
for _, key in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local value = redis.call('GET', ARGV[1] .. key)
  if value then
    out[#out + 1] = key
    out[#out + 1] = value
  end
end
return out
"""

# KEYS[1] group hash, KEYS[2] expiry index, KEYS[3] group set, KEYS[4] key index;
# ARGV[1] entry prefix, ARGV[2] group.
CLEAR = """
for _, key in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('UNLINK', ARGV[1] .. key)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[4])
redis.call('SREM', KEYS[3], ARGV[2])
"""

# KEYS[1] group set; ARGV[1] hash prefix, ARGV[2] index prefix. Forgets empty groups.
GROUPS = (
    _NOW
    + """
local out = {}
for _, group in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. group) == 1 then
    out[#out + 1] = group
  else
    local index = ARGV[2] .. group
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
    if redis.call('EXISTS', index) == 1 then
      out[#out + 1] = group
    else
      redis.call('SREM', KEYS[1], group)
    end
  end
end
return out
"""
)

# Owner-checked lease operations. A lease always has a TTL, so it lives in its expiring
# entry KEYS[2] (never the durable hash). ARGV[3] the owner's value; returns 1 on a match.
DELETE_IF = (
    """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
"""
    + _FORGET_IF_EMPTY
    + """
return 1
"""
)

# ARGV[4] the new TTL in ms.
RENEW_IF = (
    _NOW
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
return 1
"""
)

# An expiring counter: ARGV[3] its TTL in ms, ARGV[4] the increment. A missing (or
# expired) counter starts from 0 with that TTL; a live one keeps its expiry. Returns the count.
COUNT_EXPIRING = (
    _NOW
    + """
local count = redis.call('INCRBY', KEYS[2], ARGV[4])
if count == tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[2])
end
return count
"""
)
