// The SQLite history store (`store = "sqlite"`): keeps channels, their kept
// notifications and the idempotency keys in one SQLite file, so that history
// and positions survive a restart (core/history_store.h has the contract).
//
// One writer thread owns the only connection (Load uses it before the thread
// starts, Close after it ended). The loop thread hands it operations through a
// queue and never waits for it; the writer takes everything queued (at most
// kMaxOpsPerCommit) into one transaction (a group commit) and reports the
// highest committed append's ticket back through `post_to_loop`. In commit
// mode (synchronous=FULL) it commits as soon as anything is queued; in batch
// mode (synchronous=NORMAL) when kBatchOps are queued or the oldest has
// waited kBatchWindowMs. A failed write (a full disk, an I/O error) is rolled
// back and reported; from then on every operation is dropped until Resume().
//
// A database that cannot be used (not a database, corrupt, another schema,
// unreadable) is moved aside as `<path>.corrupt-<UTC time>` (or
// `.unreadable-...`) with its -wal and -shm, and a new one is created. Every
// SQLite error is logged (spdlog) with the file and SQLite's own message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/history_store.h"

struct sqlite3;

namespace notifyd::store {

class SqliteStore final : public core::HistoryStore {
 public:
  /// Runs a callable on the loop thread, later (the daemon: asio::post).
  using PostFn = std::function<void(std::function<void()>)>;
  /// Wall clock in milliseconds since the Unix epoch.
  using WallFn = std::function<int64_t()>;

  /// The SQLite schema this code reads and writes (PRAGMA user_version).
  static constexpr int kSchemaVersion = 1;
  /// Most operations in one transaction.
  static constexpr size_t kMaxOpsPerCommit = 512;
  /// Batch mode: commit when this many operations are queued...
  static constexpr size_t kBatchOps = 256;
  /// ...or when the oldest has waited this long.
  static constexpr int64_t kBatchWindowMs = 100;
  /// Age retention (entries past the ttl, expired keys) runs this often.
  static constexpr int64_t kSweepIntervalMs = 60 * 1000;

  /// `path`: the database file (its directory must exist). `batch`: the
  /// `sync = "batch"` mode. StoreEvents are delivered through `post_to_loop`,
  /// except during Close (see there). `wall_ms` (tests) replaces the system
  /// clock for the age retention and the names of files moved aside.
  SqliteStore(std::string path, bool batch, PostFn post_to_loop, WallFn wall_ms = nullptr);
  /// Closes the store if Close was not called, writing what is queued but
  /// without marking a clean stop and without calling StoreEvents.
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  /// Throws std::runtime_error when no usable database can be had at `path`:
  /// a new one cannot be created (a missing or read-only directory), a bad
  /// one cannot be moved aside, or the file is busy or the disk full.
  core::LoadedHistory Load(const core::StoreLimits& limits, int64_t now_ms) override;
  void Start(core::StoreEvents* events) override;
  void Submit(core::StoreOp op) override;
  void Resume() override;
  void SetLimits(const core::StoreLimits& limits) override;
  /// Waits for the writer to write everything queued; events caused by that
  /// (and a repeat of the last OnCommitted) are delivered on the calling
  /// thread before it returns. Events posted earlier may still sit in the
  /// loop's queue: they hold no reference to the store. A clean stop is
  /// marked only when `clean` and the store is not failed.
  void Close(bool clean) override;
  std::string path() const override { return path_; }
  /// The file plus its WAL, by stat(2).
  uint64_t FileBytes() const override;

  /// Tests: queues `PRAGMA max_page_count = pages` (SQLite raises a value
  /// below the current size to the current size), applied by the writer
  /// in submission order, to make the disk "full".
  void SetMaxPageCountForTest(int64_t pages);

 private:
  /// One entry of the writer's queue: an operation or an ordered marker.
  struct Item {
    enum class Type { kOp, kResume, kLimits, kMaxPageCount };
    Type type = Type::kOp;
    core::StoreOp op;
    core::StoreLimits limits;
    int64_t pages = 0;
  };
  struct Statements;

  // Load's steps (loop thread, before Start).
  /// Opens and reads the file at path_ when it is there and usable (true);
  /// moves it aside when it is not (false, db_ null).
  bool OpenExisting(const core::StoreLimits& limits, int64_t now_ms, core::LoadedHistory* out);
  void OpenConnection(bool create);
  void CheckExisting(bool* empty);
  void SetPragmas();
  void CreateSchema();
  void ReadHistory(const core::StoreLimits& limits, int64_t now_ms, core::LoadedHistory* out);
  std::string MoveAside(const std::string& why);
  void CloseConnection();

  // The writer thread.
  void WriterLoop();
  bool ReadyLocked() const;
  void TakeLocked(std::vector<Item>* items);
  void Process(std::vector<Item>* items);
  bool Apply(const core::StoreOp& op);
  bool UpsertChannel(const core::StoreOp& op);
  void Commit(uint64_t ticket, size_t ops);
  void Fail(size_t lost_ops);
  void Sweep();
  void Emit(std::function<void(core::StoreEvents*)> event);

  void Enqueue(Item item);
  void CloseImpl(bool clean, bool deliver_events);
  void MarkCleanStop();

  const std::string path_;
  const bool batch_;
  const PostFn post_;
  const WallFn wall_ms_;

  // The connection: Load's, then the writer's, then Close's (never at once).
  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements> stmts_;
  core::StoreEvents* events_ = nullptr;
  std::thread writer_;
  bool closed_ = false;  ///< Loop thread: Close ran.

  // Shared between the loop thread and the writer.
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Item> queue_;
  size_t queued_ops_ = 0;                         ///< Items of Type::kOp in queue_.
  std::chrono::steady_clock::time_point oldest_;  ///< When queue_ last became non-empty.
  bool closing_ = false;  ///< Close began: Submit drops, events are deferred.
  std::vector<std::function<void()>> deferred_;  ///< Events for Close to deliver.

  // The writer's own state (the loop thread's before Start and after the join).
  core::StoreLimits limits_;
  bool failed_ = false;
  uint64_t dropped_ = 0;         ///< Operations dropped since the failure.
  uint64_t last_committed_ = 0;  ///< The highest committed ticket.
  bool deferring_ = false;       ///< An event was deferred (closing_ seen).
  int64_t next_sweep_ms_ = 0;    ///< Wall clock.
};

}  // namespace notifyd::store
