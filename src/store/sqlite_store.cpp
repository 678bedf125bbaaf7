#include "store/sqlite_store.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace notifyd::store {

namespace {

using core::StoreOp;
using Kind = core::StoreOp::Kind;

constexpr int kBusyTimeoutMs = 5000;

// WITHOUT ROWID: every table is looked up by its primary key, and a
// channel's entries then sit together in (channel, seq) order, which is the
// order Load reads them in. Rows larger than about 1 KB spill to overflow
// pages, which SQLite handles, if a little slower.
constexpr const char* kSchema = R"(
CREATE TABLE channels(
  name TEXT NOT NULL PRIMARY KEY,
  epoch TEXT NOT NULL,
  top INTEGER NOT NULL,
  last_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE entries(
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  published_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY(channel, seq)) WITHOUT ROWID;
CREATE INDEX entries_published_ms ON entries(published_ms);
CREATE TABLE idempotency(
  channel TEXT NOT NULL,
  key TEXT NOT NULL,
  epoch TEXT NOT NULL,
  seq INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  PRIMARY KEY(channel, key)) WITHOUT ROWID;
CREATE TABLE meta(
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL) WITHOUT ROWID;
)";

// Check-ins came after schema version 1 was first written: created where
// missing, so files from before them gain the table at their next start.
constexpr const char* kCheckinsSchema = R"(
CREATE TABLE IF NOT EXISTS checkins(
  name TEXT NOT NULL PRIMARY KEY,
  channel TEXT NOT NULL,
  every_s INTEGER NOT NULL,
  grace_s INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  late INTEGER NOT NULL) WITHOUT ROWID;
)";

constexpr const char* kSetRunState =
    "INSERT INTO meta(key, value) VALUES('run_state', ?1) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// An SQLite failure while loading, with what it means for the file:
/// "corrupt" or "unreadable" (move it aside), or null (give up: busy, full).
class SqlError : public std::runtime_error {
 public:
  SqlError(const std::string& what, const char* problem)
      : std::runtime_error(what), problem_(problem) {}
  const char* problem() const { return problem_; }

 private:
  const char* problem_;
};

const char* ProblemOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return "corrupt";
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_AUTH: return "unreadable";
    default: return nullptr;
  }
}

/// Throws SqlError unless `rc` is a success code.
void Check(sqlite3* db, int rc, std::string_view doing) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw SqlError(std::string(doing) + ": " + sqlite3_errmsg(db), ProblemOf(rc));
}

void Exec(sqlite3* db, const char* sql, std::string_view doing) {
  Check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), doing);
}

/// One prepared statement. Run() and Reset() leave it ready for the next use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  /// `doing` names the step in an error (default: the SQL).
  void Prepare(sqlite3* db, const char* sql, std::string_view doing = {}) {
    Check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr),
          doing.empty() ? std::string_view(sql) : doing);
  }
  /// The text must stay valid until Run() or Reset().
  Stmt& Bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& Bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Stmt& Bind(int index, uint64_t value) { return Bind(index, static_cast<int64_t>(value)); }
  int Step() { return sqlite3_step(stmt_); }
  /// Steps to the end and resets: SQLITE_DONE on success.
  int Run() {
    int rc = Step();
    while (rc == SQLITE_ROW) rc = Step();
    sqlite3_reset(stmt_);
    return rc;
  }
  void Reset() { sqlite3_reset(stmt_); }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt_, column));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

/// The first column of the first row of `sql` ("" when there is no row).
std::string QueryText(sqlite3* db, const char* sql, std::string_view doing) {
  Stmt stmt;
  stmt.Prepare(db, sql, doing);
  const int rc = stmt.Step();
  Check(db, rc, doing);
  return rc == SQLITE_ROW ? stmt.Text(0) : std::string();
}

