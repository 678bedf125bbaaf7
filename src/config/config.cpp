#include "config/config.h"

#include <cstdlib>
#include <tuple>

#include "config/config_parser.h"

namespace notifyd::config {

namespace {

constexpr LogLevel kAllLevels[] = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                   LogLevel::kWarn,  LogLevel::kError, LogLevel::kCritical,
                                   LogLevel::kOff};

// Every field, for comparison. A field added to Config must be added here too,
// or operator== (and with it the FormatConfig round-trip test) would miss it.
auto Fields(const Config& c) {
  return std::tie(c.listen_address, c.port, c.echo_enabled, c.cors_origin, c.allowed_hosts,
                  c.allowed_origins, c.trusted_proxies, c.keepalive_timeout_s,
                  c.max_requests_per_connection, c.heartbeat_interval_s, c.heartbeat_timeout_s,
                  c.max_connections, c.max_frame_bytes, c.max_body_bytes,
                  c.max_subscriptions_per_client, c.max_name_bytes, c.shutdown_timeout_s,
                  c.max_queued_bytes_per_client, c.connection_rate, c.connection_burst,
                  c.publish_rate, c.publish_burst, c.max_connections_per_address,
                  c.subscribe_token, c.publish_tokens, c.admin_tokens, c.history_store,
                  c.history_path, c.history_size, c.history_ttl_s, c.history_sync,
                  c.history_recover_max, c.cluster_broker, c.cluster_redis, c.cluster_prefix,
                  c.cluster_timeout_s, c.tls_port, c.tls_certificate, c.tls_key, c.log_level);
}

// PORT as the seed reads it, but strict: only decimal digits, 0..65535.
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kCritical:
      return "critical";
    case LogLevel::kOff:
      return "off";
  }
  return "unknown";
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  for (LogLevel candidate : kAllLevels) {
    if (name == LogLevelName(candidate)) {
      *level = candidate;
      return true;
    }
  }
  return false;
}

bool operator==(const AccessToken& a, const AccessToken& b) {
  return std::tie(a.secret, a.file, a.channels) == std::tie(b.secret, b.file, b.channels);
}

bool operator!=(const AccessToken& a, const AccessToken& b) { return !(a == b); }

bool operator==(const Config& a, const Config& b) { return Fields(a) == Fields(b); }

bool operator!=(const Config& a, const Config& b) { return !(a == b); }

bool BuiltinDefault(Config* out, std::string* error) {
  Config config;
  // An empty PORT counts as set and invalid: the seed's int.parse('') fails too,
  // and silently serving 8080 would hide the mistake.
  if (const char* port = std::getenv("PORT")) {
    if (!ParsePort(port, &config.port)) {
      *error = "PORT: " + QuoteTomlString(port) + " is not a port number (0..65535)";
      return false;
    }
  }
  *out = config;
  return true;
}

}  // namespace notifyd::config
