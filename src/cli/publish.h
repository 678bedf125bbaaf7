// `notifyd-cli publish`: one notification from a script or a shell, sent as
// POST /api/notify/<channel> with an Idempotency-Key, so the bounded retries
// of the HTTP client (http_client.h) never deliver it twice.
#pragma once

#include <string>
#include <vector>

namespace notifyd::cli {

/// Runs `notifyd-cli publish ARGS...` (`args` excludes "publish"); returns
/// the exit code.
int RunPublish(const std::vector<std::string>& args);

}  // namespace notifyd::cli
