#include "cluster/redis_link.h"

#include <algorithm>
#include <cctype>

#include <asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cluster/redis_adapter.h"

namespace notifyd::cluster {
namespace {

// hiredis's messages are strerror texts ("Connection refused") or its own
// ("Server closed the connection"); they read better inside a sentence. A
// Redis error ("ERR max number of clients reached") keeps its code.
std::string Lowered(std::string_view text) {
  std::string out(text);
  if (out.size() > 1 && std::islower(static_cast<unsigned char>(out[1]))) {
    out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  }
  return out;
}

bool IsNumeric(const std::string& host) {
  asio::error_code not_numeric;
  asio::ip::make_address(host, not_numeric);
  return !not_numeric;
}

}  // namespace

std::string Milliseconds(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

int SendWords(redisAsyncContext* ac, void (*callback)(redisAsyncContext*, void*, void*),
              void* privdata, std::string_view head, const std::string* begin,
              const std::string* end) {
  std::vector<const char*> words;
  std::vector<size_t> lengths;
  const size_t count = static_cast<size_t>(end - begin) + (head.empty() ? 0 : 1);
  words.reserve(count);
  lengths.reserve(count);
  if (!head.empty()) {
    words.push_back(head.data());
    lengths.push_back(head.size());
  }
  for (const std::string* word = begin; word != end; ++word) {
    words.push_back(word->data());
    lengths.push_back(word->size());
  }
  return redisAsyncCommandArgv(ac, callback, privdata, static_cast<int>(count), words.data(),
                               lengths.data());
}

RedisLink::RedisLink(asio::io_context& io, const RedisOptions& options, Events events)
    : io_(io),
      options_(options),
      name_(options.endpoint.ToString()),
      events_(std::move(events)),
      resolver_(io),
      connect_timer_(io),
      backoff_timer_(io),
      random_(std::random_device{}()) {}

RedisLink::~RedisLink() { Stop(); }

void RedisLink::Start() {
  if (state_ != State::kStopped) return;
  failures_ = 0;
  down_reported_ = false;
  if (context_ != nullptr) {
    // Stopped from inside a reply callback and started again before hiredis
    // got to free the old context: connect once it has.
    state_ = State::kWaiting;
    PostForAttempt([this] {
      if (state_ == State::kWaiting) Connect();
    });
    return;
  }
  Connect();
}

void RedisLink::Stop() {
  if (state_ == State::kStopped) return;
  state_ = State::kStopped;
  ++attempt_;
  connect_timer_.cancel();
  backoff_timer_.cancel();
  resolver_.cancel();
  // Pending callbacks get a NULL reply inside this call, or just after the
  // reply callback we are in (hiredis defers the free then).
  if (context_ != nullptr) redisAsyncFree(context_);
}

void RedisLink::Drop(std::string why) {
  if (state_ != State::kConnecting && state_ != State::kUp) return;
  state_ = State::kDropping;
  close_reason_ = std::move(why);
  connect_timer_.cancel();
  if (context_ == nullptr) {
    // Resolving, or between two addresses.
    resolver_.cancel();
    PostForAttempt([this] { Closed(); });
    return;
  }
  // The caller may be inside a hiredis callback, where a free would pull the
  // context from under hiredis's feet: free it on the next turn. Replies
  // arriving meanwhile are still delivered.
  PostForAttempt([this] {
    if (state_ == State::kDropping && context_ != nullptr) redisAsyncFree(context_);
  });
}

redisAsyncContext* RedisLink::context() const {
  if (state_ != State::kUp || context_ == nullptr) return nullptr;
  // hiredis is tearing the context down (its pending callbacks run first).
  if (context_->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) return nullptr;
  return context_;
}

void RedisLink::Connect() {
  state_ = State::kConnecting;
  ++attempt_;
  close_reason_.clear();
  connect_failed_ = false;
  addresses_.clear();
  next_address_ = 0;
  connect_timer_.expires_after(options_.connect_timeout);
  auto timed_out = [this, attempt = attempt_](const asio::error_code& ec) {
    if (ec || attempt != attempt_ || state_ != State::kConnecting) return;
    Drop("connecting to " + name_ + " timed out after " + Milliseconds(options_.connect_timeout));
  };
  connect_timer_.async_wait(WhileAlive(alive_, std::move(timed_out)));

  const RedisEndpoint& endpoint = options_.endpoint;
  if (!endpoint.unix_path.empty()) {
    addresses_.push_back(endpoint.unix_path);
  } else if (IsNumeric(endpoint.host)) {
    addresses_.push_back(endpoint.host);
  } else {
    auto resolved = [this, attempt = attempt_](
                        const asio::error_code& ec,
                        const asio::ip::tcp::resolver::results_type& results) {
      if (ec == asio::error::operation_aborted) return;
      if (attempt == attempt_ && state_ == State::kConnecting) Resolved(ec, results);
    };
    // No AI_ADDRCONFIG (asio's default): with it, a machine whose only
    // interface is loopback would find no address for "localhost".
    resolver_.async_resolve(endpoint.host, std::to_string(endpoint.port),
                            asio::ip::resolver_base::flags(),
                            WhileAlive(alive_, std::move(resolved)));
    return;
  }
  TryNextAddress();
}

void RedisLink::Resolved(const asio::error_code& ec,
                         const asio::ip::tcp::resolver::results_type& results) {
  if (ec) {
    Lost("cannot resolve " + options_.endpoint.host + ": " + ec.message());
    return;
  }
  for (const auto& entry : results) {
    std::string address = entry.endpoint().address().to_string();
    if (std::find(addresses_.begin(), addresses_.end(), address) == addresses_.end()) {
      addresses_.push_back(std::move(address));
    }
  }
  TryNextAddress();
}

void RedisLink::TryNextAddress() {
  if (next_address_ >= addresses_.size()) {
    Lost(close_reason_.empty() ? "cannot connect to " + name_ + ": no address" : close_reason_);
    return;
  }
  CreateContext(addresses_[next_address_++]);
}

std::string RedisLink::ConnectError(std::string_view reason) const {
  std::string text = "cannot connect to " + name_;
  const std::string& address = addresses_[next_address_ - 1];
  if (options_.endpoint.unix_path.empty() && address != options_.endpoint.host) {
    text += " (" + address + ")";
  }
  return text + ": " + Lowered(reason);
}

void RedisLink::CreateContext(const std::string& address) {
  const bool unix_socket = !options_.endpoint.unix_path.empty();
  redisAsyncContext* ac = unix_socket ? redisAsyncConnectUnix(address.c_str())
                                      : redisAsyncConnect(address.c_str(), options_.endpoint.port);
  std::string error;
  if (ac == nullptr) {
    error = "out of memory";
  } else if (!SetUpContext(ac, &error)) {
    redisAsyncFree(ac);  // no hooks installed: freed at once, nothing called
  } else {
    context_ = ac;
    return;
  }
  // Failed before any callback: go on the next turn, as if hiredis had said so.
  close_reason_ = ConnectError(error);
  connect_failed_ = true;
  PostForAttempt([this] { Closed(); });
}

bool RedisLink::SetUpContext(redisAsyncContext* ac, std::string* error) {
  // A socket error at once (a unix socket that is not there, a refused
  // loopback port on some kernels) is in ac->err.
  if (ac->err) {
    *error = ac->errstr;
    return false;
  }
  if (options_.endpoint.unix_path.empty() && redisEnableKeepAlive(&ac->c) != REDIS_OK) {
    *error = ac->c.errstr;
    return false;
  }
  auto cleaned = [this, ac] { Cleaned(ac); };
  if (!AttachToLoop(io_, ac, std::move(cleaned), error)) return false;
  ac->data = this;
  // The hooks are in place: this arms the write wait that reports the connect.
  redisAsyncSetConnectCallback(ac, &RedisLink::OnConnect);
  redisAsyncSetDisconnectCallback(ac, &RedisLink::OnDisconnect);
  return true;
}

// hiredis calls this outside its callback guard: nothing here may free the
// context or run user code, so the news goes through the loop.
void RedisLink::OnConnect(const redisAsyncContext* ac, int status) {
  auto* link = static_cast<RedisLink*>(ac->data);
  if (status != REDIS_OK) {
    // hiredis frees the context right after (Cleaned, then Closed).
    link->close_reason_ = link->ConnectError(ac->c.errstr);
    link->connect_failed_ = true;
    return;
  }
  link->PostForAttempt([link] { link->Connected(); });
}

void RedisLink::Connected() {
  if (state_ != State::kConnecting || context_ == nullptr) return;
  connect_timer_.cancel();
  state_ = State::kUp;
  failures_ = 0;
  down_reported_ = false;
  if (events_.on_up) events_.on_up();
}

// From hiredis's cleanup hook: the context is being freed (its callbacks ran).
void RedisLink::Cleaned(redisAsyncContext* ac) {
  if (context_ == ac) context_ = nullptr;
  if (state_ == State::kStopped) return;
  PostForAttempt([this] { Closed(); });
}

// Called after Cleaned, still inside the free, when the context had connected.
void RedisLink::OnDisconnect(const redisAsyncContext* ac, int status) {
  auto* link = static_cast<RedisLink*>(ac->data);
  // REDIS_OK: we freed it, and the reason is already set.
  if (status == REDIS_OK || link->state_ == State::kStopped || link->state_ == State::kDropping) {
    return;
  }
  link->close_reason_ = "connection lost: " + Lowered(ac->c.errstr);
}

void RedisLink::Closed() {
  if (state_ != State::kConnecting && state_ != State::kUp && state_ != State::kDropping) return;
  if (state_ == State::kConnecting && connect_failed_) {
    connect_failed_ = false;
    TryNextAddress();
    return;
  }
  Lost(close_reason_.empty() ? "connection lost" : close_reason_);
}

void RedisLink::Lost(const std::string& why) {
  state_ = State::kWaiting;
  connect_timer_.cancel();
  last_error_ = why;
  const uint64_t attempt = attempt_;
  if (events_.on_closed) events_.on_closed();
  if (!down_reported_) {
    down_reported_ = true;
    if (events_.on_down) events_.on_down(why);
  }
  // The user may have stopped (and started) the link in on_down.
  if (attempt == attempt_ && state_ == State::kWaiting) ScheduleReconnect();
}

void RedisLink::ScheduleReconnect() {
  backoff_timer_.expires_after(NextBackoff());
  backoff_timer_.async_wait(
      WhileAlive(alive_, [this, attempt = attempt_](const asio::error_code& ec) {
        if (ec || attempt != attempt_ || state_ != State::kWaiting) return;
        Connect();
      }));
}

std::chrono::milliseconds RedisLink::NextBackoff() {
  const auto max = std::max(options_.backoff_max, options_.backoff_min);
  auto base = std::max(options_.backoff_min, std::chrono::milliseconds(1));
  for (unsigned i = 0; i < failures_ && base < max; ++i) base *= 2;
  base = std::min(base, max);
  if (failures_ < 64) ++failures_;
  std::uniform_int_distribution<int64_t> jitter(0, base.count() / 5);
  return base + std::chrono::milliseconds(jitter(random_));
}

void RedisLink::PostForAttempt(std::function<void()> fn) {
  asio::post(io_, WhileAlive(alive_, [this, attempt = attempt_, fn = std::move(fn)] {
               if (attempt == attempt_) fn();
             }));
}

}  // namespace notifyd::cluster
