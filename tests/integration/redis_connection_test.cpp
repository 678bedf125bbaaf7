// The Redis connections (cluster/redis_connection.h) against a real
// redis-server that each test starts on a free loopback port, driven by a
// real event loop: replies of every type, scripts after a SCRIPT FLUSH,
// subscriptions in batches, and what happens when Redis is killed, restarted,
// asleep, or drops the subscriber. Every wait runs the loop until a condition
// holds, with a deadline. Skipped when redis-server is not installed.
#include "cluster/redis_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "support/redis_server.h"

namespace notifyd::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Type = RedisReply::Type;
using testing_support::FindRedisServer;
using testing_support::FreePort;
using testing_support::RedisServer;

// What a connection reported, for the assertions.
struct Recorder {
  int ups = 0;
  int downs = 0;
  std::vector<std::string> reasons;
  std::vector<std::string> subscribed;
  std::vector<std::pair<std::string, std::string>> messages;

  CommandEvents ForCommands() {
    return {[this] { ++ups; }, [this](const std::string& why) { Down(why); }};
  }
  PubSubEvents ForPubSub() {
    PubSubEvents events;
    events.on_up = [this] { ++ups; };
    events.on_down = [this](const std::string& why) { Down(why); };
    events.on_subscribed = [this](const std::string& channel) { subscribed.push_back(channel); };
    events.on_message = [this](const std::string& channel, const std::string& message) {
      messages.emplace_back(channel, message);
    };
    return events;
  }
  void Down(const std::string& why) {
    ++downs;
    reasons.push_back(why);
  }
};

// One command's outcome; shared with its callback, which may outlive a test
// that gave up waiting.
struct Outcome {
  int calls = 0;
  RedisFailure failure = RedisFailure::kNone;
  RedisReply reply;
  Clock::time_point at;
};

CommandDone Into(const std::shared_ptr<Outcome>& outcome) {
  return [outcome](RedisFailure failure, const RedisReply& reply) {
    ++outcome->calls;
    outcome->failure = failure;
    outcome->reply = reply;
    outcome->at = Clock::now();
  };
}

// Counts the loop's turns of a 10 ms timer and the longest gap between two:
// a loop blocked anywhere shows up as a long gap.
class Ticker {
 public:
  explicit Ticker(asio::io_context& io) : timer_(io) { Tick(); }
  void ResetGap() {
    longest_ = {};
    last_ = Clock::now();
  }
  Clock::duration longest() const { return longest_; }
  int ticks() const { return ticks_; }

 private:
  void Tick() {
    timer_.expires_after(10ms);
    timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      const auto now = Clock::now();
      longest_ = std::max(longest_, now - last_);
      last_ = now;
      ++ticks_;
      Tick();
    });
  }

  asio::steady_timer timer_;
  Clock::time_point last_ = Clock::now();
  Clock::duration longest_{};
  int ticks_ = 0;
};

