#include "store/sqlite_store.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace notifyd::store {
namespace {

using core::LoadedHistory;
using core::StoreLimits;
using core::StoreOp;
using core::StoredCheckin;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr int64_t kT0 = 1795633649123;  // 2026-11-25T19:07:29.123Z
constexpr milliseconds kDeadline{10000};

/// Stands in for the event loop: the store posts callables here, and the
/// test thread runs them while it waits for a condition.
class FakeLoop {
 public:
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_all();
  }

  /// Runs posted callables until `done()` holds or `timeout` passes; returns done().
  bool RunUntil(const std::function<bool()>& done, milliseconds timeout = kDeadline) {
    const auto deadline = steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (!queue_.empty()) {
        std::function<void()> fn = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        fn();
        lock.lock();
      }
      if (done()) return true;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && queue_.empty()) {
        return done();
      }
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

/// Records what the store reports (on the test thread).
class RecordingEvents final : public core::StoreEvents {
 public:
  void OnCommitted(uint64_t ticket) override { committed.push_back(ticket); }
  void OnFailed(std::string error) override { failures.push_back(std::move(error)); }
  uint64_t last_committed() const { return committed.empty() ? 0 : committed.back(); }

  std::vector<uint64_t> committed;
  std::vector<std::string> failures;
};

StoreOp Append(uint64_t ticket, const std::string& channel, const std::string& epoch, uint64_t seq,
               int64_t published_ms, std::string json = "") {
  StoreOp op;
  op.kind = StoreOp::Kind::kAppend;
  op.ticket = ticket;
  op.channel = channel;
  op.epoch = epoch;
  op.seq = seq;
  op.published_ms = published_ms;
  op.json = json.empty() ? "{\"seq\":" + std::to_string(seq) + "}" : std::move(json);
  return op;
}

/// `op` carrying an Idempotency-Key, kept until `expires_ms`.
StoreOp WithKey(StoreOp op, const std::string& key, int64_t expires_ms = kT0 + 300 * 1000) {
  op.has_key = true;
  op.key = key;
  op.key_expires_ms = expires_ms;
  return op;
}

StoreOp ChannelOp(const std::string& channel, const std::string& epoch, uint64_t top,
                  int64_t last_ms) {
  StoreOp op;
  op.kind = StoreOp::Kind::kChannel;
  op.channel = channel;
  op.epoch = epoch;
  op.seq = top;
  op.published_ms = last_ms;
  return op;
}

StoreOp DropOp(const std::string& channel) {
  StoreOp op;
  op.kind = StoreOp::Kind::kDropChannel;
  op.channel = channel;
  return op;
}

/// The first column of the first row of `sql`, on a connection of its own.
std::string Query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text == nullptr ? "" : reinterpret_cast<const char*>(text);
    } else {
      out = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

std::vector<uint64_t> Seqs(const core::StoredChannel& channel) {
  std::vector<uint64_t> seqs;
  for (const core::StoredEntry& e : channel.entries) seqs.push_back(e.seq);
  return seqs;
}

const core::StoredChannel* Find(const LoadedHistory& h, const std::string& name) {
  for (const core::StoredChannel& c : h.channels) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/notifyd-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/history.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<SqliteStore> Make(bool batch = false) {
    return std::make_unique<SqliteStore>(
        path_, batch, [this](std::function<void()> fn) { loop_.Post(std::move(fn)); },
        [this] { return wall_ms_.load(); });
  }

  /// A loaded and started store.
  std::unique_ptr<SqliteStore> Open(bool batch = false, StoreLimits limits = {}) {
    auto store = Make(batch);
    last_load_ = store->Load(limits, wall_ms_.load());
    store->Start(&events_);
    return store;
  }

  /// Loads what a closed store left (and closes again, cleanly).
  LoadedHistory Reload(StoreLimits limits = {}) {
    auto store = Make();
    LoadedHistory h = store->Load(limits, wall_ms_.load());
    store->Close(true);
    return h;
  }

  bool WaitCommitted(uint64_t ticket) {
    return loop_.RunUntil([&] { return events_.last_committed() >= ticket; });
  }

  std::vector<std::string> FilesStartingWith(const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    return out;
  }

  std::string dir_;
  std::string path_;
  std::atomic<int64_t> wall_ms_{kT0};
  FakeLoop loop_;
  RecordingEvents events_;
  LoadedHistory last_load_;
};

TEST_F(SqliteStoreTest, FirstLoadCreatesTheSchema) {
  auto store = Open();
  EXPECT_TRUE(last_load_.started_anew);
  EXPECT_FALSE(last_load_.clean_stop);
  EXPECT_TRUE(last_load_.channels.empty());
  EXPECT_EQ(Query(path_, "PRAGMA user_version"), "1");
  EXPECT_EQ(Query(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Query(path_, "PRAGMA auto_vacuum"), "2");  // INCREMENTAL
  EXPECT_EQ(Query(path_,
                  "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                  "WHERE type = 'table' ORDER BY name)"),
            "channels,checkins,entries,idempotency,meta");
  EXPECT_EQ(Query(path_, "SELECT value FROM meta WHERE key = 'run_state'"), "running");
  EXPECT_GT(store->FileBytes(), 0u);
  EXPECT_EQ(store->path(), path_);
}

TEST_F(SqliteStoreTest, CommitsAreReportedInOrderByTicket) {
  auto store = Open();
  store->Submit(ChannelOp("news", "E1", 0, kT0));
  for (uint64_t seq = 1; seq <= 5; ++seq) store->Submit(Append(seq, "news", "E1", seq, kT0));
  ASSERT_TRUE(WaitCommitted(5));
  EXPECT_TRUE(events_.failures.empty());
  for (size_t i = 1; i < events_.committed.size(); ++i) {
    EXPECT_LT(events_.committed[i - 1], events_.committed[i]);
  }
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "1,2,3,4,5");
  EXPECT_EQ(Query(path_, "SELECT epoch || ':' || top FROM channels"), "E1:5");
  store->Close(true);
}

TEST_F(SqliteStoreTest, LoadAfterACleanCloseReturnsEntriesAndKeys) {
  auto store = Open();
  store->Submit(Append(1, "news", "E1", 1, kT0, "{\"a\":1}"));
  store->Submit(WithKey(Append(2, "news", "E1", 2, kT0 + 1, "{\"a\":2}"), "k-2"));
  StoreOp delivered;
  delivered.kind = StoreOp::Kind::kKeyDelivered;
  delivered.channel = "news";
  delivered.key = "k-2";
  delivered.delivered = 4;
  store->Submit(delivered);
  store->Submit(Append(3, "news", "E1", 3, kT0 + 2, "{\"a\":3}"));
  store->Submit(Append(4, "other", "E9", 1, kT0 + 3));
  store->Close(true);
  // The last commit is reported on the calling thread, without the loop.
  EXPECT_EQ(events_.last_committed(), 4u);
  EXPECT_EQ(fs::exists(path_ + "-wal") ? fs::file_size(path_ + "-wal") : 0u, 0u);  // Checkpointed.

  LoadedHistory h = Reload();
  EXPECT_TRUE(h.clean_stop);
  EXPECT_FALSE(h.started_anew);
  ASSERT_EQ(h.channels.size(), 2u);
  const core::StoredChannel* news = Find(h, "news");
  ASSERT_NE(news, nullptr);
  EXPECT_EQ(news->epoch, "E1");
  EXPECT_EQ(news->top, 3u);
  EXPECT_EQ(news->last_ms, kT0 + 2);
  EXPECT_EQ(Seqs(*news), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(news->entries[1].json, "{\"a\":2}");
  EXPECT_EQ(news->entries[1].published_ms, kT0 + 1);
  ASSERT_EQ(h.keys.size(), 1u);
  EXPECT_EQ(h.keys[0].channel, "news");
  EXPECT_EQ(h.keys[0].key, "k-2");
  EXPECT_EQ(h.keys[0].epoch, "E1");
  EXPECT_EQ(h.keys[0].seq, 2u);
  EXPECT_EQ(h.keys[0].delivered, 4u);
  EXPECT_EQ(h.keys[0].expires_ms, kT0 + 300 * 1000);
}

TEST_F(SqliteStoreTest, AStopWithoutCloseIsFoundAtTheNextLoad) {
  {
    auto store = Open();
    store->Submit(Append(1, "news", "E1", 1, kT0));
    ASSERT_TRUE(WaitCommitted(1));
    store->Submit(Append(2, "news", "E1", 2, kT0));
  }  // Destroyed without Close: what was queued is written, the stop is not clean.
  LoadedHistory h = Reload();
  EXPECT_FALSE(h.clean_stop);
  EXPECT_FALSE(h.started_anew);
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_EQ(Seqs(h.channels[0]), (std::vector<uint64_t>{1, 2}));
  // Reload closed cleanly; Close(false) is not clean either.
  EXPECT_TRUE(Reload().clean_stop);
  Open()->Close(false);
  EXPECT_FALSE(Reload().clean_stop);
}

TEST_F(SqliteStoreTest, RetentionBySize) {
  StoreLimits limits;
  limits.size = 3;
  auto store = Open(false, limits);
  for (uint64_t seq = 1; seq <= 5; ++seq) store->Submit(Append(seq, "news", "E1", seq, kT0));
  ASSERT_TRUE(WaitCommitted(5));
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "3,4,5");
  limits.size = 2;
  store->SetLimits(limits);
  store->Submit(Append(6, "news", "E1", 6, kT0));
  store->Close(true);
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "5,6");
  // A smaller size at Load applies too.
  limits.size = 1;
  LoadedHistory h = Reload(limits);
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_EQ(Seqs(h.channels[0]), (std::vector<uint64_t>{6}));
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "6");
}

