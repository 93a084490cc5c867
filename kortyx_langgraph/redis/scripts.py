"""The Lua scripts: one per saver operation, each one round trip and atomic.

Thread scripts take the five keys of :class:`~kortyx_langgraph.redis.layout.ThreadKeys` as
``KEYS`` (``idx``, ``cp``, ``blob``, ``wr``, ``pending``); pending scripts take the pending
hash alone. All keys of one call share a hash tag, so they run unchanged on Redis Cluster.
Only core commands of Redis 6.2+ are used (plus the ``cmsgpack`` and ``struct`` libraries
every Redis and Valkey build embeds), nothing from modules.

:class:`Script` sends ``EVALSHA`` and falls back to ``EVAL`` (which also caches the script)
when the server answers ``NOSCRIPT``, after a restart, a failover or a resharding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

_HEAD = r"""
local function head(raw)
  local ok, value = pcall(function()
    local len = struct.unpack('>I4', raw, 1)
    return cmsgpack.unpack(string.sub(raw, 5, 4 + len))
  end)
  if not ok or type(value) ~= 'table' then
    error('CORRUPT a stored record could not be decoded', 0)
  end
  return value
end

local function deadline(key)
  local ok, at = pcall(redis.call, 'PEXPIRETIME', key)
  if ok then return at end
  local pttl = redis.call('PTTL', key)
  if pttl < 0 then return pttl end
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + pttl
end
"""

_PRELUDE = (
    _HEAD
    + r"""
local function refresh(ttl)
  if ttl > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end

local function enc(s)
  return (string.gsub(s, '[^%w%-%._~]', function(c)
    return string.format('%%%02X', string.byte(c))
  end))
end

