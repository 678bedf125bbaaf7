// Writes HTTP/1.1 responses (RFC 9112 §4 and §6): the status line, the
// headers the server always sends, the framing, and the Date value.
// Socket-free: the transport sends the bytes these functions return.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/router.h"

namespace notifyd::wire {

/// The interim response that tells a client sending `Expect: 100-continue`
/// to go on with its body (RFC 9110 §15.2.1).
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

/// The reason phrase of `status` (RFC 9110 §15), "Unknown" for one the
/// server does not send. Never null.
const char* ReasonPhrase(int status);

/// How the body of a serialised response is delimited.
enum class BodyLength {
  kContentLength,  ///< "Content-Length: <body size>" (except for 1xx, 204 and 304).
  kUntilClose,     ///< No length and no Transfer-Encoding: the body is what the
                   ///< server sends until it closes the connection (RFC 9112
                   ///< §6.3, item 8), as for an event stream.
};

/// The response as bytes: "HTTP/1.1 <status> <reason>", "Server: notifyd",
/// "Date: <date>" when `date` is not empty, r.headers in order (any
/// Content-Length among them is dropped), r.shared_headers, then with kContentLength
/// "Content-Length: <body size>" except for 1xx, 204 and 304 (RFC 9110 §8.6), the
/// empty line, and the body unless `head_only` (a response to HEAD keeps the
/// length of the body it leaves out, RFC 9110 §9.3.2).
std::string SerializeResponse(const http::Response& r, bool head_only, std::string_view date,
                              BodyLength length = BodyLength::kContentLength);

/// `wall_ms` (milliseconds since the Unix epoch) as an IMF-fixdate, the
/// form of the Date header (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(int64_t wall_ms);

}  // namespace notifyd::wire