long long Milliseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string binary = FindRedisServer();
    if (binary.empty()) GTEST_SKIP() << "redis-server is not installed";
    char dir[] = "/tmp/notifyd-redis-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    server_ = std::make_unique<RedisServer>(binary, dir_);
    std::string error;
    const uint16_t port = FreePort();
    ASSERT_NE(port, 0);
    ASSERT_TRUE(server_->Start(port, &error)) << error;
  }

  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  RedisOptions Options() const {
    RedisOptions options;
    options.endpoint.host = "127.0.0.1";
    options.endpoint.port = server_->port();
    options.backoff_min = 50ms;
    options.backoff_max = 200ms;
    return options;
  }

  /// Runs the loop until `done` holds or `timeout` passes; whether it held.
  bool RunUntil(const std::function<bool()>& done, Clock::duration timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  /// Sends `argv` and waits (up to 5 s) for its reply.
  std::shared_ptr<Outcome> Run(RedisCommandConnection& redis, std::vector<std::string> argv) {
    auto outcome = std::make_shared<Outcome>();
    redis.Command(std::move(argv), Into(outcome));
    EXPECT_EQ(outcome->calls, 0) << "called back from inside Command";
    EXPECT_TRUE(RunUntil([&] { return outcome->calls > 0; }));
    return outcome;
  }

  std::shared_ptr<Outcome> Eval(RedisCommandConnection& redis, const RedisScript& script,
                                std::vector<std::string> keys, std::vector<std::string> args) {
    auto outcome = std::make_shared<Outcome>();
    redis.Eval(script, std::move(keys), std::move(args), Into(outcome));
    EXPECT_TRUE(RunUntil([&] { return outcome->calls > 0; }));
    return outcome;
  }

  /// "calls=N" of one command in INFO commandstats, from the test's own connection.
  long long Calls(const std::string& command) {
    const std::string stats = server_->Control({"INFO", "commandstats"});
    const std::string key = "cmdstat_" + command + ":calls=";
    const size_t at = stats.find(key);
    return at == std::string::npos ? 0 : std::atoll(stats.c_str() + at + key.size());
  }

  /// A command connection and a subscriber (with `pubsub_options`), both up.
  /// The recorders come first, so that they outlive the connections.
  struct Both {
    Recorder command_events;
    Recorder events;
    std::unique_ptr<RedisCommandConnection> redis;
    std::unique_ptr<RedisPubSubConnection> pubsub;
  };
  std::unique_ptr<Both> StartBoth(const RedisOptions& pubsub_options) {
    auto both = std::make_unique<Both>();
    both->redis = std::make_unique<RedisCommandConnection>(io_, Options(),
                                                           both->command_events.ForCommands());
    both->pubsub =
        std::make_unique<RedisPubSubConnection>(io_, pubsub_options, both->events.ForPubSub());
    both->redis->Start();
    both->pubsub->Start();
    EXPECT_TRUE(RunUntil([&] { return both->redis->up() && both->pubsub->up(); }));
    return both;
  }

  /// Subscribes and waits for every channel's acknowledgement.
  bool SubscribeAll(Both& both, const std::vector<std::string>& channels) {
    const size_t expected = both.events.subscribed.size() + channels.size();
    both.pubsub->Subscribe(channels);
    return RunUntil([&] { return both.events.subscribed.size() == expected; });
  }

  /// Waits until Redis has `count` clients blocked in a command.
  bool Blocked(int count) {
    const std::string needle = "blocked_clients:" + std::to_string(count) + "\r";
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (server_->Control({"INFO", "clients"}).find(needle) != std::string::npos) return true;
      io_.run_for(10ms);
    }
    return false;
  }

  asio::io_context io_;
  // Keeps run_for waiting its full slice when nothing is queued.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::string dir_;
  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisConnectionTest, RepliesOfEveryType) {
  Recorder events;
  RedisCommandConnection redis(io_, Options(), events.ForCommands());
  EXPECT_FALSE(redis.up());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
  EXPECT_EQ(events.ups, 1);

  auto set = Run(redis, {"SET", "k", "v"});
  EXPECT_EQ(set->failure, RedisFailure::kNone);
  EXPECT_EQ(set->reply.type, Type::kStatus);
  EXPECT_EQ(set->reply.str, "OK");

  auto get = Run(redis, {"GET", "k"});
  EXPECT_EQ(get->reply.type, Type::kString);
  EXPECT_EQ(get->reply.str, "v");

  EXPECT_EQ(Run(redis, {"GET", "missing"})->reply.type, Type::kNil);

  auto incr = Run(redis, {"INCRBY", "n", "-5000000000"});
  EXPECT_EQ(incr->reply.type, Type::kInteger);
  EXPECT_EQ(incr->reply.integer, -5000000000LL);

  auto error = Run(redis, {"INCR", "k"});
  EXPECT_EQ(error->failure, RedisFailure::kNone);
  EXPECT_EQ(error->reply.type, Type::kError);
  EXPECT_EQ(error->reply.str.rfind("ERR value is not an integer", 0), 0u) << error->reply.str;

  Run(redis, {"RPUSH", "list", "a", "", "c"});
  auto range = Run(redis, {"LRANGE", "list", "0", "-1"});
  ASSERT_EQ(range->reply.type, Type::kArray);
  ASSERT_EQ(range->reply.elements.size(), 3u);
  EXPECT_EQ(range->reply.elements[1].type, Type::kString);
  EXPECT_EQ(range->reply.elements[1].str, "");
  EXPECT_EQ(range->reply.elements[2].str, "c");

  // Nested arrays with every type inside, from a script.
  auto nested = Run(redis, {"EVAL",
                            "return {1, {'a', {2, false}}, redis.status_reply('fine'), "
                            "redis.error_reply('bad')}",
                            "0"});
  ASSERT_EQ(nested->reply.type, Type::kArray);
  ASSERT_EQ(nested->reply.elements.size(), 4u);
  EXPECT_EQ(nested->reply.elements[0].integer, 1);
  const RedisReply& inner = nested->reply.elements[1];
  ASSERT_EQ(inner.type, Type::kArray);
  EXPECT_EQ(inner.elements[0].str, "a");
  ASSERT_EQ(inner.elements[1].type, Type::kArray);
  EXPECT_EQ(inner.elements[1].elements[0].integer, 2);
  EXPECT_EQ(inner.elements[1].elements[1].type, Type::kNil);
  EXPECT_EQ(nested->reply.elements[2].type, Type::kStatus);
  EXPECT_EQ(nested->reply.elements[2].str, "fine");
  EXPECT_EQ(nested->reply.elements[3].type, Type::kError);
  EXPECT_EQ(nested->reply.elements[3].str, "ERR bad");  // Redis adds the code

  // Binary-safe both ways: every byte value, NUL and CRLF included.
  std::string key = std::string("bin\0\r\nkey", 9);
  std::string value;
  for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
  Run(redis, {"SET", key, value});
  EXPECT_EQ(Run(redis, {"GET", key})->reply.str, value);

  EXPECT_EQ(events.downs, 0);
}

