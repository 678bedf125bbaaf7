// libFuzzer target: the wire formats, wire::WsDecoder (client frames) and
// wire::HttpHeadParser with wire::ChunkedDecoder (requests: heads and bodies
// on a keep-alive connection), fed the way a socket would: once in one piece
// and once split into chunks, each chunk in its own exact-size heap buffer so
// that ASan sees any read past what was fed.
//
// Input: one selector byte, then the bytes from the "socket".
// Selector: 0x01 HTTP (else the WebSocket decoder); 0x0E the limits
// (max_message_bytes, or max_head_bytes, which also bounds targets and
// bodies, and max_headers); 0xF0 the chunking.
//
// Invariants beyond "no crash": both feedings give the same events; kError
// (and the HTTP parser's kDone/kError) are sticky; a message is never longer
// than max_message_bytes and text is UTF-8; close codes and reasons are ones a
// client may send; every event re-encodes to a frame that decodes to it again;
// the HTTP parser and the chunked decoder never consume more than they were
// given and consume all of it while they need more; an accepted head is what
// the transport relies on (Host in HTTP/1.1, no Upgrade in HTTP/1.0, chunked
// only in HTTP/1.1 without Content-Length); a chunked body stays within its
// limit and decodes the same once chunked again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "fuzz_check.h"
#include "wire/chunked_decoder.h"
#include "wire/http_parser.h"
#include "wire/websocket.h"

