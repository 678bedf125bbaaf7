#include "wire/websocket.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/digest.h"
#include "core/utf8.h"

namespace notifyd::wire {

namespace {

// RFC 6455 §1.3: appended to the client's key before hashing.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// Control frames carry at most 125 bytes (§5.5); a close reason 2 fewer.
constexpr size_t kMaxControlPayload = 125;
constexpr size_t kMaxCloseReason = kMaxControlPayload - 2;
// Past this many decoded bytes at the front of in_, Feed() drops them rather
// than letting a stream of small frames grow the buffer forever.
constexpr size_t kCompactThreshold = 4096;

uint32_t RotateLeft(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// One 64-byte block into the running SHA-1 state (FIPS 180-4 §6.1.2).
void Sha1Compress(uint32_t state[5], const uint8_t block[64]) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = static_cast<uint32_t>(block[4 * i]) << 24 | static_cast<uint32_t>(block[4 * i + 1]) << 16 |
           static_cast<uint32_t>(block[4 * i + 2]) << 8 | static_cast<uint32_t>(block[4 * i + 3]);
  }
  for (int i = 16; i < 80; ++i) w[i] = RotateLeft(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d), k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d, k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d, k = 0xca62c1d6;
    }
    const uint32_t t = RotateLeft(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = RotateLeft(b, 30);
    b = a;
    a = t;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

bool IsKnownOpcode(uint8_t opcode) {
  switch (opcode) {
    case 0x0: case 0x1: case 0x2: case 0x8: case 0x9: case 0xA:
      return true;
    default:
      return false;
  }
}

// The codes a close frame may carry (RFC 6455 §7.4, as websocket.h lists
// them): 1004-1006 and 1015 are reserved for "no frame was sent" cases, 1012+
// are not in RFC 6455, 0-999 are unused and 5000+ out of range.
bool IsSendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

// Adds one byte to a UTF-8 check; false when it cannot be part of
// well-formed UTF-8 (no overlongs, surrogates, or code points past U+10FFFF).
template <typename State>
bool AddUtf8Byte(State* state, uint8_t byte) {
  if (state->needed > 0) {
    if (byte < state->lower || byte > state->upper) return false;
    state->lower = 0x80;
    state->upper = 0xBF;
    --state->needed;
    return true;
  }
  if (byte < 0x80) return true;
  if (byte < 0xC2 || byte > 0xF4) return false;
  state->needed = byte < 0xE0 ? 1 : byte < 0xF0 ? 2 : 3;
  if (byte == 0xE0) state->lower = 0xA0;  // overlong below U+0800
  if (byte == 0xED) state->upper = 0x9F;  // surrogates
  if (byte == 0xF0) state->lower = 0x90;  // overlong below U+10000
  if (byte == 0xF4) state->upper = 0x8F;  // past U+10FFFF
  return true;
}

// Frees a string's heap storage (clear() keeps the capacity).
void Release(std::string* s) { std::string().swap(*s); }

WsEvent ErrorEvent(uint16_t code, std::string_view reason) {
  WsEvent event;
  event.kind = WsEvent::Kind::kError;
  event.close_code = code;
  event.payload = std::string(reason);
  return event;
}

// The payload of a close frame (already unmasked) as a kClose event, or as a
// kError event with the code to fail the connection with.
WsEvent DecodeClose(std::string payload) {
  WsEvent event;
  event.kind = WsEvent::Kind::kClose;
  if (payload.empty()) {
    event.close_code = close_code::kNoStatus;
    return event;
  }
  if (payload.size() == 1) {
    return ErrorEvent(close_code::kProtocolError, "Close frame with a 1-byte payload");
  }
  const auto code =
      static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 | static_cast<uint8_t>(payload[1]));
  if (!IsSendableCloseCode(code)) return ErrorEvent(close_code::kProtocolError, "Invalid close code");
  payload.erase(0, 2);
  if (!core::IsValidUtf8(payload)) {
    return ErrorEvent(close_code::kInvalidPayload, "Invalid UTF-8 in a close reason");
  }
  event.close_code = code;
  event.payload = std::move(payload);
  return event;
}

}  // namespace

