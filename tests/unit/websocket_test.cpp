#include "wire/websocket.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace notifyd::wire {
namespace {

using Kind = WsEvent::Kind;

std::string Hex(std::string_view bytes) {
  std::string out;
  char byte[3];
  for (char c : bytes) {
    std::snprintf(byte, sizeof byte, "%02x", static_cast<uint8_t>(c));
    out += byte;
  }
  return out;
}

// A client frame as a browser sends it: `first` is byte 0 as sent (FIN, RSV
// bits, opcode), the payload is masked with `key`. `length_bytes` forces the
// extended length form (0, 2 or 8); -1 picks the shortest one.
std::string MaskedFrame(uint8_t first, std::string_view payload, int length_bytes = -1,
                        std::array<uint8_t, 4> key = {0x37, 0xfa, 0x21, 0x3d}) {
  if (length_bytes < 0) length_bytes = payload.size() < 126 ? 0 : payload.size() <= 0xFFFF ? 2 : 8;
  std::string frame(1, static_cast<char>(first));
  const uint8_t length7 = length_bytes == 0 ? static_cast<uint8_t>(payload.size())
                                            : length_bytes == 2 ? 126 : 127;
  frame += static_cast<char>(0x80 | length7);
  for (int i = length_bytes - 1; i >= 0; --i) {
    frame += static_cast<char>(static_cast<uint64_t>(payload.size()) >> (8 * i));
  }
  for (uint8_t k : key) frame += static_cast<char>(k);
  for (size_t i = 0; i < payload.size(); ++i) {
    frame += static_cast<char>(static_cast<uint8_t>(payload[i]) ^ key[i % 4]);
  }
  return frame;
}

std::string ClientFrame(Opcode opcode, std::string_view payload, bool fin = true) {
  return MaskedFrame(static_cast<uint8_t>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode)), payload);
}

std::string CloseFrame(uint16_t code, std::string_view reason) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  payload += reason;
  return ClientFrame(Opcode::kClose, payload);
}

// One event as text, so a whole sequence compares (and prints) in one EXPECT.
std::string Describe(const WsEvent& e) {
  switch (e.kind) {
    case Kind::kNeedMore: return "need-more";
    case Kind::kMessage:
      return std::string(e.opcode == Opcode::kText ? "text " : "binary ") + e.payload;
    case Kind::kPing: return "ping " + e.payload;
    case Kind::kPong: return "pong " + e.payload;
    case Kind::kClose: return "close " + std::to_string(e.close_code) + " " + e.payload;
    case Kind::kError: return "error " + std::to_string(e.close_code) + " " + e.payload;
  }
  return "?";
}

// Every event available now, up to and including an error.
std::vector<std::string> Drain(WsDecoder& decoder) {
  std::vector<std::string> events;
  for (;;) {
    const WsEvent e = decoder.Next();
    if (e.kind == Kind::kNeedMore) return events;
    events.push_back(Describe(e));
    if (e.kind == Kind::kError) return events;
  }
}

std::vector<std::string> DecodeAll(std::string_view bytes, size_t max = 1 << 20) {
  WsDecoder decoder(max);
  decoder.Feed(bytes);
  return Drain(decoder);
}

WsEvent DecodeOne(std::string_view bytes, size_t max = 1 << 20) {
  WsDecoder decoder(max);
  decoder.Feed(bytes);
  return decoder.Next();
}

using Events = std::vector<std::string>;

// --- SHA-1 and base64 ----------------------------------------------------------

