// The process_* figures: /proc/self/stat and /proc/stat parsed from sample
// text, and read from this very process.
#include "daemon/process_stats.h"

#include <unistd.h>

#include <ctime>

#include <gtest/gtest.h>

namespace notifyd::daemon {
namespace {

// A command name with spaces and parentheses; utime 250, stime 125,
// starttime 3000 ticks, vsize 89292800 bytes, rss 1941 pages.
constexpr const char* kStat =
    "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 125 0 0 20 0 1 0 3000 "
    "89292800 1941 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessStatsTest, ParsesProcSelfStat) {
  protocol::ProcessMetrics m;
  ASSERT_TRUE(ParseProcSelfStat(kStat, 100, 4096, 1796000000, &m));
  EXPECT_DOUBLE_EQ(m.cpu_seconds, 3.75);
  EXPECT_EQ(m.virtual_memory_bytes, 89292800u);
  EXPECT_EQ(m.resident_memory_bytes, 1941u * 4096);
  EXPECT_DOUBLE_EQ(m.start_time_seconds, 1796000030);
}

TEST(ProcessStatsTest, RefusesOtherText) {
  protocol::ProcessMetrics m;
  EXPECT_FALSE(ParseProcSelfStat("", 100, 4096, 0, &m));
  EXPECT_FALSE(ParseProcSelfStat("1234 (short) S 1 2 3\n", 100, 4096, 0, &m));
  EXPECT_FALSE(ParseProcSelfStat("no parenthesis at all", 100, 4096, 0, &m));
  std::string bad = kStat;
  bad.replace(bad.find(" 250 "), 5, " x50 ");
  EXPECT_FALSE(ParseProcSelfStat(bad, 100, 4096, 0, &m));
  EXPECT_FALSE(ParseProcSelfStat(kStat, 0, 4096, 0, &m)) << "no clock ticks";
}

TEST(ProcessStatsTest, ParsesTheBootTime) {
  uint64_t boot = 0;
  EXPECT_TRUE(ParseBootTime("cpu  1 2 3\nintr 5\nctxt 9\nbtime 1796000000\nprocesses 7\n", &boot));
  EXPECT_EQ(boot, 1796000000u);
  EXPECT_FALSE(ParseBootTime("cpu  1 2 3\nbtimex 5\n", &boot));
  EXPECT_FALSE(ParseBootTime("", &boot));
}

TEST(ProcessStatsTest, ReadsThisProcess) {
  const std::optional<protocol::ProcessMetrics> m = ReadProcessMetrics();
  ASSERT_TRUE(m.has_value());
  EXPECT_GT(m->resident_memory_bytes, 0u);
  EXPECT_GE(m->virtual_memory_bytes, m->resident_memory_bytes);
  EXPECT_GE(m->open_fds, 3u);  // at least stdin, stdout, stderr
  EXPECT_GT(m->max_fds, 0u);
  EXPECT_GE(m->cpu_seconds, 0);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(m->start_time_seconds, now + 2);
  EXPECT_GT(m->start_time_seconds, now - 86400) << "this test process started today";
}

}  // namespace
}  // namespace notifyd::daemon
