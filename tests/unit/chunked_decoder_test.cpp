#include "wire/chunked_decoder.h"

#include "wire/http_parser.h"

#include <initializer_list>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace notifyd::wire {
namespace {

using State = ChunkedDecoder::State;

// What decoding `data` gave, fed in pieces of `step` bytes (0: in one piece).
struct Decoded {
  State state = State::kNeedMore;
  size_t consumed = 0;
  std::string body;
  int status = 0;
  std::string error;
};

Decoded Decode(std::string_view data, size_t step = 0, size_t max_body_bytes = 1 << 20) {
  ChunkedDecoder decoder(max_body_bytes);
  Decoded d;
  if (step == 0) step = data.size() + 1;
  for (size_t pos = 0; pos < data.size() && d.state == State::kNeedMore; pos += step) {
    size_t consumed = 0;
    const std::string_view piece = data.substr(pos, step);
    d.state = decoder.Feed(piece, &consumed, &d.body);
    EXPECT_LE(consumed, piece.size());
    if (d.state == State::kNeedMore) {
      EXPECT_EQ(consumed, piece.size());
    }
    d.consumed += consumed;
  }
  d.status = decoder.error_status();
  d.error = decoder.error();
  return d;
}

// Decodes `data` whole, byte by byte and in 3-byte pieces: all must agree.
Decoded DecodeEveryWay(std::string_view data, size_t max_body_bytes = 1 << 20) {
  const Decoded whole = Decode(data, 0, max_body_bytes);
  for (size_t step : {1, 3}) {
    SCOPED_TRACE("step " + std::to_string(step));
    const Decoded split = Decode(data, step, max_body_bytes);
    EXPECT_EQ(split.state, whole.state);
    EXPECT_EQ(split.status, whole.status);
    if (whole.state == State::kDone) {
      EXPECT_EQ(split.consumed, whole.consumed);
      EXPECT_EQ(split.body, whole.body);
    }
  }
  return whole;
}

// `chunked`, then `tail`, decodes to `body` and stops where `tail` begins.
void ExpectBody(const std::string& chunked, std::string_view body,
                std::string_view tail = "GET / HTTP/1.1\r\n") {
  SCOPED_TRACE(chunked);
  const Decoded d = DecodeEveryWay(chunked + std::string(tail));
  ASSERT_EQ(d.state, State::kDone);
  EXPECT_EQ(d.body, body);
  EXPECT_EQ(d.consumed, chunked.size());
}

TEST(ChunkedDecoderTest, DecodesChunksAndStopsAfterTheLastCrlf) {
  ExpectBody("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", "hello, world");
  ExpectBody("0\r\n\r\n", "");
}

TEST(ChunkedDecoderTest, HexSizesInAnyCaseWithLeadingZeros) {
  const std::string data(26, 'x');
  ExpectBody("1a\r\n" + data + "\r\n001A\r\n" + data + "\r\n00\r\n\r\n", data + data);
}

TEST(ChunkedDecoderTest, DataMayHoldAnyBytes) {
  const std::string data("\r\n0\r\n\r\n\0\xff", 9);
  ExpectBody("9\r\n" + data + "\r\n0\r\n\r\n", data);
}

TEST(ChunkedDecoderTest, ExtensionsAreIgnored) {
  ExpectBody("3;name=value\r\nabc\r\n2 ; a ; b=\"q;u\\\"o\tted\"\r\nde\r\n0;last\r\n\r\n",
             "abcde");
  // Trailing whitespace after the size is tolerated.
  ExpectBody("1 \r\nx\r\n0\t\r\n\r\n", "x");
}

TEST(ChunkedDecoderTest, TrailersAreCheckedAndDiscarded) {
  ExpectBody("1\r\nx\r\n0\r\nX-Sum: 1\r\nX-Empty:\r\n\r\n", "x");
}

TEST(ChunkedDecoderTest, BareLfIsAcceptedWhereCrlfIsDue) {
  ExpectBody("3\nabc\n0\nX: y\n\n", "abc");
  ExpectBody("3\r\nabc\n0\r\nX: y\n\r\n", "abc");
}

TEST(ChunkedDecoderTest, MalformedIs400) {
  using namespace std::string_view_literals;
  struct Case {
    const char* what;
    std::string_view data;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"no size", "\r\nabc\r\n0\r\n\r\n"},
           {"not hex", "g\r\n"},
           {"sign", "+5\r\nhello\r\n0\r\n\r\n"},
           {"0x prefix", "0x5\r\nhello\r\n"},
           {"space inside size", "1 2\r\n"},
           {"CR without LF after size", "5\rhello\r\n"},
           {"CR inside extension", "5;a\rb\r\n"},
           {"control in extension", "5;a\x01\r\n"},
           {"data longer than size", "3\r\nabcd\r\n0\r\n\r\n"},
           {"CR without LF after data", "3\r\nabc\rX"},
           {"no CRLF after data", "3\r\nabc0\r\n\r\n"},
           {"malformed trailer", "0\r\nnot a field\r\n\r\n"},
           {"obs-fold in trailer", "0\r\nX: a\r\n b\r\n\r\n"},
           {"CR without LF in trailer", "0\r\nX: a\rb\r\n\r\n"},
           {"CR without LF ending trailers", "0\r\n\r\r\n"},
           {"NUL in size", "5\0\r\n"sv},
       }) {
    SCOPED_TRACE(c.what);
    const Decoded d = DecodeEveryWay(c.data);
    ASSERT_EQ(d.state, State::kError);
    EXPECT_EQ(d.status, 400);
    EXPECT_FALSE(d.error.empty());
  }
}

