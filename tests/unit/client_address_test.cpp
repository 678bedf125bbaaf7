#include "http/client_address.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace notifyd::http {
namespace {

std::string Canonical(std::string_view text) {
  IpAddress address;
  return ParseIpAddress(text, &address) ? FormatIpAddress(address) : "(invalid)";
}

TrustedProxies Trust(std::vector<std::string> cidrs) {
  TrustedProxies proxies;
  std::string error;
  EXPECT_TRUE(proxies.Configure(cidrs, &error)) << error;
  return proxies;
}

const TrustedProxies& Loopback() {
  static const TrustedProxies proxies = Trust({"127.0.0.0/8", "::1/128"});
  return proxies;
}

// --- addresses ----------------------------------------------------------------

TEST(ClientAddressTest, ParsesAndCanonicalizes) {
  EXPECT_EQ(Canonical("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(Canonical("2001:DB8:0:0::1"), "2001:db8::1");
  EXPECT_EQ(Canonical("::ffff:192.0.2.1"), "192.0.2.1");  // v4-mapped is IPv4
  EXPECT_EQ(Canonical("::1"), "::1");
  for (const char* bad : {"", "unknown", "_hidden", "1.2.3", "01.2.3.4x", "1.2.3.4 ", "[::1]",
                          "::1%lo", "256.0.0.1", "1.2.3.4:80", "::g"}) {
    EXPECT_EQ(Canonical(bad), "(invalid)") << bad;
  }
  EXPECT_EQ(Canonical(std::string("1.2.3.4\0", 8)), "(invalid)");
}

TEST(ClientAddressTest, LimitKeyIsTheAddressOrTheSlash64) {
  EXPECT_EQ(LimitKey("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LimitKey("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LimitKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(LimitKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  EXPECT_NE(LimitKey("2001:db8:1:3::9"), LimitKey("2001:db8:1:2::9"));
  EXPECT_EQ(LimitKey("::1"), "::/64");
  EXPECT_EQ(LimitKey("not an address"), "not an address");
}

TEST(ClientAddressTest, SplitHostPort) {
  std::string_view host;
  std::string_view port;
  ASSERT_TRUE(SplitHostPort("localhost:8080", &host, &port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, "8080");
  ASSERT_TRUE(SplitHostPort("[::1]:80", &host, &port));
  EXPECT_EQ(host, "[::1]");
  EXPECT_EQ(port, "80");
  ASSERT_TRUE(SplitHostPort("example.com", &host, &port));
  EXPECT_EQ(port, "");
  for (const char* bad : {"", ":80", "host:", "host:8x", "[::1", "[::1]x", "host:123456",
                          "host:70000"}) {
    EXPECT_FALSE(SplitHostPort(bad, &host, &port)) << bad;
  }
}

// --- trusted proxies ------------------------------------------------------------

TEST(TrustedProxiesTest, ContainsByPrefix) {
  const TrustedProxies proxies = Trust({"10.1.0.0/16", "2001:db8::/33", "192.0.2.9", "0.0.0.0/0"});
  EXPECT_TRUE(proxies.Contains("10.1.255.255"));
  EXPECT_TRUE(proxies.Contains("198.51.100.1"));  // 0.0.0.0/0: every IPv4 address
  EXPECT_TRUE(proxies.Contains("2001:db8:7fff::1"));
  EXPECT_FALSE(proxies.Contains("2001:db8:8000::1"));
  EXPECT_FALSE(proxies.Contains("::ffff:0:0:1"));
  EXPECT_FALSE(proxies.Contains("garbage"));
  const TrustedProxies exact = Trust({"192.0.2.9", "10.0.0.1/31"});
  EXPECT_TRUE(exact.Contains("192.0.2.9"));
  EXPECT_FALSE(exact.Contains("192.0.2.8"));
  EXPECT_TRUE(exact.Contains("10.0.0.0"));
  EXPECT_FALSE(exact.Contains("10.0.0.2"));
}

TEST(TrustedProxiesTest, V4MappedMeetsIpv4Ranges) {
  EXPECT_TRUE(Loopback().Contains("::ffff:127.0.0.1"));
  EXPECT_TRUE(Loopback().Contains("127.9.9.9"));
  EXPECT_TRUE(Loopback().Contains("::1"));
  EXPECT_FALSE(Loopback().Contains("::2"));
  const TrustedProxies mapped = Trust({"::ffff:10.0.0.0/104"});
  EXPECT_TRUE(mapped.Contains("10.200.0.1"));
  EXPECT_FALSE(mapped.Contains("11.0.0.1"));
}

TEST(TrustedProxiesTest, RefusesMalformedRangesAndKeepsTheOldOnes) {
  TrustedProxies proxies = Trust({"10.0.0.0/8"});
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "x/8", "10.0.0.0/8/8",
                          "::ffff:10.0.0.0/64", "10.0.0.0/0008"}) {
    std::string error;
    EXPECT_FALSE(proxies.Configure({"192.0.2.0/24", bad}, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  EXPECT_TRUE(proxies.Contains("10.2.3.4"));
  EXPECT_FALSE(proxies.Contains("192.0.2.1"));
}

// --- resolving the client -------------------------------------------------------

ResolvedClient Resolve(std::string_view peer, Headers headers,
                       const TrustedProxies& proxies = Loopback()) {
  return ResolveClient(peer, headers, proxies);
}

TEST(ResolveClientTest, UntrustedPeerIsTheClient) {
  const ResolvedClient c = Resolve("192.0.2.7", {{"X-Forwarded-For", "198.51.100.1"}});
  EXPECT_EQ(c.address, "192.0.2.7");
  EXPECT_FALSE(c.from_proxy);
}

TEST(ResolveClientTest, TrustedPeerWithoutHeaderSpeaksForItself) {
  const ResolvedClient c = Resolve("::ffff:127.0.0.1", {});
  EXPECT_EQ(c.address, "127.0.0.1");
  EXPECT_TRUE(c.from_proxy);
  EXPECT_FALSE(c.forwarded);
}

TEST(ResolveClientTest, RightMostUntrustedForwardedForEntry) {
  // The left-most entries are the client's own claims; the right-most one
  // that no trusted proxy added is the last address we can vouch for.
  const ResolvedClient c =
      Resolve("127.0.0.1", {{"X-Forwarded-For", "203.0.113.5, 198.51.100.1, 127.0.0.1"}});
  EXPECT_EQ(c.address, "198.51.100.1");
  EXPECT_TRUE(c.forwarded);
  EXPECT_TRUE(c.from_proxy);
}

TEST(ResolveClientTest, EveryFieldLineCountsInOrder) {
  EXPECT_EQ(Resolve("127.0.0.1", {{"X-Forwarded-For", "203.0.113.5"},
                                  {"Host", "x"},
                                  {"x-forwarded-for", "198.51.100.2 , ::1"}})
                .address,
            "198.51.100.2");
}

TEST(ResolveClientTest, AllTrustedGivesTheLeftMost) {
  EXPECT_EQ(Resolve("127.0.0.1", {{"X-Forwarded-For", "127.0.0.3, ::1"}}).address, "127.0.0.3");
}

TEST(ResolveClientTest, PortsAndBracketsAreAccepted) {
  EXPECT_EQ(Resolve("::1", {{"X-Forwarded-For", "198.51.100.1:4711"}}).address, "198.51.100.1");
  EXPECT_EQ(Resolve("::1", {{"X-Forwarded-For", "[2001:db8::17]:4711"}}).address,
            "2001:db8::17");
  EXPECT_EQ(Resolve("::1", {{"X-Forwarded-For", "2001:DB8::17"}}).address, "2001:db8::17");
  EXPECT_EQ(Resolve("::1", {{"X-Forwarded-For", "::ffff:198.51.100.9"}}).address,
            "198.51.100.9");
}

TEST(ResolveClientTest, GarbageFallsBackToThePeer) {
  for (const char* bad : {"unknown", "198.51.100.1, _proxy", "evil\r\nlog", "", " , ",
                          "198.51.100.1:", "[198.51.100.1]", "1.2.3.4:99999", "[::1"}) {
    const ResolvedClient c = Resolve("127.0.0.1", {{"X-Forwarded-For", bad}});
    EXPECT_EQ(c.address, "127.0.0.1") << bad;
    EXPECT_TRUE(c.forwarded) << bad;  // a header was sent: not the proxy speaking for itself
  }
}

TEST(ResolveClientTest, ForwardedForWinsOverForwarded) {
  EXPECT_EQ(Resolve("127.0.0.1", {{"Forwarded", "for=198.51.100.1"},
                                  {"X-Forwarded-For", "203.0.113.9"}})
                .address,
            "203.0.113.9");
}

TEST(ResolveClientTest, ForwardedHeader) {
  EXPECT_EQ(Resolve("127.0.0.1", {{"Forwarded", "for=198.51.100.1"}}).address, "198.51.100.1");
  EXPECT_EQ(Resolve("127.0.0.1",
                    {{"Forwarded", "for=203.0.113.4;proto=https, For=\"[2001:db8:cafe::17]:4711\""
                                   ";by=127.0.0.1, for=127.0.0.1"}})
                .address,
            "2001:db8:cafe::17");
  EXPECT_EQ(Resolve("127.0.0.1", {{"Forwarded", "proto=http;for=\"198.51.100.3:80\""}}).address,
            "198.51.100.3");
  EXPECT_EQ(Resolve("127.0.0.1", {{"Forwarded", "for=203.0.113.4"},
                                  {"Forwarded", "for=198.51.100.5"}})
                .address,
            "198.51.100.5");
}

TEST(ResolveClientTest, UnusableForwardedFallsBackToThePeer) {
  for (const char* bad : {"for=unknown", "for=_hidden", "for=\"[2001:db8::1\"", "for=",
                          "proto=https", "for=198.51.100.1;for=198.51.100.2", "for=\"1.2.3.4",
                          "for=198.51.100.1,", "garbage", "for=1.2.3.4 x"}) {
    const ResolvedClient c = Resolve("::1", {{"Forwarded", bad}});
    EXPECT_EQ(c.address, "::1") << bad;
    EXPECT_TRUE(c.forwarded) << bad;
  }
}

TEST(ResolveClientTest, NoProxiesTrusted) {
  const TrustedProxies none = Trust({});
  const ResolvedClient c = Resolve("127.0.0.1", {{"X-Forwarded-For", "198.51.100.1"}}, none);
  EXPECT_EQ(c.address, "127.0.0.1");
  EXPECT_FALSE(c.from_proxy);
}

TEST(ResolveClientTest, PeerThatIsNotAnAddressStaysAsGiven) {
  EXPECT_EQ(Resolve("fe80::1%eth0", {{"X-Forwarded-For", "198.51.100.1"}}).address,
            "fe80::1%eth0");
}

}  // namespace
}  // namespace notifyd::http