int64_t QueryInt(sqlite3* db, const char* sql, std::string_view doing) {
  Stmt stmt;
  stmt.Prepare(db, sql, doing);
  const int rc = stmt.Step();
  Check(db, rc, doing);
  return rc == SQLITE_ROW ? stmt.Int(0) : 0;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

uint64_t SizeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

/// "20261125T190729" (UTC).
std::string CompactUtc(int64_t wall_ms) {
  const time_t seconds = static_cast<time_t>(wall_ms / 1000);
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char text[32];
  strftime(text, sizeof text, "%Y%m%dT%H%M%S", &tm);
  return text;
}

int64_t SystemWallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Keeps the run of consecutive seqs that ends at `top` (what the contract
/// promises): age retention by wall clock can leave a hole when the clock
/// went back, and a top without its entry leaves nothing to keep.
void KeepContiguousTail(core::StoredChannel* channel) {
  std::vector<core::StoredEntry>& entries = channel->entries;
  if (entries.empty() || entries.back().seq != channel->top) {
    entries.clear();
    return;
  }
  size_t first = entries.size() - 1;
  while (first > 0 && entries[first - 1].seq + 1 == entries[first].seq) --first;
  entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(first));
}

/// Applies retention as of `now_ms`, so that what Load reads is what is kept:
/// entries past the ttl or beyond `size` below their channel's top (or
/// without a channel), and expired keys.
void PruneForLoad(sqlite3* db, const core::StoreLimits& limits, int64_t now_ms) {
  Stmt old;
  old.Prepare(db, "DELETE FROM entries WHERE published_ms < ?1", "pruning old notifications");
  Check(db, old.Bind(1, now_ms - limits.ttl_ms).Run(), "pruning old notifications");
  Stmt beyond;
  beyond.Prepare(db,
                 "DELETE FROM entries WHERE NOT EXISTS (SELECT 1 FROM channels "
                 "WHERE name = entries.channel AND entries.seq > top - ?1)",
                 "pruning notifications beyond the size");
  Check(db, beyond.Bind(1, limits.size).Run(), "pruning notifications beyond the size");
  Stmt keys;
  keys.Prepare(db, "DELETE FROM idempotency WHERE expires_ms < ?1", "pruning expired keys");
  Check(db, keys.Bind(1, now_ms).Run(), "pruning expired keys");
}

std::vector<core::StoredChannel> ReadChannels(sqlite3* db) {
  std::vector<core::StoredChannel> out;
  std::unordered_map<std::string, size_t> index;
  Stmt channels;
  channels.Prepare(db, "SELECT name, epoch, top, last_ms FROM channels ORDER BY name",
                   "reading the channels");
  int rc;
  while ((rc = channels.Step()) == SQLITE_ROW) {
    core::StoredChannel channel;
    channel.name = channels.Text(0);
    channel.epoch = channels.Text(1);
    channel.top = static_cast<uint64_t>(channels.Int(2));
    channel.last_ms = channels.Int(3);
    index.emplace(channel.name, out.size());
    out.push_back(std::move(channel));
  }
  Check(db, rc, "reading the channels");
  Stmt entries;
  entries.Prepare(db, "SELECT channel, seq, published_ms, body FROM entries ORDER BY channel, seq",
                  "reading the notifications");
  while ((rc = entries.Step()) == SQLITE_ROW) {
    auto it = index.find(entries.Text(0));
    if (it == index.end()) continue;  // PruneForLoad deleted those.
    out[it->second].entries.push_back(
        {static_cast<uint64_t>(entries.Int(1)), entries.Int(2), entries.Text(3)});
  }
  Check(db, rc, "reading the notifications");
  for (core::StoredChannel& channel : out) KeepContiguousTail(&channel);
  return out;
}

std::vector<core::StoredKey> ReadKeys(sqlite3* db) {
  std::vector<core::StoredKey> out;
  Stmt keys;
  keys.Prepare(db,
               "SELECT channel, key, epoch, seq, delivered, expires_ms FROM idempotency "
               "ORDER BY channel, key",
               "reading the idempotency keys");
  int rc;
  while ((rc = keys.Step()) == SQLITE_ROW) {
    out.push_back({keys.Text(0), keys.Text(1), keys.Text(2), static_cast<uint64_t>(keys.Int(3)),
                   static_cast<uint64_t>(keys.Int(4)), keys.Int(5)});
  }
  Check(db, rc, "reading the idempotency keys");
  return out;
}

std::vector<core::StoredCheckin> ReadCheckins(sqlite3* db) {
  std::vector<core::StoredCheckin> out;
  Stmt checkins;
  checkins.Prepare(db,
                   "SELECT name, channel, every_s, grace_s, last_ms, late FROM checkins "
                   "ORDER BY name",
                   "reading the check-ins");
  int rc;
  while ((rc = checkins.Step()) == SQLITE_ROW) {
    out.push_back({checkins.Text(0), checkins.Text(1), checkins.Int(2), checkins.Int(3),
                   checkins.Int(4), checkins.Int(5) != 0});
  }
  Check(db, rc, "reading the check-ins");
  return out;
}

}  // namespace

