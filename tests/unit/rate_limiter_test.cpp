#include "core/rate_limiter.h"

#include <string>

#include <gtest/gtest.h>

#include "support/fakes.h"

namespace notifyd::core {
namespace {

using testing_support::FakeClock;

class RateLimiterTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  RateLimiter limiter_{clock_};
};

TEST_F(RateLimiterTest, UnconfiguredIsUnlimited) {
  double retry = -1;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter_.Allow("a", &retry));
  EXPECT_EQ(retry, 0);
  EXPECT_EQ(limiter_.size(), 0u);
}

TEST_F(RateLimiterTest, RateZeroIsUnlimitedAndKeepsNoState) {
  limiter_.Configure(0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter_.Allow("key" + std::to_string(i), nullptr));
  EXPECT_EQ(limiter_.size(), 0u);
}

TEST_F(RateLimiterTest, BurstThenRefusedWithRetryAfter) {
  limiter_.Configure(2, 3);  // 2 per second, 3 at once
  double retry = -1;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_.Allow("a", &retry)) << i;
  EXPECT_EQ(retry, 0);
  EXPECT_FALSE(limiter_.Allow("a", &retry));
  EXPECT_DOUBLE_EQ(retry, 0.5);  // one token takes 1/2 s
  clock_.Advance(250);
  EXPECT_FALSE(limiter_.Allow("a", &retry));
  EXPECT_DOUBLE_EQ(retry, 0.25);
  clock_.Advance(250);
  EXPECT_TRUE(limiter_.Allow("a", &retry));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, RefusalsDoNotTakeTokens) {
  limiter_.Configure(1, 1);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter_.Allow("a", nullptr));
  clock_.Advance(1000);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, SustainedRateIsHonoured) {
  limiter_.Configure(10, 1);
  int allowed = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    if (limiter_.Allow("a", nullptr)) ++allowed;
    clock_.Advance(1);
  }
  EXPECT_GE(allowed, 99);
  EXPECT_LE(allowed, 101);
}

TEST_F(RateLimiterTest, RefillStopsAtBurst) {
  limiter_.Configure(100, 5);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  clock_.Advance(3600 * 1000);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter_.Allow("a", nullptr)) << i;
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, KeysAreIndependent) {
  limiter_.Configure(1, 1);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
  EXPECT_TRUE(limiter_.Allow("b", nullptr));
  EXPECT_TRUE(limiter_.Allow(std::string("a\0b", 3), nullptr));
  EXPECT_EQ(limiter_.size(), 3u);
}

TEST_F(RateLimiterTest, SlowRateGivesLongRetry) {
  limiter_.Configure(0.1, 1);
  double retry = 0;
  EXPECT_TRUE(limiter_.Allow("a", &retry));
  EXPECT_FALSE(limiter_.Allow("a", &retry));
  EXPECT_DOUBLE_EQ(retry, 10);
}

TEST_F(RateLimiterTest, ClockGoingBackwardsAddsNothing) {
  limiter_.Configure(1, 1);
  clock_.SetMonotonicMillis(100000);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  clock_.SetMonotonicMillis(50000);
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, FullBucketsArePruned) {
  limiter_.Configure(10, 2);
  for (int i = 0; i < 100; ++i) limiter_.Allow("k" + std::to_string(i), nullptr);
  EXPECT_EQ(limiter_.size(), 100u);
  clock_.Advance(1000);  // every bucket is full again
  // Each call drops a few full buckets from the old end.
  for (int i = 0; i < 60; ++i) limiter_.Allow("fresh", nullptr);
  EXPECT_LE(limiter_.size(), 1u);
}

TEST_F(RateLimiterTest, BucketsNotFullAreKept) {
  limiter_.Configure(1, 2);
  limiter_.Allow("a", nullptr);
  clock_.Advance(500);  // "a" holds 1.5 of 2
  for (int i = 0; i < 10; ++i) limiter_.Allow("b", nullptr);
  EXPECT_EQ(limiter_.size(), 2u);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));  // 0.5 left: the bucket was kept, not reset
}

TEST(RateLimiterCapTest, HardCapEvictsLeastRecentlyUsed) {
  FakeClock clock;
  RateLimiter limiter(clock, 3);
  limiter.Configure(1, 1);
  EXPECT_TRUE(limiter.Allow("a", nullptr));
  EXPECT_TRUE(limiter.Allow("b", nullptr));
  EXPECT_TRUE(limiter.Allow("c", nullptr));
  EXPECT_FALSE(limiter.Allow("a", nullptr));  // "a" is now the most recently used
  EXPECT_TRUE(limiter.Allow("d", nullptr));   // evicts "b"
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_FALSE(limiter.Allow("a", nullptr));  // kept
  EXPECT_FALSE(limiter.Allow("c", nullptr));  // kept
  EXPECT_TRUE(limiter.Allow("b", nullptr));   // forgotten: a fresh burst
}

TEST(RateLimiterCapTest, ManyKeysStayBounded) {
  FakeClock clock;
  RateLimiter limiter(clock, 1000);
  limiter.Configure(1, 1);
  for (int i = 0; i < 100000; ++i) {
    limiter.Allow("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), nullptr);
    ASSERT_LE(limiter.size(), 1000u);
  }
  EXPECT_EQ(limiter.size(), 1000u);
}

TEST(RateLimiterCapTest, DefaultCap) {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(1, 1);
  for (size_t i = 0; i < RateLimiter::kDefaultMaxKeys + 10; ++i) {
    limiter.Allow(std::to_string(i), nullptr);
  }
  EXPECT_EQ(limiter.size(), RateLimiter::kDefaultMaxKeys);
}

TEST_F(RateLimiterTest, ReconfigureCapsAtTheNewBurst) {
  limiter_.Configure(1, 10);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));  // 9 left
  limiter_.Configure(1, 2);
  EXPECT_EQ(limiter_.burst(), 2u);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, ReconfigureKeepsState) {
  limiter_.Configure(1, 1);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  limiter_.Configure(2, 1);
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
  clock_.Advance(500);  // at the new rate
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, UnlimitedThenLimitedStartsFull) {
  limiter_.Configure(0, 1);
  limiter_.Allow("a", nullptr);
  limiter_.Configure(1, 2);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
  limiter_.Configure(0, 2);
  EXPECT_EQ(limiter_.size(), 0u);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
}

TEST_F(RateLimiterTest, BurstZeroMeansOne) {
  limiter_.Configure(1, 0);
  EXPECT_EQ(limiter_.burst(), 1u);
  EXPECT_TRUE(limiter_.Allow("a", nullptr));
  EXPECT_FALSE(limiter_.Allow("a", nullptr));
}

}  // namespace
}  // namespace notifyd::core
