// The two Redis connections of cluster/redis.h over hiredis 0.14, driven
// from the daemon's event loop (HISTORY-CLUSTER.md section C): one that runs
// commands and scripts, one that is only ever subscribed. Each keeps itself
// connected (cluster/redis_link.h): a new hiredis context per connection,
// a connect timeout, and after a loss a reconnect after an exponential
// back-off with jitter. It reports on_up when connected, and on_down once per
// loss, or once when it cannot connect after Start(); the attempts that fail
// after that only change last_error().
//
// Every call and callback is on the loop thread. A connection must be
// destroyed before its io_context, and not from inside its own callbacks.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "cluster/redis.h"

struct redisAsyncContext;

namespace notifyd::cluster {

class RedisLink;

struct RedisOptions {
  RedisEndpoint endpoint;
  /// Resolving the name and connecting, together; then the attempt counts as failed.
  std::chrono::milliseconds connect_timeout{1000};
  /// A command without a reply this long drops the connection (RedisFailure::kTimeout);
  /// on the pub/sub connection, a SUBSCRIBE not acknowledged this long does.
  std::chrono::milliseconds command_timeout{1000};
  /// The wait before reconnecting doubles from backoff_min to backoff_max
  /// after each failed attempt, plus up to a fifth more at random, so that
  /// nodes which lost Redis together do not all come back at one instant.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{2000};
};

/// Commands and scripts, pipelined on one connection.
class RedisCommandConnection final : public RedisCommands {
 public:
  RedisCommandConnection(asio::io_context& io, RedisOptions options, CommandEvents events);
  /// Stop().
  ~RedisCommandConnection() override;
  RedisCommandConnection(const RedisCommandConnection&) = delete;
  RedisCommandConnection& operator=(const RedisCommandConnection&) = delete;

  /// Connects (and keeps reconnecting) until Stop().
  void Start();
  /// Closes the connection without on_down; every command still waiting is
  /// called back with kDisconnected before this returns (called from inside a
  /// command's callback: right after that callback returns). Start() may
  /// follow.
  void Stop();
  bool up() const override;
  /// Why the connection last went down or failed to come up; empty if never.
  const std::string& last_error() const;

  /// Not up: `done(kNotConnected)` on the next turn of the loop. The first
  /// word may not be a (P)(UN)SUBSCRIBE or MONITOR (an error reply says so).
  void Command(std::vector<std::string> argv, CommandDone done) override;
  /// EVALSHA; on a NOSCRIPT reply the same call is sent again as EVAL (which
  /// loads the script), so `done` sees only the script's own result. That EVAL
  /// runs after any command sent in the meantime.
  void Eval(const RedisScript& script, std::vector<std::string> keys, std::vector<std::string> args,
            CommandDone done) override;

 private:
  struct Pending;

  void Send(std::unique_ptr<Pending> pending);
  void Forget(Pending* pending);
  void ArmTimeout();
  void CheckTimeout();
  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);

  asio::io_context& io_;
  const std::chrono::milliseconds command_timeout_;
  CommandEvents events_;
  /// Sent and not yet answered, in the order sent, which is the order Redis
  /// answers in: the first has the earliest deadline. hiredis owns them (each
  /// is its command's privdata) and calls each back exactly once.
  std::deque<Pending*> pending_;
  asio::steady_timer timeout_timer_;
  bool timer_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<RedisLink> link_;
};

/// The subscriber connection. It does not remember channels across a
/// reconnect: on on_up the user subscribes again to what it needs.
class RedisPubSubConnection final : public RedisPubSub {
 public:
  /// Most channels in one SUBSCRIBE or UNSUBSCRIBE.
  static constexpr size_t kBatch = 512;

  RedisPubSubConnection(asio::io_context& io, RedisOptions options, PubSubEvents events);
  /// Stop().
  ~RedisPubSubConnection() override;
  RedisPubSubConnection(const RedisPubSubConnection&) = delete;
  RedisPubSubConnection& operator=(const RedisPubSubConnection&) = delete;

  void Start();
  /// Closes the connection without on_down.
  void Stop();
  bool up() const override;
  const std::string& last_error() const;

  /// Not up: does nothing (on_up is the time to subscribe). A SUBSCRIBE that
  /// is not acknowledged within the command timeout resets the connection.
  void Subscribe(const std::vector<std::string>& channels) override;
  /// Not up: does nothing.
  void Unsubscribe(const std::vector<std::string>& channels) override;
  void Reset(std::string why) override;

 private:
  /// One SUBSCRIBE sent: how many acknowledgements are still due, and by when.
  struct Batch {
    size_t unacknowledged;
    std::chrono::steady_clock::time_point deadline;
  };

  void SendBatches(const char* command, const std::vector<std::string>& channels);
  void Acknowledged(const std::string& channel);
  void ArmAckTimer();
  void CheckAcks();
  static void OnPush(redisAsyncContext* ac, void* reply, void* privdata);

  const std::chrono::milliseconds command_timeout_;
  PubSubEvents events_;
  std::deque<Batch> batches_;  // in the order sent, which is the order acknowledged
  asio::steady_timer ack_timer_;
  bool timer_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<RedisLink> link_;
};

}  // namespace notifyd::cluster