TEST_F(RedisConnectionTest, PipelinedRepliesComeInOrder) {
  Recorder events;
  RedisCommandConnection redis(io_, Options(), events.ForCommands());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
  std::vector<long long> seen;
  for (int i = 0; i < 2000; ++i) {
    redis.Command({"INCR", "counter"}, [&](RedisFailure failure, const RedisReply& reply) {
      EXPECT_EQ(failure, RedisFailure::kNone);
      seen.push_back(reply.integer);
    });
  }
  ASSERT_TRUE(RunUntil([&] { return seen.size() == 2000; }));
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], static_cast<long long>(i + 1));
}

TEST_F(RedisConnectionTest, RefusesCommandsThatWouldChangeTheConnection) {
  Recorder events;
  RedisCommandConnection redis(io_, Options(), events.ForCommands());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
  auto subscribe = Run(redis, {"subscribe", "news"});
  EXPECT_EQ(subscribe->failure, RedisFailure::kNone);
  EXPECT_EQ(subscribe->reply.type, Type::kError);
  EXPECT_EQ(subscribe->reply.str, "ERR subscribe is not for the command connection");
  EXPECT_EQ(Run(redis, {})->reply.str, "ERR empty command");
  // Still a plain command connection.
  EXPECT_EQ(Run(redis, {"PING"})->reply.str, "PONG");
}

