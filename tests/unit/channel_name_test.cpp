#include "core/channel_name.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::core {
namespace {

TEST(ChannelNameTest, AcceptsTypicalNames) {
  EXPECT_TRUE(IsValidChannelName("news"));
  EXPECT_TRUE(IsValidChannelName("a"));
  EXPECT_TRUE(IsValidChannelName("Z"));
  EXPECT_TRUE(IsValidChannelName("0"));
  EXPECT_TRUE(IsValidChannelName("user:42@host.example-1_x"));
  EXPECT_TRUE(IsValidChannelName("ABCxyz0123456789"));
}

TEST(ChannelNameTest, AcceptsEachAllowedPunctuation) {
  for (const char* name : {"_", "-", ".", ":", "@", "a_b", "a-b", "a.b", "a:b", "a@b"}) {
    EXPECT_TRUE(IsValidChannelName(name)) << name;
  }
}

TEST(ChannelNameTest, RejectsEmpty) { EXPECT_FALSE(IsValidChannelName("")); }

TEST(ChannelNameTest, AcceptsExactly128Bytes) {
  EXPECT_EQ(kMaxChannelNameBytes, 128u);
  EXPECT_TRUE(IsValidChannelName(std::string(128, 'a')));
}

TEST(ChannelNameTest, Rejects129Bytes) { EXPECT_FALSE(IsValidChannelName(std::string(129, 'a'))); }

TEST(ChannelNameTest, RejectsSpaceAndSlash) {
  EXPECT_FALSE(IsValidChannelName("a b"));
  EXPECT_FALSE(IsValidChannelName(" "));
  EXPECT_FALSE(IsValidChannelName("a/b"));
  EXPECT_FALSE(IsValidChannelName("/"));
  EXPECT_FALSE(IsValidChannelName("news "));
}

TEST(ChannelNameTest, RejectsOtherPunctuation) {
  for (const char* name : {"a#b", "a?b", "a%b", "a+b", "a*b", "a\\b", "a\"b", "a'b", "a,b", "a;b",
                           "a=b", "a!b", "a~b", "a[b", "a{b", "a<b", "a|b", "a\tb"}) {
    EXPECT_FALSE(IsValidChannelName(name)) << name;
  }
}

TEST(ChannelNameTest, RejectsControlAndNulBytes) {
  EXPECT_FALSE(IsValidChannelName(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidChannelName(std::string(1, '\0')));
  EXPECT_FALSE(IsValidChannelName("a\nb"));
  EXPECT_FALSE(IsValidChannelName("a\x7f"));
}

TEST(ChannelNameTest, RejectsNonAscii) {
  EXPECT_FALSE(IsValidChannelName("caf\xC3\xA9"));       // café
  EXPECT_FALSE(IsValidChannelName("\xE2\x82\xAC"));      // €
  EXPECT_FALSE(IsValidChannelName("\xF0\x9F\x98\x80"));  // emoji
  EXPECT_FALSE(IsValidChannelName("a\xFF"));
}

}  // namespace
}  // namespace notifyd::core
