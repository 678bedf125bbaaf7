// `notifyd-cli run`: runs a command (a cron job, typically) and tells about
// it: publishes when it fails (or always, with --always) the exit status,
// the duration and the last lines of its output; checks in on success
// (PROTOCOL.md Part 2 "Check-ins"); exits with the command's own status.
// What cannot be published now is spooled (spool.h).
#pragma once

#include <string>
#include <vector>

namespace notifyd::cli {

/// The channel run publishes to without --channel.
inline constexpr const char* kDefaultRunChannel = "cron";

/// Runs `notifyd-cli run ARGS...` (`args` excludes "run"); returns the exit
/// code: the command's status, or kExitUsage when the arguments are wrong.
int RunRun(const std::vector<std::string>& args);

}  // namespace notifyd::cli
