// The broker with a cluster engine, without Redis: a fake engine records what
// the broker asks and the test plays the engine's answers (acks, snapshots,
// entries, state changes) in the orders a real engine can produce them.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/broker.h"
#include "core/cluster_engine.h"
#include "support/fakes.h"

namespace notifyd::core {
namespace {

using testing_support::FakeClock;
using testing_support::FakeEncoder;
using testing_support::FakeSubscriber;

class FakeEngine final : public ClusterEngine {
 public:
  struct Published {
    std::string channel;
    std::string candidate;
    std::string payload;
    std::string key;
    EngineAckDone done;
  };
  struct ReadCall {
    std::string channel;
    uint64_t since;
    size_t limit;
    EngineReadDone done;
  };

  EngineEvents* events = nullptr;
  bool is_up = true;
  std::vector<Published> published;
  std::vector<std::string> attached;
  std::vector<std::string> detached;
  std::vector<ReadCall> reads;
  std::vector<std::pair<std::string, uint64_t>> recorded;  ///< (key, delivered)
  size_t remote = 0;

  void SetEvents(EngineEvents* e) override { events = e; }
  bool up() const override { return is_up; }
  std::string down_reason() const override { return is_up ? "" : "connection refused"; }
  void Publish(const std::string& channel, const std::string& candidate, std::string payload,
               std::string_view key, int64_t, EngineAckDone done) override {
    published.push_back({channel, candidate, std::move(payload), std::string(key), std::move(done)});
  }
  void RecordDelivered(const std::string&, std::string_view key, uint64_t delivered) override {
    recorded.emplace_back(std::string(key), delivered);
  }
  void Attach(const std::string& channel, const std::string&) override {
    attached.push_back(channel);
  }
  void Detach(const std::string& channel) override { detached.push_back(channel); }
  void Read(const std::string& channel, const std::string&, uint64_t since, size_t limit,
            EngineReadDone done) override {
    reads.push_back({channel, since, limit, std::move(done)});
  }
  size_t RemoteSubscribers(const std::string&) const override { return remote; }
  std::vector<std::pair<std::string, size_t>> RemoteCounts() const override { return {}; }
  size_t nodes() const override { return 2; }
};

EngineEntry Entry(uint64_t seq, const std::string& title) {
  return {seq, EncodeEntryPayload(1000 + static_cast<int64_t>(seq), title, "", "")};
}

EngineSnapshot Snapshot(const std::string& epoch, uint64_t first, uint64_t top) {
  EngineSnapshot s;
  s.epoch = epoch;
  s.top = top;
  s.first_kept = first;
  for (uint64_t seq = first; seq != 0 && seq <= top; ++seq) {
    s.entries.push_back(Entry(seq, "n" + std::to_string(seq)));
  }
  return s;
}

class BrokerClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Broker::Options o;
    o.size = 5;
    o.recover_max = 3;
    broker_.Configure(o);
    broker_.AttachEngine(&engine_);
    broker_.OnEngineState(true, "");
  }

  ClientHandle Connect(FakeSubscriber* sub) { return hub_.Connect(sub).handle; }

  /// Subscribes `h` and asks for its resume, as the session API does.
  void Subscribe(ClientHandle h, const std::string& channel, std::optional<Position> since) {
    hub_.Subscribe(h, channel);
    std::optional<ResumeResult> r = broker_.Resume(channel, since, [this] {
      return [this](ResumeResult later) { resumed_.push_back(std::move(later)); };
    });
    if (r) resumed_.push_back(std::move(*r));
  }

  std::optional<PublishOutcome> Publish(const std::string& channel, const std::string& key = "") {
    return broker_.Publish(channel, {"hello", "body", ""}, key, [this]() -> PublishDone {
      return [this](const PublishOutcome& o) { outcomes_.push_back(o); };
    });
  }

  static EngineAck Ack(const std::string& epoch, uint64_t seq) {
    EngineAck a;
    a.ok = true;
    a.epoch = epoch;
    a.seq = seq;
    a.nodes = 2;
    return a;
  }

