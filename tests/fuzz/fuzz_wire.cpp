// libFuzzer target: the wire formats, wire::WsDecoder (client frames) and
// wire::HttpHeadParser (request heads), fed the way a socket would: once in
// one piece and once split into chunks, each chunk in its own exact-size heap
// buffer so that ASan sees any read past what was fed.
//
// Input: one selector byte, then the bytes from the "socket".
// Selector: 0x01 HTTP parser (else the WebSocket decoder); 0x0E the limits
// (max_message_bytes, or max_head_bytes and max_headers); 0xF0 the chunking.
//
// Invariants beyond "no crash": both feedings give the same events; kError
// (and the HTTP parser's kDone/kError) are sticky; a message is never longer
// than max_message_bytes and text is UTF-8; close codes and reasons are ones a
// client may send; every event re-encodes to a frame that decodes to it again;
// the HTTP parser never consumes more than it was given and consumes all of it
// while it needs more.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "fuzz_check.h"
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

// What the parser made of one request head.
struct HttpOutcome {
  State state = State::kNeedMore;
  size_t end = 0;  ///< kDone: offset in the input just past the head.
  int status = 0;
  int version_minor = 0;
  http::Request request;
  std::string error;
};

bool SameOutcome(const HttpOutcome& a, const HttpOutcome& b) {
  return a.state == b.state && a.end == b.end && a.status == b.status &&
         a.version_minor == b.version_minor && a.request.method == b.request.method &&
         a.request.path == b.request.path && a.request.query == b.request.query &&
         a.request.headers == b.request.headers && a.error == b.error;
}

// Heads parsed from `pieces` as from one keep-alive connection: after kDone
// the parser is Reset() and goes on with the bytes after the head.
std::vector<HttpOutcome> RunHttp(const std::vector<std::string_view>& pieces,
                                 const wire::HttpLimits& limits) {
  wire::HttpHeadParser parser(limits);
  std::vector<HttpOutcome> outcomes;
  size_t offset = 0;  // of the current piece in the input
  for (std::string_view piece : pieces) {
    const std::unique_ptr<char[]> copy = ExactCopy(piece);
    std::string_view rest(copy.get(), piece.size());
    for (;;) {
      size_t consumed = SIZE_MAX;
      const State state = parser.Feed(rest, &consumed);
      FUZZ_CHECK(consumed <= rest.size());
      if (state == State::kNeedMore) {
        FUZZ_CHECK(consumed == rest.size());
        break;
      }
      // Sticky, and nothing more is consumed, until Reset().
      size_t again = SIZE_MAX;
      FUZZ_CHECK(parser.Feed(rest.substr(consumed), &again) == state);
      FUZZ_CHECK(again == 0);

      HttpOutcome outcome;
      outcome.state = state;
      if (state == State::kError) {
        outcome.status = parser.error_status();
        outcome.error = parser.error();
        FUZZ_CHECK(outcome.status == 400 || outcome.status == 431 || outcome.status == 505);
        FUZZ_CHECK(!outcome.error.empty() && core::IsValidUtf8(outcome.error));
        outcomes.push_back(std::move(outcome));
        return outcomes;  // the connection is closed
      }
      FUZZ_CHECK(consumed > 0);  // a head ends with at least its empty line
      const http::Request& request = parser.request();
      FUZZ_CHECK(!request.method.empty());
      FUZZ_CHECK(!request.path.empty() && request.path[0] == '/');
      FUZZ_CHECK(request.body.empty() && request.peer_address.empty());
      FUZZ_CHECK(request.headers.size() <= limits.max_headers);
      FUZZ_CHECK(parser.version_minor() == 0 || parser.version_minor() == 1);
      outcome.end = offset + (piece.size() - rest.size()) + consumed;
      outcome.version_minor = parser.version_minor();
      outcome.request = request;
      outcomes.push_back(std::move(outcome));
      parser.Reset();
      rest.remove_prefix(consumed);
      if (rest.empty()) break;
    }
    offset += piece.size();
  }
  return outcomes;
}

void FuzzHttp(std::string_view input, uint8_t selector) {
  constexpr size_t kMaxHeadBytes[4] = {16, 128, 1024, 8192};
  wire::HttpLimits limits;
  limits.max_head_bytes = kMaxHeadBytes[(selector >> 1) & 3];
  limits.max_headers = selector & 0x08 ? 100 : 2;
  const std::vector<HttpOutcome> whole = RunHttp({input}, limits);
  const std::vector<HttpOutcome> split = RunHttp(Split(input, selector >> 4), limits);
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
