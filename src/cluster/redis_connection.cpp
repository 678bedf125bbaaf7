#include "cluster/redis_connection.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cluster/redis_link.h"

namespace notifyd::cluster {
namespace {

using Clock = std::chrono::steady_clock;

// hiredis nests at most 7 levels deep, so the recursion is bounded.
RedisReply Copy(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = reply.type == REDIS_REPLY_STRING   ? RedisReply::Type::kString
                 : reply.type == REDIS_REPLY_STATUS ? RedisReply::Type::kStatus
                                                    : RedisReply::Type::kError;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) out.elements.push_back(Copy(*reply.element[i]));
      break;
    default: break;  // REDIS_REPLY_NIL
  }
  return out;
}

// Redis's whole text, not just its code: a script's own error may start with
// "NOSCRIPT" too, and sending that script again as EVAL would run it twice.
bool IsNoScript(const redisReply& reply) {
  constexpr std::string_view kNoScript = "NOSCRIPT No matching script";
  return reply.type == REDIS_REPLY_ERROR &&
         std::string_view(reply.str, reply.len).substr(0, kNoScript.size()) == kNoScript;
}

// Commands that would turn the connection into something else: hiredis
// 0.14 would route their later replies to no callback or assert (SSUBSCRIBE,
// pitfall 9), and HELLO 3 speaks a protocol it cannot read.
bool ChangesConnection(const std::string& command) {
  static const char* const kRefused[] = {"subscribe",   "psubscribe",   "ssubscribe",
                                         "unsubscribe", "punsubscribe", "sunsubscribe",
                                         "monitor",     "hello"};
  return std::any_of(std::begin(kRefused), std::end(kRefused),
                     [&](const char* word) { return strcasecmp(command.c_str(), word) == 0; });
}

void PostFailure(asio::io_context& io, CommandDone done, RedisFailure failure,
                 RedisReply reply = {}) {
  asio::post(io,
             [done = std::move(done), failure, reply = std::move(reply)] { done(failure, reply); });
}

}  // namespace

// One command sent and not answered yet; its privdata in hiredis.
struct RedisCommandConnection::Pending {
  RedisCommandConnection* owner;
  CommandDone done;  // empty once called (after a timeout)
  Clock::time_point deadline;
  std::vector<std::string> argv;  // kept for an EVALSHA only, to send it again as EVAL
  std::string script;             // that script's source
};

RedisCommandConnection::RedisCommandConnection(asio::io_context& io, RedisOptions options,
                                               CommandEvents events)
    : io_(io),
      command_timeout_(options.command_timeout),
      events_(std::move(events)),
      timeout_timer_(io) {
  RedisLink::Events link_events;
  link_events.on_up = [this] {
    if (events_.on_up) events_.on_up();
  };
  link_events.on_down = [this](const std::string& why) {
    if (events_.on_down) events_.on_down(why);
  };
  link_ = std::make_unique<RedisLink>(io, options, std::move(link_events));
}

RedisCommandConnection::~RedisCommandConnection() { Stop(); }

void RedisCommandConnection::Start() { link_->Start(); }

void RedisCommandConnection::Stop() { link_->Stop(); }

bool RedisCommandConnection::up() const { return link_->context() != nullptr; }

const std::string& RedisCommandConnection::last_error() const { return link_->last_error(); }

void RedisCommandConnection::Command(std::vector<std::string> argv, CommandDone done) {
  if (argv.empty() || ChangesConnection(argv[0])) {
    RedisReply refused;
    refused.type = RedisReply::Type::kError;
    refused.str = argv.empty() ? "ERR empty command"
                               : "ERR " + argv[0] + " is not for the command connection";
    PostFailure(io_, std::move(done), RedisFailure::kNone, std::move(refused));
    return;
  }
  auto pending = std::make_unique<Pending>();
  pending->owner = this;
  pending->done = std::move(done);
  pending->argv = std::move(argv);
  Send(std::move(pending));
}

