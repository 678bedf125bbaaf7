// Two Redis engines (two notifyd nodes in one process) over the real
// connections (cluster/redis_connection) and a redis-server of the test's own
// on a unix socket, on one event loop: each node gets every publish, from
// either node, once and in order; the pub/sub connections killed mid-stream
// leave no gap; Redis losing its data gives a new snapshot; Redis killed
// fails publishes at once and the nodes come back with it; the heartbeat
// counts nodes and subscribers. Each node checks the contract of
// core/cluster_engine.h on every event. Skipped without redis-server.
#include "cluster/redis_engine.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "cluster/redis_connection.h"
#include "core/clock.h"
#include "core/ids.h"
#include "support/redis_server.h"

namespace notifyd::cluster {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using testing_support::FindRedisServer;
using testing_support::RedisServer;

/// One notifyd node's engine and connections, as the daemon would own them,
/// checking what the engine reports against the contract.
class Node final : public core::EngineEvents {
 public:
  struct Position {
    std::string epoch;
    uint64_t next = 0;
    std::vector<std::string> payloads;  ///< Entries since the last snapshot.
  };

  Node(asio::io_context& io, const std::string& socket, const std::string& id)
      : engine_(Options(id), commands_, pubsub_, clock_, ids_),
        commands_(io, Connection(socket), engine_.command_events()),
        pubsub_(io, Connection(socket), engine_.pubsub_events()),
        ticker_(io) {
    engine_.SetEvents(this);
    engine_.SetSubscriberCounts([this] { return counts; });
    commands_.Start();
    pubsub_.Start();
    Tick();
  }
  ~Node() override { ticker_.cancel(); }

  void OnSynced(const std::string& channel, core::EngineSnapshot snapshot) override {
    positions[channel] = Position{snapshot.epoch, snapshot.top + 1, {}};
    ++syncs;
  }
  void OnEntry(const std::string& channel, uint64_t seq, const std::string& payload) override {
    auto it = positions.find(channel);
    ASSERT_NE(it, positions.end()) << engine_.node_id() << ": an entry before a snapshot";
    EXPECT_EQ(seq, it->second.next) << engine_.node_id() << " " << channel;
    it->second.next = seq + 1;
    it->second.payloads.push_back(payload);
  }
  void OnEngineState(bool is_up, const std::string&) override { up = is_up; }

  RedisEngine& engine() { return engine_; }
  /// The last seq reported for `channel` (0 before a snapshot).
  uint64_t last(const std::string& channel) const {
    auto it = positions.find(channel);
    return it == positions.end() ? 0 : it->second.next - 1;
  }

  std::map<std::string, Position> positions;
  int syncs = 0;
  bool up = false;
  std::vector<std::pair<std::string, size_t>> counts;

 private:
  static RedisEngineOptions Options(const std::string& id) {
    RedisEngineOptions options;
    options.prefix = "it";
    options.node_id = id;
    options.history_size = 1000;
    options.heartbeat_interval_ms = 200;
    options.top_check_interval_ms = 1000;
    return options;
  }
  static RedisOptions Connection(const std::string& socket) {
    RedisOptions options;
    options.endpoint.unix_path = socket;
    // A sanitizer build on a busy machine can take longer than the default
    // second; a timeout here would drop a connection mid-test (a kill -9 of
    // Redis is seen at once, as the connection closes).
    options.command_timeout = 5s;
    options.backoff_min = 50ms;
    options.backoff_max = 200ms;
    return options;
  }
  void Tick() {
    ticker_.expires_after(std::chrono::milliseconds(RedisEngine::kTickMs));
    ticker_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      engine_.Tick();
      Tick();
    });
  }

  core::SystemClock clock_;
  core::IdSource ids_;
  RedisEngine engine_;  // Before the connections, which take its events.
  RedisCommandConnection commands_;
  RedisPubSubConnection pubsub_;
  asio::steady_timer ticker_;
};

