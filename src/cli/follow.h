// `notifyd-cli sub` and `notifyd-cli tail`: follow channels over WebSocket
// with resume (follower.h); sub prints a line for people per notification,
// tail the notification's JSON for scripts.
#pragma once

#include <string>
#include <vector>

namespace notifyd::cli {

/// Runs `notifyd-cli sub ARGS...` (`args` excludes "sub"); returns the exit code.
int RunSub(const std::vector<std::string>& args);

/// Runs `notifyd-cli tail ARGS...` (`args` excludes "tail"); returns the exit code.
int RunTail(const std::vector<std::string>& args);

}  // namespace notifyd::cli
