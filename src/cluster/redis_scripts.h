// The Lua scripts of the Redis engine (HISTORY-CLUSTER.md sections A3 and D).
// Each runs atomically in Redis, so what it reads and writes is one instant:
// a publish's seq, its entry in the stream and its pub/sub message cannot be
// told apart in time by any other client. tests/integration/
// test_redis_scripts.py runs them against a real redis-server.
//
// Keys of a channel C under prefix P (the channel is a hash tag, so all of
// one channel's keys share a Redis Cluster slot):
//   P:{C}:m      hash {e: epoch, s: latest seq}
//   P:{C}:x      stream, entry IDs "<seq>-0", field d = the payload
//   P:{C}:i:<K>  hash {s, e, d: delivered} of an Idempotency-Key, with a TTL
//   P:{C}:p      the pub/sub channel, carrying "<seq>:<epoch>:<payload>"
#pragma once

#include "cluster/redis.h"

namespace notifyd::cluster::scripts {

/// KEYS: meta, stream[, idempotency key]. ARGV: epoch candidate, payload,
/// history size, history TTL ms, meta TTL ms, pub/sub channel, key TTL ms.
/// Returns {seq, epoch, replayed (0|1), delivered, receivers}: a repeat of a
/// key returns the first publish's seq, epoch and delivered with replayed 1,
/// and publishes nothing. A channel without an epoch takes the candidate; its
/// first seq deletes the stream (left from an epoch whose meta hash was lost:
/// stream IDs must keep increasing). Size 0 keeps no stream.
const RedisScript& Publish();

/// KEYS: meta, stream. ARGV: epoch candidate, since, count, mode ("after":
/// up to count entries after seq since, oldest first; "tail": the last count
/// entries), meta TTL ms. Returns {epoch, top, first_kept, {seq, payload,
/// seq, payload, ...}}; first_kept is 0 when nothing is kept. A channel
/// without an epoch takes the candidate (top 0).
const RedisScript& Read();

/// KEYS: idempotency key. ARGV: delivered. Stores the first reply's delivered
/// count while the key lives (a key gone is not created again).
const RedisScript& RecordDelivered();

/// KEYS: meta keys. ARGV: meta TTL ms. Returns {epoch or "", top, ...}, one
/// pair per key, and keeps the meta hashes that exist alive.
const RedisScript& Tops();

/// KEYS: the node list (sorted set), this node's counts hash. ARGV: node id,
/// expiry ms, counts key prefix, then channel, count pairs. Marks the node
/// alive at Redis's own time (so nodes' clocks need not agree), drops nodes
/// silent for longer than expiry, replaces this node's counts, and returns
/// {live nodes, node, {channel, count, ...}, node, {...}, ...} for the others.
/// Reads the other nodes' counts keys by name: one Redis, not Redis Cluster.
const RedisScript& Heartbeat();

}  // namespace notifyd::cluster::scripts
