// Where notifyd-cli finds the server and how it proves who it is: the base
// URL from --url, $NOTIFYD_URL, $WS_URL or the default, taken apart for the
// HTTP client, or turned into the WebSocket URL of sub and tail; and the
// token from --token or $NOTIFYD_TOKEN. Plain text work, no sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace notifyd::cli {

/// The base URL when neither --url nor the environment names one.
inline constexpr const char* kDefaultBaseUrl = "http://localhost:8080";
/// The WebSocket URL when neither --url nor the environment names one.
inline constexpr const char* kDefaultWsUrl = "ws://localhost:8080/ws";

/// Where to send HTTP requests, taken apart from the base URL.
struct HttpTarget {
  std::string host;         ///< Without brackets, for the resolver.
  std::string port;         ///< "80" when the URL has none.
  std::string authority;    ///< host[:port] as written, for the Host header.
  std::string path_prefix;  ///< The URL's path without a trailing '/'.
  bool tls = false;         ///< https://: TLS, the certificate verified (CaFile()).
};

/// Takes an http:// or https:// base URL apart. Returns false and fills
/// *error (what is wrong with it, without the URL) otherwise.
bool ParseBaseUrl(std::string_view url, HttpTarget* target, std::string* error);

/// The HTTP target from `url_option` (--url), else $NOTIFYD_URL, else $WS_URL
/// (ws://host:port/... -> http://host:port), else kDefaultBaseUrl. On failure
/// *error names the URL and where it came from.
bool ResolveHttpTarget(const std::optional<std::string>& url_option, HttpTarget* target,
                       std::string* error);

/// The WebSocket URL of sub and tail: `url_option` (--url) or $NOTIFYD_URL as
/// ws://host:port/prefix/ws, else $WS_URL as it is, else kDefaultWsUrl. On
/// failure *error names the URL and where it came from.
bool ResolveWsUrl(const std::optional<std::string>& url_option, std::string* ws_url,
                  std::string* error);

/// Checks that `url` is a ws:// or wss:// URL.
bool CheckWsUrl(const std::string& url, std::string* error);

/// *token becomes `token_option` (--token), else $NOTIFYD_TOKEN when set and
/// not empty, else nullopt. False and *error when the token could not stand
/// in an HTTP header.
bool ResolveToken(const std::optional<std::string>& token_option, std::optional<std::string>* token,
                  std::string* error);

/// True when `value` may stand in an HTTP header: no control character but tab.
bool ValidHeaderValue(std::string_view value);

/// "host:port", with brackets around an IPv6 host: for error messages.
std::string HostPort(const HttpTarget& target);

/// `segment` percent-encoded as one URL path segment: everything but
/// unreserved characters and the channel-name punctuation, so "a/b" stays one
/// segment.
std::string EncodePathSegment(std::string_view segment);

/// `text` in lower case (ASCII letters only).
std::string Lowercase(std::string_view text);

}  // namespace notifyd::cli
