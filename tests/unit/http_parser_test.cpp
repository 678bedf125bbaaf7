#include "wire/http_parser.h"

#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

namespace notifyd::wire {
namespace {

using State = HttpHeadParser::State;

constexpr std::string_view kGet =
    "GET /api/channels?limit=10 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Accept: */*\r\n"
    "\r\n";

// Feeds `data` in one call and returns the state; *consumed as reported.
State FeedOnce(HttpHeadParser& parser, std::string_view data, size_t* consumed) {
  *consumed = 0;
  return parser.Feed(data, consumed);
}

// Feeds `data` in pieces of `step` bytes until the parser stops needing more.
// Returns the final state and, in *consumed, the total bytes it consumed.
State FeedInSteps(HttpHeadParser& parser, std::string_view data, size_t step, size_t* total) {
  *total = 0;
  State state = State::kNeedMore;
  for (size_t pos = 0; pos < data.size() && state == State::kNeedMore; pos += step) {
    size_t consumed = 0;
    state = parser.Feed(data.substr(pos, step), &consumed);
    *total += consumed;
  }
  return state;
}

// The status of the error `head` gets, or 0 when it parses.
int ErrorStatus(std::string_view head, HttpLimits limits = {}) {
  HttpHeadParser parser(limits);
  size_t consumed;
  State state = FeedOnce(parser, head, &consumed);
  if (state == State::kDone) return 0;
  if (state == State::kNeedMore) return -1;
  return parser.error_status();
}

void ExpectSameRequest(const http::Request& a, const http::Request& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.headers, b.headers);
  EXPECT_EQ(a.body, b.body);
}

// --- well-formed heads -------------------------------------------------------

TEST(HttpHeadParserTest, ParsesSimpleGet) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, kGet, &consumed), State::kDone);
  EXPECT_EQ(consumed, kGet.size());
  const http::Request& r = parser.request();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/api/channels");
  EXPECT_EQ(r.query, "limit=10");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>("Host", "localhost:8080")));
  EXPECT_EQ(r.headers[1], (std::pair<std::string, std::string>("Accept", "*/*")));
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.peer_address.empty());
  EXPECT_EQ(parser.version_minor(), 1);
  EXPECT_EQ(parser.error_status(), 0);
}

TEST(HttpHeadParserTest, LeavesBodyBytesUnconsumed) {
  const std::string head =
      "POST /api/notify/news HTTP/1.1\r\n"
      "Host: x\r\n"
      "Content-Length: 11\r\n"
      "\r\n";
  const std::string data = head + "{\"a\":\"b\r\n\"}GET / HTTP/1.1\r\n\r\n";
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, data, &consumed), State::kDone);
  EXPECT_EQ(consumed, head.size());
  EXPECT_EQ(parser.request().method, "POST");
  EXPECT_EQ(parser.request().path, "/api/notify/news");
  EXPECT_EQ(parser.request().Header("content-length"), "11");
  EXPECT_TRUE(parser.request().body.empty());
}

TEST(HttpHeadParserTest, ConsumesOnlyUpToTheEndOfTheHeadWhenItEndsInALaterCall) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: x\r\n\r", &consumed), State::kNeedMore);
  EXPECT_EQ(consumed, 26u);
  ASSERT_EQ(FeedOnce(parser, "\nbody", &consumed), State::kDone);
  EXPECT_EQ(consumed, 1u);
}

TEST(HttpHeadParserTest, EverySplitInTwoGivesTheSameRequest) {
  const std::string data = std::string(kGet) + "trailing";
  HttpHeadParser whole;
  size_t consumed;
  ASSERT_EQ(FeedOnce(whole, data, &consumed), State::kDone);

  for (size_t split = 0; split <= kGet.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    HttpHeadParser parser;
    size_t first;
    State state = FeedOnce(parser, std::string_view(data).substr(0, split), &first);
    if (split < kGet.size()) {
      ASSERT_EQ(state, State::kNeedMore);
      ASSERT_EQ(first, split);
      size_t second;
      ASSERT_EQ(FeedOnce(parser, std::string_view(data).substr(split), &second), State::kDone);
      EXPECT_EQ(first + second, kGet.size());
    } else {
      ASSERT_EQ(state, State::kDone);
      EXPECT_EQ(first, kGet.size());
    }
    ExpectSameRequest(parser.request(), whole.request());
    EXPECT_EQ(parser.version_minor(), 1);
  }
}

