// Parses the head of one HTTP/1.1 request (request line and header fields,
// RFC 9112) as bytes arrive. Socket-free: the transport feeds it what it
// reads and handles the body itself (Content-Length only, see Api).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/router.h"

namespace notifyd::wire {

struct HttpLimits {
  size_t max_head_bytes = 8192;  ///< Request line + headers + blank line; over it: 431.
  size_t max_headers = 100;      ///< Over it: 431.
};

class HttpHeadParser {
 public:
  enum class State { kNeedMore, kDone, kError };

  explicit HttpHeadParser(HttpLimits limits = {});

  /// Consumes bytes of the head and stops right after the empty line that
  /// ends it. Returns kNeedMore (all of `data` consumed, the head is not
  /// complete), kDone (request() is ready; bytes after *consumed belong to the
  /// body or a next request) or kError (error_status()/error() say why; the
  /// connection should get that status and be closed). Once kDone or kError,
  /// further calls return the same state and consume nothing until Reset().
  State Feed(std::string_view data, size_t* consumed);

  /// After kDone: method, path (without the query, still percent-encoded),
  /// query (after '?', without it), headers in the order received (names as
  /// sent, values without surrounding whitespace); body and peer_address empty.
  http::Request& request() { return request_; }
  /// After kDone: 1 for HTTP/1.1, 0 for HTTP/1.0.
  int version_minor() const { return version_minor_; }
  /// After kError: 400 (malformed), 431 (head or header count over the
  /// limit), 505 (not HTTP/1.x).
  int error_status() const { return error_status_; }
  /// After kError: a short English reason, safe to send to the client.
  const std::string& error() const { return error_; }

  /// Ready for the next request on the same connection.
  void Reset();

 private:
  State Parse();  // parses buffer_ once it holds the whole head
  State Fail(int status, std::string reason);

  HttpLimits limits_;
  State state_ = State::kNeedMore;
  std::string buffer_;  ///< The head so far; released after parsing.
  // Scan state, so each Feed() looks only at the new bytes (plus one byte
  // back for a CR) instead of searching buffer_ again from the start.
  size_t line_start_ = 0;          ///< Offset in buffer_ of the line being received.
  bool saw_request_line_ = false;  ///< A non-empty line arrived; empty lines before it are skipped.
  http::Request request_;
  int version_minor_ = 1;
  int error_status_ = 0;
  std::string error_;
};

}  // namespace notifyd::wire
