// `notifyd-cli publish`: one notification from a script or a shell, sent as
// POST /api/notify/<channel> over a tiny HTTP/1.1 client (one request, one
// connection, a bounded total time).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cli {

/// Exit codes of notifyd-cli.
inline constexpr int kExitOk = 0;       ///< Success.
inline constexpr int kExitFailure = 1;  ///< Connection failed, timed out, or refused.
inline constexpr int kExitUsage = 2;    ///< Bad command line.

/// The whole of `--help`, also printed to stderr on usage errors.
std::string_view UsageText();

/// Runs `notifyd-cli publish ARGS...` (`args` excludes "publish"); returns
/// the exit code.
int RunPublish(const std::vector<std::string>& args);

}  // namespace notifyd::cli
