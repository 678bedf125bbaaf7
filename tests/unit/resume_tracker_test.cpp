// What sub and tail remember per channel to resume (src/cli/resume_tracker.h),
// and the status lines it words.
#include "cli/resume_tracker.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

using Delivery = ResumeTracker::Delivery;

constexpr const char* kEpoch = "abcdefgh";
constexpr const char* kOther = "ZYXWVUTS";

StreamMessage Subscribed(const char* epoch, uint64_t seq) {
  StreamMessage m;
  m.type = "subscribed";
  m.channel = "news";
  m.epoch = epoch;
  m.seq = seq;
  return m;
}

StreamMessage Resumed(const char* epoch, uint64_t seq, bool recovered, uint64_t missed) {
  StreamMessage m = Subscribed(epoch, seq);
  m.recovered = recovered;
  m.missed = missed;
  return m;
}

StreamMessage Notification(const char* epoch, uint64_t seq) {
  StreamMessage m;
  m.type = "notification";
  m.channel = "news";
  m.epoch = epoch;
  m.seq = seq;
  return m;
}

// A tracker of "news" that was at (kEpoch, seq) and has just sent its
// subscribe with that since.
ResumeTracker Resuming(uint64_t seq) {
  ResumeTracker tracker;
  tracker.Add("news", core::Position{kEpoch, seq});
  tracker.BeginSubscribe("news");
  return tracker;
}

Delivery Deliver(ResumeTracker* tracker, const StreamMessage& m, std::string* note = nullptr) {
  std::string ignored;
  return tracker->OnNotification(m, note != nullptr ? note : &ignored);
}

TEST(ResumeTrackerTest, AFreshSubscribeStartsAtTheChannelsLatest) {
  ResumeTracker tracker;
  tracker.Add("news", std::nullopt);
  EXPECT_EQ(tracker.BeginSubscribe("news"), std::nullopt);
  EXPECT_EQ(tracker.OnSubscribed(Subscribed(kEpoch, 4)), "subscribed to news at abcdefgh:4");
  EXPECT_EQ(tracker.Last("news"), (core::Position{kEpoch, 4}));
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 5)), Delivery::kPrint);
  EXPECT_EQ(tracker.Last("news"), (core::Position{kEpoch, 5}));
  // The next subscribe (after a reconnect) resumes from there.
  EXPECT_EQ(tracker.BeginSubscribe("news"), (core::Position{kEpoch, 5}));
}

TEST(ResumeTrackerTest, SinceFromTheCommandLineIsTheFirstResume) {
  ResumeTracker tracker;
  tracker.Add("news", core::Position{kEpoch, 2});
  EXPECT_EQ(tracker.BeginSubscribe("news"), (core::Position{kEpoch, 2}));
}

TEST(ResumeTrackerTest, ARecoveredResumeKeepsThePositionUntilTheMissedArrive) {
  ResumeTracker tracker = Resuming(2);
  EXPECT_EQ(tracker.OnSubscribed(Resumed(kEpoch, 4, true, 2)),
            "resumed news: recovered 2 missed notifications");
  EXPECT_EQ(tracker.Last("news"), (core::Position{kEpoch, 2}));
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 3)), Delivery::kPrint);
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 4)), Delivery::kPrint);
  EXPECT_EQ(tracker.Last("news"), (core::Position{kEpoch, 4}));
}

TEST(ResumeTrackerTest, CountsInTheSingular) {
  ResumeTracker tracker = Resuming(3);
  EXPECT_EQ(tracker.OnSubscribed(Resumed(kEpoch, 4, true, 1)),
            "resumed news: recovered 1 missed notification");
}

