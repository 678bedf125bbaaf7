#include "core/utf8.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace notifyd::core {
namespace {

TEST(Utf8Test, AcceptsEmptyAndAscii) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("hello, world"));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));
  EXPECT_TRUE(IsValidUtf8("\x7F"));
}

TEST(Utf8Test, AcceptsTwoByteSequences) {
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));     // U+0080, smallest
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));  // é
  EXPECT_TRUE(IsValidUtf8("\xDF\xBF"));     // U+07FF, largest
}

TEST(Utf8Test, AcceptsThreeByteSequences) {
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));  // U+0800, smallest
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));  // €
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));  // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));  // U+E000, just above the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));  // U+FFFF
}

TEST(Utf8Test, AcceptsFourByteSequences) {
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000, smallest
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // emoji
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, largest
}

TEST(Utf8Test, AcceptsMixedText) {
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80!"));
}

TEST(Utf8Test, RejectsOverlongForms) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));  // '/' in two bytes
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // NUL in two bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // '/' in three bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // U+07FF in three bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // '/' in four bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes
}

TEST(Utf8Test, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));              // U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xB0\x80"));              // U+DC00
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));              // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 pair
}

TEST(Utf8Test, RejectsAboveU10FFFF) {
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF7\xBF\xBF\xBF"));
}

TEST(Utf8Test, RejectsTruncatedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(IsValidUtf8("abc\xF0"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82!"));  // cut short by an ASCII byte
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98xyz"));
}

TEST(Utf8Test, RejectsSequenceCutByTheViewEnd) {
  // The bytes after the view's end would complete the sequence: they must not be read.
  const std::string buffer = "x\xE2\x82\xAC";
  for (size_t n = 2; n < buffer.size(); ++n) {
    EXPECT_FALSE(IsValidUtf8(std::string_view(buffer.data(), n))) << n;
  }
  EXPECT_TRUE(IsValidUtf8(buffer));
}

TEST(Utf8Test, RejectsLoneContinuationBytes) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("a\xBFz"));
  EXPECT_FALSE(IsValidUtf8("\xC3\xA9\xA9"));  // one continuation too many
}

TEST(Utf8Test, RejectsBytesF8ToFF) {
  for (int byte = 0xF8; byte <= 0xFF; ++byte) {
    const std::string text(1, static_cast<char>(byte));
    EXPECT_FALSE(IsValidUtf8(text)) << byte;
    EXPECT_FALSE(IsValidUtf8(text + "\x80\x80\x80\x80")) << byte;
  }
}

TEST(Utf8Test, RejectsInvalidByteAfterValidText) {
  EXPECT_FALSE(IsValidUtf8("valid text then \xFF"));
}

// --- ToValidUtf8 --------------------------------------------------------------------

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

TEST(ToValidUtf8Test, KeepsValidText) {
  EXPECT_EQ(ToValidUtf8(""), "");
  EXPECT_EQ(ToValidUtf8("plain"), "plain");
  const std::string mixed = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  EXPECT_EQ(ToValidUtf8(mixed), mixed);
  EXPECT_EQ(ToValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(ToValidUtf8Test, ReplacesEachBadByte) {
  const std::string r = kReplacement;
  EXPECT_EQ(ToValidUtf8("\xFF"), r);
  EXPECT_EQ(ToValidUtf8("a\xFFz"), "a" + r + "z");
  EXPECT_EQ(ToValidUtf8("a\xC3"), "a" + r);
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), r + r);
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(ToValidUtf8("\xE2\x82x"), r + r + "x");
}

TEST(ToValidUtf8Test, OutputIsAlwaysValid) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8(all_bytes)));
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xF4\x90\x80\x80\xF0\x9F\x98")));
}

}  // namespace
}  // namespace notifyd::core
