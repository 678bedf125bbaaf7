// Differential test of notifyd's client-frame decoder (wire::WsDecoder)
// against websocketpp's RFC 6455 processor in the server role, plus the close
// frame checks websocketpp's connection applies. Both get the same bytes, in
// the same pieces, and must report the same events: data messages (opcode and
// payload), pings and pongs (payload), the close (code and reason), and
// errors (the close code they lead to). Every difference must be one of the
// deliberate ones in kDeliberate, with its reason; any other fails the test.
//
// Inputs: hand-written cases in the shapes of the Autobahn TestSuite's
// categories 1-7 and 10, the fuzz corpus (argv[1], optional), and a seeded,
// bounded generator of valid and mutated frame sequences. Each input is fed
// whole, byte by byte (when short) and in random pieces.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <websocketpp/close.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/utf8_validator.hpp>

#include "wire/websocket.h"

namespace {

using notifyd::wire::Opcode;
using notifyd::wire::WsDecoder;
using notifyd::wire::WsEvent;

// --- events ----------------------------------------------------------------------

struct Event {
  enum class Kind { kNone, kText, kBinary, kPing, kPong, kClose, kError };
  Kind kind = Kind::kNone;
  std::string payload;  // the message, ping or pong payload, or the close reason
  uint16_t code = 0;    // kClose: the code (1005 for none); kError: the close code it leads to
  std::string detail;   // kError: which check failed (not compared)

  bool operator==(const Event& o) const {
    return kind == o.kind && code == o.code && (kind == Kind::kError || payload == o.payload);
  }
  bool operator!=(const Event& o) const { return !(*this == o); }
};
using Events = std::vector<Event>;

std::string Hex(std::string_view bytes, size_t limit = 48) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < limit; ++i) {
    out += kDigits[static_cast<uint8_t>(bytes[i]) >> 4];
    out += kDigits[static_cast<uint8_t>(bytes[i]) & 0xF];
  }
  if (bytes.size() > limit) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

std::string Describe(const Event& e) {
  static const char* const kNames[] = {"none", "text", "binary", "ping", "pong", "close", "error"};
  std::string out = kNames[static_cast<int>(e.kind)];
  if (e.kind == Event::Kind::kClose || e.kind == Event::Kind::kError) out += " " + std::to_string(e.code);
  if (e.kind == Event::Kind::kError) return out + " (" + e.detail + ")";
  return out + " " + Hex(e.payload, 24);
}

bool Ends(const Event& e) { return e.kind == Event::Kind::kClose || e.kind == Event::Kind::kError; }

// --- notifyd -----------------------------------------------------------------------

Event FromNotifyd(WsEvent& e) {
  Event out;
  out.payload = std::move(e.payload);
  out.code = e.close_code;
  switch (e.kind) {
    case WsEvent::Kind::kMessage:
      out.kind = e.opcode == Opcode::kText ? Event::Kind::kText : Event::Kind::kBinary;
      break;
    case WsEvent::Kind::kPing: out.kind = Event::Kind::kPing; break;
    case WsEvent::Kind::kPong: out.kind = Event::Kind::kPong; break;
    case WsEvent::Kind::kClose: out.kind = Event::Kind::kClose; break;
    case WsEvent::Kind::kError:
      out.kind = Event::Kind::kError;
      out.detail = std::move(out.payload);
      out.payload.clear();
      break;
    case WsEvent::Kind::kNeedMore: break;
  }
  return out;
}

// The events up to and including the first close or error: after the client's
// close, or an error, a server reads nothing more.
Events RunNotifyd(std::string_view input, const std::vector<size_t>& cuts, size_t max_message) {
  WsDecoder decoder(max_message);
  Events events;
  size_t start = 0;
  for (size_t end : cuts) {
    decoder.Feed(input.substr(start, end - start));
    start = end;
    for (WsEvent e = decoder.Next(); e.kind != WsEvent::Kind::kNeedMore; e = decoder.Next()) {
      events.push_back(FromNotifyd(e));
      if (Ends(events.back())) return events;
    }
  }
  return events;
}

