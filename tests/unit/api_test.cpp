#include "http/api.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include "config/config.h"
#include "core/hub.h"
#include "protocol/messages.h"
#include "support/fakes.h"

namespace notifyd::http {
namespace {

using testing_support::FakeClock;
using testing_support::FakeSubscriber;

constexpr const char* kLoopback = "127.0.0.1";
constexpr const char* kRemote = "192.0.2.7";

rapidjson::Document ParseJsonText(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << text;
  return doc;
}

// The value at JSON Pointer `path` ("/channels/0/name"; "" is the root), or a
// null value and a test failure when there is none. Never asserts, so a wrong
// shape fails the test instead of aborting the binary in RapidJSON.
const rapidjson::Value& At(const rapidjson::Value& root, const char* path) {
  static const rapidjson::Value kNull;
  const rapidjson::Value* v = rapidjson::Pointer(path).Get(root);
  if (v == nullptr) {
    ADD_FAILURE() << "no value at \"" << path << "\"";
    return kNull;
  }
  return *v;
}

bool Has(const rapidjson::Value& root, const char* path) {
  return rapidjson::Pointer(path).Get(root) != nullptr;
}

std::string StrAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsString()) {
    ADD_FAILURE() << "not a string at \"" << path << "\"";
    return "";
  }
  return std::string(v.GetString(), v.GetStringLength());
}

uint64_t UintAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsUint64()) {
    ADD_FAILURE() << "not an unsigned integer at \"" << path << "\"";
    return 0;
  }
  return v.GetUint64();
}

int64_t IntAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsInt64()) {
    ADD_FAILURE() << "not an integer at \"" << path << "\"";
    return 0;
  }
  return v.GetInt64();
}

bool BoolAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsBool()) {
    ADD_FAILURE() << "not a boolean at \"" << path << "\"";
    return false;
  }
  return v.GetBool();
}

size_t SizeAt(const rapidjson::Value& root, const char* path) {
  const rapidjson::Value& v = At(root, path);
  if (!v.IsArray()) {
    ADD_FAILURE() << "not an array at \"" << path << "\"";
    return 0;
  }
  return v.Size();
}

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
  core::Hub hub_{clock_, encoder_, core::IdSource(3)};
  core::Counters counters_;
  Api api_{hub_, clock_, counters_, &ApiTest::Extra};
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
  for (const char* path : {"/", "/nope", "/api/notify", "/api/notify/", "/api/channels/"}) {
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
    EXPECT_EQ(r.Header("Access-Control-Allow-Headers"), "Content-Type, Authorization") << r.status;
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
