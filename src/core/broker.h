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
};

using PublishDone = std::function<void(const PublishOutcome&)>;

/// A subscribe's answer: where the channel is, and with `since` the decision
/// and the frames to send after the reply, oldest first.
struct ResumeResult {
  std::string epoch;
  uint64_t top = 0;
  Recovery recovery;             ///< Meaningful only when `since` was given.
  std::vector<FramePtr> frames;  ///< recovery.recovered: seqs since+1 .. top.
};

/// A page of GET /api/channels/{channel}/messages.
struct HistoryPage {
  std::string epoch;
  uint64_t top = 0;
  bool recovered = true;
  bool more = false;
  std::vector<FramePtr> messages;  ///< Oldest first.
};

struct BrokerStats {
  size_t channels = 0;        ///< Channels with a stream (history or an epoch).
  uint64_t kept = 0;          ///< Notifications kept in memory.
  uint64_t kept_bytes = 0;    ///< Their JSON text.
  uint64_t pending = 0;       ///< Waiting for their commit.
  uint64_t store_failures = 0;
  uint64_t resumes_recovered = 0;
  uint64_t resumes_not_recovered = 0;
  uint64_t idempotent_replays = 0;
  /// With a store: from a publish's submission to the commit of the
  /// transaction holding it (both sync modes; failed writes are not counted).
  DurationHistogram commit_durations;
};

class Broker final : public StoreEvents {
 public:
  struct Options {
    uint64_t size = 100;                 ///< Kept per channel (0: none, seqs still counted).
    int64_t ttl_ms = 86400 * 1000;       ///< Kept this long; a channel idle this long
                                         ///< without subscribers is dropped.
    uint64_t recover_max = 1000;         ///< Most notifications one resume replays.
    bool batch = false;                  ///< With a store: sync = "batch".
    int64_t idempotency_ttl_ms = 300 * 1000;
  };

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

  /// For a subscribe: the channel's epoch and top (drawing its epoch at its
  /// first use), and with `since` the recovery decision and the frames to
  /// replay (at most recover_max).
  ResumeResult Resume(const std::string& channel, const std::optional<Position>& since);

  /// For polling: up to `limit` kept notifications after `since` (or from
  /// the oldest kept when `since` is empty); recover_max does not apply.
  HistoryPage Read(const std::string& channel, const std::optional<Position>& since,
                   size_t limit);

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

  Stream& StreamFor(const std::string& channel);
  void Keep(Stream& stream, Kept kept);
  void DropOldest(Stream& stream);
  void RememberKey(const std::string& key_of, std::string_view key, const PublishOutcome& outcome,
                   int64_t now);
  void Release(const std::string& channel, Stream& stream, uint64_t seq, int64_t published_ms,
               FramePtr frame, PublishOutcome* outcome);
  void Trim(Stream& stream, int64_t now_ms);
  std::string KeyOf(const std::string& channel, std::string_view key) const;

  Hub& hub_;
  const Clock& clock_;
  const NotificationEncoder& encoder_;
  IdSource ids_;
  Options options_;
  HistoryStore* store_ = nullptr;
  std::unordered_map<std::string, Stream> streams_;
  std::unordered_map<std::string, KeyRecord> keys_;
  std::deque<Pending> pending_;
  std::deque<Submitted> submitted_;  ///< Appends not committed yet, in ticket order.
  uint64_t next_ticket_ = 1;
  bool store_dirty_ = false;
  bool store_unusable_ = false;  ///< FailStore: no store, and publishes refused.        ///< Acknowledged writes were lost (batch mode).
  int64_t store_failed_until_ms_ = 0;  ///< Monotonic; publishes answer 503 until then.
  std::string store_error_;
  BrokerStats stats_;
  LoadReport load_report_;
  std::vector<StoredCheckin> loaded_checkins_;
};

}  // namespace notifyd::core