void RedisCommandConnection::Eval(const RedisScript& script, std::vector<std::string> keys,
                                  std::vector<std::string> args, CommandDone done) {
  auto pending = std::make_unique<Pending>();
  pending->owner = this;
  pending->done = std::move(done);
  pending->script = script.source;
  std::vector<std::string>& argv = pending->argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1);
  argv.push_back(std::to_string(keys.size()));
  std::move(keys.begin(), keys.end(), std::back_inserter(argv));
  std::move(args.begin(), args.end(), std::back_inserter(argv));
  Send(std::move(pending));
}

void RedisCommandConnection::Send(std::unique_ptr<Pending> pending) {
  redisAsyncContext* ac = link_->context();
  const std::vector<std::string>& argv = pending->argv;
  if (ac == nullptr || SendWords(ac, &OnReply, pending.get(), {}, argv.data(),
                                 argv.data() + argv.size()) != REDIS_OK) {
    PostFailure(io_, std::move(pending->done), RedisFailure::kNotConnected);
    return;
  }
  // hiredis has its own copy of the words now.
  if (pending->script.empty()) std::vector<std::string>().swap(pending->argv);
  pending->deadline = Clock::now() + command_timeout_;
  pending_.push_back(pending.release());
  ArmTimeout();
}

void RedisCommandConnection::OnReply(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  RedisCommandConnection* self = pending->owner;
  self->Forget(pending.get());
  if (!pending->done) return;  // timed out: its caller knows
  if (reply == nullptr) {
    pending->done(RedisFailure::kDisconnected, RedisReply{});
    return;
  }
  const auto& r = *static_cast<const redisReply*>(reply);
  if (!pending->script.empty() && IsNoScript(r)) {
    // Redis restarted or its script cache was flushed: EVAL runs the script
    // and caches it again, so the next EVALSHA finds it.
    pending->argv[0] = "EVAL";
    pending->argv[1] = std::move(pending->script);
    pending->script.clear();
    self->Send(std::move(pending));
    return;
  }
  pending->done(RedisFailure::kNone, Copy(r));
}

void RedisCommandConnection::Forget(Pending* pending) {
  // hiredis calls back in the order sent, so this is nearly always the first.
  if (!pending_.empty() && pending_.front() == pending) {
    pending_.pop_front();
    return;
  }
  auto it = std::find(pending_.begin(), pending_.end(), pending);
  if (it != pending_.end()) pending_.erase(it);
}

// One timer for all commands, set for the first one that still waits: the
// others were sent later, so their deadlines are later too.
void RedisCommandConnection::ArmTimeout() {
  if (timer_armed_) return;
  auto first = std::find_if(pending_.begin(), pending_.end(),
                            [](const Pending* pending) { return bool(pending->done); });
  if (first == pending_.end()) return;
  timer_armed_ = true;
  timeout_timer_.expires_at((*first)->deadline);
  timeout_timer_.async_wait(WhileAlive(alive_, [this](const asio::error_code& ec) {
    timer_armed_ = false;
    if (!ec) CheckTimeout();
  }));
}

void RedisCommandConnection::CheckTimeout() {
  auto first = std::find_if(pending_.begin(), pending_.end(),
                            [](const Pending* pending) { return bool(pending->done); });
  if (first == pending_.end()) return;
  if ((*first)->deadline > Clock::now()) {
    ArmTimeout();
    return;
  }
  // Redis is stuck or the path to it is: the replies of every command behind
  // this one would be as late. Drop the connection (they all fail with
  // kDisconnected when it is freed) and start over.
  CommandDone done = std::move((*first)->done);
  (*first)->done = nullptr;
  link_->Drop("command timed out after " + Milliseconds(command_timeout_));
  done(RedisFailure::kTimeout, RedisReply{});
}