TEST(Sha1Test, FipsVectors) {
  EXPECT_EQ(Hex(Sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Hex(Sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Hex(Sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Hex(Sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1Test, PaddingBoundaries) {
  // Lengths around the 55/56 and 64-byte block edges, from Python's hashlib.
  const std::pair<size_t, const char*> cases[] = {
      {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
      {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
      {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
      {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
      {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
      {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
      {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
  };
  for (const auto& [length, expected] : cases) {
    EXPECT_EQ(Hex(Sha1(std::string(length, 'a'))), expected) << length;
  }
}

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, HighAndZeroBytes) {
  EXPECT_EQ(Base64Encode(std::string("\0\0\0", 3)), "AAAA");
  EXPECT_EQ(Base64Encode("\xfd\xfe\xff"), "/f7/");
  EXPECT_EQ(Base64Encode("\xff"), "/w==");
}

// --- handshake -------------------------------------------------------------------

TEST(WebSocketHandshakeTest, AcceptRfc6455Example) {
  // RFC 6455 §1.3 (also §4.2.2); checked against Python's hashlib.
  EXPECT_EQ(WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshakeTest, KeyValidation) {
  EXPECT_TRUE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(IsValidWebSocketKey("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(IsValidWebSocketKey("+/+/+/+/+/+/+/+/+/+/+w=="));
  EXPECT_TRUE(IsValidWebSocketKey("abcdefghijklmnopqrstug=="));

  EXPECT_FALSE(IsValidWebSocketKey(""));
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ="));     // 23 characters
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ==="));   // 25
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZR=="));    // 'R': not 16 bytes
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=A"));    // padding
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub25jZQQ="));    // 17 bytes' worth
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBub2-jZQ=="));    // base64url
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBu=25jZQ=="));    // '=' inside
  EXPECT_FALSE(IsValidWebSocketKey("dGhlIHNhbXBsZSBu 25jZQ=="));
  EXPECT_FALSE(IsValidWebSocketKey(std::string_view("dGhlIHNhbXBsZSBu\00025jZQ==", 24)));
}

// --- encoder ---------------------------------------------------------------------

TEST(WebSocketEncoderTest, FrameHeaderLengths) {
  uint8_t out[kMaxFrameHeader];
  ASSERT_EQ(EncodeFrameHeader(Opcode::kText, 0, out), 2u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 2}), "8100");
  ASSERT_EQ(EncodeFrameHeader(Opcode::kPing, 125, out), 2u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 2}), "897d");
  ASSERT_EQ(EncodeFrameHeader(Opcode::kBinary, 126, out), 4u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 4}), "827e007e");
  ASSERT_EQ(EncodeFrameHeader(Opcode::kText, 65535, out), 4u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 4}), "817effff");
  ASSERT_EQ(EncodeFrameHeader(Opcode::kText, 65536, out), 10u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 10}), "817f0000000000010000");
  ASSERT_EQ(EncodeFrameHeader(Opcode::kClose, 0x0102030405060708, out), 10u);
  EXPECT_EQ(Hex({reinterpret_cast<char*>(out), 10}), "887f0102030405060708");
}

TEST(WebSocketEncoderTest, Frame) {
  EXPECT_EQ(EncodeFrame(Opcode::kText, "Hello"), "\x81\x05Hello");
  EXPECT_EQ(EncodeFrame(Opcode::kPong, ""), std::string("\x8a\x00", 2));
  const std::string big(300, 'x');
  EXPECT_EQ(EncodeFrame(Opcode::kBinary, big), std::string("\x82\x7e\x01\x2c") + big);
}

TEST(WebSocketEncoderTest, CloseFrame) {
  EXPECT_EQ(EncodeCloseFrame(close_code::kNormal, "bye"), "\x88\x05\x03\xe8" "bye");
  EXPECT_EQ(EncodeCloseFrame(close_code::kMessageTooBig, ""), "\x88\x02\x03\xf1");
  const std::string exact(123, 'r');
  EXPECT_EQ(EncodeCloseFrame(1000, exact), "\x88\x7d\x03\xe8" + exact);
  EXPECT_EQ(EncodeCloseFrame(1000, std::string(500, 'r')), "\x88\x7d\x03\xe8" + exact);
}

TEST(WebSocketEncoderTest, CloseReasonCutBetweenUtf8Sequences) {
  // "é" (2 bytes) at 122..123 and "😀" (4 bytes) at 121..124 straddle the
  // 123-byte limit: both go whole rather than half.
  const std::string two = std::string(122, 'a') + "\xc3\xa9";
  EXPECT_EQ(EncodeCloseFrame(1000, two), "\x88\x7c\x03\xe8" + std::string(122, 'a'));
  const std::string four = std::string(121, 'a') + "\xf0\x9f\x98\x80" + "tail";
  EXPECT_EQ(EncodeCloseFrame(1000, four), "\x88\x7b\x03\xe8" + std::string(121, 'a'));
  // A sequence ending exactly at the limit stays.
  const std::string fits = std::string(121, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(EncodeCloseFrame(1000, fits), "\x88\x7d\x03\xe8" + std::string(121, 'a') + "\xc3\xa9");
}

// --- decoder ---------------------------------------------------------------------

TEST(WsDecoderTest, MaskedTextFrameRfcExample) {
  // RFC 6455 §5.7: a masked "Hello" from a client.
  WsDecoder decoder(1024);
  decoder.Feed("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
  const WsEvent e = decoder.Next();
  EXPECT_EQ(e.kind, Kind::kMessage);
  EXPECT_EQ(e.opcode, Opcode::kText);
  EXPECT_EQ(e.payload, "Hello");
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(WsDecoderTest, HelperMatchesRfcExample) {
  EXPECT_EQ(ClientFrame(Opcode::kText, "Hello"), "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
}

TEST(WsDecoderTest, EveryLengthForm) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  for (size_t length : {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536},
                        size_t{100000}}) {
    std::string payload;
    while (payload.size() < length) payload += all_bytes;
    payload.resize(length);
    const WsEvent e = DecodeOne(ClientFrame(Opcode::kBinary, payload));
    EXPECT_EQ(e.kind, Kind::kMessage) << length;
    EXPECT_EQ(e.opcode, Opcode::kBinary) << length;
    EXPECT_EQ(e.payload, payload) << length;
  }
}

TEST(WsDecoderTest, AcceptsNonMinimalLengths) {
  EXPECT_EQ(DecodeAll(MaskedFrame(0x81, "Hi", 2)), Events{"text Hi"});
  EXPECT_EQ(DecodeAll(MaskedFrame(0x81, "Hi", 8)), Events{"text Hi"});
}

TEST(WsDecoderTest, EverySplitGivesTheSameEvents) {
  const std::string binary = std::string("\x00\xff", 2) + "binary, length in 16 bits";
  const std::string stream = ClientFrame(Opcode::kText, "Hello") + MaskedFrame(0x82, binary, 2);
  const Events expected = {"text Hello", "binary " + binary};
  ASSERT_EQ(DecodeAll(stream), expected);
  for (size_t i = 0; i <= stream.size(); ++i) {
    for (size_t j = i; j <= stream.size(); ++j) {
      WsDecoder decoder(1024);
      Events events;
      for (std::string_view piece : {std::string_view(stream).substr(0, i),
                                     std::string_view(stream).substr(i, j - i),
                                     std::string_view(stream).substr(j)}) {
        decoder.Feed(piece);
        for (std::string& e : Drain(decoder)) events.push_back(std::move(e));
      }
      EXPECT_EQ(events, expected) << "split at " << i << " and " << j;
      EXPECT_EQ(decoder.buffered(), 0u);
    }
  }
}

TEST(WsDecoderTest, ByteByByte) {
  const std::string stream = ClientFrame(Opcode::kText, "a", false) + ClientFrame(Opcode::kPing, "p") +
                             ClientFrame(Opcode::kContinuation, "b") + CloseFrame(1000, "done");
  WsDecoder decoder(1024);
  Events events;
  for (char c : stream) {
    decoder.Feed(std::string_view(&c, 1));
    for (std::string& e : Drain(decoder)) events.push_back(std::move(e));
  }
  EXPECT_EQ(events, (Events{"ping p", "text ab", "close 1000 done"}));
}

TEST(WsDecoderTest, FragmentedMessageWithControlFramesInBetween) {
  WsDecoder decoder(1024);
  decoder.Feed(ClientFrame(Opcode::kText, "Hel", false));
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  EXPECT_EQ(decoder.buffered(), 3u);  // the fragment, collected
  decoder.Feed(ClientFrame(Opcode::kPing, "are you there"));
  decoder.Feed(ClientFrame(Opcode::kContinuation, "l", false));  // "Hel" + "l" + "o"
  decoder.Feed(ClientFrame(Opcode::kPong, ""));
  decoder.Feed(ClientFrame(Opcode::kContinuation, "o"));
  EXPECT_EQ(Drain(decoder), (Events{"ping are you there", "pong ", "text Hello"}));
  EXPECT_EQ(decoder.buffered(), 0u);
  // The next message starts fresh.
  decoder.Feed(ClientFrame(Opcode::kBinary, "x", false) + ClientFrame(Opcode::kContinuation, "y"));
  EXPECT_EQ(Drain(decoder), Events{"binary xy"});
}

TEST(WsDecoderTest, EmptyFragments) {
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "", false) + ClientFrame(Opcode::kContinuation, "") +
                      ClientFrame(Opcode::kText, "")),
            (Events{"text ", "text "}));
}

TEST(WsDecoderTest, ManyFragmentsInOneBuffer) {
  // A frame loop, not recursion: 100000 empty fragments in one Feed.
  std::string stream = ClientFrame(Opcode::kText, "a", false);
  const std::string empty = ClientFrame(Opcode::kContinuation, "", false);
  for (int i = 0; i < 100000; ++i) stream += empty;
  stream += ClientFrame(Opcode::kContinuation, "z");
  EXPECT_EQ(DecodeAll(stream), Events{"text az"});
}

TEST(WsDecoderTest, ManySmallFramesFedInChunks) {
  // Exercises dropping the decoded prefix while a frame is still partial.
  std::string stream;
  for (int i = 0; i < 5000; ++i) stream += ClientFrame(Opcode::kText, std::to_string(i));
  WsDecoder decoder(1024);
  size_t messages = 0;
  for (size_t pos = 0; pos < stream.size(); pos += 1000) {
    decoder.Feed(std::string_view(stream).substr(pos, 1000));
    for (WsEvent e = decoder.Next(); e.kind != Kind::kNeedMore; e = decoder.Next()) {
      ASSERT_EQ(e.kind, Kind::kMessage);
      ASSERT_EQ(e.payload, std::to_string(messages));
      ++messages;
    }
  }
  EXPECT_EQ(messages, 5000u);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(WsDecoderTest, Utf8SequenceSplitAcrossFragments) {
  // A fragment may end inside a sequence that the next one completes.
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "caf\xc3", false) +
                      ClientFrame(Opcode::kContinuation, "\xa9")),
            Events{"text caf\xc3\xa9"});
}

TEST(WsDecoderTest, InvalidUtf8FailsInTheFragmentThatHasIt) {
  // No final fragment ever comes: the error must not wait for it, and the
  // ping after the bad fragment is not reported.
  for (std::string_view bad : {"\xf4\x90\x80\x80", "\xff", "\xed\xa0", "\xc0"}) {
    SCOPED_TRACE(Hex(bad));
    WsDecoder decoder(1024);
    decoder.Feed(ClientFrame(Opcode::kText, "ok", false));
    decoder.Feed(ClientFrame(Opcode::kContinuation, bad, false) + ClientFrame(Opcode::kPing, "p"));
    EXPECT_EQ(Drain(decoder), Events{"error 1007 Invalid UTF-8 in a text message"});
  }
}

TEST(WsDecoderTest, InvalidUtf8FailsBeforeItsFrameIsComplete) {
  const std::string frame = ClientFrame(Opcode::kText, "\xce\xba\xf4\x90\x80\x80 and more");
  const size_t header = 6;
  WsDecoder decoder(1024);
  decoder.Feed(std::string_view(frame).substr(0, header + 3));  // up to the 0xF4
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  decoder.Feed(std::string_view(frame).substr(header + 3, 1));  // 0x90: past U+10FFFF
  EXPECT_EQ(Drain(decoder), Events{"error 1007 Invalid UTF-8 in a text message"});
}

TEST(WsDecoderTest, PartialTextFrameSplitInsideASequence) {
  const std::string text = "caf\xc3\xa9 \xf0\x9f\x8e\x89 done";
  const std::string frame = ClientFrame(Opcode::kText, text);
  for (size_t cut = 0; cut <= frame.size(); ++cut) {
    WsDecoder decoder(1024);
    decoder.Feed(std::string_view(frame).substr(0, cut));
    Events events = Drain(decoder);
    decoder.Feed(std::string_view(frame).substr(cut));
    for (std::string& e : Drain(decoder)) events.push_back(std::move(e));
    EXPECT_EQ(events, Events{"text " + text}) << "cut at " << cut;
  }
}

TEST(WsDecoderTest, Utf8StateDoesNotLeakIntoTheNextMessage) {
  // A binary message between text messages, and a text message after an
  // error-free one, start with a fresh check.
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "\xc3\xa9") + ClientFrame(Opcode::kBinary, "\xa9") +
                      ClientFrame(Opcode::kText, "x")),
            (Events{"text \xc3\xa9", "binary \xa9", "text x"}));
}