std::string Sha1(std::string_view data) {
  uint32_t state[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  core::HashBlocks(data, state, Sha1Compress);
  std::string digest(20, '\0');
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j) digest[4 * i + j] = static_cast<char>(state[i] >> (24 - 8 * j));
  }
  return digest;
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t group = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    out += kBase64Alphabet[group >> 18];
    out += kBase64Alphabet[(group >> 12) & 0x3F];
    out += kBase64Alphabet[(group >> 6) & 0x3F];
    out += kBase64Alphabet[group & 0x3F];
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    const uint32_t group = uint32_t{bytes[i]} << 16 | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    out += kBase64Alphabet[group >> 18];
    out += kBase64Alphabet[(group >> 12) & 0x3F];
    out += rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3F] : '=';
    out += '=';
  }
  return out;
}

bool IsValidWebSocketKey(std::string_view key) {
  // 16 bytes are 22 characters and "==". The 22nd character holds the last
  // byte's low 2 bits and 4 zero bits, so only A, Q, g and w can be there;
  // anything else would not decode to exactly 16 bytes.
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 21; ++i) {
    if (!IsBase64Char(key[i])) return false;
  }
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

std::string WebSocketAccept(std::string_view key) {
  std::string text(key);
  text += kAcceptGuid;
  return Base64Encode(Sha1(text));
}

size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_len, uint8_t* out) {
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_len < 126) {
    out[1] = static_cast<uint8_t>(payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_len >> 8);
    out[3] = static_cast<uint8_t>(payload_len);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_len >> (56 - 8 * i));
  return 10;
}

std::string EncodeFrame(Opcode opcode, std::string_view payload) {
  uint8_t header[kMaxFrameHeader];
  const size_t header_len = EncodeFrameHeader(opcode, payload.size(), header);
  std::string frame;
  frame.reserve(header_len + payload.size());
  frame.append(reinterpret_cast<const char*>(header), header_len);
  frame.append(payload);
  return frame;
}

std::string EncodeCloseFrame(uint16_t code, std::string_view reason) {
  if (reason.size() > kMaxCloseReason) {
    // Back up over continuation bytes (10xxxxxx) so the cut falls at the start
    // of a sequence; a well-formed sequence has at most 3 of them.
    size_t cut = kMaxCloseReason;
    for (int i = 0; i < 3 && cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80; ++i) {
      --cut;
    }
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason);
  return EncodeFrame(Opcode::kClose, payload);
}

