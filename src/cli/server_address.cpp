#include "cli/server_address.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>

namespace notifyd::cli {
namespace {

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// ws://host:port/ws -> http://host:port (wss becomes https).
std::string HttpUrlFromWsUrl(std::string_view ws_url) {
  size_t scheme_end = ws_url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(ws_url);
  std::string scheme = Lowercase(ws_url.substr(0, scheme_end));
  std::string_view rest = ws_url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (scheme == "ws") scheme = "http";
  if (scheme == "wss") scheme = "https";
  return scheme + "://" + std::string(authority);
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ValidPort(std::string_view port) {
  return AllDigits(port) && port.size() <= 5 && std::stoi(std::string(port)) >= 1 &&
         std::stoi(std::string(port)) <= 65535;
}

// host, host:port, [v6] or [v6]:port; an empty port means the default.
bool SplitHostPort(std::string_view authority, std::string_view* host, std::string_view* port) {
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    *host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
    *port = rest.empty() ? rest : rest.substr(1);
    return true;
  }
  *host = authority.substr(0, colon);
  *port = colon == std::string_view::npos ? "" : authority.substr(colon + 1);
  return host->find(':') == std::string_view::npos;
}

bool SplitAuthority(std::string_view authority, HttpTarget* target, std::string* error) {
  std::string_view host;
  std::string_view port;
  if (!SplitHostPort(authority, &host, &port) || host.empty() ||
      authority.find('@') != std::string_view::npos) {
    *error = "no usable host in it";
    return false;
  }
  target->host = std::string(host);
  target->port = port.empty() ? (target->tls ? "443" : "80") : std::string(port);
  target->authority = std::string(authority);
  if (ValidPort(target->port)) return true;
  *error = "\"" + target->port + "\" is not a port number";
  return false;
}

// The base URL and where it came from, for error messages; WS_URL is only
// consulted when `use_ws_url`.
std::pair<std::string, std::string> BaseUrl(const std::optional<std::string>& url_option,
                                            bool use_ws_url) {
  if (url_option) return {*url_option, "--url"};
  if (const char* url = NonEmptyEnv("NOTIFYD_URL")) return {url, "NOTIFYD_URL"};
  if (const char* ws = NonEmptyEnv("WS_URL"); ws != nullptr && use_ws_url) {
    return {HttpUrlFromWsUrl(ws), "WS_URL"};
  }
  return {kDefaultBaseUrl, "the default"};
}

bool ResolveBaseUrl(const std::optional<std::string>& url_option, bool use_ws_url,
                    HttpTarget* target, std::string* error) {
  auto [url, source] = BaseUrl(url_option, use_ws_url);
  if (ParseBaseUrl(url, target, error)) return true;
  *error = "bad server URL \"" + url + "\" (from " + source + "): " + *error;
  return false;
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return Lowercase(text.substr(0, prefix.size())) == prefix;
}

}  // namespace

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ParseBaseUrl(std::string_view url, HttpTarget* target, std::string* error) {
  size_t scheme_end = url.find("://");
  std::string scheme = Lowercase(url.substr(0, scheme_end));
  if (scheme_end == std::string_view::npos || (scheme != "http" && scheme != "https")) {
    *error = "not an http:// or https:// URL";
    return false;
  }
  target->tls = scheme == "https";
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  target->path_prefix = std::string(path);
  return SplitAuthority(rest.substr(0, path_start), target, error);
}

bool ResolveHttpTarget(const std::optional<std::string>& url_option, HttpTarget* target,
                       std::string* error) {
  return ResolveBaseUrl(url_option, true, target, error);
}

bool ResolveWsUrl(const std::optional<std::string>& url_option, std::string* ws_url,
                  std::string* error) {
  const char* ws = NonEmptyEnv("WS_URL");
  if (!url_option && NonEmptyEnv("NOTIFYD_URL") == nullptr) {
    *ws_url = ws != nullptr ? ws : kDefaultWsUrl;
    return CheckWsUrl(*ws_url, error);
  }
  HttpTarget target;
  if (!ResolveBaseUrl(url_option, false, &target, error)) return false;
  *ws_url = (target.tls ? "wss://" : "ws://") + target.authority + target.path_prefix + "/ws";
  return CheckWsUrl(*ws_url, error);
}

bool CheckWsUrl(const std::string& url, std::string* error) {
  if (StartsWithNoCase(url, "ws://") || StartsWithNoCase(url, "wss://")) return true;
  *error = "WS_URL must be a ws:// or wss:// URL, got \"" + url + "\"";
  return false;
}

bool ResolveToken(const std::optional<std::string>& token_option, std::optional<std::string>* token,
                  std::string* error) {
  *token = token_option;
  if (const char* env = NonEmptyEnv("NOTIFYD_TOKEN"); env != nullptr && !token_option) *token = env;
  if (!*token || ValidHeaderValue(**token)) return true;
  *error = "the token holds control characters";
  return false;
}

bool ValidHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7F; });
}

std::string HostPort(const HttpTarget& target) {
  bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + target.port;
}

std::string EncodePathSegment(std::string_view segment) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) ||
        std::string_view("-._~:@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace notifyd::cli
