// The WebSocket wire format (RFC 6455) for the server side: the opening
// handshake's accept key, the decoder for client frames (masked, possibly
// fragmented) and the encoder for server frames (unmasked, unfragmented).
// Socket-free and allocation-conscious: an idle decoder holds no heap memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace notifyd::wire {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

namespace close_code {
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kGoingAway = 1001;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kUnsupportedData = 1003;
constexpr uint16_t kNoStatus = 1005;      ///< Never sent: a close frame without a code.
constexpr uint16_t kAbnormal = 1006;      ///< Never sent: the TCP connection just ended.
constexpr uint16_t kInvalidPayload = 1007;
constexpr uint16_t kPolicyViolation = 1008;
constexpr uint16_t kMessageTooBig = 1009;
constexpr uint16_t kInternalError = 1011;
}  // namespace close_code

/// True for a Sec-WebSocket-Key that is the base64 of 16 bytes (24 characters).
bool IsValidWebSocketKey(std::string_view key);
/// The Sec-WebSocket-Accept value for `key`: base64(SHA-1(key + GUID)).
std::string WebSocketAccept(std::string_view key);

/// SHA-1 (FIPS 180-4) of `data`: for the handshake, and to name Redis scripts.
std::string Sha1(std::string_view data);  // 20 raw bytes
/// Standard base64 with padding.
std::string Base64Encode(std::string_view data);

/// Writes the header of an unmasked, final server frame with `payload_len`
/// bytes into `out` (at least kMaxFrameHeader bytes); returns its length (2, 4 or 10).
constexpr size_t kMaxFrameHeader = 10;
size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_len, uint8_t* out);
/// Header + payload of one unmasked, final server frame.
std::string EncodeFrame(Opcode opcode, std::string_view payload);
/// A close frame with `code` and `reason`; the reason is cut to fit the
/// 125-byte control-frame limit without splitting a UTF-8 sequence.
std::string EncodeCloseFrame(uint16_t code, std::string_view reason);

/// One thing the decoder found in the client's byte stream.
struct WsEvent {
  enum class Kind {
    kNeedMore,  ///< Feed more bytes.
    kMessage,   ///< A complete text or binary message (fragments joined).
    kPing,      ///< payload = the ping's application data.
    kPong,      ///< payload = the pong's application data.
    kClose,     ///< The client's close frame: close_code (kNoStatus when it had none) and payload = reason.
    kError,     ///< A protocol violation: close the connection with close_code; payload = reason.
  };
  Kind kind = Kind::kNeedMore;
  Opcode opcode = Opcode::kText;  ///< kMessage: kText or kBinary.
  uint16_t close_code = 0;
  std::string payload;  ///< Unmasked.
};

/// Decodes client-to-server frames. Errors (all final: after kError the
/// decoder returns kError again):
///  - 1002 kProtocolError: a reserved bit set (no extensions are negotiated),
///    an unknown opcode, an unmasked frame, a control frame that is
///    fragmented or longer than 125 bytes, a continuation without a started
///    message, a new data frame inside a fragmented message, a 64-bit length
///    with the top bit set, a close frame with a 1-byte payload or a code
///    that may not be sent (RFC 6455 §7.4: valid are 1000-1003, 1007-1011,
///    3000-4999);
///  - 1009 kMessageTooBig: a message (all fragments together) longer than
///    max_message_bytes, reported as soon as a frame header announces it,
///    before the payload arrives;
///  - 1007 kInvalidPayload: a text message or close reason that is not UTF-8.
///    A text message fails at the first byte that cannot be part of UTF-8,
///    even in a fragment or a frame still arriving, not when it is complete.
class WsDecoder {
 public:
  explicit WsDecoder(size_t max_message_bytes);
  void set_max_message_bytes(size_t n) { max_message_bytes_ = n; }

  /// Appends bytes read from the socket.
  void Feed(std::string_view data);
  /// The next event from the bytes fed so far; kNeedMore when none is complete.
  WsEvent Next();
  /// Bytes held for an incomplete frame or message.
  size_t buffered() const;

 private:
  /// Checks the text payload bytes [frame_checked_, arrived) of the frame
  /// whose payload starts at `masked`; false at the first invalid byte.
  bool CheckUtf8(const uint8_t* masked, const uint8_t* mask, size_t arrived);

  size_t max_message_bytes_;
  std::string in_;        ///< Bytes fed and not yet decoded; storage released when empty.
  size_t in_pos_ = 0;     ///< Decoded prefix of in_.
  std::string message_;   ///< Fragments of the message in progress.
  Opcode message_opcode_ = Opcode::kText;
  bool in_message_ = false;
  /// UTF-8 check of the text message in progress: continuation bytes still
  /// due and the range the next one must be in (Unicode Table 3-7).
  struct Utf8State {
    uint8_t needed = 0;
    uint8_t lower = 0x80;
    uint8_t upper = 0xBF;
  };
  Utf8State utf8_;
  size_t frame_checked_ = 0;  ///< Payload bytes of the frame at in_pos_ checked so far.
  bool failed_ = false;
  uint16_t fail_code_ = 0;
  std::string fail_reason_;
};

}  // namespace notifyd::wire
