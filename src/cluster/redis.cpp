#include "cluster/redis.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstdio>

#include "wire/websocket.h"

namespace notifyd::cluster {
namespace {

constexpr const char* kForms = " (HOST:PORT, [IPv6]:PORT or unix:/path)";

bool Fail(std::string* error, std::string text) {
  *error = std::move(text);
  return false;
}

// 1 to 65535, digits only: "6379x", "+6379" and "0" are refused, not cut.
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// A host name or IPv4 address: what a resolver can be asked, without spaces,
// slashes or other characters that would only fail later, at connect time.
bool IsHostName(std::string_view host) {
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

bool IsIpv6(const std::string& host) {
  in6_addr address;
  return inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

bool ParseTcp(std::string_view text, RedisEndpoint* endpoint, std::string* error) {
  const std::string quoted = "'" + std::string(text) + "'";
  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Fail(error, "missing ']' after the IPv6 address in " + quoted + kForms);
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest == ":") return Fail(error, "missing port in " + quoted + kForms);
    if (rest[0] != ':') return Fail(error, "expected ':PORT' after ']' in " + quoted);
    port = rest.substr(1);
    if (!IsIpv6(std::string(host))) {
      return Fail(error, "invalid IPv6 address '" + std::string(host) + "' in " + quoted);
    }
  } else {
    const size_t colon = text.rfind(':');
    host = text.substr(0, colon == std::string_view::npos ? text.size() : colon);
    if (IsIpv6(std::string(text)) || IsIpv6(std::string(host))) {
      return Fail(error, "an IPv6 address needs brackets, as in [::1]:6379: " + quoted);
    }
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
      return Fail(error, "missing port in " + quoted + kForms);
    }
    port = text.substr(colon + 1);
    if (host.empty()) return Fail(error, "missing host in " + quoted + kForms);
    if (!IsHostName(host)) {
      return Fail(error, "invalid host '" + std::string(host) + "' in " + quoted);
    }
  }
  if (!ParsePort(port, &endpoint->port)) {
    return Fail(error, "invalid port '" + std::string(port) + "' in " + quoted + " (1-65535)");
  }
  endpoint->host = std::string(host);
  return true;
}

}  // namespace

std::string_view FailureName(RedisFailure failure) {
  switch (failure) {
    case RedisFailure::kNone: return "none";
    case RedisFailure::kNotConnected: return "not_connected";
    case RedisFailure::kTimeout: return "timeout";
    case RedisFailure::kDisconnected: return "disconnected";
  }
  return "unknown";
}

RedisScript::RedisScript(std::string source_text) : source(std::move(source_text)) {
  // Redis names a script by the lower-case hex SHA-1 of its text (EVALSHA).
  const std::string digest = wire::Sha1(source);
  sha1.reserve(2 * digest.size());
  for (char byte : digest) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(byte));
    sha1 += hex;
  }
}

std::optional<RedisEndpoint> RedisEndpoint::Parse(std::string_view text, std::string* error) {
  constexpr std::string_view kUnix = "unix:";
  RedisEndpoint endpoint;
  if (text.substr(0, kUnix.size()) == kUnix) {
    endpoint.unix_path = std::string(text.substr(kUnix.size()));
    if (endpoint.unix_path.empty()) {
      Fail(error, "missing socket path after 'unix:'" + std::string(kForms));
      return std::nullopt;
    }
    if (endpoint.unix_path[0] != '/') {
      // Relative to whatever directory the daemon runs in: never what was meant.
      Fail(error, "the unix socket path must be absolute: '" + std::string(text) + "'");
      return std::nullopt;
    }
    return endpoint;
  }
  if (!ParseTcp(text, &endpoint, error)) return std::nullopt;
  return endpoint;
}

std::string RedisEndpoint::ToString() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

}  // namespace notifyd::cluster
