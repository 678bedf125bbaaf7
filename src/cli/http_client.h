// notifyd-cli's tiny HTTP/1.1 client for publish and history: one request
// per connection ("Connection: close"), each attempt bounded in time, and a
// few attempts for the failures a moment may cure (retry_policy.h).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/client_tls.h"
#include "cli/server_address.h"

namespace notifyd::cli {

/// Every attempt (resolve, connect, send, read the answer) fits in this time.
inline constexpr int kHttpTimeoutSeconds = 10;

/// One request to the server.
struct HttpRequest {
  std::string method;  ///< "GET", "POST".
  std::string target;  ///< Path and query, without the prefix.
  std::vector<std::pair<std::string, std::string>> headers;  ///< Beyond Host, User-Agent, Accept.
  std::optional<std::string> json_body;                      ///< Sent as application/json.
  std::optional<std::string> token;                          ///< "Authorization: Bearer".
  size_t max_response_bytes = 1 << 20;                       ///< A larger answer is an error.
};

/// The server's answer.
struct HttpResponse {
  int status = 0;
  std::string head;  ///< Status line and headers, without the blank line.
  std::string body;  ///< Decoded when it came chunked.

  /// The value of header `name` (any case), spaces trimmed.
  std::optional<std::string> Header(std::string_view name) const;
};

/// Sends `request` to `target`, trying again (at most kMaxHttpAttempts, with
/// HttpRetryDelay between) when connecting fails, the connection is lost, an
/// attempt times out, or the answer is 502/503/504. Returns true with the
/// answer (possibly still a 5xx after the last attempt), or false and fills
/// *error; *attempts (when not null) gets the number of attempts made.
bool SendHttpRequest(const HttpTarget& target, const HttpRequest& request, HttpResponse* response,
                     std::string* error, int* attempts = nullptr);

}  // namespace notifyd::cli
