#include "core/digest.h"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "core/channel_pattern.h"

namespace notifyd::core {
namespace {

std::string Hex(const Digest& digest) {
  std::string out;
  char byte[3];
  for (uint8_t b : digest) {
    std::snprintf(byte, sizeof byte, "%02x", b);
    out += byte;
  }
  return out;
}

TEST(DigestTest, Sha256KnownAnswers) {
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Hex(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(DigestTest, Sha256PaddingBoundaries) {
  // Lengths around the 55/56 and 64-byte block edges, from Python's hashlib.
  const std::pair<size_t, const char*> cases[] = {
      {1, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
      {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
  };
  for (const auto& [length, hex] : cases) {
    EXPECT_EQ(Hex(Sha256(std::string(length, 'a'))), hex) << length;
  }
}

TEST(DigestTest, DigestsEqual) {
  const Digest a = Sha256("token-one");
  Digest b = a;
  EXPECT_TRUE(DigestsEqual(a, b));
  for (size_t i = 0; i < b.size(); ++i) {
    b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(DigestsEqual(a, b)) << i;
  }
}

TEST(DigestTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret-token-123", "secret-token-123"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token-123", "secret-token-124"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token-123", "secret-token-12"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token-123", "secret-token-1234"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0", 2), "a"));
}

TEST(ChannelPatternTest, Validity) {
  for (const char* good : {"*", "alerts", "backups-*", "a*", "x.y:z@w_-*"}) {
    EXPECT_TRUE(IsValidChannelPattern(good)) << good;
  }
  for (const char* bad : {"", "**", "a**", "*a", "a*b", "back ups", "a/b*", "-*x"}) {
    EXPECT_FALSE(IsValidChannelPattern(bad)) << bad;
  }
  EXPECT_TRUE(IsValidChannelPattern(std::string(128, 'a') + "*"));
  EXPECT_FALSE(IsValidChannelPattern(std::string(129, 'a') + "*"));
}

TEST(ChannelPatternTest, Matching) {
  EXPECT_TRUE(ChannelPatternMatches("*", "anything"));
  EXPECT_TRUE(ChannelPatternMatches("alerts", "alerts"));
  EXPECT_FALSE(ChannelPatternMatches("alerts", "alerts2"));
  EXPECT_FALSE(ChannelPatternMatches("alerts", "alert"));
  EXPECT_TRUE(ChannelPatternMatches("backups-*", "backups-nightly"));
  EXPECT_TRUE(ChannelPatternMatches("backups-*", "backups-"));
  EXPECT_FALSE(ChannelPatternMatches("backups-*", "backups"));
  EXPECT_FALSE(ChannelPatternMatches("backups-*", "xbackups-1"));
  EXPECT_FALSE(ChannelPatternMatches("Backups-*", "backups-1"));  // case matters
}

}  // namespace
}  // namespace notifyd::core