TEST_F(RedisConnectionTest, EvalFallsBackToEvalWithoutTheScript) {
  Recorder events;
  RedisCommandConnection redis(io_, Options(), events.ForCommands());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
  const RedisScript script("return {KEYS[1], ARGV[1], ARGV[2]}");
  EXPECT_EQ(server_->Control({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(server_->Control({"CONFIG", "RESETSTAT"}), "OK");

  auto expect_result = [](const std::shared_ptr<Outcome>& outcome) {
    EXPECT_EQ(outcome->failure, RedisFailure::kNone);
    ASSERT_EQ(outcome->reply.type, Type::kArray) << outcome->reply.str;
    ASSERT_EQ(outcome->reply.elements.size(), 3u);
    EXPECT_EQ(outcome->reply.elements[0].str, "key");
    EXPECT_EQ(outcome->reply.elements[1].str, "one");
    EXPECT_EQ(outcome->reply.elements[2].str, "two");
  };
  expect_result(Eval(redis, script, {"key"}, {"one", "two"}));  // NOSCRIPT, then EVAL
  expect_result(Eval(redis, script, {"key"}, {"one", "two"}));  // cached by that EVAL
  EXPECT_EQ(server_->Control({"SCRIPT", "FLUSH"}), "OK");
  expect_result(Eval(redis, script, {"key"}, {"one", "two"}));  // NOSCRIPT again
  EXPECT_EQ(Calls("evalsha"), 3);
  EXPECT_EQ(Calls("eval"), 2);

  // A script's own error reaches the caller as it is, without another EVAL.
  const RedisScript failing("return redis.error_reply('NOSCRIPT is my own error')");
  EXPECT_EQ(Eval(redis, failing, {}, {})->reply.str, "NOSCRIPT is my own error");
  EXPECT_EQ(Calls("eval"), 3);
  EXPECT_EQ(Eval(redis, failing, {}, {})->reply.str, "NOSCRIPT is my own error");
  EXPECT_EQ(Calls("eval"), 3);
  EXPECT_EQ(Calls("evalsha"), 5);
}

TEST_F(RedisConnectionTest, SubscribePublishUnsubscribe) {
  auto both = StartBoth(Options());
  RedisCommandConnection& redis = *both->redis;
  RedisPubSubConnection& pubsub = *both->pubsub;
  Recorder& events = both->events;
  EXPECT_EQ(events.ups, 1);

  pubsub.Subscribe({"news"});
  EXPECT_TRUE(events.subscribed.empty());
  ASSERT_TRUE(RunUntil([&] { return events.subscribed.size() == 1; }));
  EXPECT_EQ(events.subscribed[0], "news");

  auto published = Run(redis, {"PUBLISH", "news", "hello"});
  EXPECT_EQ(published->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.messages.size() == 1; }));
  EXPECT_EQ(events.messages[0].first, "news");
  EXPECT_EQ(events.messages[0].second, "hello");

  // Redis may run a PUBLISH sent after the UNSUBSCRIBE (on another
  // connection) before it: ask until nobody gets one.
  pubsub.Unsubscribe({"news"});
  ASSERT_TRUE(RunUntil([&] {
    return Run(redis, {"PUBLISH", "news", "anyone?"})->reply.integer == 0;
  }));
  EXPECT_EQ(events.messages.size(), 1u);
  EXPECT_EQ(events.downs, 0);
}

TEST_F(RedisConnectionTest, SixHundredChannelsGoInTwoSubscribes) {
  auto both = StartBoth(Options());
  RedisCommandConnection& redis = *both->redis;
  Recorder& events = both->events;
  EXPECT_EQ(server_->Control({"CONFIG", "RESETSTAT"}), "OK");

  std::vector<std::string> channels;
  for (int i = 0; i < 600; ++i) channels.push_back("channel-" + std::to_string(i));
  ASSERT_TRUE(SubscribeAll(*both, channels));
  EXPECT_EQ(std::set<std::string>(events.subscribed.begin(), events.subscribed.end()),
            std::set<std::string>(channels.begin(), channels.end()));
  EXPECT_EQ(Calls("subscribe"), 2);  // 512 + 88

  EXPECT_EQ(Run(redis, {"PUBLISH", "channel-599", "last"})->reply.integer, 1);
  EXPECT_EQ(Run(redis, {"PUBLISH", "channel-0", "first"})->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.messages.size() == 2; }));
  EXPECT_EQ(events.messages[0], std::make_pair(std::string("channel-599"), std::string("last")));
  EXPECT_EQ(events.messages[1], std::make_pair(std::string("channel-0"), std::string("first")));
}

