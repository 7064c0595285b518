r"""`state.update` on Redis: the Lua port of _update.py and the arguments it takes.

UPDATE is the Lua port of _update.py, run by the server in one script call, so an update
is atomic however many replicas send one. It does not use cjson: cjson decodes `[]` and
`{}` to the same empty table (an empty list came back as `{}`), writes numbers with 14
significant digits (2**60 came back as 1.1529215046068e+18, 0.1 + 0.2 as 0.3) and
reorders object keys. The script works on the JSON text itself instead: it splits only
the containers on the way to each path into members (skipping over every other value
with string.find), and splices the op's value, already encoded by Python, into place.
Untouched parts keep their exact bytes, and numbers are added as text: integers exactly
(decimal digits, any size), floats in doubles and written the way Python's repr writes
them, so the stored text is the one `_update.apply_text` would write (the agreement test
compares the bytes).

KEYS of UPDATE: the per-key layout of redis.py (`RedisStore._key_args`): 1 group hash,
2 expiring entry, 3 expiry index, 4 group set, 5 key index. ARGV: 1 key, 2 group, 3 the
number of ops, then per op: its name, its number of segments n, n pairs (segment as a
JSON string token, the array index it names or ''), and its JSON text (value or `by`).
Returns {'ok', new text} ({'ok'} when the key is gone) or {'err', op index, code,
depth, found}, which `_update.failure` turns into the same StateError as Python's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from motia.runner.state._update import Op, index_of

_HELPERS = r"""
local function string_end(s, i)
  local j = i + 1
  while true do
    local q = string.find(s, '["\\]', j)
    if string.byte(s, q) == 34 then return q + 1 end
    j = q + 2
  end
end

local function value_end(s, i)
  local c = string.byte(s, i)
  if c == 34 then return string_end(s, i) end
  if c ~= 123 and c ~= 91 then return string.find(s, '[,%]}]', i) or #s + 1 end
  local depth, j = 0, i
  while true do
    local p = string.find(s, '[%[%]{}"]', j)
    local b = string.byte(s, p)
    if b == 34 then
      j = string_end(s, p)
    else
      if b == 123 or b == 91 then depth = depth + 1 else depth = depth - 1 end
      j = p + 1
      if depth == 0 then return j end
    end
  end
end

