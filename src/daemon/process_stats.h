// The standard process_* metrics of GET /metrics, read from /proc: CPU
// time, memory, file descriptors and the start time, as the Prometheus
// client libraries' process collector reports them. The parsers are pure
// functions of the files' text, for the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/metrics.h"

namespace notifyd::daemon {

/// Fills CPU seconds (utime + stime), virtual and resident memory and the
/// start time from the text of /proc/self/stat, given the clock ticks per
/// second, the page size and the boot time (seconds since the epoch).
/// False when the text is not in that format.
bool ParseProcSelfStat(std::string_view stat, int64_t ticks_per_second, uint64_t page_bytes,
                       uint64_t boot_time_s, protocol::ProcessMetrics* out);

/// The boot time (seconds since the epoch) from the `btime` line of
/// /proc/stat; false without one.
bool ParseBootTime(std::string_view proc_stat, uint64_t* boot_time_s);

/// This process's figures, read now; nullopt when /proc/self/stat cannot be
/// read (no /proc mounted).
std::optional<protocol::ProcessMetrics> ReadProcessMetrics();

}  // namespace notifyd::daemon
