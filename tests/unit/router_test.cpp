#include "http/router.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::http {
namespace {

// A handler that answers with `tag` in the body, so a test sees which route won.
Handler Tagged(std::string tag) {
  return [tag](const Request&, const Params&) { return Response{200, {}, tag}; };
}

std::string Call(const Match& match) {
  if (match.handler == nullptr) return "<none>";
  return (*match.handler)(Request{}, match.params).body;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add("POST", "/api/notify/{channel}", Tagged("notify"));
    router_.Add("GET", "/api/channels", Tagged("channels"));
    router_.Add("GET", "/health", Tagged("health"));
    router_.Add("GET", "/ws", Tagged("ws"));
    router_.Add("GET", "/things/{id}", Tagged("get-thing"));
    router_.Add("DELETE", "/things/{id}", Tagged("delete-thing"));
  }
  Router router_;
};

TEST_F(RouterTest, FindsExactRoutes) {
  Match m = router_.Route("GET", "/api/channels");
  EXPECT_EQ(m.kind, Match::kFound);
  EXPECT_EQ(Call(m), "channels");
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(Call(router_.Route("GET", "/health")), "health");
  EXPECT_EQ(Call(router_.Route("GET", "/ws")), "ws");
}

TEST_F(RouterTest, CapturesSegment) {
  Match m = router_.Route("POST", "/api/notify/news");
  ASSERT_EQ(m.kind, Match::kFound);
  EXPECT_EQ(Call(m), "notify");
  EXPECT_EQ(m.params, (Params{{"channel", "news"}}));
}

TEST_F(RouterTest, CaptureIsPercentDecoded) {
  Match m = router_.Route("POST", "/api/notify/a%40b");
  ASSERT_EQ(m.kind, Match::kFound);
  EXPECT_EQ(m.params, (Params{{"channel", "a@b"}}));
  EXPECT_EQ(router_.Route("POST", "/api/notify/a%20b").params, (Params{{"channel", "a b"}}));
  EXPECT_EQ(router_.Route("POST", "/api/notify/a%2Fb").params, (Params{{"channel", "a/b"}}));
}

TEST_F(RouterTest, PlusInPathIsNotASpace) {
  EXPECT_EQ(router_.Route("POST", "/api/notify/a+b").params, (Params{{"channel", "a+b"}}));
}

TEST_F(RouterTest, MalformedEscapeIsBadPath) {
  for (const char* path :
       {"/api/notify/a%zz", "/api/notify/a%4", "/api/notify/%", "/api/notify/%g0"}) {
    Match m = router_.Route("POST", path);
    EXPECT_EQ(m.kind, Match::kBadPath) << path;
    EXPECT_EQ(m.handler, nullptr);
  }
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  for (const char* path :
       {"/", "", "/nope", "/api", "/api/notify", "/api/notify/a/b", "/API/channels", "/healthz"}) {
    Match m = router_.Route("GET", path);
    EXPECT_EQ(m.kind, Match::kNotFound) << path;
    EXPECT_EQ(m.handler, nullptr);
  }
}

TEST_F(RouterTest, WrongMethodIsMethodNotAllowed) {
  Match m = router_.Route("POST", "/api/channels");
  EXPECT_EQ(m.kind, Match::kMethodNotAllowed);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.allow, "GET, HEAD, OPTIONS");
  EXPECT_EQ(router_.Route("GET", "/api/notify/news").allow, "POST, OPTIONS");
}

TEST_F(RouterTest, HeadIsRoutedToGet) {
  Match m = router_.Route("HEAD", "/things/7");
  EXPECT_EQ(m.kind, Match::kFound);
  EXPECT_EQ(Call(m), "get-thing");
  EXPECT_EQ(router_.Route("HEAD", "/api/notify/news").kind, Match::kMethodNotAllowed);
}