TEST_F(SqliteStoreTest, RetentionByAgeInTheWriter) {
  StoreLimits limits;
  limits.ttl_ms = 60 * 1000;
  auto store = Open(false, limits);
  store->Submit(WithKey(Append(1, "news", "E1", 1, kT0), "k"));
  store->Submit(Append(2, "news", "E1", 2, kT0));
  ASSERT_TRUE(WaitCommitted(2));
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM entries"), "2");

  // Ten minutes later: past the ttl, the key's expiry and the sweep interval.
  // The sweep runs after the batch holding ticket 3, so before ticket 4.
  const int64_t later = kT0 + 10 * 60 * 1000;
  wall_ms_ = later;
  store->Submit(Append(3, "news", "E1", 3, later));
  ASSERT_TRUE(WaitCommitted(3));
  store->Submit(Append(4, "news", "E1", 4, later));
  ASSERT_TRUE(WaitCommitted(4));
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "3,4");
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM idempotency"), "0");
  store->Close(true);
}

TEST_F(SqliteStoreTest, LoadLeavesOutWhatIsPastTheTtl) {
  auto store = Open();
  store->Submit(Append(1, "news", "E1", 1, kT0));
  store->Submit(Append(2, "news", "E1", 2, kT0 + 50 * 1000));
  store->Close(true);
  wall_ms_ = kT0 + 100 * 1000;
  StoreLimits limits;
  limits.ttl_ms = 60 * 1000;
  LoadedHistory h = Reload(limits);
  ASSERT_EQ(h.channels.size(), 1u);  // Channels stay; only kDropChannel drops them.
  EXPECT_EQ(h.channels[0].top, 2u);
  EXPECT_EQ(Seqs(h.channels[0]), (std::vector<uint64_t>{2}));
  wall_ms_ = kT0 + 200 * 1000;
  h = Reload(limits);
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_TRUE(h.channels[0].entries.empty());
}

