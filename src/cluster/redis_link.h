// One connection to Redis at a time, kept up: the part the command and the
// pub/sub connection share (cluster/redis_connection.h). For each attempt it
// resolves a host name with asio's resolver (hiredis's own getaddrinfo would
// block the loop; a numeric address or a unix socket needs none), creates a
// new hiredis context (a context is single-use) attached to the loop, with
// TCP keepalive, and tries the resolved addresses in turn, all within the
// connect timeout. After a failed attempt or a loss it tries again after an
// exponential back-off with jitter.
//
// The owner sends on context() and takes its replies; the link owns the
// context and is the only one that frees it, never from inside a hiredis
// callback except through hiredis's own deferral (redisAsyncFree there only
// marks the context), so no code runs on a freed context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "cluster/redis_connection.h"

struct redisAsyncContext;

namespace notifyd::cluster {

/// Wraps a completion handler so that it does nothing once the object that
/// owns `token` is gone: a handler already queued when its timer or resolver
/// was destroyed (it had completed) still runs, with a success code.
template <typename Fn>
auto WhileAlive(const std::shared_ptr<bool>& token, Fn fn) {
  return [token = std::weak_ptr<bool>(token), fn = std::move(fn)](auto&&... args) mutable {
    if (!token.expired()) fn(std::forward<decltype(args)>(args)...);
  };
}

/// "300 ms", for messages.
std::string Milliseconds(std::chrono::milliseconds ms);

/// Appends one command to `ac`: `head` (if not empty) then the words from
/// `begin` to `end`, binary-safe. hiredis's return code (REDIS_ERR when the
/// context is closing and takes nothing more).
int SendWords(redisAsyncContext* ac, void (*callback)(redisAsyncContext*, void*, void*),
              void* privdata, std::string_view head, const std::string* begin,
              const std::string* end);

class RedisLink {
 public:
  /// Every one is called from the loop, outside hiredis.
  struct Events {
    /// Connected: context() may be used.
    std::function<void()> on_up;
    /// A context closed or an attempt failed (every time, before on_down).
    std::function<void()> on_closed;
    /// Down: once per loss, or once when the first attempt after Start()
    /// fails; not again until the next on_up.
    std::function<void(const std::string& why)> on_down;
  };

  RedisLink(asio::io_context& io, const RedisOptions& options, Events events);
  /// Stop(). The owner stops the link itself first, while the callbacks its
  /// commands carry can still reach it.
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void Start();
  /// Frees the context: hiredis calls every pending callback with a NULL
  /// reply now (or, inside a reply callback, when that returns). No on_down.
  void Stop();
  /// Drops the connection, if there is one or an attempt is under way, then
  /// reconnects after the back-off; on_down(why). Safe inside a callback:
  /// the context is freed on the next turn of the loop.
  void Drop(std::string why);
  /// The connected context, or null (down, connecting, or closing).
  redisAsyncContext* context() const;
  const std::string& last_error() const { return last_error_; }

 private:
  enum class State { kStopped, kConnecting, kUp, kDropping, kWaiting };

  void Connect();
  void Resolved(const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results);
  void TryNextAddress();
  void CreateContext(const std::string& address);
  bool SetUpContext(redisAsyncContext* ac, std::string* error);
  void Connected();
  void Cleaned(redisAsyncContext* ac);
  void Closed();
  void Lost(const std::string& why);
  void ScheduleReconnect();
  std::chrono::milliseconds NextBackoff();
  std::string ConnectError(std::string_view reason) const;
  /// Runs `fn` on the next turn of the loop if this attempt is still the
  /// current one (and the link alive).
  void PostForAttempt(std::function<void()> fn);

  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);

  asio::io_context& io_;
  const RedisOptions options_;
  const std::string name_;  // the endpoint, for messages
  Events events_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer backoff_timer_;
  State state_ = State::kStopped;
  redisAsyncContext* context_ = nullptr;
  uint64_t attempt_ = 0;                // changes with every attempt and at Stop()
  std::vector<std::string> addresses_;  // what this attempt connects to, in order
  size_t next_address_ = 0;
  bool connect_failed_ = false;  // the last context never connected: try the next address
  std::string close_reason_;
  std::string last_error_;
  bool down_reported_ = false;
  unsigned failures_ = 0;  // failed attempts since the last up
  std::minstd_rand random_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace notifyd::cluster
