// Positions as notifyd-cli reads and writes them, "E:N"
// (src/cli/position_text.h).
#include "cli/position_text.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

TEST(PositionTextTest, ParsesEpochAndSeq) {
  EXPECT_EQ(ParsePositionText("aB3dEf7H:0"), (core::Position{"aB3dEf7H", 0}));
  EXPECT_EQ(ParsePositionText("abcdefgh:42"), (core::Position{"abcdefgh", 42}));
  std::string epoch32(32, 'z');
  EXPECT_EQ(ParsePositionText(epoch32 + ":9999999999999999999"),
            (core::Position{epoch32, 9999999999999999999u}));
}

TEST(PositionTextTest, RefusesWhatTheServerWouldRefuse) {
  for (const char* text :
       {"", ":1", "abcdefgh", "abcdefgh:", "abcdefg:1", "abc-defgh:1", "abcdefgh:+1", "abcdefgh:-1",
        "abcdefgh:1x", "abcdefgh: 1", "abcdefgh:1:2", "abcdefgh:10000000000000000000", "all",
        "caf\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9:1"}) {
    EXPECT_EQ(ParsePositionText(text), std::nullopt) << text;
  }
  EXPECT_EQ(ParsePositionText(std::string(33, 'a') + ":1"), std::nullopt);
}

TEST(PositionTextTest, FormatsWhatItParses) {
  EXPECT_EQ(PositionText({"abcdefgh", 7}), "abcdefgh:7");
  EXPECT_EQ(ParsePositionText(PositionText({"Q1w2E3r4T5", 18})),
            (core::Position{"Q1w2E3r4T5", 18}));
}

}  // namespace
}  // namespace notifyd::cli
