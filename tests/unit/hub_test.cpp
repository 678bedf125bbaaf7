#include "core/hub.h"

#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/broker.h"
#include "support/fakes.h"

namespace notifyd::core {
namespace {

using testing_support::FakeClock;
using testing_support::FakeEncoder;
using testing_support::FakeSubscriber;

using ChannelList = std::vector<std::pair<std::string, size_t>>;

// Appends its tag to a shared log on every delivery, to see the order across
// subscribers.
class LoggingSubscriber final : public Subscriber {
 public:
  LoggingSubscriber(std::string tag, std::vector<std::string>* log)
      : tag_(std::move(tag)), log_(log) {}
  bool Deliver(const FramePtr&) override {
    log_->push_back(tag_);
    return true;
  }

 private:
  std::string tag_;
  std::vector<std::string>* log_;
};

class HubTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  FakeEncoder encoder_;
  Hub hub_{clock_, IdSource(42)};
  Broker broker_{hub_, clock_, encoder_, IdSource(7)};

  // Publishes through the broker, as the daemon does (memory history: the
  // outcome is known at once).
  PublishOutcome Publish(const std::string& channel, std::string title, std::string body,
                         std::string data) {
    return *broker_.Publish(channel, {std::move(title), std::move(body), std::move(data)}, "",
                            [] { return PublishDone(); });
  }
};

// --- Connect / Disconnect ------------------------------------------------------

TEST_F(HubTest, ConnectGivesUuidV4Ids) {
  const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  FakeSubscriber sub;
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string id = hub_.Connect(&sub).id;
    EXPECT_TRUE(std::regex_match(id, uuid_v4)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
}

TEST_F(HubTest, ConnectRecordsSubscriberAndWallTime) {
  FakeSubscriber sub;
  clock_.SetWallMillis(1234567);
  const ClientInfo& info = hub_.Connect(&sub);
  EXPECT_EQ(info.subscriber, &sub);
  EXPECT_EQ(info.connected_at_ms, 1234567);
  EXPECT_FALSE(info.name.has_value());
  EXPECT_TRUE(info.subscriptions.empty());
}

TEST_F(HubTest, ClientsAreListedInConnectionOrder) {
  FakeSubscriber a, b, c;
  const std::string id_a = hub_.Connect(&a).id;
  const std::string id_b = hub_.Connect(&b).id;
  const std::string id_c = hub_.Connect(&c).id;
  std::vector<std::string> listed;
  for (const auto& [handle, info] : hub_.clients()) listed.push_back(info.id);
  EXPECT_EQ(listed, (std::vector<std::string>{id_a, id_b, id_c}));
}

TEST_F(HubTest, DisconnectForgetsTheClient) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Disconnect(ha);
  EXPECT_EQ(hub_.Find(ha), nullptr);
  ASSERT_NE(hub_.Find(hb), nullptr);
  EXPECT_EQ(hub_.clients().size(), 1u);
}

TEST_F(HubTest, DisconnectRemovesFromEveryChannel) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(ha, "one");
  hub_.Subscribe(ha, "two");
  hub_.Subscribe(hb, "two");
  hub_.Disconnect(ha);
  EXPECT_EQ(hub_.ChannelCounts(), (ChannelList{{"two", 1}}));
  EXPECT_EQ(Publish("two", "t", "b", "").delivered, 1u);
  EXPECT_TRUE(a.frames().empty());
}

TEST_F(HubTest, DisconnectOfUnknownHandleIsHarmless) {
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  hub_.Disconnect(ha + 100);
  hub_.Disconnect(ha);
  hub_.Disconnect(ha);
  EXPECT_TRUE(hub_.clients().empty());
}

TEST_F(HubTest, FindUnknownHandleReturnsNull) {
  EXPECT_EQ(hub_.Find(0), nullptr);
  EXPECT_EQ(hub_.Find(12345), nullptr);
}

TEST_F(HubTest, FindReturnsTheConnectedClient) {
  FakeSubscriber a;
  const ClientInfo& info = hub_.Connect(&a);
  const ClientInfo* found = hub_.Find(info.handle);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->id, info.id);
}

TEST_F(HubTest, SetNameStoresTheName) {
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  hub_.SetName(ha, "Alice");
  ASSERT_NE(hub_.Find(ha), nullptr);
  EXPECT_EQ(hub_.Find(ha)->name, "Alice");
  hub_.SetName(ha, "Bob");
  EXPECT_EQ(hub_.Find(ha)->name, "Bob");
}

// --- Subscribe / Unsubscribe ------------------------------------------------------

