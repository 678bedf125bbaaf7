// The access rules of PROTOCOL.md "Access" with tokens configured, the
// subscribe token on WebSocket upgrades, and the publish rate limit (429).
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "config/config.h"
#include "core/hub.h"
#include "http/access.h"
#include "http/api.h"
#include "protocol/messages.h"
#include "support/fakes.h"
#include "support/json_helpers.h"

namespace notifyd::http {
namespace {

using testing_support::FakeClock;
using testing_support::FakeSubscriber;
using testing_support::json::ParseJsonText;
using testing_support::json::StrAt;

constexpr const char* kLoopback = "127.0.0.1";
constexpr const char* kRemote = "192.0.2.7";

constexpr const char* kSub = "sub-0123456789abcdef";
constexpr const char* kBackups = "pub-backups-0123456789";  // backups-* and alerts
constexpr const char* kAnywhere = "pub-anywhere-0123456789";
constexpr const char* kAdmin = "adm-0123456789abcdef";
constexpr const char* kWrongAdmin = "adm-0123456789abcdeX";

// The "error" text of a JSON error body; a test failure when there is none.
std::string ErrorOf(const Response& r) { return StrAt(ParseJsonText(r.body), "/error"); }

void ExpectError(const Response& r, int status, const std::string& error) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(ErrorOf(r), error) << r.body;
  EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "*");
}

Request Get(std::string path, std::string token = "", std::string peer = kLoopback) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.peer_address = std::move(peer);
  r.host = "127.0.0.1:8080";
  if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  return r;
}

Request Publish(std::string channel, std::string token = "", std::string peer = kLoopback) {
  Request r;
  r.method = "POST";
  r.path = "/api/notify/" + channel;
  r.peer_address = std::move(peer);
  r.host = "127.0.0.1:8080";
  r.body = R"({"title":"t"})";
  r.headers.emplace_back("Content-Length", std::to_string(r.body.size()));
  r.headers.emplace_back("Content-Type", "application/json");
  if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
  return r;
}

// A WebSocket upgrade as the transport hands it to AuthorizeSubscribe.
Request Upgrade(std::string query = "", std::string authorization = "") {
  Request r;
  r.method = "GET";
  r.path = "/ws";
  r.query = std::move(query);
  r.peer_address = kRemote;
  r.headers.emplace_back("Upgrade", "websocket");
  if (!authorization.empty()) r.headers.emplace_back("Authorization", std::move(authorization));
  return r;
}

config::Config TokenConfig() {
  config::Config c;
  c.subscribe_token = {kSub, "", {}};
  c.publish_tokens = {{kBackups, "", {"backups-*", "alerts"}}, {kAnywhere, "", {}}};
  c.admin_tokens = {{kAdmin, "", {}}};
  c.publish_rate = 0;
  return c;
}

class ApiAuthTest : public ::testing::Test {
 protected:
  ApiAuthTest() {
    api_.Configure(TokenConfig());
    sub_ = std::make_unique<FakeSubscriber>();
    handle_ = hub_.Connect(sub_.get()).handle;
    for (const char* channel : {"backups-nightly", "alerts", "news"}) {
      hub_.Subscribe(handle_, channel);
    }
  }

  FakeClock clock_;
  protocol::JsonNotificationEncoder encoder_;
  core::Hub hub_{clock_, core::IdSource(3)};
  core::Broker broker_{hub_, clock_, encoder_, core::IdSource(5)};
  core::Counters counters_;
  Api api_{hub_, broker_, clock_, counters_, nullptr};
  std::unique_ptr<FakeSubscriber> sub_;
  core::ClientHandle handle_ = 0;
};

// --- 401 ---------------------------------------------------------------------

TEST_F(ApiAuthTest, NoTokenIs401EvenFromLoopback) {
  for (const Request& r : {Publish("news"), Get("/api/stats"), Get("/api/channels"),
                           Get("/api/clients")}) {
    const Response response = api_.Handle(r);
    ExpectError(response, 401, "Unauthorized");
    EXPECT_EQ(response.Header("WWW-Authenticate"), "Bearer realm=\"notifyd\"") << r.path;
  }
  EXPECT_EQ(counters_.auth_failures, 4u);
  EXPECT_TRUE(sub_->frames().empty());
}

