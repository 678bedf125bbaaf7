#include "transport/server.h"

#include <malloc.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "protocol/messages.h"
#include "transport/http_exchange.h"
#include "transport/tls_channel.h"
#include "transport/tls_record.h"
#include "wire/http_response.h"
#include "wire/websocket.h"

namespace notifyd::transport {

namespace {

// Connections written per event-loop turn (FlushAll).
constexpr size_t kFlushChunk = 1024;
// Closed connections after which freed memory is handed back to the system.
constexpr uint64_t kTrimAfterCloses = 256;
constexpr uint64_t kTrimWhenIdleAfter = 16;

// NOTIFYD_IO_URING=0 in the environment: plain sendmsg (for comparisons).
bool IoUringDisabledByEnv() {
  const char* v = std::getenv("NOTIFYD_IO_URING");
  return v != nullptr && std::string_view(v) == "0";
}

}  // namespace

Server::Server(asio::io_context& io, core::Hub& hub, core::Broker& broker, http::Api& api,
               http::SessionApi& session_api, const core::Clock& clock, core::Counters& counters)
    : io_(io),
      hub_(hub),
      broker_(broker),
      api_(api),
      session_api_(session_api),
      clock_(clock),
      counters_(counters),
      connection_limiter_(clock),
      listener_(io, clock),
      tls_listener_(io, clock),
      sender_(!IoUringDisabledByEnv()),
      ping_(std::make_shared<const std::string>(wire::EncodeFrame(wire::Opcode::kPing, {}))),
      sweep_(io),
      shutdown_timer_(io) {
  read_buffer_.resize(64 * 1024);
  tls_buffer_.resize(16 * 1024);  // the largest TLS record's plaintext
}

Server::~Server() {
  // The hub outlives this: every session leaves it before its Connection goes.
  for (const ConnectionPtr& c : Snapshot()) c->Destroy();
}

void Server::Configure(const config::Config& c) {
  config_ = c;
  connection_limiter_.Configure(c.connection_rate, c.connection_burst);
  if (serving_) ScheduleSweep();
}

bool Server::Listen(const std::string& address, uint16_t port, std::string* error) {
  if (!listener_.Bind(address, port, error)) return false;
  StartServing();
  return true;
}

bool Server::Adopt(int fd, std::string* error) {
  if (!listener_.Adopt(fd, error)) return false;
  StartServing();
  return true;
}

void Server::StartServing() {
  serving_ = true;
  spdlog::info("sending with {}", sender_.description());
  listener_.Start([this](asio::ip::tcp::socket socket) { OnAccept(std::move(socket), false); });
  ScheduleSweep();
}

bool Server::ListenTls(const std::string& address, uint16_t port,
                       std::shared_ptr<TlsContext> context, std::string* error) {
  if (!tls_listener_.Bind(address, port, error)) return false;
  StartServingTls(std::move(context));
  return true;
}

bool Server::AdoptTls(int fd, std::shared_ptr<TlsContext> context, std::string* error) {
  if (!tls_listener_.Adopt(fd, error)) return false;
  StartServingTls(std::move(context));
  return true;
}

void Server::StartServingTls(std::shared_ptr<TlsContext> context) {
  tls_context_ = std::move(context);
  std::string why;
  if (KernelTlsOffered(&why)) {
    spdlog::info("TLS: records sealed by the kernel (kTLS) for AES-GCM and ChaCha20-Poly1305");
  } else {
    spdlog::info("TLS: records sealed in userspace (kernel TLS unavailable: {})", why);
  }
  tls_listener_.Start([this](asio::ip::tcp::socket socket) { OnAccept(std::move(socket), true); });
}

void Server::OnAccept(asio::ip::tcp::socket socket, bool tls) {
  asio::error_code e;
  socket.set_option(asio::ip::tcp::no_delay(true), e);
  socket.non_blocking(true, e);
  auto ep = socket.remote_endpoint(e);
  std::string peer = e ? std::string("unknown") : ep.address().to_string();
  std::unique_ptr<TlsChannel> channel;
  if (tls) channel = std::make_unique<TlsChannel>(tls_context_->get());
  auto c = std::make_shared<Connection>(*this, std::move(socket), std::move(peer),
                                        std::move(channel));
  connections_.emplace(c.get(), c);
  c->Start(std::make_unique<HttpExchange>(*c));
}

void Server::Shutdown(int64_t timeout_ms, std::function<void()> done) {
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  sweep_.cancel();
  listener_.Close();
  tls_listener_.Close();
  serving_ = false;
  for (const ConnectionPtr& c : Snapshot()) {
    if (c->state() == Connection::State::kOpen) c->protocol()->Shutdown();
  }
  shutdown_timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  shutdown_timer_.async_wait([this](const asio::error_code& e) {
    if (e) return;
    spdlog::warn(
        "{} client(s) did not close within the shutdown timeout ({} HTTP replies still "
        "deferred); dropping them",
        sessions_, deferred_replies_);
    for (const ConnectionPtr& c : Snapshot()) c->Destroy();
    FinishShutdown();
  });
  FinishShutdownIfDone();
}

void Server::FinishShutdownIfDone() {
  if (shutting_down_ && sessions_ == 0 && deferred_replies_ == 0) FinishShutdown();
}

void Server::FinishShutdown() {
  if (!shutdown_done_) return;
  shutdown_timer_.cancel();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

std::vector<ConnectionPtr> Server::Snapshot() const {
  std::vector<ConnectionPtr> out;
  out.reserve(connections_.size());
  for (const auto& entry : connections_) out.push_back(entry.second);
  return out;
}

// --- limits -----------------------------------------------------------------------

std::optional<http::Response> Server::Admit(const http::Api::ClientPeer& peer, AddressSlot** slot) {
  *slot = nullptr;
  if (shutting_down_) {
    return http::JsonError(503, "Service unavailable", "the server is shutting down");
  }
  if (!peer.exempt) {
    if (double retry = 0; !connection_limiter_.Allow(peer.limit_key, &retry)) {
      ++counters_.connections_rate_limited;
      http::Response refusal = http::JsonError(
          429, "Too many requests", "too many new connections from this address; retry later");
      refusal.SetHeader("Retry-After", std::to_string(std::max<int64_t>(1, std::ceil(retry))));
      return refusal;
    }
  }
  if (sessions_ >= config_.max_connections) {
    ++counters_.connections_over_limit;
    spdlog::warn("connection limit ({}) reached; refused {}", config_.max_connections,
                 peer.address);
    return http::JsonError(
        503, "Service unavailable",
        "connection limit reached (" + std::to_string(config_.max_connections) + ")");
  }
  if (peer.exempt) return std::nullopt;
  auto [it, inserted] = per_address_.try_emplace(peer.limit_key, 0);
  uint32_t cap = config_.max_connections_per_address;
  if (cap != 0 && it->second >= cap) {
    ++counters_.connections_over_address_limit;
    spdlog::warn("per-address connection limit ({}) reached for {}", cap, peer.limit_key);
    return http::JsonError(503, "Service unavailable",
                           "too many connections from this address (at most " +
                               std::to_string(cap) + ")");
  }
  ++it->second;
  *slot = &*it;
  return std::nullopt;
}

void Server::SessionOpened(SessionKind kind) {
  ++sessions_;
  if (kind == SessionKind::kEcho) ++echo_count_;
  if (kind == SessionKind::kEvents) ++sse_streams_;
}

void Server::SessionClosed(SessionKind kind, AddressSlot* slot) {
  --sessions_;
  if (kind == SessionKind::kEcho) --echo_count_;
  if (kind == SessionKind::kEvents) --sse_streams_;
  if (slot != nullptr && --slot->second == 0) per_address_.erase(slot->first);
  FinishShutdownIfDone();
}

void Server::DeferredReplyEnded() {
  --deferred_replies_;
  FinishShutdownIfDone();
}

// --- sending ----------------------------------------------------------------------

void Server::MarkDirty(Connection* c) {
  c->dirty = true;
  dirty_.push_back(c->shared_from_this());
  PostFlush();
}

void Server::Post(std::function<void()> task) { asio::post(io_, std::move(task)); }

void Server::PostFlush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(io_, [this] { FlushAll(); });
}

// Writes what was queued, oldest first, at most kFlushChunk connections per
// event-loop turn: a publish to 10,000 subscribers does not hold the loop
// (heartbeats, new connections, the next publish) for its whole fan-out,
// and a client still waiting its turn when the next publish arrives gets
// both frames in one send. One sendmsg per connection (several frames share
// it), handed to the kernel in batches (BatchSender).
void Server::FlushAll() {
  flush_posted_ = false;
  size_t end = std::min(dirty_.size(), dirty_head_ + kFlushChunk);
  sender_.Begin();
  batch_.clear();
  for (size_t i = dirty_head_; i < end; ++i) {
    Connection* c = dirty_[i].get();
    c->dirty = false;
    if (c->closed() || c->write_waiting() || c->queued() == 0) continue;
    iovec* iov = sender_.Add(c->fd());
    sender_.Commit(c->FillIov(iov, BatchSender::kMaxIov));
    batch_.push_back(c);
  }
  sender_.Run([this](size_t i, ssize_t result, int error) {
    Connection* c = batch_[i];
    try {
      c->SendDone(result, error);
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in the flush handler: {}", e.what());
    }
  });
  for (size_t i = dirty_head_; i < end; ++i) dirty_[i].reset();  // may free closed ones
  dirty_head_ = end;
  if (dirty_head_ == dirty_.size()) {
    dirty_.clear();
    dirty_head_ = 0;
  } else {
    PostFlush();
  }
}

void Server::Remove(Connection* c) {
  auto it = connections_.find(c);
  if (it != connections_.end()) connections_.erase(it);  // the caller holds a reference
  ++closed_since_trim_;
  if (connections_.empty() && closed_since_trim_ >= kTrimWhenIdleAfter) {
    malloc_trim(0);  // everyone left: hand the memory back now
    closed_since_trim_ = 0;
  }
}

const std::string& Server::Date() {
  int64_t wall_ms = clock_.WallMillis();
  if (wall_ms / 1000 != date_second_) {
    date_second_ = wall_ms / 1000;
    date_ = wire::HttpDate(wall_ms);
  }
  return date_;
}

const Bytes& Server::HeartbeatFrame() {
  if (!heartbeat_) {
    heartbeat_ = std::make_shared<const std::string>(wire::EncodeFrame(
        wire::Opcode::kText, protocol::EncodeHeartbeat(clock_.WallMillis())));
  }
  return heartbeat_;
}

// --- the sweep ----------------------------------------------------------------------

// One timer for every connection: heartbeats when due, clients silent for
// longer than the timeout, and every deadline (request, idle keep-alive,
// close handshake, last write).
void Server::ScheduleSweep() {
  auto interval_ms = static_cast<int64_t>(config_.heartbeat_interval_s * 1000);
  auto timeout_ms = static_cast<int64_t>(config_.heartbeat_timeout_s * 1000);
  auto idle_ms = static_cast<int64_t>(config_.keepalive_timeout_s * 1000);
  int64_t tick = std::clamp<int64_t>(std::min({interval_ms, timeout_ms, idle_ms}) / 4, 10, 1000);
  sweep_.expires_after(std::chrono::milliseconds(tick));
  sweep_.async_wait([this](const asio::error_code& e) {
    if (e || shutting_down_) return;
    try {
      Sweep();
    } catch (const std::exception& ex) {
      spdlog::error("unexpected error in the sweep: {}", ex.what());
    }
    ScheduleSweep();
  });
}

void Server::Sweep() {
  int64_t now = clock_.MonotonicMillis();
  heartbeat_.reset();
  std::vector<ConnectionPtr> expired;
  for (auto& [raw, c] : connections_) {
    if (c->deadline() >= 0 && now >= c->deadline()) {
      expired.push_back(c);
      continue;
    }
    if (c->state() == Connection::State::kOpen) c->protocol()->OnSweep(now);
  }
  for (const ConnectionPtr& c : expired) {
    if (c->state() == Connection::State::kOpen) {
      spdlog::debug("{} ({}): closed at its deadline", c->protocol()->Describe(), c->peer());
    }
    c->Destroy();
  }
  TrimMemory(now);
}

// glibc keeps freed memory; give it back once many connections have gone,
// at most once a second.
void Server::TrimMemory(int64_t now) {
  if (closed_since_trim_ < kTrimAfterCloses || now - last_trim_ms_ < 1000) return;
  malloc_trim(0);
  closed_since_trim_ = 0;
  last_trim_ms_ = now;
}

}  // namespace notifyd::transport