TEST_F(RedisConnectionTest, SubscriberKilledByRedisReconnects) {
  auto both = StartBoth(Options());
  RedisCommandConnection& redis = *both->redis;
  RedisPubSubConnection& pubsub = *both->pubsub;
  Recorder& events = both->events;
  ASSERT_TRUE(SubscribeAll(*both, {"a"}));

  auto killed = Run(redis, {"CLIENT", "KILL", "TYPE", "pubsub"});
  EXPECT_EQ(killed->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  EXPECT_FALSE(pubsub.up());
  EXPECT_EQ(events.reasons[0], "connection lost: server closed the connection");
  EXPECT_EQ(pubsub.last_error(), events.reasons[0]);
  ASSERT_TRUE(RunUntil([&] { return events.ups == 2; }));
  EXPECT_TRUE(pubsub.up());

  // The new connection subscribes from scratch (the caller's job on on_up).
  ASSERT_TRUE(SubscribeAll(*both, {"a"}));
  EXPECT_EQ(Run(redis, {"PUBLISH", "a", "after"})->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.messages.size() == 1; }));
  EXPECT_EQ(events.messages[0].second, "after");

  // The command connection never noticed.
  EXPECT_EQ(both->command_events.ups, 1);
  EXPECT_EQ(both->command_events.downs, 0);
  EXPECT_EQ(events.downs, 1);
}

TEST_F(RedisConnectionTest, ResetDropsAndReconnects) {
  Recorder events;
  RedisPubSubConnection pubsub(io_, Options(), events.ForPubSub());
  pubsub.Start();
  ASSERT_TRUE(RunUntil([&] { return pubsub.up(); }));
  pubsub.Reset("liveness probe lost");
  EXPECT_FALSE(pubsub.up());
  EXPECT_EQ(events.downs, 0);  // reported from the loop, not from inside Reset
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  EXPECT_EQ(events.reasons[0], "liveness probe lost");
  ASSERT_TRUE(RunUntil([&] { return events.ups == 2; }));
  pubsub.Subscribe({"x"});
  ASSERT_TRUE(RunUntil([&] { return events.subscribed.size() == 1; }));
}

TEST_F(RedisConnectionTest, RedisKilledAndRestarted) {
  Recorder events;
  RedisOptions options = Options();
  options.command_timeout = 10s;  // so that what fails is the connection, not a timeout
  RedisCommandConnection redis(io_, options, events.ForCommands());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));

  std::vector<std::shared_ptr<Outcome>> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.push_back(std::make_shared<Outcome>());
    redis.Command({"BLPOP", "never", "0"}, Into(waiting.back()));
  }
  ASSERT_TRUE(Blocked(1));

  const auto killed_at = Clock::now();
  server_->Kill();
  ASSERT_TRUE(RunUntil([&] {
    return std::all_of(waiting.begin(), waiting.end(), [](auto& o) { return o->calls > 0; });
  }));
  for (const auto& outcome : waiting) {
    EXPECT_EQ(outcome->calls, 1);
    EXPECT_EQ(outcome->failure, RedisFailure::kDisconnected);
    EXPECT_LT(Milliseconds(outcome->at - killed_at), 500);
  }
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  // A FIN or, with unread bytes, a reset.
  EXPECT_EQ(events.reasons[0].rfind("connection lost: ", 0), 0u) << events.reasons[0];
  EXPECT_FALSE(redis.up());

  // While it is down: refused at once (on the next turn), nothing sent.
  auto refused = Run(redis, {"PING"});
  EXPECT_EQ(refused->failure, RedisFailure::kNotConnected);
  // Let some reconnects fail: still one on_down for the one loss.
  ASSERT_TRUE(RunUntil([&] { return redis.last_error().find("refused") != std::string::npos; }));
  EXPECT_EQ(redis.last_error(), "cannot connect to 127.0.0.1:" + std::to_string(server_->port()) +
                                    ": connection refused");

  std::string error;
  ASSERT_TRUE(server_->Start(server_->port(), &error)) << error;
  ASSERT_TRUE(RunUntil([&] { return events.ups == 2; }, 10s));
  EXPECT_EQ(Run(redis, {"PING"})->reply.str, "PONG");
  EXPECT_EQ(events.downs, 1);
}