TEST(HttpHeadParserTest, ByteByByteGivesTheSameRequest) {
  const std::string data = std::string(kGet) + "trailing";
  HttpHeadParser whole;
  size_t consumed;
  ASSERT_EQ(FeedOnce(whole, data, &consumed), State::kDone);

  HttpHeadParser parser;
  size_t total;
  ASSERT_EQ(FeedInSteps(parser, data, 1, &total), State::kDone);
  EXPECT_EQ(total, kGet.size());
  ExpectSameRequest(parser.request(), whole.request());
}

TEST(HttpHeadParserTest, EmptyFeedNeedsMore) {
  HttpHeadParser parser;
  size_t consumed = 99;
  EXPECT_EQ(parser.Feed({}, &consumed), State::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

TEST(HttpHeadParserTest, SplitsTheQueryAtTheFirstQuestionMark) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET /a%20b?x=1?y=2&z HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().path, "/a%20b");
  EXPECT_EQ(parser.request().query, "x=1?y=2&z");

  parser.Reset();
  ASSERT_EQ(FeedOnce(parser, "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().path, "/p");
  EXPECT_EQ(parser.request().query, "");

  parser.Reset();
  ASSERT_EQ(FeedOnce(parser, "GET /p HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().path, "/p");
  EXPECT_EQ(parser.request().query, "");
}

TEST(HttpHeadParserTest, KeepsHeaderOrderAndNamesTrimsValuesAndCombinesRepeats) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser,
                     "GET / HTTP/1.1\r\n"
                     "Host: h\r\n"
                     "X-B: \t two words \t\r\n"
                     "x-a:1\r\n"
                     "X-B: again\r\n"
                     "Empty:\r\n"
                     "Blank: \t \r\n"
                     "Colons: a:b: c\r\n"
                     "\r\n",
                     &consumed),
            State::kDone);
  // RFC 9110 §5.3: the repeated X-B joins the first one, in order, under the
  // name as first sent.
  const http::Headers expected = {{"Host", "h"},  {"X-B", "two words, again"}, {"x-a", "1"},
                                  {"Empty", ""},  {"Blank", ""},               {"Colons", "a:b: c"}};
  EXPECT_EQ(parser.request().headers, expected);
}

TEST(HttpHeadParserTest, AllowsObsTextInValues) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n", &consumed),
            State::kDone);
  EXPECT_EQ(parser.request().Header("x-name"), "caf\xc3\xa9 \xff");
}

TEST(HttpHeadParserTest, AcceptsLfOnlyAndMixedLineEndings) {
  HttpHeadParser parser;
  size_t consumed;
  const std::string lf = "GET /x HTTP/1.1\nHost: h\nA: b\n\nrest";
  ASSERT_EQ(FeedOnce(parser, lf, &consumed), State::kDone);
  EXPECT_EQ(consumed, lf.size() - 4);
  EXPECT_EQ(parser.request().path, "/x");
  EXPECT_EQ(parser.request().headers, (http::Headers{{"Host", "h"}, {"A", "b"}}));

  for (std::string_view mixed : {"GET /x HTTP/1.1\r\nHost: h\nA: b\r\n\n",
                                 "GET /x HTTP/1.1\nHost: h\r\nA: b\n\r\n"}) {
    SCOPED_TRACE(std::string(mixed));
    parser.Reset();
    ASSERT_EQ(FeedOnce(parser, mixed, &consumed), State::kDone);
    EXPECT_EQ(consumed, mixed.size());
    EXPECT_EQ(parser.request().headers, (http::Headers{{"Host", "h"}, {"A", "b"}}));
  }
}

TEST(HttpHeadParserTest, SkipsEmptyLinesBeforeTheRequestLine) {
  const std::string data = "\r\n\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\nX";
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, data, &consumed), State::kDone);
  EXPECT_EQ(consumed, data.size() - 1);
  EXPECT_EQ(parser.request().path, "/after");
  EXPECT_EQ(parser.request().headers, (http::Headers{{"Host", "h"}}));

  // The same, one byte at a time: the empty lines must not end the head.
  HttpHeadParser bytewise;
  size_t total;
  ASSERT_EQ(FeedInSteps(bytewise, data, 1, &total), State::kDone);
  EXPECT_EQ(total, data.size() - 1);
  ExpectSameRequest(bytewise.request(), parser.request());
}