/// The writer's prepared statements.
struct SqliteStore::Statements {
  Stmt begin, commit, rollback;
  Stmt select_epoch, upsert_channel, delete_channel;
  Stmt insert_entry, trim_entries, delete_entries;
  Stmt insert_key, key_delivered, delete_keys;
  Stmt sweep_entries, sweep_keys;
  Stmt upsert_checkin, delete_checkin;

  void Prepare(sqlite3* db) {
    upsert_checkin.Prepare(db,
                           "INSERT OR REPLACE INTO checkins(name, channel, every_s, grace_s, "
                           "last_ms, late) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    delete_checkin.Prepare(db, "DELETE FROM checkins WHERE name = ?1");
    begin.Prepare(db, "BEGIN IMMEDIATE");
    commit.Prepare(db, "COMMIT");
    rollback.Prepare(db, "ROLLBACK");
    select_epoch.Prepare(db, "SELECT epoch FROM channels WHERE name = ?1");
    upsert_channel.Prepare(db,
                           "INSERT INTO channels(name, epoch, top, last_ms) VALUES(?1, ?2, ?3, ?4) "
                           "ON CONFLICT(name) DO UPDATE SET epoch = excluded.epoch, "
                           "top = excluded.top, last_ms = excluded.last_ms");
    delete_channel.Prepare(db, "DELETE FROM channels WHERE name = ?1");
    insert_entry.Prepare(db,
                         "INSERT OR REPLACE INTO entries(channel, seq, published_ms, body) "
                         "VALUES(?1, ?2, ?3, ?4)");
    trim_entries.Prepare(db, "DELETE FROM entries WHERE channel = ?1 AND seq <= ?2");
    delete_entries.Prepare(db, "DELETE FROM entries WHERE channel = ?1");
    insert_key.Prepare(db,
                       "INSERT OR REPLACE INTO idempotency(channel, key, epoch, seq, delivered, "
                       "expires_ms) VALUES(?1, ?2, ?3, ?4, 0, ?5)");
    key_delivered.Prepare(db,
                          "UPDATE idempotency SET delivered = ?3 WHERE channel = ?1 AND key = ?2");
    delete_keys.Prepare(db, "DELETE FROM idempotency WHERE channel = ?1");
    sweep_entries.Prepare(db, "DELETE FROM entries WHERE published_ms < ?1");
    sweep_keys.Prepare(db, "DELETE FROM idempotency WHERE expires_ms < ?1");
  }
};

SqliteStore::SqliteStore(std::string path, bool batch, PostFn post_to_loop, WallFn wall_ms)
    : path_(std::move(path)),
      batch_(batch),
      post_(std::move(post_to_loop)),
      wall_ms_(wall_ms ? std::move(wall_ms) : WallFn(SystemWallMs)) {
  if (!post_) throw std::invalid_argument("SqliteStore needs a way to post to the loop");
}

SqliteStore::~SqliteStore() { CloseImpl(/*clean=*/false, /*deliver_events=*/false); }

// --- Load -----------------------------------------------------------------------

core::LoadedHistory SqliteStore::Load(const core::StoreLimits& limits, int64_t now_ms) {
  if (db_ != nullptr || closed_) throw std::logic_error("SqliteStore::Load called twice");
  limits_ = limits;
  core::LoadedHistory out;
  const bool kept = OpenExisting(limits, now_ms, &out);
  if (db_ == nullptr) {
    try {
      OpenConnection(/*create=*/true);
      SetPragmas();
      CreateSchema();
      ReadHistory(limits, now_ms, &out);
    } catch (const SqlError& e) {
      CloseConnection();
      throw std::runtime_error("cannot create the history database " + path_ + ": " + e.what());
    }
  }
  try {
    stmts_ = std::make_unique<Statements>();
    stmts_->Prepare(db_);
  } catch (const SqlError& e) {
    CloseConnection();
    throw std::runtime_error("cannot use the history database " + path_ + ": " + e.what());
  }
  out.started_anew = !kept;
  if (!kept) {
    out.clean_stop = false;
    spdlog::info("history: created {}", path_);
    return out;
  }
  size_t entries = 0;
  for (const core::StoredChannel& channel : out.channels) entries += channel.entries.size();
  spdlog::info(
      "history: opened {}: {} channels, {} notifications, {} idempotency keys; {}", path_,
      out.channels.size(), entries, out.keys.size(),
      out.clean_stop ? "the last run stopped cleanly" : "the last run did not stop cleanly");
  return out;
}

bool SqliteStore::OpenExisting(const core::StoreLimits& limits, int64_t now_ms,
                               core::LoadedHistory* out) {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      throw std::runtime_error("cannot open the history database " + path_ + ": " +
                               std::strerror(errno));
    }
    if (Exists(path_ + "-wal") || Exists(path_ + "-shm")) {
      // A WAL without its database cannot be replayed into a new one.
      const std::string aside = MoveAside("orphaned");
      spdlog::warn("history database {} is missing but its -wal/-shm are there: moved them to {}",
                   path_, aside);
    }
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("the history database " + path_ + " is not a regular file");
  }
  try {
    OpenConnection(/*create=*/false);
    bool empty = false;
    CheckExisting(&empty);
    SetPragmas();
    if (empty) CreateSchema();  // A zero-length file, say: as if there were none.
    ReadHistory(limits, now_ms, out);
    return !empty;
  } catch (const SqlError& e) {
    CloseConnection();
    if (e.problem() == nullptr) {
      throw std::runtime_error("cannot open the history database " + path_ + ": " + e.what());
    }
    const std::string aside = MoveAside(e.problem());
    spdlog::error("history database {} is {} ({}): moved it to {} and starting a new one", path_,
                  e.problem(), e.what(), aside);
    *out = core::LoadedHistory();
    return false;
  }
}

