// Shared by the libFuzzer targets: an invariant check that aborts (which
// libFuzzer reports as a crash, with the input saved) and a clock the target
// moves by hand.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "core/clock.h"

#define FUZZ_CHECK(condition)                                                          \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace notifyd::fuzz {

/// A clock that moves only when the target says so.
class ManualClock final : public core::Clock {
 public:
  int64_t WallMillis() const override { return 1795633649123 + now_ms_; }
  int64_t MonotonicMillis() const override { return now_ms_; }
  int64_t MonotonicMicros() const override { return now_ms_ * 1000; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  int64_t now_ms_ = 0;
};

}  // namespace notifyd::fuzz
