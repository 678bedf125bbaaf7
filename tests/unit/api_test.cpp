#include "http/api.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "config/config.h"
#include "core/hub.h"
#include "protocol/messages.h"
#include "support/fakes.h"
#include "support/json_helpers.h"

namespace notifyd::http {
namespace {

using testing_support::FakeClock;
using testing_support::FakeSubscriber;
using testing_support::json::At;
using testing_support::json::BoolAt;
using testing_support::json::Has;
using testing_support::json::IntAt;
using testing_support::json::ParseJsonText;
using testing_support::json::SizeAt;
using testing_support::json::StrAt;
using testing_support::json::UintAt;

constexpr const char* kLoopback = "127.0.0.1";
constexpr const char* kRemote = "192.0.2.7";

// Expects a JSON error response with `status` and the given "error" text.
void ExpectJsonError(const Response& r, int status, const std::string& error) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto doc = ParseJsonText(r.body);
  EXPECT_EQ(StrAt(doc, "/error"), error) << r.body;
}

Request Get(std::string path, std::string peer = kLoopback) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  r.peer_address = std::move(peer);
  r.host = "localhost:8080";
  return r;
}

// A POST with a Content-Length header and, if given, a Content-Type.
Request Post(std::string path, std::string body, std::string content_type = "") {
  Request r;
  r.method = "POST";
  r.path = std::move(path);
  r.peer_address = kLoopback;
  r.host = "localhost:8080";
  r.headers.emplace_back("Content-Length", std::to_string(body.size()));
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", content_type);
  r.body = std::move(body);
  return r;
}

Request PostJson(std::string path, std::string body) {
  return Post(std::move(path), std::move(body), "application/json");
}

Request PostText(std::string path, std::string body) {
  return Post(std::move(path), std::move(body), "application/x-www-form-urlencoded");
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() { api_.Configure(config::Config{}); }

  // Connects a FakeSubscriber subscribed to `channel`.
  FakeSubscriber* Subscribe(const std::string& channel) {
    subscribers_.emplace_back(std::make_unique<FakeSubscriber>());
    FakeSubscriber* sub = subscribers_.back().get();
    hub_.Subscribe(hub_.Connect(sub).handle, channel);
    return sub;
  }

  // The notification `sub` received last, parsed.
  static rapidjson::Document LastNotification(const FakeSubscriber& sub) {
    if (sub.frames().empty()) {
      ADD_FAILURE() << "nothing delivered";
      return rapidjson::Document();
    }
    return ParseJsonText(sub.frames().back()->text);
  }

  static protocol::StatsExtra Extra() {
    protocol::StatsExtra extra;
    extra.uptime_s = 42;
    extra.version = "test";
    return extra;
  }

  FakeClock clock_;
  protocol::JsonNotificationEncoder encoder_;
  core::Hub hub_{clock_, core::IdSource(3)};
  core::Broker broker_{hub_, clock_, encoder_, core::IdSource(5)};
  core::Counters counters_;
  Api api_{hub_, broker_, clock_, counters_, &ApiTest::Extra};
  std::vector<std::unique_ptr<FakeSubscriber>> subscribers_;
};

// --- POST /api/notify/{channel} ------------------------------------------------------------