TEST_F(ApiAuthTest, MetricsNeedAnAdminToken) {
  ExpectError(api_.Handle(Get("/metrics")), 401, "Unauthorized");
  ExpectError(api_.Handle(Get("/metrics", kWrongAdmin)), 401, "Unauthorized");
  for (const char* token : {kSub, kBackups, kAnywhere}) {
    ExpectError(api_.Handle(Get("/metrics", token)), 403, "Forbidden");
  }
  const Response r = api_.Handle(Get("/metrics", kAdmin, kRemote));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(counters_.auth_failures, 2u);
  EXPECT_EQ(counters_.forbidden, 3u);
  // /health stays open.
  EXPECT_EQ(api_.Handle(Get("/health", "", kRemote)).status, 200);
}

TEST_F(ApiAuthTest, WrongTokenIs401InvalidToken) {
  for (const std::string& wrong :
       {std::string(kAdmin) + "x", std::string(kAdmin).substr(1), std::string("x"),
        std::string(kAdmin).substr(0, 10), std::string(1000, 'a')}) {
    const Response r = api_.Handle(Publish("news", wrong));
    ExpectError(r, 401, "Unauthorized");
    EXPECT_EQ(r.Header("WWW-Authenticate"), R"(Bearer realm="notifyd", error="invalid_token")");
    EXPECT_EQ(r.body.find(wrong), std::string::npos) << "the token is echoed";
  }
  EXPECT_EQ(counters_.auth_failures, 5u);
  EXPECT_TRUE(sub_->frames().empty());
}

TEST_F(ApiAuthTest, OtherSchemesAreNoToken) {
  for (const std::string& value :
       {std::string("Basic ") + kAdmin, std::string(kAdmin), std::string("Bearer"),
        std::string("Bearer "), std::string("Bearer") + kAdmin, std::string("Token ") + kAdmin}) {
    Request r = Get("/api/stats");
    r.headers.emplace_back("Authorization", value);
    const Response response = api_.Handle(r);
    EXPECT_EQ(response.status, 401) << value;
    EXPECT_EQ(response.Header("WWW-Authenticate"), "Bearer realm=\"notifyd\"") << value;
  }
}

TEST_F(ApiAuthTest, QueryTokenIsNotEnoughForTheApi) {
  Request r = Get("/api/stats");
  r.query = std::string("token=") + kAdmin;
  EXPECT_EQ(api_.Handle(r).status, 401);
}

TEST_F(ApiAuthTest, BearerSchemeIsCaseInsensitive) {
  for (const char* scheme : {"bearer ", "BEARER ", "Bearer  ", "Bearer\t"}) {
    Request r = Get("/api/stats");
    r.headers.emplace_back("Authorization", std::string(scheme) + kAdmin + " ");
    EXPECT_EQ(api_.Handle(r).status, 200) << scheme;
  }
}

// --- the 200/403 matrix ------------------------------------------------------

TEST_F(ApiAuthTest, PublishMatrix) {
  struct Case {
    const char* token;
    const char* channel;
    int status;
  };
  const Case cases[] = {
      {kBackups, "backups-nightly", 200}, {kBackups, "alerts", 200},
      {kBackups, "news", 403},            {kBackups, "backups", 403},
      {kBackups, "alerts2", 403},         {kAnywhere, "news", 200},
      {kAnywhere, "backups-nightly", 200}, {kAdmin, "news", 200},
      {kAdmin, "alerts", 200},            {kSub, "news", 403},
  };
  uint64_t forbidden = 0;
  for (const Case& c : cases) {
    const size_t before = sub_->frames().size();
    const Response r = api_.Handle(Publish(c.channel, c.token));
    EXPECT_EQ(r.status, c.status) << c.token << " -> " << c.channel << ": " << r.body;
    EXPECT_EQ(sub_->frames().size(), before + (c.status == 200 ? 1 : 0));
    if (c.status == 403) {
      ++forbidden;
      EXPECT_EQ(ErrorOf(r), "Forbidden");
    }
  }
  EXPECT_EQ(counters_.forbidden, forbidden);
  EXPECT_EQ(counters_.auth_failures, 0u);
}

TEST_F(ApiAuthTest, ForbiddenNamesTheChannelNotTheToken) {
  const Response r = api_.Handle(Publish("news", kBackups));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("news"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(kBackups), std::string::npos) << r.body;
}

TEST_F(ApiAuthTest, ReadMatrix) {
  for (const char* path : {"/api/stats", "/api/channels", "/api/clients"}) {
    EXPECT_EQ(api_.Handle(Get(path, kAdmin)).status, 200) << path;
    ExpectError(api_.Handle(Get(path, kBackups)), 403, "Forbidden");
    ExpectError(api_.Handle(Get(path, kAnywhere)), 403, "Forbidden");
    ExpectError(api_.Handle(Get(path, kSub)), 403, "Forbidden");
  }
  EXPECT_EQ(counters_.forbidden, 9u);
}