-- A container's members: {k = key tokens (objects only), v = values}; each value is its
-- raw JSON text, or a parsed node once an op went through it.
local function parse(s)
  local node = {v = {}}
  if string.byte(s, 1) == 123 then node.k = {} end
  if #s == 2 then return node end
  local i = 2
  while true do
    if node.k then
      local e = string_end(s, i)
      node.k[#node.k + 1] = string.sub(s, i, e - 1)
      i = e + 1
    end
    local e = value_end(s, i)
    node.v[#node.v + 1] = string.sub(s, i, e - 1)
    if string.byte(s, e) ~= 44 then return node end
    i = e + 1
  end
end

local function text(v)
  if type(v) == 'string' then return v end
  local parts = {}
  if v.k then
    for n = 1, #v.v do parts[n] = v.k[n] .. ':' .. text(v.v[n]) end
    return '{' .. table.concat(parts, ',') .. '}'
  end
  for n = 1, #v.v do parts[n] = text(v.v[n]) end
  return '[' .. table.concat(parts, ',') .. ']'
end

local function token(v)
  if type(v) == 'table' then
    if v.k then return '{' end
    return '['
  end
  local b = string.byte(v, 1)
  if b == 123 then return '{' end
  if b == 91 then return '[' end
  return v
end

local function add_digits(x, y)
  local out, carry, i, j = {}, 0, #x, #y
  while i > 0 or j > 0 or carry > 0 do
    local s = carry
    if i > 0 then s = s + string.byte(x, i) - 48 end
    if j > 0 then s = s + string.byte(y, j) - 48 end
    out[#out + 1] = s % 10
    carry = (s - s % 10) / 10
    i, j = i - 1, j - 1
  end
  return string.reverse(table.concat(out))
end

local function sub_digits(x, y)
  local out, borrow, i, j = {}, 0, #x, #y
  while i > 0 do
    local s = string.byte(x, i) - 48 - borrow
    if j > 0 then s = s - (string.byte(y, j) - 48) end
    if s < 0 then s, borrow = s + 10, 1 else borrow = 0 end
    out[#out + 1] = s
    i, j = i - 1, j - 1
  end
  local digits = string.gsub(string.reverse(table.concat(out)), '^0+', '')
  return digits
end

local function compare_digits(x, y)
  if #x ~= #y then return #x < #y and -1 or 1 end
  if x == y then return 0 end
  return x < y and -1 or 1
end

local function add_integers(a, b)
  if #a < 16 and #b < 16 then return string.format('%.0f', tonumber(a) + tonumber(b)) end
  local na, nb = string.byte(a, 1) == 45, string.byte(b, 1) == 45
  local ma, mb = a, b
  if na then ma = string.sub(a, 2) end
  if nb then mb = string.sub(b, 2) end
  if na == nb then return (na and '-' or '') .. add_digits(ma, mb) end
  local c = compare_digits(ma, mb)
  if c == 0 then return '0' end
  if c > 0 then return (na and '-' or '') .. sub_digits(ma, mb) end
  return (nb and '-' or '') .. sub_digits(mb, ma)
end

-- `sign digits` x 10^scale written as Python's repr writes a float: positional from
-- 1e-4 up to 1e16, scientific (two-digit exponent at least) outside.
local function repr(sign, digits, scale)
  local trimmed = string.gsub(digits, '0+$', '')
  if trimmed == '' then return sign .. '0.0' end
  scale = scale + #digits - #trimmed
  digits = trimmed
  local e = scale + #digits - 1
  if e < -4 or e >= 16 then
    local mantissa = string.sub(digits, 1, 1)
    if #digits > 1 then mantissa = mantissa .. '.' .. string.sub(digits, 2) end
    local size = math.abs(e)
    return sign .. mantissa .. 'e' .. (e < 0 and '-' or '+') .. (size < 10 and '0' or '') .. size
  end
  if e < 0 then return sign .. '0.' .. string.rep('0', -e - 1) .. digits end
  if #digits <= e + 1 then return sign .. digits .. string.rep('0', e + 1 - #digits) .. '.0' end
  return sign .. string.sub(digits, 1, e + 1) .. '.' .. string.sub(digits, e + 2)
end

-- The shortest digits that read back as the same double, as Python finds them. The
-- correctly rounded %.Ne is the closest candidate of its length; at a power of two the
-- interval of decimals reading back as x is lopsided, so when that candidate misses,
-- its neighbour one unit in the last place away may still hit (2^-1018 needs this).
local function float_text(x)
  if x ~= x or x == math.huge or x == -math.huge then return nil end
  for p = 0, 16 do
    local s = string.format('%.' .. p .. 'e', x)
    local sign, first, rest, exp = string.match(s, '^(-?)(%d)%.?(%d*)e([-+]%d+)$')
    local digits, scale = first .. rest, tonumber(exp) - p
    if tonumber(s) == x then return repr(sign, digits, scale) end
    local up, down = add_digits(digits, '1'), sub_digits(digits, '1')
    if tonumber(sign .. up .. 'e' .. scale) == x then return repr(sign, up, scale) end
    if down ~= '' and tonumber(sign .. down .. 'e' .. scale) == x then
      return repr(sign, down, scale)
    end
  end
end

local function add(a, b)
  if string.find(a, '^%-?%d+$') and string.find(b, '^%-?%d+$') then
    return add_integers(a, b)
  end
  return float_text(tonumber(a) + tonumber(b))
end
"""

_APPLY = r"""
local function fail(index, code, depth, found)
  error({index, code, depth, found or ''})
end

local function is_missing(v) return v == false or v == 'null' end

local function as_node(container, slot)
  local v = container.v[slot]
  if type(v) == 'string' then
    local b = string.byte(v, 1)
    if b == 123 or b == 91 then
      v = parse(v)
      container.v[slot] = v
    end
  end
  return v
end

local function member(node, tok)
  for n = 1, #node.k do
    if node.k[n] == tok then return n end
  end
  return nil
end

-- (container, slot) of op's path; creating objects on the way when `create`, else nil
-- when the path leads nowhere.
local function walk(holder, op, index, create)
  local container, slot = holder, 1
  for d = 1, op.n do
    local node = as_node(container, slot)
    if create and is_missing(node) then
      node = {k = {}, v = {}}
      container.v[slot] = node
    end
    if type(node) ~= 'table' then
      if not create then return nil end
      fail(index, 'not_container', d - 1, node)
    end
    if node.k then
      local m = member(node, op.tok[d])
      if not m then
        if not create then return nil end
        m = #node.k + 1
        node.k[m], node.v[m] = op.tok[d], false
      end
      container, slot = node, m
    else
      local at = tonumber(op.idx[d])
      if not at then
        if not create then return nil end
        fail(index, 'not_index', d - 1)
      end
      if at >= #node.v then
        if not create then return nil end
        fail(index, 'out_of_range', d - 1, tostring(#node.v))
      end
      container, slot = node, at + 1
    end
  end
  return container, slot
end

local apply = {}

function apply.set(holder, op, index)
  local container, slot = walk(holder, op, index, true)
  container.v[slot] = op.text
end

function apply.merge(holder, op, index)
  local container, slot = walk(holder, op, index, true)
  local v = as_node(container, slot)
  if is_missing(v) then
    v = {k = {}, v = {}}
    container.v[slot] = v
  end
  if type(v) ~= 'table' or not v.k then fail(index, 'not_object', op.n, token(v)) end
  local at = {}
  for n = 1, #v.k do at[v.k[n]] = n end
  local m = parse(op.text)
  for n = 1, #m.k do
    local found = at[m.k[n]]
    if found then
      v.v[found] = m.v[n]
    else
      v.k[#v.k + 1], v.v[#v.v + 1] = m.k[n], m.v[n]
    end
  end
end

function apply.append(holder, op, index)
  local container, slot = walk(holder, op, index, true)
  local v = container.v[slot]
  if is_missing(v) then
    container.v[slot] = '[' .. op.text .. ']'
  elseif type(v) == 'table' then
    if v.k then fail(index, 'not_array', op.n, '{') end
    v.v[#v.v + 1] = op.text
  elseif string.byte(v, 1) ~= 91 then
    fail(index, 'not_array', op.n, token(v))
  elseif v == '[]' then
    container.v[slot] = '[' .. op.text .. ']'
  else
    container.v[slot] = string.sub(v, 1, -2) .. ',' .. op.text .. ']'
  end
end

function apply.increment(holder, op, index)
  local container, slot = walk(holder, op, index, true)
  local v = container.v[slot]
  if is_missing(v) then v = '0' end
  local b = type(v) == 'string' and string.byte(v, 1)
  if not b or not (b == 45 or (b >= 48 and b <= 57)) then
    fail(index, 'not_number', op.n, token(v))
  end
  local total = add(v, op.text)
  if not total then fail(index, 'range', op.n) end
  container.v[slot] = total
end

function apply.remove(holder, op, index)
  local container, slot = walk(holder, op, index, false)
  if container == holder then
    holder.v[1] = false
  elseif container then
    if container.k then table.remove(container.k, slot) end
    table.remove(container.v, slot)
  end
end
"""

UPDATE = _HELPERS + _APPLY + r"""
local ops, a = {}, 4
for i = 1, tonumber(ARGV[3]) do
  local op = {name = ARGV[a], n = tonumber(ARGV[a + 1]), tok = {}, idx = {}}
  a = a + 2
  for d = 1, op.n do
    op.tok[d], op.idx[d] = ARGV[a], ARGV[a + 1]
    a = a + 2
  end
  op.text = ARGV[a]
  a = a + 1
  ops[i] = op
end

local holder = {v = {redis.call('HGET', KEYS[1], ARGV[1])}}
local ok, failed = pcall(function()
  for i = 1, #ops do apply[ops[i].name](holder, ops[i], i - 1) end
end)
if not ok then
  if type(failed) ~= 'table' then error(failed) end
  return {'err', failed[1], failed[2], failed[3], failed[4]}
end

local result = holder.v[1]
if result == false then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('SREM', KEYS[4], ARGV[2])
  end
  return {'ok'}
end
local out = text(result)
redis.call('HSET', KEYS[1], ARGV[1], out)
redis.call('ZADD', KEYS[5], 0, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return {'ok', out}
"""

_token = json.JSONEncoder().encode  # the key tokens the stored text has (ASCII-escaped)


def update_args(key: str, group: str, ops: Sequence[Op]) -> list[str]:
    """ARGV of UPDATE for `ops` (see the module docstring)."""
    args = [key, group, str(len(ops))]
    for op in ops:
        args += [op.name, str(len(op.path))]
        for segment in op.path:
            position = index_of(segment)
            args += [_token(segment), "" if position is None else str(position)]
        args.append(op.text)
    return args
