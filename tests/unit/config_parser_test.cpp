#include "config/config_parser.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "config/config.h"
#include "support/scoped_env.h"

namespace notifyd::config {

// Lets gtest print a Config in failure messages.
void PrintTo(const Config& config, std::ostream* os) { *os << "\n" << FormatConfig(config); }

namespace {

using testing_support::ScopedEnv;

constexpr const char* kFile = "notifyd.conf";

// Parses `text` as kFile; returns the error, or "" on success.
std::string ParseError(const std::string& text) {
  Config config;
  std::string error;
  if (ParseConfigText(text, kFile, &config, &error)) return "";
  return error;
}

Config ParseOk(const std::string& text) {
  Config config;
  std::string error;
  EXPECT_TRUE(ParseConfigText(text, kFile, &config, &error)) << error;
  return config;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// A Config with every field away from its default.
Config NonDefault() {
  Config c;
  c.listen_address = "::1";
  c.port = 0;
  c.echo_enabled = false;
  c.cors_origin = "https://app.example.com";
  c.allowed_hosts = {"notify.example.com", "box.lan:8080"};
  c.allowed_origins = {"https://app.example.com"};
  c.trusted_proxies = {"10.0.0.0/8", "fd00::/8", "192.0.2.1"};
  c.keepalive_timeout_s = 2.5;
  c.max_requests_per_connection = 7;
  c.heartbeat_interval_s = 0.25;
  c.heartbeat_timeout_s = 7.5;
  c.max_connections = 12;
  c.max_frame_bytes = 4096;
  c.max_body_bytes = 1048576;
  c.max_subscriptions_per_client = 3;
  c.max_name_bytes = 64;
  c.shutdown_timeout_s = 0.1;
  c.max_queued_bytes_per_client = 65536;
  c.connection_rate = 0.5;
  c.connection_burst = 7;
  c.publish_rate = 0;
  c.publish_burst = 1000000;
  c.max_connections_per_address = 0;
  c.history_store = HistoryStore::kSqlite;
  c.history_path = "/srv/notifyd/history.db";
  c.history_size = 0;
  c.history_ttl_s = 3600.5;
  c.history_sync = HistorySync::kBatch;
  c.history_recover_max = 1;
  c.cluster_redis = "unix:/run/redis/redis.sock";
  c.cluster_prefix = "app-1.x_y";
  c.cluster_timeout_s = 0.25;
  c.tls_port = 8443;
  c.tls_certificate = "/etc/notifyd/tls/fullchain.pem";
  c.tls_key = "/etc/notifyd/tls/privkey.pem";
  c.log_level = LogLevel::kDebug;
  return c;
}

// A temporary file holding `contents`, removed at the end of the scope.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string pattern = testing::TempDir() + "notifyd_conf_XXXXXX";
    const int fd = mkstemp(pattern.data());
    EXPECT_GE(fd, 0);
    path_ = pattern;
    EXPECT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- Good files --------------------------------------------------------------

TEST(ConfigParserTest, ParsesEveryKey) {
  const Config config = ParseOk(R"(
[server]
listen = "::1"
port = 0
echo = false
cors_origin = "https://app.example.com"
allowed_hosts = ["notify.example.com", "box.lan:8080"]
allowed_origins = ["https://app.example.com"]
trusted_proxies = ["10.0.0.0/8", "fd00::/8", "192.0.2.1"]
keepalive_timeout = 2.5
max_requests_per_connection = 7

[heartbeat]
interval = 0.25
timeout = 7.5

[limits]
max_connections = 12
max_frame_bytes = 4096
max_body_bytes = 1048576
max_subscriptions_per_client = 3
max_name_bytes = 64
shutdown_timeout = 0.1
max_queued_bytes_per_client = 65536
connection_rate = 0.5
connection_burst = 7
publish_rate = 0
publish_burst = 1000000
max_connections_per_address = 0

[history]
store = "sqlite"
path = "/srv/notifyd/history.db"
size = 0
ttl = 3600.5
sync = "batch"
recover_max = 1

[cluster]
broker = "local"
redis = "unix:/run/redis/redis.sock"
prefix = "app-1.x_y"
timeout = 0.25

[tls]
port = 8443
certificate = "/etc/notifyd/tls/fullchain.pem"
key = "/etc/notifyd/tls/privkey.pem"

[log]
level = "debug"
)");
  EXPECT_EQ(config, NonDefault());
}

TEST(ConfigParserTest, EmptyFileGivesDefaults) {
  EXPECT_EQ(ParseOk(""), Config{});
  EXPECT_EQ(ParseOk("# only a comment\n\n"), Config{});
  EXPECT_EQ(ParseOk("[server]\n[heartbeat]\n[limits]\n[history]\n[log]\n"), Config{});
}

TEST(ConfigParserTest, PartialFileKeepsOtherDefaults) {
  const Config config = ParseOk("[server]\nport = 9000\n[log]\nlevel = \"warn\"\n");
  Config expected;
  expected.port = 9000;
  expected.log_level = LogLevel::kWarn;
  EXPECT_EQ(config, expected);
}

TEST(ConfigParserTest, StartsFromDefaultsNotFromOutput) {
  Config config = NonDefault();
  std::string error;
  ASSERT_TRUE(ParseConfigText("[server]\nport = 1\n", kFile, &config, &error)) << error;
  Config expected;
  expected.port = 1;
  EXPECT_EQ(config, expected);
}

TEST(ConfigParserTest, FailureLeavesOutputUnchanged) {
  Config config = NonDefault();
  std::string error;
  EXPECT_FALSE(ParseConfigText("[server]\nport = 1\nlisten = 5\n", kFile, &config, &error));
  EXPECT_EQ(config, NonDefault());
}

TEST(ConfigParserTest, AcceptsOtherTomlSpellings) {
  // Inline tables, dotted keys and integers where seconds are expected.
  Config config = ParseOk(
      "server = { port = 0x1F90, echo = false }\n"
      "heartbeat.interval = 2\n"
      "heartbeat.timeout = 3\n");
  Config expected;
  expected.port = 8080;
  expected.echo_enabled = false;
  expected.heartbeat_interval_s = 2;
  expected.heartbeat_timeout_s = 3;
  EXPECT_EQ(config, expected);
}

TEST(ConfigParserTest, AcceptsAddresses) {
  for (const char* address :
       {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "2001:db8::42", "::ffff:192.0.2.1"}) {
    EXPECT_EQ(ParseOk(std::string("[server]\nlisten = \"") + address + "\"\n").listen_address,
              address);
  }
}

TEST(ConfigParserTest, AcceptsEveryLogLevel) {
  const LogLevel levels[] = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                             LogLevel::kWarn,  LogLevel::kError, LogLevel::kCritical,
                             LogLevel::kOff};
  for (LogLevel level : levels) {
    const std::string text = std::string("[log]\nlevel = \"") + LogLevelName(level) + "\"\n";
    EXPECT_EQ(ParseOk(text).log_level, level) << text;
    LogLevel parsed = LogLevel::kInfo;
    EXPECT_TRUE(ParseLogLevel(LogLevelName(level), &parsed));
    EXPECT_EQ(parsed, level);
  }
  LogLevel unchanged = LogLevel::kWarn;
  EXPECT_FALSE(ParseLogLevel("INFO", &unchanged));
  EXPECT_EQ(unchanged, LogLevel::kWarn);
}

// --- Errors: names and lines -------------------------------------------------

TEST(ConfigParserTest, UnknownSection) {
  const std::string error = ParseError("# notifyd\n\n[sever]\nport = 1\n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:3: unknown section [sever]")) << error;
  EXPECT_NE(error.find("did you mean [server]?"), std::string::npos) << error;