  FakeClock clock_;
  FakeEncoder encoder_;
  Hub hub_{clock_, IdSource(1)};
  Broker broker_{hub_, clock_, encoder_, IdSource(2)};
  FakeEngine engine_;
  std::vector<ResumeResult> resumed_;
  std::vector<PublishOutcome> outcomes_;
};

TEST_F(BrokerClusterTest, PublishGoesToTheEngineWithTheContentEveryNodeFramesAlike) {
  EXPECT_FALSE(Publish("news").has_value());
  ASSERT_EQ(engine_.published.size(), 1u);
  std::optional<EntryContent> content = DecodeEntryPayload(engine_.published[0].payload);
  ASSERT_TRUE(content.has_value());
  EXPECT_EQ(content->title, "hello");
  EXPECT_EQ(content->body, "body");
  EXPECT_EQ(content->published_ms, clock_.WallMillis());
  EXPECT_TRUE(IsValidEpoch(engine_.published[0].candidate));
  // Nobody follows the channel here: answered at once with delivered 0.
  engine_.published[0].done(Ack("EEEEEEEEEEEE", 7));
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].seq, 7u);
  EXPECT_EQ(outcomes_[0].id, "EEEEEEEEEEEE:7");
  EXPECT_EQ(outcomes_[0].delivered, 0u);
  EXPECT_EQ(outcomes_[0].nodes, 2u);
  EXPECT_TRUE(outcomes_[0].clustered);
  EXPECT_TRUE(hub_.SubscriberCount("news") == 0);
}

TEST_F(BrokerClusterTest, PublishWhileTheEngineIsDownIsRefusedAtOnce) {
  engine_.is_up = false;
  broker_.OnEngineState(false, "connection refused");
  std::optional<PublishOutcome> o = Publish("news");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->status, PublishOutcome::Status::kUnavailable);
  EXPECT_TRUE(o->clustered);
  EXPECT_NE(o->error.find("connection refused"), std::string::npos);
  EXPECT_TRUE(engine_.published.empty());
}

TEST_F(BrokerClusterTest, EngineErrorBecomesUnavailable) {
  Publish("news");
  EngineAck failed;
  failed.error = "Redis did not answer within 1000 ms";
  engine_.published[0].done(failed);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].status, PublishOutcome::Status::kUnavailable);
  EXPECT_EQ(outcomes_[0].error, failed.error);
}

TEST_F(BrokerClusterTest, FirstSubscriberWaitsForTheSnapshotThenGetsItsReplay) {
  FakeSubscriber sub;
  const ClientHandle h = Connect(&sub);
  Subscribe(h, "news", Position{"EEEEEEEEEEEE", 3});
  ASSERT_EQ(engine_.attached, std::vector<std::string>{"news"});
  EXPECT_TRUE(resumed_.empty());
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 2, 5));
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_TRUE(resumed_[0].recovery.recovered);
  EXPECT_EQ(resumed_[0].recovery.missed, 2u);
  ASSERT_EQ(resumed_[0].frames.size(), 2u);
  EXPECT_EQ(resumed_[0].frames[0]->seq, 4u);
  EXPECT_EQ(resumed_[0].frames[0]->text, "news|EEEEEEEEEEEE:4|n4");
  EXPECT_EQ(resumed_[0].top, 5u);
  EXPECT_TRUE(sub.frames().empty());  // the replay is the session's to send

  // Later ones are live, and a second subscriber is answered from the mirror.
  broker_.OnEntry("news", 6, Entry(6, "n6").payload);
  ASSERT_EQ(sub.frames().size(), 1u);
  EXPECT_EQ(sub.frames()[0]->seq, 6u);
  FakeSubscriber other;
  Subscribe(Connect(&other), "news", Position{"EEEEEEEEEEEE", 5});
  ASSERT_EQ(resumed_.size(), 2u);
  EXPECT_EQ(resumed_[1].frames.size(), 1u);
  EXPECT_EQ(engine_.attached.size(), 1u);
}

