// Parses the head of one HTTP/1.1 request (request line and header fields,
// RFC 9112) as bytes arrive, and decides what RFC 9110/9112 make of it: how
// the body is framed, whether the connection persists, whether the client
// waits for 100 Continue, which host it names. Socket-free: the transport
// feeds it what it reads, then reads the body (Content-Length bytes, or
// through wire::ChunkedDecoder) and the next pipelined request itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/router.h"

namespace notifyd::wire {

struct HttpLimits {
  size_t max_head_bytes = 8192;    ///< Request line + headers + blank line; over it: 431.
  size_t max_headers = 100;        ///< Header field lines (before combining); over it: 431.
  size_t max_target_bytes = 8000;  ///< The request-target; over it: 414, even mid-line.
};

class HttpHeadParser {
 public:
  enum class State { kNeedMore, kDone, kError };
  /// How the request body is delimited (RFC 9112 §6.3).
  enum class BodyFraming { kNone, kLength, kChunked };

  explicit HttpHeadParser(HttpLimits limits = {});

  /// Consumes bytes of the head and stops right after the empty line that
  /// ends it. Returns kNeedMore (all of `data` consumed, the head is not
  /// complete), kDone (request() is ready; bytes after *consumed belong to the
  /// body or a next request) or kError (error_status()/error() say why; the
  /// connection should get that status and be closed). Once kDone or kError,
  /// further calls return the same state and consume nothing until Reset().
  State Feed(std::string_view data, size_t* consumed);

  /// After kDone: method; path (without the query, still percent-encoded;
  /// "*" for `OPTIONS *`; for an absolute-form target, the path after its
  /// authority, "/" when empty); query (after '?', without it); host (the
  /// authority of an absolute-form target, else the Host header, "" when an
  /// HTTP/1.0 request has none); version_minor; headers in the order first
  /// received, names as first sent, values without surrounding whitespace,
  /// repeated field lines combined into one entry joined with ", " (RFC 9110
  /// §5.3; Content-Length keeps its single value; an HTTP/1.0 Upgrade is
  /// dropped, RFC 9110 §7.8). body and peer_address are empty.
  http::Request& request() { return result_.request; }
  /// After kDone: 1 for HTTP/1.1, 0 for HTTP/1.0.
  int version_minor() const { return result_.request.version_minor; }
  /// After kDone: kLength (Content-Length, possibly 0), kChunked
  /// (Transfer-Encoding: chunked) or kNone (no body).
  BodyFraming framing() const { return result_.framing; }
  /// After kDone with kLength: the body's size in bytes; else 0.
  uint64_t content_length() const { return result_.content_length; }
  /// After kDone: whether the connection persists after this exchange
  /// (HTTP/1.1 unless Connection lists "close"; HTTP/1.0 only when it lists
  /// "keep-alive").
  bool keep_alive() const { return result_.keep_alive; }
  /// After kDone: an HTTP/1.1 request with `Expect: 100-continue`, whose
  /// client waits for "100 Continue" (or a final status) before its body.
  bool expect_continue() const { return result_.expect_continue; }
  /// After kError: 400 (malformed), 414 (target too long), 417 (an
  /// expectation other than 100-continue), 431 (head or header count over the
  /// limit), 501 (a transfer coding other than chunked, or CONNECT), 505 (not
  /// HTTP/1.0 or 1.1).
  int error_status() const { return error_status_; }
  /// After kError: a short English reason, safe to send to the client.
  const std::string& error() const { return error_; }

  /// Ready for the next request on the same connection.
  void Reset();

 private:
  State Parse();  // parses buffer_ once it holds the whole head
  bool ParseRequestLine(std::string_view line);
  bool ParseTarget(std::string_view target);
  bool ParseFieldLine(std::string_view line);
  bool AddContentLength(std::string_view name, std::string_view value);
  bool CheckSemantics();  // framing, Host, Expect, Connection, Upgrade
  bool CheckTransferEncoding(std::string_view value);
  bool CheckHost();
  bool WatchTarget(std::string_view bytes);  // false once the target is too long
  State Fail(int status, std::string reason);
  bool Failed(int status, std::string reason);  // Fail() for the bool helpers

  HttpLimits limits_;
  State state_ = State::kNeedMore;
  std::string buffer_;  ///< The head so far; released after parsing.
  // Scan state, so each Feed() looks only at the new bytes (plus one byte
  // back for a CR) instead of searching buffer_ again from the start.
  size_t line_start_ = 0;          ///< Offset in buffer_ of the line being received.
  bool saw_request_line_ = false;  ///< A non-empty line arrived; empty lines before it are skipped.
  int request_line_spaces_ = 0;    ///< SPs seen so far in the request line being received.
  size_t target_bytes_ = 0;        ///< Its target's bytes so far (after the first SP).

  // What Parse() found; reset as a whole.
  struct Result {
    http::Request request;
    BodyFraming framing = BodyFraming::kNone;
    uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
    bool has_content_length = false;
    int host_lines = 0;
    bool absolute_form = false;
    std::string target_authority;  ///< Of an absolute-form target.
  };
  Result result_;
  int error_status_ = 0;
  std::string error_;
};

}  // namespace notifyd::wire
