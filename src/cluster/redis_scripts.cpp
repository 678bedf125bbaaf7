#include "cluster/redis_scripts.h"

// The sources are raw strings named k<Name>Source, each opened by R"lua( and
// closed by )lua": tests/integration/test_redis_scripts.py reads them from
// this file by that shape and runs them against a real redis-server.
//
// Lua in Redis is 5.1, whose numbers are doubles: seqs stay exact up to 2^53,
// and are turned into text with string.format('%d'), never tostring (which
// would write a large one with an exponent).

namespace notifyd::cluster::scripts {

namespace {

const char kPublishSource[] = R"lua(
local meta, stream, key = KEYS[1], KEYS[2], KEYS[3]
if key then
  local first = redis.call('HMGET', key, 's', 'e', 'd')
  if first[1] and first[2] then
    return {tonumber(first[1]), first[2], 1, tonumber(first[3]) or 0, 0}
  end
end
local size, history_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local meta_ttl, key_ttl = tonumber(ARGV[5]), tonumber(ARGV[7])
local epoch = redis.call('HGET', meta, 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
local seq = redis.call('HINCRBY', meta, 's', 1)
local id = string.format('%d', seq)
-- Seq 1 begins an epoch: a stream left from a lost one would hold higher IDs.
if seq == 1 or size == 0 then
  redis.call('DEL', stream)
end
if size > 0 then
  redis.call('XADD', stream, 'MAXLEN', size, id .. '-0', 'd', ARGV[2])
  if history_ttl > 0 then redis.call('PEXPIRE', stream, history_ttl) end
end
if meta_ttl > 0 then redis.call('PEXPIRE', meta, meta_ttl) end
if key then
  redis.call('HSET', key, 's', id, 'e', epoch, 'd', 0)
  if key_ttl > 0 then redis.call('PEXPIRE', key, key_ttl) end
end
local receivers = redis.call('PUBLISH', ARGV[6], id .. ':' .. epoch .. ':' .. ARGV[2])
return {seq, epoch, 0, 0, receivers}
)lua";

const char kReadSource[] = R"lua(
local meta, stream = KEYS[1], KEYS[2]
local found = redis.call('HMGET', meta, 'e', 's')
local epoch, top = found[1], tonumber(found[2]) or 0
if not epoch then
  epoch, top = ARGV[1], 0
  redis.call('HSET', meta, 'e', epoch, 's', 0)
end
local meta_ttl = tonumber(ARGV[5])
if meta_ttl > 0 then redis.call('PEXPIRE', meta, meta_ttl) end
-- A stream under top 0 is left from a lost epoch: nothing of it is kept.
local first_kept, entries = 0, {}
if top > 0 then
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if first[1] then first_kept = tonumber(string.match(first[1][1], '^%d+')) end
end
local count, tail = tonumber(ARGV[3]), ARGV[4] == 'tail'
if first_kept > 0 and count > 0 then
  local range
  if tail then
    range = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', count)
  else
    local from = string.format('%d', tonumber(ARGV[2]) + 1)
    range = redis.call('XRANGE', stream, from, '+', 'COUNT', count)
  end
  local first, last, step = 1, #range, 1
  if tail then first, last, step = #range, 1, -1 end
  for i = first, last, step do
    local seq = tonumber(string.match(range[i][1], '^%d+'))
    if seq <= top then
      entries[#entries + 1] = seq
      entries[#entries + 1] = range[i][2][2]
    end
  end
end
return {epoch, top, first_kept, entries}
)lua";

const char kRecordDeliveredSource[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'd', ARGV[1])
end
return 0
)lua";

const char kTopsSource[] = R"lua(
local meta_ttl, out = tonumber(ARGV[1]), {}
for i, key in ipairs(KEYS) do
  local found = redis.call('HMGET', key, 'e', 's')
  out[2 * i - 1] = found[1] or ''
  out[2 * i] = tonumber(found[2]) or 0
  if found[1] and meta_ttl > 0 then redis.call('PEXPIRE', key, meta_ttl) end
end
return out
)lua";

const char kHeartbeatSource[] = R"lua(
local nodes, counts, id = KEYS[1], KEYS[2], ARGV[1]
local expiry = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', nodes, string.format('%d', now), id)
redis.call('ZREMRANGEBYSCORE', nodes, '-inf', '(' .. string.format('%d', now - expiry))
redis.call('PEXPIRE', nodes, expiry)
redis.call('DEL', counts)
-- 100 pairs per HSET: Lua's unpack has a stack limit.
for i = 4, #ARGV, 200 do
  redis.call('HSET', counts, unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
if #ARGV > 4 then redis.call('PEXPIRE', counts, expiry) end
local live = redis.call('ZRANGE', nodes, 0, -1)
local out = {#live}
for _, node in ipairs(live) do
  if node ~= id then
    out[#out + 1] = node
    out[#out + 1] = redis.call('HGETALL', ARGV[3] .. node)
  end
end
return out
)lua";

}  // namespace

const RedisScript& Publish() {
  static const RedisScript script(kPublishSource);
  return script;
}

const RedisScript& Read() {
  static const RedisScript script(kReadSource);
  return script;
}

const RedisScript& RecordDelivered() {
  static const RedisScript script(kRecordDeliveredSource);
  return script;
}

const RedisScript& Tops() {
  static const RedisScript script(kTopsSource);
  return script;
}

const RedisScript& Heartbeat() {
  static const RedisScript script(kHeartbeatSource);
  return script;
}

}  // namespace notifyd::cluster::scripts