  const std::string far = ParseError("[server]\n[storage]\n");
  EXPECT_TRUE(StartsWith(far, "notifyd.conf:2: unknown section [storage]")) << far;
  EXPECT_NE(far.find("[server], [heartbeat], [limits], [auth], [history], [cluster], [tls], [log]"),
            std::string::npos)
      << far;
}

TEST(ConfigParserTest, UnknownSectionWithOddNameIsQuoted) {
  const std::string error = ParseError("[\"a\\nb\"]\n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:1: unknown section [\"a\\nb\"]")) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(ConfigParserTest, UnknownKey) {
  const std::string error = ParseError("[server]\nlisten = \"::\"\n\n\nprot = 8080\n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:5: unknown key 'prot' in [server]")) << error;
  EXPECT_NE(error.find("did you mean 'port'?"), std::string::npos) << error;

  const std::string misplaced = ParseError("[limits]\nport = 1\n");
  EXPECT_TRUE(StartsWith(misplaced, "notifyd.conf:2: unknown key 'port' in [limits]")) << misplaced;
  EXPECT_NE(misplaced.find("belongs in [server]"), std::string::npos) << misplaced;

  const std::string far = ParseError("[log]\nlevel = \"info\"\nfile = \"/var/log/x\"\n");
  EXPECT_TRUE(StartsWith(far, "notifyd.conf:3: unknown key 'file' in [log]")) << far;

  EXPECT_EQ(ParseError("[history]\nsotre = \"sqlite\"\n"),
            "notifyd.conf:2: unknown key 'sotre' in [history]; did you mean 'store'?");
  const std::string history = ParseError("[history]\nfile = \"/h.db\"\n");
  EXPECT_EQ(history,
            "notifyd.conf:2: unknown key 'file' in [history]; known keys: store, path, size, "
            "ttl, sync, recover_max");
}

TEST(ConfigParserTest, KeyOutsideASection) {
  const std::string error = ParseError("port = 8080\n[server]\n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:1: unknown key 'port' in (top level)")) << error;
  EXPECT_NE(error.find("belongs in [server]"), std::string::npos) << error;

  const std::string other = ParseError("\nverbose = true\n");
  EXPECT_TRUE(StartsWith(other, "notifyd.conf:2: unknown key 'verbose' in (top level)")) << other;
}

TEST(ConfigParserTest, SubtableInsideASectionIsAnUnknownKey) {
  const std::string error = ParseError("[server]\nport = 1\n[server.tls]\ncert = \"x\"\n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:3: unknown key 'tls' in [server]")) << error;
}

TEST(ConfigParserTest, SectionMustBeATable) {
  EXPECT_EQ(ParseError("\nserver = 5\n"),
            "notifyd.conf:2: [server] must be a table, got an integer");
  EXPECT_EQ(ParseError("[[limits]]\nmax_connections = 5\n"),
            "notifyd.conf:1: [limits] must be a table, got an array");
}