// --- websocketpp ---------------------------------------------------------------------

using Config = websocketpp::config::core;
using Processor = websocketpp::processor::hybi13<Config>;
namespace wpp_error = websocketpp::processor::error;

std::string WppMessage(wpp_error::processor_errors value) {
  return wpp_error::make_error_code(value).message();
}

Event WppError(uint16_t code, std::string detail) {
  return Event{Event::Kind::kError, {}, code, std::move(detail)};
}

// A close frame as websocketpp's connection judges it: an invalid or reserved
// code, or a reason that is not UTF-8, is answered with 1002.
Event WppClose(const std::string& payload) {
  websocketpp::lib::error_code ec;
  const websocketpp::close::status::value code = websocketpp::close::extract_code(payload, ec);
  if (ec) return WppError(websocketpp::close::status::protocol_error, "invalid close code");
  std::string reason = websocketpp::close::extract_reason(payload, ec);
  if (ec) return WppError(websocketpp::close::status::protocol_error, "invalid close reason");
  return Event{Event::Kind::kClose, std::move(reason), code, {}};
}

Event FromWpp(const Config::message_type& msg) {
  namespace op = websocketpp::frame::opcode;
  Event e;
  e.payload = msg.get_payload();
  switch (msg.get_opcode()) {
    case op::text: e.kind = Event::Kind::kText; break;
    case op::binary: e.kind = Event::Kind::kBinary; break;
    case op::ping: e.kind = Event::Kind::kPing; break;
    case op::pong: e.kind = Event::Kind::kPong; break;
    case op::close: return WppClose(e.payload);
    default: return WppError(0, "unexpected opcode from the processor");
  }
  return e;
}

Events RunWebsocketpp(std::string_view input, const std::vector<size_t>& cuts, size_t max_message) {
  auto manager = std::make_shared<Config::con_msg_manager_type>();
  Config::rng_type rng;
  Processor processor(false, true, manager, rng);
  processor.set_max_message_size(max_message);
  std::string bytes(input);  // consume() unmasks in place
  auto* data = reinterpret_cast<uint8_t*>(bytes.data());
  Events events;
  size_t pos = 0;
  for (size_t end : cuts) {
    // Each consume() stops after a whole message; a piece may hold many, and
    // every round but the last takes at least one byte.
    const size_t rounds = end - pos + 2;
    for (size_t round = 0; round < rounds; ++round) {
      websocketpp::lib::error_code ec;
      pos += processor.consume(data + pos, end - pos, ec);
      if (ec) {
        events.push_back(WppError(wpp_error::to_ws(ec), ec.message()));
        return events;
      }
      if (processor.ready()) {
        events.push_back(FromWpp(*processor.get_message()));
        if (Ends(events.back())) return events;
      } else if (pos >= end) {
        break;
      }
    }
    if (pos != end) {
      events.push_back(WppError(0, "websocketpp's processor left bytes unread"));
      return events;
    }
  }
  return events;
}

// --- deliberate differences ------------------------------------------------------------

// Where the two disagree on purpose. `ours` and `theirs` are the first events
// that differ (kNone when a side has no more); the events before are equal.
struct Deliberate {
  const char* name;
  const char* reason;
  bool (*matches)(const Event& ours, const Event& theirs);
};