TEST(WsDecoderTest, ProtocolErrors) {
  const std::string frame_then_data =
      ClientFrame(Opcode::kText, "a", false) + ClientFrame(Opcode::kText, "b");
  std::string top_bit_length("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);
  const std::pair<const char*, std::string> cases[] = {
      {"RSV1", MaskedFrame(0xC1, "x")},
      {"RSV2", MaskedFrame(0xA1, "x")},
      {"RSV3", MaskedFrame(0x91, "x")},
      {"opcode 3", MaskedFrame(0x83, "x")},
      {"opcode 7", MaskedFrame(0x87, "x")},
      {"opcode 0xB", MaskedFrame(0x8B, "x")},
      {"opcode 0xF", MaskedFrame(0x8F, "x")},
      {"unmasked", "\x81\x05Hello"},
      {"unmasked empty", std::string("\x81\x00", 2)},
      {"fragmented ping", MaskedFrame(0x09, "x")},
      {"fragmented close", MaskedFrame(0x08, "")},
      {"ping of 126 bytes", MaskedFrame(0x89, std::string(126, 'x'))},
      // A control frame's length must fit the 7-bit field, even when it is <= 125.
      {"pong of 125 bytes in 16 bits", MaskedFrame(0x8A, std::string(125, 'x'), 2)},
      {"close of 126 bytes", CloseFrame(1000, std::string(124, 'x'))},
      {"continuation without a message", ClientFrame(Opcode::kContinuation, "x")},
      {"non-final continuation without a message", ClientFrame(Opcode::kContinuation, "x", false)},
      {"new data frame inside a message", frame_then_data},
      {"64-bit length with the top bit", top_bit_length},
      {"close with 1 byte", ClientFrame(Opcode::kClose, "\x03")},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    const WsEvent e = DecodeOne(bytes, std::numeric_limits<size_t>::max());
    EXPECT_EQ(e.kind, Kind::kError);
    EXPECT_EQ(e.close_code, close_code::kProtocolError);
    EXPECT_FALSE(e.payload.empty());
  }
}

TEST(WsDecoderTest, ErrorReasons) {
  EXPECT_EQ(DecodeAll("\x81\x05Hello"), Events{"error 1002 Unmasked frame"});
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "too long"), 4), Events{"error 1009 Message too big"});
}