TEST(ResumeTrackerTest, ACannotResumeSaysWhyAndMovesToTheLatest) {
  struct Case {
    const char* epoch;
    uint64_t top;
    const char* why;
  } cases[] = {
      {kOther, 0, "the channel's stream was restarted as epoch ZYXWVUTS"},
      {kEpoch, 500, "history does not reach back"},
      {kEpoch, 1, "the server's latest is abcdefgh:1"},
  };
  for (const Case& c : cases) {
    ResumeTracker tracker = Resuming(3);
    EXPECT_EQ(
        tracker.OnSubscribed(Resumed(c.epoch, c.top, false, 0)),
        std::string("news: cannot resume from abcdefgh:3 (") + c.why + "); reloading is up to you");
    EXPECT_EQ(tracker.Last("news"), (core::Position{c.epoch, c.top}));
  }
}

TEST(ResumeTrackerTest, AServerThatIgnoresSinceIsReported) {
  ResumeTracker tracker = Resuming(3);
  StreamMessage old_server;
  old_server.type = "subscribed";
  old_server.channel = "news";
  EXPECT_EQ(tracker.OnSubscribed(old_server),
            "news: the server ignored the resume from abcdefgh:3 (no \"recovered\" in its "
            "answer); notifications may have been missed");
}

TEST(ResumeTrackerTest, RepeatsAreNotPrintedTwice) {
  ResumeTracker tracker;
  tracker.Add("news", core::Position{kEpoch, 5});
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 5)), Delivery::kDuplicate);
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 1)), Delivery::kDuplicate);
  EXPECT_EQ(tracker.Last("news"), (core::Position{kEpoch, 5}));
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 6)), Delivery::kPrint);
}

TEST(ResumeTrackerTest, AGapOrANewEpochIsPrintedWithANote) {
  ResumeTracker tracker;
  tracker.Add("news", core::Position{kEpoch, 5});
  std::string note;
  EXPECT_EQ(Deliver(&tracker, Notification(kEpoch, 9), &note), Delivery::kPrint);
  EXPECT_EQ(note, "news: 3 notifications after abcdefgh:5 did not arrive; reloading is up to you");
  EXPECT_EQ(Deliver(&tracker, Notification(kOther, 1), &note), Delivery::kPrint);
  EXPECT_EQ(note,
            "news: the stream moved from epoch abcdefgh to ZYXWVUTS without a resync; "
            "notifications may have been missed");
  EXPECT_EQ(Deliver(&tracker, Notification(kOther, 2), &note), Delivery::kPrint);
  EXPECT_EQ(note, "");
}

TEST(ResumeTrackerTest, AResyncMovesThePosition) {
  ResumeTracker tracker;
  tracker.Add("news", core::Position{kEpoch, 5});
  StreamMessage resync;
  resync.type = "resync";
  resync.channel = "news";
  resync.epoch = kOther;
  resync.seq = 11;
  resync.reason = "epoch_changed";
  EXPECT_EQ(tracker.OnResync(resync),
            "news: resync from the server (epoch_changed); continuing at ZYXWVUTS:11; "
            "reloading is up to you");
  EXPECT_EQ(tracker.Last("news"), (core::Position{kOther, 11}));
  EXPECT_EQ(Deliver(&tracker, Notification(kOther, 12)), Delivery::kPrint);
}

TEST(ResumeTrackerTest, OtherChannelsAndPositionlessMessagesPassThrough) {
  ResumeTracker tracker;
  tracker.Add("news", std::nullopt);
  StreamMessage other = Notification(kEpoch, 1);
  other.channel = "sports";
  EXPECT_EQ(Deliver(&tracker, other), Delivery::kPrint);
  StreamMessage old_server;
  old_server.type = "notification";
  old_server.channel = "news";
  EXPECT_EQ(Deliver(&tracker, old_server), Delivery::kPrint);
  EXPECT_EQ(tracker.Last("news"), std::nullopt);
  // A subscribed reply nobody asked for says nothing.
  EXPECT_EQ(tracker.OnSubscribed(Subscribed(kEpoch, 1)), "");
  tracker.Remove("news");
  EXPECT_FALSE(tracker.Has("news"));
}

}  // namespace
}  // namespace notifyd::cli