void SqliteStore::OpenConnection(bool create) {
  // NOMUTEX: one thread at a time uses the connection (Load, then the writer,
  // then Close, handed over by starting and joining the thread). Never a
  // shared cache.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
                    (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string error = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqlError("opening: " + error, ProblemOf(rc));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  if (sqlite3_db_readonly(db_, "main") == 1) throw SqlError("the file is read-only", "unreadable");
}

void SqliteStore::CheckExisting(bool* empty) {
  const std::string check = QueryText(db_, "PRAGMA quick_check", "quick_check");
  if (check != "ok") throw SqlError("quick_check: " + check, "corrupt");
  const int64_t version = QueryInt(db_, "PRAGMA user_version", "reading the schema version");
  const int64_t tables = QueryInt(db_, "SELECT count(*) FROM sqlite_master", "reading the schema");
  *empty = version == 0 && tables == 0;
  if (*empty) return;
  if (version != kSchemaVersion) {
    throw SqlError("schema version " + std::to_string(version) + ", this notifyd reads " +
                       std::to_string(kSchemaVersion),
                   "corrupt");
  }
  const int64_t ours = QueryInt(db_,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                                "IN ('channels', 'entries', 'idempotency', 'meta')",
                                "reading the schema");
  if (ours != 4) throw SqlError("tables are missing", "corrupt");
}

void SqliteStore::SetPragmas() {
  // auto_vacuum first: it takes effect only before the first table exists.
  Exec(db_, "PRAGMA auto_vacuum = INCREMENTAL", "setting auto_vacuum");
  const std::string mode = QueryText(db_, "PRAGMA journal_mode = WAL", "setting journal_mode");
  if (mode != "wal") spdlog::warn("history: {} cannot use WAL (journal_mode is {})", path_, mode);
  Exec(db_, batch_ ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
       "setting synchronous");
  Exec(db_, "PRAGMA secure_delete = OFF", "setting secure_delete");
  Exec(db_, "PRAGMA temp_store = MEMORY", "setting temp_store");
  Exec(db_, "PRAGMA journal_size_limit = 67108864", "setting journal_size_limit");
}

void SqliteStore::CreateSchema() {
  Exec(db_, "BEGIN IMMEDIATE", "creating the schema");
  Exec(db_, kSchema, "creating the schema");
  Exec(db_, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str(),
       "setting the schema version");
  Exec(db_, "COMMIT", "creating the schema");
}

void SqliteStore::ReadHistory(const core::StoreLimits& limits, int64_t now_ms,
                              core::LoadedHistory* out) {
  Exec(db_, "BEGIN IMMEDIATE", "reading");
  Exec(db_, kCheckinsSchema, "creating the check-ins table");
  PruneForLoad(db_, limits, now_ms);
  out->channels = ReadChannels(db_);
  out->keys = ReadKeys(db_);
  out->checkins = ReadCheckins(db_);
  out->clean_stop = QueryText(db_, "SELECT value FROM meta WHERE key = 'run_state'",
                              "reading the run state") == "clean";
  Stmt running;
  running.Prepare(db_, kSetRunState);
  Check(db_, running.Bind(1, std::string_view("running")).Run(), "marking the database in use");
  Exec(db_, "COMMIT", "marking the database in use");
  Exec(db_, "PRAGMA incremental_vacuum", "freeing pages");
}

std::string SqliteStore::MoveAside(const std::string& why) {
  const std::string base = path_ + "." + why + "-" + CompactUtc(wall_ms_());
  std::string target = base;
  for (int n = 2; n < 1000 && (Exists(target) || Exists(target + "-wal")); ++n) {
    target = base + "-" + std::to_string(n);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = path_ + suffix;
    if (std::rename(from.c_str(), (target + suffix).c_str()) != 0 && errno != ENOENT) {
      throw std::runtime_error("the history database " + path_ + " is " + why +
                               " and cannot be moved aside: renaming " + from + ": " +
                               std::strerror(errno));
    }
  }
  return target;
}

void SqliteStore::CloseConnection() {
  stmts_.reset();
  if (db_ == nullptr) return;
  const int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) {
    spdlog::error("history: closing {}: {}", path_, sqlite3_errmsg(db_));
    sqlite3_close_v2(db_);  // Closes once the last statement is finalized.
  }
  db_ = nullptr;
}