TEST(WsDecoderTest, ErrorAfterEarlierEvents) {
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "ok") + "\x81\x02no"),
            (Events{"text ok", "error 1002 Unmasked frame"}));
}

TEST(WsDecoderTest, CloseCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    const WsEvent e = DecodeOne(CloseFrame(code, ""));
    EXPECT_EQ(e.kind, Kind::kClose) << code;
    EXPECT_EQ(e.close_code, code);
    EXPECT_EQ(e.payload, "");
  }
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535}) {
    const WsEvent e = DecodeOne(CloseFrame(code, "reason"));
    EXPECT_EQ(e.kind, Kind::kError) << code;
    EXPECT_EQ(e.close_code, close_code::kProtocolError) << code;
  }
}

TEST(WsDecoderTest, CloseWithCodeAndReason) {
  const WsEvent e = DecodeOne(CloseFrame(close_code::kGoingAway, "tab closed \xe2\x9c\x93"));
  EXPECT_EQ(e.kind, Kind::kClose);
  EXPECT_EQ(e.close_code, close_code::kGoingAway);
  EXPECT_EQ(e.payload, "tab closed \xe2\x9c\x93");
}

TEST(WsDecoderTest, CloseWithLongestReason) {
  const std::string reason(123, 'r');
  EXPECT_EQ(DecodeAll(CloseFrame(3000, reason)), Events{"close 3000 " + reason});
}