TEST(HttpHeadParserTest, Http10HeadWithoutHeaders) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "DELETE /things/1 HTTP/1.0\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().host, "");
  EXPECT_EQ(parser.request().method, "DELETE");
  EXPECT_TRUE(parser.request().headers.empty());
}

TEST(HttpHeadParserTest, ReportsTheMinorVersion) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.0\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.version_minor(), 0);
  EXPECT_EQ(parser.request().version_minor, 0);
  parser.Reset();
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.version_minor(), 1);
  EXPECT_EQ(parser.request().version_minor, 1);
}

TEST(HttpHeadParserTest, AcceptsAnyTokenAsMethod) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().method, "M-SEARCH!");
}

TEST(HttpHeadParserTest, RepeatedIdenticalContentLengthIsOneValue) {
  for (std::string_view head :
       {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length:5 \r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\nContent-Length: 5\r\n\r\n"}) {
    SCOPED_TRACE(std::string(head));
    HttpHeadParser parser;
    size_t consumed;
    ASSERT_EQ(FeedOnce(parser, head, &consumed), State::kDone);
    EXPECT_EQ(parser.request().headers,
              (http::Headers{{"Host", "h"}, {"Content-Length", "5"}}));
    EXPECT_EQ(parser.framing(), HttpHeadParser::BodyFraming::kLength);
    EXPECT_EQ(parser.content_length(), 5u);
  }
}

// --- errors --------------------------------------------------------------------

struct ErrorCase {
  const char* what;
  std::string_view head;
  int status;
};

void ExpectErrors(std::initializer_list<ErrorCase> cases) {
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    HttpHeadParser parser;
    size_t consumed;
    ASSERT_EQ(FeedOnce(parser, c.head, &consumed), State::kError);
    EXPECT_EQ(parser.error_status(), c.status);
    EXPECT_FALSE(parser.error().empty());
    EXPECT_TRUE(parser.request().method.empty());
    EXPECT_TRUE(parser.request().headers.empty());
  }
}

TEST(HttpHeadParserErrorTest, MalformedRequestLineIs400) {
  using namespace std::string_view_literals;
  ExpectErrors({
      {"no spaces", "GET\r\n\r\n", 400},
      {"one space", "GET /\r\n\r\n", 400},
      {"no version", "GET / \r\n\r\n", 400},
      {"double space", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"space before version", "GET /  HTTP/1.1\r\n\r\n", 400},
      {"trailing space", "GET / HTTP/1.1 \r\n\r\n", 400},
      {"leading space", " GET / HTTP/1.1\r\n\r\n", 400},
      {"tab separator", "GET\t/ HTTP/1.1\r\n\r\n", 400},
      {"empty method", " / HTTP/1.1\r\n\r\n", 400},
      {"non-token method", "GE(T / HTTP/1.1\r\n\r\n", 400},
      {"lowercase protocol", "GET / http/1.1\r\n\r\n", 400},
      {"not HTTP", "GET / FTP/1.1\r\n\r\n", 400},
      {"no minor", "GET / HTTP/1\r\n\r\n", 400},
      {"two-digit major", "GET / HTTP/10.1\r\n\r\n", 400},
      {"stray CR", "GET / HTTP/1.1\r\r\n\r\n", 400},
      {"NUL in line", "GET / HTTP/1.1\0\r\n\r\n"sv, 400},
  });
}

