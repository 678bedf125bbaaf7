// The durable side of channel history (PROTOCOL.md Part 2, [history]): the
// interface the broker writes through, implemented by store/SqliteStore. The
// broker keeps every channel's history in memory and serves reads from there;
// a store only makes it survive a restart. With `store = "memory"` there is
// no store at all.
//
// Threading: Load and Close are called on the loop thread while nothing else
// runs (before serving, after it stopped). Submit is called on the loop
// thread and never blocks; the store does its writing elsewhere (its own
// thread) and reports back through StoreEvents, whose methods it must call on
// the loop thread (it is given a way to post there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace notifyd::core {

/// One kept notification as stored: its position and its JSON text exactly
/// as pushed to subscribers.
struct StoredEntry {
  uint64_t seq = 0;
  int64_t published_ms = 0;  ///< Wall clock.
  std::string json;
};

/// A channel's stream as stored.
struct StoredChannel {
  std::string name;
  std::string epoch;
  uint64_t top = 0;       ///< The latest seq of the epoch (0: none yet).
  int64_t last_ms = 0;    ///< Wall clock of the last publish (or of creation).
  std::vector<StoredEntry> entries;  ///< Oldest first, contiguous, ending at `top`
                                     ///< (may be empty: all expired).
};

/// The first reply to a publish with an Idempotency-Key, kept for 300 s.
struct StoredKey {
  std::string channel;
  std::string key;
  std::string epoch;
  uint64_t seq = 0;
  uint64_t delivered = 0;
  int64_t expires_ms = 0;  ///< Wall clock.
};

/// A check-in (PROTOCOL.md Part 2 "Check-ins") as stored.
struct StoredCheckin {
  std::string name;
  std::string channel;
  int64_t every_s = 0;
  int64_t grace_s = 0;
  int64_t last_ms = 0;  ///< Wall clock of the last check-in.
  bool late = false;    ///< "late" was published and no check-in came since.
};

/// What Load finds.
struct LoadedHistory {
  std::vector<StoredChannel> channels;
  std::vector<StoredKey> keys;  ///< Not yet expired.
  std::vector<StoredCheckin> checkins;
  /// The last run ended with Close() (its last writes are all in). False
  /// after a crash, and for a database that had to be created or replaced.
  bool clean_stop = false;
  /// The database was missing, unreadable or corrupt and was started anew
  /// (the old file moved aside): every channel begins a new epoch.
  bool started_anew = false;
};

/// One write, in the order submitted. Everything submitted is committed in
/// that order; a commit covers a run of consecutive operations.
struct StoreOp {
  enum class Kind {
    kAppend,        ///< Insert entry (channel, seq, published_ms, json); upsert the
                    ///< channel row (epoch, top = seq, last_ms = published_ms);
                    ///< delete the channel's entries with seq <= seq - size;
                    ///< when has_key, insert the key row (key, epoch, seq,
                    ///< delivered = 0, key_expires_ms) in the same transaction.
    kChannel,       ///< Upsert the channel row (epoch, top = seq, last_ms), e.g. a
                    ///< new epoch drawn at a subscribe; a new epoch deletes the
                    ///< channel's old entries.
    kDropChannel,   ///< Delete the channel row, its entries and its keys.
    kKeyDelivered,  ///< Set `delivered` of key row (channel, key).
    kCheckin,       ///< Upsert check-in `checkin` (its name is the key).
    kDropCheckin,   ///< Delete check-in `checkin.name`.
  };
  Kind kind = Kind::kAppend;
  /// kAppend: increasing, nonzero; StoreEvents reports commits by ticket.
  /// 0 for the other kinds.
  uint64_t ticket = 0;
  std::string channel;
  std::string epoch;
  uint64_t seq = 0;
  int64_t published_ms = 0;
  std::string json;
  bool has_key = false;
  std::string key;
  int64_t key_expires_ms = 0;
  uint64_t delivered = 0;
  StoredCheckin checkin;  ///< kCheckin, kDropCheckin.
};

/// What a store reports, on the loop thread.
class StoreEvents {
 public:
  virtual ~StoreEvents() = default;
  /// Every kAppend with ticket <= `ticket` is committed (durable as the
  /// sync mode says).
  virtual void OnCommitted(uint64_t ticket) = 0;
  /// A commit failed (a full disk, an I/O error): nothing from the first
  /// uncommitted op on is written. The store then drops every op it is
  /// handed until it is handed Resume(); `error` is for the journal and the
  /// 503 reply ("database or disk is full").
  virtual void OnFailed(std::string error) = 0;
};

/// Retention, as in [history]: applied by the store to what it keeps.
struct StoreLimits {
  uint64_t size = 100;             ///< Entries kept per channel.
  int64_t ttl_ms = 86400 * 1000;   ///< Entries older than this are deleted.
};

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;
  /// Opens the database (creating it, or moving a bad one aside), reads what
  /// it keeps within `limits` as of `now_ms`, and marks it as in use (so that
  /// a crash is found at the next Load). Blocking; called once, first.
  virtual LoadedHistory Load(const StoreLimits& limits, int64_t now_ms) = 0;
  /// Starts writing; `events` must outlive the store's Close.
  virtual void Start(StoreEvents* events) = 0;
  /// Queues one operation. Never blocks.
  virtual void Submit(StoreOp op) = 0;
  /// After OnFailed: operations submitted from now on are written again.
  virtual void Resume() = 0;
  /// New retention for later writes (a reload).
  virtual void SetLimits(const StoreLimits& limits) = 0;
  /// Writes everything queued, then marks the stop as clean unless told
  /// `clean = false` (acknowledged writes were lost while running), and
  /// closes. Blocking; events may still arrive before it returns, on the
  /// calling thread.
  virtual void Close(bool clean) = 0;
  /// For /api/stats and logs: the database file, its size in bytes (file +
  /// WAL), and the rows it holds. May be approximate; never blocks long.
  virtual std::string path() const = 0;
  virtual uint64_t FileBytes() const = 0;
};

}  // namespace notifyd::core