TEST_F(HubTest, SubscribeCountsSubscribers) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  SubscribeResult first = hub_.Subscribe(ha, "news");
  EXPECT_TRUE(first.ok);
  EXPECT_EQ(first.subscriber_count, 1u);
  SubscribeResult second = hub_.Subscribe(hb, "news");
  EXPECT_TRUE(second.ok);
  EXPECT_EQ(second.subscriber_count, 2u);
  EXPECT_EQ(hub_.SubscriberCount("news"), 2u);
}

TEST_F(HubTest, SubscribingTwiceLeavesCountUnchanged) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  SubscribeResult again = hub_.Subscribe(ha, "news");
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.subscriber_count, 2u);
  EXPECT_EQ(hub_.Find(ha)->subscriptions, std::vector<std::string>{"news"});
  EXPECT_EQ(Publish("news", "t", "b", "").delivered, 2u);
  EXPECT_EQ(a.frames().size(), 1u);
}

TEST_F(HubTest, SubscriptionsKeepSubscribeOrder) {
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  hub_.Subscribe(ha, "zeta");
  hub_.Subscribe(ha, "alpha");
  hub_.Subscribe(ha, "mid");
  EXPECT_EQ(hub_.Find(ha)->subscriptions, (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

TEST_F(HubTest, SubscriptionLimitRefusesExtraChannel) {
  hub_.set_max_subscriptions_per_client(2);
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  EXPECT_TRUE(hub_.Subscribe(ha, "one").ok);
  EXPECT_TRUE(hub_.Subscribe(ha, "two").ok);
  SubscribeResult third = hub_.Subscribe(ha, "three");
  EXPECT_FALSE(third.ok);
  EXPECT_EQ(third.subscriber_count, 0u);
  EXPECT_EQ(hub_.SubscriberCount("three"), 0u);
  EXPECT_EQ(hub_.Find(ha)->subscriptions, (std::vector<std::string>{"one", "two"}));
}

TEST_F(HubTest, SubscriptionLimitStillAllowsResubscribe) {
  hub_.set_max_subscriptions_per_client(1);
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  ASSERT_TRUE(hub_.Subscribe(ha, "one").ok);
  EXPECT_TRUE(hub_.Subscribe(ha, "one").ok);
}

TEST_F(HubTest, SubscriptionLimitFreesUpAfterUnsubscribe) {
  hub_.set_max_subscriptions_per_client(1);
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  ASSERT_TRUE(hub_.Subscribe(ha, "one").ok);
  ASSERT_FALSE(hub_.Subscribe(ha, "two").ok);
  hub_.Unsubscribe(ha, "one");
  EXPECT_TRUE(hub_.Subscribe(ha, "two").ok);
}

TEST_F(HubTest, SubscribeWithUnknownHandleFails) {
  EXPECT_FALSE(hub_.Subscribe(99, "news").ok);
  EXPECT_TRUE(hub_.ChannelCounts().empty());
}

TEST_F(HubTest, UnsubscribeWhenNotSubscribedIsHarmless) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(hb, "news");
  hub_.Unsubscribe(ha, "news");
  hub_.Unsubscribe(ha, "nowhere");
  hub_.Unsubscribe(99, "news");
  EXPECT_EQ(hub_.SubscriberCount("news"), 1u);
  EXPECT_EQ(hub_.ChannelCounts(), (ChannelList{{"news", 1}}));
}

TEST_F(HubTest, UnsubscribeStopsDelivery) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  hub_.Unsubscribe(ha, "news");
  EXPECT_EQ(Publish("news", "t", "b", "").delivered, 1u);
  EXPECT_TRUE(a.frames().empty());
  EXPECT_EQ(b.frames().size(), 1u);
  EXPECT_TRUE(hub_.Find(ha)->subscriptions.empty());
}

TEST_F(HubTest, EmptyChannelsDisappear) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  hub_.Subscribe(ha, "alerts");
  EXPECT_EQ(hub_.ChannelCounts(), (ChannelList{{"alerts", 1}, {"news", 2}}));
  hub_.Unsubscribe(ha, "alerts");
  EXPECT_EQ(hub_.ChannelCounts(), (ChannelList{{"news", 2}}));
  hub_.Unsubscribe(ha, "news");
  hub_.Unsubscribe(hb, "news");
  EXPECT_TRUE(hub_.ChannelCounts().empty());
  EXPECT_EQ(hub_.stats().channels, 0u);
}