TEST(ConfigParserTest, WrongTypes) {
  EXPECT_EQ(ParseError("[server]\n\n\n\nport = \"8080\"\n"),
            "notifyd.conf:5: server.port: expected an integer, got a string");
  EXPECT_EQ(ParseError("[server]\nport = 8080.0\n"),
            "notifyd.conf:2: server.port: expected an integer, got a float");
  EXPECT_EQ(ParseError("[server]\nlisten = 0\n"),
            "notifyd.conf:2: server.listen: expected a string, got an integer");
  EXPECT_EQ(ParseError("[server]\necho = \"yes\"\n"),
            "notifyd.conf:2: server.echo: expected a boolean (true or false), got a string");
  EXPECT_EQ(ParseError("[server]\necho = 1\n"),
            "notifyd.conf:2: server.echo: expected a boolean (true or false), got an integer");
  EXPECT_EQ(ParseError("[server]\ncors_origin = [\"*\"]\n"),
            "notifyd.conf:2: server.cors_origin: expected a string, got an array");
  EXPECT_EQ(ParseError("[heartbeat]\ninterval = \"30s\"\n"),
            "notifyd.conf:2: heartbeat.interval: expected a number of seconds (integer or "
            "float), got a string");
  EXPECT_EQ(ParseError("[heartbeat]\ntimeout = true\n"),
            "notifyd.conf:2: heartbeat.timeout: expected a number of seconds (integer or "
            "float), got a boolean");
  EXPECT_EQ(ParseError("[limits]\nmax_connections = 1.5\n"),
            "notifyd.conf:2: limits.max_connections: expected an integer, got a float");
  EXPECT_EQ(ParseError("[limits]\nshutdown_timeout = 1979-05-27\n"),
            "notifyd.conf:2: limits.shutdown_timeout: expected a number of seconds (integer "
            "or float), got a date");
  EXPECT_EQ(ParseError("[log]\nlevel = 2\n"),
            "notifyd.conf:2: log.level: expected a string, got an integer");
  EXPECT_EQ(ParseError("[log]\nlevel = { name = \"info\" }\n"),
            "notifyd.conf:2: log.level: expected a string, got a table");
  EXPECT_EQ(ParseError("[limits]\npublish_rate = \"fast\"\n"),
            "notifyd.conf:2: limits.publish_rate: expected a number per second (integer or "
            "float), got a string");
  EXPECT_EQ(ParseError("[limits]\nconnection_burst = 1.5\n"),
            "notifyd.conf:2: limits.connection_burst: expected an integer, got a float");
  EXPECT_EQ(ParseError("[history]\nstore = 1\n"),
            "notifyd.conf:2: history.store: expected a string, got an integer");
  EXPECT_EQ(ParseError("[history]\nstore = [\"sqlite\"]\n"),
            "notifyd.conf:2: history.store: expected a string, got an array");
  EXPECT_EQ(ParseError("[history]\npath = 5\n"),
            "notifyd.conf:2: history.path: expected a string, got an integer");
  EXPECT_EQ(ParseError("[history]\npath = { file = \"/a\" }\n"),
            "notifyd.conf:2: history.path: expected a string, got a table");
  EXPECT_EQ(ParseError("[history]\nsize = 1.5\n"),
            "notifyd.conf:2: history.size: expected an integer, got a float");
  EXPECT_EQ(ParseError("[history]\nsize = \"100\"\n"),
            "notifyd.conf:2: history.size: expected an integer, got a string");
  EXPECT_EQ(ParseError("[history]\nttl = \"1d\"\n"),
            "notifyd.conf:2: history.ttl: expected a number of seconds (integer or float), got "
            "a string");
  EXPECT_EQ(ParseError("[history]\nttl = 12:00:00\n"),
            "notifyd.conf:2: history.ttl: expected a number of seconds (integer or float), got "
            "a time");
  EXPECT_EQ(ParseError("[history]\nsync = true\n"),
            "notifyd.conf:2: history.sync: expected a string, got a boolean");
  EXPECT_EQ(ParseError("[history]\nrecover_max = 10.0\n"),
            "notifyd.conf:2: history.recover_max: expected an integer, got a float");
  EXPECT_EQ(ParseError("[history]\nrecover_max = false\n"),
            "notifyd.conf:2: history.recover_max: expected an integer, got a boolean");
}

// Every numeric key: both ends accepted, one step past each end refused.
struct RangeCase {
  const char* section;
  const char* key;
  const char* below;  // just under the minimum
  const char* min;
  const char* max;
  const char* above;  // just over the maximum
  const char* range;  // as the message shows it
};

class ConfigRangeTest : public testing::TestWithParam<RangeCase> {};

std::string OneKey(const RangeCase& c, const char* value) {
  std::string text = std::string("[") + c.section + "]\n" + c.key + " = " + value + "\n";
  // Keep the heartbeat relation out of the way of the range under test.
  if (std::string(c.key) == "interval") text += "timeout = 86400\n";
  if (std::string(c.key) == "timeout") text += "interval = 0.05\n";
  return text;
}