// --- The loop thread's side -------------------------------------------------------

void SqliteStore::Start(core::StoreEvents* events) {
  if (writer_.joinable() || closed_) return;
  events_ = events;
  next_sweep_ms_ = wall_ms_() + kSweepIntervalMs;
  if (db_ == nullptr) {
    spdlog::error("history: {} is not open (Load failed or was not called): nothing is written",
                  path_);
    failed_ = true;
    Emit([](core::StoreEvents* e) { e->OnFailed("history database not open"); });
  }
  writer_ = std::thread([this] { WriterLoop(); });
}

void SqliteStore::Submit(core::StoreOp op) {
  Item item;
  item.op = std::move(op);
  Enqueue(std::move(item));
}

void SqliteStore::Resume() {
  Item item;
  item.type = Item::Type::kResume;
  Enqueue(std::move(item));
}

void SqliteStore::SetLimits(const core::StoreLimits& limits) {
  Item item;
  item.type = Item::Type::kLimits;
  item.limits = limits;
  Enqueue(std::move(item));
}

void SqliteStore::SetMaxPageCountForTest(int64_t pages) {
  Item item;
  item.type = Item::Type::kMaxPageCount;
  item.pages = pages;
  Enqueue(std::move(item));
}

void SqliteStore::Enqueue(Item item) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;  // After Close: nothing is written any more.
    const bool was_empty = queue_.empty();
    if (was_empty) oldest_ = std::chrono::steady_clock::now();
    if (item.type == Item::Type::kOp) ++queued_ops_;
    queue_.push_back(std::move(item));
    // The writer waits on an empty queue, and in batch mode also for a full
    // batch (with a deadline it computed from oldest_).
    wake = was_empty || (batch_ && queued_ops_ == kBatchOps);
  }
  if (wake) wake_.notify_one();
}