TEST(WsDecoderTest, CloseWithoutPayloadIsNoStatus) {
  const WsEvent e = DecodeOne(ClientFrame(Opcode::kClose, ""));
  EXPECT_EQ(e.kind, Kind::kClose);
  EXPECT_EQ(e.close_code, close_code::kNoStatus);
  EXPECT_EQ(e.payload, "");
}

TEST(WsDecoderTest, CloseWithOneByteIsProtocolError) {
  const WsEvent e = DecodeOne(ClientFrame(Opcode::kClose, "\x03"));
  EXPECT_EQ(e.kind, Kind::kError);
  EXPECT_EQ(e.close_code, close_code::kProtocolError);
}

TEST(WsDecoderTest, CloseReasonNotUtf8) {
  const WsEvent e = DecodeOne(CloseFrame(1000, "bad \xff"));
  EXPECT_EQ(e.kind, Kind::kError);
  EXPECT_EQ(e.close_code, close_code::kInvalidPayload);
}

TEST(WsDecoderTest, TextNotUtf8) {
  for (std::string_view text : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "ok\xe2\x82"}) {
    const WsEvent e = DecodeOne(ClientFrame(Opcode::kText, text));
    EXPECT_EQ(e.kind, Kind::kError) << Hex(text);
    EXPECT_EQ(e.close_code, close_code::kInvalidPayload) << Hex(text);
  }
  // A fragmented message whose last fragment ends inside a sequence.
  EXPECT_EQ(DecodeOne(ClientFrame(Opcode::kText, "a", false) + ClientFrame(Opcode::kContinuation, "\xc3"))
                .close_code,
            close_code::kInvalidPayload);
  // Binary messages are not text.
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kBinary, "\xff")), Events{"binary \xff"});
}