const Deliberate kDeliberate[] = {
    {"non-minimal length",
     "A length sent in a longer form than needed (5 in 16 or 64 bits) is accepted: RFC 6455 "
     "5.2 binds the sender, and refusing it protects nothing. websocketpp fails the connection "
     "(with 1011).",
     [](const Event&, const Event& theirs) {
       return theirs.kind == Event::Kind::kError &&
              theirs.detail == WppMessage(wpp_error::non_minimal_encoding);
     }},
    {"64-bit length with the top bit set",
     "RFC 6455 5.2 requires the most significant bit of a 64-bit length to be 0: notifyd fails "
     "the connection with 1002; websocketpp takes it as a length and reports 1009.",
     [](const Event& ours, const Event& theirs) {
       return ours.kind == Event::Kind::kError && ours.code == 1002 &&
              ours.detail == "Invalid frame length" && theirs.kind == Event::Kind::kError &&
              theirs.detail == WppMessage(wpp_error::message_too_big);
     }},
    {"close reason not UTF-8",
     "RFC 6455 7.4.1 gives 1007 for data inconsistent with its type, and the reason of a close "
     "frame is UTF-8 text; websocketpp's connection answers 1002. The Autobahn TestSuite "
     "(case 7.5.1) accepts both.",
     [](const Event& ours, const Event& theirs) {
       return ours.kind == Event::Kind::kError && ours.code == 1007 &&
              ours.detail == "Invalid UTF-8 in a close reason" &&
              theirs.kind == Event::Kind::kError && theirs.code == 1002 &&
              theirs.detail == "invalid close reason";
     }},
    {"fragmented text ending inside a UTF-8 sequence",
     "A text message must be UTF-8 as a whole (RFC 6455 8.1): notifyd fails one whose last "
     "fragment ends inside a sequence with 1007; websocketpp checks that only when the final "
     "frame is itself a text frame, not a continuation, and delivers the message.",
     [](const Event& ours, const Event& theirs) {
       return ours.kind == Event::Kind::kError && ours.code == 1007 &&
              theirs.kind == Event::Kind::kText && !websocketpp::utf8_validator::validate(theirs.payload);
     }},
    {"too big before the masking key",
     "notifyd refuses an oversized message (1009) as soon as the length is read; websocketpp "
     "waits for the rest of the header, the masking key, so on input that ends there it has "
     "nothing yet.",
     [](const Event& ours, const Event& theirs) {
       return ours.kind == Event::Kind::kError && ours.code == 1009 && theirs.kind == Event::Kind::kNone;
     }},
    {"close codes 1012-1014",
     "notifyd accepts the close codes RFC 6455 7.4.1 defines for sending (1000-1003, "
     "1007-1011) and 3000-4999; 1012-1014 were only registered with IANA later, and "
     "websocketpp accepts them. notifyd answers them with 1002.",
     [](const Event& ours, const Event& theirs) {
       return ours.kind == Event::Kind::kError && ours.code == 1002 &&
              ours.detail == "Invalid close code" && theirs.kind == Event::Kind::kClose &&
              theirs.code >= 1012 && theirs.code <= 1014;
     }},
};

// --- inputs ------------------------------------------------------------------------------

struct Input {
  std::string name;
  std::string bytes;
  size_t max_message = 1 << 20;
};

// One client frame: `first` is the first header byte (FIN, RSV, opcode);
// length_bytes 0, 2 or 8 picks the length form (-1: the shortest).
std::string Frame(uint8_t first, std::string_view payload, int length_bytes = -1,
                  bool masked = true, uint32_t key = 0x37fa213d) {
  if (length_bytes < 0) length_bytes = payload.size() < 126 ? 0 : payload.size() <= 0xFFFF ? 2 : 8;
  std::string f(1, static_cast<char>(first));
  const auto length7 = static_cast<uint8_t>(length_bytes == 0 ? payload.size() : length_bytes == 2 ? 126 : 127);
  f += static_cast<char>((masked ? 0x80 : 0) | length7);
  for (int i = length_bytes - 1; i >= 0; --i) {
    f += static_cast<char>(static_cast<uint64_t>(payload.size()) >> (8 * i));
  }
  uint8_t mask[4] = {static_cast<uint8_t>(key >> 24), static_cast<uint8_t>(key >> 16),
                     static_cast<uint8_t>(key >> 8), static_cast<uint8_t>(key)};
  if (masked) f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f += static_cast<char>(masked ? static_cast<uint8_t>(payload[i]) ^ mask[i % 4] : payload[i]);
  }
  return f;
}

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

std::string CloseFrame(uint16_t code, std::string_view reason = {}) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  payload += reason;
  return Frame(kFin | kClose, payload);
}