TEST_F(ApiAuthTest, TokensWorkFromAnyPeer) {
  EXPECT_EQ(api_.Handle(Publish("news", kAdmin, kRemote)).status, 200);
  EXPECT_EQ(api_.Handle(Get("/api/stats", kAdmin, "2001:db8::1")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news", "", kRemote)).status, 401);
}

TEST_F(ApiAuthTest, InvalidChannelIs400ForAValidToken) {
  EXPECT_EQ(api_.Handle(Publish("bad%20name", kBackups)).status, 400);
  EXPECT_EQ(api_.Handle(Publish("bad%20name", "")).status, 401);  // the token comes first
}

TEST_F(ApiAuthTest, PercentDecodedChannelIsChecked) {
  EXPECT_EQ(api_.Handle(Publish("backups%2Dnightly", kBackups)).status, 200);
  EXPECT_EQ(api_.Handle(Publish("%6Eews", kBackups)).status, 403);
}

TEST_F(ApiAuthTest, OpenPathsNeedNoToken) {
  EXPECT_EQ(api_.Handle(Get("/health", "", kRemote)).status, 200);
  Request options = Get("/api/notify/news", "", kRemote);
  options.method = "OPTIONS";
  EXPECT_EQ(api_.Handle(options).status, 200);
  EXPECT_EQ(api_.Handle(Get("/nope", "", kRemote)).status, 404);
  EXPECT_EQ(counters_.auth_failures, 0u);
}

TEST_F(ApiAuthTest, StatsCountRefusals) {
  api_.Handle(Publish("news"));
  api_.Handle(Publish("news", kBackups));
  const Response r = api_.Handle(Get("/api/stats", kAdmin));
  EXPECT_NE(r.body.find("\"authFailures\":1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"forbidden\":1"), std::string::npos) << r.body;
}

TEST_F(ApiAuthTest, OnlySubscribeTokenKeepsTheLoopbackRule) {
  config::Config c;
  c.subscribe_token = {kSub, "", {}};
  api_.Configure(c);
  EXPECT_EQ(api_.Handle(Get("/api/stats")).status, 200);
  EXPECT_EQ(api_.Handle(Get("/api/stats", "", kRemote)).status, 403);
  EXPECT_EQ(api_.Handle(Publish("news", kSub, kRemote)).status, 403);
}

TEST_F(ApiAuthTest, ReloadSwapsTokens) {
  config::Config c = TokenConfig();
  c.admin_tokens = {{"new-admin-0123456789", "", {}}};
  api_.Configure(c);
  EXPECT_EQ(api_.Handle(Get("/api/stats", kAdmin)).status, 401);
  EXPECT_EQ(api_.Handle(Get("/api/stats", "new-admin-0123456789")).status, 200);
  api_.Configure(config::Config{});  // no tokens: back to the loopback rule
  EXPECT_EQ(api_.Handle(Get("/api/stats")).status, 200);
  EXPECT_EQ(api_.Handle(Get("/api/stats", "", kRemote)).status, 403);
}

// --- AuthorizeSubscribe ------------------------------------------------------

TEST_F(ApiAuthTest, SubscribeOpenWithoutSubscribeToken) {
  api_.Configure(config::Config{});
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade()).has_value());
  config::Config c = TokenConfig();
  c.subscribe_token = {};
  api_.Configure(c);
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade()).has_value());
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade("token=wrong")).has_value());
}

TEST_F(ApiAuthTest, SubscribeNeedsTheToken) {
  std::optional<Response> r = api_.AuthorizeSubscribe(Upgrade());
  ASSERT_TRUE(r.has_value());
  ExpectError(*r, 401, "Unauthorized");
  EXPECT_EQ(r->Header("WWW-Authenticate"), "Bearer realm=\"notifyd\"");
  EXPECT_EQ(r->Header("Access-Control-Allow-Headers"), "Content-Type, Authorization, Idempotency-Key, Last-Event-ID, Title");
  EXPECT_EQ(counters_.auth_failures, 1u);

  r = api_.AuthorizeSubscribe(Upgrade("token=sub-wrong-0123456789"));
  ASSERT_TRUE(r.has_value());
  ExpectError(*r, 401, "Unauthorized");
  EXPECT_EQ(r->Header("WWW-Authenticate"), R"(Bearer realm="notifyd", error="invalid_token")");
  EXPECT_EQ(r->body.find("sub-wrong"), std::string::npos);
  EXPECT_EQ(counters_.auth_failures, 2u);
}

