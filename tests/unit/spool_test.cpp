// notifyd-cli's spool directory (src/cli/spool.h), on temporary directories.
#include "cli/spool.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/scoped_env.h"

namespace notifyd::cli {
namespace {

namespace fs = std::filesystem;
using testing_support::ScopedEnv;

class SpoolTest : public ::testing::Test {
 protected:
  SpoolTest() {
    std::string pattern = ::testing::TempDir() + "notifyd_spool_XXXXXX";
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  ~SpoolTest() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  static SpoolRecord Record(const std::string& body) {
    SpoolRecord record;
    record.url = "http://127.0.0.1:8080";
    record.channel = "cron";
    record.body = body;
    record.idempotency_key = "key-" + body;
    record.created = "2026-11-25T02:30:01.123Z";
    record.attempts = 1;
    return record;
  }

  static std::string Contents(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static mode_t Mode(const std::string& path) {
    struct stat info;
    EXPECT_EQ(stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
  }

  std::string Add(const Spool& spool, const std::string& body) {
    std::string path;
    std::string error;
    EXPECT_TRUE(spool.Add(Record(body), &path, &error)) << error;
    return fs::path(path).filename();
  }

  std::vector<std::string> List(const Spool& spool) {
    std::vector<std::string> names;
    std::string error;
    EXPECT_TRUE(spool.List(&names, &error)) << error;
    return names;
  }

  std::string root_;
};

TEST_F(SpoolTest, AddMakesThePrivateDirectoryAndOneFilePerNotification) {
  Spool spool(root_ + "/state/notifyd");
  EXPECT_TRUE(List(spool).empty());  // not there yet: nothing spooled
  std::string first = Add(spool, "one");
  std::string second = Add(spool, "two");
  EXPECT_EQ(Mode(root_ + "/state"), 0700u);
  EXPECT_EQ(Mode(spool.dir()), 0700u);
  EXPECT_EQ(Mode(spool.PathOf(first)), 0600u);
  EXPECT_TRUE(IsSpoolFileName(first));
  EXPECT_EQ(List(spool), (std::vector<std::string>{first, second}));  // oldest first
  SpoolRecord read;
  std::string error;
  ASSERT_EQ(spool.Read(second, &read, &error), Spool::ReadStatus::kOk) << error;
  EXPECT_EQ(read.body, "two");
  EXPECT_EQ(read.idempotency_key, "key-two");
  // Nothing but the two records: no temporary file is left behind.
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(spool.dir())) {
    entries.push_back(entry.path().filename());
  }
  EXPECT_EQ(entries.size(), 2u);
}

TEST_F(SpoolTest, ListSkipsWhatIsNotARecord) {
  Spool spool(root_);
  std::string name = Add(spool, "one");
  std::ofstream(root_ + "/.tmp-" + SpoolFileName(1, 2)) << "{half";
  std::ofstream(root_ + "/notes.txt") << "x";
  fs::create_directory(root_ + "/failed");
  EXPECT_EQ(List(spool), (std::vector<std::string>{name}));
}

TEST_F(SpoolTest, ACorruptFileIsToldApartAndMovedAsItIs) {
  Spool spool(root_);
  std::string name = SpoolFileName(1764037801123456, 1);
  std::string text = *EncodeSpoolRecord(Record("x"));
  std::ofstream(spool.PathOf(name)) << text.substr(0, text.size() / 2);
  SpoolRecord read;
  std::string error;
  EXPECT_EQ(spool.Read(name, &read, &error), Spool::ReadStatus::kCorrupt);
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
  std::string moved_to;
  ASSERT_TRUE(spool.SetAsideCorrupt(name, &moved_to, &error)) << error;
  EXPECT_EQ(moved_to, root_ + "/corrupt/" + name);
  EXPECT_EQ(Contents(moved_to), text.substr(0, text.size() / 2));
  EXPECT_TRUE(List(spool).empty());
}

TEST_F(SpoolTest, AnUnreadableFileIsNotCalledCorrupt) {
  Spool spool(root_);
  std::string name = SpoolFileName(1764037801123456, 1);
  fs::create_directory(spool.PathOf(name));  // a directory cannot be read as a file
  SpoolRecord read;
  std::string error;
  EXPECT_EQ(spool.Read(name, &read, &error), Spool::ReadStatus::kUnreadable);
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

TEST_F(SpoolTest, ARefusedRecordMovesToFailedWithTheReason) {
  Spool spool(root_);
  std::string name = Add(spool, "one");
  SpoolRecord record = Record("one");
  record.last_error = "server refused: 400 {\"error\":\"Invalid channel name\"}";
  std::string moved_to;
  std::string error;
  ASSERT_TRUE(spool.SetAsideFailed(name, record, &moved_to, &error)) << error;
  EXPECT_EQ(moved_to, root_ + "/failed/" + name);
  EXPECT_EQ(Mode(root_ + "/failed"), 0700u);
  SpoolRecord kept;
  ASSERT_TRUE(DecodeSpoolRecord(Contents(moved_to), &kept, &error)) << error;
  EXPECT_EQ(kept.last_error, record.last_error);
  EXPECT_TRUE(List(spool).empty());
}

TEST_F(SpoolTest, ReplaceAndRemove) {
  Spool spool(root_);
  std::string name = Add(spool, "one");
  SpoolRecord record = Record("one");
  record.attempts = 7;
  std::string error;
  ASSERT_TRUE(spool.Replace(name, record, &error)) << error;
  SpoolRecord read;
  ASSERT_EQ(spool.Read(name, &read, &error), Spool::ReadStatus::kOk);
  EXPECT_EQ(read.attempts, 7u);
  ASSERT_TRUE(spool.Remove(name, &error)) << error;
  EXPECT_TRUE(List(spool).empty());
  EXPECT_FALSE(spool.Remove(name, &error));
}

TEST_F(SpoolTest, AddRefusesWhatCouldNotBeReadBack) {
  Spool spool(root_);
  SpoolRecord record = Record("one");
  record.channel = "bad channel";
  std::string path;
  std::string error;
  EXPECT_FALSE(spool.Add(record, &path, &error));
  EXPECT_NE(error.find("cannot be kept"), std::string::npos) << error;
  EXPECT_TRUE(List(spool).empty());
}

TEST_F(SpoolTest, OneLockHolderAtATime) {
  Spool spool(root_ + "/spool");
  std::string error;
  {
    SpoolLock first;
    ASSERT_TRUE(first.Acquire(spool, false, &error)) << error;
    SpoolLock second;  // flock locks belong to the open file: this is another holder
    EXPECT_FALSE(second.Acquire(spool, false, &error));
    EXPECT_EQ(error, "");  // busy, not broken
  }
  SpoolLock again;
  EXPECT_TRUE(again.Acquire(spool, false, &error)) << error;
  EXPECT_EQ(Mode(spool.PathOf(".lock")), 0600u);
}

TEST_F(SpoolTest, TheDirectoryComesFromTheOptionTheEnvironmentOrTheUser) {
  std::string dir;
  std::string error;
  ScopedEnv spool_env("NOTIFYD_SPOOL", "/env/spool");
  ASSERT_TRUE(ResolveSpoolDir(std::string("/opt/spool/"), &dir, &error));
  EXPECT_EQ(dir, "/opt/spool");
  ASSERT_TRUE(ResolveSpoolDir(std::nullopt, &dir, &error));
  EXPECT_EQ(dir, "/env/spool");
  ScopedEnv no_spool_env("NOTIFYD_SPOOL", nullptr);
  ScopedEnv state("XDG_STATE_HOME", "/home/u/.state");
  ScopedEnv home("HOME", "/home/u");
  ASSERT_TRUE(ResolveSpoolDirAs(true, std::nullopt, &dir, &error));
  EXPECT_EQ(dir, "/var/spool/notifyd");
  ASSERT_TRUE(ResolveSpoolDirAs(false, std::nullopt, &dir, &error));
  EXPECT_EQ(dir, "/home/u/.state/notifyd");
  ScopedEnv relative_state("XDG_STATE_HOME", "relative");  // not absolute: ignored
  ASSERT_TRUE(ResolveSpoolDirAs(false, std::nullopt, &dir, &error));
  EXPECT_EQ(dir, "/home/u/.local/state/notifyd");
}

}  // namespace
}  // namespace notifyd::cli