TEST_P(ConfigRangeTest, AcceptsBothEndsAndRefusesBeyond) {
  const RangeCase& c = GetParam();
  const std::string name = std::string(c.section) + "." + c.key;
  for (const char* good : {c.min, c.max}) {
    const std::string error = ParseError(OneKey(c, good));
    if (name == "heartbeat.interval" && good == c.max) {
      // In range, but no timeout can then be greater.
      EXPECT_NE(error.find("must be greater than"), std::string::npos) << error;
    } else if (name == "heartbeat.timeout" && good == c.min) {
      // In range, but no interval can then be smaller.
      EXPECT_NE(error.find("must be greater than"), std::string::npos) << error;
    } else {
      EXPECT_EQ(error, "") << name << " = " << good;
    }
  }
  for (const char* bad : {c.below, c.above}) {
    EXPECT_EQ(ParseError(OneKey(c, bad)),
              std::string("notifyd.conf:2: ") + name + ": " + bad + " is out of range " + c.range);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryNumericKey, ConfigRangeTest,
    testing::Values(
        RangeCase{"server", "port", "-1", "0", "65535", "65536", "(0..65535)"},
        RangeCase{"heartbeat", "interval", "0.04", "0.05", "86400", "86400.5", "(0.05..86400)"},
        RangeCase{"heartbeat", "timeout", "0", "0.05", "86400", "86401", "(0.05..86400)"},
        RangeCase{"limits", "max_connections", "0", "1", "1000000", "1000001", "(1..1000000)"},
        RangeCase{"limits", "max_frame_bytes", "255", "256", "16777216", "16777217",
                  "(256..16777216)"},
        RangeCase{"limits", "max_body_bytes", "255", "256", "16777216", "16777217",
                  "(256..16777216)"},
        RangeCase{"limits", "max_subscriptions_per_client", "0", "1", "100000", "100001",
                  "(1..100000)"},
        RangeCase{"limits", "max_name_bytes", "0", "1", "4096", "4097", "(1..4096)"},
        RangeCase{"limits", "shutdown_timeout", "0.09", "0.1", "300", "300.5", "(0.1..300)"},
        RangeCase{"limits", "max_queued_bytes_per_client", "65535", "65536", "1073741824",
                  "1073741825", "(65536..1073741824)"},
        RangeCase{"limits", "connection_rate", "-0.5", "0", "1000000", "1000000.5",
                  "(0..1000000)"},
        RangeCase{"limits", "connection_burst", "0", "1", "1000000", "1000001", "(1..1000000)"},
        RangeCase{"limits", "publish_rate", "-1", "0", "1000000", "1000001", "(0..1000000)"},
        RangeCase{"limits", "publish_burst", "0", "1", "1000000", "1000001", "(1..1000000)"},
        RangeCase{"limits", "max_connections_per_address", "-1", "0", "1000000", "1000001",
                  "(0..1000000)"},
        RangeCase{"server", "keepalive_timeout", "0.09", "0.1", "3600", "3600.5",
                  "(0.1..3600)"},
        RangeCase{"server", "max_requests_per_connection", "0", "1", "1000000", "1000001",
                  "(1..1000000)"},
        RangeCase{"history", "size", "-1", "0", "100000", "100001", "(0..100000)"},
        RangeCase{"history", "ttl", "0.5", "1", "31536000", "31536000.5", "(1..31536000)"},
        RangeCase{"history", "recover_max", "0", "1", "100000", "100001", "(1..100000)"}));

TEST(ConfigParserTest, OutOfRangeMessage) {
  EXPECT_EQ(ParseError("[server]\n\n\n\nport = 70000\n"),
            "notifyd.conf:5: server.port: 70000 is out of range (0..65535)");
  EXPECT_EQ(ParseError("[server]\nport = -9223372036854775808\n"),
            "notifyd.conf:2: server.port: -9223372036854775808 is out of range (0..65535)");
  EXPECT_EQ(ParseError("[limits]\nmax_connections = 4294967297\n"),
            "notifyd.conf:2: limits.max_connections: 4294967297 is out of range (1..1000000)");
}

TEST(ConfigParserTest, RefusesNanAndInfinity) {
  EXPECT_EQ(ParseError("[heartbeat]\ninterval = nan\n"),
            "notifyd.conf:2: heartbeat.interval: nan is out of range (0.05..86400)");
  EXPECT_EQ(ParseError("[limits]\nshutdown_timeout = inf\n"),
            "notifyd.conf:2: limits.shutdown_timeout: inf is out of range (0.1..300)");
  EXPECT_EQ(ParseError("[heartbeat]\ntimeout = -inf\n"),
            "notifyd.conf:2: heartbeat.timeout: -inf is out of range (0.05..86400)");
}

TEST(ConfigParserTest, BadLogLevel) {
  EXPECT_EQ(ParseError("[server]\n\n[heartbeat]\n\n[limits]\n\n\n[log]\nlevel = \"loud\"\n"),
            "notifyd.conf:9: log.level: \"loud\" is not one of trace, debug, info, warn, "
            "error, critical, off");
  EXPECT_EQ(ParseError("[log]\nlevel = \"INFO\"\n"),
            "notifyd.conf:2: log.level: \"INFO\" is not one of trace, debug, info, warn, "
            "error, critical, off");
}

TEST(ConfigParserTest, BadAddress) {
  EXPECT_EQ(ParseError("[server]\nlisten = \"1.2.3\"\n"),
            "notifyd.conf:2: server.listen: \"1.2.3\" is not an IPv4 or IPv6 address");
  for (const char* bad : {"", "localhost", "256.1.1.1", "::g", "1.2.3.4:80", " 1.2.3.4",
                          "fe80::1%eth0", "1.2.3.4\\u0000x"}) {
    const std::string error = ParseError(std::string("[server]\nlisten = \"") + bad + "\"\n");
    EXPECT_TRUE(StartsWith(error, "notifyd.conf:2: server.listen: ")) << bad << ": " << error;
    EXPECT_NE(error.find("is not an IPv4 or IPv6 address"), std::string::npos) << error;
  }
}

TEST(ConfigParserTest, BadCorsOrigin) {
  EXPECT_TRUE(StartsWith(ParseError("[server]\ncors_origin = \"\"\n"),
                         "notifyd.conf:2: server.cors_origin: must not be empty"));
  // CR/LF would let the config inject response headers.
  EXPECT_EQ(ParseError("[server]\ncors_origin = \"*\\r\\nSet-Cookie: a=b\"\n"),
            "notifyd.conf:2: server.cors_origin: \"*\\r\\nSet-Cookie: a=b\" contains a "
            "control character");
  EXPECT_EQ(ParseError("[server]\ncors_origin = \"a\\u0000b\"\n"),
            "notifyd.conf:2: server.cors_origin: \"a\\u0000b\" contains a control character");
  EXPECT_EQ(ParseError("[server]\ncors_origin = \"a\\tb\"\n"),
            "notifyd.conf:2: server.cors_origin: \"a\\tb\" contains a control character");
}

TEST(ConfigParserTest, ListsAreChecked) {
  EXPECT_EQ(ParseError("[server]\nallowed_hosts = \"localhost\"\n"),
            "notifyd.conf:2: server.allowed_hosts: expected an array, got a string");
  EXPECT_EQ(ParseError("[server]\nallowed_origins = [1]\n"),
            "notifyd.conf:2: server.allowed_origins: expected strings, got an integer");
  EXPECT_EQ(ParseOk("[server]\ntrusted_proxies = []\n").trusted_proxies,
            std::vector<std::string>{});
  EXPECT_EQ(ParseOk("[server]\nallowed_hosts = [\"[::2]:80\", \"a.example\"]\n").allowed_hosts,
            (std::vector<std::string>{"[::2]:80", "a.example"}));
}

// A bad entry of a multi-line list is reported at its own line.
TEST(ConfigParserTest, BadTrustedProxyHasItsLine) {
  EXPECT_EQ(ParseError("[server]\ntrusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n"),
            "notifyd.conf:4: server.trusted_proxies: \"10.0.0.0/33\": the prefix length after "
            "'/' must be 0..32");
  for (const char* bad : {"", "proxy.lan", "10.0.0.0/", "10.0.0.0/8x", "::1/129", "1.2.3/24",
                          "10.0.0.0/-1", "::ffff:10.0.0.0/95", "10.0.0.0 /8"}) {
    const std::string error =
        ParseError(std::string("[server]\ntrusted_proxies = [\"") + bad + "\"]\n");
    EXPECT_TRUE(StartsWith(error, "notifyd.conf:2: server.trusted_proxies: \"")) << bad << error;
  }
  for (const char* good : {"0.0.0.0/0", "::/0", "192.0.2.1", "2001:db8::/32",
                           "::ffff:10.0.0.0/104", "127.0.0.1/8"}) {
    EXPECT_EQ(ParseError(std::string("[server]\ntrusted_proxies = [\"") + good + "\"]\n"), "")
        << good;
  }
}

TEST(ConfigParserTest, BadAllowedHostOrOrigin) {
  for (const char* bad : {"", "a b", "evil.example/path", "user@host", "host:", "host:abc",
                          "[::1", "host:123456"}) {
    const std::string error =
        ParseError(std::string("[server]\nallowed_hosts = [\"") + bad + "\"]\n");
    EXPECT_TRUE(StartsWith(error, "notifyd.conf:2: server.allowed_hosts: ")) << bad << error;
    EXPECT_NE(error.find("is not a host name"), std::string::npos) << error;
  }
  for (const char* bad : {"app.example.com", "https://app.example.com/", "ftp://a.example",
                          "HTTPS://a.example", "https://", "https://a.example/x", "*"}) {
    const std::string error =
        ParseError(std::string("[server]\nallowed_origins = [\"") + bad + "\"]\n");
    EXPECT_TRUE(StartsWith(error, "notifyd.conf:2: server.allowed_origins: ")) << bad << error;
    EXPECT_NE(error.find("is not an origin"), std::string::npos) << error;
  }
  EXPECT_TRUE(StartsWith(ParseError("[server]\nallowed_origins = [\"null\"]\n"),
                         "notifyd.conf:2: server.allowed_origins: \"null\" cannot be allowed"));
  EXPECT_EQ(ParseError("[server]\nallowed_origins = [\"http://localhost:3000\", "
                       "\"https://[::1]\"]\n"),
            "");
}

TEST(ConfigParserTest, SyntaxErrorHasItsLine) {
  const std::string error = ParseError("[server]\nport = 1\nlisten = \n");
  EXPECT_TRUE(StartsWith(error, "notifyd.conf:3: ")) << error;
  EXPECT_GT(error.size(), std::string("notifyd.conf:3: ").size());

  const std::string duplicate = ParseError("[server]\nport = 1\n\nport = 2\n");
  EXPECT_TRUE(StartsWith(duplicate, "notifyd.conf:4: ")) << duplicate;

  const std::string unclosed = ParseError("\n\n[server\n");
  EXPECT_TRUE(StartsWith(unclosed, "notifyd.conf:3: ")) << unclosed;

  const std::string bad_utf8 = ParseError("[log]\nlevel = \"\xff\"\n");
  EXPECT_TRUE(StartsWith(bad_utf8, "notifyd.conf:2: ")) << bad_utf8;
}

TEST(ConfigParserTest, ReportsTheEarliestProblem) {
  // Keys are visited in name order; the message must still name the first line.
  EXPECT_EQ(ParseError("[server]\nport = \"x\"\nlisten = 5\n"),
            "notifyd.conf:2: server.port: expected an integer, got a string");
  EXPECT_TRUE(StartsWith(ParseError("[zzz]\n[log]\nlevel = 1\n[aaa]\n"),
                         "notifyd.conf:1: unknown section [zzz]"));
}

TEST(ConfigParserTest, TimeoutMustExceedInterval) {
  EXPECT_EQ(ParseError("[heartbeat]\ninterval = 30\ntimeout = 10\n"),
            "notifyd.conf:3: heartbeat.timeout (10) must be greater than heartbeat.interval (30)");
  EXPECT_EQ(ParseError("[heartbeat]\ntimeout = 2.5\n\ninterval = 2.5\n"),
            "notifyd.conf:2: heartbeat.timeout (2.5) must be greater than heartbeat.interval "
            "(2.5)");
  // Without a timeout in the file, the interval's line is the one to fix.
  EXPECT_EQ(ParseError("[heartbeat]\n\ninterval = 90\n"),
            "notifyd.conf:3: heartbeat.timeout (60) must be greater than heartbeat.interval (90)");
  EXPECT_EQ(ParseError("[heartbeat]\ntimeout = 20\n"),
            "notifyd.conf:2: heartbeat.timeout (20) must be greater than heartbeat.interval (30)");
  EXPECT_EQ(ParseOk("[heartbeat]\ninterval = 1\ntimeout = 1.001\n").heartbeat_timeout_s, 1.001);
}

// --- [history] ---------------------------------------------------------------

TEST(ConfigParserTest, HistoryDefaultsAreMemoryWithoutAFile) {
  const Config config = ParseOk("[history]\n");
  EXPECT_EQ(config.history_store, HistoryStore::kMemory);
  EXPECT_EQ(config.history_path, "");
  EXPECT_EQ(config.history_size, 100u);
  EXPECT_EQ(config.history_ttl_s, 86400);
  EXPECT_EQ(config.history_sync, HistorySync::kCommit);
  EXPECT_EQ(config.history_recover_max, 1000u);
  EXPECT_EQ(config, Config{});
}

TEST(ConfigParserTest, HistoryStoreAndSyncNames) {
  const Config sqlite = ParseOk("[history]\nstore = \"sqlite\"\npath = \"/var/lib/n/h.db\"\n");
  EXPECT_EQ(sqlite.history_store, HistoryStore::kSqlite);
  EXPECT_EQ(sqlite.history_path, "/var/lib/n/h.db");
  EXPECT_EQ(ParseOk("[history]\nstore = \"memory\"\n").history_store, HistoryStore::kMemory);
  EXPECT_EQ(ParseOk("[history]\nsync = \"batch\"\n").history_sync, HistorySync::kBatch);
  EXPECT_EQ(ParseOk("[history]\nsync = \"commit\"\n").history_sync, HistorySync::kCommit);

  EXPECT_EQ(ParseError("[history]\n\nstore = \"disk\"\n"),
            "notifyd.conf:3: history.store: \"disk\" is not one of memory, sqlite");
  EXPECT_EQ(ParseError("[history]\nstore = \"SQLite\"\n"),
            "notifyd.conf:2: history.store: \"SQLite\" is not one of memory, sqlite");
  EXPECT_EQ(ParseError("[history]\nstore = \"\"\n"),
            "notifyd.conf:2: history.store: \"\" is not one of memory, sqlite");
  EXPECT_EQ(ParseError("[history]\nsync = \"always\"\n"),
            "notifyd.conf:2: history.sync: \"always\" is not one of commit, batch");
  EXPECT_EQ(ParseError("[history]\nsync = \"commit \"\n"),
            "notifyd.conf:2: history.sync: \"commit \" is not one of commit, batch");
}

TEST(ConfigParserTest, HistoryTtlIsSecondsAsIntegerOrFloat) {
  EXPECT_EQ(ParseOk("[history]\nttl = 60\n").history_ttl_s, 60);
  EXPECT_EQ(ParseOk("[history]\nttl = 1.5\n").history_ttl_s, 1.5);
  EXPECT_EQ(ParseOk("[history]\nttl = 3e4\n").history_ttl_s, 30000);
  EXPECT_EQ(ParseError("[history]\nttl = 0\n"),
            "notifyd.conf:2: history.ttl: 0 is out of range (1..31536000)");
  EXPECT_EQ(ParseError("[history]\nttl = nan\n"),
            "notifyd.conf:2: history.ttl: nan is out of range (1..31536000)");
}

TEST(ConfigParserTest, SqliteNeedsAPath) {
  // The key to add is named, at the line that asked for SQLite.
  EXPECT_EQ(ParseError("[history]\nsize = 10\nstore = \"sqlite\"\n"),
            "notifyd.conf:3: history.path: required with store = \"sqlite\" (an absolute file "
            "name, such as \"/var/lib/notifyd/history.db\")");
  EXPECT_EQ(ParseError("history = { store = \"sqlite\" }\n"),
            "notifyd.conf:1: history.path: required with store = \"sqlite\" (an absolute file "
            "name, such as \"/var/lib/notifyd/history.db\")");
}

TEST(ConfigParserTest, SqlitePathMustBeAbsolute) {
  EXPECT_EQ(ParseError("[history]\nstore = \"sqlite\"\n\npath = \"history.db\"\n"),
            "notifyd.conf:4: history.path: \"history.db\" is not an absolute path, which "
            "store = \"sqlite\" requires");
  EXPECT_EQ(ParseError("[history]\npath = \"./var/h.db\"\nstore = \"sqlite\"\n"),
            "notifyd.conf:2: history.path: \"./var/h.db\" is not an absolute path, which "
            "store = \"sqlite\" requires");
  EXPECT_EQ(ParseError("[history]\nstore = \"sqlite\"\npath = \"~/h.db\"\n"),
            "notifyd.conf:3: history.path: \"~/h.db\" is not an absolute path, which "
            "store = \"sqlite\" requires");
}

TEST(ConfigParserTest, HistoryPathIsAllowedButUnusedWithMemory) {
  const Config absolute = ParseOk("[history]\nstore = \"memory\"\npath = \"/var/lib/h.db\"\n");
  EXPECT_EQ(absolute.history_store, HistoryStore::kMemory);
  EXPECT_EQ(absolute.history_path, "/var/lib/h.db");
  // Only the SQLite store reads it, so only it needs it absolute.
  EXPECT_EQ(ParseOk("[history]\npath = \"h.db\"\n").history_path, "h.db");
}

TEST(ConfigParserTest, HistoryPathMustNameAFile) {
  EXPECT_EQ(ParseError("[history]\npath = \"\"\n"),
            "notifyd.conf:2: history.path: must not be empty (leave the key out instead)");
  EXPECT_EQ(ParseError("[history]\nstore = \"sqlite\"\npath = \"\"\n"),
            "notifyd.conf:3: history.path: must not be empty (leave the key out instead)");
  // SQLite would open the name only up to the NUL: another file.
  EXPECT_EQ(ParseError("[history]\nstore = \"sqlite\"\npath = \"/var/h.db\\u0000x\"\n"),
            "notifyd.conf:3: history.path: \"/var/h.db\\u0000x\" contains a NUL character");
}

// --- The shipped file and FormatConfig ---------------------------------------

const std::string kShippedConfig = std::string(NOTIFYD_SOURCE_DIR) + "/etc/notifyd.conf";

// What the shipped file sets: the built-in default, except that the package
// keeps history in SQLite in the unit's state directory.
Config Shipped() {
  Config c;
  c.history_store = HistoryStore::kSqlite;
  c.history_path = "/var/lib/notifyd/history.db";
  return c;
}

TEST(ConfigParserTest, ShippedConfigIsTheBuiltinDefaultButForTheHistoryStore) {
  Config config = NonDefault();
  std::string error;
  ASSERT_TRUE(LoadConfigFile(kShippedConfig, &config, &error)) << error;
  EXPECT_EQ(config, Shipped());
}

TEST(ConfigParserTest, ShippedConfigSetsEveryKey) {
  // Every "key = value" line FormatConfig writes appears, uncommented, in the file.
  std::string shipped;
  {
    FILE* file = std::fopen(kShippedConfig.c_str(), "r");
    ASSERT_NE(file, nullptr);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) shipped.append(buffer, n);
    std::fclose(file);
  }
  std::istringstream lines(FormatConfig(Shipped()));
  std::string line;
  int keys = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '[' || line[0] == '#') continue;
    const std::string key = line.substr(0, line.find(" = ") + 3);
    EXPECT_NE(shipped.find("\n" + key), std::string::npos) << key;
    ++keys;
  }
  EXPECT_EQ(keys, 35);
}

