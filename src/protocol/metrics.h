// GET /metrics: the Prometheus text exposition format, version 0.0.4, built
// from the same figures as /api/stats (the hub's, the broker's, the
// counters, the daemon's) plus the process's own. Every family has its
// `# HELP` and `# TYPE` lines; names follow Prometheus conventions (a
// notifyd_ or process_ prefix, the unit in the name, _total on counters),
// and every label has a fixed set of values: never a channel name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/hub.h"
#include "protocol/messages.h"

namespace notifyd::protocol {

/// The Content-Type of the exposition.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

/// The standard process_* figures, as the daemon reads them from /proc.
struct ProcessMetrics {
  double cpu_seconds = 0;  ///< User and system CPU time.
  uint64_t resident_memory_bytes = 0;
  uint64_t virtual_memory_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;           ///< The soft RLIMIT_NOFILE.
  double start_time_seconds = 0;  ///< Since the Unix epoch.
};

/// The whole exposition: every notifyd_* family, and the process_* ones
/// when `process` is given.
std::string EncodeMetrics(const core::HubStats& hub, const StatsExtra& extra,
                          const std::optional<ProcessMetrics>& process);

/// `value` as the text between a label's quotes: backslash, double quote
/// and line feed escaped as \\, \" and \n.
std::string EscapeLabelValue(std::string_view value);

}  // namespace notifyd::protocol