// `payload` as a message of frames of at most `size` bytes.
std::string Fragmented(uint8_t opcode, std::string_view payload, size_t size) {
  std::string out;
  size_t pos = 0;
  do {
    const std::string_view part = payload.substr(pos, size);
    pos += part.size();
    out += Frame((pos >= payload.size() ? kFin : 0) | (out.empty() ? opcode : kCont), part);
  } while (pos < payload.size());
  return out;
}

// UTF-8 samples, valid and not, in the spirit of Markus Kuhn's decoder test.
const std::vector<std::string> kUtf8Samples = {
    "", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
    std::string("\x00", 1), "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80", "\x7f", "\xdf\xbf",
    "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",
    "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xf7\xbf\xbf\xbf",
    "\x80", "\xbf", "\x80\xbf\x80", "\xc0 ", "\xe0 ", "\xf0 ", "\xc0", "\xe0\x80", "\xf0\x80\x80",
    "\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfe", "\xff", "\xfe\xfe\xff\xff", "\xc0\xaf",
    "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xc0\x80",
    "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80", "\xef\xbf\xbe",
    "\xf0\x9f\xbf\xbe", "\xef\xb7\x90", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited",
};

void AddFramingCases(std::vector<Input>* out) {
  for (size_t n : {0, 1, 125, 126, 127, 128, 65535, 65536}) {
    out->push_back({"text of " + std::to_string(n), Frame(kFin | kText, std::string(n, '*'))});
    out->push_back({"binary of " + std::to_string(n), Frame(kFin | kBinary, std::string(n, '\xfe'))});
  }
  out->push_back({"unmasked text", Frame(kFin | kText, "Hello", -1, false)});
  out->push_back({"unmasked empty", Frame(kFin | kText, "", -1, false)});
  for (int bytes : {2, 8}) {
    out->push_back({"non-minimal " + std::to_string(bytes), Frame(kFin | kText, "Hi", bytes)});
    out->push_back({"non-minimal ping", Frame(kFin | kPing, "Hi", bytes)});
  }
  out->push_back({"64-bit length, top bit", std::string("\x82\xff\x80\0\0\0\0\0\0\0\1\2\3\4", 14)});
  out->push_back({"64-bit length, huge", std::string("\x82\xff\x00\x00\x01\0\0\0\0\0\1\2\3\4", 14)});
  for (size_t n : {0, 1, 125, 126}) {
    out->push_back({"ping of " + std::to_string(n), Frame(kFin | kPing, std::string(n, 'p'))});
    out->push_back({"pong of " + std::to_string(n), Frame(kFin | kPong, std::string(n, 'p'))});
  }
  out->push_back({"pong of 125 in 16 bits", Frame(kFin | kPong, std::string(125, 'p'), 2)});
  std::string pings;
  for (int i = 0; i < 10; ++i) pings += Frame(kFin | kPing, "payload-" + std::to_string(i));
  out->push_back({"10 pings", pings});
}

void AddReservedCases(std::vector<Input>* out) {
  for (uint8_t rsv = 1; rsv < 8; ++rsv) {
    for (uint8_t opcode : {kText, kBinary, kPing, kClose}) {
      out->push_back({"rsv " + std::to_string(rsv) + " on opcode " + std::to_string(opcode),
                      Frame(kText | kFin, "ok") + Frame(kFin | (rsv << 4) | opcode, "\x03\xe8") +
                          Frame(kFin | kPing, "")});
    }
  }
  for (uint8_t opcode : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    for (const char* payload : {"", "reserved"}) {
      out->push_back({"opcode " + std::to_string(opcode),
                      Frame(kFin | kText, "Hello") + Frame(kFin | opcode, payload) + Frame(kFin | kPing, "")});
    }
  }
}

