// SessionApi without a socket: each message of a /ws session goes in as the
// transport hands it over, and the reply text comes out, with the hub, the
// clock and the subscriber played by the fakes.
#include "http/session_api.h"

#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/counters.h"
#include "core/broker.h"
#include "core/hub.h"
#include "support/fakes.h"
#include "support/json_helpers.h"

namespace notifyd::http {
namespace {

using testing_support::FakeClock;
using testing_support::FakeEncoder;
using testing_support::FakeSubscriber;
using testing_support::json::Keys;
using testing_support::json::ParseJsonText;
using testing_support::json::SizeAt;
using testing_support::json::Sorted;
using testing_support::json::StrAt;
using testing_support::json::UintAt;

class SessionApiTest : public ::testing::Test {
 protected:
  SessionApiTest() { Configure(3, 8); }

  void Configure(uint32_t max_subscriptions, uint32_t max_name_bytes) {
    config::Config config;
    config.max_subscriptions_per_client = max_subscriptions;
    config.max_name_bytes = max_name_bytes;
    api_.Configure(config);
  }

  // The reply to a text message of the test's session; "" (and a failure) when none.
  std::string Send(const std::string& message, core::ClientHandle handle = 0) {
    SessionApi::Reply reply = api_.HandleMessage(handle == 0 ? handle_ : handle, true, message);
    replay_ = std::move(reply.replay);
    if (!reply.text) {
      ADD_FAILURE() << "no reply to " << message;
      return "";
    }
    return *reply.text;
  }

  // Expects an error reply with `code` whose text starts with `prefix`.
  void ExpectError(const std::string& reply, const char* code, const std::string& prefix) {
    const auto doc = ParseJsonText(reply);
    EXPECT_EQ(StrAt(doc, "/type"), "error") << reply;
    EXPECT_EQ(StrAt(doc, "/code"), code) << reply;
    EXPECT_EQ(StrAt(doc, "/error").substr(0, prefix.size()), prefix) << reply;
  }

  // Publishes through the broker, as the daemon does; returns its outcome.
  core::PublishOutcome Publish(const std::string& channel, std::string title = "t") {
    return *broker_.Publish(channel, {std::move(title), "", ""}, "",
                            [] { return core::PublishDone(); });
  }