TEST_F(RedisConnectionTest, StuckRedisTimesOutWithoutBlockingTheLoop) {
  Recorder events;
  RedisOptions options = Options();
  options.command_timeout = 300ms;
  RedisCommandConnection redis(io_, options, events.ForCommands());
  Ticker ticker(io_);
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
  ticker.ResetGap();

  const auto sent_at = Clock::now();
  auto sleep = std::make_shared<Outcome>();
  auto behind = std::make_shared<Outcome>();
  redis.Command({"DEBUG", "SLEEP", "2"}, Into(sleep));
  redis.Command({"PING"}, Into(behind));
  ASSERT_TRUE(RunUntil([&] { return sleep->calls > 0 && behind->calls > 0; }, 2s));
  EXPECT_EQ(sleep->failure, RedisFailure::kTimeout);
  EXPECT_GE(Milliseconds(sleep->at - sent_at), 290);
  EXPECT_LT(Milliseconds(sleep->at - sent_at), 700);
  EXPECT_EQ(behind->failure, RedisFailure::kDisconnected);
  EXPECT_LT(Milliseconds(behind->at - sleep->at), 100);
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  EXPECT_EQ(events.reasons[0], "command timed out after 300 ms");

  // Redis wakes after 2 s; until then the new connections time out as well.
  std::shared_ptr<Outcome> ping;
  ASSERT_TRUE(RunUntil(
      [&] {
        if (ping && ping->calls > 0 && ping->failure == RedisFailure::kNone) return true;
        if (redis.up() && (!ping || ping->calls > 0)) {
          ping = std::make_shared<Outcome>();
          redis.Command({"PING"}, Into(ping));
        }
        return false;
      },
      8s));
  EXPECT_EQ(ping->reply.str, "PONG");
  EXPECT_LT(Milliseconds(ticker.longest()), 100) << "the loop was blocked";
  EXPECT_GT(ticker.ticks(), 100);
}

TEST_F(RedisConnectionTest, UnacknowledgedSubscribeResets) {
  RedisOptions options = Options();
  options.command_timeout = 300ms;
  auto both = StartBoth(options);
  RedisCommandConnection& redis = *both->redis;
  RedisPubSubConnection& pubsub = *both->pubsub;
  Recorder& events = both->events;

  // Redis answers the pause, then holds every client's commands for 1 s.
  EXPECT_EQ(Run(redis, {"CLIENT", "PAUSE", "1000", "ALL"})->reply.str, "OK");
  const auto sent_at = Clock::now();
  pubsub.Subscribe({"x"});
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  EXPECT_EQ(events.reasons[0], "SUBSCRIBE not acknowledged within 300 ms");
  EXPECT_GE(Milliseconds(Clock::now() - sent_at), 290);
  EXPECT_LT(Milliseconds(Clock::now() - sent_at), 800);
  EXPECT_TRUE(events.subscribed.empty());

  // Each new connection subscribes again; once the pause is over one works.
  int subscribed_on = 1;
  ASSERT_TRUE(RunUntil(
      [&] {
        if (pubsub.up() && events.ups > subscribed_on) {
          subscribed_on = events.ups;
          pubsub.Subscribe({"x"});
        }
        return !events.subscribed.empty();
      },
      5s));
  EXPECT_EQ(Run(redis, {"PUBLISH", "x", "back"})->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.messages.size() == 1; }));
}

TEST_F(RedisConnectionTest, LargeMessageArrivesIntact) {
  auto both = StartBoth(Options());
  RedisCommandConnection& redis = *both->redis;
  Recorder& events = both->events;
  ASSERT_TRUE(SubscribeAll(*both, {"big"}));

  std::string message(1 << 20, '\0');
  std::mt19937 random(7);
  for (char& c : message) c = static_cast<char>(random());
  EXPECT_EQ(Run(redis, {"PUBLISH", "big", message})->reply.integer, 1);
  ASSERT_TRUE(RunUntil([&] { return events.messages.size() == 1; }));
  EXPECT_EQ(events.messages[0].second.size(), message.size());
  EXPECT_TRUE(events.messages[0].second == message);
}