TEST(ChunkedDecoderTest, OverlongSizeLineIs400) {
  const std::string zeros(ChunkedDecoder::kMaxChunkLineBytes - 1, '0');
  EXPECT_EQ(DecodeEveryWay(zeros + "1\r\nx\r\n0\r\n\r\n").state, State::kDone);
  const Decoded d = DecodeEveryWay(zeros + "01\r\nx\r\n0\r\n\r\n");
  ASSERT_EQ(d.state, State::kError);
  EXPECT_EQ(d.status, 400);
  const std::string extension(ChunkedDecoder::kMaxChunkLineBytes, 'e');
  EXPECT_EQ(DecodeEveryWay("1;" + extension + "\r\n").status, 400);
}

TEST(ChunkedDecoderTest, OverlargeTrailerSectionIs431) {
  std::string trailers;
  while (trailers.size() <= ChunkedDecoder::kMaxTrailerBytes) trailers += "X-Pad: padding\r\n";
  const Decoded d = DecodeEveryWay("0\r\n" + trailers + "\r\n");
  ASSERT_EQ(d.state, State::kError);
  EXPECT_EQ(d.status, 431);
}

TEST(ChunkedDecoderTest, BodyLimit) {
  // Exactly the limit, over two chunks.
  EXPECT_EQ(DecodeEveryWay("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10).body, "helloworld");
  // One byte over, in the second chunk: refused at its size, before its data.
  for (size_t step : {0, 1}) {
    ChunkedDecoder decoder(10);
    std::string body;
    size_t consumed = 0;
    const std::string_view data = "5\r\nhello\r\n6\r\n";
    State state = State::kNeedMore;
    for (size_t pos = 0; pos < data.size() && state == State::kNeedMore; pos += consumed) {
      state = decoder.Feed(data.substr(pos, step == 0 ? data.size() : step), &consumed, &body);
    }
    ASSERT_EQ(state, State::kError);
    EXPECT_EQ(decoder.error_status(), 413);
    EXPECT_EQ(decoder.error(), "Request body too large");
  }
  // Decided at the first digit that shows it, without the rest of the line.
  ChunkedDecoder decoder(100);
  std::string body;
  size_t consumed;
  EXPECT_EQ(decoder.Feed("6", &consumed, &body), State::kNeedMore);
  EXPECT_EQ(decoder.Feed("5", &consumed, &body), State::kError);
  EXPECT_EQ(decoder.error_status(), 413);
}

TEST(ChunkedDecoderTest, HugeSizesDoNotOverflow) {
  for (std::string_view size : {"ffffffffffffffff", "10000000000000000", "ffffffffffffffffffffff"}) {
    SCOPED_TRACE(std::string(size));
    const Decoded d = DecodeEveryWay(std::string(size) + "\r\n", SIZE_MAX);
    ASSERT_EQ(d.state, size.size() == 16 ? State::kNeedMore : State::kError);
    if (d.state == State::kError) {
      EXPECT_EQ(d.status, 413);
    }
  }
  EXPECT_EQ(DecodeEveryWay("ffffffffffffffff\r\n").status, 413);
}

TEST(ChunkedDecoderTest, DoneAndErrorAreStickyUntilReset) {
  ChunkedDecoder decoder(100);
  std::string body;
  size_t consumed = 99;
  ASSERT_EQ(decoder.Feed("1\r\na\r\n0\r\n\r\n", &consumed, &body), State::kDone);
  EXPECT_EQ(decoder.Feed("1\r\nb\r\n", &consumed, &body), State::kDone);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(body, "a");
  decoder.Reset();
  ASSERT_EQ(decoder.Feed("x", &consumed, &body), State::kError);
  EXPECT_EQ(decoder.Feed("1\r\nb\r\n0\r\n\r\n", &consumed, &body), State::kError);
  EXPECT_EQ(consumed, 0u);
  decoder.Reset();
  EXPECT_EQ(decoder.error_status(), 0);
  ASSERT_EQ(decoder.Feed("1\r\nb\r\n0\r\n\r\n", &consumed, &body), State::kDone);
  EXPECT_EQ(body, "ab");
}

// How the transport reads a connection: a head, its chunked body through the
// decoder, then the next pipelined request from the bytes after it.
TEST(ChunkedDecoderTest, PipelinedAfterAHeadOnOneConnection) {
  const std::string_view stream =
      "POST /api/notify/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nGET \r\n0\r\n\r\n"
      "GET /health HTTP/1.1\r\nHost: h\r\n\r\n";
  HttpHeadParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.Feed(stream, &consumed), HttpHeadParser::State::kDone);
  ASSERT_EQ(parser.framing(), HttpHeadParser::BodyFraming::kChunked);
  std::string_view rest = stream.substr(consumed);

  ChunkedDecoder decoder(100);
  ASSERT_EQ(decoder.Feed(rest, &consumed, &parser.request().body), State::kDone);
  EXPECT_EQ(parser.request().body, "GET ");
  rest.remove_prefix(consumed);

  parser.Reset();
  ASSERT_EQ(parser.Feed(rest, &consumed), HttpHeadParser::State::kDone);
  EXPECT_EQ(consumed, rest.size());
  EXPECT_EQ(parser.request().path, "/health");
  EXPECT_EQ(parser.framing(), HttpHeadParser::BodyFraming::kNone);
}

// Random chunkings of random data decode back to it, fed in random pieces.
TEST(ChunkedDecoderTest, RoundTripsRandomChunkings) {
  std::mt19937 rng(2024);
  for (int round = 0; round < 300; ++round) {
    std::string data(rng() % 2000, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::string encoded;
    for (size_t pos = 0; pos < data.size();) {
      const size_t n = std::min<size_t>(1 + rng() % 300, data.size() - pos);
      char size[32];
      std::snprintf(size, sizeof size, rng() % 2 ? "%zx" : "%zX", n);
      encoded += size;
      encoded += rng() % 4 == 0 ? ";ext=1\r\n" : "\r\n";
      encoded.append(data, pos, n);
      encoded += "\r\n";
      pos += n;
    }
    encoded += "0\r\n\r\n";
    ChunkedDecoder decoder(data.size());
    std::string body;
    State state = State::kNeedMore;
    size_t total = 0;
    for (size_t pos = 0; pos < encoded.size() && state == State::kNeedMore;) {
      size_t consumed = 0;
      state = decoder.Feed(std::string_view(encoded).substr(pos, 1 + rng() % 64), &consumed, &body);
      pos += consumed;
      total += consumed;
    }
    ASSERT_EQ(state, State::kDone);
    EXPECT_EQ(total, encoded.size());
    EXPECT_EQ(body, data);
  }
}

}  // namespace
}  // namespace notifyd::wire