TEST_F(BrokerClusterTest, AnOldEpochIsNotRecovered) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", Position{"OLDOLDOLDOLD", 3});
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 1, 2));
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_FALSE(resumed_[0].recovery.recovered);
  EXPECT_TRUE(resumed_[0].frames.empty());
  EXPECT_EQ(resumed_[0].epoch, "EEEEEEEEEEEE");
}

TEST_F(BrokerClusterTest, ResumeWhileDownIsRefusedButAPlainSubscribeWaits) {
  engine_.is_up = false;
  broker_.OnEngineState(false, "connection refused");
  FakeSubscriber a;
  FakeSubscriber b;
  Subscribe(Connect(&a), "news", Position{"EEEEEEEEEEEE", 3});
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_TRUE(resumed_[0].unavailable);
  Subscribe(Connect(&b), "news", std::nullopt);
  EXPECT_EQ(resumed_.size(), 1u);
  engine_.is_up = true;
  broker_.OnEngineState(true, "");
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 0, 0));
  ASSERT_EQ(resumed_.size(), 2u);
  EXPECT_FALSE(resumed_[1].unavailable);
  EXPECT_EQ(resumed_[1].epoch, "EEEEEEEEEEEE");
}

TEST_F(BrokerClusterTest, AResumeWaitingWhenTheEngineGoesDownIsToldSo) {
  FakeSubscriber a;
  Subscribe(Connect(&a), "news", Position{"EEEEEEEEEEEE", 3});
  EXPECT_TRUE(resumed_.empty());
  engine_.is_up = false;
  broker_.OnEngineState(false, "connection lost");
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_TRUE(resumed_[0].unavailable);
  EXPECT_NE(resumed_[0].error.find("connection lost"), std::string::npos);
}

TEST_F(BrokerClusterTest, PublishReplyCarriesTheLocalDeliveriesOfItsOwnNotification) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", std::nullopt);
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 0, 0));
  // The ack first, then the notification through pub/sub.
  Publish("news", "key-1");
  engine_.published[0].done(Ack("EEEEEEEEEEEE", 1));
  EXPECT_TRUE(outcomes_.empty());
  broker_.OnEntry("news", 1, engine_.published[0].payload);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].delivered, 1u);
  ASSERT_EQ(engine_.recorded.size(), 1u);
  EXPECT_EQ(engine_.recorded[0], std::make_pair(std::string("key-1"), uint64_t{1}));
  // The notification first, then the ack.
  Publish("news");
  broker_.OnEntry("news", 2, engine_.published[1].payload);
  engine_.published[1].done(Ack("EEEEEEEEEEEE", 2));
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[1].delivered, 1u);
  EXPECT_EQ(sub.frames().size(), 2u);
}

TEST_F(BrokerClusterTest, APublishWhoseNotificationNeverComesBackIsAnsweredAfterTheWait) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", std::nullopt);
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 0, 0));
  Publish("news");
  engine_.published[0].done(Ack("EEEEEEEEEEEE", 1));
  broker_.Sweep();
  EXPECT_TRUE(outcomes_.empty());
  clock_.Advance(Broker::kEchoWaitMs);
  broker_.Sweep();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].status, PublishOutcome::Status::kOk);
  EXPECT_EQ(outcomes_[0].delivered, 0u);
}

TEST_F(BrokerClusterTest, ReplayedKeyIsAnsweredWithTheFirstReply) {
  Publish("news", "k");
  EngineAck replay = Ack("EEEEEEEEEEEE", 4);
  replay.replayed = true;
  replay.delivered = 3;
  engine_.published[0].done(replay);
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].replayed);
  EXPECT_EQ(outcomes_[0].delivered, 3u);
  EXPECT_EQ(broker_.stats().idempotent_replays, 1u);
}

