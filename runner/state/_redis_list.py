r"""`state.list` on Redis: the key index and the script that pages through it.

A group's durable entries are a hash, which Redis cannot read in key order. The key
index (`k:<group>`, a sorted set with every score 0) holds the same keys, which
ZRANGEBYLEX returns in byte order: code-point order for UTF-8, the order of every other
store. Every script that adds or removes a hash field keeps it in step (_redis_lua.py,
_redis_update.py); LIST rebuilds it when its size differs from the hash's (a group
written before the index existed).
"""

from __future__ import annotations

# KEYS[1] group hash, KEYS[2] key index; ARGV[1] min, ARGV[2] max (ZRANGEBYLEX syntax),
# ARGV[3] how many. Returns a flat list key, value, key, value... in key order.
LIST = r"""
local size = redis.call('HLEN', KEYS[1])
if redis.call('ZCARD', KEYS[2]) ~= size then
  redis.call('DEL', KEYS[2])
  local keys = redis.call('HKEYS', KEYS[1])
  for first = 1, #keys, 1000 do
    local args = {}
    for n = first, math.min(first + 999, #keys) do
      args[#args + 1] = 0
      args[#args + 1] = keys[n]
    end
    redis.call('ZADD', KEYS[2], unpack(args))
  end
end
local keys = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
local out = {}
if #keys == 0 then return out end
local values = redis.call('HMGET', KEYS[1], unpack(keys))
for n = 1, #keys do
  if values[n] then
    out[#out + 1] = keys[n]
    out[#out + 1] = values[n]
  end
end
return out
"""


def lex_range(after: str | None, prefix: str, end: str | None) -> tuple[str, str]:
    """ZRANGEBYLEX bounds: keys after `after` (exclusive), from `prefix`, below `end`."""
    if after is not None and after >= prefix:
        low = "(" + after
    else:
        low = "[" + prefix if prefix else "-"
    return low, "+" if end is None else "(" + end
