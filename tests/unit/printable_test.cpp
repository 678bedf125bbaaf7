#include "core/printable.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::core {
namespace {

TEST(PrintableTest, KeepsPlainTextAndUtf8) {
  EXPECT_EQ(Printable(""), "");
  EXPECT_EQ(Printable("news.eu-west:1@x"), "news.eu-west:1@x");
  EXPECT_EQ(Printable("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x94"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x94");
  EXPECT_EQ(Printable("\xC2\xA0"), "\xC2\xA0");  // U+00A0, just past the C1 range
}

TEST(PrintableTest, ANewlineCannotForgeALogLine) {
  const std::string forged = Printable("ping\n[2026-12-02 01:00:00.000] [error] forged");
  EXPECT_EQ(forged.find('\n'), std::string::npos);
  EXPECT_EQ(forged, "ping\\n[2026-12-02 01:00:00.000] [error] forged");
  EXPECT_EQ(Printable("a\rb\tc"), "a\\rb\\tc");
}

TEST(PrintableTest, EscapesBackslashSoEscapesAreUnambiguous) {
  EXPECT_EQ(Printable("a\\nb"), "a\\\\nb");
  EXPECT_EQ(Printable("\\x41"), "\\\\x41");
}

TEST(PrintableTest, EscapesC0ControlsAndDel) {
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("\x1B[31mred"), "\\x1B[31mred");
  EXPECT_EQ(Printable("\x07\x7F"), "\\x07\\x7F");
}

TEST(PrintableTest, EscapesC1ControlsByteByByte) {
  EXPECT_EQ(Printable("a\xC2\x85z"), "a\\xC2\\x85z");  // U+0085 NEXT LINE
  EXPECT_EQ(Printable("\xC2\x80\xC2\x9F"), "\\xC2\\x80\\xC2\\x9F");
  EXPECT_EQ(Printable("\xC2\x9B" "31m"), "\\xC2\\x9B31m");  // U+009B CSI
}

TEST(PrintableTest, EscapesInvalidUtf8Bytes) {
  EXPECT_EQ(Printable("\xFF"), "\\xFF");
  EXPECT_EQ(Printable("a\x80z"), "a\\x80z");                 // stray continuation
  EXPECT_EQ(Printable("\xC3"), "\\xC3");                     // cut sequence
  EXPECT_EQ(Printable("\xC0\xAF"), "\\xC0\\xAF");            // overlong '/'
  EXPECT_EQ(Printable("\xED\xA0\x80"), "\\xED\\xA0\\x80");   // surrogate U+D800
  EXPECT_EQ(Printable("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(Printable("\xE2\x82"), "\\xE2\\x82");
}

TEST(PrintableTest, TruncatesWithAnEllipsis) {
  EXPECT_EQ(Printable("abcdef", 6), "abcdef");
  EXPECT_EQ(Printable("abcdefg", 6), "abcdef…");
  EXPECT_EQ(Printable(std::string(1000, 'x')), std::string(200, 'x') + "…");
}

TEST(PrintableTest, TruncatesOnACharacterBoundary) {
  // "é" is two bytes: a limit of 4 keeps "aé" (3 bytes), not half of the next.
  EXPECT_EQ(Printable("a\xC3\xA9\xC3\xA9", 4), "a\xC3\xA9…");
  EXPECT_EQ(Printable("\xF0\x9F\x94\x94\xF0\x9F\x94\x94", 7), "\xF0\x9F\x94\x94…");
}

TEST(PrintableTest, TruncatesNeverInsideAnEscape) {
  EXPECT_EQ(Printable("ab\ncd", 3), "ab…");
  EXPECT_EQ(Printable("ab\ncd", 4), "ab\\n…");
  EXPECT_EQ(Printable("a\x01z", 4), "a…");
  EXPECT_EQ(Printable("a\x01z", 5), "a\\x01…");
}

TEST(PrintableTest, OutputIsBoundedForAnyInput) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string out = Printable(all + all, 100);
  EXPECT_LE(out.size(), 100u + std::string("…").size());
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\x1B'), std::string::npos);
}

}  // namespace
}  // namespace notifyd::core
