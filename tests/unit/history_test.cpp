// Positions and the recovery decision (PROTOCOL.md Part 2 "Resume"), as a
// table: every way a resume can be recovered or not.
#include "core/history.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::core {
namespace {

constexpr const char* kE = "AbCdEfGh1234";
constexpr const char* kOther = "ZyXwVuTs9876";

struct Case {
  const char* name;
  Position since;
  StreamView stream;
  uint64_t recover_max;
  bool recovered;
  uint64_t missed;
};

class DecideRecoveryTest : public ::testing::TestWithParam<Case> {};

TEST_P(DecideRecoveryTest, Decides) {
  const Case& c = GetParam();
  const Recovery r = DecideRecovery(c.since, c.stream, c.recover_max);
  EXPECT_EQ(r.recovered, c.recovered) << c.name;
  EXPECT_EQ(r.missed, c.missed) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DecideRecoveryTest,
    ::testing::Values(
        // name, since, {epoch, top, first_kept}, recover_max, recovered, missed
        Case{"up_to_date", {kE, 10}, {kE, 10, 1}, 1000, true, 0},
        Case{"fresh_channel_nothing_seen", {kE, 0}, {kE, 0, 0}, 1000, true, 0},
        Case{"saw_none_all_kept", {kE, 0}, {kE, 5, 1}, 1000, true, 5},
        Case{"exact_run", {kE, 7}, {kE, 10, 1}, 1000, true, 3},
        Case{"first_kept_is_next", {kE, 7}, {kE, 10, 8}, 1000, true, 3},
        Case{"one_trimmed_away", {kE, 7}, {kE, 10, 9}, 1000, false, 0},
        Case{"nothing_kept_but_missed", {kE, 7}, {kE, 10, 0}, 1000, false, 0},
        Case{"up_to_date_nothing_kept", {kE, 10}, {kE, 10, 0}, 1000, true, 0},
        Case{"other_epoch", {kOther, 3}, {kE, 10, 1}, 1000, false, 0},
        Case{"other_epoch_same_seq", {kOther, 10}, {kE, 10, 1}, 1000, false, 0},
        Case{"ahead_of_top", {kE, 11}, {kE, 10, 1}, 1000, false, 0},
        Case{"at_recover_max", {kE, 5}, {kE, 10, 1}, 5, true, 5},
        Case{"over_recover_max", {kE, 4}, {kE, 10, 1}, 5, false, 0},
        Case{"no_limit_for_pages", {kE, 0}, {kE, 5000, 1}, 0, true, 5000}));

TEST(PositionTest, ParsesIds) {
  EXPECT_EQ(ParsePosition("AbCdEfGh1234:0"), (Position{kE, 0}));
  EXPECT_EQ(ParsePosition("AbCdEfGh1234:1234567890123456789"),
            (Position{kE, 1234567890123456789u}));
  EXPECT_EQ(ParsePosition("abcdefgh:42"), (Position{"abcdefgh", 42}));
}

TEST(PositionTest, RefusesMalformedIds) {
  for (const char* bad : {"", ":", "AbCdEfGh1234", "AbCdEfGh1234:", ":5", "short:5",
                          "AbCdEfGh1234:-1", "AbCdEfGh1234:+1", "AbCdEfGh1234: 1",
                          "AbCdEfGh1234:1x", "AbCd-fGh1234:1", "AbCdEfGh1234:1:2",
                          "AbCdEfGh1234:12345678901234567890",
                          "abcdefghijklmnopqrstuvwxyz0123456:1"}) {
    EXPECT_FALSE(ParsePosition(bad).has_value()) << bad;
  }
}

TEST(PositionTest, FormatsWhatParses) {
  EXPECT_EQ(FormatPosition(kE, 42), "AbCdEfGh1234:42");
  EXPECT_EQ(ParsePosition(FormatPosition(kE, 42)), (Position{kE, 42}));
}

TEST(PositionTest, EpochRules) {
  EXPECT_TRUE(IsValidEpoch("abcdefgh"));
  EXPECT_TRUE(IsValidEpoch(std::string(32, 'Z')));
  EXPECT_FALSE(IsValidEpoch("abcdefg"));
  EXPECT_FALSE(IsValidEpoch(std::string(33, 'Z')));
  EXPECT_FALSE(IsValidEpoch("abcd_efgh"));
}

}  // namespace
}  // namespace notifyd::core
