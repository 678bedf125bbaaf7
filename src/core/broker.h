// The broker seam (DESIGN.md "History, streams and the cluster"): every
// publish, wherever it comes from, goes through Broker::Publish, which stamps
// it with its channel's (epoch, seq), keeps it in the channel's history ring,
// hands it to a HistoryStore when one is attached, and gives the hub the
// frame to deliver. Resume and history reads are answered from the rings.
// Runs on the daemon's single event-loop thread, like the hub; no locks.
//
// Sync modes with a store: "commit" delivers and answers a publish only
// after the store reports it committed (the notification is pending until
// then: not in the ring, not in `top`); "batch" delivers and answers at once.
//
// With a cluster engine (AttachEngine, `[cluster] broker = "redis"`) the
// engine assigns positions and keeps history for every node. A publish is
// answered when the engine has taken it; notifications reach the hub when
// the engine hands them back (OnEntry), also on the node that published. The
// broker keeps a stream (a mirror of the engine's) only for channels with
// local subscribers: a resume on such a channel is answered from it at once;
// the first subscriber of a channel waits for the engine's snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/cluster_engine.h"
#include "core/frame.h"
#include "core/histogram.h"
#include "core/history.h"
#include "core/history_store.h"
#include "core/hub.h"
#include "core/ids.h"

namespace notifyd::core {

/// What a publisher sends, validated (valid UTF-8, data an object or empty).
struct PublishInput {
  std::string title;
  std::string body;
  std::string data_json;
};

struct PublishOutcome {
  enum class Status {
    kOk,
    kUnavailable,  ///< The store cannot take it (503); nothing was published.
  };
  Status status = Status::kOk;
  std::string channel;
  std::string epoch;
  uint64_t seq = 0;
  std::string id;          ///< "E:N".
  size_t delivered = 0;
  bool replayed = false;   ///< The first reply of an Idempotency-Key repeat.
  std::string error;       ///< kUnavailable: why, for the reply's details.
  bool clustered = false;  ///< Published through a cluster engine...
  uint64_t nodes = 0;      ///< ...which sent it to this many nodes.
};

using PublishDone = std::function<void(const PublishOutcome&)>;

/// A subscribe's answer: where the channel is, and with `since` the decision
/// and the frames to send after the reply, oldest first.
struct ResumeResult {
  std::string epoch;
  uint64_t top = 0;
  Recovery recovery;             ///< Meaningful only when `since` was given.
  std::vector<FramePtr> frames;  ///< recovery.recovered: seqs since+1 .. top.
  /// With a cluster engine that is down, a resume (with `since`) of a channel
  /// this node does not follow yet cannot be answered: error code
  /// broker_unavailable, with `error` saying why.
  bool unavailable = false;
  std::string error;
};

using ResumeDone = std::function<void(ResumeResult)>;

/// A page of GET /api/channels/{channel}/messages.
struct HistoryPage {
  std::string epoch;
  uint64_t top = 0;
  bool recovered = true;
  bool more = false;
  std::vector<FramePtr> messages;  ///< Oldest first.
  bool unavailable = false;  ///< The cluster engine could not be read (503).
  std::string error;
};

using HistoryPageDone = std::function<void(HistoryPage)>;

struct BrokerStats {
  size_t channels = 0;        ///< Channels with a stream (history or an epoch).
  uint64_t kept = 0;          ///< Notifications kept in memory.
  uint64_t kept_bytes = 0;    ///< Their JSON text.
  uint64_t pending = 0;       ///< Waiting for their commit.
  uint64_t store_failures = 0;
  uint64_t resumes_recovered = 0;
  uint64_t resumes_not_recovered = 0;
  uint64_t idempotent_replays = 0;
  uint64_t resyncs = 0;  ///< Cluster: `resync` pushes (one per channel and event).
  uint64_t malformed_entries = 0;  ///< Cluster: entries no notifyd wrote.
  /// With a store: from a publish's submission to the commit of the
  /// transaction holding it (both sync modes; failed writes are not counted).
  DurationHistogram commit_durations;
};

class Broker final : public StoreEvents, public EngineEvents {
 public:
  struct Options {
    uint64_t size = 100;                 ///< Kept per channel (0: none, seqs still counted).
    int64_t ttl_ms = 86400 * 1000;       ///< Kept this long; a channel idle this long
                                         ///< without subscribers is dropped.
    uint64_t recover_max = 1000;         ///< Most notifications one resume replays.
    bool batch = false;                  ///< With a store: sync = "batch".
    int64_t idempotency_ttl_ms = 300 * 1000;
  };