TEST_F(SqliteStoreTest, ANewEpochDropsTheOldEntriesAndKeys) {
  auto store = Open();
  store->Submit(WithKey(Append(1, "news", "E1", 1, kT0), "k"));
  store->Submit(Append(2, "news", "E1", 2, kT0));
  store->Submit(ChannelOp("news", "E2", 0, kT0 + 5));
  store->Close(true);
  LoadedHistory h = Reload();
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_EQ(h.channels[0].epoch, "E2");
  EXPECT_EQ(h.channels[0].top, 0u);
  EXPECT_EQ(h.channels[0].last_ms, kT0 + 5);
  EXPECT_TRUE(h.channels[0].entries.empty());
  EXPECT_TRUE(h.keys.empty());
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM entries"), "0");
}

TEST_F(SqliteStoreTest, DropChannelRemovesItsRowsOnly) {
  auto store = Open();
  store->Submit(WithKey(Append(1, "a", "E1", 1, kT0), "k"));
  store->Submit(Append(2, "a", "E1", 2, kT0));
  store->Submit(Append(3, "b", "E2", 1, kT0));
  store->Submit(DropOp("a"));
  store->Close(true);
  LoadedHistory h = Reload();
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_EQ(h.channels[0].name, "b");
  EXPECT_EQ(Seqs(h.channels[0]), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(h.keys.empty());
  EXPECT_EQ(Query(path_, "SELECT count(*) FROM entries WHERE channel = 'a'"), "0");
}

TEST_F(SqliteStoreTest, CheckinsAreKeptReplacedAndDropped) {
  auto store = Open();
  StoreOp op;
  op.kind = StoreOp::Kind::kCheckin;
  op.checkin = {"backup", "ops", 60, 5, kT0, false};
  store->Submit(op);
  op.checkin = {"backup", "ops", 120, 5, kT0 + 1000, true};
  store->Submit(op);
  op.checkin = {"gone", "checkins", 60, 0, kT0, false};
  store->Submit(op);
  StoreOp drop;
  drop.kind = StoreOp::Kind::kDropCheckin;
  drop.checkin.name = "gone";
  store->Submit(drop);
  store->Close(true);
  LoadedHistory h = Reload();
  ASSERT_EQ(h.checkins.size(), 1u);
  const StoredCheckin& c = h.checkins[0];
  EXPECT_EQ(c.name, "backup");
  EXPECT_EQ(c.channel, "ops");
  EXPECT_EQ(c.every_s, 120);
  EXPECT_EQ(c.grace_s, 5);
  EXPECT_EQ(c.last_ms, kT0 + 1000);
  EXPECT_TRUE(c.late);
}

TEST_F(SqliteStoreTest, ACorruptFileIsMovedAsideAndReplaced) {
  const std::string garbage(8192, 'x');
  std::ofstream(path_, std::ios::binary) << garbage;
  auto store = Open();
  EXPECT_TRUE(last_load_.started_anew);
  EXPECT_FALSE(last_load_.clean_stop);
  const std::vector<std::string> aside = FilesStartingWith("history.db.corrupt-");
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(aside[0], "history.db.corrupt-20261125T190729");
  std::ifstream moved(dir_ + "/" + aside[0], std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(moved), {}), garbage);
  // The new database works.
  store->Submit(Append(1, "news", "E1", 1, kT0));
  store->Close(true);
  LoadedHistory h = Reload();
  EXPECT_TRUE(h.clean_stop);
  EXPECT_FALSE(h.started_anew);
  ASSERT_EQ(h.channels.size(), 1u);
}