/// The node's engine figures, for failure messages.
std::string Describe(Node& node) {
  const RedisEngineStats stats = node.engine().stats();
  return node.engine().node_id() + ": repairs " + std::to_string(stats.repairs) + ", resyncs " +
         std::to_string(stats.resyncs) + ", pub/sub reconnects " +
         std::to_string(stats.pubsub_reconnects) + ", probes failed " +
         std::to_string(stats.probes_failed) + ", reads failed " +
         std::to_string(stats.reads_failed);
}

class RedisEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string binary = FindRedisServer();
    if (binary.empty()) GTEST_SKIP() << "redis-server is not installed";
    char dir[] = "/tmp/notifyd-engine-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    server_ = std::make_unique<RedisServer>(binary, dir_);
    std::string error;
    ASSERT_TRUE(server_->Start(0, &error)) << error;
    a_ = std::make_unique<Node>(io_, server_->unix_path(), "nodeA");
    b_ = std::make_unique<Node>(io_, server_->unix_path(), "nodeB");
    ASSERT_TRUE(RunUntil([&] { return a_->up && b_->up; }));
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  bool RunUntil(const std::function<bool()>& done, SteadyClock::duration timeout = 10s) {
    const auto deadline = SteadyClock::now() + timeout;
    while (!done()) {
      if (SteadyClock::now() >= deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  /// Attaches `channel` on both nodes and waits for their snapshots.
  void AttachBoth(const std::string& channel) {
    a_->engine().Attach(channel, ids_.NewEpoch());
    b_->engine().Attach(channel, ids_.NewEpoch());
    ASSERT_TRUE(RunUntil(
        [&] { return a_->positions.count(channel) > 0 && b_->positions.count(channel) > 0; }));
  }

  /// Publishes `count` notifications, alternately from A and B, each with its
  /// own payload; `between(i)` runs after the i-th publish is acknowledged.
  std::vector<core::EngineAck> PublishMany(const std::string& channel, int count,
                                           const std::function<void(int)>& between = {}) {
    std::vector<core::EngineAck> acks;
    for (int i = 0; i < count; ++i) {
      Node& node = i % 2 == 0 ? *a_ : *b_;
      bool done = false;
      // A fresh candidate each time, as the broker draws them: one used
      // before could bring an epoch back after Redis lost the channel.
      node.engine().Publish(channel, ids_.NewEpoch(), "m" + std::to_string(i), "", 0,
                            [&](const core::EngineAck& ack) {
                              acks.push_back(ack);
                              done = true;
                            });
      EXPECT_TRUE(RunUntil([&] { return done; }));
      if (between) between(i);
    }
    return acks;
  }

  core::IdSource ids_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::string dir_;
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<Node> a_;
  std::unique_ptr<Node> b_;
};

TEST_F(RedisEngineTest, EveryNodeGetsEveryPublishOnceAndInOrder) {
  AttachBoth("news");
  const std::vector<core::EngineAck> acks = PublishMany("news", 200);
  for (size_t i = 0; i < acks.size(); ++i) {
    ASSERT_TRUE(acks[i].ok) << acks[i].error;
    EXPECT_EQ(acks[i].seq, i + 1);
    EXPECT_EQ(acks[i].nodes, 2u) << Describe(*a_) << "; " << Describe(*b_);
  }
  ASSERT_TRUE(RunUntil([&] { return a_->last("news") == 200 && b_->last("news") == 200; }));
  for (Node* node : {a_.get(), b_.get()}) {
    EXPECT_EQ(node->syncs, 1) << Describe(*node);
    ASSERT_EQ(node->positions["news"].payloads.size(), 200u);
    EXPECT_EQ(node->positions["news"].payloads[199], "m199");
    EXPECT_EQ(node->positions["news"].epoch, acks[0].epoch);
  }
}

TEST_F(RedisEngineTest, KilledPubSubConnectionsLeaveNoGap) {
  AttachBoth("news");
  PublishMany("news", 300, [&](int i) {
    if (i == 99 || i == 199) server_->Control({"CLIENT", "KILL", "TYPE", "pubsub"});
  });
  ASSERT_TRUE(RunUntil([&] { return a_->last("news") == 300 && b_->last("news") == 300; }));
  for (Node* node : {a_.get(), b_.get()}) {
    EXPECT_EQ(node->syncs, 1) << "a resync where a catch-up would do; " << Describe(*node);
    EXPECT_EQ(node->positions["news"].payloads.size(), 300u);
    EXPECT_GE(node->engine().stats().pubsub_reconnects, 2u);
  }
}

TEST_F(RedisEngineTest, DataLostInRedisGivesANewSnapshotWithAnotherEpoch) {
  AttachBoth("news");
  const std::string first = PublishMany("news", 3).back().epoch;
  ASSERT_TRUE(RunUntil([&] { return a_->last("news") == 3 && b_->last("news") == 3; }));
  server_->Control({"FLUSHALL"});
  const core::EngineAck ack = PublishMany("news", 1).back();
  ASSERT_TRUE(ack.ok);
  EXPECT_EQ(ack.seq, 1u);
  EXPECT_NE(ack.epoch, first);
  for (Node* node : {a_.get(), b_.get()}) {
    ASSERT_TRUE(RunUntil([&] { return node->positions["news"].epoch == ack.epoch; }));
    EXPECT_EQ(node->syncs, 2);
    EXPECT_EQ(node->last("news"), 1u);
  }
}

TEST_F(RedisEngineTest, RedisKilledFailsPublishesAndTheNodesComeBackWithIt) {
  AttachBoth("news");
  const std::string first = PublishMany("news", 2).back().epoch;
  server_->Kill();
  ASSERT_TRUE(RunUntil([&] { return !a_->up && !a_->engine().up(); }));
  bool answered = false;
  const auto start = SteadyClock::now();
  a_->engine().Publish("news", ids_.NewEpoch(), "lost", "", 0, [&](const core::EngineAck& ack) {
    EXPECT_FALSE(ack.ok);
    EXPECT_FALSE(ack.error.empty());
    answered = true;
  });
  ASSERT_TRUE(RunUntil([&] { return answered; }, 2s));
  EXPECT_LT(SteadyClock::now() - start, 1s);

  std::string error;
  ASSERT_TRUE(server_->Start(0, &error)) << error;
  ASSERT_TRUE(RunUntil([&] { return a_->up && b_->up; }));
  // The data went with the process: both nodes resync to a new epoch.
  for (Node* node : {a_.get(), b_.get()}) {
    ASSERT_TRUE(
        RunUntil([&] { return node->syncs == 2 && node->positions["news"].epoch != first; }));
  }
  const core::EngineAck ack = PublishMany("news", 1).back();
  ASSERT_TRUE(ack.ok) << ack.error;
  EXPECT_EQ(ack.seq, 1u);
  ASSERT_TRUE(RunUntil([&] { return a_->last("news") == 1 && b_->last("news") == 1; }));
}

TEST_F(RedisEngineTest, TheHeartbeatCountsNodesAndTheirSubscribers) {
  a_->counts = {{"news", 2}};
  b_->counts = {{"news", 3}, {"other", 1}};
  ASSERT_TRUE(RunUntil([&] {
    return a_->engine().nodes() == 2 && b_->engine().nodes() == 2 &&
           a_->engine().RemoteSubscribers("news") == 3 &&
           a_->engine().RemoteSubscribers("other") == 1 &&
           b_->engine().RemoteSubscribers("news") == 2;
  }));
  // B stops cleanly, as the daemon does: it leaves the node list at once
  // (not after the 10 s expiry).
  bool stopped = false;
  b_->engine().Stop([&] { stopped = true; });
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  b_.reset();
  ASSERT_TRUE(RunUntil(
      [&] { return a_->engine().nodes() == 1 && a_->engine().RemoteSubscribers("news") == 0; },
      3s));
}

}  // namespace
}  // namespace notifyd::cluster
