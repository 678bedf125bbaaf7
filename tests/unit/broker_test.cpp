// The broker seam without a socket or a database: positions, the history
// rings, resume, reads, idempotency keys, and the commit/batch contract with a
// store played by a fake that commits or fails when the test says so.
#include "core/broker.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/fakes.h"

namespace notifyd::core {
namespace {

using testing_support::FakeClock;
using testing_support::FakeEncoder;
using testing_support::FakeSubscriber;

/// Records what it is handed; the test decides when it commits or fails.
class FakeStore final : public HistoryStore {
 public:
  LoadedHistory to_load;
  std::vector<StoreOp> ops;
  StoreEvents* events = nullptr;
  int resumes = 0;
  bool closed = false;
  bool closed_clean = false;

  LoadedHistory Load(const StoreLimits&, int64_t) override { return to_load; }
  void Start(StoreEvents* e) override { events = e; }
  void Submit(StoreOp op) override { ops.push_back(std::move(op)); }
  void Resume() override { ++resumes; }
  void SetLimits(const StoreLimits&) override {}
  void Close(bool clean) override {
    closed = true;
    closed_clean = clean;
  }
  std::string path() const override { return "fake"; }
  uint64_t FileBytes() const override { return 0; }

  /// The highest append ticket submitted so far.
  uint64_t LastTicket() const {
    uint64_t t = 0;
    for (const StoreOp& op : ops) {
      if (op.kind == StoreOp::Kind::kAppend) t = op.ticket;
    }
    return t;
  }
  std::vector<StoreOp> OpsOfKind(StoreOp::Kind kind) const {
    std::vector<StoreOp> out;
    for (const StoreOp& op : ops) {
      if (op.kind == kind) out.push_back(op);
    }
    return out;
  }
};

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Broker::Options o;
    o.size = 5;
    o.ttl_ms = 60 * 1000;
    o.recover_max = 3;
    broker_.Configure(o);
  }

  /// Publishes; fails the test if the outcome is not known at once.
  PublishOutcome PublishNow(const std::string& channel, const std::string& title = "t",
                            const std::string& key = "") {
    std::optional<PublishOutcome> o =
        broker_.Publish(channel, {title, "", ""}, key, [this] { return Later(); });
    EXPECT_TRUE(o.has_value());
    return o.value_or(PublishOutcome{});
  }
  /// Publishes expecting a deferred outcome, which lands in later_.
  void PublishLater(const std::string& channel, const std::string& title = "t",
                    const std::string& key = "") {
    std::optional<PublishOutcome> o =
        broker_.Publish(channel, {title, "", ""}, key, [this] { return Later(); });
    EXPECT_FALSE(o.has_value());
  }
  PublishDone Later() {
    return [this](const PublishOutcome& o) { later_.push_back(o); };
  }
  ClientHandle Subscribed(FakeSubscriber* sub, const std::string& channel) {
    const ClientHandle h = hub_.Connect(sub).handle;
    hub_.Subscribe(h, channel);
    return h;
  }
  std::vector<uint64_t> Seqs(const std::vector<FramePtr>& frames) {
    std::vector<uint64_t> out;
    for (const FramePtr& f : frames) out.push_back(f->seq);
    return out;
  }

  FakeClock clock_;
  FakeEncoder encoder_;
  Hub hub_{clock_, IdSource(1)};
  Broker broker_{hub_, clock_, encoder_, IdSource(2)};
  std::vector<PublishOutcome> later_;
};

// --- positions ----------------------------------------------------------------------