TEST_F(HubTest, ChannelCountsAreSortedByName) {
  FakeSubscriber a;
  const ClientHandle ha = hub_.Connect(&a).handle;
  hub_.Subscribe(ha, "c");
  hub_.Subscribe(ha, "a");
  hub_.Subscribe(ha, "b");
  EXPECT_EQ(hub_.ChannelCounts(), (ChannelList{{"a", 1}, {"b", 1}, {"c", 1}}));
}

// --- Publish --------------------------------------------------------------------

TEST_F(HubTest, PublishDeliversOnlyToSubscribersExactlyOnce) {
  FakeSubscriber a, b, outsider;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  const ClientHandle ho = hub_.Connect(&outsider).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  hub_.Subscribe(ho, "other");
  PublishOutcome result = Publish("news", "Hello", "World", "");
  EXPECT_EQ(result.delivered, 2u);
  EXPECT_EQ(a.frames().size(), 1u);
  EXPECT_EQ(b.frames().size(), 1u);
  EXPECT_TRUE(outsider.frames().empty());
}

TEST_F(HubTest, PublishEncodesOnceAndSharesTheFrame) {
  FakeSubscriber subs[3];
  for (FakeSubscriber& s : subs) hub_.Subscribe(hub_.Connect(&s).handle, "news");
  PublishOutcome result = Publish("news", "Hello", "World", "");
  EXPECT_EQ(encoder_.calls(), 1);
  ASSERT_EQ(subs[0].frames().size(), 1u);
  ASSERT_EQ(subs[1].frames().size(), 1u);
  ASSERT_EQ(subs[2].frames().size(), 1u);
  EXPECT_EQ(subs[0].frames()[0].get(), subs[1].frames()[0].get());
  EXPECT_EQ(subs[0].frames()[0].get(), subs[2].frames()[0].get());
  EXPECT_EQ(subs[0].frames()[0]->text, "news|" + result.id + "|Hello");
}

TEST_F(HubTest, PublishPassesTheFieldsToTheEncoder) {
  FakeSubscriber a;
  hub_.Subscribe(hub_.Connect(&a).handle, "news");
  clock_.SetWallMillis(1700000000123);
  PublishOutcome result = Publish("news", "Title", "Body", R"({"k":1})");
  const Notification& n = encoder_.last();
  EXPECT_EQ(n.channel, "news");
  EXPECT_EQ(n.id, result.id);
  EXPECT_EQ(n.timestamp_ms, 1700000000123);
  EXPECT_EQ(n.title, "Title");
  EXPECT_EQ(n.body, "Body");
  EXPECT_EQ(n.data_json, R"({"k":1})");
}

TEST_F(HubTest, PublishTimestampFollowsTheClock) {
  FakeSubscriber a;
  hub_.Subscribe(hub_.Connect(&a).handle, "news");
  Publish("news", "t", "b", "");
  const int64_t first = encoder_.last().timestamp_ms;
  clock_.Advance(1500);
  Publish("news", "t", "b", "");
  EXPECT_EQ(encoder_.last().timestamp_ms, first + 1500);
}

TEST_F(HubTest, PublishPreservesOrderPerSubscriber) {
  FakeSubscriber a, b;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    const std::string title = "n" + std::to_string(i);
    const PublishOutcome r = Publish("news", title, "", "");
    expected.push_back("news|" + r.id + "|" + title);
  }
  EXPECT_EQ(a.texts(), expected);
  EXPECT_EQ(b.texts(), expected);
}

TEST_F(HubTest, PublishDeliversInSubscriptionOrder) {
  std::vector<std::string> log;
  LoggingSubscriber a("a", &log), b("b", &log), c("c", &log);
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  const ClientHandle hc = hub_.Connect(&c).handle;
  hub_.Subscribe(hc, "news");
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  Publish("news", "t", "", "");
  EXPECT_EQ(log, (std::vector<std::string>{"c", "a", "b"}));
}

TEST_F(HubTest, LeavingKeepsTheOthersInOrder) {
  std::vector<std::string> log;
  LoggingSubscriber a("a", &log), b("b", &log), c("c", &log), d("d", &log), e("e", &log);
  std::vector<ClientHandle> h;
  for (LoggingSubscriber* s : {&a, &b, &c, &d, &e}) {
    h.push_back(hub_.Connect(s).handle);
    hub_.Subscribe(h.back(), "news");
  }
  hub_.Unsubscribe(h[1], "news");  // b
  Publish("news", "t", "", "");
  EXPECT_EQ(log, (std::vector<std::string>{"a", "c", "d", "e"}));
  log.clear();
  hub_.Disconnect(h[0]);  // a
  Publish("news", "t", "", "");
  EXPECT_EQ(log, (std::vector<std::string>{"c", "d", "e"}));
}