  FakeClock clock_;
  FakeEncoder encoder_;
  core::Hub hub_{clock_, core::IdSource(9)};
  core::Broker broker_{hub_, clock_, encoder_, core::IdSource(11)};
  core::Counters counters_;
  SessionApi api_{hub_, broker_, clock_, counters_};
  std::vector<core::FramePtr> replay_;  ///< The last Send's replay.
  FakeSubscriber subscriber_;
  const core::ClientHandle handle_ = hub_.Connect(&subscriber_).handle;
};

// --- every request type ------------------------------------------------------------

TEST_F(SessionApiTest, SubscribeRepliesWithTheCountAndSubscribes) {
  FakeSubscriber other;
  hub_.Subscribe(hub_.Connect(&other).handle, "news");
  const auto doc = ParseJsonText(Send(R"({"type":"subscribe","channel":"news"})"));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channel", "subscriberCount", "epoch", "seq"}));
  EXPECT_EQ(StrAt(doc, "/type"), "subscribed");
  EXPECT_EQ(UintAt(doc, "/subscriberCount"), 2u);
  EXPECT_EQ(UintAt(doc, "/seq"), 0u);
  EXPECT_EQ(hub_.Find(handle_)->subscriptions, std::vector<std::string>{"news"});
  EXPECT_EQ(Publish("news").delivered, 2u);
  EXPECT_EQ(subscriber_.frames().size(), 1u);
}

TEST_F(SessionApiTest, SubscribingTwiceIsHarmless) {
  Send(R"({"type":"subscribe","channel":"news"})");
  EXPECT_EQ(UintAt(ParseJsonText(Send(R"({"type":"subscribe","channel":"news"})")),
                   "/subscriberCount"),
            1u);
  EXPECT_EQ(hub_.SubscriberCount("news"), 1u);
}

TEST_F(SessionApiTest, UnsubscribeRepliesAlsoWhenNotSubscribed) {
  Send(R"({"type":"subscribe","channel":"news"})");
  EXPECT_EQ(Send(R"({"type":"unsubscribe","channel":"news"})"),
            R"({"type":"unsubscribed","channel":"news"})");
  EXPECT_EQ(hub_.SubscriberCount("news"), 0u);
  EXPECT_EQ(Send(R"({"type":"unsubscribe","channel":"never"})"),
            R"({"type":"unsubscribed","channel":"never"})");
}

TEST_F(SessionApiTest, SetNameNamesTheClient) {
  EXPECT_EQ(Send(R"({"type":"set_name","name":"kitchen"})"),
            R"({"type":"name_set","name":"kitchen"})");
  EXPECT_EQ(hub_.Find(handle_)->name, "kitchen");
}

TEST_F(SessionApiTest, ListSubscriptionsInSubscriptionOrder) {
  EXPECT_EQ(Send(R"({"type":"list_subscriptions"})"), R"({"type":"subscriptions","channels":[]})");
  Send(R"({"type":"subscribe","channel":"b"})");
  Send(R"({"type":"subscribe","channel":"a"})");
  EXPECT_EQ(Send(R"({"type":"list_subscriptions"})"),
            R"({"type":"subscriptions","channels":["b","a"]})");
}

TEST_F(SessionApiTest, ListSubscriptionsOfAnUnknownHandleIsEmpty) {
  EXPECT_EQ(Send(R"({"type":"list_subscriptions"})", handle_ + 100),
            R"({"type":"subscriptions","channels":[]})");
}

TEST_F(SessionApiTest, PingGetsPongWithTheWallClock) {
  clock_.SetWallMillis(1234567);
  EXPECT_EQ(Send(R"({"type":"ping"})"), R"({"type":"pong","timestamp":1234567})");
}

TEST_F(SessionApiTest, PongGetsNoReply) {
  EXPECT_EQ(api_.HandleMessage(handle_, true, R"({"type":"pong"})").text, std::nullopt);
  EXPECT_EQ(api_.HandleMessage(handle_, true, R"({"type":"pong","id":1})").text, std::nullopt);
  EXPECT_EQ(counters_.protocol_errors, 0u);
}

// --- errors and their counters ----------------------------------------------------------

TEST_F(SessionApiTest, BinaryMessageGetsTheBinaryFrameError) {
  std::optional<std::string> reply = api_.HandleMessage(handle_, false, R"({"type":"ping"})").text;
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, protocol::EncodeError(protocol::BinaryFrameError()));
  ExpectError(*reply, "invalid_message", "Invalid message format: binary frames");
  EXPECT_EQ(counters_.protocol_errors, 0u);
}

TEST_F(SessionApiTest, ProtocolErrorsAreRepliedAndCounted) {
  ExpectError(Send("not json"), "invalid_json", "Invalid message format");
  ExpectError(Send("[1]"), "invalid_message", "Invalid message format");
  ExpectError(Send(R"({"type":"dance"})"), "unknown_type", "Unknown message type: dance");
  ExpectError(Send(R"({"type":"subscribe"})"), "channel_required", "Channel name required");
  ExpectError(Send(R"({"type":"set_name","name":""})"), "name_required", "Name required");
  EXPECT_EQ(counters_.protocol_errors, 5u);
  EXPECT_EQ(counters_.invalid_channels, 0u);
}

TEST_F(SessionApiTest, InvalidChannelCountsTwice) {
  ExpectError(Send(R"({"type":"subscribe","channel":"a b"})"), "invalid_channel",
              "Invalid channel name");
  ExpectError(Send(R"({"type":"unsubscribe","channel":"x/y"})"), "invalid_channel",
              "Invalid channel name");
  EXPECT_EQ(counters_.protocol_errors, 2u);
  EXPECT_EQ(counters_.invalid_channels, 2u);
  EXPECT_TRUE(hub_.Find(handle_)->subscriptions.empty());
}

// --- limits ------------------------------------------------------------------------------

TEST_F(SessionApiTest, SubscriptionLimitIsRefusedAndCounted) {
  for (const char* channel : {"a", "b", "c"}) {
    Send(std::string(R"({"type":"subscribe","channel":")") + channel + "\"}");
  }
  const std::string reply = Send(R"({"type":"subscribe","channel":"d","id":4})");
  ExpectError(reply, "limit_exceeded", "Subscription limit reached: at most 3 channels per client");
  EXPECT_EQ(UintAt(ParseJsonText(reply), "/id"), 4u);
  EXPECT_EQ(counters_.subscriptions_over_limit, 1u);
  EXPECT_EQ(counters_.protocol_errors, 0u);
  EXPECT_EQ(hub_.SubscriberCount("d"), 0u);
}

TEST_F(SessionApiTest, ConfigureAppliesTheNewLimitsToTheNextMessage) {
  Configure(1, 2);
  Send(R"({"type":"subscribe","channel":"a"})");
  ExpectError(Send(R"({"type":"subscribe","channel":"b"})"), "limit_exceeded",
              "Subscription limit reached: at most 1 channels per client");
  ExpectError(Send(R"({"type":"set_name","name":"abc"})"), "limit_exceeded",
              "Name too long: at most 2 bytes");
  Configure(5, 3);
  EXPECT_EQ(StrAt(ParseJsonText(Send(R"({"type":"subscribe","channel":"b"})")), "/type"),
            "subscribed");
  EXPECT_EQ(Send(R"({"type":"set_name","name":"abc"})"), R"({"type":"name_set","name":"abc"})");
}

TEST_F(SessionApiTest, NameLimitCountsBytesAndKeepsTheOldName) {
  EXPECT_EQ(Send(R"({"type":"set_name","name":"12345678"})"),
            R"({"type":"name_set","name":"12345678"})");
  // Five two-byte characters are 10 bytes, over the limit of 8.
  const std::string reply = Send(R"({"type":"set_name","name":"ééééé","id":"n"})");
  ExpectError(reply, "limit_exceeded", "Name too long: at most 8 bytes");
  EXPECT_EQ(StrAt(ParseJsonText(reply), "/id"), "n");
  EXPECT_EQ(counters_.names_too_long, 1u);
  EXPECT_EQ(hub_.Find(handle_)->name, "12345678");
}

// --- id echo -----------------------------------------------------------------------------

TEST_F(SessionApiTest, EveryReplyEchoesTheIdAsSent) {
  const std::string id = "123456789012345678901234567890";
  const auto with_id = [&](std::string request) { return request + R"(,"id":)" + id + "}"; };
  for (const std::string& reply : {
           Send(with_id(R"({"type":"subscribe","channel":"news")")),
           Send(with_id(R"({"type":"unsubscribe","channel":"news")")),
           Send(with_id(R"({"type":"set_name","name":"x")")),
           Send(with_id(R"({"type":"list_subscriptions")")),
           Send(with_id(R"({"type":"ping")")),
           Send(with_id(R"({"type":"dance")")),
           Send(with_id(R"({"type":"set_name","name":"much too long")")),
       }) {
    EXPECT_NE(reply.find(R"("id":)" + id + "}"), std::string::npos) << reply;
  }
}

TEST_F(SessionApiTest, AwkwardNumberIdsComeBackByteForByte) {
  for (const char* id : {"-0", "1e400", "1.50", "1E+2", "-1e-400"}) {
    const std::string reply = Send(std::string(R"({"type":"ping","id":)") + id + "}");
    EXPECT_EQ(reply, R"({"type":"pong","timestamp":)" +
                         std::to_string(FakeClock::kDefaultWallMillis) + R"(,"id":)" + id + "}");
  }
}

TEST_F(SessionApiTest, StringIdIsEchoedAsAString) {
  const auto doc = ParseJsonText(Send(R"({"type":"list_subscriptions","id":"q\"1"})"));
  EXPECT_EQ(Keys(doc), Sorted({"type", "channels", "id"}));
  EXPECT_EQ(StrAt(doc, "/id"), "q\"1");
  EXPECT_EQ(SizeAt(doc, "/channels"), 0u);
}

// --- log lines ---------------------------------------------------------------------------

// Captures what spdlog writes at debug level while it lives.
class CapturedLog {
 public:
  CapturedLog()
      : old_(spdlog::default_logger()),
        logger_(std::make_shared<spdlog::logger>(
            "captured", std::make_shared<spdlog::sinks::ostream_sink_st>(out_))) {
    logger_->set_level(spdlog::level::debug);
    logger_->set_pattern("%v");
    spdlog::set_default_logger(logger_);
  }
  ~CapturedLog() { spdlog::set_default_logger(old_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> old_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(SessionApiTest, AMessageTypeWithANewlineCannotForgeALogLine) {
  CapturedLog log;
  Send("{\"type\":\"x\\n[error] forged\\u001b[2K\"}");
  const std::string text = log.text();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;  // one line
  EXPECT_EQ(text.find('\x1B'), std::string::npos) << text;
  EXPECT_NE(text.find("x\\n[error] forged\\x1B[2K"), std::string::npos) << text;
  EXPECT_NE(text.find(hub_.Find(handle_)->id), std::string::npos) << text;
}

TEST_F(SessionApiTest, SubscribeIsLoggedWithTheClientId) {
  CapturedLog log;
  Send(R"({"type":"subscribe","channel":"news"})");
  EXPECT_EQ(log.text(), "client " + hub_.Find(handle_)->id + " subscribed to news\n");
}

}  // namespace
}  // namespace notifyd::http

namespace notifyd::http {
namespace {

// --- resume (PROTOCOL.md Part 2) ---------------------------------------------------

TEST_F(SessionApiTest, SubscribeWithSinceReplaysTheMissedAfterTheReply) {
  FakeSubscriber other;
  hub_.Subscribe(hub_.Connect(&other).handle, "news");
  const std::string epoch = Publish("news").epoch;
  Publish("news");
  Publish("news");
  const auto doc = ParseJsonText(Send(
      R"({"type":"subscribe","channel":"news","since":{"epoch":")" + epoch + R"(","seq":1}})"));
  EXPECT_EQ(StrAt(doc, "/epoch"), epoch);
  EXPECT_EQ(UintAt(doc, "/seq"), 3u);
  EXPECT_TRUE(testing_support::json::BoolAt(doc, "/recovered"));
  EXPECT_EQ(UintAt(doc, "/missed"), 2u);
  ASSERT_EQ(replay_.size(), 2u);
  EXPECT_EQ(replay_[0]->seq, 2u);
  EXPECT_EQ(replay_[1]->seq, 3u);
  EXPECT_EQ(hub_.SubscriberCount("news"), 2u) << "subscribed before the replay";
}

TEST_F(SessionApiTest, SubscribeFromAnUnknownEpochIsNotRecovered) {
  Publish("news");
  const auto doc = ParseJsonText(
      Send(R"({"type":"subscribe","channel":"news","since":{"epoch":"ZyXwVuTs9876","seq":1}})"));
  EXPECT_FALSE(testing_support::json::BoolAt(doc, "/recovered"));
  EXPECT_EQ(UintAt(doc, "/missed"), 0u);
  EXPECT_TRUE(replay_.empty());
  EXPECT_EQ(hub_.SubscriberCount("news"), 1u) << "subscribed either way";
}

TEST_F(SessionApiTest, MalformedSinceIsInvalidSince) {
  for (const char* since : {R"("E:1")", R"({"seq":1})", R"({"epoch":"AbCdEfGh1234"})",
                            R"({"epoch":1,"seq":1})", R"({"epoch":"AbCdEfGh1234","seq":-1})",
                            R"({"epoch":"AbCdEfGh1234","seq":1.5})",
                            R"({"epoch":"AbCdEfGh1234","seq":"1"})", "[]", "true"}) {
    const std::string reply =
        Send(std::string(R"({"type":"subscribe","channel":"news","id":7,"since":)") + since +
             "}");
    ExpectError(reply, "invalid_since", "Invalid since");
    EXPECT_EQ(UintAt(ParseJsonText(reply), "/id"), 7u) << since;
  }
  EXPECT_EQ(hub_.SubscriberCount("news"), 0u);
}

}  // namespace
}  // namespace notifyd::http
