// `notifyd-cli history`: what the server keeps of a channel, read with
// GET /api/channels/{channel}/messages (PROTOCOL.md Part 2 "Reading history
// over HTTP"), page by page, printed as one JSON line per notification.
#pragma once

#include <string>
#include <vector>

namespace notifyd::cli {

/// Runs `notifyd-cli history ARGS...` (`args` excludes "history"); returns
/// the exit code.
int RunHistory(const std::vector<std::string>& args);

}  // namespace notifyd::cli
