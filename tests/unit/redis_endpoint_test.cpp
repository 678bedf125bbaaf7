#include <string>

#include <gtest/gtest.h>

#include "cluster/redis.h"

namespace notifyd::cluster {
namespace {

RedisEndpoint Parsed(const std::string& text) {
  std::string error;
  auto endpoint = RedisEndpoint::Parse(text, &error);
  EXPECT_TRUE(endpoint) << text << ": " << error;
  return endpoint.value_or(RedisEndpoint{});
}

std::string ErrorOf(const std::string& text) {
  std::string error;
  EXPECT_FALSE(RedisEndpoint::Parse(text, &error)) << text;
  return error;
}

TEST(RedisEndpointTest, ParsesIpv4AndNames) {
  RedisEndpoint endpoint = Parsed("127.0.0.1:6379");
  EXPECT_EQ(endpoint.host, "127.0.0.1");
  EXPECT_EQ(endpoint.port, 6379);
  EXPECT_EQ(endpoint.unix_path, "");

  endpoint = Parsed("localhost:1");
  EXPECT_EQ(endpoint.host, "localhost");
  EXPECT_EQ(endpoint.port, 1);

  endpoint = Parsed("redis-1.internal_net.example:65535");
  EXPECT_EQ(endpoint.host, "redis-1.internal_net.example");
  EXPECT_EQ(endpoint.port, 65535);
}

TEST(RedisEndpointTest, ParsesBracketedIpv6) {
  RedisEndpoint endpoint = Parsed("[::1]:6379");
  EXPECT_EQ(endpoint.host, "::1");
  EXPECT_EQ(endpoint.port, 6379);
  EXPECT_EQ(Parsed("[fe80::1:2]:7000").host, "fe80::1:2");
}

TEST(RedisEndpointTest, ParsesUnixSockets) {
  RedisEndpoint endpoint = Parsed("unix:/run/redis/redis.sock");
  EXPECT_EQ(endpoint.unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(endpoint.host, "");
  EXPECT_EQ(endpoint.port, 0);
}

TEST(RedisEndpointTest, ToStringGivesBackWhatWasParsed) {
  for (const char* text : {"127.0.0.1:6379", "[::1]:6379", "localhost:6379",
                           "unix:/run/redis/redis.sock", "[2001:db8::7]:1"}) {
    EXPECT_EQ(Parsed(text).ToString(), text);
  }
}

TEST(RedisEndpointTest, MissingOrInvalidPortsAreNamed) {
  EXPECT_EQ(ErrorOf("127.0.0.1"),
            "missing port in '127.0.0.1' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf("localhost:"),
            "missing port in 'localhost:' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf("[::1]"), "missing port in '[::1]' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf("[::1]:"), "missing port in '[::1]:' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf("[::1]6379"), "expected ':PORT' after ']' in '[::1]6379'");
  EXPECT_EQ(ErrorOf("127.0.0.1:0"), "invalid port '0' in '127.0.0.1:0' (1-65535)");
  EXPECT_EQ(ErrorOf("127.0.0.1:65536"), "invalid port '65536' in '127.0.0.1:65536' (1-65535)");
  EXPECT_EQ(ErrorOf("127.0.0.1:63a"), "invalid port '63a' in '127.0.0.1:63a' (1-65535)");
  EXPECT_EQ(ErrorOf("127.0.0.1:+6379"), "invalid port '+6379' in '127.0.0.1:+6379' (1-65535)");
  EXPECT_EQ(ErrorOf("127.0.0.1:0006379"),
            "invalid port '0006379' in '127.0.0.1:0006379' (1-65535)");
}

TEST(RedisEndpointTest, BadHostsAndPathsAreNamed) {
  EXPECT_EQ(ErrorOf(":6379"), "missing host in ':6379' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf(""), "missing port in '' (HOST:PORT, [IPv6]:PORT or unix:/path)");
  EXPECT_EQ(ErrorOf("::1:6379"), "an IPv6 address needs brackets, as in [::1]:6379: '::1:6379'");
  EXPECT_EQ(ErrorOf("::1"), "an IPv6 address needs brackets, as in [::1]:6379: '::1'");
  EXPECT_EQ(ErrorOf("[::1:6379"),
            "missing ']' after the IPv6 address in '[::1:6379' (HOST:PORT, [IPv6]:PORT or "
            "unix:/path)");
  EXPECT_EQ(ErrorOf("[localhost]:6379"), "invalid IPv6 address 'localhost' in '[localhost]:6379'");
  EXPECT_EQ(ErrorOf("redis host:6379"), "invalid host 'redis host' in 'redis host:6379'");
  EXPECT_EQ(ErrorOf("redis://localhost:6379"),
            "invalid host 'redis://localhost' in 'redis://localhost:6379'");
  EXPECT_EQ(ErrorOf("unix:"),
            "missing socket path after 'unix:' (HOST:PORT, [IPv6]:PORT or "
            "unix:/path)");
  EXPECT_EQ(ErrorOf("unix:redis.sock"), "the unix socket path must be absolute: 'unix:redis.sock'");
}

TEST(RedisScriptTest, NamedByTheSha1RedisComputes) {
  // `redis-cli SCRIPT LOAD "return 1"` answers this name.
  EXPECT_EQ(RedisScript("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(RedisScript("").sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(RedisScript("return 1").source, "return 1");
}

TEST(RedisFailureTest, EveryFailureHasAName) {
  EXPECT_EQ(FailureName(RedisFailure::kNone), "none");
  EXPECT_EQ(FailureName(RedisFailure::kNotConnected), "not_connected");
  EXPECT_EQ(FailureName(RedisFailure::kTimeout), "timeout");
  EXPECT_EQ(FailureName(RedisFailure::kDisconnected), "disconnected");
}

}  // namespace
}  // namespace notifyd::cluster