TEST_F(BrokerTest, SeqsCountFromOnePerChannelWithinOneEpoch) {
  const PublishOutcome a1 = PublishNow("a");
  const PublishOutcome a2 = PublishNow("a");
  const PublishOutcome b1 = PublishNow("b");
  EXPECT_EQ(a1.seq, 1u);
  EXPECT_EQ(a2.seq, 2u);
  EXPECT_EQ(b1.seq, 1u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_NE(a1.epoch, b1.epoch);
  EXPECT_TRUE(IsValidEpoch(a1.epoch));
  EXPECT_EQ(a2.id, a2.epoch + ":2");
  EXPECT_EQ(encoder_.last().seq, 1u);
  EXPECT_EQ(encoder_.last().epoch, b1.epoch);
  EXPECT_EQ(encoder_.last().id, b1.id);
}

TEST_F(BrokerTest, SubscribeDrawsTheEpochThatLaterPublishesCarry) {
  const ResumeResult r = broker_.Resume("news", std::nullopt);
  EXPECT_TRUE(IsValidEpoch(r.epoch));
  EXPECT_EQ(r.top, 0u);
  EXPECT_EQ(PublishNow("news").epoch, r.epoch);
}

TEST_F(BrokerTest, DeliversToSubscribersAndCountsThem) {
  FakeSubscriber a, b;
  Subscribed(&a, "news");
  Subscribed(&b, "news");
  b.set_accepting(false);
  const PublishOutcome o = PublishNow("news", "hello");
  EXPECT_EQ(o.delivered, 1u);
  ASSERT_EQ(a.frames().size(), 1u);
  EXPECT_EQ(a.frames()[0]->id, o.id);
  EXPECT_EQ(a.frames()[0]->seq, 1u);
}

// --- resume -------------------------------------------------------------------------

TEST_F(BrokerTest, ResumeReplaysExactlyTheMissedInOrder) {
  const std::string epoch = PublishNow("news").epoch;
  PublishNow("news");
  PublishNow("news");
  PublishNow("news");
  const ResumeResult r = broker_.Resume("news", Position{epoch, 2});
  EXPECT_TRUE(r.recovery.recovered);
  EXPECT_EQ(r.recovery.missed, 2u);
  EXPECT_EQ(r.top, 4u);
  EXPECT_EQ(Seqs(r.frames), (std::vector<uint64_t>{3, 4}));
}

TEST_F(BrokerTest, ResumeUpToDateReplaysNothing) {
  const std::string epoch = PublishNow("news").epoch;
  const ResumeResult r = broker_.Resume("news", Position{epoch, 1});
  EXPECT_TRUE(r.recovery.recovered);
  EXPECT_EQ(r.recovery.missed, 0u);
  EXPECT_TRUE(r.frames.empty());
}

TEST_F(BrokerTest, ResumeBeyondTheRingIsNotRecovered) {
  const std::string epoch = PublishNow("news").epoch;
  for (int i = 0; i < 6; ++i) PublishNow("news");  // 7 published, 5 kept: 3..7
  const ResumeResult r = broker_.Resume("news", Position{epoch, 1});
  EXPECT_FALSE(r.recovery.recovered);
  EXPECT_EQ(r.recovery.missed, 0u);
  EXPECT_TRUE(r.frames.empty());
  EXPECT_TRUE(broker_.Resume("news", Position{epoch, 4}).recovery.recovered);
}

TEST_F(BrokerTest, ResumeOverRecoverMaxIsNotRecovered) {
  const std::string epoch = PublishNow("news").epoch;
  for (int i = 0; i < 4; ++i) PublishNow("news");  // top 5, recover_max 3
  EXPECT_FALSE(broker_.Resume("news", Position{epoch, 1}).recovery.recovered);
  EXPECT_EQ(broker_.Resume("news", Position{epoch, 2}).frames.size(), 3u);
}

TEST_F(BrokerTest, ResumeFromAnotherEpochOrAheadIsNotRecovered) {
  const std::string epoch = PublishNow("news").epoch;
  EXPECT_FALSE(broker_.Resume("news", Position{"ZyXwVuTs9876", 1}).recovery.recovered);
  EXPECT_FALSE(broker_.Resume("news", Position{epoch, 2}).recovery.recovered);
  const BrokerStats s = broker_.stats();
  EXPECT_EQ(s.resumes_not_recovered, 2u);
}

// --- polling ------------------------------------------------------------------------

TEST_F(BrokerTest, ReadPagesFromAPosition) {
  const std::string epoch = PublishNow("news").epoch;
  for (int i = 0; i < 4; ++i) PublishNow("news");
  HistoryPage all = broker_.Read("news", std::nullopt, 100);
  EXPECT_TRUE(all.recovered);
  EXPECT_FALSE(all.more);
  EXPECT_EQ(Seqs(all.messages), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  HistoryPage page = broker_.Read("news", Position{epoch, 1}, 2);
  EXPECT_TRUE(page.recovered);
  EXPECT_TRUE(page.more);
  EXPECT_EQ(Seqs(page.messages), (std::vector<uint64_t>{2, 3}));
  page = broker_.Read("news", Position{epoch, 3}, 2);
  EXPECT_FALSE(page.more);
  EXPECT_EQ(Seqs(page.messages), (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(broker_.Read("news", Position{epoch, 5}, 2).messages.empty());
}

TEST_F(BrokerTest, ReadFromAnUnknownPositionSaysSoAndGivesWhatIsKept) {
  PublishNow("news");
  PublishNow("news");
  HistoryPage page = broker_.Read("news", Position{"ZyXwVuTs9876", 1}, 100);
  EXPECT_FALSE(page.recovered);
  EXPECT_EQ(Seqs(page.messages), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(page.top, 2u);
}

TEST_F(BrokerTest, ReadIgnoresRecoverMax) {
  const std::string epoch = PublishNow("news").epoch;
  for (int i = 0; i < 4; ++i) PublishNow("news");
  EXPECT_TRUE(broker_.Read("news", Position{epoch, 0}, 100).recovered);
}

// --- retention ----------------------------------------------------------------------

TEST_F(BrokerTest, SweepDropsExpiredNotificationsButKeepsThePosition) {
  const std::string epoch = PublishNow("news").epoch;
  clock_.Advance(30 * 1000);
  PublishNow("news");
  clock_.Advance(31 * 1000);  // the first is 61 s old, the second 31 s
  broker_.Sweep();
  EXPECT_EQ(Seqs(broker_.Read("news", std::nullopt, 10).messages), (std::vector<uint64_t>{2}));
  EXPECT_FALSE(broker_.Resume("news", Position{epoch, 0}).recovery.recovered);
  EXPECT_TRUE(broker_.Resume("news", Position{epoch, 1}).recovery.recovered);
  EXPECT_EQ(broker_.stats().kept, 1u);
}

TEST_F(BrokerTest, IdleChannelsWithoutSubscribersAreDroppedAndStartANewEpoch) {
  const std::string first = PublishNow("idle").epoch;
  FakeSubscriber sub;
  Subscribed(&sub, "watched");
  const std::string watched = PublishNow("watched").epoch;
  clock_.Advance(61 * 1000);
  broker_.Sweep();
  EXPECT_EQ(broker_.stats().channels, 1u);
  EXPECT_NE(PublishNow("idle").epoch, first);
  const PublishOutcome w = PublishNow("watched");
  EXPECT_EQ(w.epoch, watched);
  EXPECT_EQ(w.seq, 2u);
}

TEST_F(BrokerTest, SizeZeroKeepsNothingButCountsPositions) {
  Broker::Options o;
  o.size = 0;
  broker_.Configure(o);
  const std::string epoch = PublishNow("news").epoch;
  EXPECT_EQ(PublishNow("news").seq, 2u);
  EXPECT_TRUE(broker_.Read("news", std::nullopt, 10).messages.empty());
  EXPECT_TRUE(broker_.Resume("news", Position{epoch, 2}).recovery.recovered);
  EXPECT_FALSE(broker_.Resume("news", Position{epoch, 1}).recovery.recovered);
}

TEST_F(BrokerTest, KeptBytesFollowTheRing) {
  for (int i = 0; i < 8; ++i) PublishNow("news");
  const BrokerStats s = broker_.stats();
  EXPECT_EQ(s.kept, 5u);
  uint64_t bytes = 0;
  for (const FramePtr& f : broker_.Read("news", std::nullopt, 10).messages) bytes += f->text.size();
  EXPECT_EQ(s.kept_bytes, bytes);
}

// --- idempotency --------------------------------------------------------------------

TEST_F(BrokerTest, IdempotencyKeyAnswersARepeatWithTheFirstOutcome) {
  FakeSubscriber sub;
  Subscribed(&sub, "news");
  const PublishOutcome first = PublishNow("news", "once", "k1");
  const PublishOutcome again = PublishNow("news", "twice", "k1");
  EXPECT_FALSE(first.replayed);
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.delivered, first.delivered);
  EXPECT_EQ(sub.frames().size(), 1u);
  EXPECT_EQ(PublishNow("other", "x", "k1").seq, 1u) << "keys are per channel";
  EXPECT_EQ(PublishNow("news", "x", "k2").seq, 2u);
}

TEST_F(BrokerTest, IdempotencyKeyExpiresAfterItsTtl) {
  PublishNow("news", "t", "k1");
  clock_.Advance(299 * 1000);
  EXPECT_TRUE(PublishNow("news", "t", "k1").replayed);
  clock_.Advance(2 * 1000);
  broker_.Sweep();
  EXPECT_FALSE(PublishNow("news", "t", "k1").replayed);
}

// --- with a store: commit mode ------------------------------------------------------

class BrokerStoreTest : public BrokerTest {
 protected:
  void Attach(bool batch) {
    Broker::Options o;
    o.size = 5;
    o.recover_max = 100;
    o.batch = batch;
    broker_.Configure(o);
    broker_.AttachStore(&store_);
  }
  FakeStore store_;
};

TEST_F(BrokerStoreTest, CommitModeDeliversAndAnswersOnlyAfterTheCommit) {
  Attach(false);
  FakeSubscriber sub;
  Subscribed(&sub, "news");
  const std::string epoch = broker_.Resume("news", std::nullopt).epoch;
  PublishLater("news", "a");
  PublishLater("news", "b");
  EXPECT_TRUE(sub.frames().empty());
  EXPECT_TRUE(later_.empty());
  EXPECT_EQ(broker_.Resume("news", std::nullopt).top, 0u) << "pending is not visible";
  const auto appends = store_.OpsOfKind(StoreOp::Kind::kAppend);
  ASSERT_EQ(appends.size(), 2u);
  EXPECT_EQ(appends[0].seq, 1u);
  EXPECT_EQ(appends[1].seq, 2u);
  EXPECT_EQ(appends[0].epoch, epoch);
  EXPECT_EQ(appends[0].json, "news|" + epoch + ":1|a");

  store_.events->OnCommitted(appends[0].ticket);
  ASSERT_EQ(later_.size(), 1u);
  EXPECT_EQ(later_[0].seq, 1u);
  EXPECT_EQ(later_[0].delivered, 1u);
  EXPECT_EQ(sub.frames().size(), 1u);
  store_.events->OnCommitted(appends[1].ticket);
  ASSERT_EQ(later_.size(), 2u);
  EXPECT_EQ(Seqs(sub.frames()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(broker_.Resume("news", std::nullopt).top, 2u);
}

TEST_F(BrokerStoreTest, ANewChannelsEpochIsStoredAtOnce) {
  Attach(false);
  const std::string epoch = broker_.Resume("news", std::nullopt).epoch;
  const auto channels = store_.OpsOfKind(StoreOp::Kind::kChannel);
  ASSERT_EQ(channels.size(), 1u);
  EXPECT_EQ(channels[0].channel, "news");
  EXPECT_EQ(channels[0].epoch, epoch);
}

TEST_F(BrokerStoreTest, AFailedCommitRefusesThePendingAndGivesTheirSeqsAgain) {
  Attach(false);
  PublishLater("news");
  store_.events->OnCommitted(store_.LastTicket());
  PublishLater("news");
  PublishLater("news");
  store_.events->OnFailed("database or disk is full");
  ASSERT_EQ(later_.size(), 3u);
  EXPECT_EQ(later_[1].status, PublishOutcome::Status::kUnavailable);
  EXPECT_EQ(later_[2].status, PublishOutcome::Status::kUnavailable);
  EXPECT_NE(later_[2].error.find("database or disk is full"), std::string::npos);
  EXPECT_EQ(store_.resumes, 1);
  // For a while publishes are refused at once.
  const PublishOutcome refused = PublishNow("news");
  EXPECT_EQ(refused.status, PublishOutcome::Status::kUnavailable);
  EXPECT_FALSE(broker_.store_ok());
  // Then they are tried again, with the seq no one saw.
  clock_.Advance(1001);
  EXPECT_TRUE(broker_.store_ok());
  PublishLater("news");
  EXPECT_EQ(store_.OpsOfKind(StoreOp::Kind::kAppend).back().seq, 2u);
  store_.events->OnCommitted(store_.LastTicket());
  EXPECT_EQ(later_.back().seq, 2u);
  EXPECT_EQ(later_.back().status, PublishOutcome::Status::kOk);
}

TEST_F(BrokerStoreTest, ARepeatOfAPendingKeyWaitsForTheFirst) {
  Attach(false);
  PublishLater("news", "t", "k");
  PublishLater("news", "t", "k");
  EXPECT_EQ(store_.OpsOfKind(StoreOp::Kind::kAppend).size(), 1u);
  EXPECT_TRUE(store_.OpsOfKind(StoreOp::Kind::kAppend)[0].has_key);
  store_.events->OnCommitted(store_.LastTicket());
  ASSERT_EQ(later_.size(), 2u);
  EXPECT_EQ(later_[0].seq, 1u);
  EXPECT_TRUE(later_[1].replayed);
  EXPECT_EQ(later_[1].seq, 1u);
}

TEST_F(BrokerStoreTest, LoadedHistoryIsResumedUnderItsEpoch) {
  StoredChannel ch{"news", "AbCdEfGh1234", 9, clock_.WallMillis(), {}};
  for (uint64_t seq = 7; seq <= 9; ++seq) {
    ch.entries.push_back({seq, clock_.WallMillis(), "json" + std::to_string(seq)});
  }
  store_.to_load.channels.push_back(ch);
  store_.to_load.keys.push_back(
      {"news", "k", "AbCdEfGh1234", 9, 4, clock_.WallMillis() + 1000});
  store_.to_load.clean_stop = false;  // a crash, but in commit mode
  Attach(false);
  const ResumeResult r = broker_.Resume("news", Position{"AbCdEfGh1234", 6});
  EXPECT_TRUE(r.recovery.recovered);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.frames[0]->text, "json7");
  EXPECT_EQ(r.frames[0]->id, "AbCdEfGh1234:7");
  const std::optional<PublishOutcome> replay =
      broker_.Publish("news", {"t", "", ""}, "k", [this] { return Later(); });
  ASSERT_TRUE(replay.has_value());
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->seq, 9u);
  EXPECT_EQ(replay->delivered, 4u);
  PublishLater("news");
  EXPECT_EQ(store_.OpsOfKind(StoreOp::Kind::kAppend).back().seq, 10u);
}

TEST_F(BrokerStoreTest, ACrashInBatchModeStartsNewEpochs) {
  store_.to_load.channels.push_back({"news", "AbCdEfGh1234", 9, clock_.WallMillis(), {}});
  store_.to_load.clean_stop = false;
  Attach(true);
  const ResumeResult r = broker_.Resume("news", Position{"AbCdEfGh1234", 9});
  EXPECT_FALSE(r.recovery.recovered);
  EXPECT_NE(r.epoch, "AbCdEfGh1234");
  EXPECT_EQ(r.top, 0u);
  EXPECT_EQ(store_.OpsOfKind(StoreOp::Kind::kDropChannel).size(), 1u);
}

TEST_F(BrokerStoreTest, ACleanStopInBatchModeKeepsEpochs) {
  store_.to_load.channels.push_back({"news", "AbCdEfGh1234", 9, clock_.WallMillis(), {}});
  store_.to_load.clean_stop = true;
  Attach(true);
  EXPECT_TRUE(broker_.Resume("news", Position{"AbCdEfGh1234", 9}).recovery.recovered);
  EXPECT_EQ(PublishNow("news").seq, 10u);
}

TEST_F(BrokerStoreTest, BatchModeAnswersAtOnceAndAFailureMakesTheStopUnclean) {
  Attach(true);
  EXPECT_EQ(PublishNow("news").seq, 1u);
  store_.events->OnFailed("disk I/O error");
  broker_.CloseStore();
  EXPECT_TRUE(store_.closed);
  EXPECT_FALSE(store_.closed_clean);
}

TEST_F(BrokerStoreTest, CommitModeStopIsClean) {
  Attach(false);
  PublishLater("news");
  store_.events->OnCommitted(store_.LastTicket());
  broker_.CloseStore();
  EXPECT_TRUE(store_.closed_clean);
}

// --- the commit latency -------------------------------------------------------------

TEST_F(BrokerStoreTest, CommitModeTimesEachPublishToItsCommit) {
  Attach(false);
  PublishLater("news");
  clock_.AdvanceMicros(300);
  PublishLater("news");
  clock_.AdvanceMicros(1700);  // the first waited 2 ms, the second 1.7 ms
  store_.events->OnCommitted(store_.LastTicket());
  const DurationHistogram& h = broker_.stats().commit_durations;
  EXPECT_EQ(h.count(), 2u);
  EXPECT_NEAR(h.sum_seconds(), 0.0037, 1e-9);
  EXPECT_EQ(h.CumulativeCount(1), 0u);  // <= 1 ms
  EXPECT_EQ(h.CumulativeCount(2), 2u);  // <= 2.5 ms
}

TEST_F(BrokerStoreTest, BatchModeTimesPublishesToTheirCommitToo) {
  Attach(true);
  PublishNow("news");
  PublishNow("news");
  clock_.AdvanceMicros(40000);
  const uint64_t first = store_.OpsOfKind(StoreOp::Kind::kAppend).front().ticket;
  store_.events->OnCommitted(first);
  EXPECT_EQ(broker_.stats().commit_durations.count(), 1u);
  store_.events->OnCommitted(store_.LastTicket());
  EXPECT_EQ(broker_.stats().commit_durations.count(), 2u);
  EXPECT_NEAR(broker_.stats().commit_durations.sum_seconds(), 0.08, 1e-9);
}

TEST_F(BrokerStoreTest, FailedWritesAreNotTimed) {
  Attach(false);
  PublishLater("news");
  store_.events->OnFailed("database or disk is full");
  clock_.Advance(1001);
  PublishLater("news");
  clock_.AdvanceMicros(500);
  store_.events->OnCommitted(store_.LastTicket());
  const DurationHistogram& h = broker_.stats().commit_durations;
  EXPECT_EQ(h.count(), 1u);
  EXPECT_NEAR(h.sum_seconds(), 0.0005, 1e-9);
}

TEST_F(BrokerTest, WithoutAStoreNothingIsTimed) {
  PublishNow("news");
  EXPECT_EQ(broker_.stats().commit_durations.count(), 0u);
}

TEST_F(BrokerTest, AStoreThatCannotOpenRefusesPublishes) {
  broker_.FailStore("cannot open /x: permission denied");
  const PublishOutcome o = PublishNow("news");
  EXPECT_EQ(o.status, PublishOutcome::Status::kUnavailable);
  clock_.Advance(3600 * 1000);
  EXPECT_EQ(PublishNow("news").status, PublishOutcome::Status::kUnavailable);
}

}  // namespace
}  // namespace notifyd::core
