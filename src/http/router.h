// Plain HTTP request/response values and a route table (method, path pattern)
// -> handler. Handlers are ordinary functions over these structs, so they are
// tested without a socket; the transport fills them from the wire.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace notifyd::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response;
/// Answers a request later, on the loop thread. Calling it after the
/// connection has gone does nothing.
using Completion = std::function<void(Response)>;

struct Request {
  std::string method;        ///< "GET", "POST", ...
  std::string path;          ///< Without the query string, still percent-encoded.
  std::string query;         ///< After '?', without it; empty when none.
  Headers headers;           ///< As received.
  std::string body;
  std::string peer_address;  ///< The TCP peer: "127.0.0.1", "::1", ... (a proxy's, if proxied)
  std::string host;          ///< Host header, or the authority of an absolute-form target.
  int version_minor = 1;     ///< 1 for HTTP/1.1, 0 for HTTP/1.0.
  /// Set by the transport: a handler that cannot answer at once (a publish
  /// waiting for its commit) calls it once to get the Completion that will
  /// carry the answer, and returns Response::Deferred(). Empty where no
  /// later answer is possible.
  std::function<Completion()> defer;

  /// The first header named `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  /// Header lines ("Name: value\r\n" each) that many responses share, sent
  /// after `headers`: the CORS headers every API response carries
  /// (Api::AddCommonHeaders), made once instead of once per response.
  /// Header() finds them; SetHeader() does not replace them.
  std::shared_ptr<const std::string> shared_headers = nullptr;

  /// The placeholder a handler returns after taking request.defer().
  static Response Deferred() { return Response{0, {}, {}}; }
  bool deferred() const { return status == 0; }

  /// Replaces or adds a header.
  void SetHeader(std::string name, std::string value);
  /// The first header named `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
};

/// Captured `{name}` segments of the matched pattern, percent-decoded.
using Params = std::vector<std::pair<std::string, std::string>>;
using Handler = std::function<Response(const Request&, const Params&)>;

/// Outcome of routing one request.
struct Match {
  enum Kind { kFound, kNotFound, kMethodNotAllowed, kBadPath } kind = kNotFound;
  const Handler* handler = nullptr;
  Params params;
  std::string allow;  ///< kMethodNotAllowed: "GET, OPTIONS"
};

class Router {
 public:
  /// `pattern` is a path whose segments are literals or `{name}`, e.g.
  /// "/api/notify/{channel}". A `{name}` matches one non-empty segment.
  void Add(std::string method, std::string pattern, Handler handler);
  /// Finds the handler for `method` and `path` (percent-encoded).
  Match Route(std::string_view method, std::string_view path) const;

 private:
  struct Route_ {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route_> routes_;
};

/// Decodes %XX escapes (and '+' as space when `plus_is_space`). False on a
/// malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

/// The decoded value of `key` in an application/x-www-form-urlencoded query,
/// or false when absent or malformed.
bool QueryParam(std::string_view query, std::string_view key, std::string* value);

/// The value of a hex digit (0-9, a-f, A-F), or -1 for any other character.
int HexDigitValue(char c);

/// ASCII case-insensitive equality (header names, tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// True when the comma-separated header value lists `token` (any case), as in
/// "Connection: keep-alive, Upgrade".
bool HasToken(std::string_view value, std::string_view token);

/// True for 127.0.0.0/8, ::1 and ::ffff:127.x.y.z.
bool IsLoopback(std::string_view address);

}  // namespace notifyd::http
