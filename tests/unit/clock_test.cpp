#include "core/clock.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "support/fakes.h"

namespace notifyd::core {
namespace {

TEST(FormatIso8601Test, EpochZero) { EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z"); }

TEST(FormatIso8601Test, KnownInstantWithMillis) {
  EXPECT_EQ(FormatIso8601(1795633649123), "2026-11-25T19:07:29.123Z");
  EXPECT_EQ(FormatIso8601(1709210096007), "2024-02-29T12:34:56.007Z");  // leap day
}

TEST(FormatIso8601Test, PadsMillisToThreeDigits) {
  EXPECT_EQ(FormatIso8601(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(FormatIso8601(50), "1970-01-01T00:00:00.050Z");
  EXPECT_EQ(FormatIso8601(999), "1970-01-01T00:00:00.999Z");
  EXPECT_EQ(FormatIso8601(1000), "1970-01-01T00:00:01.000Z");
}

TEST(FormatIso8601Test, NegativeMillisFloor) {
  EXPECT_EQ(FormatIso8601(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatIso8601(-1000), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(-1001), "1969-12-31T23:59:58.999Z");
}

// The calendar arithmetic against the C library's gmtime_r, over every kind
// of date from year 0 to 9999 (leap days, century years, 1969/1970, 2038).
std::string ReferenceIso8601(int64_t wall_millis) {
  int64_t secs = wall_millis / 1000;
  int64_t millis = wall_millis % 1000;
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

TEST(FormatIso8601Test, AgreesWithGmtime) {
  const int64_t year0 = -62167219200000;     // 0000-01-01T00:00:00.000Z
  const int64_t year10000 = 253402300800000;  // 10000-01-01T00:00:00.000Z
  std::mt19937_64 random(20261202);
  std::uniform_int_distribution<int64_t> any(year0, year10000 - 1);
  for (int i = 0; i < 200000; ++i) {
    int64_t ms = any(random);
    ASSERT_EQ(FormatIso8601(ms), ReferenceIso8601(ms)) << ms;
  }
  for (int64_t ms : {year0, year10000 - 1, int64_t{951782400000} /* 2000-02-29 */,
                     int64_t{4107542400000} /* 2100-02-28 */, int64_t{2147483647999},
                     int64_t{-86400001}}) {
    EXPECT_EQ(FormatIso8601(ms), ReferenceIso8601(ms)) << ms;
  }
  std::string out = "x";
  AppendIso8601(out, 0);
  EXPECT_EQ(out, "x1970-01-01T00:00:00.000Z");
}

TEST(SystemClockTest, WallIsNearTime) {
  SystemClock clock;
  const int64_t expected = static_cast<int64_t>(std::time(nullptr)) * 1000;
  EXPECT_LE(std::llabs(clock.WallMillis() - expected), 5000);
}

TEST(SystemClockTest, MonotonicDoesNotGoBack) {
  SystemClock clock;
  int64_t last = clock.MonotonicMillis();
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = clock.MonotonicMillis();
    EXPECT_GE(now, last);
    last = now;
  }
}

TEST(SystemClockTest, MicrosAgreeWithMillis) {
  SystemClock clock;
  const int64_t before_ms = clock.MonotonicMillis();
  const int64_t us = clock.MonotonicMicros();
  const int64_t after_ms = clock.MonotonicMillis();
  EXPECT_GE(us / 1000, before_ms);
  EXPECT_LE(us / 1000, after_ms);
}

TEST(FakeClockTest, MicrosecondsAddUpToMilliseconds) {
  testing_support::FakeClock clock;
  clock.SetMonotonicMillis(10);
  EXPECT_EQ(clock.MonotonicMicros(), 10000);
  clock.AdvanceMicros(999);
  EXPECT_EQ(clock.MonotonicMillis(), 10);
  EXPECT_EQ(clock.MonotonicMicros(), 10999);
  clock.AdvanceMicros(1);
  EXPECT_EQ(clock.MonotonicMillis(), 11);
}

TEST(FakeClockTest, AdvanceMovesBothClocks) {
  testing_support::FakeClock clock;
  clock.SetWallMillis(5000);
  clock.SetMonotonicMillis(10);
  clock.Advance(250);
  EXPECT_EQ(clock.WallMillis(), 5250);
  EXPECT_EQ(clock.MonotonicMillis(), 260);
}

}  // namespace
}  // namespace notifyd::core