TEST_F(ApiAuthTest, SubscribeTokenByQueryOrHeader) {
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade(std::string("token=") + kSub)).has_value());
  EXPECT_FALSE(
      api_.AuthorizeSubscribe(Upgrade(std::string("a=1&token=") + kSub + "&b=2")).has_value());
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade("token=sub%2D0123456789abcdef")).has_value());
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade("", std::string("Bearer ") + kSub)).has_value());
  // A header that is not Bearer does not hide a good query token.
  EXPECT_FALSE(
      api_.AuthorizeSubscribe(Upgrade(std::string("token=") + kSub, "Basic eDp5")).has_value());
  EXPECT_EQ(counters_.auth_failures, 0u);
}

TEST_F(ApiAuthTest, SubscribeAcceptsAdminRefusesPublishTokens) {
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade(std::string("token=") + kAdmin)).has_value());
  std::optional<Response> r = api_.AuthorizeSubscribe(Upgrade(std::string("token=") + kAnywhere));
  ASSERT_TRUE(r.has_value());
  ExpectError(*r, 403, "Forbidden");
  EXPECT_EQ(counters_.forbidden, 1u);
}

TEST_F(ApiAuthTest, SubscribeTokenChangesOnReload) {
  config::Config c = TokenConfig();
  c.subscribe_token = {"sub-new-0123456789", "", {}};
  api_.Configure(c);
  EXPECT_TRUE(api_.AuthorizeSubscribe(Upgrade(std::string("token=") + kSub)).has_value());
  EXPECT_FALSE(api_.AuthorizeSubscribe(Upgrade("token=sub-new-0123456789")).has_value());
}

// --- Access and BearerToken directly ------------------------------------------

TEST(AccessTest, FindsEachTokenAndNothingElse) {
  Access access;
  EXPECT_FALSE(access.api_tokens());
  EXPECT_FALSE(access.subscribe_token_required());
  EXPECT_EQ(access.Find(""), nullptr);
  access.Configure(TokenConfig());
  EXPECT_TRUE(access.api_tokens());
  EXPECT_TRUE(access.subscribe_token_required());
  ASSERT_NE(access.Find(kSub), nullptr);
  EXPECT_EQ(access.Find(kSub)->role, Access::Role::kSubscribe);
  ASSERT_NE(access.Find(kBackups), nullptr);
  EXPECT_EQ(access.Find(kBackups)->role, Access::Role::kPublish);
  EXPECT_TRUE(access.Find(kBackups)->MayPublish("backups-x"));
  EXPECT_FALSE(access.Find(kBackups)->MayPublish("news"));
  EXPECT_FALSE(access.Find(kBackups)->MayRead());
  EXPECT_TRUE(access.Find(kAnywhere)->MayPublish("news"));
  ASSERT_NE(access.Find(kAdmin), nullptr);
  EXPECT_TRUE(access.Find(kAdmin)->MayRead());
  EXPECT_TRUE(access.Find(kAdmin)->MayPublish("anything"));
  EXPECT_FALSE(access.Find(kSub)->MayPublish("news"));
  EXPECT_EQ(access.Find(""), nullptr);
  EXPECT_EQ(access.Find(std::string(kAdmin) + '\0'), nullptr);
  EXPECT_EQ(access.Find(std::string(kAdmin).substr(0, 19)), nullptr);
}

TEST(AccessTest, BearerToken) {
  std::string_view token;
  EXPECT_TRUE(BearerToken("Bearer abc", &token));
  EXPECT_EQ(token, "abc");
  EXPECT_TRUE(BearerToken("bEaReR \t abc \t", &token));
  EXPECT_EQ(token, "abc");
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer \t ", "Bearerabc", "Basic abc",
                          "abc", " Bearer abc"}) {
    EXPECT_FALSE(BearerToken(bad, &token)) << bad;
  }
}

// --- publish rate ------------------------------------------------------------

class ApiRateTest : public ApiAuthTest {
 protected:
  // Loopback peers are trusted proxies by default, and a trusted proxy
  // speaking for itself is not limited: the tests that count per address
  // trust no proxy.
  void Limit(double rate, uint32_t burst, bool tokens,
             std::vector<std::string> trusted_proxies = {}) {
    config::Config c = tokens ? TokenConfig() : config::Config{};
    c.publish_rate = rate;
    c.publish_burst = burst;
    c.trusted_proxies = std::move(trusted_proxies);
    api_.Configure(c);
  }
};