WsDecoder::WsDecoder(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

void WsDecoder::Feed(std::string_view data) {
  // After an error nothing more is decoded, so nothing more is kept.
  if (failed_ || data.empty()) return;
  if (in_pos_ > kCompactThreshold && in_pos_ >= in_.size() / 2) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  in_.append(data);
}

bool WsDecoder::CheckUtf8(const uint8_t* masked, const uint8_t* mask, size_t arrived) {
  for (; frame_checked_ < arrived; ++frame_checked_) {
    const auto byte = static_cast<uint8_t>(masked[frame_checked_] ^ mask[frame_checked_ % 4]);
    if (!AddUtf8Byte(&utf8_, byte)) return false;
  }
  return true;
}

size_t WsDecoder::buffered() const { return in_.size() - in_pos_ + message_.size(); }

WsEvent WsDecoder::Next() {
  if (failed_) return ErrorEvent(fail_code_, fail_reason_);
  const auto fail = [this](uint16_t code, std::string_view reason) {
    failed_ = true;
    fail_code_ = code;
    fail_reason_ = reason;
    Release(&in_);
    in_pos_ = 0;
    Release(&message_);
    in_message_ = false;
    utf8_ = {};
    frame_checked_ = 0;
    return ErrorEvent(fail_code_, fail_reason_);
  };

  // One frame per turn; only a non-final fragment goes round again (a loop,
  // not recursion: a buffer may hold any number of tiny fragments).
  for (;;) {
    // Each check runs as soon as the bytes it needs are here, in a fixed
    // order, so the events depend only on the bytes, never on how they were split.
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data()) + in_pos_;
    const size_t available = in_.size() - in_pos_;
    if (available < 2) return {};

    const bool fin = p[0] & 0x80;
    const uint8_t opcode = p[0] & 0x0F;
    const bool control = opcode & 0x08;
    const bool continuation = opcode == static_cast<uint8_t>(Opcode::kContinuation);
    if (p[0] & 0x70) return fail(close_code::kProtocolError, "Reserved bits set");
    if (!IsKnownOpcode(opcode)) return fail(close_code::kProtocolError, "Unknown opcode");
    if (control && !fin) return fail(close_code::kProtocolError, "Fragmented control frame");
    if (continuation && !in_message_) {
      return fail(close_code::kProtocolError, "Continuation frame without a message");
    }
    if (!control && !continuation && in_message_) {
      return fail(close_code::kProtocolError, "New message inside a fragmented message");
    }
    if (!(p[1] & 0x80)) return fail(close_code::kProtocolError, "Unmasked frame");
    const uint8_t length7 = p[1] & 0x7F;
    // A control frame's length must be in the 7-bit field (§5.5): 126 and 127
    // announce an extended length, which no control frame may need.
    if (control && length7 > kMaxControlPayload) {
      return fail(close_code::kProtocolError, "Control frame too long");
    }

    // Non-minimal length encodings (a 5 in 64 bits) are accepted: RFC 6455
    // §5.2 binds the sender, and rejecting them would protect nothing.
    const size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    if (available < 2 + length_bytes) return {};
    uint64_t length = length7;
    if (length_bytes > 0) {
      length = 0;
      for (size_t i = 0; i < length_bytes; ++i) length = length << 8 | p[2 + i];
    }
    if (length >> 63) return fail(close_code::kProtocolError, "Invalid frame length");
    if (!control) {
      // Compared without adding, so nothing can wrap; message_ may already be
      // over a limit lowered by set_max_message_bytes mid-message.
      const size_t collected = message_.size();
      if (collected > max_message_bytes_ || length > max_message_bytes_ - collected) {
        return fail(close_code::kMessageTooBig, "Message too big");
      }
    }

    // length fits in size_t now: it is at most max_message_bytes_ or 125.
    const size_t header_len = 2 + length_bytes + 4;
    const auto payload_len = static_cast<size_t>(length);
    if (available < header_len) return {};
    const uint8_t* mask = p + 2 + length_bytes;
    const uint8_t* masked = p + header_len;
    const bool text = opcode == static_cast<uint8_t>(Opcode::kText) ||
                      (continuation && message_opcode_ == Opcode::kText);
    // Text is checked as it arrives, so invalid UTF-8 fails the connection
    // at once, not after the rest of a long or never-ending message.
    const size_t arrived = std::min(available - header_len, payload_len);
    if (text && !CheckUtf8(masked, mask, arrived)) {
      return fail(close_code::kInvalidPayload, "Invalid UTF-8 in a text message");
    }
    if (arrived < payload_len) return {};
    frame_checked_ = 0;
    if (text && fin && utf8_.needed > 0) {
      return fail(close_code::kInvalidPayload, "Invalid UTF-8 in a text message");
    }

    // A whole message or a control frame is unmasked straight into its own
    // string; only fragments are collected in message_.
    std::string payload;
    std::string& target = !control && (in_message_ || !fin) ? message_ : payload;
    const size_t start = target.size();
    target.resize(start + payload_len);
    for (size_t i = 0; i < payload_len; ++i) {
      target[start + i] = static_cast<char>(masked[i] ^ mask[i % 4]);
    }
    in_pos_ += header_len + payload_len;
    // An idle connection holds no heap memory: drop the storage, not just the bytes.
    if (in_pos_ == in_.size()) {
      Release(&in_);
      in_pos_ = 0;
    }

    WsEvent event;
    switch (static_cast<Opcode>(opcode)) {
      case Opcode::kPing:
        event.kind = WsEvent::Kind::kPing;
        event.payload = std::move(payload);
        return event;
      case Opcode::kPong:
        event.kind = WsEvent::Kind::kPong;
        event.payload = std::move(payload);
        return event;
      case Opcode::kClose:
        event = DecodeClose(std::move(payload));
        if (event.kind == WsEvent::Kind::kError) return fail(event.close_code, event.payload);
        return event;
      case Opcode::kText:
      case Opcode::kBinary:
        if (!fin) {
          in_message_ = true;
          message_opcode_ = static_cast<Opcode>(opcode);
          continue;
        }
        event.opcode = static_cast<Opcode>(opcode);
        event.payload = std::move(payload);
        break;
      case Opcode::kContinuation:
        if (!fin) continue;
        event.opcode = message_opcode_;
        event.payload = std::move(message_);
        Release(&message_);
        in_message_ = false;
        break;
    }
    event.kind = WsEvent::Kind::kMessage;
    return event;
  }
}

}  // namespace notifyd::wire