void AddFragmentationCases(std::vector<Input>* out) {
  const std::string f1 = "fragment1", f2 = "fragment2";
  const std::vector<std::pair<std::string, std::string>> shapes = {
      {"ping in 2 fragments", Frame(kPing, f1) + Frame(kFin | kCont, f2)},
      {"pong in 2 fragments", Frame(kPong, f1) + Frame(kFin | kCont, f2)},
      {"close in 2 fragments", Frame(kClose, "\x03\xe8") + Frame(kFin | kCont, "")},
      {"text in 2", Frame(kText, f1) + Frame(kFin | kCont, f2)},
      {"binary in 2", Frame(kBinary, f1) + Frame(kFin | kCont, f2)},
      {"text in 2, ping between", Frame(kText, f1) + Frame(kFin | kPing, "ping") + Frame(kFin | kCont, f2)},
      {"text in 2, close between", Frame(kText, f1) + CloseFrame(1000) + Frame(kFin | kCont, f2)},
      {"continuation first", Frame(kFin | kCont, f1) + Frame(kFin | kText, f2)},
      {"open continuation first", Frame(kCont, f1) + Frame(kFin | kText, f2)},
      {"text 2, cont, text", Frame(kText, f1) + Frame(kFin | kCont, f2) + Frame(kCont, f1) +
                                 Frame(kFin | kText, f2)},
      {"text then text", Frame(kText, f1) + Frame(kFin | kText, f2)},
      {"text then binary", Frame(kText, f1) + Frame(kFin | kBinary, f2)},
      {"5 fragments, pings", Frame(kText, "1") + Frame(kCont, "2") + Frame(kFin | kPing, "a") +
                                 Frame(kCont, "3") + Frame(kCont, "4") + Frame(kFin | kPing, "b") +
                                 Frame(kFin | kCont, "5")},
      {"empty fragments", Frame(kText, "") + Frame(kCont, "") + Frame(kFin | kCont, "")},
      {"64 KiB in 1300-byte frames", Fragmented(kText, std::string(65536, '*'), 1300)},
      {"4 KiB binary in 1-byte frames", Fragmented(kBinary, std::string(4096, '\x01'), 1)},
  };
  for (const auto& [name, bytes] : shapes) out->push_back({name, bytes});
}

void AddUtf8Cases(std::vector<Input>* out) {
  for (const std::string& s : kUtf8Samples) {
    out->push_back({"utf-8 " + Hex(s), Frame(kFin | kText, s) + Frame(kFin | kPing, "after")});
    out->push_back({"utf-8 per octet " + Hex(s), Fragmented(kText, s, 1) + Frame(kFin | kPing, "after")});
    out->push_back({"utf-8 in 3 " + Hex(s), Fragmented(kText, s, 3) + Frame(kFin | kPing, "after")});
    out->push_back({"utf-8 binary " + Hex(s), Frame(kFin | kBinary, s)});
    out->push_back({"utf-8 close reason " + Hex(s), CloseFrame(1000, s)});
    // Fail-fast: the invalid fragment, then a ping, and no end of message.
    out->push_back({"utf-8 open " + Hex(s), Frame(kText, s) + Frame(kFin | kPing, "p")});
  }
}

void AddCloseCases(std::vector<Input>* out) {
  out->push_back({"close empty", Frame(kFin | kClose, "")});
  out->push_back({"close 1 byte", Frame(kFin | kClose, "\x03")});
  out->push_back({"close 123 reason", CloseFrame(1000, std::string(123, '*'))});
  out->push_back({"close 124 reason", CloseFrame(1000, std::string(124, '*'))});
  out->push_back({"text, close, ping", Frame(kFin | kText, "x") + CloseFrame(1000) + Frame(kFin | kPing, "")});
  for (uint32_t code = 0; code <= 0xFFFF; ++code) {
    out->push_back({"close code " + std::to_string(code), CloseFrame(static_cast<uint16_t>(code), "r")});
  }
}

void AddLimitCases(std::vector<Input>* out) {
  for (size_t max : {0, 1, 100, 125, 126}) {
    for (size_t n : {0, 1, 99, 100, 101, 125, 126, 127, 200}) {
      const std::string tag = std::to_string(n) + " over max " + std::to_string(max);
      out->push_back({"text " + tag, Frame(kFin | kText, std::string(n, 'a')), max});
      out->push_back({"fragments " + tag, Fragmented(kBinary, std::string(n, 'a'), 40), max});
      out->push_back({"ping with max " + tag, Frame(kFin | kPing, std::string(std::min<size_t>(n, 125), 'a')), max});
    }
  }
}

