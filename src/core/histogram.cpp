#include "core/histogram.h"

#include <algorithm>

namespace notifyd::core {

void DurationHistogram::Observe(double seconds) {
  seconds = std::max(seconds, 0.0);
  // The first bound not below the value: a value equal to a bound is in its
  // bucket ("le", less or equal).
  const auto bound = std::lower_bound(kBoundsSeconds.begin(), kBoundsSeconds.end(), seconds);
  ++counts_[static_cast<size_t>(bound - kBoundsSeconds.begin())];
  ++count_;
  sum_seconds_ += seconds;
}

uint64_t DurationHistogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i; ++b) total += counts_[b];
  return total;
}

}  // namespace notifyd::core