TEST(HttpHeadParserErrorTest, InvalidTargetFormIs400) {
  ExpectErrors({
      {"asterisk-form with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"relative", "GET api HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"query only", "GET ?a=b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"other scheme", "GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"no authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"userinfo", "GET http://user@example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"port only", "GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad port", "GET http://example.com:8x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
  });
}

TEST(HttpHeadParserErrorTest, ConnectIs501) {
  ExpectErrors({
      {"authority-form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 501},
      {"origin-form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
  });
}

TEST(HttpHeadParserErrorTest, NonVisibleTargetCharIs400) {
  using namespace std::string_view_literals;
  ExpectErrors({
      {"DEL", "GET /a\x7f HTTP/1.1\r\n\r\n", 400},
      {"control", "GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"tab", "GET /a\tb HTTP/1.1\r\n\r\n", 400},
      {"NUL", "GET /a\0 HTTP/1.1\r\n\r\n"sv, 400},
      {"non-ASCII", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400},
  });
}

TEST(HttpHeadParserTest, HigherMinorVersionIsServedAsHttp11) {
  for (const char* version : {"1.2", "1.9"}) {
    HttpHeadParser parser;
    size_t consumed;
    std::string head = std::string("GET / HTTP/") + version + "\r\nHost: a\r\n\r\n";
    ASSERT_EQ(FeedOnce(parser, head, &consumed), State::kDone) << version;
    EXPECT_EQ(parser.version_minor(), 1) << version;
    EXPECT_TRUE(parser.keep_alive()) << version;
  }
}

TEST(HttpHeadParserErrorTest, OtherHttpVersionIs505) {
  ExpectErrors({
      {"2.0", "GET / HTTP/2.0\r\n\r\n", 505},
      {"0.9", "GET / HTTP/0.9\r\n\r\n", 505},
      {"3.0", "GET / HTTP/3.0\r\n\r\n", 505},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/2.0\r\n\r\n", &consumed), State::kError);
  EXPECT_EQ(parser.error(), "HTTP version not supported");
}

TEST(HttpHeadParserErrorTest, MalformedHeaderFieldIs400) {
  ExpectErrors({
      {"no colon", "GET / HTTP/1.1\r\nHost localhost\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400},
      {"tab before colon", "GET / HTTP/1.1\r\nHost\t: localhost\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\n: value\r\n\r\n", 400},
      {"non-token name", "GET / HTTP/1.1\r\nX(y): 1\r\n\r\n", 400},
      {"lone CR line", "GET / HTTP/1.1\r\nA: b\r\n\r\r\n\r\n", 400},
  });
}

TEST(HttpHeadParserErrorTest, ObsFoldIs400) {
  ExpectErrors({
      {"space fold", "GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", 400},
      {"tab fold", "GET / HTTP/1.1\r\nX-A: one\r\n\ttwo\r\n\r\n", 400},
      {"whitespace after request line", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400},
  });
}

TEST(HttpHeadParserErrorTest, ControlCharInValueIs400) {
  using namespace std::string_view_literals;
  ExpectErrors({
      {"NUL", "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"sv, 400},
      {"bare CR", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400},
      {"ESC", "GET / HTTP/1.1\r\nX-A: a\x1b[0m\r\n\r\n", 400},
      {"DEL", "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400},
      {"trailing CR before CRLF", "GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", 400},
  });
  // HTAB inside a value is allowed.
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\n\r\n", &consumed),
            State::kDone);
  EXPECT_EQ(parser.request().Header("X-A"), "a\tb");
}

TEST(HttpHeadParserErrorTest, ConflictingContentLengthIs400) {
  ExpectErrors({
      {"different values",
       "POST / HTTP/1.1\r\nContent-Length: 5\r\nX: y\r\ncontent-length: 6\r\n\r\n", 400},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n",
                     &consumed),
            State::kError);
  EXPECT_EQ(parser.error(), "Conflicting Content-Length");
}

TEST(HttpHeadParserErrorTest, ContentLengthWithTransferEncodingIs400) {
  ExpectErrors({
      {"CL then TE",
       "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE then CL",
       "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n", 400},
  });
}

TEST(HttpHeadParserErrorTest, ErrorDoesNotEchoTheInput) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET http://secret.example/ HTTP/1.1\r\n\r\n", &consumed),
            State::kError);
  EXPECT_EQ(parser.error().find("secret"), std::string::npos);
  parser.Reset();
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nX-Token: secret\x01\r\n\r\n", &consumed),
            State::kError);
  EXPECT_EQ(parser.error().find("secret"), std::string::npos);
  EXPECT_EQ(parser.error().find("X-Token"), std::string::npos);
}

// --- limits --------------------------------------------------------------------

// A head of exactly `size` bytes: request line, one padding header, blank line.
std::string HeadOfSize(size_t size) {
  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(size - start.size() - end.size(), 'p') + end;
}

TEST(HttpHeadParserLimitTest, HeadExactlyAtTheLimitIsAccepted) {
  HttpLimits limits;
  limits.max_head_bytes = 200;
  const std::string head = HeadOfSize(200);
  ASSERT_EQ(head.size(), 200u);

  HttpHeadParser parser(limits);
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, head + "body", &consumed), State::kDone);
  EXPECT_EQ(consumed, 200u);

  HttpHeadParser bytewise(limits);
  size_t total;
  ASSERT_EQ(FeedInSteps(bytewise, head + "body", 1, &total), State::kDone);
  EXPECT_EQ(total, 200u);
}

TEST(HttpHeadParserLimitTest, OneByteOverTheLimitIs431) {
  HttpLimits limits;
  limits.max_head_bytes = 200;
  const std::string head = HeadOfSize(201);

  HttpHeadParser parser(limits);
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, head, &consumed), State::kError);
  EXPECT_EQ(parser.error_status(), 431);
  EXPECT_EQ(parser.error(), "Request header fields too large");

  HttpHeadParser bytewise(limits);
  size_t total;
  ASSERT_EQ(FeedInSteps(bytewise, head, 1, &total), State::kError);
  EXPECT_EQ(bytewise.error_status(), 431);
  EXPECT_LE(total, 200u);  // nothing past the limit was taken in

  // No terminator at all: rejected as soon as the limit is passed.
  HttpHeadParser endless(limits);
  ASSERT_EQ(FeedOnce(endless, std::string(200, 'G'), &consumed), State::kNeedMore);
  ASSERT_EQ(FeedOnce(endless, "G", &consumed), State::kError);
  EXPECT_EQ(endless.error_status(), 431);
}