uint64_t SqliteStore::FileBytes() const { return SizeOf(path_) + SizeOf(path_ + "-wal"); }

void SqliteStore::Close(bool clean) { CloseImpl(clean, /*deliver_events=*/true); }

void SqliteStore::CloseImpl(bool clean, bool deliver_events) {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  } else {
    // Never started: what was queued is written here.
    std::vector<Item> items;
    do {
      items.clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        TakeLocked(&items);
      }
      Process(&items);
    } while (!items.empty());
  }
  if (db_ != nullptr) {
    if (clean && !failed_) {
      MarkCleanStop();
    } else {
      spdlog::warn("history: closed {} without marking a clean stop ({})", path_,
                   failed_ ? "writes failed" : "as told");
    }
    CloseConnection();
  }
  if (!deliver_events || events_ == nullptr) return;
  // The loop has stopped, so events it was posted may never run: repeat the
  // last commit first, then what the writer found while closing.
  if (!deferring_ && last_committed_ > 0) events_->OnCommitted(last_committed_);
  std::vector<std::function<void()>> deferred;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deferred.swap(deferred_);
  }
  for (const auto& event : deferred) event();
}

void SqliteStore::MarkCleanStop() {
  try {
    Stmt mark;
    mark.Prepare(db_, kSetRunState);
    Check(db_, mark.Bind(1, std::string_view("clean")).Run(), "marking a clean stop");
  } catch (const SqlError& e) {
    spdlog::error("history: closing {}: {}; the next start counts this stop as a crash", path_,
                  e.what());
    return;
  }
  // Folds the WAL into the file and empties it (a busy reader only delays that).
  if (sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    spdlog::warn("history: checkpointing {}: {}", path_, sqlite3_errmsg(db_));
  }
  spdlog::info("history: closed {} after a clean stop", path_);
}

// --- The writer thread -------------------------------------------------------------

void SqliteStore::WriterLoop() {
  pthread_setname_np(pthread_self(), "notifyd-store");
  std::vector<Item> items;
  for (;;) {
    bool last;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!closing_ && !ReadyLocked()) {
        const int64_t to_sweep = next_sweep_ms_ - wall_ms_();
        if (to_sweep <= 0) break;
        auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::min(to_sweep, kSweepIntervalMs));
        if (!queue_.empty()) {
          deadline = std::min(deadline, oldest_ + std::chrono::milliseconds(kBatchWindowMs));
        }
        wake_.wait_until(lock, deadline);
      }
      TakeLocked(&items);
      last = closing_ && queue_.empty();
    }
    Process(&items);
    items.clear();
    if (last) return;
    if (wall_ms_() >= next_sweep_ms_) Sweep();
  }
}