RedisPubSubConnection::RedisPubSubConnection(asio::io_context& io, RedisOptions options,
                                             PubSubEvents events)
    : command_timeout_(options.command_timeout), events_(std::move(events)), ack_timer_(io) {
  RedisLink::Events link_events;
  link_events.on_up = [this] {
    if (events_.on_up) events_.on_up();
  };
  link_events.on_closed = [this] { batches_.clear(); };
  link_events.on_down = [this](const std::string& why) {
    if (events_.on_down) events_.on_down(why);
  };
  link_ = std::make_unique<RedisLink>(io, options, std::move(link_events));
}

RedisPubSubConnection::~RedisPubSubConnection() { Stop(); }

void RedisPubSubConnection::Start() { link_->Start(); }

void RedisPubSubConnection::Stop() {
  link_->Stop();
  batches_.clear();
}

bool RedisPubSubConnection::up() const { return link_->context() != nullptr; }

const std::string& RedisPubSubConnection::last_error() const { return link_->last_error(); }

void RedisPubSubConnection::Subscribe(const std::vector<std::string>& channels) {
  SendBatches("SUBSCRIBE", channels);
}

void RedisPubSubConnection::Unsubscribe(const std::vector<std::string>& channels) {
  SendBatches("UNSUBSCRIBE", channels);
}

void RedisPubSubConnection::Reset(std::string why) { link_->Drop(std::move(why)); }

void RedisPubSubConnection::SendBatches(const char* command,
                                        const std::vector<std::string>& channels) {
  redisAsyncContext* ac = link_->context();
  if (ac == nullptr) return;
  const bool subscribe = std::strcmp(command, "SUBSCRIBE") == 0;
  for (size_t first = 0; first < channels.size(); first += kBatch) {
    const size_t count = std::min(kBatch, channels.size() - first);
    const std::string* begin = channels.data() + first;
    // hiredis keeps one callback per channel; every reply about a channel
    // (acknowledgement, message, NULL at teardown) comes to OnPush.
    if (SendWords(ac, &OnPush, this, command, begin, begin + count) != REDIS_OK) return;
    if (subscribe) batches_.push_back(Batch{count, Clock::now() + command_timeout_});
  }
  ArmAckTimer();
}

void RedisPubSubConnection::OnPush(redisAsyncContext*, void* reply, void* privdata) {
  // NULL: the context is going; RedisLink reports that.
  if (reply == nullptr) return;
  auto* self = static_cast<RedisPubSubConnection*>(privdata);
  const auto& r = *static_cast<const redisReply*>(reply);
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 2) return;
  const redisReply& kind = *r.element[0];
  const redisReply& channel = *r.element[1];
  if (kind.type != REDIS_REPLY_STRING || channel.type != REDIS_REPLY_STRING) return;
  const std::string_view what(kind.str, kind.len);
  if (what == "message" && r.elements >= 3 && r.element[2]->type == REDIS_REPLY_STRING) {
    if (self->events_.on_message) {
      self->events_.on_message(std::string(channel.str, channel.len),
                               std::string(r.element[2]->str, r.element[2]->len));
    }
  } else if (what == "subscribe") {
    self->Acknowledged(std::string(channel.str, channel.len));
  }
}

void RedisPubSubConnection::Acknowledged(const std::string& channel) {
  if (!batches_.empty() && --batches_.front().unacknowledged == 0) batches_.pop_front();
  if (events_.on_subscribed) events_.on_subscribed(channel);
}

void RedisPubSubConnection::ArmAckTimer() {
  if (timer_armed_ || batches_.empty()) return;
  timer_armed_ = true;
  ack_timer_.expires_at(batches_.front().deadline);
  ack_timer_.async_wait(WhileAlive(alive_, [this](const asio::error_code& ec) {
    timer_armed_ = false;
    if (!ec) CheckAcks();
  }));
}

void RedisPubSubConnection::CheckAcks() {
  if (batches_.empty()) return;
  if (batches_.front().deadline > Clock::now()) {
    ArmAckTimer();
    return;
  }
  link_->Drop("SUBSCRIBE not acknowledged within " + Milliseconds(command_timeout_));
}

}  // namespace notifyd::cluster
