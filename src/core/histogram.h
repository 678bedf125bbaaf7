// A histogram of durations over fixed buckets, in the manner of a Prometheus
// histogram: how many observations fell at or under each bound, their count
// and their sum. Used for the publish-to-commit latency of the history store.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace notifyd::core {

class DurationHistogram {
 public:
  /// The buckets' upper bounds in seconds, ascending: 0.5 ms to 5 s.
  static constexpr std::array<double, 13> kBoundsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

  /// Counts one duration (negative ones as 0).
  void Observe(double seconds);

  /// Observations at or under kBoundsSeconds[i] (cumulative, as Prometheus
  /// reports a bucket); REQUIRES: i < kBoundsSeconds.size().
  uint64_t CumulativeCount(size_t i) const;
  uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_seconds_; }

 private:
  /// Per bucket, not cumulative; the last one holds those over the top bound.
  std::array<uint64_t, kBoundsSeconds.size() + 1> counts_{};
  uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

}  // namespace notifyd::core