TEST_F(BrokerClusterTest, ANewSnapshotTellsLiveSubscribersResync) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", std::nullopt);
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 1, 2));
  broker_.OnSynced("news", Snapshot("NEWNEWNEWNEW", 1, 1));
  ASSERT_EQ(sub.frames().size(), 1u);
  EXPECT_TRUE(sub.frames()[0]->resync);
  EXPECT_EQ(sub.frames()[0]->text, "resync|news|NEWNEWNEWNEW:1|epoch_changed");
  EXPECT_EQ(sub.frames()[0]->id, "NEWNEWNEWNEW:1");
  broker_.OnSynced("news", Snapshot("NEWNEWNEWNEW", 3, 6));
  EXPECT_EQ(sub.frames().back()->text, "resync|news|NEWNEWNEWNEW:6|gap");
  EXPECT_EQ(broker_.stats().resyncs, 2u);
  // The mirror is the new snapshot: a resume from 5 replays 6.
  Subscribe(Connect(&sub), "news", Position{"NEWNEWNEWNEW", 5});
  ASSERT_FALSE(resumed_.empty());
  EXPECT_TRUE(resumed_.back().recovery.recovered);
  ASSERT_EQ(resumed_.back().frames.size(), 1u);
  EXPECT_EQ(resumed_.back().frames[0]->seq, 6u);
}

TEST_F(BrokerClusterTest, ASnapshotWithAHoleKeepsOnlyTheRunEndingAtTop) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", std::nullopt);
  EngineSnapshot s = Snapshot("EEEEEEEEEEEE", 1, 5);
  s.entries.erase(s.entries.begin() + 1);  // seq 2 missing
  broker_.OnSynced("news", s);
  Subscribe(Connect(&sub), "news", Position{"EEEEEEEEEEEE", 1});
  EXPECT_FALSE(resumed_.back().recovery.recovered);
  Subscribe(Connect(&sub), "news", Position{"EEEEEEEEEEEE", 2});
  EXPECT_TRUE(resumed_.back().recovery.recovered);
  EXPECT_EQ(resumed_.back().frames.size(), 3u);
}

TEST_F(BrokerClusterTest, AChannelWithoutLocalSubscribersIsDetachedAfterALinger) {
  FakeSubscriber sub;
  const ClientHandle h = Connect(&sub);
  Subscribe(h, "news", std::nullopt);
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 0, 0));
  hub_.Unsubscribe(h, "news");
  broker_.Sweep();
  EXPECT_TRUE(engine_.detached.empty());
  clock_.Advance(Broker::kDetachAfterMs);
  broker_.Sweep();
  EXPECT_EQ(engine_.detached, std::vector<std::string>{"news"});
  // The next subscriber attaches again and waits for a fresh snapshot.
  Subscribe(h, "news", std::nullopt);
  EXPECT_EQ(engine_.attached.size(), 2u);
}

TEST_F(BrokerClusterTest, AnEntryNoNotifydWroteIsCountedNotDelivered) {
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", std::nullopt);
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 1, 2));
  broker_.OnEntry("news", 3, "not a payload");
  EXPECT_TRUE(sub.frames().empty());
  EXPECT_EQ(broker_.stats().malformed_entries, 1u);
  // Its position counts: the next one continues from it, and a resume from
  // before it cannot be recovered (the ring no longer reaches it).
  broker_.OnEntry("news", 4, Entry(4, "n4").payload);
  ASSERT_EQ(sub.frames().size(), 1u);
  EXPECT_EQ(sub.frames()[0]->seq, 4u);
  Subscribe(Connect(&sub), "news", Position{"EEEEEEEEEEEE", 2});
  EXPECT_FALSE(resumed_.back().recovery.recovered);
  EXPECT_EQ(resumed_.back().top, 4u);
}

