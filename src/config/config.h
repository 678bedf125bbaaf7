// Every setting of notifyd, its default and its unit. The built-in default
// (a default-constructed Config, with PORT from the environment applied by
// BuiltinDefault()) is what serves when /etc/notifyd.conf does not exist, and
// etc/notifyd.conf ships the same values with a comment for each key, except
// [history] store and path: the package keeps history in an SQLite file in
// the unit's state directory, while the built-in default keeps it in memory
// and writes no file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::config {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

/// Text of a log level as written in the config file ("info", ...).
const char* LogLevelName(LogLevel level);

/// The level whose LogLevelName() is `name` (exact, lower case); false if none.
bool ParseLogLevel(std::string_view name, LogLevel* level);

/// One access token from [auth]. `secret` is the token itself: it is compared
/// (in constant time, by http::Access), never logged, and FormatConfig writes
/// "<redacted>" in its place.
struct AccessToken {
  std::string secret;                 ///< The token; "" = none (only for the subscribe token).
  std::string file;                   ///< token_file as written (secret read from it); "" = literal.
  std::vector<std::string> channels;  ///< [[auth.publish]] patterns ("backups-*"); empty = all.
};

bool operator==(const AccessToken& a, const AccessToken& b);
bool operator!=(const AccessToken& a, const AccessToken& b);

/// Shortest and longest token accepted, in bytes (printable ASCII, no spaces).
inline constexpr size_t kMinTokenBytes = 16;
inline constexpr size_t kMaxTokenBytes = 4096;

/// [history] store.
enum class HistoryStore { kMemory, kSqlite };
/// [history] sync: "commit" answers and delivers after COMMIT; "batch" at
/// once, committed within 100 ms.
enum class HistorySync { kCommit, kBatch };
/// [cluster] broker: "local" (this process alone) or "redis" (every node
/// sharing one Redis; PROTOCOL.md Part 2 "Scale-out").
enum class ClusterBroker { kLocal, kRedis };

struct Config {
  // [server]
  std::string listen_address = "0.0.0.0";  ///< IPv4 or IPv6 literal to bind ("::" for both).
  uint16_t port = 8080;                    ///< TCP port for WebSocket and HTTP; 0 picks a free one.
  bool echo_enabled = true;                ///< Serve the /ws/echo connectivity check.
  std::string cors_origin = "*";           ///< Access-Control-Allow-Origin on every HTTP response.
  /// Host names (besides localhost, 127.0.0.1 and [::1]) under which loopback
  /// clients are trusted without a token: "name" (any port) or "name:port".
  std::vector<std::string> allowed_hosts;
  /// Origins ("scheme://host[:port]", exact) whose pages may make privileged
  /// requests without a token; same-origin requests need no entry.
  std::vector<std::string> allowed_origins;
  /// CIDR ranges of reverse proxies whose X-Forwarded-For and Forwarded
  /// headers name the client; default loopback, [] trusts none.
  std::vector<std::string> trusted_proxies = {"127.0.0.0/8", "::1/128"};
  double keepalive_timeout_s = 15;  ///< Seconds an idle keep-alive HTTP connection is
                                    ///< kept, 0.1..3600.
  uint32_t max_requests_per_connection = 1000;  ///< HTTP requests on one TCP connection,
                                                ///< 1..1000000; the last response says
                                                ///< Connection: close.

  // [heartbeat]
  double heartbeat_interval_s = 30.0;  ///< Seconds between heartbeat pings to each client.
  double heartbeat_timeout_s = 60.0;   ///< Seconds of silence after which a client is closed.

  // [limits]
  uint32_t max_connections = 10000;              ///< Open WebSocket connections; more get 503.
  uint32_t max_frame_bytes = 65536;              ///< Largest client frame; larger closes with 1009.
  uint32_t max_body_bytes = 65536;               ///< Largest HTTP request body; larger gets 413.
  uint32_t max_subscriptions_per_client = 256;   ///< Channels one client may subscribe to.
  uint32_t max_name_bytes = 128;                 ///< Longest client name accepted by set_name.
  double shutdown_timeout_s = 5.0;               ///< Seconds to wait for clients to close at stop.
  uint32_t max_queued_bytes_per_client = 4194304;  ///< Outbound bytes queued for one client
                                                   ///< before it is dropped, 65536..1073741824.
  double connection_rate = 20;     ///< New WebSocket connections per second per client address;
                                   ///< 0 = unlimited, 0..1000000. More get 429.
  uint32_t connection_burst = 100; ///< Connections an address may open at once, 1..1000000.
  double publish_rate = 50;        ///< Publishes per second per token (or per peer address
                                   ///< without a token); 0 = unlimited, 0..1000000. More get 429.
  uint32_t publish_burst = 100;    ///< Publishes at once per token or address, 1..1000000.
  uint32_t max_connections_per_address = 1000;  ///< Concurrent WebSocket connections from one
                                                ///< client address (IPv6: its /64); 0 = unlimited.

  // [auth]: no publish or admin token = the API answers loopback peers only.
  AccessToken subscribe_token;  ///< When set, /ws and /ws/echo need it (or an admin token).
  std::vector<AccessToken> publish_tokens;  ///< [[auth.publish]]: publish to their channels.
  std::vector<AccessToken> admin_tokens;    ///< [[auth.admin]]: publish anywhere, read /api/*.

  // [history]: positions are always counted; this says what is kept and where.
  HistoryStore history_store = HistoryStore::kMemory;  ///< "memory" or "sqlite".
  std::string history_path;        ///< The SQLite file: required, and absolute, with
                                   ///< store = "sqlite"; unused with "memory".
  uint32_t history_size = 100;     ///< Notifications kept per channel, 0..100000.
  double history_ttl_s = 86400;    ///< Seconds a notification is kept, 1..31536000.
  HistorySync history_sync = HistorySync::kCommit;  ///< "commit" or "batch".
  uint32_t history_recover_max = 1000;  ///< Most notifications one resume replays, 1..100000.

  // [cluster]: restart-only, like [history] store.
  ClusterBroker cluster_broker = ClusterBroker::kLocal;
  std::string cluster_redis = "127.0.0.1:6379";  ///< "HOST:PORT", "[V6]:PORT" or "unix:/path".
  std::string cluster_prefix = "notifyd";        ///< Of every Redis key and channel used.
  double cluster_timeout_s = 1.0;  ///< Most a Redis command may take (then 503), 0.05..30.

  // [tls]: a second listener on server.listen serving everything the plain
  // port serves, over TLS 1.2/1.3. The files are read when the daemon
  // starts and again at every reload (a renewed certificate).
  uint16_t tls_port = 0;        ///< TCP port for https:// and wss://; 0 = no TLS listener.
  std::string tls_certificate;  ///< PEM certificate chain, leaf first: absolute, or relative to
                                ///< $CREDENTIALS_DIRECTORY (LoadCredential=). Required with a port.
  std::string tls_key;          ///< PEM private key of the certificate, found the same way.

  // [log]
  LogLevel log_level = LogLevel::kInfo;  ///< trace, debug, info, warn, error, critical, off.
};

/// True when every setting is equal (doubles compared exactly).
bool operator==(const Config& a, const Config& b);
/// True when any setting differs.
bool operator!=(const Config& a, const Config& b);

/// The default config file path.
inline constexpr const char* kDefaultConfigPath = "/etc/notifyd.conf";

/// The built-in default: Config{} with the port taken from the PORT environment
/// variable when it holds a valid port number (as the seed server does).
/// Returns false and fills *error when PORT is set but invalid.
bool BuiltinDefault(Config* out, std::string* error);

}  // namespace notifyd::config
