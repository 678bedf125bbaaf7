#include "core/histogram.h"

#include <gtest/gtest.h>

namespace notifyd::core {
namespace {

TEST(DurationHistogramTest, BoundsAscend) {
  const auto& bounds = DurationHistogram::kBoundsSeconds;
  for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  EXPECT_EQ(bounds.front(), 0.0005);
  EXPECT_EQ(bounds.back(), 5);
}

TEST(DurationHistogramTest, StartsEmpty) {
  DurationHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sum_seconds(), 0);
  for (size_t i = 0; i < DurationHistogram::kBoundsSeconds.size(); ++i) {
    EXPECT_EQ(h.CumulativeCount(i), 0u);
  }
}

TEST(DurationHistogramTest, AValueOnABoundIsInThatBucket) {
  DurationHistogram h;
  h.Observe(0.001);  // bucket 1 (le 0.001)
  EXPECT_EQ(h.CumulativeCount(0), 0u);
  EXPECT_EQ(h.CumulativeCount(1), 1u);
}

TEST(DurationHistogramTest, BucketsAreCumulative) {
  DurationHistogram h;
  h.Observe(0.0001);  // le 0.0005
  h.Observe(0.003);   // le 0.005
  h.Observe(0.2);     // le 0.25
  h.Observe(7);       // over the top bound: only in +Inf (the count)
  EXPECT_EQ(h.CumulativeCount(0), 1u);
  EXPECT_EQ(h.CumulativeCount(2), 1u);  // le 0.0025
  EXPECT_EQ(h.CumulativeCount(3), 2u);  // le 0.005
  EXPECT_EQ(h.CumulativeCount(8), 3u);  // le 0.25
  EXPECT_EQ(h.CumulativeCount(DurationHistogram::kBoundsSeconds.size() - 1), 3u);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum_seconds(), 7.2031);
}

TEST(DurationHistogramTest, NegativeDurationsCountAsZero) {
  DurationHistogram h;
  h.Observe(-1);
  EXPECT_EQ(h.CumulativeCount(0), 1u);
  EXPECT_EQ(h.sum_seconds(), 0);
}

}  // namespace
}  // namespace notifyd::core