void AddCorpus(const char* dir, std::vector<Input>* out) {
  if (dir == nullptr || !std::filesystem::is_directory(dir)) return;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream file(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // fuzz_wire inputs start with a selector byte; 0x01 picks the HTTP parser.
    if (bytes.empty() || (static_cast<uint8_t>(bytes[0]) & 0x01)) continue;
    out->push_back({"corpus " + entry.path().filename().string(), bytes.substr(1)});
  }
}

// --- the random generator ----------------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  Input Next(int index) {
    Input input;
    input.name = "random #" + std::to_string(index);
    const int units = Uniform(1, 6);
    for (int i = 0; i < units; ++i) input.bytes += Unit();
    if (Uniform(0, 1) == 1) Mutate(&input.bytes);
    const size_t limits[] = {1 << 20, 64, 200};
    input.max_message = limits[Uniform(0, 2)];
    return input;
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::string Text(int max_chars) {
    static const char* const kPieces[] = {"a", "Z", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x8e\x89",
                                          "\xed\x9f\xbf", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"};
    static const char* const kBad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82"};
    std::string s;
    for (int i = Uniform(0, max_chars); i > 0; --i) s += kPieces[Uniform(0, 8)];
    if (Uniform(0, 5) == 0) s.insert(Uniform(0, static_cast<int>(s.size())), kBad[Uniform(0, 5)]);
    return s;
  }

  std::string Bytes(int max) {
    std::string s(Uniform(0, max), '\0');
    for (char& c : s) c = static_cast<char>(Uniform(0, 255));
    return s;
  }

  std::string Unit() {
    const uint32_t key = static_cast<uint32_t>(rng_());
    switch (Uniform(0, 7)) {
      case 0: return Frame(kFin | kText, Text(40), -1, true, key);
      case 1: return Frame(kFin | kBinary, Bytes(300), -1, true, key);
      case 2: return Frame(kFin | kPing, Bytes(125), -1, true, key);
      case 3: return Frame(kFin | kPong, Bytes(20), -1, true, key);
      case 4: {
        const uint16_t codes[] = {1000, 1001, 1005, 1011, 1012, 1016, 2999, 3000, 4999, 5000, 0};
        return CloseFrame(codes[Uniform(0, 10)], Text(10));
      }
      default: {
        const bool text = Uniform(0, 1) == 1;
        const std::string payload = text ? Text(60) : Bytes(200);
        std::string out = Fragmented(text ? kText : kBinary, payload, Uniform(1, 40));
        if (Uniform(0, 2) == 0) {  // a control frame between two fragments
          out = Frame(text ? kText : kBinary, payload.substr(0, payload.size() / 2), -1, true, key) +
                Frame(kFin | kPing, Bytes(10), -1, true, key) +
                Frame(kFin | kCont, payload.substr(payload.size() / 2), -1, true, key);
        }
        return out;
      }
    }
  }

  void Mutate(std::string* bytes) {
    if (bytes->empty()) return;
    const size_t at = Uniform(0, static_cast<int>(bytes->size()) - 1);
    switch (Uniform(0, 5)) {
      case 0: (*bytes)[at] = static_cast<char>((*bytes)[at] ^ (1 << Uniform(0, 7))); break;
      case 1: (*bytes)[0] = static_cast<char>((*bytes)[0] | (Uniform(1, 7) << 4)); break;
      case 2: (*bytes)[0] = static_cast<char>(((*bytes)[0] & 0xF0) | Uniform(0, 15)); break;
      case 3: bytes->resize(at); break;
      case 4: bytes->insert(at, 1, static_cast<char>(Uniform(0, 255))); break;
      default: (*bytes)[at] = static_cast<char>(Uniform(0, 255)); break;
    }
  }

  std::mt19937 rng_;
};

// --- running ---------------------------------------------------------------------------------