TEST_F(ApiRateTest, BurstThen429WithRetryAfter) {
  Limit(1, 2, false);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
  const Response r = api_.Handle(Publish("news"));
  ExpectError(r, 429, "Too many requests");
  EXPECT_EQ(r.Header("Retry-After"), "1");
  EXPECT_EQ(counters_.publishes_rate_limited, 1u);
  EXPECT_EQ(sub_->frames().size(), 2u);
  clock_.Advance(999);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 429);
  clock_.Advance(1);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
}

TEST_F(ApiRateTest, RetryAfterIsWholeSecondsRoundedUp) {
  Limit(0.25, 1, false);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news")).Header("Retry-After"), "4");
  clock_.Advance(3500);
  EXPECT_EQ(api_.Handle(Publish("news")).Header("Retry-After"), "1");  // 0.5 s -> 1
  Limit(1000, 1, false);
  clock_.Advance(10000);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news")).Header("Retry-After"), "1");  // 1 ms -> at least 1
}

TEST_F(ApiRateTest, PerPeerAddressWithoutTokens) {
  Limit(1, 1, false);
  EXPECT_EQ(api_.Handle(Publish("news", "", "127.0.0.1")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news", "", "127.0.0.1")).status, 429);
  EXPECT_EQ(api_.Handle(Publish("news", "", "::1")).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news", "", "127.0.0.2")).status, 200);
}

TEST_F(ApiRateTest, PerForwardedClientBehindATrustedProxy) {
  Limit(1, 1, false, {"127.0.0.0/8"});
  auto forwarded = [](const char* client) {
    Request r = Publish("news");
    r.headers.emplace_back("X-Forwarded-For", client);
    return r;
  };
  // The proxy speaking for itself is never limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
  EXPECT_EQ(api_.Handle(forwarded("127.0.0.5")).status, 200);
  EXPECT_EQ(api_.Handle(forwarded("127.0.0.5")).status, 429);
  EXPECT_EQ(api_.Handle(forwarded("127.0.0.6")).status, 200);
  // Garbage counts against the proxy's own address.
  EXPECT_EQ(api_.Handle(forwarded("unknown")).status, 200);
  EXPECT_EQ(api_.Handle(forwarded("unknown")).status, 429);
}

TEST_F(ApiRateTest, TokensAreLimitedEvenFromATrustedProxy) {
  Limit(1, 1, true, {"127.0.0.0/8"});
  EXPECT_EQ(api_.Handle(Publish("news", kAnywhere)).status, 200);
  EXPECT_EQ(api_.Handle(Publish("news", kAnywhere)).status, 429);
}

TEST_F(ApiRateTest, PerTokenWithTokens) {
  Limit(1, 1, true);
  EXPECT_EQ(api_.Handle(Publish("news", kAnywhere, "192.0.2.1")).status, 200);
  // Same token from elsewhere shares the bucket.
  EXPECT_EQ(api_.Handle(Publish("news", kAnywhere, "192.0.2.2")).status, 429);
  // Another token from the same address has its own.
  EXPECT_EQ(api_.Handle(Publish("news", kAdmin, "192.0.2.1")).status, 200);
}

TEST_F(ApiRateTest, RefusedRequestsDoNotSpendTheRate) {
  Limit(1, 1, true);
  EXPECT_EQ(api_.Handle(Publish("news")).status, 401);
  EXPECT_EQ(api_.Handle(Publish("news", kBackups)).status, 403);
  EXPECT_EQ(api_.Handle(Publish("alerts", kBackups)).status, 200);
}

TEST_F(ApiRateTest, ReadsAreNotRateLimited) {
  Limit(1, 1, true);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(api_.Handle(Get("/api/stats", kAdmin)).status, 200);
}

TEST_F(ApiRateTest, ZeroIsUnlimited) {
  Limit(0, 1, false);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(api_.Handle(Publish("news")).status, 200) << i;
  EXPECT_EQ(counters_.publishes_rate_limited, 0u);
}

TEST_F(ApiRateTest, DefaultsAllowABurstOf100) {
  config::Config c;
  c.trusted_proxies.clear();
  api_.Configure(c);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(api_.Handle(Publish("news")).status, 200) << i;
  EXPECT_EQ(api_.Handle(Publish("news")).status, 429);
  clock_.Advance(20);  // 50 per second: one more after 20 ms
  EXPECT_EQ(api_.Handle(Publish("news")).status, 200);
}

}  // namespace
}  // namespace notifyd::http
