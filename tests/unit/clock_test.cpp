#include "core/clock.h"

#include <cstdlib>
#include <ctime>

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