TEST(WsDecoderTest, MessageTooBigBeforePayload) {
  // Only the header is fed: the limit is enforced before the payload arrives.
  WsDecoder decoder(10);
  const std::string frame = ClientFrame(Opcode::kText, std::string(11, 'x'));
  decoder.Feed(std::string_view(frame).substr(0, 6));
  const WsEvent e = decoder.Next();
  EXPECT_EQ(e.kind, Kind::kError);
  EXPECT_EQ(e.close_code, close_code::kMessageTooBig);
  EXPECT_EQ(decoder.buffered(), 0u);

  // A 64-bit length needs only its own bytes, not even the mask.
  WsDecoder huge(1 << 20);
  huge.Feed(std::string("\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00", 10));
  EXPECT_EQ(huge.Next().close_code, close_code::kMessageTooBig);

  // Exactly at the limit is fine.
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, std::string(10, 'x')), 10),
            Events{"text " + std::string(10, 'x')});
}

TEST(WsDecoderTest, MessageTooBigCountsAllFragments) {
  WsDecoder decoder(10);
  decoder.Feed(ClientFrame(Opcode::kText, "123456", false));
  decoder.Feed(ClientFrame(Opcode::kContinuation, "7890", false));
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  const std::string last = ClientFrame(Opcode::kContinuation, "!");
  decoder.Feed(std::string_view(last).substr(0, 6));
  const WsEvent e = decoder.Next();
  EXPECT_EQ(e.kind, Kind::kError);
  EXPECT_EQ(e.close_code, close_code::kMessageTooBig);

  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kText, "123456", false) +
                      ClientFrame(Opcode::kContinuation, "7890"), 10),
            Events{"text 1234567890"});
}

