// Check-ins without a socket: registration, defaults and updates, "late" once
// per lateness, "back" on the next check-in, removal, and what is written to
// a store, with the clock driven by the test.
#include "core/checkins.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/fakes.h"

namespace notifyd::core {
namespace {

using testing_support::FakeClock;
using testing_support::FakeEncoder;
using testing_support::FakeSubscriber;

class CheckinsTest : public ::testing::Test {
 protected:
  CheckinsTest() { hub_.Subscribe(hub_.Connect(&watcher_).handle, "checkins"); }

  /// The titles the watcher of "checkins" received, in order.
  std::vector<std::string> Titles() {
    std::vector<std::string> out;
    for (const FramePtr& f : watcher_.frames()) out.push_back(f->text.substr(f->text.rfind('|') + 1));
    return out;
  }

  FakeClock clock_;
  FakeEncoder encoder_;
  Hub hub_{clock_, IdSource(1)};
  Broker broker_{hub_, clock_, encoder_, IdSource(2)};
  Checkins checkins_{broker_, clock_};
  FakeSubscriber watcher_;
};

TEST_F(CheckinsTest, FirstCheckInRegistersWithDefaults) {
  const StoredCheckin c = checkins_.CheckIn("backup", {});
  EXPECT_EQ(c.name, "backup");
  EXPECT_EQ(c.channel, "checkins");
  EXPECT_EQ(c.every_s, 86400);
  EXPECT_EQ(c.grace_s, 3600);
  EXPECT_EQ(c.last_ms, clock_.WallMillis());
  EXPECT_FALSE(c.late);
  EXPECT_EQ(Checkins::DueMs(c), clock_.WallMillis() + 86400 * 1000);
  EXPECT_TRUE(watcher_.frames().empty());
}

TEST_F(CheckinsTest, GivenValuesReplaceTheStoredOnes) {
  checkins_.CheckIn("backup", {60, 10, std::string("ops")});
  const StoredCheckin c = checkins_.CheckIn("backup", {std::nullopt, 5, std::nullopt});
  EXPECT_EQ(c.every_s, 60);
  EXPECT_EQ(c.grace_s, 5);
  EXPECT_EQ(c.channel, "ops");
  ASSERT_EQ(checkins_.List().size(), 1u);
}

TEST_F(CheckinsTest, LateOnceAfterEveryPlusGraceThenBackOnTheNextCheckIn) {
  checkins_.CheckIn("backup", {60, 10, std::nullopt});
  clock_.Advance(70 * 1000);
  checkins_.Sweep();
  EXPECT_TRUE(watcher_.frames().empty()) << "due + grace is not yet past";
  clock_.Advance(1);
  checkins_.Sweep();
  checkins_.Sweep();
  clock_.Advance(3600 * 1000);
  checkins_.Sweep();
  EXPECT_EQ(Titles(), (std::vector<std::string>{"backup is late"}));
  EXPECT_TRUE(checkins_.List()[0].late);
  EXPECT_EQ(encoder_.last().data_json.substr(0, 39),
            R"({"checkin":"backup","status":"late","la)");
  checkins_.CheckIn("backup", {});
  EXPECT_EQ(Titles(), (std::vector<std::string>{"backup is late", "backup is back"}));
  EXPECT_NE(encoder_.last().data_json.find("\"status\":\"back\""), std::string::npos);
  EXPECT_FALSE(checkins_.List()[0].late);
  clock_.Advance(30 * 1000);
  checkins_.Sweep();
  EXPECT_EQ(Titles().size(), 2u);
}

TEST_F(CheckinsTest, RemoveForgetsIt) {
  checkins_.CheckIn("a", {});
  checkins_.CheckIn("b", {});
  EXPECT_TRUE(checkins_.Remove("a"));
  EXPECT_FALSE(checkins_.Remove("a"));
  ASSERT_EQ(checkins_.List().size(), 1u);
  EXPECT_EQ(checkins_.List()[0].name, "b");
}

TEST_F(CheckinsTest, RestoredCheckInsGoOnWhereTheyWere) {
  checkins_.Restore({{"nightly", "checkins", 60, 0, clock_.WallMillis() - 61 * 1000, false},
                     {"weekly", "checkins", 600, 0, clock_.WallMillis(), false}});
  checkins_.Sweep();
  EXPECT_EQ(Titles(), (std::vector<std::string>{"nightly is late"}));
}

}  // namespace
}  // namespace notifyd::core