TEST_F(BrokerClusterTest, PollingAChannelNotFollowedReadsTheEngine) {
  std::vector<HistoryPage> pages;
  auto defer = [&]() -> HistoryPageDone {
    return [&](HistoryPage p) { pages.push_back(std::move(p)); };
  };
  EXPECT_FALSE(broker_.Read("news", Position{"EEEEEEEEEEEE", 2}, 2, defer).has_value());
  ASSERT_EQ(engine_.reads.size(), 1u);
  EXPECT_EQ(engine_.reads[0].since, 2u);
  EXPECT_EQ(engine_.reads[0].limit, 3u);  // one more, to know whether there is more
  EngineSnapshot s = Snapshot("EEEEEEEEEEEE", 1, 5);
  s.entries.erase(s.entries.begin(), s.entries.begin() + 2);  // after 2
  engine_.reads[0].done(true, s, "");
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_TRUE(pages[0].recovered);
  EXPECT_TRUE(pages[0].more);
  ASSERT_EQ(pages[0].messages.size(), 2u);
  EXPECT_EQ(pages[0].messages[0]->seq, 3u);
  EXPECT_TRUE(engine_.attached.empty());
}

TEST_F(BrokerClusterTest, PollingFromAnOldEpochGetsWhatIsKeptFromTheOldest) {
  std::vector<HistoryPage> pages;
  broker_.Read("news", Position{"OLDOLDOLDOLD", 9}, 10, [&]() -> HistoryPageDone {
    return [&](HistoryPage p) { pages.push_back(std::move(p)); };
  });
  engine_.reads[0].done(true, Snapshot("EEEEEEEEEEEE", 3, 4), "");
  ASSERT_EQ(engine_.reads.size(), 2u);
  EXPECT_EQ(engine_.reads[1].since, 0u);
  engine_.reads[1].done(true, Snapshot("EEEEEEEEEEEE", 3, 4), "");
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_FALSE(pages[0].recovered);
  EXPECT_EQ(pages[0].messages.size(), 2u);
}

TEST_F(BrokerClusterTest, OnlyTheSubscriptionLostPublishesGoOnAndResumesWait) {
  broker_.OnEngineState(false, "the subscription was lost");  // commands still up
  EXPECT_FALSE(broker_.engine_up());
  EXPECT_FALSE(Publish("news").has_value());
  EXPECT_EQ(engine_.published.size(), 1u);
  FakeSubscriber sub;
  Subscribe(Connect(&sub), "news", Position{"EEEEEEEEEEEE", 0});
  EXPECT_TRUE(resumed_.empty());  // waits for the snapshot
  broker_.OnEngineState(true, "");
  broker_.OnSynced("news", Snapshot("EEEEEEEEEEEE", 1, 1));
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_TRUE(resumed_[0].recovery.recovered);
}

TEST_F(BrokerClusterTest, PollingWhileDownIs503) {
  engine_.is_up = false;
  broker_.OnEngineState(false, "connection refused");
  std::optional<HistoryPage> page =
      broker_.Read("news", std::nullopt, 10, []() -> HistoryPageDone { return nullptr; });
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->unavailable);
}

TEST(EntryPayloadTest, RoundTripsAnyBytes) {
  const std::string title("a:b 1:2\n\0x", 10);
  const std::string payload = EncodeEntryPayload(-5, title, "", "{\"k\":1}");
  std::optional<EntryContent> c = DecodeEntryPayload(payload);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->published_ms, -5);
  EXPECT_EQ(c->title, title);
  EXPECT_EQ(c->body, "");
  EXPECT_EQ(c->data_json, "{\"k\":1}");
}

TEST(EntryPayloadTest, RefusesWhatNoNotifydWrote) {
  for (const char* bad : {"", "x", "12", "12 ", "12 3:ab", "12 1:a1:b1:c extra", "12 a:b",
                          "12 99999999999:a", "1 2 0:0:0:"}) {
    EXPECT_FALSE(DecodeEntryPayload(bad).has_value()) << bad;
  }
  EXPECT_TRUE(DecodeEntryPayload("12 0:0:0:").has_value());
}

}  // namespace
}  // namespace notifyd::core