TEST_F(RedisConnectionTest, StopCallsEveryPendingCommandBackOnce) {
  Recorder events;
  RedisOptions options = Options();
  options.command_timeout = 10s;
  std::vector<std::shared_ptr<Outcome>> waiting;
  {
    RedisCommandConnection redis(io_, options, events.ForCommands());
    redis.Start();
    ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
    for (int i = 0; i < 3; ++i) {
      waiting.push_back(std::make_shared<Outcome>());
      redis.Command({"BLPOP", "never", "0"}, Into(waiting.back()));
    }
    ASSERT_TRUE(Blocked(1));
    redis.Stop();
    EXPECT_FALSE(redis.up());
    for (const auto& outcome : waiting) {
      EXPECT_EQ(outcome->calls, 1);
      EXPECT_EQ(outcome->failure, RedisFailure::kDisconnected);
    }
    auto refused = Run(redis, {"PING"});
    EXPECT_EQ(refused->failure, RedisFailure::kNotConnected);

    // It starts again, and the destructor stops it with commands waiting.
    redis.Start();
    ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
    EXPECT_EQ(Run(redis, {"PING"})->reply.str, "PONG");
    waiting.push_back(std::make_shared<Outcome>());
    redis.Command({"BLPOP", "never", "0"}, Into(waiting.back()));
    ASSERT_TRUE(Blocked(1));
  }
  EXPECT_EQ(waiting.back()->calls, 1);
  EXPECT_EQ(waiting.back()->failure, RedisFailure::kDisconnected);
  // Nothing more arrives later.
  RunUntil([] { return false; }, 200ms);
  for (const auto& outcome : waiting) EXPECT_EQ(outcome->calls, 1);
  EXPECT_EQ(events.ups, 2);
  EXPECT_EQ(events.downs, 0);  // Stop is not a loss
}

TEST_F(RedisConnectionTest, RefusedConnectionIsReportedOnce) {
  Recorder events;
  RedisOptions options = Options();
  options.endpoint.port = FreePort();
  RedisCommandConnection redis(io_, options, events.ForCommands());
  redis.Start();
  ASSERT_TRUE(RunUntil([&] { return events.downs == 1; }));
  EXPECT_EQ(events.reasons[0], "cannot connect to 127.0.0.1:" +
                                   std::to_string(options.endpoint.port) + ": connection refused");
  // Several more attempts (50, 100, 200, 200 ms apart) fail silently.
  RunUntil([] { return false; }, 700ms);
  EXPECT_EQ(events.downs, 1);
  EXPECT_EQ(events.ups, 0);
  EXPECT_EQ(Run(redis, {"PING"})->failure, RedisFailure::kNotConnected);
}

TEST_F(RedisConnectionTest, UnixSocketAndHostName) {
  for (const std::string& endpoint :
       {"unix:" + server_->unix_path(), "localhost:" + std::to_string(server_->port())}) {
    SCOPED_TRACE(endpoint);
    Recorder events;
    RedisOptions options = Options();
    std::string error;
    options.endpoint = *RedisEndpoint::Parse(endpoint, &error);
    RedisCommandConnection redis(io_, options, events.ForCommands());
    redis.Start();
    ASSERT_TRUE(RunUntil([&] { return redis.up(); }));
    EXPECT_EQ(Run(redis, {"PING"})->reply.str, "PONG");
  }
}

TEST_F(RedisConnectionTest, ConnectTimeoutGivesUpOnAnAddressThatNeverAnswers) {
  // A listener that never accepts, with a backlog of 0: once one connection
  // waits in its queue, the kernel drops further handshakes, so a connect
  // hangs (until the SYN's retries, seconds later).
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    fillers.push_back(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    connect(fillers.back(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  }

  Recorder events;
  RedisOptions options = Options();
  options.endpoint.port = ntohs(address.sin_port);
  options.connect_timeout = 200ms;
  const auto started = Clock::now();
  {
    RedisCommandConnection redis(io_, options, events.ForCommands());
    redis.Start();
    EXPECT_TRUE(RunUntil([&] { return events.downs == 1; }));
    EXPECT_GE(Milliseconds(Clock::now() - started), 190);
    EXPECT_LT(Milliseconds(Clock::now() - started), 600);
    ASSERT_EQ(events.reasons.size(), 1u);
    EXPECT_EQ(events.reasons[0],
              "connecting to 127.0.0.1:" + std::to_string(options.endpoint.port) +
                  " timed out after 200 ms");
    EXPECT_EQ(events.ups, 0);
  }
  for (int fd : fillers) close(fd);
  close(listener);
}

}  // namespace
}  // namespace notifyd::cluster