TEST(HttpHeadParserLimitTest, LeadingEmptyLinesCountTowardsTheLimit) {
  HttpLimits limits;
  limits.max_head_bytes = 100;
  HttpHeadParser parser(limits);
  size_t consumed;
  std::string crlfs;
  for (int i = 0; i < 50; ++i) crlfs += "\r\n";
  ASSERT_EQ(FeedOnce(parser, crlfs, &consumed), State::kNeedMore);
  ASSERT_EQ(FeedOnce(parser, "\r\n", &consumed), State::kError);
  EXPECT_EQ(parser.error_status(), 431);
}

std::string HeadWithHeaders(size_t count) {
  std::string head = "GET / HTTP/1.0\r\n";
  for (size_t i = 0; i < count; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

TEST(HttpHeadParserLimitTest, HeaderCountLimit) {
  HttpLimits limits;
  limits.max_headers = 5;
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(5), limits), 0);
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(6), limits), 431);

  limits.max_headers = 0;
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(0), limits), 0);
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(1), limits), 431);

  // The defaults: 100.
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(100)), 0);
  EXPECT_EQ(ErrorStatus(HeadWithHeaders(101)), 431);
}

// --- life cycle ------------------------------------------------------------------

TEST(HttpHeadParserTest, FeedAfterDoneReturnsDoneAndConsumesNothing) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, kGet, &consumed), State::kDone);
  consumed = 99;
  EXPECT_EQ(parser.Feed("GET /other HTTP/1.1\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.request().path, "/api/channels");
}

TEST(HttpHeadParserTest, FeedAfterErrorReturnsErrorAndConsumesNothing) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/2.0\r\n\r\n", &consumed), State::kError);
  consumed = 99;
  EXPECT_EQ(parser.Feed(kGet, &consumed), State::kError);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.error_status(), 505);
}

TEST(HttpHeadParserTest, ResetThenASecondPipelinedRequestParses) {
  const std::string data =
      "POST /api/notify/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /health HTTP/1.0\r\nAccept: text/plain\r\n\r\n";
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, data, &consumed), State::kDone);
  EXPECT_EQ(parser.request().method, "POST");
  const size_t next = consumed + 2;  // the caller reads the 2-byte body itself

  parser.Reset();
  EXPECT_TRUE(parser.request().method.empty());
  EXPECT_TRUE(parser.request().headers.empty());
  ASSERT_EQ(FeedOnce(parser, std::string_view(data).substr(next), &consumed), State::kDone);
  EXPECT_EQ(consumed, data.size() - next);
  EXPECT_EQ(parser.request().method, "GET");
  EXPECT_EQ(parser.request().path, "/health");
  EXPECT_EQ(parser.request().headers, (http::Headers{{"Accept", "text/plain"}}));
  EXPECT_EQ(parser.version_minor(), 0);
}

