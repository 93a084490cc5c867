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
import re
from dataclasses import dataclass, field

_HEAD = r"""
-- records whose header length has the top bit set carry their body's length after it
local WITH_WRITES = 2147483648

-- the first task's writes at a checkpoint follow its record up to this many bytes; larger
-- ones have the field '<m>' (appended to the record, each would be copied once more)
local RECORD_WRITES = 8192

-- -> the header's length, and whether the body's length follows the header
local function header_length(raw)
  local len = struct.unpack('>I4', raw, 1)
  if len >= WITH_WRITES then return len - WITH_WRITES, true end
  return len, false
end

local function head(raw)
  local ok, value = pcall(function()
    local len = header_length(raw)
    return cmsgpack.unpack(string.sub(raw, 5, 4 + len))
  end)
  if not ok or type(value) ~= 'table' then
    error('CORRUPT a stored record could not be decoded', 0)
  end
  return value
end

-- the pending hash field naming the record that claim_next took for a claim id (a retry
-- of that claim_next finds it there), while the claim holds it (see claim_next)
local function next_field(thread_id, claim_id)
  return '^:' .. #thread_id .. ':' .. thread_id .. claim_id
end

-- the pending hash field naming the record made seq-th for a thread (the order claim_next
-- takes them in), and its value: the record's token, and while a claim holds the record
-- the end of its lease (so claim_next passes held records without reading them)
local function order_field(thread_id, seq)
  return '<:' .. #thread_id .. ':' .. thread_id .. seq
end

local function order_value(token, lease_until)
  if not lease_until then return token end
  return token .. ' ' .. string.format('%.0f', lease_until)
end

-- an order field's value -> the record's token, and the end of the lease holding it (nil
-- while no claim holds it)
local function order_parts(value)
  local cut = string.find(value, ' ', 1, true)
  if not cut then return value, nil end
  return string.sub(value, 1, cut - 1), tonumber(string.sub(value, cut + 1))
end

-- the pending hash field where claim_next remembers how far a thread's records from its
-- mark are all held, and until when they all are at least: {seq, lease end} (cmsgpack); a
-- release, or a claim renewed by its own id (its lease may be shorter), forgets it
local function held_field(thread_id)
  return '~:' .. thread_id
end

-- the server's clock, in ms since the epoch
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- When ``key`` expires, in the server's ms since the epoch (-1: never, -2: no such key).
-- Redis 6.2 has no PEXPIRETIME: PTTL is read between two TIMEs, and only a reading whose
-- TIMEs fall in the same millisecond is used, so the deadline does not move between reads.
local function deadline(key)
  local ok, at = pcall(redis.call, 'PEXPIRETIME', key)
  if ok then return at end
  local after
  for _ = 1, 8 do
    local before = now_ms()
    local pttl = redis.call('PTTL', key)
    if pttl < 0 then return pttl end
    after = now_ms()
    if after == before then return before + pttl end
    after = after + pttl
  end
  return after
end

-- When the thread whose keys start with ``base`` expires (all its keys expire together;
-- a thread has a cp key once it has a checkpoint, and a wr key while it has only writes).
local function thread_deadline(base)
  local at = deadline(base .. ':cp')
  if at == -2 then at = deadline(base .. ':wr') end
  return at
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

-- pending hash fields: '<token>' record, '<token>:c' claim, '@' thread marker, '#' counter,
-- '!:<thread>' that thread's pending set must be derived again (see delete_checkpoints),
-- and the index of a thread's records (see index_pending): '%:<thread>' the index's form
-- (INDEX_FORM when whole), '=:<n>:<thread><m>:<cp><id>' the token of the record of
-- interrupt id at checkpoint cp (n, m: the lengths of thread and checkpoint ids),
-- '>:<n>:<thread><m>:<cp><task>' the interrupt ids task waits for at cp (cmsgpack),
-- '<:<n>:<thread><seq>' the token of the record made seq-th (the order claim_next takes
-- them in), '_:<thread>' the thread's mark (no record of it has a lower seq), and
-- '^:<n>:<thread><claim id>' (see next_field); each with ':' in it, so none is a token
local function stale_field(thread_id)
  return '!:' .. enc(thread_id)
end

local function is_token(f)
  return string.find(f, '.', 1, true) ~= nil and string.find(f, ':', 1, true) == nil
end

-- a pending record's header: {interrupt id, thread id, checkpoint id, {task id...}, key
-- base, created, seq}; another shape (an earlier development form) is corrupt here
local function pending_head(raw)
  local h = head(raw)
  if type(h[1]) ~= 'string' or type(h[2]) ~= 'string' or type(h[3]) ~= 'string'
      or type(h[4]) ~= 'table' or type(h[6]) ~= 'number' or type(h[7]) ~= 'number' then
    error('CORRUPT a stored pending interrupt has a form this version does not read', 0)
  end
  return h
end

local function thread_pending(thread_id)
  local out = {}
  local all = redis.call('HGETALL', KEYS[5])
  for i = 1, #all, 2 do
    local f = all[i]
    if is_token(f) then
      local rec = pending_head(all[i + 1])
      if rec[2] == thread_id then out[#out + 1] = {f, rec, all[i + 1]} end
    end
  end
  return out
end

-- Whether checkpoint cp is stored: a pending record of a checkpoint whose put has not
-- landed (writes may come first) or failed is not pending yet, as LangGraph sees it.
-- ``known`` keeps the answers of one call.
local function cp_stored(known, cp)
  if known[cp] == nil then known[cp] = redis.call('HEXISTS', KEYS[2], ':' .. enc(cp)) == 1 end
  return known[cp]
end

-- The thread's records whose checkpoint is stored (see cp_stored).
local function listed_pending(thread_id)
  local out, known = {}, {}
  for _, p in ipairs(thread_pending(thread_id)) do
    if cp_stored(known, p[2][3]) then out[#out + 1] = p end
  end
  return out
end

-- The order fields of the thread's records made seq-th from ``from`` to ``to``, and their
-- values: list and claim_next walk a thread's records by these, 64 per HMGET.
local function order_fields(thread_id, from, to)
  local fields = {}
  for seq = from, to do fields[#fields + 1] = order_field(thread_id, seq) end
  return fields, redis.call('HMGET', KEYS[5], unpack(fields))
end

-- index fields name thread and checkpoint by length and text (no encoding to pay for)
local function by_id_field(thread_id, cp, id)
  return '=:' .. #thread_id .. ':' .. thread_id .. #cp .. ':' .. cp .. id
end

local function by_task_field(thread_id, cp, task)
  return '>:' .. #thread_id .. ':' .. thread_id .. #cp .. ':' .. cp .. task
end

local function index_whole_field(thread_id)
  return '%:' .. thread_id
end

-- the index's form: '1' (an earlier version) had no order fields, marks nor next fields
local INDEX_FORM = '2'

local function mark_field(thread_id)
  return '_:' .. thread_id
end

-- Drop the record in field f, whose header is h, with its claim and index fields. Every
-- caller drops all the thread's records of h's checkpoint but apply_interrupts, which
-- drops a record no task waits for: so each task's list of ids at h's checkpoint goes too.
local function drop_pending(f, h)
  local claim = redis.call('HGET', KEYS[5], f .. ':c')
  if claim then
    local nf = next_field(h[2], cmsgpack.unpack(claim)[1])
    if redis.call('HGET', KEYS[5], nf) == f then redis.call('HDEL', KEYS[5], nf) end
  end
  redis.call('HDEL', KEYS[5], f, f .. ':c', by_id_field(h[2], h[3], h[1]), order_field(h[2], h[7]))
  for _, task in ipairs(h[4]) do redis.call('HDEL', KEYS[5], by_task_field(h[2], h[3], task)) end
end

-- the thread's pending hash exists while the thread lives: a vanished token of a live
-- thread is "unknown", not "expired"
local function mark_alive()
  redis.call('HSET', KEYS[5], '@', '1')
end

local function pending_body(raw)
  local len = struct.unpack('>I4', raw, 1)
  return string.sub(raw, 5 + len)
end

local function pack_pending(h, body)
  local packed = cmsgpack.pack(h)
  return struct.pack('>I4', #packed) .. packed .. body
end

-- ARGV from i: task id, mode ('i' interrupts, 'd' done), m, m x (interrupt id, token, body)
local function read_update(i)
  local task, mode, m = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  if mode == 'd' then return task, nil, nil, i end
  local ids, wanted = {}, {}
  for _ = 1, m do
    ids[#ids + 1] = ARGV[i]
    wanted[ARGV[i]] = {ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  end
  return task, ids, wanted, i
end

-- The thread's records, indexed by (checkpoint, interrupt id) and (checkpoint, task), so
-- that a write finds its own without reading the others: its cost does not grow with the
-- interrupts waiting at the checkpoint. Records stored before the index (by an earlier
-- version) are indexed here once.
local function index_pending(thread_id)
  local waits, mark, held = {}, nil, {}
  for _, p in ipairs(thread_pending(thread_id)) do
    local h = p[2]
    local claim = redis.call('HGET', KEYS[5], p[1] .. ':c')
    local c = claim and cmsgpack.unpack(claim)
    redis.call('HSET', KEYS[5], by_id_field(thread_id, h[3], h[1]), p[1],
      order_field(thread_id, h[7]), order_value(p[1], c and c[3]))
    if not mark or h[7] < mark then mark = h[7] end
    -- a claim made before the next fields: a retry of claim_next finds the oldest it holds
    if c and (not held[c[1]] or h[7] < held[c[1]][1]) then held[c[1]] = {h[7], p[1]} end
    for _, task in ipairs(h[4]) do
      local f = by_task_field(thread_id, h[3], task)
      waits[f] = waits[f] or {}
      waits[f][#waits[f] + 1] = h[1]
    end
  end
  for f, ids in pairs(waits) do redis.call('HSET', KEYS[5], f, cmsgpack.pack(ids)) end
  for claim_id, at in pairs(held) do
    redis.call('HSET', KEYS[5], next_field(thread_id, claim_id), at[2])
  end
  mark = mark or tonumber(redis.call('HGET', KEYS[5], '#') or '0') + 1
  redis.call('HSET', KEYS[5], mark_field(thread_id), mark,
    index_whole_field(thread_id), INDEX_FORM)
  redis.call('HDEL', KEYS[5], held_field(thread_id))
end

-- The record of interrupt id at checkpoint cp: {token, header, raw}, or nil
local function indexed(thread_id, cp, id)
  local token = redis.call('HGET', KEYS[5], by_id_field(thread_id, cp, id))
  local raw = token and redis.call('HGET', KEYS[5], token)
  if not raw then return nil end
  local h = pending_head(raw)
  if h[1] ~= id or h[2] ~= thread_id or h[3] ~= cp then return nil end
  return {token, h, raw}
end

-- record header: {interrupt id, thread id, checkpoint id, {task id...}, key base, created, seq}
-- One task at checkpoint cp now waits for `ids` (nil: it finished). A record stays while
-- some task waits on it; re-raised ones keep token and claim and take the new value.
local function apply_interrupts(thread_id, base, cp, task, ids, wanted)
  local waits = by_task_field(thread_id, cp, task)
  local got = redis.call('HMGET', KEYS[5], index_whole_field(thread_id), waits)
  local before = got[2]
  if got[1] ~= INDEX_FORM then
    index_pending(thread_id)
    before = redis.call('HGET', KEYS[5], waits)
  end
  if before then
    -- what the task waited for here and no longer does
    for _, id in ipairs(cmsgpack.unpack(before)) do
      local p = not (wanted and wanted[id]) and indexed(thread_id, cp, id)
      if p then
        local h, at = p[2], nil
        for j, other in ipairs(h[4]) do if other == task then at = j end end
        if at then
          table.remove(h[4], at)
          if #h[4] == 0 then
            drop_pending(p[1], h)
          else
            redis.call('HSET', KEYS[5], p[1], pack_pending(h, pending_body(p[3])))
          end
        end
      end
    end
  end
  if ids and #ids > 0 then
    local now = nil
    for _, id in ipairs(ids) do
      local w = wanted[id]
      local p = indexed(thread_id, cp, id)
      if p then
        local h, found = p[2], false
        for _, other in ipairs(h[4]) do if other == task then found = true end end
        if not found then h[4][#h[4] + 1] = task end
        redis.call('HSET', KEYS[5], p[1], pack_pending(h, w[2]))
      else
        now = now or now_ms()
        local seq = redis.call('HINCRBY', KEYS[5], '#', 1)
        redis.call('HSET', KEYS[5], w[1],
          pack_pending({id, thread_id, cp, {task}, base, now, seq}, w[2]))
        redis.call('HSET', KEYS[5], by_id_field(thread_id, cp, id), w[1],
          order_field(thread_id, seq), w[1])
      end
    end
    redis.call('HSET', KEYS[5], waits, cmsgpack.pack(ids))
  elseif before then
    redis.call('HDEL', KEYS[5], waits)
  end
end

local function hmget_all(key, fields)
  -- in chunks: unpack() of more than about 8,000 values overflows Lua's C stack
  local values = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for k = 1, #part do values[#values + 1] = part[k] end
  end
  return values
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

-- A record's blob suffixes '<channel>:<version>' (a bare '<channel>' is at the version of
-- the suffix before it), and the values the record keeps itself: a suffix followed by
-- '=<value>' (base64) names no blob field. -> refs, {[i] = value} (values as stored)
local function refs_of_head(h)
  local refs, kept, version = h[3], {}, ''
  for i, ref in ipairs(refs) do
    local eq = string.find(ref, '=', 1, true)
    if eq then
      kept[i] = string.sub(ref, eq + 1)
      ref = string.sub(ref, 1, eq - 1)
    end
    local at = string.find(ref, ':', 1, true)
    if at then version = string.sub(ref, at) else ref = ref .. version end
    refs[i] = ref
  end
  return refs, kept
end

local function refs_of(rec)
  return refs_of_head(head(rec))
end

-- A value a put could not find anywhere (the record that keeps it was stored after it, or
-- came with a copy of another thread) is '?' in the blob hash: its readers look for a
-- record of the namespace that keeps it. -> '=<value>' or false
local WANTED = '?'

-- wanted: {ref = true}; -> {ref = '=<value>'} for those a record of the namespace keeps
local function kept_in_records(ns, wanted)
  local found = {}
  local all = redis.call('HGETALL', KEYS[2])
  for j = 1, #all, 2 do
    if ns_of(all[j]) == ns then
      local refs, kept = refs_of(all[j + 1])
      for k, r in ipairs(refs) do
        if wanted[r] and kept[k] and kept[k] ~= '' then found[r] = '=' .. kept[k] end
      end
    end
  end
  return found
end

local function kept_anywhere(ns, ref)
  return kept_in_records(ns, {[ref] = true})[ref] or false
end

-- whether a blob field holds no value (missing, or only wanted)
local function no_value(f)
  if redis.call('HEXISTS', KEYS[3], f) == 0 then return true end
  return redis.call('HSTRLEN', KEYS[3], f) == 1 and redis.call('HGET', KEYS[3], f) == WANTED
end

-- stores a copied value unless the field holds one
local function fill(f, value)
  if no_value(f) then redis.call('HSET', KEYS[3], f, value) end
end

-- A record's channel values, in the order of its refs: a kept value as '=<value>' (the
-- client decodes it), the others from the blob hash.
local function blobs_of(member, rec)
  local ns = ns_of(member)
  local refs, kept = refs_of(rec)
  local values, fields, at = {}, {}, {}
  for i, ref in ipairs(refs) do
    if kept[i] then
      values[i] = '=' .. kept[i]
    else
      values[i] = false
      fields[#fields + 1] = ns .. ':' .. ref
      at[#fields] = i
    end
  end
  if #fields == 0 then return values end
  local found = hmget_all(KEYS[3], fields)
  for k = 1, #fields do
    local v = found[k]
    if v == WANTED then v = kept_anywhere(ns, refs[at[k]]) end
    values[at[k]] = resolved(v)
  end
  return values
end

-- Where the writes kept after a record's body start, or nil for a record stored before
-- records kept writes: <u32 header length, top bit set><header><u32 body length><body>.
local function writes_at(rec)
  local ok, at = pcall(function()
    local len, with_writes = header_length(rec)
    if not with_writes then return nil end
    local start = 9 + len + struct.unpack('>I4', rec, 5 + len)
    if start > #rec + 1 then error('short') end
    return start
  end)
  if not ok then error('CORRUPT a stored record could not be decoded', 0) end
  return at
end

-- A checkpoint's writes: the frames of the first task that wrote there follow its record's
-- body (or, when they came before the record, or the record is of the earlier form, sit
-- in the wr field '<m>'); every later task has its own field '<m>|<task>' (task id
-- encoded), listed by '<m>#' (how many) and '<m>#1'.. (which). A put_writes then touches
-- only the writes of its own task, whatever the checkpoint already holds.
local function later_tasks(member)
  local n = tonumber(redis.call('HGET', KEYS[4], member .. '#') or '0')
  if n == 0 then return {} end
  local fields = {}
  for i = 1, n do fields[i] = member .. '#' .. i end
  return hmget_all(KEYS[4], fields)
end

-- -> {frames...} (false if the checkpoint has no writes); rec: the checkpoint's record;
-- later: later_tasks(member) when the caller has read it already; replied: the reply
-- carries rec too
local function writes_of(member, rec, later, replied)
  local at = rec and writes_at(rec)
  local first
  if at and at <= #rec then
    -- in a reply that carries the record, '' stands for the writes after it: the client
    -- cuts them out itself, so they are neither copied here nor sent twice
    first = replied and '' or string.sub(rec, at)
  else
    first = redis.call('HGET', KEYS[4], member)
  end
  if not first then return false end
  local out = {first}
  local tasks = later or later_tasks(member)
  if #tasks == 0 then return out end
  local fields = {}
  for i, t in ipairs(tasks) do fields[i] = member .. '|' .. t end
  for _, v in ipairs(hmget_all(KEYS[4], fields)) do
    if v then out[#out + 1] = v end
  end
  return out
end

-- One task's stored writes: frames of (key, entry), the first key '<task>\0<idx>', the
-- others '<idx>' alone. -> task, {'<task>\0<idx>'...} in stored order, {key = entry}
local function read_frames(stored)
  local task, order, entries, pos = nil, {}, {}, 1
  while pos <= #stored do
    local klen, elen
    klen, pos = struct.unpack('>I4', stored, pos)
    local key = string.sub(stored, pos, pos + klen - 1)
    pos = pos + klen
    elen, pos = struct.unpack('>I4', stored, pos)
    local cut = string.find(key, '\0', 1, true)
    if cut then task = string.sub(key, 1, cut - 1) else key = task .. '\0' .. key end
    order[#order + 1] = key
    entries[key] = string.sub(stored, pos, pos + elen - 1)
    pos = pos + elen
  end
  return task, order, entries
end

-- inverse of read_frames
local function pack_frames(task, order, entries)
  local parts = {}
  for j, key in ipairs(order) do
    local value = entries[key]
    if j > 1 then key = string.sub(key, #task + 2) end
    parts[j] = struct.pack('>I4', #key) .. key .. struct.pack('>I4', #value) .. value
  end
  return table.concat(parts)
end

-- Whether one task's stored frames hold a write that finishes it, as LangGraph counts
-- one: any but a control write. The control writes are the error, the interrupt and the
-- resume, each at its fixed index (-1, -3, -4), and the error's source node, the one
-- stored at its position, told by its entry's first bytes ([channel, ...]; a control
-- write's entry is never compressed, a compressed entry is another write's).
local CONTROL_AT = {['-1'] = true, ['-3'] = true, ['-4'] = true}
local ERROR_SOURCE = '\148\181__error_source_node__'
local function task_finished(stored)
  local _, order, entries = read_frames(stored)
  for _, key in ipairs(order) do
    local idx = string.sub(key, string.find(key, '\0', 1, true) + 1)
    if not CONTROL_AT[idx]
        and string.sub(entries[key], 1, #ERROR_SOURCE) ~= ERROR_SOURCE then
      return true
    end
  end
  return false
end

-- later: later_tasks(member) when the caller has read it already
local function drop_writes(member, later)
  local doomed = {member, member .. '#'}
  for i, t in ipairs(later or later_tasks(member)) do
    doomed[#doomed + 1] = member .. '#' .. i
    doomed[#doomed + 1] = member .. '|' .. t
  end
  for i = 1, #doomed, 1000 do
    redis.call('HDEL', KEYS[4], unpack(doomed, i, math.min(i + 999, #doomed)))
  end
end

local function entry(member)
  local rec = redis.call('HGET', KEYS[2], member)
  if not rec then return false end
  return {member, rec, blobs_of(member, rec), writes_of(member, rec, nil, true)}
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

# ARGV: refresh ttl, range max, range min, limit
# -> {next range max or false, {entry...}}: one namespace's range, newest first; false once
#    the range is exhausted
_LIST = r"""
local upper, limit, out = ARGV[2], tonumber(ARGV[4]), {}
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], upper, ARGV[3], 'LIMIT', 0, limit)
for _, m in ipairs(members) do
  upper = '(' .. m
  local found = entry(m)
  if found then out[#out + 1] = found end
end
if #out > 0 then refresh(tonumber(ARGV[1])) end
if #members == limit then return {upper, out} end
return {false, out}
"""

# ARGV: refresh ttl, '1' to go on after a cursor else '0', the cursor (its namespace's first
#       checkpoint id, namespace, last member listed), before id ('' none), page, how far
#       the page may grow towards the number of namespaces (-1: no bound)
# -> {cursor or false, {entry...}}: false once every namespace is listed
# Every namespace of the thread, the root first, then the others in the order of their
# first checkpoint (the order InMemorySaver keeps them in when LangGraph runs a graph: it
# reads the root first, and writes each child namespace in turn), each newest first. The
# root's range is read first; only a page it does not fill finds the others' order, one hop
# per namespace, and such a page holds as many checkpoints as there are namespaces, if
# the caller wants that many.
_LIST_ALL = r"""
local resume, before, page = ARGV[2] == '1', ARGV[6], tonumber(ARGV[7])
local cursor, out = {ARGV[3], ARGV[4]}, {}
local function comes_first(a, b)
  if (a[2] == '') ~= (b[2] == '') then return a[2] == '' end
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end
-- list one namespace from the cursor (or its newest) down; the cursor once the page is full
local function walk(space)
  local first, ns = space[1], space[2]
  local upper = '(' .. ns .. ';'
  if resume then
    if first == cursor[1] and ns == cursor[2] then
      upper = '(' .. ARGV[5]
    elseif comes_first(space, cursor) then
      return nil
    end
  end
  if before ~= '' then
    local bound = '(' .. ns .. ':' .. before
    if bound < upper then upper = bound end
  end
  while true do
    local want = page - #out
    local members = redis.call('ZREVRANGEBYLEX', KEYS[1], upper, '[' .. ns .. ':', 'LIMIT', 0, want)
    for _, m in ipairs(members) do
      upper = '(' .. m
      local found = entry(m)
      if found then out[#out + 1] = found end
    end
    if #out >= page then return {first, ns, string.sub(upper, 2)} end
    if #members < want then return nil end
  end
end
local function done(next_cursor)
  if #out > 0 then refresh(tonumber(ARGV[1])) end
  return {next_cursor or false, out}
end
-- the root first (its first checkpoint id does not matter: it comes first whatever it is)
local next_cursor = walk({'', ''})
if next_cursor then return done(next_cursor) end
local spaces, lower = {}, '-'
while true do
  local oldest = redis.call('ZRANGEBYLEX', KEYS[1], lower, '+', 'LIMIT', 0, 1)
  if #oldest == 0 then break end
  local ns = ns_of(oldest[1])
  if ns ~= '' then spaces[#spaces + 1] = {string.sub(oldest[1], #ns + 2), ns} end
  lower = '[' .. ns .. ';'
end
table.sort(spaces, comes_first)
local most = tonumber(ARGV[8])
if #spaces > page then
  page = most < 0 and #spaces or math.max(page, math.min(most, #spaces))
end
for _, space in ipairs(spaces) do
  next_cursor = walk(space)
  if next_cursor then return done(next_cursor) end
end
return done(nil)
"""

# ARGV: ttl, member, record, thread id, checkpoint id if root namespace else '', the parent's
#       member and header as the client stored them itself (else '', ''), whether the
#       client can send every value ('1': a first call; '0': it sent them all), m, m x
#       (field, value) the values the parent kept that unchanged channels need, then per
#       blob: field, base field ('' for none), value (the delta when there is a base field,
#       else the full value)
# A delta is stored only while its base is there (prune may have removed it). When a base
# is missing nothing is written and the reply lists those fields, for the client to send
# again with every value in full: -> 1 | {field...}. So is a put whose parent checkpoint and
# unchanged channels' values are gone: the thread expired (or lost its data) while its run
# went on, and the step would otherwise be stored without them.
# The record keeps small values itself. A channel the step left unchanged refers to the
# value its parent refers to; one that the parent kept is copied into the blob hash, where
# a record that does not keep it finds it: the client sends the copies when it stored the
# parent (used only while the parent stored has the header the client stored), else the
# script decodes the parent's header. A value
# found in neither the parent nor the blob hash (a put whose parent is not where its
# versions come from) is looked for in every record of the namespace, and if none keeps
# it yet, marked wanted for its readers (see kept_anywhere).
_PUT = r"""
local missing, new, sent = {}, {}, {}
local blobs_from = 10 + 2 * tonumber(ARGV[9])
for i = blobs_from, #ARGV, 3 do
  sent[ARGV[i]] = true
  -- a (channel, version) field always holds the same value: the first write stands
  if no_value(ARGV[i]) then
    if ARGV[i + 1] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[i + 1]) == 0 then
      missing[#missing + 1] = ARGV[i]
    end
    new[#new + 1] = i
  end
end
if #missing > 0 then return missing end
local ns, refs, kept, h = ns_of(ARGV[2]), {}, {}, nil
local copies, lost, parent, orphan = {}, nil, nil, false
local known = ARGV[6] ~= '' and redis.call('HGET', KEYS[2], ARGV[6])
if known then known = string.sub(known, 5, 4 + header_length(known)) == ARGV[7] end
if known then
  for j = 10, blobs_from - 1, 2 do copies[#copies + 1] = {ARGV[j], ARGV[j + 1]} end
else
  h = head(ARGV[3])
  refs, kept = refs_of_head(h)
end
for i, ref in ipairs(refs) do
  local f = ns .. ':' .. ref
  if not kept[i] and not sent[f] then
    if not parent then
      parent = {}
      local raw = h[1] ~= '' and redis.call('HGET', KEYS[2], ns .. ':' .. enc(h[1]))
      orphan = h[1] ~= '' and not raw  -- its parent is gone
      if raw then
        local prefs, pkept = refs_of(raw)
        for k, r in ipairs(prefs) do parent[r] = pkept[k] or true end
      end
    end
    local there = parent[ref]
    if there == nil then
      if no_value(f) then
        lost = lost or {}
        lost[ref] = f
      end
    elseif there ~= true and there ~= '' then
      copies[#copies + 1] = {f, '=' .. there}
    end
  end
end
if lost then
  local found, gone = kept_in_records(ns, lost), {}
  for r, f in pairs(lost) do
    if found[r] then
      copies[#copies + 1] = {f, found[r]}
    else
      gone[#gone + 1] = f
    end
  end
  if #gone > 0 and orphan and ARGV[8] == '1' then return gone end  -- nothing written yet
  -- its parent is there, or this is the call with every value (these channels have none):
  -- readers look for the values (see kept_anywhere)
  for _, f in ipairs(gone) do redis.call('HSETNX', KEYS[3], f, WANTED) end
end
-- The record keeps its first task's writes: those an earlier record of this checkpoint
-- kept (it is stored again), or those that came before it, unless large (under async
-- durability LangGraph often writes a step's writes before the put of their checkpoint
-- has run).
local earlier, writes = redis.call('HGET', KEYS[2], ARGV[2]), ''
local at = earlier and writes_at(earlier)
if at then writes = string.sub(earlier, at) end
if not select(2, header_length(ARGV[3])) then  -- a record of the earlier form
  if #writes > 0 then redis.call('HSETNX', KEYS[4], ARGV[2], writes) end
  writes = ''
elseif #writes == 0 then
  -- large ones stay in their field (put_writes stores them there too)
  local size = redis.call('HSTRLEN', KEYS[4], ARGV[2])
  if size > 0 and size <= RECORD_WRITES then
    writes = redis.call('HGET', KEYS[4], ARGV[2])
    redis.call('HDEL', KEYS[4], ARGV[2])
  end
end
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. writes)
for _, i in ipairs(new) do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2]) end
for _, c in ipairs(copies) do fill(c[1], c[2]) end
if ARGV[5] ~= '' then
  for _, p in ipairs(thread_pending(ARGV[4])) do
    if p[2][3] < ARGV[5] then drop_pending(p[1], p[2]) end
  end
end
mark_alive()
refresh(tonumber(ARGV[1]))
return 1
"""

# ARGV: ttl, member, thread id, task id, encoded task id, n, the call's n writes as the
#       task's stored frames (see read_frames; one per key, as a merge into no writes would
#       leave them), key base, checkpoint id, updates (0 or 1), then the update (see
#       read_update)
# Merges into the task's own writes only (see writes_of), so its cost does not grow with
# the writes other tasks stored for the checkpoint. A task's first writes at a checkpoint
# (the usual case) are stored as they came, and large ones in a field of their own, so a
# large value is copied into a Lua string only once, as the argument.
_WRITE_TASK = r"""
-- Whether the thread has a top-level checkpoint newer than ``member`` (a top-level one):
-- its members sort in [':', ';') by id.
local function newer_root(member)
  return #redis.call('ZRANGEBYLEX', KEYS[1], '(' .. member, '(;', 'LIMIT', 0, 1) > 0
end

-- One put_writes call, whose k-th argument is ARGV[a + k].
local function write_task(a)
  local member, task = ARGV[a + 2], ARGV[a + 4]
  local n, frames = tonumber(ARGV[a + 6]), ARGV[a + 7]
  local field, later, stored = member, false, nil
  -- the first task's writes: after the record's body (at), or in the field '<m>' (while
  -- there is no record, or the record is of the earlier form, or the writes are large)
  local rec = redis.call('HGET', KEYS[2], member)
  local at = rec and writes_at(rec)
  local inside = at and at <= #rec
  local holder, first = rec, at
  if not inside then
    stored = redis.call('HGET', KEYS[4], member)
    holder, first = stored, 1
  end
  if holder and first <= #holder then
    -- the first frame's key names the task whose writes these are
    local klen = struct.unpack('>I4', holder, first)
    if klen <= #task or string.sub(holder, first + 4, first + 4 + #task) ~= task .. '\0' then
      field = member .. '|' .. ARGV[a + 5]
      stored = redis.call('HGET', KEYS[4], field)
      later = not stored
      at, inside = nil, false
    elseif inside then
      stored = string.sub(rec, at)
    end
  end
  -- an interrupt of a task that finished here already (another run of the thread wrote
  -- its result first) is not pending, however late it comes
  local done = stored and ARGV[a + 10] == '1' and ARGV[a + 12] == 'i' and task_finished(stored)
  if n > 0 then
    local in_field = stored and not inside
    if stored then
      -- the task wrote here before: merged per key, a special write (index < 0) replacing
      -- the stored one, a regular one never
      local _, order, entries = read_frames(stored)
      local _, new_order, new_entries = read_frames(frames)
      for _, key in ipairs(new_order) do
        if entries[key] == nil then
          order[#order + 1] = key
          entries[key] = new_entries[key]
        elseif string.sub(key, #task + 2, #task + 2) == '-' then
          entries[key] = new_entries[key]
        end
      end
      frames = pack_frames(task, order, entries)
    end
    if later then
      -- the task's first writes at this checkpoint: list its field
      local count = redis.call('HINCRBY', KEYS[4], member .. '#', 1)
      redis.call('HSET', KEYS[4], member .. '#' .. count, ARGV[a + 5])
    end
    if at and not in_field and #frames <= RECORD_WRITES then
      redis.call('HSET', KEYS[2], member, string.sub(rec, 1, at - 1) .. frames)
    else
      redis.call('HSET', KEYS[4], field, frames)
      if inside then redis.call('HSET', KEYS[2], member, string.sub(rec, 1, at - 1)) end
    end
  end

  local i = a + 8
  if ARGV[i + 2] == '1' then
    local base, cp = ARGV[i], ARGV[i + 1]
    local task_id, ids, wanted = read_update(i + 3)
    if done then ids, wanted = nil, nil end
    -- an interrupt at a checkpoint older than the thread's latest (a run resumed there
    -- after a fork) is not pending: LangGraph reports the latest checkpoint's alone
    if not (ids and newer_root(member)) then
      apply_interrupts(ARGV[a + 3], base, cp, task_id, ids, wanted)
    end
  end
end
"""

_PUT_WRITES = (
    _WRITE_TASK
    + r"""
write_task(0)
mark_alive()
refresh(tonumber(ARGV[1]))
return 1
"""
)

# ARGV: n, then n times: how many arguments the call has, then the arguments of one
#       put_writes call as _PUT_WRITES takes them. The calls are concurrent writes of
#       one thread with the same ttl, sent as one script call instead of a pipeline of n
#       (redis/merged.py); they run in order, and the thread's keys are refreshed once.
# -> n; or, when a write fails, {how many ran before it, its error}: the ones after it
#    have not run.
_PUT_WRITES_MANY = (
    _WRITE_TASK
    + r"""
local n, at = tonumber(ARGV[1]), 2
local failed = nil
for k = 1, n do
  local ok, err = pcall(write_task, at)
  if not ok then
    failed = {k - 1, type(err) == 'table' and err.err or tostring(err)}
    break
  end
  at = at + 1 + tonumber(ARGV[at])
end
mark_alive()
refresh(tonumber(ARGV[3]))
return failed or n
"""
)

# ARGV: thread id
_DELETE_THREAD = r"""
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
for _, p in ipairs(thread_pending(ARGV[1])) do drop_pending(p[1], p[2]) end
local others = false
for _, f in ipairs(redis.call('HKEYS', KEYS[5])) do
  if is_token(f) then others = true end
end
if others then
  redis.call('HDEL', KEYS[5], stale_field(ARGV[1]), index_whole_field(ARGV[1]),
    mark_field(ARGV[1]), held_field(ARGV[1]))
else
  redis.call('DEL', KEYS[5])
end
return 1
"""

# -> {members, cp pairs, blob pairs, wr pairs}
_READ_THREAD = r"""
return {
  redis.call('ZRANGE', KEYS[1], 0, -1),
  redis.call('HGETALL', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]),
}
"""

# ARGV: ttl, members n, cp pairs n, blob pairs n, wr pairs n, then the items (a thread's
# whole content, as read_thread returns it). A checkpoint the target already holds is
# replaced, and its writes are merged with the target's, per (task, index), the copied
# ones winning: as for blobs, what the target alone held stays. Writes are stored again in
# the current places (the first task's after the record, or in '<m>' without a record or
# with a record of the earlier form; every other task in '<m>|<task>', listed by '<m>#').
_WRITE_THREAD = r"""
local counts = {tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
local i = 6
for j = i, i + counts[1] - 1 do redis.call('ZADD', KEYS[1], 0, ARGV[j]) end
i = i + counts[1]
if redis.call('EXISTS', KEYS[2], KEYS[4]) == 0 then
  -- a new thread (the usual copy): nothing to merge with, the items go in as they are
  hset_from_argv(KEYS[2], i, counts[2])
  i = i + 2 * counts[2]
  hset_from_argv(KEYS[3], i, counts[3])
  i = i + 2 * counts[3]
  hset_from_argv(KEYS[4], i, counts[4])
  mark_alive()
  refresh(tonumber(ARGV[1]))
  return 1
end
local records, copied, members = {}, {}, {}
local function copied_writes(member, value)
  if not copied[member] then
    copied[member] = {}
    members[#members + 1] = member
  end
  local list = copied[member]
  list[#list + 1] = value
end
for j = i, i + 2 * counts[2] - 1, 2 do
  local member, rec = ARGV[j], ARGV[j + 1]
  local at = writes_at(rec)
  if at then
    if at <= #rec then copied_writes(member, string.sub(rec, at)) end
    rec = string.sub(rec, 1, at - 1)
  end
  records[member] = rec
  if not copied[member] then copied[member] = {}; members[#members + 1] = member end
end
i = i + 2 * counts[2]
hset_from_argv(KEYS[3], i, counts[3])
i = i + 2 * counts[3]
for j = i, i + 2 * counts[4] - 1, 2 do
  -- '<m>' and '<m>|<task>' hold writes; '<m>#', '<m>#<n>' list them and are made again
  local f = ARGV[j]
  local member, sep = string.match(f, '^([^|#]*)([|#]?)')
  if sep ~= '#' then copied_writes(member, ARGV[j + 1]) end
end
for _, member in ipairs(members) do
  local held = redis.call('HGET', KEYS[2], member)
  local tasks, by_task = {}, {}
  local function merge(value)
    local task, order, entries = read_frames(value)
    if not task then return end
    local mine = by_task[task]
    if not mine then
      mine = {order = {}, entries = {}}
      by_task[task] = mine
      tasks[#tasks + 1] = task
    end
    for _, key in ipairs(order) do
      if mine.entries[key] == nil then mine.order[#mine.order + 1] = key end
      mine.entries[key] = entries[key]
    end
  end
  local later = later_tasks(member)  -- read once for both
  for _, value in ipairs(writes_of(member, held, later) or {}) do merge(value) end
  for _, value in ipairs(copied[member]) do merge(value) end
  drop_writes(member, later)
  local rec = records[member]
  if not rec and held then
    local at = writes_at(held)
    rec = at and string.sub(held, 1, at - 1) or held
  end
  local first = ''
  if #tasks > 0 then
    local task = by_task[tasks[1]]
    first = pack_frames(tasks[1], task.order, task.entries)
  end
  if rec and select(2, header_length(rec)) then
    redis.call('HSET', KEYS[2], member, rec .. first)
  else
    if rec then redis.call('HSET', KEYS[2], member, rec) end
    if #first > 0 then redis.call('HSET', KEYS[4], member, first) end
  end
  for n = 2, #tasks do
    local task = by_task[tasks[n]]
    redis.call('HSET', KEYS[4], member .. '|' .. enc(tasks[n]),
      pack_frames(tasks[n], task.order, task.entries))
    redis.call('HSET', KEYS[4], member .. '#' .. (n - 1), enc(tasks[n]))
  end
  if #tasks > 1 then redis.call('HSET', KEYS[4], member .. '#', #tasks - 1) end
end
mark_alive()
refresh(tonumber(ARGV[1]))
return 1
"""

# ARGV: thread id, mode ('m': members follow, 'r': run ids follow, whose checkpoints in
#       this thread of their own go), items...
# Deletes the checkpoints, their writes and pending interrupts, then every blob that no
# remaining checkpoint references. -> 1 if the thread's pending interrupts must be derived
# again (rebuild_pending), else 0. In 'r' mode a flag in the pending hash remembers that
# until rebuild_pending ran, so a repeated call (a retry whose first send did run) answers
# 1 again instead of "nothing deleted".
_DELETE_CHECKPOINTS = r"""
local stale = stale_field(ARGV[1])
local doomed = {}
if ARGV[2] == 'm' then
  for i = 3, #ARGV do doomed[#doomed + 1] = ARGV[i] end
else
  local runs = {}
  for i = 3, #ARGV do runs[ARGV[i]] = true end
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    -- a copy's run field is {run id, the run's own thread}: a run's checkpoints are the
    -- ones it stored in its own thread, and copies elsewhere stay
    local run = head(all[i + 1])[2]
    if type(run) == 'table' then run = run[2] == ARGV[1] and run[1] end
    if run and runs[run] then doomed[#doomed + 1] = all[i] end
  end
end
if #doomed == 0 then return redis.call('HEXISTS', KEYS[5], stale) end
local root_ids = {}
for _, m in ipairs(doomed) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  drop_writes(m)
  if ns_of(m) == '' then root_ids[dec(string.sub(m, 2))] = true end
end
local used = {}
local remaining = redis.call('HGETALL', KEYS[2])
for i = 1, #remaining, 2 do
  local ns = ns_of(remaining[i])
  for _, ref in ipairs(refs_of(remaining[i + 1])) do used[ns .. ':' .. ref] = true end
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
  if root_ids[p[2][3]] then drop_pending(p[1], p[2]) end
end
if ARGV[2] == 'r' and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('HSET', KEYS[5], stale, '1')
end
return 1
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
  local link = {rec, writes_of(member, rec, nil, true)}
  local ended = {}
  local refs, kept = refs_of(rec)
  for i, ref in ipairs(refs) do
    local channel = dec(string.match(ref, '^([^:]*)'))
    if remaining[channel] then
      local blob, value = kept[i], nil
      if blob then
        value = '=' .. blob
      else
        blob = redis.call('HGET', KEYS[3], ns .. ':' .. ref)
        if blob == WANTED then blob = kept_anywhere(ns, ref) end
        value = resolved(blob)
      end
      link[#link + 1] = channel
      link[#link + 1] = value
      if blob and #blob > 0 then ended[#ended + 1] = channel end
    end
  end
  for _, ch in ipairs(ended) do remaining[ch] = nil; left = left - 1 end
  out[#out + 1] = link
end
return out
"""

# ARGV: thread id, key base, checkpoint id ('' none), n, n x update (see read_update)
# Makes the pending set that of the latest root checkpoint, if that is still the given one.
_REBUILD_PENDING = r"""
local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], '(;', '[:', 'LIMIT', 0, 1)
local latest = ''
if #newest > 0 then latest = dec(string.sub(newest[1], 2)) end
if latest ~= ARGV[3] then return 0 end
for _, p in ipairs(thread_pending(ARGV[1])) do
  if p[2][3] ~= latest then drop_pending(p[1], p[2]) end
end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local task, ids, wanted
  task, ids, wanted, i = read_update(i)
  apply_interrupts(ARGV[1], ARGV[2], latest, task, ids, wanted)
end
redis.call('HDEL', KEYS[5], stale_field(ARGV[1]))
return 1
"""

# ARGV: thread id -> {expiry of the thread (unix ms, -1 none), {token, record, claim}..., now}
# The thread's records through their order fields (see claim_next), 64 per HMGET from the
# mark, rather than the whole hash with every index field. The whole hash is read for an
# index of an earlier form, and when the walk meets far more sequence numbers without a
# record than with one (records of long ago below a live one). Reads only.
_PENDING_LIST = r"""
local thread_id, out = ARGV[1], {}
local walk = redis.call('HGET', KEYS[5], index_whole_field(thread_id)) == INDEX_FORM
if walk then
  local last = tonumber(redis.call('HGET', KEYS[5], '#') or '0')
  local from = tonumber(redis.call('HGET', KEYS[5], mark_field(thread_id)) or '1')
  local known, passed, found = {}, 0, 0
  while walk and from <= last do
    local fields, values = order_fields(thread_id, from, math.min(from + 63, last))
    for k = 1, #fields do
      local token = values[k] and order_parts(values[k])
      local got = token and redis.call('HMGET', KEYS[5], token, token .. ':c')
      if got and got[1] then
        found = found + 1
        local h = pending_head(got[1])
        if h[2] == thread_id and cp_stored(known, h[3]) then
          out[#out + 1] = {token, got[1], got[2]}
        end
      end
    end
    passed = passed + #fields
    from = from + #fields
    walk = passed <= 4 * found + 1024
  end
end
if not walk then
  out = {}
  for _, p in ipairs(listed_pending(thread_id)) do
    out[#out + 1] = {p[1], p[3], redis.call('HGET', KEYS[5], p[1] .. ':c')}
  end
end
return {thread_deadline(string.sub(KEYS[2], 1, -4)), out, now_ms()}
"""

# ARGV: thread id, claim id, lease ms -> false | {token, record, claim, expiry, now}
# A retry (the record this claim id took, while it holds it) is renewed; otherwise the
# oldest free record is taken. Records are walked in the order they were made, from the
# thread's mark, 64 order fields per HMGET: a claim passes over the held records before
# the first free one, not over every record (a fleet draining a thread of thousands by
# claim_next is not quadratic), and moves the mark past the records gone.
_PENDING_CLAIM_NEXT = r"""
local thread_id, claim_id = ARGV[1], ARGV[2]
-- no hash, no record: and a field written here would make the hash without a TTL
if redis.call('EXISTS', KEYS[5]) == 0 then return false end
local now = now_ms()
if redis.call('HGET', KEYS[5], index_whole_field(thread_id)) ~= INDEX_FORM then
  index_pending(thread_id)
end
local known = {}
local function take(token, raw, since)
  local until_ms = now + tonumber(ARGV[3])
  local claim = cmsgpack.pack({claim_id, since, until_ms})
  redis.call('HSET', KEYS[5], token .. ':c', claim, next_field(thread_id, claim_id), token,
    order_field(thread_id, pending_head(raw)[7]), order_value(token, until_ms))
  return {token, raw, claim, thread_deadline(string.sub(KEYS[2], 1, -4)), now}
end
local own = redis.call('HGET', KEYS[5], next_field(thread_id, claim_id))
if own then
  local got = redis.call('HMGET', KEYS[5], own, own .. ':c')
  local c = got[2] and cmsgpack.unpack(got[2])
  if got[1] and c and c[1] == claim_id and cp_stored(known, pending_head(got[1])[3]) then
    redis.call('HDEL', KEYS[5], held_field(thread_id))  -- the new lease may be shorter
    return take(own, got[1], c[2])
  end
  redis.call('HDEL', KEYS[5], next_field(thread_id, claim_id))
end
local last = tonumber(redis.call('HGET', KEYS[5], '#') or '0')
local first = tonumber(redis.call('HGET', KEYS[5], mark_field(thread_id)) or '1')
-- start past the records remembered as held, while all their leases run
local from, ends = first, nil
local held = redis.call('HGET', KEYS[5], held_field(thread_id))
held = held and cmsgpack.unpack(held)
if held and held[1] > first and now < held[2] then from, ends = held[1], held[2] end
local start = from
local mark, stop, taken = nil, nil, nil  -- stop: the first record passed that is not held
while from <= last and not taken do
  local to = math.min(from + 63, last)
  local fields, values = order_fields(thread_id, from, to)
  for k = 1, #fields do
    local seq, token, got = from + k - 1, nil, nil
    if values[k] then
      local lease_end
      token, lease_end = order_parts(values[k])
      if lease_end and now < lease_end then
        mark = mark or seq  -- held: passed without reading it
        if not stop then ends = math.min(ends or lease_end, lease_end) end
      else
        got = redis.call('HMGET', KEYS[5], token, token .. ':c')
      end
    end
    if got and not got[1] then
      redis.call('HDEL', KEYS[5], fields[k])  -- its record went without it
    elseif got then
      mark = mark or seq
      local h = pending_head(got[1])
      local c = got[2] and cmsgpack.unpack(got[2])
      if h[2] == thread_id and cp_stored(known, h[3]) and (not c or now >= c[3]) then
        if c and redis.call('HGET', KEYS[5], next_field(thread_id, c[1])) == token then
          redis.call('HDEL', KEYS[5], next_field(thread_id, c[1]))
        end
        -- a lease of this claim id's own that ran out is renewed, as claim does
        taken = take(token, got[1], c and c[1] == claim_id and c[2] or now)
        if not stop then
          stop = seq + 1
          ends = math.min(ends or math.huge, now + tonumber(ARGV[3]))
        end
        break
      end
      stop = stop or seq  -- free, but not claimable yet (its checkpoint is not stored)
    end
  end
  from = to + 1
end
if start == first then
  mark = mark or from
  if mark ~= first then redis.call('HSET', KEYS[5], mark_field(thread_id), mark) end
end
stop = stop or from
if stop > first and ends then
  redis.call('HSET', KEYS[5], held_field(thread_id), cmsgpack.pack({stop, ends}))
end
if taken then return taken end
return false
"""

# The token's record and claim, or {false, whether the tag's hash (its thread) still lives}
THREAD_DATA_ELSEWHERE = "the thread of this pending interrupt has no data on this node"
"""The ``TRYAGAIN`` error a token's script answers when the node holding the token's record
holds none of its thread's keys (a Cluster slot half migrated; see ``_PENDING_PRELUDE``)."""

_PENDING_PRELUDE = (
    _HEAD
    + f"local THREAD_DATA_ELSEWHERE = '{THREAD_DATA_ELSEWHERE}'\n"
    + r"""
local token = ARGV[1]
local rec = redis.call('HGET', KEYS[1], token)
if not rec then return {false, redis.call('EXISTS', KEYS[1])} end
local h = head(rec)
local base = h[5]
if type(base) ~= 'string' then
  error('CORRUPT a stored pending interrupt has a form this version does not read', 0)
end
local expires = thread_deadline(base)
if expires == -2 then
  -- no data of the record's thread here, though its keys expire together: on a Cluster, a
  -- slot being migrated, its pending hash and its thread's keys on two nodes for a while
  -- (this script names the first alone, the token knows no thread). Nothing is decided
  -- (and nothing dropped) until the slot has moved; the client tries again.
  return redis.error_reply('TRYAGAIN ' .. THREAD_DATA_ELSEWHERE)
end
local now = now_ms()
local claim = redis.call('HGET', KEYS[1], token .. ':c')
local held = claim and cmsgpack.unpack(claim)
local other = held and now < held[3] and held[1] ~= ARGV[2]
-- a claim claim_next made, replaced or released here: its retry must not find it again
local function forget_next(claim_id)
  local f = next_field(h[2], claim_id)
  if redis.call('HGET', KEYS[1], f) == token then redis.call('HDEL', KEYS[1], f) end
end
local function forget_held()
  if type(h[2]) == 'string' then redis.call('HDEL', KEYS[1], held_field(h[2])) end
end
-- the record's order field tells claim_next whether a claim holds it, and until when
local function set_order(lease_until)
  if type(h[2]) == 'string' and type(h[7]) == 'number' then
    redis.call('HSET', KEYS[1], order_field(h[2], h[7]), order_value(token, lease_until))
  end
end
"""
)

# ARGV: token -> {record, claim or false, expiry (unix ms, -1 none), 'ok', now} | miss
_PENDING_GET = (
    _PENDING_PRELUDE
    + r"""
return {rec, claim, expires, 'ok', now}
"""
)

# ARGV: token, claim id, lease ms -> {..., 'ok' | 'taken', now} | miss
# Claiming again with the same claim id renews the lease: a retried claim wins again.
_PENDING_CLAIM = (
    _PENDING_PRELUDE
    + r"""
if other then return {rec, claim, expires, 'taken', now} end
local since = now
if held and held[1] == ARGV[2] then since = held[2] end
if held and held[1] ~= ARGV[2] then forget_next(held[1]) end
claim = cmsgpack.pack({ARGV[2], since, now + tonumber(ARGV[3])})
redis.call('HSET', KEYS[1], token .. ':c', claim)
set_order(now + tonumber(ARGV[3]))
if held and held[1] == ARGV[2] then forget_held() end  -- the new lease may be shorter
return {rec, claim, expires, 'ok', now}
"""
)

# ARGV: token, claim id -> {..., 'ok' | 'mismatch', now} | miss; a free record stays free
_PENDING_RELEASE = (
    _PENDING_PRELUDE
    + r"""
if other then return {rec, claim, expires, 'mismatch', now} end
if held then forget_next(held[1]) end
redis.call('HDEL', KEYS[1], token .. ':c')
set_order(nil)
forget_held()
return {rec, false, expires, 'ok', now}
"""
)


@dataclass(frozen=True)
class Script:
    """A Lua script with its SHA1, as sent with ``EVALSHA``."""

    name: str
    source: str
    writes: bool = False
    """Whether it changes what is stored (a lost reply then leaves its outcome unknown)."""
    grouped: bool = False
    """Whether concurrent calls of one thread may share a pipeline (``redis/batching/``)."""
    saves: bool = False
    """Whether it stores a checkpoint: sent after the writes carried for its thread, and
    not at all if one of them failed (``redis/batching/``)."""
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


_COMMENT = re.compile(r"--[^\n]*")
_DEFINITION = re.compile(r"^local (?:function )?([A-Za-z_]\w*)", re.MULTILINE)


def _helpers(prelude: str) -> list[tuple[str, str]]:
    """The prelude's top-level definitions in order, ``(name, source)``; each one's source
    runs from the comment lines above it to the next definition's comments."""
    starts = [m.start() for m in _DEFINITION.finditer(prelude)]
    blocks = []
    cut = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(prelude)
        # the comment lines right above the next definition belong to it
        tail = prelude[start:end]
        lines = tail.splitlines(keepends=True)
        while i + 1 < len(starts) and lines and lines[-1].startswith("--"):
            lines.pop()
        block_end = start + sum(len(line) for line in lines)
        match = _DEFINITION.match(prelude, start)
        assert match is not None
        blocks.append((match.group(1), prelude[cut:block_end]))
        cut = block_end
    return blocks


def _with_helpers(prelude: str, body: str) -> str:
    """``body`` after only the prelude definitions it uses, directly or through another.

    Redis runs a script's whole text on every call, so each definition costs its closure on
    every call (the full prelude about 2 µs, against 1.6 µs for a script that only returns).
    """
    blocks = _helpers(prelude)
    sources = dict(blocks)
    named = re.compile(r"\b(" + "|".join(sources) + r")\b")
    needed: set[str] = set()
    pending = [body]
    while pending:
        for name in set(named.findall(_COMMENT.sub("", pending.pop()))) - needed:
            needed.add(name)
            pending.append(sources[name])
    return "".join(source for name, source in blocks if name in needed) + body


_REFRESH = re.compile(r"\brefresh\(tonumber\(ARGV\[(\d+)\]\)\)")


def _refreshing_on_error(body: str) -> str:
    """``body`` made to refresh the thread's TTL when it raises, then raise the same error.

    A write script refreshes the thread's keys at its end; a command refused part way (an
    ACL denial, out of memory, a corrupt record) would otherwise leave what it wrote before
    without a TTL. ``xpcall`` (not ``pcall``, which Redis 7 makes turn a command's error
    into a string) hands the error over as raised, so the reply stays the one the client
    translates (``NOPERM``, ``OOM``, ``CORRUPT``); the refresh runs under ``pcall`` so that a
    refused ``PEXPIRE`` cannot hide it. A body that never refreshes is returned as it is.
    """
    found = set(_REFRESH.findall(_COMMENT.sub("", body)))
    if not found:
        return body
    if len(found) > 1:
        raise ValueError(f"a script refreshes with different TTL arguments: {sorted(found)}")
    (ttl,) = found
    return (
        "local function script_body()\n"
        + body
        + "end\n"
        + "local ok, reply = xpcall(script_body, function(e) return e end)\n"
        + "if ok then return reply end\n"
        + f"pcall(refresh, tonumber(ARGV[{ttl}]))\n"
        + "error(reply, 0)\n"
    )


def _thread_script(
    name: str, body: str, *, writes: bool = False, grouped: bool = False, saves: bool = False
) -> Script:
    """A script on the five keys of a thread: ``body`` after the prelude helpers it uses; a
    writing one keeps its TTL refresh when a command in it fails (``_refreshing_on_error``)."""
    if writes:
        body = _refreshing_on_error(body)
    return Script(name, _with_helpers(_PRELUDE, body), writes, grouped, saves)


GET_TUPLE = _thread_script("get_tuple", _GET_TUPLE)
LIST = _thread_script("list", _LIST)
LIST_ALL = _thread_script("list_all", _LIST_ALL)
PUT = _thread_script("put", _PUT, writes=True, saves=True)
PUT_WRITES = _thread_script("put_writes", _PUT_WRITES, writes=True, grouped=True)
PUT_WRITES_MANY = _thread_script("put_writes_many", _PUT_WRITES_MANY, writes=True)
DELETE_THREAD = _thread_script("delete_thread", _DELETE_THREAD, writes=True)
READ_THREAD = _thread_script("read_thread", _READ_THREAD)
WRITE_THREAD = _thread_script("write_thread", _WRITE_THREAD, writes=True)
DELETE_CHECKPOINTS = _thread_script("delete_checkpoints", _DELETE_CHECKPOINTS, writes=True)
DELTA_HISTORY = _thread_script("delta_history", _DELTA_HISTORY)
REBUILD_PENDING = _thread_script("rebuild_pending", _REBUILD_PENDING, writes=True)
PENDING_LIST = _thread_script("pending_list", _PENDING_LIST)
PENDING_CLAIM_NEXT = _thread_script("pending_claim_next", _PENDING_CLAIM_NEXT, writes=True)
PENDING_GET = Script("pending_get", _PENDING_GET)
PENDING_CLAIM = Script("pending_claim", _PENDING_CLAIM, writes=True)
PENDING_RELEASE = Script("pending_release", _PENDING_RELEASE, writes=True)

_CALLED = re.compile(r"\bredis\.p?call\(\s*'([A-Za-z|]+)'")
_TRIED = re.compile(r"\bpcall\(\s*redis\.call\s*,\s*'([A-Za-z|]+)'")


def _named(pattern: re.Pattern[str]) -> frozenset[str]:
    """The commands ``pattern`` finds in the source of every script above (no comments)."""
    return frozenset(
        name.upper()
        for script in list(globals().values())
        if isinstance(script, Script)
        for name in pattern.findall(_COMMENT.sub("", script.source))
    )


SCRIPT_COMMANDS: frozenset[str] = _named(_CALLED)
"""Every command the scripts run (``redis.call``/``redis.pcall``), read from their sources:
an ACL user of the adapter needs each of them."""

OPTIONAL_SCRIPT_COMMANDS: frozenset[str] = _named(_TRIED) - SCRIPT_COMMANDS
"""Commands the scripts only try (``pcall(redis.call, ...)``) and do without: ``PEXPIRETIME``,
which Redis 6.2 lacks (the scripts then read ``PTTL`` between two ``TIME``s)."""