TEST_F(ApiTest, PublishJsonBody) {
  FakeSubscriber* sub = Subscribe("news");
  Subscribe("other");
  const Response r =
      api_.Handle(PostJson("/api/notify/news", R"({"title":"T","body":"B","data":{"k":1}})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto doc = ParseJsonText(r.body);
  EXPECT_TRUE(BoolAt(doc, "/success"));
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  EXPECT_EQ(UintAt(doc, "/delivered"), 1u);
  const std::string id = StrAt(doc, "/id");
  EXPECT_FALSE(id.empty());

  ASSERT_EQ(sub->frames().size(), 1u);
  const auto n = LastNotification(*sub);
  EXPECT_EQ(StrAt(n, "/type"), "notification");
  EXPECT_EQ(StrAt(n, "/channel"), "news");
  EXPECT_EQ(StrAt(n, "/id"), id);
  EXPECT_EQ(StrAt(n, "/timestamp"), "2026-11-25T19:07:29.123Z");
  EXPECT_EQ(StrAt(n, "/title"), "T");
  EXPECT_EQ(StrAt(n, "/body"), "B");
  EXPECT_EQ(IntAt(n, "/data/k"), 1);
}

TEST_F(ApiTest, PublishJsonDefaults) {
  FakeSubscriber* sub = Subscribe("news");
  ASSERT_EQ(api_.Handle(PostJson("/api/notify/news", "{}")).status, 200);
  const auto n = LastNotification(*sub);
  EXPECT_EQ(StrAt(n, "/title"), "Notification");
  EXPECT_EQ(StrAt(n, "/body"), "");
  EXPECT_FALSE(Has(n, "/data"));
}

TEST_F(ApiTest, PublishCountsEverySubscriber) {
  Subscribe("news");
  Subscribe("news");
  Subscribe("news");
  const Response r = api_.Handle(PostJson("/api/notify/news", R"({"body":"x"})"));
  EXPECT_EQ(UintAt(ParseJsonText(r.body), "/delivered"), 3u);
}

TEST_F(ApiTest, PublishWithoutSubscribersDeliversZero) {
  const Response r = api_.Handle(PostJson("/api/notify/empty", R"({"body":"x"})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(UintAt(ParseJsonText(r.body), "/delivered"), 0u);
}

TEST_F(ApiTest, PublishCapturesDecodedChannel) {
  FakeSubscriber* sub = Subscribe("a@b");
  const Response r = api_.Handle(PostJson("/api/notify/a%40b", "{}"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(StrAt(ParseJsonText(r.body), "/channel"), "a@b");
  EXPECT_EQ(sub->frames().size(), 1u);
}

// The transport delivers the whole body whatever its framing (Content-Length
// or chunked); the API looks only at the body.
TEST_F(ApiTest, PublishTakesTheBodyWhateverItsFraming) {
  FakeSubscriber* sub = Subscribe("news");
  Request chunked = PostJson("/api/notify/news", R"({"title":"c"})");
  chunked.headers.erase(chunked.headers.begin());  // Content-Length
  chunked.headers.emplace_back("Transfer-Encoding", "chunked");
  ASSERT_EQ(api_.Handle(chunked).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/title"), "c");
  Request empty = Post("/api/notify/news", "");
  empty.headers.clear();
  ASSERT_EQ(api_.Handle(empty).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/body"), "");
}

TEST_F(ApiTest, PlainTextBodyBecomesTheBody) {
  FakeSubscriber* sub = Subscribe("backups");
  const Response r = api_.Handle(PostText("/api/notify/backups", "backup finished"));
  ASSERT_EQ(r.status, 200) << r.body;
  const auto n = LastNotification(*sub);
  EXPECT_EQ(StrAt(n, "/title"), "Notification");
  EXPECT_EQ(StrAt(n, "/body"), "backup finished");
  EXPECT_FALSE(Has(n, "/data"));
}

TEST_F(ApiTest, PlainTextWithoutContentType) {
  FakeSubscriber* sub = Subscribe("backups");
  ASSERT_EQ(api_.Handle(Post("/api/notify/backups", "done {")).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/body"), "done {");
}

TEST_F(ApiTest, PlainTextTitleFromHeader) {
  FakeSubscriber* sub = Subscribe("backups");
  Request r = PostText("/api/notify/backups", "backup finished");
  r.headers.emplace_back("title", "Nightly backup");
  ASSERT_EQ(api_.Handle(r).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/title"), "Nightly backup");
}

TEST_F(ApiTest, PlainTextTitleFromQuery) {
  FakeSubscriber* sub = Subscribe("backups");
  Request r = PostText("/api/notify/backups", "backup finished");
  r.query = "title=Hello%20World";
  ASSERT_EQ(api_.Handle(r).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/title"), "Hello World");
}

TEST_F(ApiTest, PlainTextTitleHeaderBeatsQuery) {
  FakeSubscriber* sub = Subscribe("backups");
  Request r = PostText("/api/notify/backups", "x");
  r.query = "title=FromQuery";
  r.headers.emplace_back("Title", "FromHeader");
  ASSERT_EQ(api_.Handle(r).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/title"), "FromHeader");
}

TEST_F(ApiTest, PlainTextEmptyTitleQueryKeepsDefault) {
  FakeSubscriber* sub = Subscribe("backups");
  Request r = PostText("/api/notify/backups", "x");
  r.query = "title=";
  ASSERT_EQ(api_.Handle(r).status, 200);
  EXPECT_EQ(StrAt(LastNotification(*sub), "/title"), "Notification");
}

TEST_F(ApiTest, InvalidJsonWithJsonContentTypeIs400) {
  FakeSubscriber* sub = Subscribe("news");
  for (const char* type : {"application/json", "application/json; charset=utf-8"}) {
    const Response r = api_.Handle(Post("/api/notify/news", "not json", type));
    ExpectJsonError(r, 400, "Invalid request body");
    EXPECT_FALSE(StrAt(ParseJsonText(r.body), "/details").empty());
  }
  EXPECT_TRUE(sub->frames().empty());
}

TEST_F(ApiTest, NonObjectJsonWithJsonContentTypeIs400) {
  ExpectJsonError(api_.Handle(PostJson("/api/notify/news", "[1]")), 400, "Invalid request body");
  ExpectJsonError(api_.Handle(PostJson("/api/notify/news", R"("x")")), 400, "Invalid request body");
}

// Media types are case-insensitive (RFC 9110 8.3.1).
TEST_F(ApiTest, JsonContentTypeIsCaseInsensitive) {
  FakeSubscriber* sub = Subscribe("news");
  for (const char* type : {"Application/JSON", "APPLICATION/JSON; charset=utf-8"}) {
    ExpectJsonError(api_.Handle(Post("/api/notify/news", "not json", type)), 400,
                    "Invalid request body");
  }
  EXPECT_TRUE(sub->frames().empty());
}

// PROTOCOL.md: JSON that is not an object is a 400; only a body that is not
// JSON at all may be taken as plain text.
TEST_F(ApiTest, NonObjectJsonWithoutJsonContentTypeIs400) {
  for (const char* body : {"[1]", "42", R"("x")", "null"}) {
    ExpectJsonError(api_.Handle(PostText("/api/notify/news", body)), 400, "Invalid request body");
  }
}

TEST_F(ApiTest, EmptyBodyWithJsonContentTypeIs400) {
  ExpectJsonError(api_.Handle(PostJson("/api/notify/news", "")), 400, "Invalid request body");
}

TEST_F(ApiTest, WrongFieldTypeIs400EvenWithoutJsonContentType) {
  FakeSubscriber* sub = Subscribe("news");
  for (const char* body : {R"({"title":5})", R"({"body":[]})", R"({"data":"x"})"}) {
    ExpectJsonError(api_.Handle(PostText("/api/notify/news", body)), 400, "Invalid request body");
    ExpectJsonError(api_.Handle(PostJson("/api/notify/news", body)), 400, "Invalid request body");
  }
  EXPECT_TRUE(sub->frames().empty());
}

TEST_F(ApiTest, InvalidUtf8PlainTextIs400) {
  FakeSubscriber* sub = Subscribe("news");
  ExpectJsonError(api_.Handle(PostText("/api/notify/news", "bad \xFF byte")), 400,
                  "Invalid request body");
  ExpectJsonError(api_.Handle(PostText("/api/notify/news", "\xED\xA0\x80")), 400,
                  "Invalid request body");
  EXPECT_TRUE(sub->frames().empty());
}

TEST_F(ApiTest, InvalidUtf8TitleIs400) {
  Request r = PostText("/api/notify/news", "ok");
  r.headers.emplace_back("Title", "\xC0\xAF");
  ExpectJsonError(api_.Handle(r), 400, "Invalid request body");
  Request q = PostText("/api/notify/news", "ok");
  q.query = "title=%FF";
  ExpectJsonError(api_.Handle(q), 400, "Invalid request body");
}

TEST_F(ApiTest, BodyOverLimitIs413) {
  const Response r = api_.Handle(PostText("/api/notify/news", std::string(65537, 'x')));
  ExpectJsonError(r, 413, "Request body too large");
  EXPECT_EQ(api_.Handle(PostText("/api/notify/news", std::string(65536, 'x'))).status, 200);
}

TEST_F(ApiTest, ConfiguredBodyLimitApplies) {
  config::Config config;
  config.max_body_bytes = 10;
  api_.Configure(config);
  EXPECT_EQ(api_.Handle(PostText("/api/notify/news", std::string(10, 'x'))).status, 200);
  EXPECT_EQ(api_.Handle(PostText("/api/notify/news", std::string(11, 'x'))).status, 413);
}

TEST_F(ApiTest, InvalidChannelIs400) {
  for (const std::string& path :
       {std::string("/api/notify/a%20b"), std::string("/api/notify/a%2Fb"),
        std::string("/api/notify/caf%C3%A9"), "/api/notify/" + std::string(129, 'a')}) {
    ExpectJsonError(api_.Handle(PostJson(path, "{}")), 400, "Invalid channel name");
  }
  EXPECT_EQ(api_.Handle(PostJson("/api/notify/" + std::string(128, 'a'), "{}")).status, 200);
}

TEST_F(ApiTest, MalformedPathEscapeIs400) {
  const Response r = api_.Handle(PostJson("/api/notify/a%zz", "{}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

// --- routing errors -----------------------------------------------------------------

TEST_F(ApiTest, UnknownPathIs404) {
  for (const char* path : {"/nope", "/api/notify", "/api/notify/", "/api/channels/", "/ws/"}) {
    ExpectJsonError(api_.Handle(Get(path)), 404, "Not found");
  }
}

// The 404 and 405 details echo the raw path and method, which may hold any byte.
TEST_F(ApiTest, ErrorBodiesStayJsonForNonUtf8Input) {
  ExpectJsonError(api_.Handle(Get("/\xFF")), 404, "Not found");
  Request bad_method = Get("/health");
  bad_method.method = "G\xFFT";
  ExpectJsonError(api_.Handle(bad_method), 405, "Method not allowed");
}

TEST_F(ApiTest, WrongMethodIs405WithAllow) {
  const Response get_notify = api_.Handle(Get("/api/notify/news"));
  ExpectJsonError(get_notify, 405, "Method not allowed");
  EXPECT_EQ(get_notify.Header("Allow"), "POST, OPTIONS");

  Request post_health = Post("/health", "x");
  const Response r = api_.Handle(post_health);
  ExpectJsonError(r, 405, "Method not allowed");
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD, OPTIONS");
}

TEST_F(ApiTest, OptionsOnAnyPathIs200WithEmptyBody) {
  for (const char* path : {"/api/notify/news", "/api/channels", "/nope", "/"}) {
    Request r = Get(path, kRemote);
    r.method = "OPTIONS";
    const Response response = api_.Handle(r);
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(response.body, "") << path;
    EXPECT_EQ(response.Header("Access-Control-Allow-Origin"), "*");
  }
}

// --- headers on every response -------------------------------------------------------

std::vector<Response> AssortedResponses(Api& api) {
  Request options = Get("/x");
  options.method = "OPTIONS";
  Request no_length = PostJson("/api/notify/news", "{}");
  no_length.headers.clear();
  return {
      api.Handle(Get("/health")),
      api.Handle(Get("/api/channels")),
      api.Handle(PostJson("/api/notify/news", "{}")),
      api.Handle(PostJson("/api/notify/news", "nope")),
      api.Handle(no_length),
      api.Handle(Get("/nope")),
      api.Handle(Get("/api/notify/news")),
      api.Handle(Get("/api/stats", kRemote)),
      api.Handle(Get("/ws")),
      api.Handle(options),
  };
}

TEST_F(ApiTest, CorsHeadersOnEveryResponse) {
  for (const Response& r : AssortedResponses(api_)) {
    EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "*") << r.status;
    EXPECT_EQ(r.Header("Access-Control-Allow-Methods"), "GET, POST, PUT, DELETE, OPTIONS")
        << r.status;
    EXPECT_EQ(r.Header("Access-Control-Allow-Headers"), "Content-Type, Authorization, Idempotency-Key, Last-Event-ID, Title") << r.status;
  }
}

TEST_F(ApiTest, ConfiguredCorsOrigin) {
  config::Config config;
  config.cors_origin = "https://app.example.com";
  api_.Configure(config);
  for (const Response& r : AssortedResponses(api_)) {
    EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "https://app.example.com") << r.status;
  }
}

// Persistence is the transport's to decide.
TEST_F(ApiTest, NoConnectionHeader) {
  for (const Response& r : AssortedResponses(api_)) {
    EXPECT_EQ(r.Header("Connection"), "") << r.status;
  }
}

// --- access rule --------------------------------------------------------------------

TEST_F(ApiTest, RemotePeerIsForbiddenOnApi) {
  FakeSubscriber* sub = Subscribe("news");
  Request publish = PostJson("/api/notify/news", "{}");
  publish.peer_address = kRemote;
  ExpectJsonError(api_.Handle(publish), 403, "Forbidden");
  EXPECT_TRUE(sub->frames().empty());
  for (const char* path : {"/api/channels", "/api/stats", "/api/clients"}) {
    ExpectJsonError(api_.Handle(Get(path, kRemote)), 403, "Forbidden");
  }
  EXPECT_EQ(counters_.forbidden, 4u);
  EXPECT_EQ(counters_.auth_failures, 0u);
}

TEST_F(ApiTest, RemotePeerMayUseHealth) {
  const Response r = api_.Handle(Get("/health", kRemote));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "OK");
}

TEST_F(ApiTest, LoopbackPeersAreAllowed) {
  for (const char* peer : {"127.0.0.1", "::1", "::ffff:127.0.0.1", "127.9.9.9"}) {
    EXPECT_EQ(api_.Handle(Get("/api/channels", peer)).status, 200) << peer;
  }
}

// --- browser safety: Host and Origin without tokens ----------------------------------

// The 403 for `r`, with its details.
std::string ForbiddenDetails(Api& api, const Request& r) {
  const Response response = api.Handle(r);
  ExpectJsonError(response, 403, "Forbidden");
  return StrAt(ParseJsonText(response.body), "/details");
}

TEST_F(ApiTest, LoopbackHostsAreTrusted) {
  for (const char* host : {"localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:1", "[::1]",
                           "[::1]:8080"}) {
    Request r = Get("/api/stats");
    r.host = host;
    EXPECT_EQ(api_.Handle(r).status, 200) << host;
  }
}

TEST_F(ApiTest, OtherHostsAreRefusedFromLoopback) {
  // A DNS-rebinding page: its name now points at 127.0.0.1, its Host stays.
  for (const char* host : {"evil.example", "evil.example:8080", "localhost.evil.example",
                           "127.0.0.2", "", "[::1", "localhost:x", "\xff.example\"\n"}) {
    Request publish = PostJson("/api/notify/news", "{}");
    publish.host = host;
    const std::string details = ForbiddenDetails(api_, publish);
    EXPECT_NE(details.find("allowed_hosts"), std::string::npos) << host << ": " << details;
  }
  Request r = Get("/api/clients");
  r.host = "evil.example";
  ForbiddenDetails(api_, r);
  EXPECT_EQ(counters_.forbidden, 9u);
}

TEST_F(ApiTest, HostHeaderServesWhenTheHostFieldIsEmpty) {
  Request r = Get("/api/stats");
  r.host.clear();
  r.headers.emplace_back("Host", "localhost:8080");
  EXPECT_EQ(api_.Handle(r).status, 200);
  r.headers.back().second = "evil.example";
  EXPECT_EQ(api_.Handle(r).status, 403);
}

TEST_F(ApiTest, AllowedHostsExtendTheLoopbackNames) {
  config::Config c;
  c.allowed_hosts = {"notify.lan", "box:9000"};
  api_.Configure(c);
  for (const char* host : {"notify.lan", "NOTIFY.LAN:8080", "box:9000", "localhost"}) {
    Request r = Get("/api/stats");
    r.host = host;
    EXPECT_EQ(api_.Handle(r).status, 200) << host;
  }
  for (const char* host : {"box", "box:9001", "notify.lan.evil"}) {
    Request r = Get("/api/stats");
    r.host = host;
    EXPECT_EQ(api_.Handle(r).status, 403) << host;
  }
}

TEST_F(ApiTest, ForeignOriginIsRefused) {
  FakeSubscriber* sub = Subscribe("news");
  // A text/plain POST needs no preflight: the browser sends it with its Origin.
  for (const char* origin : {"http://evil.example", "https://localhost:8080", "null",
                             "http://localhost:8081", "http://localhost:8080/"}) {
    Request publish = PostText("/api/notify/news", "pwned");
    publish.headers.emplace_back("Origin", origin);
    const std::string details = ForbiddenDetails(api_, publish);
    EXPECT_NE(details.find("allowed_origins"), std::string::npos) << origin << ": " << details;
  }
  Request read = Get("/api/clients");
  read.headers.emplace_back("Origin", "http://evil.example");
  ForbiddenDetails(api_, read);
  EXPECT_TRUE(sub->frames().empty());
}

TEST_F(ApiTest, SameOriginAndAllowedOriginsPass) {
  Request same = PostText("/api/notify/news", "hi");
  same.headers.emplace_back("Origin", "http://LocalHost:8080");
  EXPECT_EQ(api_.Handle(same).status, 200);
  config::Config c;
  c.allowed_origins = {"https://app.example.com", "http://localhost:3000"};
  api_.Configure(c);
  for (const char* origin : {"https://app.example.com", "http://localhost:3000"}) {
    Request r = Get("/api/channels");
    r.headers.emplace_back("Origin", origin);
    EXPECT_EQ(api_.Handle(r).status, 200) << origin;
  }
  Request other = Get("/api/channels");
  other.headers.emplace_back("Origin", "https://app.example.com.evil");
  EXPECT_EQ(api_.Handle(other).status, 403);
}

TEST_F(ApiTest, PublicRoutesIgnoreHostAndOrigin) {
  Request health = Get("/health");
  health.host = "evil.example";
  health.headers.emplace_back("Origin", "http://evil.example");
  EXPECT_EQ(api_.Handle(health).status, 200);
  Request options = health;
  options.method = "OPTIONS";
  options.path = "/api/notify/news";
  EXPECT_EQ(api_.Handle(options).status, 200);
  Request upgrade = Get("/ws");
  upgrade.host = "evil.example";
  upgrade.headers.emplace_back("Origin", "http://evil.example");
  EXPECT_EQ(api_.AuthorizeSubscribe(upgrade), std::nullopt);
}

// Anything added under /api/ later is privileged without opting in: an
// unknown /api/ path is still a 404, and every known one is guarded.
TEST_F(ApiTest, EveryApiRouteIsPrivileged) {
  for (const char* path : {"/api/channels", "/api/stats", "/api/clients"}) {
    Request r = Get(path);
    r.host = "evil.example";
    EXPECT_EQ(api_.Handle(r).status, 403) << path;
  }
}

// --- the client behind a proxy ----------------------------------------------------------

TEST_F(ApiTest, ResolvePeerFromATrustedProxy) {
  Request r = Get("/api/stats");
  Api::ClientPeer peer = api_.ResolvePeer(r);
  EXPECT_EQ(peer.address, "127.0.0.1");
  EXPECT_EQ(peer.limit_key, "127.0.0.1");
  EXPECT_TRUE(peer.exempt);  // loopback is a trusted proxy by default
  r.headers.emplace_back("X-Forwarded-For", "2001:db8:1:2::99, 127.0.0.1");
  peer = api_.ResolvePeer(r);
  EXPECT_EQ(peer.address, "2001:db8:1:2::99");
  EXPECT_EQ(peer.limit_key, "2001:db8:1:2::/64");
  EXPECT_FALSE(peer.exempt);
  r.headers.back().second = "unknown";
  peer = api_.ResolvePeer(r);
  EXPECT_EQ(peer.address, "127.0.0.1");
  EXPECT_FALSE(peer.exempt);  // a forwarded request, even an unusable one, counts
}

TEST_F(ApiTest, ResolvePeerFromAnUntrustedPeer) {
  Request r = Get("/api/stats", kRemote);
  r.headers.emplace_back("X-Forwarded-For", "127.0.0.1");
  const Api::ClientPeer peer = api_.ResolvePeer(r);
  EXPECT_EQ(peer.address, kRemote);
  EXPECT_FALSE(peer.exempt);
  // Claiming loopback in a header does not earn loopback trust.
  EXPECT_EQ(api_.Handle(r).status, 403);
}

TEST_F(ApiTest, ForwardedClientIsNotLoopback) {
  Request r = Get("/api/stats");
  r.headers.emplace_back("X-Forwarded-For", "198.51.100.1");
  const std::string details = ForbiddenDetails(api_, r);
  EXPECT_NE(details.find("loopback clients"), std::string::npos) << details;
  r.headers.back().second = "127.0.0.1";  // the proxy forwarding a local client
  EXPECT_EQ(api_.Handle(r).status, 200);
}

TEST_F(ApiTest, TrustedProxiesAreConfigurable) {
  config::Config c;
  c.trusted_proxies = {"192.0.2.0/24"};
  api_.Configure(c);
  Request r = Get("/api/stats", kRemote);
  r.headers.emplace_back("X-Forwarded-For", "127.0.0.1");
  EXPECT_EQ(api_.ResolvePeer(r).address, "127.0.0.1");
  EXPECT_EQ(api_.Handle(r).status, 200);
  Request local = Get("/api/stats");
  local.headers.emplace_back("X-Forwarded-For", "198.51.100.1");
  EXPECT_EQ(api_.ResolvePeer(local).address, "127.0.0.1");  // loopback no longer trusted
  EXPECT_FALSE(api_.ResolvePeer(local).exempt);
}

// --- Expect: 100-continue ---------------------------------------------------------------

TEST_F(ApiTest, PrecheckLetsAcceptableHeadsRead) {
  Request head = PostJson("/api/notify/news", "");
  head.headers[0].second = "1000";  // Content-Length of the body still to come
  EXPECT_EQ(api_.Precheck(head), std::nullopt);
  EXPECT_EQ(api_.Precheck(Get("/health")), std::nullopt);
  Request options = Get("/api/notify/news");
  options.method = "OPTIONS";
  EXPECT_EQ(api_.Precheck(options), std::nullopt);
}

TEST_F(ApiTest, PrecheckDecidesFromTheHead) {
  Request big = PostJson("/api/notify/news", "");
  big.headers[0].second = "65537";
  std::optional<Response> r = api_.Precheck(big);
  ASSERT_TRUE(r);
  ExpectJsonError(*r, 413, "Request body too large");
  EXPECT_EQ(r->Header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(counters_.bodies_too_large, 1u);
  r = api_.Precheck(Get("/nope"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = api_.Precheck(Get("/api/notify/news"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  Request remote = PostJson("/api/notify/news", "");
  remote.peer_address = kRemote;
  r = api_.Precheck(remote);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  Request foreign = PostJson("/api/notify/news", "");
  foreign.headers.emplace_back("Origin", "http://evil.example");
  r = api_.Precheck(foreign);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(ApiTest, PrecheckTakesNoRateToken) {
  config::Config c;
  c.publish_rate = 1;
  c.publish_burst = 1;
  c.trusted_proxies.clear();
  api_.Configure(c);
  const Request publish = PostJson("/api/notify/news", "{}");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(api_.Precheck(publish), std::nullopt);
  EXPECT_EQ(api_.Handle(publish).status, 200);
  EXPECT_EQ(api_.Handle(publish).status, 429);
  EXPECT_EQ(counters_.publishes_rate_limited, 1u);
}

// --- GET endpoints ---------------------------------------------------------------------

TEST_F(ApiTest, Health) {
  const Response r = api_.Handle(Get("/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "OK");
}

TEST_F(ApiTest, ChannelsShape) {
  Subscribe("news");
  Subscribe("news");
  Subscribe("alerts");
  const Response r = api_.Handle(Get("/api/channels"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto doc = ParseJsonText(r.body);
  ASSERT_TRUE(At(doc, "/channels").IsArray());
  ASSERT_EQ(SizeAt(doc, "/channels"), 2u);
  EXPECT_EQ(StrAt(doc, "/channels/0/name"), "alerts");
  EXPECT_EQ(UintAt(doc, "/channels/0/subscribers"), 1u);
  EXPECT_EQ(StrAt(doc, "/channels/1/name"), "news");
  EXPECT_EQ(UintAt(doc, "/channels/1/subscribers"), 2u);
  EXPECT_EQ(UintAt(doc, "/total"), 2u);
}

TEST_F(ApiTest, StatsShape) {
  Subscribe("news");
  Subscribe("alerts");
  clock_.SetWallMillis(1709210096007);
  const Response r = api_.Handle(Get("/api/stats"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto doc = ParseJsonText(r.body);
  EXPECT_EQ(UintAt(doc, "/connections"), 2u);
  EXPECT_EQ(UintAt(doc, "/channels"), 2u);
  EXPECT_EQ(StrAt(doc, "/timestamp"), "2024-02-29T12:34:56.007Z");
}

TEST_F(ApiTest, MetricsIsThePrometheusTextFormat) {
  Subscribe("news");
  ASSERT_EQ(api_.Handle(PostJson("/api/notify/news", "{}")).status, 200);
  const Response r = api_.Handle(Get("/metrics"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE notifyd_publishes_total counter\n"), std::string::npos);
  EXPECT_NE(r.body.find("\nnotifyd_publishes_total 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\nnotifyd_deliveries_total 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("notifyd_build_info{version=\"test\"} 1\n"), std::string::npos);
  // This Api has no process source.
  EXPECT_EQ(r.body.find("process_"), std::string::npos);
}

TEST_F(ApiTest, MetricsCountRefusals) {
  api_.Handle(Get("/api/stats", kRemote));
  const Response r = api_.Handle(Get("/metrics"));
  EXPECT_NE(r.body.find("\nnotifyd_refusals_total{reason=\"forbidden\"} 1\n"), std::string::npos)
      << r.body;
}

TEST_F(ApiTest, MetricsIncludeTheProcessSource) {
  protocol::ProcessMetrics process;
  process.open_fds = 42;
  Api api{hub_, broker_, clock_, counters_, &ApiTest::Extra, [process] { return process; }};
  api.Configure(config::Config{});
  const Response r = api.Handle(Get("/metrics"));
  EXPECT_NE(r.body.find("\nprocess_open_fds 42\n"), std::string::npos) << r.body;
}

TEST_F(ApiTest, MetricsHaveTheAccessRuleOfStats) {
  ExpectJsonError(api_.Handle(Get("/metrics", kRemote)), 403, "Forbidden");
  Request rebound = Get("/metrics");
  rebound.host = "evil.example";
  EXPECT_NE(ForbiddenDetails(api_, rebound).find("allowed_hosts"), std::string::npos);
  Request page = Get("/metrics");
  page.headers.emplace_back("Origin", "http://evil.example");
  EXPECT_NE(ForbiddenDetails(api_, page).find("allowed_origins"), std::string::npos);
  EXPECT_EQ(counters_.forbidden, 3u);
  // The head alone decides it too (Expect: 100-continue).
  const std::optional<Response> early = api_.Precheck(Get("/metrics", kRemote));
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->status, 403);
  EXPECT_EQ(api_.Precheck(Get("/metrics")), std::nullopt);
}

TEST_F(ApiTest, ClientsShape) {
  FakeSubscriber anon;
  FakeSubscriber named;
  clock_.SetWallMillis(0);
  const std::string anon_id = hub_.Connect(&anon).id;
  clock_.Advance(1500);
  const core::ClientInfo& info = hub_.Connect(&named);
  hub_.SetName(info.handle, "Bob");
  hub_.Subscribe(info.handle, "news");

  const Response r = api_.Handle(Get("/api/clients"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const auto doc = ParseJsonText(r.body);
  EXPECT_EQ(UintAt(doc, "/total"), 2u);
  ASSERT_EQ(SizeAt(doc, "/clients"), 2u);
  const auto& first = At(doc, "/clients/0");
  EXPECT_EQ(StrAt(first, "/id"), anon_id);
  EXPECT_TRUE(At(first, "/name").IsNull());
  EXPECT_EQ(StrAt(first, "/connectedAt"), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(SizeAt(first, "/subscriptions"), 0u);
  const auto& second = At(doc, "/clients/1");
  EXPECT_EQ(StrAt(second, "/id"), info.id);
  EXPECT_EQ(StrAt(second, "/name"), "Bob");
  EXPECT_EQ(StrAt(second, "/connectedAt"), "1970-01-01T00:00:01.500Z");
  ASSERT_EQ(SizeAt(second, "/subscriptions"), 1u);
  EXPECT_EQ(StrAt(second, "/subscriptions/0"), "news");
}

TEST_F(ApiTest, WebSocketPathsWithoutUpgradeAre426) {
  for (const char* path : {"/ws", "/ws/echo"}) {
    const Response r = api_.Handle(Get(path));
    ExpectJsonError(r, 426, "Upgrade required");
    EXPECT_EQ(r.Header("Upgrade"), "websocket");
  }
}

}  // namespace
}  // namespace notifyd::http

namespace notifyd::http {
namespace {

// --- positions, history, idempotency, events (PROTOCOL.md Part 2) -----------------------

Request WithHeader(Request r, std::string name, std::string value) {
  r.headers.emplace_back(std::move(name), std::move(value));
  return r;
}

TEST_F(ApiTest, PublishReplyCarriesThePosition) {
  const auto first = ParseJsonText(api_.Handle(PostText("/api/notify/news", "a")).body);
  const auto second = ParseJsonText(api_.Handle(PostText("/api/notify/news", "b")).body);
  EXPECT_EQ(UintAt(first, "/seq"), 1u);
  EXPECT_EQ(UintAt(second, "/seq"), 2u);
  EXPECT_EQ(StrAt(first, "/epoch"), StrAt(second, "/epoch"));
  EXPECT_EQ(StrAt(second, "/id"), StrAt(second, "/epoch") + ":2");
}

TEST_F(ApiTest, IdempotencyKeyRepeatGetsTheFirstReplyAndDeliversNothing) {
  FakeSubscriber* sub = Subscribe("news");
  const Response first =
      api_.Handle(WithHeader(PostText("/api/notify/news", "once"), "Idempotency-Key", "job-42"));
  const Response again = api_.Handle(
      WithHeader(PostText("/api/notify/news", "not even looked at"), "Idempotency-Key", "job-42"));
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(first.Header("Idempotent-Replayed"), "");
  EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(sub->frames().size(), 1u);
}

TEST_F(ApiTest, MalformedIdempotencyKeyIs400) {
  for (const std::string& key : {std::string(), std::string(129, 'k'), std::string("a\x01b")}) {
    ExpectJsonError(
        api_.Handle(WithHeader(PostText("/api/notify/news", "x"), "Idempotency-Key", key)), 400,
        "Invalid Idempotency-Key");
  }
  EXPECT_EQ(api_.Handle(WithHeader(PostText("/api/notify/news", "x"), "Idempotency-Key",
                                   std::string(128, 'k')))
                .status,
            200);
}

TEST_F(ApiTest, MessagesPagesThroughHistory) {
  for (int i = 0; i < 5; ++i) api_.Handle(PostText("/api/notify/news", "n" + std::to_string(i)));
  Response r = api_.Handle(Get("/api/channels/news/messages"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = ParseJsonText(r.body);
  const std::string epoch = StrAt(doc, "/epoch");
  EXPECT_EQ(StrAt(doc, "/channel"), "news");
  EXPECT_EQ(UintAt(doc, "/seq"), 5u);
  EXPECT_TRUE(BoolAt(doc, "/recovered"));
  EXPECT_FALSE(BoolAt(doc, "/more"));
  ASSERT_EQ(SizeAt(doc, "/messages"), 5u);
  EXPECT_EQ(StrAt(doc, "/messages/0/type"), "notification");
  EXPECT_EQ(StrAt(doc, "/messages/0/body"), "n0");

  Request page = Get("/api/channels/news/messages");
  page.query = "since=" + epoch + ":2&limit=2";
  doc = ParseJsonText(api_.Handle(page).body);
  EXPECT_TRUE(BoolAt(doc, "/more"));
  ASSERT_EQ(SizeAt(doc, "/messages"), 2u);
  EXPECT_EQ(UintAt(doc, "/messages/0/seq"), 3u);
  EXPECT_EQ(UintAt(doc, "/messages/1/seq"), 4u);

  page.query = "since=ZyXwVuTs9876:2";
  doc = ParseJsonText(api_.Handle(page).body);
  EXPECT_FALSE(BoolAt(doc, "/recovered"));

  page.query = "since=all";
  EXPECT_EQ(SizeAt(ParseJsonText(api_.Handle(page).body), "/messages"), 5u);
}

TEST_F(ApiTest, MessagesRefusesMalformedParameters) {
  for (const char* query : {"since=x", "since=AbCdEfGh1234:-1", "since=", "limit=0",
                            "limit=1001", "limit=abc", "limit="}) {
    Request r = Get("/api/channels/news/messages");
    r.query = query;
    EXPECT_EQ(api_.Handle(r).status, 400) << query;
  }
  ExpectJsonError(api_.Handle(Get("/api/channels/b%20d/messages")), 400, "Invalid channel name");
}

TEST_F(ApiTest, SubscriberRoutesNeedNoLoopbackButTheSubscribeToken) {
  EXPECT_EQ(api_.Handle(Get("/api/channels/news/messages", kRemote)).status, 200);
  EXPECT_EQ(api_.Handle(Get("/api/channels", kRemote)).status, 403);
  config::Config config;
  config.subscribe_token.secret = "subscribe-token-0123456789";
  api_.Configure(config);
  EXPECT_EQ(api_.Handle(Get("/api/channels/news/messages", kRemote)).status, 401);
  Request with_token = Get("/api/channels/news/messages", kRemote);
  with_token.query = "token=subscribe-token-0123456789";
  EXPECT_EQ(api_.Handle(with_token).status, 200);
}

TEST_F(ApiTest, CommitModePublishIsAnsweredThroughTheCompletion) {
  // A store that never commits by itself: the reply waits for OnCommitted.
  class HoldingStore final : public core::HistoryStore {
   public:
    core::LoadedHistory Load(const core::StoreLimits&, int64_t) override { return {}; }
    void Start(core::StoreEvents* e) override { events = e; }
    void Submit(core::StoreOp op) override {
      if (op.ticket != 0) last_ticket = op.ticket;
    }
    void Resume() override {}
    void SetLimits(const core::StoreLimits&) override {}
    void Close(bool) override {}
    std::string path() const override { return ""; }
    uint64_t FileBytes() const override { return 0; }
    core::StoreEvents* events = nullptr;
    uint64_t last_ticket = 0;
  } store;
  broker_.AttachStore(&store);
  std::vector<Response> answered;
  Request r = PostText("/api/notify/news", "durable");
  r.defer = [&answered]() -> Completion {
    return [&answered](Response response) { answered.push_back(std::move(response)); };
  };
  EXPECT_TRUE(api_.Handle(r).deferred());
  EXPECT_TRUE(answered.empty());
  store.events->OnCommitted(store.last_ticket);
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].status, 200);
  EXPECT_EQ(UintAt(ParseJsonText(answered[0].body), "/seq"), 1u);

  store.events->OnFailed("database or disk is full");
  const Response refused = api_.Handle(PostText("/api/notify/news", "x"));
  ExpectJsonError(refused, 503, "Service unavailable");
  EXPECT_EQ(refused.Header("Retry-After"), "1");
}

TEST_F(ApiTest, OpenEventsTakesLastEventIdOverSince) {
  Api::EventsStart start;
  Request r = Get("/api/events/news");
  EXPECT_TRUE(api_.IsEventsRequest(r));
  EXPECT_FALSE(api_.IsEventsRequest(Get("/api/channels/news/messages")));
  EXPECT_FALSE(api_.OpenEvents(r, &start).has_value());
  EXPECT_EQ(start.channel, "news");
  EXPECT_FALSE(start.since.has_value());

  r.query = "since=AbCdEfGh1234:3";
  EXPECT_FALSE(api_.OpenEvents(r, &start).has_value());
  EXPECT_EQ(start.since, (core::Position{"AbCdEfGh1234", 3}));
  r.headers.emplace_back("Last-Event-ID", "ZyXwVuTs9876:7");
  EXPECT_FALSE(api_.OpenEvents(r, &start).has_value());
  EXPECT_EQ(start.since, (core::Position{"ZyXwVuTs9876", 7}));
}

TEST_F(ApiTest, OpenEventsRefusesBadInput) {
  Api::EventsStart start;
  std::optional<Response> refusal = api_.OpenEvents(Get("/api/events/b%20d"), &start);
  ASSERT_TRUE(refusal.has_value());
  ExpectJsonError(*refusal, 400, "Invalid channel name");
  EXPECT_EQ(refusal->Header("Access-Control-Allow-Origin"), "*");
  refusal = api_.OpenEvents(WithHeader(Get("/api/events/news"), "Last-Event-ID", "nope"), &start);
  ASSERT_TRUE(refusal.has_value());
  ExpectJsonError(*refusal, 400, "Invalid Last-Event-ID");
  Request bad_since = Get("/api/events/news");
  bad_since.query = "since=1";
  ASSERT_TRUE(api_.OpenEvents(bad_since, &start).has_value());
  const Response head = api_.EventsHead();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(head.Header("Cache-Control"), "no-store");
}

}  // namespace
}  // namespace notifyd::http