TEST(HttpHeadParserTest, ResetAfterErrorClearsIt) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET * HTTP/1.1\r\n\r\n", &consumed), State::kError);
  parser.Reset();
  EXPECT_EQ(parser.error_status(), 0);
  EXPECT_TRUE(parser.error().empty());
  ASSERT_EQ(FeedOnce(parser, kGet, &consumed), State::kDone);
  EXPECT_EQ(parser.request().path, "/api/channels");
}

TEST(HttpHeadParserTest, ResetMidHeadStartsOver) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET /first HTTP/1.1\r\nX: y\r\n", &consumed), State::kNeedMore);
  parser.Reset();
  // Had the scan state survived, this leading CRLF would end the old head.
  ASSERT_EQ(FeedOnce(parser, "\r\nGET /second HTTP/1.0\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.request().path, "/second");
  EXPECT_TRUE(parser.request().headers.empty());
}

// Deterministic garbage (the real fuzzing is tests/fuzz): every input ends in
// a definite state, never throws, and never consumes more than it was given.
TEST(HttpHeadParserTest, SurvivesArbitraryBytes) {
  std::mt19937 rng(12345);
  const std::string alphabet = std::string("GET /?HTTP1.0:\t ab\x7f\x80", 20) + std::string("\r\n\0", 3);
  HttpLimits limits;
  limits.max_head_bytes = 256;
  limits.max_headers = 4;
  for (int round = 0; round < 2000; ++round) {
    std::string input(rng() % 300, '\0');
    for (char& c : input) {
      c = rng() % 4 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    HttpHeadParser parser(limits);
    size_t pos = 0;
    State state = State::kNeedMore;
    while (pos < input.size() && state == State::kNeedMore) {
      const size_t step = 1 + rng() % 17;
      size_t consumed = 0;
      const std::string_view piece = std::string_view(input).substr(pos, step);
      ASSERT_NO_THROW(state = parser.Feed(piece, &consumed));
      ASSERT_LE(consumed, piece.size());
      if (state == State::kNeedMore) {
        ASSERT_EQ(consumed, piece.size());
      }
      pos += consumed;
    }
    if (state == State::kError) {
      const int status = parser.error_status();
      EXPECT_TRUE(status == 400 || status == 414 || status == 417 || status == 431 ||
                  status == 501 || status == 505)
          << status;
    }
  }
}


// --- RFC 9110/9112 semantics: framing, persistence, Expect, Host, targets ----------

using Framing = HttpHeadParser::BodyFraming;

// A parser that has parsed `head` (which must parse).
struct Parsed {
  explicit Parsed(std::string_view head, HttpLimits limits = {}) : parser(limits) {
    size_t consumed;
    done = FeedOnce(parser, head, &consumed) == State::kDone;
  }
  HttpHeadParser parser;
  bool done = false;
};

TEST(HttpHeadParserFramingTest, NoBodyHeadersMeansNoBody) {
  Parsed p("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(p.done);
  EXPECT_EQ(p.parser.framing(), Framing::kNone);
  EXPECT_EQ(p.parser.content_length(), 0u);
}

TEST(HttpHeadParserFramingTest, ContentLengthOnAnyMethod) {
  for (std::string_view method : {"GET", "POST", "HEAD", "DELETE"}) {
    SCOPED_TRACE(std::string(method));
    Parsed p(std::string(method) + " / HTTP/1.1\r\nHost: h\r\nContent-Length: 123\r\n\r\n");
    ASSERT_TRUE(p.done);
    EXPECT_EQ(p.parser.framing(), Framing::kLength);
    EXPECT_EQ(p.parser.content_length(), 123u);
  }
  Parsed zero("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(zero.parser.framing(), Framing::kLength);
  Parsed big("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n");
  ASSERT_TRUE(big.done);
  EXPECT_EQ(big.parser.content_length(), 999999999999999999u);
}

TEST(HttpHeadParserFramingTest, InvalidContentLengthIs400OnEveryMethod) {
  ExpectErrors({
      {"letters on GET", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400},
      {"letters on POST", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n", 400},
      {"sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400},
      {"negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
      {"inner space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
      {"19 digits", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000\r\n\r\n",
       400},
      {"empty list element", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400},
      {"different list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400},
      {"on HTTP/1.0", "GET / HTTP/1.0\r\nContent-Length: x\r\n\r\n", 400},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", &consumed),
            State::kError);
  EXPECT_EQ(parser.error(), "Invalid Content-Length");
}

TEST(HttpHeadParserFramingTest, ChunkedTransferEncoding) {
  for (std::string_view te : {"chunked", "Chunked", "CHUNKED", " chunked ", "chunked,"}) {
    SCOPED_TRACE(std::string(te));
    Parsed p("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n");
    ASSERT_TRUE(p.done);
    EXPECT_EQ(p.parser.framing(), Framing::kChunked);
    EXPECT_EQ(p.parser.content_length(), 0u);
  }
}

TEST(HttpHeadParserFramingTest, OtherTransferEncodingsAreRefused) {
  ExpectErrors({
      {"gzip before chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       501},
      {"on two lines",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
       501},
      {"chunked not last", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       400},
      {"gzip only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
       400},
      {"empty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", 400},
      {"parameter", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400},
      {"with Content-Length",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400},
      {"in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                     &consumed),
            State::kError);
  EXPECT_EQ(parser.error(), "Transfer-Encoding not supported");
}

TEST(HttpHeadParserPersistenceTest, KeepAliveFollowsVersionAndConnection) {
  struct Case {
    std::string_view head;
    bool keep_alive;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
           {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
           {"GET / HTTP/1.0\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
           {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
       }) {
    SCOPED_TRACE(std::string(c.head));
    Parsed p(c.head);
    ASSERT_TRUE(p.done);
    EXPECT_EQ(p.parser.keep_alive(), c.keep_alive);
  }
}

TEST(HttpHeadParserPersistenceTest, ConnectionLinesCombineForAnUpgrade) {
  Parsed p(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n\r\n");
  ASSERT_TRUE(p.done);
  EXPECT_EQ(p.parser.request().Header("Connection"), "keep-alive, Upgrade");
  EXPECT_TRUE(http::HasToken(p.parser.request().Header("Connection"), "upgrade"));
  EXPECT_EQ(p.parser.request().Header("Upgrade"), "websocket");
}

TEST(HttpHeadParserPersistenceTest, Http10UpgradeIsIgnored) {
  Parsed p("GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX: y\r\n\r\n");
  ASSERT_TRUE(p.done);
  EXPECT_FALSE(p.parser.request().HasHeader("Upgrade"));
  EXPECT_EQ(p.parser.request().headers,
            (http::Headers{{"Connection", "Upgrade"}, {"X", "y"}}));
}

TEST(HttpHeadParserExpectTest, HundredContinue) {
  for (std::string_view value : {"100-continue", "100-Continue", " 100-CONTINUE "}) {
    SCOPED_TRACE(std::string(value));
    Parsed p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect:" + std::string(value) +
             "\r\n\r\n");
    ASSERT_TRUE(p.done);
    EXPECT_TRUE(p.parser.expect_continue());
  }
  Parsed none("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n");
  EXPECT_FALSE(none.parser.expect_continue());
  // RFC 9110 §10.1.1: an HTTP/1.0 client cannot mean it; ignored, whatever it says.
  Parsed old("POST / HTTP/1.0\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(old.done);
  EXPECT_FALSE(old.parser.expect_continue());
  Parsed odd("POST / HTTP/1.0\r\nExpect: something\r\n\r\n");
  EXPECT_TRUE(odd.done);
}

TEST(HttpHeadParserExpectTest, OtherExpectationIs417) {
  ExpectErrors({
      {"unknown", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417},
      {"empty", "POST / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n", 417},
      {"with parameter", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue;a=b\r\n\r\n", 417},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "POST / HTTP/1.1\r\nHost: h\r\nExpect: x\r\n\r\n", &consumed),
            State::kError);
  EXPECT_EQ(parser.error(), "Expectation failed");
}

TEST(HttpHeadParserHostTest, HostIsReported) {
  for (std::string_view host : {"localhost", "localhost:8080", "127.0.0.1:1", "[::1]:8080",
                                "[::ffff:127.0.0.1]", "a.b-c_d~e", "%41x", "x:", ""}) {
    SCOPED_TRACE(std::string(host));
    Parsed p("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    ASSERT_TRUE(p.done);
    EXPECT_EQ(p.parser.request().host, host);
  }
  Parsed old("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(old.done);
  EXPECT_EQ(old.parser.request().host, "");
}

TEST(HttpHeadParserHostTest, MissingDuplicateOrInvalidHostIs400) {
  ExpectErrors({
      {"missing", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
      {"two lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"two lines, any case", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400},
      {"two lines in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"space inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
      {"path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"bad port", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400},
      {"two ports", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400},
      {"unclosed IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
      {"bad escape", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 400},
      {"obs-text", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400},
  });
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\n\r\n", &consumed), State::kError);
  EXPECT_EQ(parser.error(), "Missing Host header");
}

TEST(HttpHeadParserTargetTest, AbsoluteFormReadsAsOriginFormWithItsAuthority) {
  struct Case {
    std::string_view target, host, path, query;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"http://example.com/health", "example.com", "/health", ""},
           {"HTTPS://Example.com:8443/a/b?x=1&y", "Example.com:8443", "/a/b", "x=1&y"},
           {"http://127.0.0.1:8080", "127.0.0.1:8080", "/", ""},
           {"http://[::1]?q", "[::1]", "/", "q"},
       }) {
    SCOPED_TRACE(std::string(c.target));
    Parsed p("GET " + std::string(c.target) + " HTTP/1.1\r\nHost: other\r\n\r\n");
    ASSERT_TRUE(p.done);
    EXPECT_EQ(p.parser.request().host, c.host);  // RFC 9112 §3.2.2: not the Host header
    EXPECT_EQ(p.parser.request().path, c.path);
    EXPECT_EQ(p.parser.request().query, c.query);
    EXPECT_EQ(p.parser.request().Header("Host"), "other");
  }
  EXPECT_EQ(ErrorStatus("GET http://example.com/ HTTP/1.1\r\n\r\n"), 400);  // Host still needed
  Parsed old("GET http://example.com/x HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(old.done);
  EXPECT_EQ(old.parser.request().host, "example.com");
}

TEST(HttpHeadParserTargetTest, AsteriskFormForOptionsOnly) {
  Parsed p("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(p.done);
  EXPECT_EQ(p.parser.request().path, "*");
  EXPECT_EQ(p.parser.request().query, "");
  EXPECT_EQ(ErrorStatus("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorStatus("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

std::string RequestWithTarget(size_t target_bytes) {
  return "GET /" + std::string(target_bytes - 1, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
}

TEST(HttpHeadParserTargetTest, OverlongTargetIs414) {
  EXPECT_EQ(ErrorStatus(RequestWithTarget(8000)), 0);
  EXPECT_EQ(ErrorStatus(RequestWithTarget(8001)), 414);
  // Longer than the head limit too: still 414, decided before 431.
  for (size_t step : {size_t{1}, size_t{7}, size_t{100000}}) {
    SCOPED_TRACE(step);
    HttpHeadParser parser;
    size_t total;
    ASSERT_EQ(FeedInSteps(parser, RequestWithTarget(9000), step, &total), State::kError);
    EXPECT_EQ(parser.error_status(), 414);
    EXPECT_EQ(parser.error(), "URI too long");
  }
}

TEST(HttpHeadParserTargetTest, OverlongTargetIs414AsSoonAsItIsSeen) {
  HttpLimits limits;
  limits.max_target_bytes = 10;
  HttpHeadParser parser(limits);
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser, "\r\nGET /123456789", &consumed), State::kNeedMore);
  ASSERT_EQ(FeedOnce(parser, "0", &consumed), State::kError);  // 11 bytes, no line end yet
  EXPECT_EQ(parser.error_status(), 414);
  // A long method or version is not a long target.
  EXPECT_EQ(ErrorStatus("GETGETGETGETGET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", limits), 0);
  EXPECT_EQ(ErrorStatus("GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n", limits), 414);
}

TEST(HttpHeadParserTest, ResetClearsTheSemantics) {
  HttpHeadParser parser;
  size_t consumed;
  ASSERT_EQ(FeedOnce(parser,
                     "POST http://a/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                     "Expect: 100-continue\r\nConnection: close\r\n\r\n",
                     &consumed),
            State::kDone);
  EXPECT_EQ(parser.framing(), Framing::kChunked);
  parser.Reset();
  ASSERT_EQ(FeedOnce(parser, "GET / HTTP/1.1\r\nHost: h2\r\n\r\n", &consumed), State::kDone);
  EXPECT_EQ(parser.framing(), Framing::kNone);
  EXPECT_FALSE(parser.expect_continue());
  EXPECT_TRUE(parser.keep_alive());
  EXPECT_EQ(parser.request().host, "h2");
}

}  // namespace
}  // namespace notifyd::wire