  /// Cluster: how long a publish's reply waits for its own notification to
  /// come back (for `delivered`) before it says 0; the stream is followed
  /// this long after its last local subscriber left.
  static constexpr int64_t kEchoWaitMs = 1000;
  static constexpr int64_t kDetachAfterMs = 1000;

  Broker(Hub& hub, const Clock& clock, const NotificationEncoder& encoder,
         IdSource ids = IdSource());
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  /// New retention and limits; applies from the next publish (and the next
  /// sweep trims). `batch` is taken only before AttachStore.
  void Configure(const Options& options);

  /// Makes `store` (not owned; outlives the broker's use) the durable side:
  /// loads what it keeps (new epochs where continuity is not vouched for:
  /// a database started anew, or a crash in batch mode) and starts it. Once,
  /// before serving.
  void AttachStore(HistoryStore* store);
  /// The store could not be opened at all: publishes answer 503 with
  /// `error` until a restart (live delivery goes on; nothing is kept).
  void FailStore(std::string error);
  /// Makes `engine` (not owned; outlives the broker's use) the authority for
  /// positions and history (see the top of this file). Once, before serving;
  /// excludes AttachStore.
  void AttachEngine(ClusterEngine* engine);
  ClusterEngine* engine() const { return engine_; }
  /// With an engine: whether it is up (both of its connections: /health),
  /// and why not. Publishes and resumes need only its command side
  /// (engine()->up()).
  bool engine_up() const { return engine_ == nullptr || engine_up_; }
  const std::string& engine_error() const { return engine_error_; }

  /// Writes what is pending and closes the store (SIGTERM); a clean stop
  /// keeps every epoch.
  void CloseStore();

  /// Publishes to `channel` (REQUIRES: a valid name). With a non-empty
  /// `idempotency_key` a repeat within the idempotency TTL is answered with
  /// the first outcome (replayed = true) and nothing is published. Returns
  /// the outcome when it is known at once; otherwise calls `defer()` once to
  /// get the callback that will receive it later (commit mode, or a repeat
  /// of a key whose first publish is still pending).
  std::optional<PublishOutcome> Publish(const std::string& channel, PublishInput input,
                                        std::string_view idempotency_key,
                                        const std::function<PublishDone()>& defer);

  /// For a subscribe (call it after Hub::Subscribe): the channel's epoch and
  /// top (drawing its epoch at its first use), and with `since` the recovery
  /// decision and the frames to replay (at most recover_max). Returns the
  /// result when it is known at once; otherwise (a cluster channel this node
  /// does not follow yet) calls `defer()` once for the callback that gets it
  /// later, before any live notification of the channel reaches the hub.
  std::optional<ResumeResult> Resume(const std::string& channel,
                                     const std::optional<Position>& since,
                                     const std::function<ResumeDone()>& defer);

  /// For polling: up to `limit` kept notifications after `since` (or from
  /// the oldest kept when `since` is empty); recover_max does not apply.
  /// Deferred as Resume is, when the cluster engine must be asked.
  std::optional<HistoryPage> Read(const std::string& channel, const std::optional<Position>& since,
                                  size_t limit, const std::function<HistoryPageDone()>& defer);

  /// Resume and Read without a cluster engine, where the answer is always
  /// known at once.
  ResumeResult Resume(const std::string& channel, const std::optional<Position>& since);
  HistoryPage Read(const std::string& channel, const std::optional<Position>& since, size_t limit);

  /// Drops notifications past the TTL, channels idle past it without
  /// subscribers, and expired idempotency keys. Call about once a second.
  void Sweep();

  /// False while the store has failed recently: publishes answer 503.
  bool store_ok() const;
  /// The attached store, or nullptr (memory history).
  HistoryStore* store() const { return store_; }
  /// The check-ins AttachStore found, handed over once (core::Checkins).
  std::vector<StoredCheckin> TakeLoadedCheckins() { return std::move(loaded_checkins_); }
  /// What AttachStore found, for the journal.
  struct LoadReport {
    size_t channels = 0;
    uint64_t notifications = 0;
    bool kept_epochs = false;
    bool started_anew = false;
    bool clean_stop = false;
  };
  const LoadReport& load_report() const { return load_report_; }
  const std::string& store_error() const { return store_error_; }
  BrokerStats stats() const;

  // StoreEvents
  void OnCommitted(uint64_t ticket) override;
  void OnFailed(std::string error) override;

  // EngineEvents
  void OnSynced(const std::string& channel, EngineSnapshot snapshot) override;
  void OnEntry(const std::string& channel, uint64_t seq, const std::string& payload) override;
  void OnEngineState(bool up, const std::string& why) override;

