// Where notifyd-cli finds the server (src/cli/server_address.h): base URLs,
// the WebSocket URL of sub and tail, and the environment's part in both.
#include "cli/server_address.h"

#include <string>

#include <gtest/gtest.h>

#include "support/scoped_env.h"

namespace notifyd::cli {
namespace {

using testing_support::ScopedEnv;

// Clears every variable notifyd-cli reads, for one test.
class ServerAddressTest : public ::testing::Test {
 protected:
  ScopedEnv notifyd_url_{"NOTIFYD_URL", nullptr};
  ScopedEnv ws_url_{"WS_URL", nullptr};
  ScopedEnv token_{"NOTIFYD_TOKEN", nullptr};
};

HttpTarget Parse(const std::string& url) {
  HttpTarget target;
  std::string error;
  EXPECT_TRUE(ParseBaseUrl(url, &target, &error)) << url << ": " << error;
  return target;
}

std::string ParseError(const std::string& url) {
  HttpTarget target;
  std::string error;
  EXPECT_FALSE(ParseBaseUrl(url, &target, &error)) << url;
  return error;
}

std::string WsUrl(const std::optional<std::string>& option) {
  std::string url;
  std::string error;
  EXPECT_TRUE(ResolveWsUrl(option, &url, &error)) << error;
  return url;
}

TEST_F(ServerAddressTest, TakesBaseUrlsApart) {
  HttpTarget t = Parse("http://example.org:8080/notify/?x#y");
  EXPECT_EQ(t.host, "example.org");
  EXPECT_EQ(t.port, "8080");
  EXPECT_EQ(t.authority, "example.org:8080");
  EXPECT_EQ(t.path_prefix, "/notify");
  t = Parse("HTTP://[::1]");
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, "80");
  EXPECT_EQ(HostPort(t), "[::1]:80");
}

TEST_F(ServerAddressTest, HttpsUrlsAreTlsOnPort443) {
  HttpTarget t = Parse("https://notify.example.org/base/");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.port, "443");
  EXPECT_EQ(t.authority, "notify.example.org");
  EXPECT_EQ(t.path_prefix, "/base");
  t = Parse("HTTPS://[::1]:8443");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(HostPort(t), "[::1]:8443");
  EXPECT_FALSE(Parse("http://x").tls);
}

TEST_F(ServerAddressTest, RefusesWhatItCannotSpeak) {
  EXPECT_EQ(ParseError("ftp://x"), "not an http:// or https:// URL");
  EXPECT_EQ(ParseError("http://"), "no usable host in it");
  EXPECT_EQ(ParseError("http://u@x"), "no usable host in it");
  EXPECT_EQ(ParseError("http://x:99999"), "\"99999\" is not a port number");
}

TEST_F(ServerAddressTest, HttpTargetFromOptionThenEnvironment) {
  HttpTarget t;
  std::string error;
  ASSERT_TRUE(ResolveHttpTarget(std::nullopt, &t, &error));
  EXPECT_EQ(t.authority, "localhost:8080");
  {
    ScopedEnv ws("WS_URL", "ws://h:1/ws");
    ASSERT_TRUE(ResolveHttpTarget(std::nullopt, &t, &error));
    EXPECT_EQ(t.authority, "h:1");
    ScopedEnv url("NOTIFYD_URL", "http://n:2");
    ASSERT_TRUE(ResolveHttpTarget(std::nullopt, &t, &error));
    EXPECT_EQ(t.authority, "n:2");
    ASSERT_TRUE(ResolveHttpTarget(std::string("http://o:3"), &t, &error));
    EXPECT_EQ(t.authority, "o:3");
  }
  EXPECT_FALSE(ResolveHttpTarget(std::string("ftp://x"), &t, &error));
  EXPECT_EQ(error, "bad server URL \"ftp://x\" (from --url): not an http:// or https:// URL");
}

TEST_F(ServerAddressTest, WsUrlFromBaseUrlOrWsUrlAsItIs) {
  EXPECT_EQ(WsUrl(std::nullopt), "ws://localhost:8080/ws");
  ScopedEnv ws("WS_URL", "ws://h:1/custom?token=x");
  EXPECT_EQ(WsUrl(std::nullopt), "ws://h:1/custom?token=x");
  ScopedEnv url("NOTIFYD_URL", "http://n:2/prefix/");
  EXPECT_EQ(WsUrl(std::nullopt), "ws://n:2/prefix/ws");
  EXPECT_EQ(WsUrl(std::string("http://[::1]:3")), "ws://[::1]:3/ws");
}

TEST_F(ServerAddressTest, WssFromWsUrlOrHttpsBase) {
  ScopedEnv ws("WS_URL", "wss://h/ws");
  EXPECT_EQ(WsUrl(std::nullopt), "wss://h/ws");
  EXPECT_EQ(WsUrl(std::string("https://n:8443/prefix")), "wss://n:8443/prefix/ws");
  std::string error;
  EXPECT_FALSE(CheckWsUrl("http://h/ws", &error));
  EXPECT_EQ(error, "WS_URL must be a ws:// or wss:// URL, got \"http://h/ws\"");
}

std::optional<std::string> Token(const std::optional<std::string>& option) {
  std::optional<std::string> token;
  std::string error;
  EXPECT_TRUE(ResolveToken(option, &token, &error)) << error;
  return token;
}

TEST_F(ServerAddressTest, TokenFromOptionThenEnvironment) {
  EXPECT_EQ(Token(std::nullopt), std::nullopt);
  ScopedEnv token("NOTIFYD_TOKEN", "from-env");
  EXPECT_EQ(Token(std::nullopt), "from-env");
  EXPECT_EQ(Token(std::string("from-option")), "from-option");
}

TEST_F(ServerAddressTest, TokensMustFitInAHeader) {
  EXPECT_TRUE(ValidHeaderValue("a\tb c"));
  EXPECT_FALSE(ValidHeaderValue("a\r\nInjected: 1"));
  std::optional<std::string> token;
  std::string error;
  EXPECT_FALSE(ResolveToken(std::string("a\nb"), &token, &error));
  EXPECT_EQ(error, "the token holds control characters");
  ScopedEnv env("NOTIFYD_TOKEN", "x\ry");
  EXPECT_FALSE(ResolveToken(std::nullopt, &token, &error));
}

TEST_F(ServerAddressTest, ChannelsStayOnePathSegment) {
  EXPECT_EQ(EncodePathSegment("news.eu-west:1@x_y~"), "news.eu-west:1@x_y~");
  EXPECT_EQ(EncodePathSegment("a/b c?%"), "a%2Fb%20c%3F%25");
}

}  // namespace
}  // namespace notifyd::cli
