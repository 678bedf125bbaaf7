#include "wire/http_response.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace notifyd::wire {
namespace {

TEST(HttpResponseTest, ReasonPhrases) {
  for (int status : {100, 101, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 411, 413,
                     414, 417, 426, 429, 431, 500, 501, 503, 505}) {
    SCOPED_TRACE(status);
    EXPECT_STRNE(ReasonPhrase(status), "Unknown");
  }
  EXPECT_STREQ(ReasonPhrase(100), "Continue");
  EXPECT_STREQ(ReasonPhrase(414), "URI Too Long");
  EXPECT_STREQ(ReasonPhrase(417), "Expectation Failed");
  EXPECT_STREQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_STREQ(ReasonPhrase(299), "Unknown");
}

TEST(HttpResponseTest, SerializesStatusHeadersLengthAndBody) {
  http::Response r;
  r.status = 404;
  r.headers = {{"Content-Type", "application/json"}, {"content-length", "999"}, {"X-A", "b"}};
  r.body = "{\"e\":1}";
  EXPECT_EQ(SerializeResponse(r, false, "Sun, 06 Nov 1994 08:49:37 GMT"),
            "HTTP/1.1 404 Not Found\r\n"
            "Server: notifyd\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: application/json\r\n"
            "X-A: b\r\n"
            "Content-Length: 7\r\n"
            "\r\n"
            "{\"e\":1}");
}

TEST(HttpResponseTest, SharedHeaderLinesFollowTheOwnOnes) {
  http::Response r;
  r.headers = {{"Content-Type", "application/json"}};
  r.shared_headers = std::make_shared<const std::string>("A-B: *\r\nC-D: x, y\r\n");
  r.body = "{}";
  EXPECT_EQ(SerializeResponse(r, false, ""),
            "HTTP/1.1 200 OK\r\n"
            "Server: notifyd\r\n"
            "Content-Type: application/json\r\n"
            "A-B: *\r\n"
            "C-D: x, y\r\n"
            "Content-Length: 2\r\n"
            "\r\n{}");
  EXPECT_EQ(r.Header("a-b"), "*");
  EXPECT_EQ(r.Header("C-D"), "x, y");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("A"), "");
  EXPECT_EQ(r.Header("Missing"), "");
}

TEST(HttpResponseTest, HeadOnlyKeepsTheLengthWithoutTheBody) {
  http::Response r;
  r.body = "hello";
  EXPECT_EQ(SerializeResponse(r, true, ""),
            "HTTP/1.1 200 OK\r\nServer: notifyd\r\nContent-Length: 5\r\n\r\n");
}

TEST(HttpResponseTest, NoContentLengthFor1xx204And304) {
  http::Response upgrade;
  upgrade.status = 101;
  upgrade.headers = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
  EXPECT_EQ(SerializeResponse(upgrade, false, ""),
            "HTTP/1.1 101 Switching Protocols\r\nServer: notifyd\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n\r\n");
  http::Response empty;
  empty.status = 204;
  EXPECT_EQ(SerializeResponse(empty, false, ""),
            "HTTP/1.1 204 No Content\r\nServer: notifyd\r\n\r\n");
  http::Response not_modified;
  not_modified.status = 304;
  not_modified.headers = {{"ETag", "\"1\""}};
  EXPECT_EQ(SerializeResponse(not_modified, false, ""),
            "HTTP/1.1 304 Not Modified\r\nServer: notifyd\r\nETag: \"1\"\r\n\r\n");
}

TEST(HttpResponseTest, UntilCloseHasNeitherLengthNorTransferEncoding) {
  http::Response r;
  r.headers = {{"Content-Type", "text/event-stream"}, {"Content-Length", "3"}};
  EXPECT_EQ(SerializeResponse(r, false, "", BodyLength::kUntilClose),
            "HTTP/1.1 200 OK\r\nServer: notifyd\r\nContent-Type: text/event-stream\r\n\r\n");
}

TEST(HttpResponseTest, ContinueResponse) {
  EXPECT_EQ(kContinueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(HttpResponseTest, HttpDateIsImfFixdate) {
  EXPECT_EQ(HttpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(HttpDate(784111777999), "Sun, 06 Nov 1994 08:49:37 GMT");  // rounds down
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(HttpDate(951782400000), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(HttpDate(1798761599000), "Thu, 31 Dec 2026 23:59:59 GMT");
}

}  // namespace
}  // namespace notifyd::wire