 private:
  struct Kept {
    uint64_t seq;
    int64_t published_ms;
    FramePtr frame;
  };
  struct Stream {
    std::string epoch;
    uint64_t top = 0;       ///< The latest released seq.
    uint64_t assigned = 0;  ///< The latest seq given out (> top while pending).
    int64_t last_ms = 0;    ///< Wall clock of the last publish or subscribe.
    std::deque<Kept> kept;  ///< Released, contiguous, ending at top.
    // With a cluster engine only:
    bool synced = true;     ///< False until the engine's first snapshot.
    struct Waiter {
      std::optional<Position> since;
      ResumeDone done;
    };
    std::vector<Waiter> waiters;    ///< Resumes waiting for the snapshot.
    int64_t unwatched_since_ms = 0; ///< Monotonic; no local subscriber since.
    /// Recent (seq, delivered) pairs, for the reply to a publish whose own
    /// notification came back before the engine's answer did.
    std::deque<std::pair<uint64_t, size_t>> delivered;
  };
  /// A clustered publish the engine has taken, whose notification has not
  /// come back to this node yet (its reply carries the local `delivered`).
  struct AwaitingEcho {
    std::string channel;
    std::string epoch;
    uint64_t seq;
    int64_t deadline_ms;  ///< Monotonic: answered with delivered 0 then.
    PublishOutcome outcome;
    std::string key;
    PublishDone done;
  };
  struct Pending {
    uint64_t ticket;
    std::string channel;
    uint64_t seq;
    int64_t published_ms;
    FramePtr frame;
    std::string key;  ///< Idempotency key, or empty.
    PublishDone done;
  };
  /// A publish handed to the store, for the commit latency.
  struct Submitted {
    uint64_t ticket;
    int64_t at_us;  ///< Monotonic.
  };
  struct KeyRecord {
    PublishOutcome outcome;
    int64_t expires_ms = 0;
    bool pending = false;              ///< Its first publish waits for its commit.
    std::vector<PublishDone> waiters;  ///< Repeats that came meanwhile.
  };

  /// How long publishes answer 503 after a failed commit before trying again.
  static constexpr int64_t kStoreRetryMs = 1000;
  /// Recent (seq, delivered) pairs kept per followed channel: enough for the
  /// publishes of this node in flight at once, small beside the channel's ring.
  static constexpr size_t kDeliveredKept = 64;

  Stream& StreamFor(const std::string& channel);
  void Keep(Stream& stream, Kept kept);
  void DropOldest(Stream& stream);
  void RememberKey(const std::string& key_of, std::string_view key, const PublishOutcome& outcome,
                   int64_t now);
  void Release(const std::string& channel, Stream& stream, uint64_t seq, int64_t published_ms,
               FramePtr frame, PublishOutcome* outcome);
  void Trim(Stream& stream, int64_t now_ms);
  std::string KeyOf(const std::string& channel, std::string_view key) const;
  ResumeResult ResumeFrom(Stream& stream, const std::optional<Position>& since);
  HistoryPage PageFrom(const Stream& stream, const std::optional<Position>& since,
                       size_t limit) const;
  void PublishToEngine(const std::string& channel, PublishInput input,
                       std::string_view idempotency_key, PublishDone done);
  void OnEngineAck(const std::string& channel, const std::string& key, const EngineAck& ack,
                   PublishDone done);
  void AnswerEcho(AwaitingEcho& awaiting, size_t delivered);
  FramePtr FrameOf(const std::string& channel, const std::string& epoch, uint64_t seq,
                   const EntryContent& content) const;
  void SweepEngineStreams();

  Hub& hub_;
  const Clock& clock_;
  const NotificationEncoder& encoder_;
  IdSource ids_;
  Options options_;
  HistoryStore* store_ = nullptr;
  ClusterEngine* engine_ = nullptr;
  bool engine_up_ = false;
  std::string engine_error_ = "not connected yet";
  std::deque<AwaitingEcho> awaiting_echo_;
  std::unordered_map<std::string, Stream> streams_;
  std::unordered_map<std::string, KeyRecord> keys_;
  std::deque<Pending> pending_;
  std::deque<Submitted> submitted_;  ///< Appends not committed yet, in ticket order.
  uint64_t next_ticket_ = 1;
  bool store_dirty_ = false;
  bool store_unusable_ = false;  ///< FailStore: no store, and publishes refused.
  int64_t store_failed_until_ms_ = 0;  ///< Monotonic; publishes answer 503 until then.
  std::string store_error_;
  BrokerStats stats_;
  LoadReport load_report_;
  std::vector<StoredCheckin> loaded_checkins_;
};

}  // namespace notifyd::core