// Where to cut `size` bytes: the piece ends, the last one being `size`.
std::vector<size_t> RandomCuts(size_t size, std::mt19937* rng) {
  std::vector<size_t> cuts;
  const size_t most = std::max<size_t>(1, size / 4);
  for (size_t pos = 0; pos < size;) {
    pos += std::min(size - pos, 1 + (*rng)() % std::min<size_t>(most, 700));
    cuts.push_back(pos);
  }
  if (cuts.empty()) cuts.push_back(0);
  return cuts;
}

struct Split {
  const char* name;
  std::vector<size_t> cuts;
};

// Whole, byte by byte (when short), and twice in random pieces.
std::vector<Split> Splits(const Input& input, std::mt19937* rng) {
  const size_t size = input.bytes.size();
  std::vector<Split> splits = {{"whole", {size}}};
  if (size > 0 && size <= 2048) {
    std::vector<size_t> each;
    for (size_t i = 1; i <= size; ++i) each.push_back(i);
    splits.push_back({"byte-by-byte", each});
  }
  for (int i = 0; i < 2; ++i) splits.push_back({"random", RandomCuts(size, rng)});
  return splits;
}

struct Tally {
  size_t inputs = 0, runs = 0, equal = 0, unexplained = 0;
  std::map<std::string, size_t> deliberate;
};

void Compare(const Input& input, const std::vector<size_t>& cuts, const char* split, Tally* tally) {
  const Events ours = RunNotifyd(input.bytes, cuts, input.max_message);
  const Events theirs = RunWebsocketpp(input.bytes, cuts, input.max_message);
  ++tally->runs;
  size_t k = 0;
  while (k < ours.size() && k < theirs.size() && ours[k] == theirs[k]) ++k;
  if (k == ours.size() && k == theirs.size()) {
    ++tally->equal;
    return;
  }
  const Event none;
  const Event& a = k < ours.size() ? ours[k] : none;
  const Event& b = k < theirs.size() ? theirs[k] : none;
  for (const Deliberate& d : kDeliberate) {
    if (d.matches(a, b)) {
      ++tally->deliberate[d.name];
      return;
    }
  }
  if (++tally->unexplained <= 20) {
    std::printf("DIFFERENCE in %s (%s split, max %zu): input %s\n", input.name.c_str(), split,
                input.max_message, Hex(input.bytes).c_str());
    for (size_t i = 0; i < std::max(ours.size(), theirs.size()); ++i) {
      std::printf("  %zu: notifyd %-40s websocketpp %s\n", i,
                  i < ours.size() ? Describe(ours[i]).c_str() : "-",
                  i < theirs.size() ? Describe(theirs[i]).c_str() : "-");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Input> inputs;
  AddFramingCases(&inputs);
  AddReservedCases(&inputs);
  AddFragmentationCases(&inputs);
  AddUtf8Cases(&inputs);
  AddCloseCases(&inputs);
  AddLimitCases(&inputs);
  AddCorpus(argc > 1 ? argv[1] : nullptr, &inputs);
  const size_t hand_written = inputs.size();
  Generator generator(20261202);
  for (int i = 0; i < 20000; ++i) inputs.push_back(generator.Next(i));

  std::mt19937 rng(6455);
  Tally tally;
  for (const Input& input : inputs) {
    ++tally.inputs;
    for (const Split& split : Splits(input, &rng)) Compare(input, split.cuts, split.name, &tally);
  }

  std::printf("%zu inputs (%zu hand-written or corpus, %zu random), %zu runs: %zu equal, "
              "%zu deliberate differences, %zu unexplained\n",
              tally.inputs, hand_written, tally.inputs - hand_written, tally.runs, tally.equal,
              tally.runs - tally.equal - tally.unexplained, tally.unexplained);
  for (const Deliberate& d : kDeliberate) {
    std::printf("  deliberate: %-36s %6zu runs. %s\n", d.name, tally.deliberate[d.name], d.reason);
  }
  return tally.unexplained == 0 ? 0 : 1;
}