local function dec(s)
  return (string.gsub(s, '%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end))
end

local function ns_of(member)
  return string.match(member, '^([^:]*):')
end

local function thread_pending(thread_id)
  local out = {}
  local all = redis.call('HGETALL', KEYS[5])
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, -2) ~= ':c' then
      local rec = head(all[i + 1])
      if rec[2] == thread_id then out[#out + 1] = {f, rec, all[i + 1]} end
    end
  end
  return out
end

local function drop_pending(f)
  redis.call('HDEL', KEYS[5], f, f .. ':c')
end

-- A blob stored as a delta ("~" + header [base field, count] + appended items) is
-- returned with its chain: {delta, ..., full}, newest first, for the client to join.
local function delta_base(value)
  local len = struct.unpack('>I4', value, 2)
  return cmsgpack.unpack(string.sub(value, 6, 5 + len))[1]
end

local function resolved(value)
  if not value or string.sub(value, 1, 1) ~= '~' then return value end
  local chain = {value}
  while value and string.sub(value, 1, 1) == '~' do
    if #chain > 1000 then error('CORRUPT a stored list delta chain does not end', 0) end
    value = redis.call('HGET', KEYS[3], delta_base(value))
    chain[#chain + 1] = value
  end
  return chain
end

local function blobs_of(member, rec)
  local ns = ns_of(member)
  local refs = head(rec)[3]
  if #refs == 0 then return {} end
  local fields = {}
  for i, ref in ipairs(refs) do fields[i] = ns .. ':' .. ref end
  -- HMGET in chunks: Lua's unpack() refuses about 8,000 values at once
  local values = {}
  for first = 1, #fields, 1000 do
    local part = redis.call('HMGET', KEYS[3], unpack(fields, first, math.min(first + 999, #fields)))
    for i = 1, #part do values[first + i - 1] = resolved(part[i]) end
  end
  return values
end

local function entry(member)
  local rec = redis.call('HGET', KEYS[2], member)
  if not rec then return false end
  return {member, rec, blobs_of(member, rec), redis.call('HGET', KEYS[4], member)}
end

local function hset_from_argv(key, first, pairs)
  local last = first + 2 * pairs - 1
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('HSET', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
"""
)

# ARGV: refresh ttl (0: none), member ('' for the latest), range max, range min
_GET_TUPLE = r"""
local member = ARGV[2]
if member == '' then
  local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[3], ARGV[4], 'LIMIT', 0, 1)
  if #newest == 0 then return false end
  member = newest[1]
end
local found = entry(member)
if found then refresh(tonumber(ARGV[1])) end
return found
"""

# ARGV: refresh ttl, range max, range min, before id ('' none), limit, namespace budget
# -> {next range max or false, {entry...}}: false once the range is exhausted
_LIST = r"""
local upper, lower = ARGV[2], ARGV[3]
local before, limit, budget = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local out, more = {}, true
if before == '' then
  -- one range, newest first
  local members = redis.call('ZREVRANGEBYLEX', KEYS[1], upper, lower, 'LIMIT', 0, limit)
  more = #members == limit
  for _, m in ipairs(members) do
    upper = '(' .. m
    local found = entry(m)
    if found then out[#out + 1] = found end
  end
else
  -- every namespace, each below the before id: jump from one namespace's range to the next
  while #out < limit and budget > 0 do
    budget = budget - 1
    local top = redis.call('ZREVRANGEBYLEX', KEYS[1], upper, lower, 'LIMIT', 0, 1)
    if #top == 0 then
      more = false
      break
    end
    local ns = ns_of(top[1])
    local bound = '(' .. ns .. ':' .. before
    if upper ~= '+' and string.sub(upper, 2) < string.sub(bound, 2) then bound = upper end
    local members = redis.call(
      'ZREVRANGEBYLEX', KEYS[1], bound, '[' .. ns .. ':', 'LIMIT', 0, limit - #out)
    for _, m in ipairs(members) do
      upper = '(' .. m
      local found = entry(m)
      if found then out[#out + 1] = found end
    end
    if #out < limit then upper = '(' .. ns .. ':' end
  end
end
if #out > 0 then refresh(tonumber(ARGV[1])) end
if more then return {upper, out} end
return {false, out}
"""

# ARGV: ttl, member, record, thread id, checkpoint id if root namespace else '',
#       then per blob: field, full value, base field ('' for none), delta value
# A delta is stored only while its base is there (prune may have removed it).
_PUT = r"""
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
for i = 6, #ARGV, 4 do
  -- a (channel, version) field always holds the same value: the first write stands
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then
    if ARGV[i + 2] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[i + 2]) == 1 then
      redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 3])
    else
      redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    end
  end
end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then
  for _, p in ipairs(thread_pending(ARGV[4])) do
    if p[2][3] < ARGV[5] then drop_pending(p[1]) end
  end
end
refresh(tonumber(ARGV[1]))
return 1
"""

# ARGV: ttl, member, thread id, n, n x (key, entry, overwrite '1'/'0'),
#       mode ('' none, 'i' interrupts, 'd' task done), checkpoint id, task id,
#       m, m x (interrupt id, new token, record)
_PUT_WRITES = r"""
local field = ARGV[2]
local order, entries = {}, {}
local stored = redis.call('HGET', KEYS[4], field)
if stored then
  local pos = 1
  while pos <= #stored do
    local klen, elen
    klen, pos = struct.unpack('>I4', stored, pos)
    local key = string.sub(stored, pos, pos + klen - 1)
    pos = pos + klen
    elen, pos = struct.unpack('>I4', stored, pos)
    order[#order + 1] = key
    entries[key] = string.sub(stored, pos, pos + elen - 1)
    pos = pos + elen
  end
end
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  local key, value, overwrite = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if entries[key] == nil then
    order[#order + 1] = key
    entries[key] = value
  elseif overwrite == '1' then
    entries[key] = value
  end
end
local parts = {}
for j, key in ipairs(order) do
  local value = entries[key]
  parts[j] = struct.pack('>I4', #key) .. key .. struct.pack('>I4', #value) .. value
end
redis.call('HSET', KEYS[4], field, table.concat(parts))

local mode, cp_id, task_id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
if mode == 'i' or mode == 'd' then
  local m = tonumber(ARGV[i + 3])
  local wanted = {}
  i = i + 4
  for _ = 1, m do
    wanted[ARGV[i]] = {ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  end
  local kept = {}
  for _, p in ipairs(thread_pending(ARGV[3])) do
    local rec = p[2]
    if rec[3] == cp_id and rec[4] == task_id then
      if mode == 'i' and wanted[rec[1]] then kept[rec[1]] = true else drop_pending(p[1]) end
    end
  end
  if mode == 'i' then
    for interrupt_id, new in pairs(wanted) do
      if not kept[interrupt_id] then redis.call('HSET', KEYS[5], new[1], new[2]) end
    end
  end
end
refresh(tonumber(ARGV[1]))
return 1
"""

# ARGV: thread id
_DELETE_THREAD = r"""
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
for _, p in ipairs(thread_pending(ARGV[1])) do drop_pending(p[1]) end
return 1
"""

# ARGV: thread id -> {members, cp pairs, blob pairs, wr pairs, {token, record, claimed}...}
_READ_THREAD = r"""
local pending = {}
for _, p in ipairs(thread_pending(ARGV[1])) do
  pending[#pending + 1] = {p[1], p[3], redis.call('HGET', KEYS[5], p[1] .. ':c')}
end
return {
  redis.call('ZRANGE', KEYS[1], 0, -1),
  redis.call('HGETALL', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]),
  pending,
}
"""

# ARGV: ttl, members n, cp pairs n, blob pairs n, wr pairs n, pending pairs n, then the items
_WRITE_THREAD = r"""
local counts = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
                tonumber(ARGV[6])}
local i = 7
for j = i, i + counts[1] - 1 do redis.call('ZADD', KEYS[1], 0, ARGV[j]) end
i = i + counts[1]
hset_from_argv(KEYS[2], i, counts[2])
i = i + 2 * counts[2]
hset_from_argv(KEYS[3], i, counts[3])
i = i + 2 * counts[3]
hset_from_argv(KEYS[4], i, counts[4])
i = i + 2 * counts[4]
hset_from_argv(KEYS[5], i, counts[5])
refresh(tonumber(ARGV[1]))
return 1
"""

# ARGV: thread id, mode ('m': members follow, 'r': run ids follow), items...
# Deletes the checkpoints, their writes and pending interrupts, then every blob that no
# remaining checkpoint references. -> number of checkpoints deleted
_DELETE_CHECKPOINTS = r"""
local doomed = {}
if ARGV[2] == 'm' then
  for i = 3, #ARGV do doomed[#doomed + 1] = ARGV[i] end
else
  local runs = {}
  for i = 3, #ARGV do runs[ARGV[i]] = true end
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if runs[head(all[i + 1])[2]] then doomed[#doomed + 1] = all[i] end
  end
end
if #doomed == 0 then return 0 end
local root_ids = {}
for _, m in ipairs(doomed) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  redis.call('HDEL', KEYS[4], m)
  if ns_of(m) == '' then root_ids[dec(string.sub(m, 2))] = true end
end
local used = {}
local remaining = redis.call('HGETALL', KEYS[2])
for i = 1, #remaining, 2 do
  local ns = ns_of(remaining[i])
  for _, ref in ipairs(head(remaining[i + 1])[3]) do used[ns .. ':' .. ref] = true end
end
local pending_bases = {}
for f in pairs(used) do pending_bases[#pending_bases + 1] = f end
while #pending_bases > 0 do
  local value = redis.call('HGET', KEYS[3], table.remove(pending_bases))
  if value and string.sub(value, 1, 1) == '~' then
    local base = delta_base(value)
    if not used[base] then
      used[base] = true
      pending_bases[#pending_bases + 1] = base
    end
  end
end
for _, f in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not used[f] then redis.call('HDEL', KEYS[3], f) end
end
for _, p in ipairs(thread_pending(ARGV[1])) do
  if root_ids[p[2][3]] then drop_pending(p[1]) end
end
return #doomed
"""

# ARGV: member ('' for latest), range max, range min, channels...
# -> {{record, writes, channel, blob, channel, blob, ...}, ...} for the target's ancestors,
#    parent first, until every channel has met a stored value
_DELTA_HISTORY = r"""
local member = ARGV[1]
if member == '' then
  local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, 1)
  if #newest == 0 then return {} end
  member = newest[1]
end
local ns = ns_of(member)
local remaining, left = {}, 0
for i = 4, #ARGV do remaining[ARGV[i]] = true; left = left + 1 end
local rec = redis.call('HGET', KEYS[2], member)
local out = {}
while rec and left > 0 do
  local parent = head(rec)[1]
  if parent == '' then break end
  member = ns .. ':' .. enc(parent)
  rec = redis.call('HGET', KEYS[2], member)
  if not rec then break end
  local link = {rec, redis.call('HGET', KEYS[4], member)}
  local ended = {}
  for _, ref in ipairs(head(rec)[3]) do
    local channel = dec(string.match(ref, '^([^:]*)'))
    if remaining[channel] then
      local blob = redis.call('HGET', KEYS[3], ns .. ':' .. ref)
      link[#link + 1] = channel
      link[#link + 1] = resolved(blob)
      if blob and #blob > 0 then ended[#ended + 1] = channel end
    end
  end
  for _, ch in ipairs(ended) do remaining[ch] = nil; left = left - 1 end
  out[#out + 1] = link
end
return out
"""

# ARGV: thread id -> {expiry of the thread (unix ms, -1 none), {token, record, claimed}...}
_PENDING_LIST = r"""
local out = {}
for _, p in ipairs(thread_pending(ARGV[1])) do
  out[#out + 1] = {p[1], p[3], redis.call('HGET', KEYS[5], p[1] .. ':c')}
end
return {deadline(KEYS[4]), out}
"""

# ARGV: thread id, now ms -> false | {token, record, claimed ms, expiry}
_PENDING_CLAIM_NEXT = r"""
local best, best_key = nil, nil
for _, p in ipairs(thread_pending(ARGV[1])) do
  if redis.call('HEXISTS', KEYS[5], p[1] .. ':c') == 0 then
    local key = string.format('%020d', p[2][6]) .. p[1]
    if not best_key or key < best_key then best, best_key = p, key end
  end
end
if not best then return false end
redis.call('HSET', KEYS[5], best[1] .. ':c', ARGV[2])
return {best[1], best[3], ARGV[2], deadline(KEYS[4])}
"""

_PENDING_PRELUDE = (
    _HEAD
    + r"""
local token = ARGV[1]
local rec = redis.call('HGET', KEYS[1], token)
if not rec then return false end
local expires = deadline(head(rec)[5] .. ':wr')
if expires == -2 then
  redis.call('HDEL', KEYS[1], token, token .. ':c')
  return false
end
local claimed = redis.call('HGET', KEYS[1], token .. ':c')
"""
)

# ARGV: token -> false | {record, claimed ms or false, expiry (unix ms, -1 none)}
_PENDING_GET = (
    _PENDING_PRELUDE
    + r"""
return {rec, claimed, expires}
"""
)

# ARGV: token, now ms -> false | {record, claimed ms, expiry, won 1/0}
_PENDING_CLAIM = (
    _PENDING_PRELUDE
    + r"""
if claimed then return {rec, claimed, expires, 0} end
redis.call('HSET', KEYS[1], token .. ':c', ARGV[2])
return {rec, ARGV[2], expires, 1}
"""
)

# ARGV: token -> false | {record, false, expiry}
_PENDING_RELEASE = (
    _PENDING_PRELUDE
    + r"""
redis.call('HDEL', KEYS[1], token .. ':c')
return {rec, false, expires}
"""
)


@dataclass(frozen=True)
class Script:
    """A Lua script with its SHA1, as sent with ``EVALSHA``."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


def _thread_script(name: str, body: str) -> Script:
    return Script(name, _PRELUDE + body)


GET_TUPLE = _thread_script("get_tuple", _GET_TUPLE)
LIST = _thread_script("list", _LIST)
PUT = _thread_script("put", _PUT)
PUT_WRITES = _thread_script("put_writes", _PUT_WRITES)
DELETE_THREAD = _thread_script("delete_thread", _DELETE_THREAD)
READ_THREAD = _thread_script("read_thread", _READ_THREAD)
WRITE_THREAD = _thread_script("write_thread", _WRITE_THREAD)
DELETE_CHECKPOINTS = _thread_script("delete_checkpoints", _DELETE_CHECKPOINTS)
DELTA_HISTORY = _thread_script("delta_history", _DELTA_HISTORY)
PENDING_LIST = _thread_script("pending_list", _PENDING_LIST)
PENDING_CLAIM_NEXT = _thread_script("pending_claim_next", _PENDING_CLAIM_NEXT)
PENDING_GET = Script("pending_get", _PENDING_GET)
PENDING_CLAIM = Script("pending_claim", _PENDING_CLAIM)
PENDING_RELEASE = Script("pending_release", _PENDING_RELEASE)