bool SqliteStore::ReadyLocked() const {
  if (queue_.empty()) return false;
  return !batch_ || queued_ops_ >= kBatchOps ||
         std::chrono::steady_clock::now() >= oldest_ + std::chrono::milliseconds(kBatchWindowMs);
}

void SqliteStore::TakeLocked(std::vector<Item>* items) {
  size_t ops = 0;
  while (!queue_.empty()) {
    if (queue_.front().type == Item::Type::kOp) {
      if (ops == kMaxOpsPerCommit) break;
      ++ops;
      --queued_ops_;
    }
    items->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void SqliteStore::Process(std::vector<Item>* items) {
  bool in_transaction = false;
  size_t ops = 0;       // In the open transaction.
  uint64_t ticket = 0;  // Its highest kAppend ticket.
  for (Item& item : *items) {
    switch (item.type) {
      case Item::Type::kResume:
        if (failed_) {
          spdlog::info("history: writing to {} again ({} operations were not written)", path_,
                       dropped_);
          failed_ = false;
        }
        break;
      case Item::Type::kLimits: limits_ = item.limits; break;
      case Item::Type::kMaxPageCount: {
        if (in_transaction) {
          in_transaction = false;
          Commit(ticket, ops);
        }
        const std::string sql = "PRAGMA max_page_count = " + std::to_string(item.pages);
        if (db_ != nullptr &&
            sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
          spdlog::error("history: {}: {}", sql, sqlite3_errmsg(db_));
        }
        break;
      }
      case Item::Type::kOp:
        if (failed_ || db_ == nullptr) {
          ++dropped_;
          break;
        }
        if (!in_transaction) {
          ops = 0;
          ticket = 0;
          if (stmts_->begin.Run() != SQLITE_DONE) {
            Fail(1);
            break;
          }
          in_transaction = true;
        }
        ++ops;
        if (!Apply(item.op)) {
          in_transaction = false;
          Fail(ops);
          break;
        }
        if (item.op.kind == Kind::kAppend) ticket = item.op.ticket;
        break;
    }
  }
  if (in_transaction) Commit(ticket, ops);
}

bool SqliteStore::Apply(const StoreOp& op) {
  Statements& s = *stmts_;
  switch (op.kind) {
    case Kind::kAppend: {
      if (!UpsertChannel(op)) return false;
      if (s.insert_entry.Bind(1, op.channel)
              .Bind(2, op.seq)
              .Bind(3, op.published_ms)
              .Bind(4, op.json)
              .Run() != SQLITE_DONE) {
        return false;
      }
      const int64_t below = static_cast<int64_t>(op.seq) - static_cast<int64_t>(limits_.size);
      if (below > 0 && s.trim_entries.Bind(1, op.channel).Bind(2, below).Run() != SQLITE_DONE) {
        return false;
      }
      return !op.has_key || s.insert_key.Bind(1, op.channel)
                                    .Bind(2, op.key)
                                    .Bind(3, op.epoch)
                                    .Bind(4, op.seq)
                                    .Bind(5, op.key_expires_ms)
                                    .Run() == SQLITE_DONE;
    }
    case Kind::kChannel: return UpsertChannel(op);
    case Kind::kDropChannel:
      return s.delete_channel.Bind(1, op.channel).Run() == SQLITE_DONE &&
             s.delete_entries.Bind(1, op.channel).Run() == SQLITE_DONE &&
             s.delete_keys.Bind(1, op.channel).Run() == SQLITE_DONE;
    case Kind::kKeyDelivered:
      return s.key_delivered.Bind(1, op.channel).Bind(2, op.key).Bind(3, op.delivered).Run() ==
             SQLITE_DONE;
    case Kind::kCheckin:
      return s.upsert_checkin.Bind(1, op.checkin.name)
                 .Bind(2, op.checkin.channel)
                 .Bind(3, op.checkin.every_s)
                 .Bind(4, op.checkin.grace_s)
                 .Bind(5, op.checkin.last_ms)
                 .Bind(6, static_cast<int64_t>(op.checkin.late ? 1 : 0))
                 .Run() == SQLITE_DONE;
    case Kind::kDropCheckin:
      return s.delete_checkin.Bind(1, op.checkin.name).Run() == SQLITE_DONE;
  }
  return true;
}

bool SqliteStore::UpsertChannel(const StoreOp& op) {
  Statements& s = *stmts_;
  // A new epoch is a new stream: the old one's entries and keys go.
  int rc = s.select_epoch.Bind(1, op.channel).Step();
  const bool new_epoch = rc == SQLITE_ROW && s.select_epoch.Text(0) != op.epoch;
  s.select_epoch.Reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return false;
  if (new_epoch && (s.delete_entries.Bind(1, op.channel).Run() != SQLITE_DONE ||
                    s.delete_keys.Bind(1, op.channel).Run() != SQLITE_DONE)) {
    return false;
  }
  // kChannel carries its last_ms in published_ms, as kAppend does.
  return s.upsert_channel.Bind(1, op.channel)
             .Bind(2, op.epoch)
             .Bind(3, op.seq)
             .Bind(4, op.published_ms)
             .Run() == SQLITE_DONE;
}

void SqliteStore::Commit(uint64_t ticket, size_t ops) {
  if (stmts_->commit.Run() != SQLITE_DONE) {
    Fail(ops);
    return;
  }
  if (ticket == 0) return;
  Emit([ticket](core::StoreEvents* e) { e->OnCommitted(ticket); });
  last_committed_ = ticket;
}

void SqliteStore::Fail(size_t lost_ops) {
  std::string error = sqlite3_errmsg(db_);
  // Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled the transaction back.
  if (!sqlite3_get_autocommit(db_) && stmts_->rollback.Run() != SQLITE_DONE) {
    spdlog::error("history: rolling back in {}: {}", path_, sqlite3_errmsg(db_));
  }
  failed_ = true;
  dropped_ = lost_ops;
  spdlog::error("history: writing to {} failed: {}; dropping writes until the broker resumes",
                path_, error);
  Emit([error = std::move(error)](core::StoreEvents* e) { e->OnFailed(error); });
}

void SqliteStore::Sweep() {
  const int64_t now = wall_ms_();
  next_sweep_ms_ = now + kSweepIntervalMs;
  if (failed_ || db_ == nullptr) return;
  Statements& s = *stmts_;
  if (s.begin.Run() != SQLITE_DONE ||
      s.sweep_entries.Bind(1, now - limits_.ttl_ms).Run() != SQLITE_DONE ||
      s.sweep_keys.Bind(1, now).Run() != SQLITE_DONE || s.commit.Run() != SQLITE_DONE ||
      sqlite3_exec(db_, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::error("history: pruning {}: {}", path_, sqlite3_errmsg(db_));
    if (!sqlite3_get_autocommit(db_)) s.rollback.Run();
  }
}

void SqliteStore::Emit(std::function<void(core::StoreEvents*)> event) {
  core::StoreEvents* events = events_;
  if (events == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      // Close delivers these after the join; the last commit goes first, as
      // its posted event may never run.
      if (!deferring_ && last_committed_ > 0) {
        const uint64_t ticket = last_committed_;
        deferred_.push_back([events, ticket] { events->OnCommitted(ticket); });
      }
      deferring_ = true;
      deferred_.push_back([events, event = std::move(event)] { event(events); });
      return;
    }
  }
  post_([events, event = std::move(event)] { event(events); });
}

}  // namespace notifyd::store