TEST(ConfigParserTest, FormatConfigRoundTrips) {
  for (const Config& original : {Config{}, NonDefault(), Shipped()}) {
    const std::string text = FormatConfig(original);
    EXPECT_EQ(ParseOk(text), original) << text;
  }
  Config odd = NonDefault();
  odd.cors_origin = "https://\"quoted\"\\back.example/\xc3\xa9";
  odd.heartbeat_interval_s = 0.1 + 0.2;  // needs all 17 digits
  odd.heartbeat_timeout_s = 86400;
  odd.shutdown_timeout_s = 299.99999999999994;
  odd.port = 65535;
  odd.log_level = LogLevel::kOff;
  odd.history_store = HistoryStore::kMemory;
  odd.history_path = "relative/\"h\".db";  // unused with memory, so not refused
  odd.history_ttl_s = 1 + 1e-9;
  odd.history_size = 100000;
  const std::string text = FormatConfig(odd);
  EXPECT_EQ(ParseOk(text), odd) << text;
}

TEST(ConfigParserTest, FormatConfigListsEveryKeyBySection) {
  EXPECT_EQ(FormatConfig(Config{}),
            "[server]\n"
            "listen = \"0.0.0.0\"\n"
            "port = 8080\n"
            "echo = true\n"
            "cors_origin = \"*\"\n"
            "allowed_hosts = []\n"
            "allowed_origins = []\n"
            "trusted_proxies = [\"127.0.0.0/8\", \"::1/128\"]\n"
            "keepalive_timeout = 15.0\n"
            "max_requests_per_connection = 1000\n"
            "\n"
            "[heartbeat]\n"
            "interval = 30.0\n"
            "timeout = 60.0\n"
            "\n"
            "[limits]\n"
            "max_connections = 10000\n"
            "max_frame_bytes = 65536\n"
            "max_body_bytes = 65536\n"
            "max_subscriptions_per_client = 256\n"
            "max_name_bytes = 128\n"
            "shutdown_timeout = 5.0\n"
            "max_queued_bytes_per_client = 4194304\n"
            "connection_rate = 20.0\n"
            "connection_burst = 100\n"
            "publish_rate = 50.0\n"
            "publish_burst = 100\n"
            "max_connections_per_address = 1000\n"
            "\n"
            "[auth]\n"
            "# no tokens: /ws is open, the API answers loopback peers only\n"
            "\n"
            "[history]\n"
            "store = \"memory\"\n"
            "size = 100\n"
            "ttl = 86400.0\n"
            "sync = \"commit\"\n"
            "recover_max = 1000\n"
            "\n"
            "[cluster]\n"
            "broker = \"local\"\n"
            "redis = \"127.0.0.1:6379\"\n"
            "prefix = \"notifyd\"\n"
            "timeout = 1.0\n"
            "\n"
            "[tls]\n"
            "port = 0\n"
            "\n"
            "[log]\n"
            "level = \"info\"\n");
}

