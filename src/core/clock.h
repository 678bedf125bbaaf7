// The injectable time source. Everything in the core that needs "now" takes a
// Clock&, so tests drive time with a FakeClock instead of sleeping.
#pragma once

#include <cstdint>
#include <string>

namespace notifyd::core {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Milliseconds since the Unix epoch (UTC), for timestamps on the wire.
  virtual int64_t WallMillis() const = 0;
  /// Milliseconds on a monotonic clock, for intervals and timeouts.
  virtual int64_t MonotonicMillis() const = 0;
  /// Microseconds on the same monotonic clock, for measured durations
  /// (the commit latency) where milliseconds are too coarse.
  virtual int64_t MonotonicMicros() const = 0;
};

/// The real clocks (std::chrono::system_clock / steady_clock).
class SystemClock final : public Clock {
 public:
  int64_t WallMillis() const override;
  int64_t MonotonicMillis() const override;
  int64_t MonotonicMicros() const override;
};

/// "2026-11-25T19:07:29.123Z": UTC ISO-8601 with milliseconds, as on the wire.
std::string FormatIso8601(int64_t wall_millis);
/// FormatIso8601 appended to `out` (24 bytes for years 0000..9999).
void AppendIso8601(std::string& out, int64_t wall_millis);

}  // namespace notifyd::core
