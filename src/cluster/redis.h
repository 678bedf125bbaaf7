// The two things the Redis broker needs from Redis (PROTOCOL.md Part 2
// "Scale-out"), as interfaces so the broker's logic is tested socket-free
// with fakes: a command connection that runs scripts, and a pub/sub
// connection that delivers messages. cluster/redis_connection implements both
// over hiredis, driven from the event loop (HISTORY-CLUSTER.md section C).
//
// Every call and every callback runs on the daemon's single event-loop
// thread. A callback is never called from inside the call that registered it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cluster {

/// A reply, copied out of hiredis's so it outlives the callback.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;  ///< kString, kStatus, kError.
  std::vector<RedisReply> elements;
};

/// Why a command got no reply from Redis.
enum class RedisFailure {
  kNone,          ///< The reply is Redis's (possibly a kError reply).
  kNotConnected,  ///< No connection at the moment of the call; nothing was sent.
  kTimeout,       ///< No reply within the command timeout; the connection was
                  ///< dropped (every other pending command fails too) and is
                  ///< being re-established. The command may have run.
  kDisconnected,  ///< The connection was lost while it waited. It may have run.
};

std::string_view FailureName(RedisFailure failure);

using CommandDone = std::function<void(RedisFailure, const RedisReply&)>;

/// A Lua script, sent by EVALSHA (its SHA-1 computed once), falling back to
/// EVAL when Redis answers NOSCRIPT (after a Redis restart or SCRIPT FLUSH).
struct RedisScript {
  explicit RedisScript(std::string source);
  std::string source;
  std::string sha1;  ///< Lower-case hex.
};

/// Where Redis listens: "HOST:PORT" (a numeric IPv4/IPv6 address or a name,
/// resolved again at each connect; "[::1]:6379" for IPv6) or "unix:/path".
struct RedisEndpoint {
  std::string host;  ///< Empty for a unix socket.
  uint16_t port = 0;
  std::string unix_path;

  /// Parses the config's `redis` value; nullopt with `*error` set when bad.
  static std::optional<RedisEndpoint> Parse(std::string_view text, std::string* error);
  std::string ToString() const;
};

/// The connection that runs commands and scripts.
class RedisCommands {
 public:
  virtual ~RedisCommands() = default;
  /// True while connected (and ready for commands).
  virtual bool up() const = 0;
  /// Sends `argv` (binary-safe); `done` is called exactly once, later.
  virtual void Command(std::vector<std::string> argv, CommandDone done) = 0;
  /// EVALSHA, and EVAL when Redis does not know the script.
  virtual void Eval(const RedisScript& script, std::vector<std::string> keys,
                    std::vector<std::string> args, CommandDone done) = 0;
};

/// The connection that is only ever subscribed (RESP2: it can run nothing
/// else). It does not remember channels across a reconnect: on `on_up` the
/// user subscribes again to what it needs.
class RedisPubSub {
 public:
  virtual ~RedisPubSub() = default;
  virtual bool up() const = 0;
  /// SUBSCRIBE (sent in batches of at most 512 channels). Each channel's
  /// acknowledgement calls the events' on_subscribed.
  virtual void Subscribe(const std::vector<std::string>& channels) = 0;
  virtual void Unsubscribe(const std::vector<std::string>& channels) = 0;
  /// Drops the connection and reconnects after the back-off (the liveness
  /// probe found it wedged); on_down is called with `why`.
  virtual void Reset(std::string why) = 0;
};

/// What a RedisPubSub reports; set before it starts.
struct PubSubEvents {
  std::function<void()> on_up;
  std::function<void(const std::string& why)> on_down;
  std::function<void(const std::string& channel)> on_subscribed;
  std::function<void(const std::string& channel, const std::string& message)> on_message;
};

/// What a RedisCommands reports.
struct CommandEvents {
  std::function<void()> on_up;
  std::function<void(const std::string& why)> on_down;
};

}  // namespace notifyd::cluster