TEST_F(RouterTest, AllowListsEveryMethodOfThePath) {
  Match m = router_.Route("PUT", "/things/7");
  EXPECT_EQ(m.kind, Match::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, DELETE, OPTIONS");
}

TEST_F(RouterTest, SamePatternDispatchesByMethod) {
  EXPECT_EQ(Call(router_.Route("GET", "/things/7")), "get-thing");
  EXPECT_EQ(Call(router_.Route("DELETE", "/things/7")), "delete-thing");
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  EXPECT_EQ(router_.Route("get", "/health").kind, Match::kMethodNotAllowed);
}

TEST_F(RouterTest, TrailingSlashDoesNotMatch) {
  EXPECT_EQ(router_.Route("GET", "/health/").kind, Match::kNotFound);
  EXPECT_EQ(router_.Route("GET", "/api/channels/").kind, Match::kNotFound);
  EXPECT_EQ(router_.Route("POST", "/api/notify/news/").kind, Match::kNotFound);
}

TEST_F(RouterTest, EmptyCaptureSegmentDoesNotMatch) {
  EXPECT_EQ(router_.Route("POST", "/api/notify/").kind, Match::kNotFound);
  EXPECT_EQ(router_.Route("POST", "/api/notify//x").kind, Match::kNotFound);
}

TEST_F(RouterTest, EmptyRouterFindsNothing) {
  Router empty;
  EXPECT_EQ(empty.Route("GET", "/").kind, Match::kNotFound);
}

// --- PercentDecode --------------------------------------------------------------------

std::string Decoded(std::string_view in, bool plus_is_space) {
  std::string out = "<garbage>";
  EXPECT_TRUE(PercentDecode(in, plus_is_space, &out)) << in;
  return out;
}

TEST(PercentDecodeTest, DecodesEscapes) {
  EXPECT_EQ(Decoded("", false), "");
  EXPECT_EQ(Decoded("plain", false), "plain");
  EXPECT_EQ(Decoded("a%40b", false), "a@b");
  EXPECT_EQ(Decoded("%48%65%6c%6C%6f", false), "Hello");
  EXPECT_EQ(Decoded("%C3%A9", false), "\xC3\xA9");
  EXPECT_EQ(Decoded("%00", false), std::string(1, '\0'));
  EXPECT_EQ(Decoded("%25", false), "%");
  EXPECT_EQ(Decoded("%2525", false), "%25");
}

TEST(PercentDecodeTest, PlusHandling) {
  EXPECT_EQ(Decoded("a+b", true), "a b");
  EXPECT_EQ(Decoded("a+b", false), "a+b");
  EXPECT_EQ(Decoded("a%2Bb", true), "a+b");
}

TEST(PercentDecodeTest, RejectsMalformedEscapes) {
  std::string out;
  for (const char* in : {"%", "%4", "a%", "%zz", "%4g", "%g4", "ab%-1"}) {
    EXPECT_FALSE(PercentDecode(in, false, &out)) << in;
  }
}

// --- QueryParam --------------------------------------------------------------------------

TEST(QueryParamTest, FindsPresentKey) {
  std::string value;
  ASSERT_TRUE(QueryParam("title=Hello", "title", &value));
  EXPECT_EQ(value, "Hello");
  ASSERT_TRUE(QueryParam("a=1&title=Hi&b=2", "title", &value));
  EXPECT_EQ(value, "Hi");
}

TEST(QueryParamTest, AbsentKey) {
  std::string value;
  EXPECT_FALSE(QueryParam("", "title", &value));
  EXPECT_FALSE(QueryParam("a=1&b=2", "title", &value));
  EXPECT_FALSE(QueryParam("titles=x&xtitle=y", "title", &value));
}

TEST(QueryParamTest, EmptyValue) {
  std::string value = "stale";
  ASSERT_TRUE(QueryParam("title=", "title", &value));
  EXPECT_EQ(value, "");
  value = "stale";
  ASSERT_TRUE(QueryParam("a=1&title", "title", &value));
  EXPECT_EQ(value, "");
}

TEST(QueryParamTest, DecodesValueAndKey) {
  std::string value;
  ASSERT_TRUE(QueryParam("title=Hello%20World", "title", &value));
  EXPECT_EQ(value, "Hello World");
  ASSERT_TRUE(QueryParam("title=Hello+World%21", "title", &value));
  EXPECT_EQ(value, "Hello World!");
  ASSERT_TRUE(QueryParam("ti%74le=x", "title", &value));
  EXPECT_EQ(value, "x");
  ASSERT_TRUE(QueryParam("title=a=b", "title", &value));
  EXPECT_EQ(value, "a=b");
}

TEST(QueryParamTest, FirstOfDuplicatesWins) {
  std::string value;
  ASSERT_TRUE(QueryParam("title=first&title=second", "title", &value));
  EXPECT_EQ(value, "first");
}

TEST(QueryParamTest, MalformedValueIsFalse) {
  std::string value;
  EXPECT_FALSE(QueryParam("title=%zz", "title", &value));
}

// --- IsLoopback ------------------------------------------------------------------------

TEST(IsLoopbackTest, LoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopback(address)) << address;
  }
}

TEST(IsLoopbackTest, OtherAddresses) {
  for (const char* address :
       {"10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "", "0.0.0.0", "192.0.2.7", "1.127.0.0",
        "::", "::2", "fe80::1", "2001:db8::1", "::ffff:128.0.0.1"}) {
    EXPECT_FALSE(IsLoopback(address)) << address;
  }
}

// --- Request / Response headers -----------------------------------------------------------

TEST(RequestTest, HeaderIsCaseInsensitive) {
  Request r;
  r.headers = {{"Content-Type", "text/plain"}, {"X-Other", "1"}};
  EXPECT_EQ(r.Header("content-type"), "text/plain");
  EXPECT_EQ(r.Header("CONTENT-TYPE"), "text/plain");
  EXPECT_TRUE(r.HasHeader("x-other"));
  EXPECT_FALSE(r.HasHeader("Content-Length"));
  EXPECT_EQ(r.Header("Content-Length"), "");
}

TEST(RequestTest, FirstHeaderWinsAndEmptyValueCounts) {
  Request r;
  r.headers = {{"Title", "one"}, {"title", "two"}, {"Content-Length", ""}};
  EXPECT_EQ(r.Header("TITLE"), "one");
  EXPECT_TRUE(r.HasHeader("content-length"));
  EXPECT_EQ(r.Header("content-length"), "");
}

TEST(ResponseTest, SetHeaderReplacesCaseInsensitively) {
  Response r;
  r.SetHeader("Content-Type", "text/plain");
  r.SetHeader("content-type", "application/json");
  EXPECT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.Header("CONTENT-TYPE"), "application/json");
  r.SetHeader("Allow", "GET");
  EXPECT_EQ(r.headers.size(), 2u);
}

}  // namespace
}  // namespace notifyd::http