TEST_F(SqliteStoreTest, AnotherSchemaIsMovedAside) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 7", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  EXPECT_TRUE(last_load_.started_anew);
  EXPECT_EQ(FilesStartingWith("history.db.corrupt-").size(), 1u);
  EXPECT_EQ(Query(path_, "PRAGMA user_version"), "1");
  store->Close(true);
}

TEST_F(SqliteStoreTest, AnEmptyFileIsANewDatabase) {
  std::ofstream(path_, std::ios::binary).flush();
  auto store = Open();
  EXPECT_TRUE(last_load_.started_anew);
  EXPECT_TRUE(FilesStartingWith("history.db.corrupt-").empty());
  EXPECT_EQ(Query(path_, "PRAGMA user_version"), "1");
  store->Close(true);
}

TEST_F(SqliteStoreTest, NoDirectoryToCreateInThrows) {
  path_ = dir_ + "/missing/history.db";
  auto store = Make();
  try {
    store->Load({}, kT0);
    FAIL() << "Load did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, AFullDiskFailsAndDropsWritesUntilResume) {
  auto store = Open();
  store->Submit(Append(1, "news", "E1", 1, kT0));
  ASSERT_TRUE(WaitCommitted(1));
  store->SetMaxPageCountForTest(1);  // Raised to the current size: no page can be added.
  store->Submit(Append(2, "news", "E1", 2, kT0, std::string(64 * 1024, 'x')));
  ASSERT_TRUE(loop_.RunUntil([&] { return !events_.failures.empty(); }));
  EXPECT_EQ(events_.failures[0], "database or disk is full");

  store->Submit(Append(3, "news", "E1", 3, kT0));  // Dropped: before Resume.
  store->SetMaxPageCountForTest(1000000);
  store->Resume();
  store->Submit(Append(4, "news", "E1", 4, kT0));
  ASSERT_TRUE(WaitCommitted(4));
  EXPECT_EQ(events_.committed, (std::vector<uint64_t>{1, 4}));
  EXPECT_EQ(events_.failures.size(), 1u);
  EXPECT_EQ(Query(path_, "SELECT group_concat(seq) FROM entries"), "1,4");
  store->Close(true);
  LoadedHistory h = Reload();
  EXPECT_TRUE(h.clean_stop);  // Resumed, so nothing was failing at the stop.
  ASSERT_EQ(h.channels.size(), 1u);
  EXPECT_EQ(h.channels[0].top, 4u);
  EXPECT_EQ(Seqs(h.channels[0]), (std::vector<uint64_t>{4}));  // The run ending at top.
}

TEST_F(SqliteStoreTest, AFailedStoreIsNotMarkedClean) {
  auto store = Open();
  store->SetMaxPageCountForTest(1);
  store->Submit(Append(1, "news", "E1", 1, kT0, std::string(64 * 1024, 'x')));
  store->Close(true);
  // Posted, or delivered by Close when the writer met the failure while closing.
  ASSERT_TRUE(loop_.RunUntil([&] { return !events_.failures.empty(); }));
  EXPECT_EQ(events_.failures.size(), 1u);
  EXPECT_FALSE(Reload().clean_stop);
}

TEST_F(SqliteStoreTest, BatchModeCommitsWithinTheWindow) {
  auto store = Open(/*batch=*/true);
  EXPECT_EQ(Query(path_, "PRAGMA journal_mode"), "wal");
  const auto start = steady_clock::now();
  store->Submit(Append(1, "news", "E1", 1, kT0));
  ASSERT_TRUE(WaitCommitted(1));
  const auto waited = steady_clock::now() - start;
  // Not before the window closed; the upper bound is the test's deadline.
  EXPECT_GE(waited, milliseconds(SqliteStore::kBatchWindowMs));
  store->Close(true);
  EXPECT_TRUE(Reload().clean_stop);
}

TEST_F(SqliteStoreTest, StartWithoutLoadReportsAFailure) {
  auto store = Make();
  store->Start(&events_);
  store->Submit(Append(1, "news", "E1", 1, kT0));
  ASSERT_TRUE(loop_.RunUntil([&] { return !events_.failures.empty(); }));
  store->Close(true);
  EXPECT_TRUE(events_.committed.empty());
  EXPECT_FALSE(fs::exists(path_));
}

// Not a test: `notifyd_unit_tests --gtest_also_run_disabled_tests
// --gtest_filter='*Measure*'` prints commit-mode throughput (bursts of 64
// appends, each waited for) and the file size for 100 channels x 100
// entries of 200 bytes. NOTIFYD_MEASURE_DIR picks the disk (default /tmp).
TEST_F(SqliteStoreTest, DISABLED_MeasureCommitModeAndFileSize) {
  if (const char* dir = getenv("NOTIFYD_MEASURE_DIR")) path_ = std::string(dir) + "/measure.db";
  fs::remove(path_);
  auto store = Open();
  const std::string body(200, 'j');
  constexpr int kChannels = 100;
  constexpr int kPerChannel = 100;
  constexpr int kBurst = 64;
  uint64_t ticket = 0;
  std::vector<uint64_t> seq(kChannels, 0);
  const auto start = steady_clock::now();
  while (ticket < kChannels * kPerChannel) {
    for (int i = 0; i < kBurst && ticket < kChannels * kPerChannel; ++i) {
      const int c = static_cast<int>(ticket % kChannels);
      ++ticket;
      store->Submit(Append(ticket, "channel-" + std::to_string(c), "E1", ++seq[c], kT0, body));
    }
    ASSERT_TRUE(WaitCommitted(ticket));
  }
  const double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  const uint64_t before_close = store->FileBytes();
  store->Close(true);
  std::printf("commit mode: %llu rows in %.3f s = %.0f rows/s, %zu commits (%.1f rows each)\n",
              static_cast<unsigned long long>(ticket), seconds, ticket / seconds,
              events_.committed.size() - 1, double(ticket) / (events_.committed.size() - 1));
  std::printf("file: %llu bytes with the WAL while running, %llu after Close(true)\n",
              static_cast<unsigned long long>(before_close),
              static_cast<unsigned long long>(store->FileBytes()));
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_ + suffix);
}

}  // namespace
}  // namespace notifyd::store
