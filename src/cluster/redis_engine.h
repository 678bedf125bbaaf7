// The Redis cluster engine (PROTOCOL.md Part 2 "Scale-out", HISTORY-CLUSTER.md
// "Proposed design" → "Redis broker"): core::ClusterEngine over a Redis that
// every notifyd node shares. A channel's epoch and seq live in a meta hash,
// its history in a stream whose entry IDs are the seqs, and each publish is
// one Lua script (seq + XADD + PUBLISH), so the order of seqs is the order of
// pub/sub delivery. Every node, the publisher included, receives each
// notification back over pub/sub as "<seq>:<epoch>:<payload>".
//
// The engine's duty is the contract of core/cluster_engine.h: for an attached
// channel a snapshot first, then every later notification exactly once, in
// order and contiguous, or a new snapshot. Pub/sub is at most once, so it
// holds messages that run ahead, repairs holes from the stream, catches up
// after a pub/sub reconnect, probes its own subscription for liveness, and
// compares each channel's top with what it delivered every few seconds.
//
// It talks to Redis only through RedisCommands and RedisPubSub (cluster/
// redis.h), which the owner constructs and whose events it wires to the
// On* methods below (command_events() and pubsub_events() build them), and it
// keeps time with a core::Clock: the owner calls Tick() every kTickMs. So the
// unit tests drive it with fakes and a FakeClock, without a socket or timer.
// Everything runs on the event-loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cluster/redis.h"
#include "core/clock.h"
#include "core/cluster_engine.h"
#include "core/ids.h"

namespace notifyd::cluster {

struct RedisEngineOptions {
  /// Prefix of every key and pub/sub channel (`[cluster] prefix`).
  std::string prefix = "notifyd";
  /// This node's name in the node list and its probe channel; empty: 12
  /// random characters.
  std::string node_id;
  /// Notifications kept per channel (exact `XADD MAXLEN`); 0 keeps none, and
  /// seqs are still counted.
  size_t history_size = 100;
  /// A stream expires this long after its channel's last publish (0: never).
  int64_t history_ttl_ms = 24 * 3600 * 1000LL;
  /// A channel's meta hash (epoch, seq) likewise, refreshed by every publish
  /// and read (and the top check while attached); when it goes, the channel's
  /// next use begins a new epoch.
  int64_t meta_ttl_ms = 30 * 24 * 3600 * 1000LL;
  /// The command connection's timeout, to name it in errors.
  int64_t command_timeout_ms = 1000;
  /// A liveness probe is published to this node's own channel this often...
  int64_t probe_interval_ms = 2000;
  /// ...and when one has not come back within this, the pub/sub connection is
  /// reset (while the command connection works).
  int64_t probe_timeout_ms = 6000;
  /// Every attached channel's top in Redis is compared with what was
  /// delivered this often, so a lost last message is found.
  int64_t top_check_interval_ms = 10000;
  /// The node list and subscriber counts are refreshed this often...
  int64_t heartbeat_interval_ms = 2000;
  /// ...and a node that has not refreshed them for this long is gone.
  int64_t node_expiry_ms = 10000;
  /// Most entries one catch-up read asks for (a longer hole takes several).
  size_t read_page = 1000;
  /// Most messages held for one channel while they cannot be delivered (a
  /// read is out, or a hole is being repaired); beyond it they are dropped
  /// and the channel gets a new snapshot.
  size_t max_held = 10000;
  /// Most channels one top-check script looks at.
  size_t top_check_batch = 1000;
};

/// What /api/stats and /metrics show of the engine.
struct RedisEngineStats {
  size_t attached_channels = 0;
  /// Catch-up reads that continued a channel from the stream (a hole, a
  /// pub/sub reconnect, a top check that found it behind).
  uint64_t repairs = 0;
  /// Snapshots in place of a continuity the engine could not vouch for
  /// (a new epoch, a hole no longer in the stream); each is a `resync`.
  uint64_t resyncs = 0;
  /// Pub/sub connections reset because a liveness probe did not come back.
  uint64_t probes_failed = 0;
  /// Times the pub/sub connection came up again after the first.
  uint64_t pubsub_reconnects = 0;
  /// Publishes answered !ok (no connection, a timeout, an error reply).
  uint64_t publishes_failed = 0;
  /// Snapshot and catch-up reads that failed (and were tried again).
  uint64_t reads_failed = 0;
};

/// Local subscribers by channel (channels with none may be left out).
using SubscriberCounts = std::function<std::vector<std::pair<std::string, size_t>>()>;

class RedisEngine final : public core::ClusterEngine {
 public:
  /// How often the owner should call Tick().
  static constexpr int64_t kTickMs = 250;

