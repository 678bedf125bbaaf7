// The cluster side of the broker seam (PROTOCOL.md Part 2 "Scale-out",
// DESIGN.md "History, streams and the cluster"): with `[cluster] broker =
// "redis"` the authority for a channel's (epoch, seq) and its history is not
// this process but an engine shared by every node (cluster/RedisEngine).
// core::Broker publishes through it, and keeps, for each channel with local
// subscribers, a mirror of the engine's stream that it serves resumes from.
//
// Contract (the engine's duty, so the broker stays simple):
// - For an attached channel the engine reports a snapshot first (OnSynced),
//   then every later notification exactly once, in seq order, contiguous and
//   under the snapshot's epoch (OnEntry). Where it cannot (a gap it could not
//   repair, the epoch changed, the data was lost), it reports a new snapshot
//   (OnSynced again), and the broker tells the live subscribers `resync`.
// - Every call and every callback runs on the event-loop thread; a callback
//   is never called from inside the call that registered it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace notifyd::core {

/// One notification as the engine keeps it: its seq and its payload
/// (EncodeEntryPayload).
struct EngineEntry {
  uint64_t seq = 0;
  std::string payload;
};

/// A channel's stream in the engine, read at one instant.
struct EngineSnapshot {
  std::string epoch;
  uint64_t top = 0;         ///< The latest seq of the epoch (0: none yet).
  uint64_t first_kept = 0;  ///< The oldest seq still kept (0: none kept).
  std::vector<EngineEntry> entries;  ///< Oldest first, contiguous.
};

/// The engine's answer to a publish.
struct EngineAck {
  bool ok = false;
  std::string error;        ///< !ok: why (for the 503's details and the journal).
  std::string epoch;
  uint64_t seq = 0;
  bool replayed = false;    ///< An Idempotency-Key repeat: nothing was published.
  uint64_t delivered = 0;   ///< replayed: what the first publish's reply said.
  uint64_t nodes = 0;       ///< Nodes that received it (PUBLISH's count).
};

using EngineAckDone = std::function<void(const EngineAck&)>;
using EngineReadDone = std::function<void(bool ok, const EngineSnapshot&, const std::string& error)>;

/// What the engine reports to the broker.
class EngineEvents {
 public:
  virtual ~EngineEvents() = default;
  /// An attached channel's stream as it stands (after Attach, or in place of
  /// a continuity the engine cannot vouch for): entries are the last ones kept,
  /// at most the history size.
  virtual void OnSynced(const std::string& channel, EngineSnapshot snapshot) = 0;
  /// The next notification of an attached, synced channel (seq = top + 1).
  virtual void OnEntry(const std::string& channel, uint64_t seq, const std::string& payload) = 0;
  /// Up (both connections work) or down, with why (for /health and STATUS=).
  virtual void OnEngineState(bool up, const std::string& why) = 0;
};

/// What the broker asks of the engine.
class ClusterEngine {
 public:
  virtual ~ClusterEngine() = default;
  /// Reports to `events` from now on (once, before anything else).
  virtual void SetEvents(EngineEvents* events) = 0;
  /// True while publishes can be taken (the command connection is up).
  virtual bool up() const = 0;
  /// Why not up (empty when up).
  virtual std::string down_reason() const = 0;
  /// Publishes atomically: assigns the next seq (the epoch is
  /// `epoch_candidate` when the channel has none), keeps it, sends it to
  /// every node. With a key, a repeat within `key_ttl_ms` is answered with
  /// the first ack (replayed) and nothing is published.
  virtual void Publish(const std::string& channel, const std::string& epoch_candidate,
                       std::string payload, std::string_view idempotency_key,
                       int64_t key_ttl_ms, EngineAckDone done) = 0;
  /// Remembers the `delivered` of a keyed publish's first reply, for repeats.
  virtual void RecordDelivered(const std::string& channel, std::string_view idempotency_key,
                               uint64_t delivered) = 0;
  /// Starts following `channel` (its first local subscriber): OnSynced, then
  /// OnEntry. Repeated calls are harmless. While the engine is down it
  /// starts when the engine is back.
  virtual void Attach(const std::string& channel, const std::string& epoch_candidate) = 0;
  /// Stops following it (no local subscriber left for a while).
  virtual void Detach(const std::string& channel) = 0;
  /// Reads up to `limit` notifications after seq `since` (0: from the oldest
  /// kept) without attaching, for polling.
  virtual void Read(const std::string& channel, const std::string& epoch_candidate,
                    uint64_t since, size_t limit, EngineReadDone done) = 0;
  /// Subscribers on the other nodes, by channel (refreshed every few seconds).
  virtual size_t RemoteSubscribers(const std::string& channel) const = 0;
  /// Every channel with subscribers on the other nodes, and how many.
  virtual std::vector<std::pair<std::string, size_t>> RemoteCounts() const = 0;
  /// Nodes alive, this one included (0 while unknown).
  virtual size_t nodes() const = 0;
};

/// A notification's content as the engine carries it between nodes, so each
/// node frames it the same way: "<published_ms> <len>:<title><len>:<body><len>:<data>".
std::string EncodeEntryPayload(int64_t published_ms, std::string_view title,
                               std::string_view body, std::string_view data_json);

struct EntryContent {
  int64_t published_ms = 0;
  std::string title;
  std::string body;
  std::string data_json;
};

/// Parses EncodeEntryPayload's form; nullopt when malformed.
std::optional<EntryContent> DecodeEntryPayload(std::string_view payload);

}  // namespace notifyd::core