TEST(WsDecoderTest, LimitLoweredMidMessage) {
  WsDecoder decoder(100);
  decoder.Feed(ClientFrame(Opcode::kText, "12345678", false));
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  decoder.set_max_message_bytes(4);
  decoder.Feed(ClientFrame(Opcode::kContinuation, ""));
  EXPECT_EQ(decoder.Next().close_code, close_code::kMessageTooBig);
}

TEST(WsDecoderTest, MessageLimitDoesNotApplyToControlFrames) {
  // Control frames have their own 125-byte cap; they are not messages.
  EXPECT_EQ(DecodeAll(ClientFrame(Opcode::kPing, "12345") + CloseFrame(1000, "bye"), 0),
            (Events{"ping 12345", "close 1000 bye"}));
}

TEST(WsDecoderTest, ErrorIsSticky) {
  WsDecoder decoder(1024);
  decoder.Feed(ClientFrame(Opcode::kText, "partial", false));
  decoder.Feed("\x81\x01x");  // unmasked
  const WsEvent first = decoder.Next();
  ASSERT_EQ(first.kind, Kind::kError);
  EXPECT_EQ(decoder.buffered(), 0u);  // nothing is kept after an error
  decoder.Feed(ClientFrame(Opcode::kText, "valid"));
  EXPECT_EQ(decoder.buffered(), 0u);
  for (int i = 0; i < 3; ++i) {
    const WsEvent again = decoder.Next();
    EXPECT_EQ(again.kind, Kind::kError);
    EXPECT_EQ(again.close_code, first.close_code);
    EXPECT_EQ(again.payload, first.payload);
  }
}

TEST(WsDecoderTest, Buffered) {
  WsDecoder decoder(1024);
  EXPECT_EQ(decoder.buffered(), 0u);
  const std::string frame = ClientFrame(Opcode::kText, "Hello");
  decoder.Feed(std::string_view(frame).substr(0, 3));
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
  EXPECT_EQ(decoder.buffered(), 3u);
  decoder.Feed(std::string_view(frame).substr(3));
  EXPECT_EQ(decoder.Next().kind, Kind::kMessage);
  EXPECT_EQ(decoder.buffered(), 0u);
  decoder.Feed("");
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(decoder.Next().kind, Kind::kNeedMore);
}

TEST(WsDecoderTest, RoundTripThroughEncoder) {
  // A server frame with the mask bit and a zero key is a valid client frame.
  const auto as_client = [](std::string frame) {
    const size_t header = (frame[1] & 0x7F) == 126 ? 4 : (frame[1] & 0x7F) == 127 ? 10 : 2;
    frame[1] = static_cast<char>(frame[1] | 0x80);
    return frame.insert(header, 4, '\0');
  };
  const std::string big(70000, 'b');
  EXPECT_EQ(DecodeAll(as_client(EncodeFrame(Opcode::kText, "hi")) +
                      as_client(EncodeFrame(Opcode::kBinary, big)) +
                      as_client(EncodeCloseFrame(4000, std::string(200, 'z')))),
            (Events{"text hi", "binary " + big, "close 4000 " + std::string(123, 'z')}));
}

}  // namespace
}  // namespace notifyd::wire
