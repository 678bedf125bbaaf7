// This node's part in a cluster (`[cluster] broker = "redis"`): the two Redis
// connections, the engine over them, and the timer that ticks it, built from
// the config and torn down in the right order. The daemon attaches engine()
// to the broker; everything else about the cluster is the engine's.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "cluster/redis_connection.h"
#include "cluster/redis_engine.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/ids.h"
#include "protocol/messages.h"

namespace notifyd::daemon {

class ClusterNode {
 public:
  /// REQUIRES: config.cluster_broker is kRedis (and its address valid, as
  /// the config parser makes sure).
  ClusterNode(asio::io_context& io, const config::Config& config, const core::Clock& clock,
              const core::Hub& hub);
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  core::ClusterEngine& engine() { return *engine_; }
  /// Connects (and keeps reconnecting) until Stop().
  void Start();
  /// Leaves the node list (waiting at most kLeaveMs for Redis to take it),
  /// then closes both connections and calls `done` (on the loop).
  void Stop(std::function<void()> done);
  /// The /api/stats and /metrics figures of the cluster.
  void Fill(protocol::StatsExtra* extra) const;

 private:
  void ScheduleTick();
  /// Closes both connections now (the destructor; the loop may be gone).
  void Close();

  static constexpr std::chrono::milliseconds kLeaveMs{500};

  const std::string address_;
  const std::string prefix_;
  const uint32_t history_size_;
  const double history_ttl_s_;
  core::IdSource ids_;
  std::unique_ptr<cluster::RedisCommandConnection> commands_;
  std::unique_ptr<cluster::RedisPubSubConnection> pubsub_;
  std::unique_ptr<cluster::RedisEngine> engine_;
  asio::io_context& io_;
  asio::steady_timer tick_timer_;
  asio::steady_timer leave_timer_;
  bool stopped_ = false;
  bool closed_ = false;
};

}  // namespace notifyd::daemon