TEST(ConfigParserTest, ClusterWithRedis) {
  const Config config =
      ParseOk("[cluster]\nbroker = \"redis\"\nredis = \"[::1]:6380\"\ntimeout = 0.05\n");
  EXPECT_EQ(config.cluster_broker, ClusterBroker::kRedis);
  EXPECT_EQ(config.cluster_redis, "[::1]:6380");
  EXPECT_EQ(ParseOk("[cluster]\nredis = \"redis.internal:6379\"\n").cluster_redis,
            "redis.internal:6379");
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":6379", "unix:",
                          "unix:relative.sock", "[::1:6379", "a b:6379", "[nothex]:1"}) {
    const std::string error = ParseError(std::string("[cluster]\nredis = \"") + bad + "\"\n");
    EXPECT_TRUE(StartsWith(error, "notifyd.conf:2: cluster.redis: ")) << bad << ": " << error;
  }
  EXPECT_NE(ParseError("[cluster]\nprefix = \"a{b}\"\n").find("cluster.prefix"),
            std::string::npos);
  EXPECT_NE(ParseError("[cluster]\ntimeout = 0.01\n").find("cluster.timeout"),
            std::string::npos);
  const std::string both = ParseError(
      "[history]\nstore = \"sqlite\"\npath = \"/x.db\"\n[cluster]\nbroker = \"redis\"\n");
  EXPECT_NE(both.find("cannot be used with cluster.broker = \"redis\""), std::string::npos)
      << both;
}