  /// The connections, clock and id source must outlive the engine. The
  /// constructor only stores the references, so the owner may declare the
  /// engine before the connections and construct them with command_events()
  /// and pubsub_events().
  RedisEngine(RedisEngineOptions options, RedisCommands& commands, RedisPubSub& pubsub,
              const core::Clock& clock, core::IdSource& ids);
  ~RedisEngine() override;
  RedisEngine(const RedisEngine&) = delete;
  RedisEngine& operator=(const RedisEngine&) = delete;

  // --- wiring (the owner connects the connections' events to these) -------
  /// CommandEvents calling OnCommandsUp/Down.
  CommandEvents command_events();
  /// PubSubEvents calling OnPubSub*.
  PubSubEvents pubsub_events();
  void OnCommandsUp();
  void OnCommandsDown(const std::string& why);
  void OnPubSubUp();
  void OnPubSubDown(const std::string& why);
  void OnPubSubSubscribed(const std::string& pubsub_channel);
  void OnPubSubMessage(const std::string& pubsub_channel, const std::string& message);
  /// Where the heartbeat takes this node's subscriber counts from.
  void SetSubscriberCounts(SubscriberCounts counts);
  /// Runs the periodic jobs that are due: the heartbeat, the liveness probe
  /// and its verdict, the top check, reads that failed and are retried.
  void Tick();
  /// At a clean stop, before the connections go: leaves the node list, and
  /// sends nothing more (no reads, probes or heartbeats). `done` is called
  /// when Redis has answered (or the commands failed): the owner keeps the
  /// loop running until then (within a deadline), or the other nodes count
  /// this one until it expires.
  void Stop(std::function<void()> done = {});

  // --- core::ClusterEngine ---------------------------------------------------
  // Every epoch candidate must be fresh (core::IdSource::NewEpoch): one that
  // Redis stored before could name a new epoch after Redis lost the channel,
  // and its seqs, starting again at 1, would look like duplicates. Attach's
  // candidate serves the channel's first read only; later reads draw their own.
  void SetEvents(core::EngineEvents* events) override;
  bool up() const override;
  std::string down_reason() const override;
  void Publish(const std::string& channel, const std::string& epoch_candidate, std::string payload,
               std::string_view idempotency_key, int64_t key_ttl_ms,
               core::EngineAckDone done) override;
  void RecordDelivered(const std::string& channel, std::string_view idempotency_key,
                       uint64_t delivered) override;
  void Attach(const std::string& channel, const std::string& epoch_candidate) override;
  void Detach(const std::string& channel) override;
  void Read(const std::string& channel, const std::string& epoch_candidate, uint64_t since,
            size_t limit, core::EngineReadDone done) override;
  size_t RemoteSubscribers(const std::string& channel) const override;
  std::vector<std::pair<std::string, size_t>> RemoteCounts() const override;
  size_t nodes() const override;

  const std::string& node_id() const { return options_.node_id; }
  RedisEngineStats stats() const;

  // --- names in Redis (public for tests and the operator's docs) ------------
  std::string MetaKey(std::string_view channel) const;
  std::string StreamKey(std::string_view channel) const;
  std::string PubSubChannel(std::string_view channel) const;
  std::string IdempotencyKey(std::string_view channel, std::string_view key) const;
  std::string ProbeChannel() const;
  std::string NodesKey() const;
  std::string CountsKey(std::string_view node) const;