namespace {

using namespace notifyd;
using wire::WsEvent;

// Pieces of `input` to Feed() one after another: pattern 0 is byte by byte;
// otherwise sizes cycle through pattern, 1, 2 * pattern + 3 and 64, which
// puts the cuts at many different offsets within headers and payloads.
std::vector<std::string_view> Split(std::string_view input, unsigned pattern) {
  std::vector<std::string_view> pieces;
  const size_t sizes[4] = {pattern, 1, 2 * size_t{pattern} + 3, 64};
  for (size_t pos = 0, i = 0; pos < input.size(); ++i) {
    const size_t size = pattern == 0 ? 1 : sizes[i % 4];
    pieces.push_back(input.substr(pos, size));
    pos += pieces.back().size();
  }
  return pieces;
}

// A copy of `piece` in a heap block of exactly its size.
std::unique_ptr<char[]> ExactCopy(std::string_view piece) {
  std::unique_ptr<char[]> copy(new char[piece.size() == 0 ? 1 : piece.size()]);
  if (!piece.empty()) std::memcpy(copy.get(), piece.data(), piece.size());
  return copy;
}

// --- WebSocket -------------------------------------------------------------------

constexpr size_t kMaxMessageBytes[8] = {0, 1, 7, 125, 126, 1000, 65536, 1 << 20};

bool SameEvent(const WsEvent& a, const WsEvent& b) {
  return a.kind == b.kind && a.opcode == b.opcode && a.close_code == b.close_code &&
         a.payload == b.payload;
}

bool IsSendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

void CheckWsEvent(const WsEvent& e, size_t max_message_bytes) {
  switch (e.kind) {
    case WsEvent::Kind::kNeedMore:
      FUZZ_CHECK(e.kind != WsEvent::Kind::kNeedMore);  // never recorded: always fails
      break;
    case WsEvent::Kind::kMessage:
      FUZZ_CHECK(e.opcode == wire::Opcode::kText || e.opcode == wire::Opcode::kBinary);
      FUZZ_CHECK(e.payload.size() <= max_message_bytes);
      if (e.opcode == wire::Opcode::kText) FUZZ_CHECK(core::IsValidUtf8(e.payload));
      break;
    case WsEvent::Kind::kPing:
    case WsEvent::Kind::kPong:
      FUZZ_CHECK(e.payload.size() <= 125);
      break;
    case WsEvent::Kind::kClose:
      FUZZ_CHECK(e.payload.size() <= 123);
      FUZZ_CHECK(core::IsValidUtf8(e.payload));
      if (e.close_code == wire::close_code::kNoStatus) {
        FUZZ_CHECK(e.payload.empty());
      } else {
        FUZZ_CHECK(IsSendableCloseCode(e.close_code));
      }
      break;
    case WsEvent::Kind::kError:
      FUZZ_CHECK(e.close_code == wire::close_code::kProtocolError ||
                 e.close_code == wire::close_code::kInvalidPayload ||
                 e.close_code == wire::close_code::kMessageTooBig);
      // The reason goes into our close frame: short enough and UTF-8.
      FUZZ_CHECK(!e.payload.empty() && e.payload.size() <= 123);
      FUZZ_CHECK(core::IsValidUtf8(e.payload));
      break;
  }
}

// Every event (up to the first kError) from feeding `pieces` in order and
// draining the decoder after each one.
std::vector<WsEvent> RunWs(const std::vector<std::string_view>& pieces, size_t max_message_bytes) {
  wire::WsDecoder decoder(max_message_bytes);
  std::vector<WsEvent> events;
  size_t fed = 0;
  bool failed = false;
  for (std::string_view piece : pieces) {
    const std::unique_ptr<char[]> copy = ExactCopy(piece);
    decoder.Feed(std::string_view(copy.get(), piece.size()));
    fed += piece.size();
    for (;;) {
      WsEvent e = decoder.Next();
      if (e.kind == WsEvent::Kind::kNeedMore) {
        FUZZ_CHECK(!failed);
        FUZZ_CHECK(decoder.buffered() <= fed);
        break;
      }
      CheckWsEvent(e, max_message_bytes);
      if (failed) {  // sticky: the same error, whatever was fed since
        FUZZ_CHECK(SameEvent(e, events.back()));
        break;
      }
      events.push_back(std::move(e));
      if (events.back().kind == WsEvent::Kind::kError) {
        failed = true;
        FUZZ_CHECK(decoder.buffered() == 0);  // nothing kept for a dead connection
        break;
      }
      // Each event takes at least one frame of at least 6 bytes (header and
      // mask), which also bounds this loop.
      FUZZ_CHECK(events.size() * 6 <= fed);
    }
  }
  if (!failed) {
    const WsEvent last = decoder.Next();
    FUZZ_CHECK(last.kind == WsEvent::Kind::kNeedMore);
  }
  return events;
}

// `server_frame` (from the encoder) as a client would send it: mask bit set
// and an all-zero key, so the payload bytes stay as they are.
std::string AsClientFrame(std::string server_frame) {
  FUZZ_CHECK(server_frame.size() >= 2);
  const uint8_t length7 = static_cast<uint8_t>(server_frame[1]);
  FUZZ_CHECK(length7 < 0x80);  // the encoder never masks
  const size_t header = length7 == 126 ? 4 : length7 == 127 ? 10 : 2;
  FUZZ_CHECK(server_frame.size() >= header);
  server_frame[1] = static_cast<char>(length7 | 0x80);
  server_frame.insert(header, 4, '\0');
  return server_frame;
}

// Encodes the events (not the error) again and decodes them: the encoder and
// the decoder agree, and the decoded events were ones a client can send.
void CheckWsRoundTrip(const std::vector<WsEvent>& events, size_t max_message_bytes) {
  std::string stream;
  std::vector<WsEvent> expected;
  for (const WsEvent& e : events) {
    switch (e.kind) {
      case WsEvent::Kind::kMessage:
        stream += AsClientFrame(wire::EncodeFrame(e.opcode, e.payload));
        break;
      case WsEvent::Kind::kPing:
        stream += AsClientFrame(wire::EncodeFrame(wire::Opcode::kPing, e.payload));
        break;
      case WsEvent::Kind::kPong:
        stream += AsClientFrame(wire::EncodeFrame(wire::Opcode::kPong, e.payload));
        break;
      case WsEvent::Kind::kClose:
        stream += AsClientFrame(e.close_code == wire::close_code::kNoStatus
                                    ? wire::EncodeFrame(wire::Opcode::kClose, "")
                                    : wire::EncodeCloseFrame(e.close_code, e.payload));
        break;
      default:
        continue;
    }
    expected.push_back(e);
  }
  const std::vector<WsEvent> again = RunWs({stream}, max_message_bytes);
  FUZZ_CHECK(again.size() == expected.size());
  for (size_t i = 0; i < again.size(); ++i) FUZZ_CHECK(SameEvent(again[i], expected[i]));
}

void FuzzWebSocket(std::string_view input, uint8_t selector) {
  const size_t max_message_bytes = kMaxMessageBytes[(selector >> 1) & 7];
  const std::vector<WsEvent> whole = RunWs({input}, max_message_bytes);
  const std::vector<WsEvent> split = RunWs(Split(input, selector >> 4), max_message_bytes);
  FUZZ_CHECK(whole.size() == split.size());
  for (size_t i = 0; i < whole.size(); ++i) FUZZ_CHECK(SameEvent(whole[i], split[i]));
  CheckWsRoundTrip(whole, max_message_bytes);
}

// --- HTTP ------------------------------------------------------------------------

using State = wire::HttpHeadParser::State;
using Framing = wire::HttpHeadParser::BodyFraming;
using ChunkedState = wire::ChunkedDecoder::State;

// What one keep-alive connection made of one request: its head and body.
struct HttpOutcome {
  State state = State::kNeedMore;
  size_t end = 0;  ///< kDone: offset in the input just past the head.
  int status = 0;
  int version_minor = 0;
  http::Request request;
  std::string error;
  Framing framing = Framing::kNone;
  bool keep_alive = false;
  bool expect_continue = false;
  int body_status = 0;  ///< A chunked body's error status; 0 when none.
};

bool SameOutcome(const HttpOutcome& a, const HttpOutcome& b) {
  return a.state == b.state && a.end == b.end && a.status == b.status &&
         a.version_minor == b.version_minor && a.request.method == b.request.method &&
         a.request.path == b.request.path && a.request.query == b.request.query &&
         a.request.host == b.request.host && a.request.headers == b.request.headers &&
         a.request.body == b.request.body && a.error == b.error && a.framing == b.framing &&
         a.keep_alive == b.keep_alive && a.expect_continue == b.expect_continue &&
         a.body_status == b.body_status;
}

bool IsHeadErrorStatus(int status) {
  return status == 400 || status == 414 || status == 417 || status == 431 || status == 501 ||
         status == 505;
}

// Checks a head the parser accepted, as the transport relies on it.
void CheckHead(const wire::HttpHeadParser& parser, const http::Request& request,
               const wire::HttpLimits& limits) {
  FUZZ_CHECK(!request.method.empty());
  FUZZ_CHECK(!request.path.empty() && (request.path[0] == '/' || request.path == "*"));
  FUZZ_CHECK(request.body.empty() && request.peer_address.empty());
  FUZZ_CHECK(request.headers.size() <= limits.max_headers);
  FUZZ_CHECK(parser.version_minor() == 0 || parser.version_minor() == 1);
  FUZZ_CHECK(request.version_minor == parser.version_minor());
  FUZZ_CHECK(parser.version_minor() == 1 || !request.HasHeader("Upgrade"));
  FUZZ_CHECK(parser.version_minor() == 0 || request.HasHeader("Host"));
  FUZZ_CHECK(parser.framing() != Framing::kChunked ||
             (parser.version_minor() == 1 && !request.HasHeader("Content-Length")));
  FUZZ_CHECK(parser.framing() == Framing::kLength || parser.content_length() == 0);
  FUZZ_CHECK(!parser.expect_continue() || parser.version_minor() == 1);
}

// The body as the chunked coding again, in chunks of at most 7 bytes.
std::string Rechunk(std::string_view body) {
  std::string out;
  for (size_t pos = 0; pos < body.size(); pos += 7) {
    const std::string_view chunk = body.substr(pos, 7);
    out += static_cast<char>('0' + chunk.size());
    out += "\r\n";
    out.append(chunk.data(), chunk.size());
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

// Feeds `piece` to a chunked body decoder in progress. Returns the bytes it
// consumed; *state is where it stands.
size_t FeedChunked(wire::ChunkedDecoder& decoder, std::string_view piece, size_t max_body_bytes,
                   std::string* body, ChunkedState* state) {
  size_t consumed = SIZE_MAX;
  const size_t before = body->size();
  *state = decoder.Feed(piece, &consumed, body);
  FUZZ_CHECK(consumed <= piece.size());
  FUZZ_CHECK(body->size() - before <= consumed);
  FUZZ_CHECK(body->size() <= max_body_bytes);
  if (*state == ChunkedState::kNeedMore) FUZZ_CHECK(consumed == piece.size());
  if (*state == ChunkedState::kError) {
    const int status = decoder.error_status();
    FUZZ_CHECK(status == 400 || status == 413 || status == 431);
    FUZZ_CHECK(!decoder.error().empty() && core::IsValidUtf8(decoder.error()));
  }
  if (*state != ChunkedState::kNeedMore) {  // sticky until Reset()
    size_t again = SIZE_MAX;
    FUZZ_CHECK(decoder.Feed(piece.substr(consumed), &again, body) == *state);
    FUZZ_CHECK(again == 0);
  }
  if (*state == ChunkedState::kDone) {  // what it decoded survives a round trip
    wire::ChunkedDecoder again(max_body_bytes);
    std::string copy;
    size_t used = 0;
    const std::string rechunked = Rechunk(*body);
    FUZZ_CHECK(again.Feed(rechunked, &used, &copy) == ChunkedState::kDone);
    FUZZ_CHECK(copy == *body && used == rechunked.size());
  }
  return consumed;
}

// One keep-alive connection: heads parsed from `pieces`, each followed by its
// body (Content-Length bytes, or chunked through the decoder); after each
// request the parser is Reset() and goes on with the bytes after it.
class HttpConnection {
 public:
  HttpConnection(const wire::HttpLimits& limits, size_t max_body_bytes)
      : limits_(limits), max_body_bytes_(max_body_bytes), parser_(limits),
        decoder_(max_body_bytes) {}

  // False once the connection is over (an error, or a request that closes it).
  bool Feed(std::string_view rest, size_t offset) {
    while (!rest.empty()) {
      const size_t used = reading_body_ ? FeedBody(rest) : FeedHead(rest, offset);
      rest.remove_prefix(used);
      offset += used;
      if (closed_) return false;
    }
    return true;
  }

  std::vector<HttpOutcome> outcomes;

 private:
  size_t FeedHead(std::string_view rest, size_t offset) {
    size_t consumed = SIZE_MAX;
    const State state = parser_.Feed(rest, &consumed);
    FUZZ_CHECK(consumed <= rest.size());
    if (state == State::kNeedMore) {
      FUZZ_CHECK(consumed == rest.size());
      return consumed;
    }
    // Sticky, and nothing more is consumed, until Reset().
    size_t again = SIZE_MAX;
    FUZZ_CHECK(parser_.Feed(rest.substr(consumed), &again) == state);
    FUZZ_CHECK(again == 0);

    HttpOutcome outcome;
    outcome.state = state;
    if (state == State::kError) {
      outcome.status = parser_.error_status();
      outcome.error = parser_.error();
      FUZZ_CHECK(IsHeadErrorStatus(outcome.status));
      FUZZ_CHECK(!outcome.error.empty() && core::IsValidUtf8(outcome.error));
      outcomes.push_back(std::move(outcome));
      closed_ = true;
      return consumed;
    }
    FUZZ_CHECK(consumed > 0);  // a head ends with at least its empty line
    CheckHead(parser_, parser_.request(), limits_);
    outcome.end = offset + consumed;
    outcome.version_minor = parser_.version_minor();
    outcome.framing = parser_.framing();
    outcome.keep_alive = parser_.keep_alive();
    outcome.expect_continue = parser_.expect_continue();
    outcome.request = parser_.request();
    outcomes.push_back(std::move(outcome));
    body_left_ = parser_.content_length();
    reading_body_ = parser_.framing() == Framing::kChunked || body_left_ > 0;
    if (!reading_body_) EndRequest();
    return consumed;
  }

  size_t FeedBody(std::string_view rest) {
    HttpOutcome& outcome = outcomes.back();
    if (outcome.framing == Framing::kLength) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(body_left_, rest.size()));
      outcome.request.body.append(rest.data(), take);
      body_left_ -= take;
      if (body_left_ == 0) EndRequest();
      return take;
    }
    ChunkedState state = ChunkedState::kNeedMore;
    const size_t used = FeedChunked(decoder_, rest, max_body_bytes_, &outcome.request.body, &state);
    if (state == ChunkedState::kError) {
      outcome.body_status = decoder_.error_status();
      closed_ = true;
    } else if (state == ChunkedState::kDone) {
      EndRequest();
    }
    return used;
  }

  void EndRequest() {
    reading_body_ = false;
    closed_ = !outcomes.back().keep_alive;
    parser_.Reset();
    decoder_.Reset();
  }

  wire::HttpLimits limits_;
  size_t max_body_bytes_;
  wire::HttpHeadParser parser_;
  wire::ChunkedDecoder decoder_;
  bool reading_body_ = false;
  uint64_t body_left_ = 0;
  bool closed_ = false;
};

std::vector<HttpOutcome> RunHttp(const std::vector<std::string_view>& pieces,
                                 const wire::HttpLimits& limits, size_t max_body_bytes) {
  HttpConnection connection(limits, max_body_bytes);
  size_t offset = 0;  // of the current piece in the input
  for (std::string_view piece : pieces) {
    const std::unique_ptr<char[]> copy = ExactCopy(piece);
    if (!connection.Feed(std::string_view(copy.get(), piece.size()), offset)) break;
    offset += piece.size();
  }
  return connection.outcomes;
}

void FuzzHttp(std::string_view input, uint8_t selector) {
  constexpr size_t kMaxHeadBytes[4] = {16, 128, 1024, 8192};
  wire::HttpLimits limits;
  limits.max_head_bytes = kMaxHeadBytes[(selector >> 1) & 3];
  limits.max_target_bytes = limits.max_head_bytes - 8;
  limits.max_headers = selector & 0x08 ? 100 : 2;
  const size_t max_body_bytes = limits.max_head_bytes;  // small ones reach 413
  const std::vector<HttpOutcome> whole = RunHttp({input}, limits, max_body_bytes);
  const std::vector<HttpOutcome> split =
      RunHttp(Split(input, selector >> 4), limits, max_body_bytes);
  FUZZ_CHECK(whole.size() == split.size());
  for (size_t i = 0; i < whole.size(); ++i) FUZZ_CHECK(SameOutcome(whole[i], split[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (selector & 0x01) {
    FuzzHttp(input, selector);
  } else {
    FuzzWebSocket(input, selector);
  }
  return 0;
}