TEST(ConfigParserTest, QuoteTomlStringEscapes) {
  EXPECT_EQ(QuoteTomlString("plain"), "\"plain\"");
  EXPECT_EQ(QuoteTomlString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(QuoteTomlString(std::string("\r\n\t\x01\x7f\0", 6)),
            "\"\\r\\n\\t\\u0001\\u007F\\u0000\"");
}

// --- Files -------------------------------------------------------------------

TEST(ConfigParserTest, LoadConfigFileMissingPath) {
  Config config = NonDefault();
  std::string error;
  EXPECT_FALSE(LoadConfigFile("/nonexistent/notifyd.conf", &config, &error));
  EXPECT_EQ(error, "/nonexistent/notifyd.conf: cannot read: No such file or directory");
  EXPECT_EQ(config, NonDefault());
}

TEST(ConfigParserTest, LoadConfigFileDirectory) {
  Config config;
  std::string error;
  EXPECT_FALSE(LoadConfigFile("/", &config, &error));
  EXPECT_EQ(error, "/: cannot read: Is a directory");
}

TEST(ConfigParserTest, LoadConfigFileNamesThePathInErrors) {
  TempFile file("[server]\nport = 1\n\nlevel = \"info\"\n");
  Config config;
  std::string error;
  EXPECT_FALSE(LoadConfigFile(file.path(), &config, &error));
  EXPECT_TRUE(StartsWith(error, file.path() + ":4: unknown key 'level' in [server]")) << error;

  TempFile good("[limits]\nmax_name_bytes = 10\n");
  ASSERT_TRUE(LoadConfigFile(good.path(), &config, &error)) << error;
  EXPECT_EQ(config.max_name_bytes, 10u);
}

// --- The built-in default ----------------------------------------------------

TEST(BuiltinDefaultTest, WithoutPortIsConfigDefault) {
  ScopedEnv env("PORT", nullptr);
  Config config = NonDefault();
  std::string error;
  ASSERT_TRUE(BuiltinDefault(&config, &error)) << error;
  EXPECT_EQ(config, Config{});
  EXPECT_EQ(config.port, 8080);
}

TEST(BuiltinDefaultTest, TakesPortFromEnvironment) {
  for (const auto& [text, port] :
       {std::pair<const char*, uint16_t>{"9090", 9090}, {"0", 0}, {"65535", 65535}, {"080", 80}}) {
    ScopedEnv env("PORT", text);
    Config config;
    std::string error;
    ASSERT_TRUE(BuiltinDefault(&config, &error)) << text << ": " << error;
    Config expected;
    expected.port = port;
    EXPECT_EQ(config, expected) << text;
  }
}

TEST(BuiltinDefaultTest, RefusesInvalidPort) {
  {
    ScopedEnv env("PORT", "abc");
    Config config = NonDefault();
    std::string error;
    EXPECT_FALSE(BuiltinDefault(&config, &error));
    EXPECT_EQ(error, "PORT: \"abc\" is not a port number (0..65535)");
    EXPECT_EQ(config, NonDefault());
  }
  for (const char* bad : {"", "65536", "-1", "+80", " 80", "80 ", "8080x", "0x50", "1e3",
                          "99999999999999999999", "\n"}) {
    ScopedEnv env("PORT", bad);
    Config config;
    std::string error;
    EXPECT_FALSE(BuiltinDefault(&config, &error)) << bad;
    EXPECT_TRUE(StartsWith(error, "PORT: \"")) << error;
    EXPECT_NE(error.find("\" is not a port number (0..65535)"), std::string::npos) << error;
  }
}

TEST(ConfigTest, EqualityComparesEveryField) {
  EXPECT_TRUE(Config{} == Config{});
  EXPECT_FALSE(Config{} != Config{});
  EXPECT_TRUE(NonDefault() != Config{});
  // Changing any one field makes the configs differ.
  const Config base;
  Config c = base;
  c.listen_address = "::";
  EXPECT_NE(c, base);
  c = base;
  c.cors_origin = "x";
  EXPECT_NE(c, base);
  c = base;
  c.heartbeat_timeout_s = 61;
  EXPECT_NE(c, base);
  c = base;
  c.max_name_bytes = 1;
  EXPECT_NE(c, base);
  c = base;
  c.max_queued_bytes_per_client = 65536;
  EXPECT_NE(c, base);
  c = base;
  c.connection_rate = 0;
  EXPECT_NE(c, base);
  c = base;
  c.connection_burst = 1;
  EXPECT_NE(c, base);
  c = base;
  c.publish_rate = 1;
  EXPECT_NE(c, base);
  c = base;
  c.publish_burst = 1;
  EXPECT_NE(c, base);
  c = base;
  c.subscribe_token.secret = "0123456789abcdef";
  EXPECT_NE(c, base);
  c = base;
  c.publish_tokens.push_back({"0123456789abcdef", "", {}});
  EXPECT_NE(c, base);
  Config with_channels = c;
  with_channels.publish_tokens[0].channels = {"a"};
  EXPECT_NE(with_channels, c);
  Config from_file = c;
  from_file.publish_tokens[0].file = "/x";
  EXPECT_NE(from_file, c);
  c = base;
  c.admin_tokens.push_back({"0123456789abcdef", "", {}});
  EXPECT_NE(c, base);
  c = base;
  c.log_level = LogLevel::kOff;
  EXPECT_NE(c, base);
  c = base;
  c.allowed_hosts = {"a"};
  EXPECT_NE(c, base);
  c = base;
  c.allowed_origins = {"http://a"};
  EXPECT_NE(c, base);
  c = base;
  c.trusted_proxies.clear();
  EXPECT_NE(c, base);
  c = base;
  c.keepalive_timeout_s = 1;
  EXPECT_NE(c, base);
  c = base;
  c.max_requests_per_connection = 1;
  EXPECT_NE(c, base);
  c = base;
  c.max_connections_per_address = 0;
  EXPECT_NE(c, base);
  c = base;
  c.history_store = HistoryStore::kSqlite;
  EXPECT_NE(c, base);
  c = base;
  c.history_path = "/h.db";
  EXPECT_NE(c, base);
  c = base;
  c.history_size = 0;
  EXPECT_NE(c, base);
  c = base;
  c.history_ttl_s = 86400.5;
  EXPECT_NE(c, base);
  c = base;
  c.history_sync = HistorySync::kBatch;
  EXPECT_NE(c, base);
  c = base;
  c.history_recover_max = 999;
  EXPECT_NE(c, base);
}

}  // namespace
}  // namespace notifyd::config