 private:
  /// A pub/sub message that cannot be delivered yet.
  struct Held {
    std::string epoch;
    std::string payload;
  };
  enum class ReadKind { kSnapshot, kCatchUp };
  /// One attached channel. `last` is the seq last reported (the snapshot's
  /// top or the last OnEntry), valid once `synced`.
  struct Channel {
    uint64_t generation = 0;    ///< Tells a re-attached channel from its past.
    std::string candidate;      ///< Attach's epoch candidate, for the first read only.
    bool subscribed = false;    ///< SUBSCRIBE acknowledged on this pub/sub connection.
    uint64_t subscription = 0;  ///< Counts acknowledgements.
    bool synced = false;
    std::string epoch;
    uint64_t last = 0;
    bool reading = false;
    uint64_t read_serial = 0;  ///< The read whose answer counts; bumped to void one.
    bool want_snapshot = false;
    bool want_catch_up = false;
    uint64_t catch_up_to = 0;       ///< Read on while `last` is below it (a read was one page).
    std::map<uint64_t, Held> held;  ///< By seq.
    uint64_t top_seen = 0;          ///< A top ahead of `last` at the previous top check.
  };
  /// A channel a top-check script looks at, and its state when asked.
  struct TopCheck {
    std::string name;
    uint64_t generation = 0;
    uint64_t read_serial = 0;
    uint64_t last = 0;  ///< Delivered when asked: the top Redis answers is at least this.
  };

  std::optional<std::string> ChannelOf(std::string_view pubsub_channel) const;
  bool DeliverIfNext(const std::string& name, Channel& channel, uint64_t seq,
                     std::string_view epoch, std::string_view payload);
  Channel* Find(const std::string& name, uint64_t generation);
  /// Does what the channel needs next: a read, or delivering held messages.
  void Advance(const std::string& name, uint64_t generation);
  void StartRead(const std::string& name, Channel& channel, ReadKind kind);
  void OnReadDone(const std::string& name, uint64_t generation, uint64_t serial,
                  uint64_t subscription, ReadKind kind, RedisFailure failure,
                  const RedisReply& reply);
  void ApplySnapshot(const std::string& name, Channel& channel, core::EngineSnapshot snapshot,
                     bool current);
  void ApplyCatchUp(Channel& channel, core::EngineSnapshot snapshot, bool current);
  void Hold(Channel& channel, uint64_t seq, std::string_view epoch, std::string_view payload);
  void OnProbeMessage(const std::string& message);
  void SendProbe(int64_t now);
  void CheckProbe(int64_t now);
  void RunHeartbeat();
  void OnHeartbeatDone(const RedisReply& reply);
  void RunTopCheck(int64_t now);
  void OnTopsDone(const std::vector<TopCheck>& batch, const RedisReply& reply);
  void RetryFailedReads();
  void Subscribe(std::vector<std::string> pubsub_channels);
  std::string TakeCandidate(Channel& channel);
  std::string FailureText(RedisFailure failure) const;
  void ReportState();
  /// Wraps a reply callback so it does nothing once the engine is gone.
  CommandDone Guarded(std::function<void(RedisFailure, const RedisReply&)> fn);

  RedisEngineOptions options_;
  RedisCommands& commands_;
  RedisPubSub& pubsub_;
  const core::Clock& clock_;
  core::IdSource& ids_;
  core::EngineEvents* events_ = nullptr;
  SubscriberCounts counts_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::string key_head_;       ///< "<prefix>:{"
  std::string probe_channel_;  ///< "<prefix>:node:<id>"

  bool stopped_ = false;
  bool commands_up_ = false;
  std::string commands_why_ = "not connected yet";
  bool pubsub_up_ = false;
  bool pubsub_was_up_ = false;
  uint64_t pubsub_session_ = 0;  ///< Bumped when the pub/sub connection comes or goes.
  std::string pubsub_why_ = "not connected yet";
  std::optional<std::pair<bool, std::string>> reported_;

  std::unordered_map<std::string, Channel> channels_;
  uint64_t next_generation_ = 0;
  /// SUBSCRIBEs sent and not yet acknowledged, by pub/sub channel: only the
  /// last one's acknowledgement means the channel is subscribed now.
  std::unordered_map<std::string, int> pending_acks_;
  std::unordered_set<std::string> failed_reads_;
  int64_t next_retry_ = 0;

  // The liveness probe.
  bool probe_subscribed_ = false;
  uint64_t probe_serial_ = 0;
  uint64_t probe_received_ = 0;  ///< Highest probe that came back.
  uint64_t probe_pending_ = 0;   ///< Oldest probe Redis took that has not come back.
  int64_t probe_pending_since_ = 0;
  int64_t next_probe_ = 0;

  // The heartbeat and top check.
  bool heartbeat_out_ = false;
  int64_t next_heartbeat_ = 0;
  size_t top_checks_out_ = 0;
  int64_t next_top_check_ = 0;
  size_t nodes_ = 0;
  std::unordered_map<std::string, size_t> remote_counts_;

  RedisEngineStats stats_;
};

}  // namespace notifyd::cluster