TEST_F(HubTest, PublishWithoutSubscribersOrHistorySkipsEncode) {
  Broker::Options no_history;
  no_history.size = 0;
  broker_.Configure(no_history);
  FakeSubscriber a;
  hub_.Subscribe(hub_.Connect(&a).handle, "other");
  PublishOutcome result = Publish("empty", "t", "b", "");
  EXPECT_EQ(result.delivered, 0u);
  EXPECT_FALSE(result.id.empty());
  EXPECT_EQ(encoder_.calls(), 0);
  EXPECT_TRUE(a.frames().empty());
  EXPECT_TRUE(hub_.ChannelCounts() == (ChannelList{{"other", 1}}));
}

TEST_F(HubTest, NotificationIdsAreUnique) {
  FakeSubscriber a;
  hub_.Subscribe(hub_.Connect(&a).handle, "news");
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(Publish(i % 2 ? "news" : "x", "t", "", "").id);
  EXPECT_EQ(ids.size(), 100u);
}

TEST(HubIdsTest, SameSeedGivesSameClientIds) {
  FakeClock clock;
  Hub first(clock, IdSource(7));
  Hub second(clock, IdSource(7));
  FakeSubscriber a, b;
  EXPECT_EQ(first.Connect(&a).id, second.Connect(&b).id);
}

// --- Stats ----------------------------------------------------------------------

TEST_F(HubTest, StatsStartAtZero) {
  const HubStats s = hub_.stats();
  EXPECT_EQ(s.connections, 0u);
  EXPECT_EQ(s.channels, 0u);
  EXPECT_EQ(s.connections_total, 0u);
  EXPECT_EQ(s.published_total, 0u);
  EXPECT_EQ(s.delivered_total, 0u);
}

TEST_F(HubTest, StatsCountConnectionsChannelsAndTraffic) {
  FakeSubscriber a, b, c;
  const ClientHandle ha = hub_.Connect(&a).handle;
  const ClientHandle hb = hub_.Connect(&b).handle;
  const ClientHandle hc = hub_.Connect(&c).handle;
  hub_.Subscribe(ha, "news");
  hub_.Subscribe(hb, "news");
  hub_.Subscribe(hc, "alerts");
  hub_.Disconnect(hc);
  Publish("news", "t", "", "");    // 2 deliveries
  Publish("news", "t", "", "");    // 2 deliveries
  Publish("nobody", "t", "", "");  // 0 deliveries
  const HubStats s = hub_.stats();
  EXPECT_EQ(s.connections, 2u);
  EXPECT_EQ(s.channels, 1u);
  EXPECT_EQ(s.connections_total, 3u);
  EXPECT_EQ(s.published_total, 3u);
  EXPECT_EQ(s.delivered_total, 4u);
}

TEST_F(HubTest, DeliveredCountsOnlySubscribersThatQueuedTheFrame) {
  FakeSubscriber open, closing;
  closing.set_accepting(false);
  hub_.Subscribe(hub_.Connect(&open).handle, "news");
  hub_.Subscribe(hub_.Connect(&closing).handle, "news");
  const PublishOutcome result = Publish("news", "t", "", "");
  EXPECT_EQ(result.delivered, 1u);
  EXPECT_EQ(hub_.stats().delivered_total, 1u);
  // The hub still offered the frame to both: a refusal is the subscriber's call.
  EXPECT_EQ(open.frames().size(), 1u);
  EXPECT_EQ(closing.frames().size(), 1u);
}

TEST_F(HubTest, NothingDeliveredWhenEverySubscriberRefuses) {
  FakeSubscriber a, b;
  a.set_accepting(false);
  b.set_accepting(false);
  hub_.Subscribe(hub_.Connect(&a).handle, "news");
  hub_.Subscribe(hub_.Connect(&b).handle, "news");
  EXPECT_EQ(Publish("news", "t", "", "").delivered, 0u);
  const HubStats s = hub_.stats();
  EXPECT_EQ(s.published_total, 1u);
  EXPECT_EQ(s.delivered_total, 0u);
}

TEST_F(HubTest, ARefusingSubscriberCountsAgainOnceItAccepts) {
  FakeSubscriber a;
  hub_.Subscribe(hub_.Connect(&a).handle, "news");
  a.set_accepting(false);
  EXPECT_EQ(Publish("news", "t", "", "").delivered, 0u);
  a.set_accepting(true);
  EXPECT_EQ(Publish("news", "t", "", "").delivered, 1u);
  EXPECT_EQ(hub_.stats().delivered_total, 1u);
}

}  // namespace
}  // namespace notifyd::core
