#include "transport/websocket_server.h"

#include <malloc.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <map>
#include <vector>

#include <spdlog/spdlog.h>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "core/rate_limiter.h"
#include "protocol/messages.h"
#include "version.h"

namespace notifyd::transport {

namespace {

namespace wlog = websocketpp::log;

// Forwards websocketpp's own log channels into spdlog. Payload and frame
// channels are compiled out by the config below, so no notification body
// ever reaches the log (TECH-NOTES pitfall 3).
template <typename Concurrency, typename Names>
class SpdlogPolicy {
 public:
  explicit SpdlogPolicy(wlog::channel_type_hint::value h = wlog::channel_type_hint::access)
      : static_(0xffffffff), error_(h == wlog::channel_type_hint::error) {}
  SpdlogPolicy(wlog::level c, wlog::channel_type_hint::value h = wlog::channel_type_hint::access)
      : static_(c), error_(h == wlog::channel_type_hint::error) {}
  void set_ostream(std::ostream* = nullptr) {}
  void set_channels(wlog::level c) { dynamic_ |= (c & static_); }
  void clear_channels(wlog::level c) { dynamic_ &= ~c; }
  void write(wlog::level c, std::string const& m) { write(c, m.c_str()); }
  void write(wlog::level c, char const* m) {
    if (!dynamic_test(c)) return;
    spdlog::level::level_enum lv = spdlog::level::debug;
    if (error_) {
      // rerror is every client that vanishes without a close frame: debug.
      if (c & wlog::elevel::fatal) lv = spdlog::level::err;
      else if (c & wlog::elevel::warn) lv = spdlog::level::warn;
    }
    spdlog::log(lv, "websocketpp: {}", m);
  }
  constexpr bool static_test(wlog::level c) const { return (c & static_) != 0; }
  bool dynamic_test(wlog::level c) const { return (c & dynamic_) != 0; }

 private:
  wlog::level const static_;
  wlog::level dynamic_ = 0;
  bool error_;
};

struct Config : websocketpp::config::asio {
  typedef Config type;
  typedef websocketpp::config::asio base;
  // One io thread touches every connection (TECH-NOTES §3), so websocketpp's
  // mutexes and strands are pure cost: callgrind counted 12 lock/unlock pairs
  // and 2 strand dispatches per delivery with them (docs/BENCHMARKS.md).
  typedef websocketpp::concurrency::none concurrency_type;
  typedef base::request_type request_type;
  typedef base::response_type response_type;
  typedef base::message_type message_type;
  typedef base::con_msg_manager_type con_msg_manager_type;
  typedef base::endpoint_msg_manager_type endpoint_msg_manager_type;
  typedef SpdlogPolicy<concurrency_type, wlog::alevel> alog_type;
  typedef SpdlogPolicy<concurrency_type, wlog::elevel> elog_type;
  typedef base::rng_type rng_type;
  struct transport_config : base::transport_config {
    typedef type::concurrency_type concurrency_type;
    typedef type::alog_type alog_type;
    typedef type::elog_type elog_type;
    typedef type::request_type request_type;
    typedef type::response_type response_type;
    typedef websocketpp::transport::asio::basic_socket::endpoint socket_type;
    static const bool enable_multithreading = false;
  };
  typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;
  // Clients send small commands; 4 KiB keeps the worst case per connection
  // bounded (TECH-NOTES §4).
  static const size_t connection_read_buffer_size = 4096;
  // No access channels at all: their lines carry the request URI, which may
  // hold a ?token=. notifyd logs connections and refusals itself.
  static const wlog::level alog_level = wlog::alevel::none;
  static const wlog::level elog_level = wlog::elevel::info | wlog::elevel::warn |
                                        wlog::elevel::rerror | wlog::elevel::fatal;
};

using Server = websocketpp::server<Config>;
using ConnectionPtr = Server::connection_ptr;
using Hdl = websocketpp::connection_hdl;
using Message = Config::message_type;
namespace close_code = websocketpp::close::status;

constexpr const char* kWsPath = "/ws";
// How long a client dropped for not reading gets for its close handshake.
constexpr int64_t kDropGraceMs = 2000;
// Closed connections after which freed memory is handed back to the system.
constexpr uint64_t kTrimAfterCloses = 256;
constexpr uint64_t kTrimWhenIdleAfter = 16;
constexpr const char* kEchoPath = "/ws/echo";

std::string PathOf(const std::string& resource) { return resource.substr(0, resource.find('?')); }

std::string PeerAddress(const ConnectionPtr& con) {
  asio::error_code ec;
  auto ep = con->get_raw_socket().remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
}

// The websocketpp message for a frame, built once per publish and shared by
// every recipient (a prepared message skips per-connection framing).
Server::message_ptr PreparedMessage(const core::Frame& frame) {
  if (frame.prepared) return std::static_pointer_cast<Message>(frame.prepared);
  namespace f = websocketpp::frame;
  const std::string& text = frame.text;
  auto msg = std::make_shared<Message>(Config::con_msg_manager_type::ptr(), f::opcode::text,
                                       text.size());
  f::basic_header bh(f::opcode::text, text.size(), true, false);
  f::extended_header eh(text.size());
  msg->set_header(f::prepare_header(bh, eh));
  msg->set_payload(text);
  msg->set_prepared(true);
  frame.prepared = msg;
  return msg;
}

}  // namespace

// One open WebSocket connection. For /ws it is the hub's Subscriber.
class Session final : public core::Subscriber {
 public:
  /// Called (once) when the client's outbound queue would pass the cap.
  using OverflowHandler = std::function<void(Session*)>;

  Session(ConnectionPtr con, bool echo, std::string peer, int64_t now_ms,
          const size_t& max_queued, OverflowHandler on_overflow)
      : con(std::move(con)), echo(echo), peer(std::move(peer)), last_heard_ms(now_ms),
        last_ping_ms(now_ms), max_queued_(max_queued), on_overflow_(std::move(on_overflow)) {}

  void Deliver(const core::FramePtr& frame) override {
    if (!Admit(frame->text.size())) return;
    con->send(PreparedMessage(*frame));  // fails harmlessly once the connection is closing
  }

  void SendText(const std::string& text) {
    if (!Admit(text.size())) return;
    websocketpp::lib::error_code ec = con->send(text, websocketpp::frame::opcode::text);
    if (ec) spdlog::debug("send to {} failed: {}", peer, ec.message());
  }

  /// True when `bytes` more fit under the cap. websocketpp's count misses the
  /// batch already being written (TECH-NOTES §7), but that batch was itself
  /// admitted under the cap, so a stuck client holds at most about twice it.
  bool Admit(size_t bytes) {
    if (overflowed) return false;
    if (con->get_buffered_amount() + bytes <= max_queued_) return true;
    overflowed = true;
    on_overflow_(this);
    return false;
  }

  ConnectionPtr con;
  const bool echo;
  const std::string peer;
  core::ClientHandle handle = 0;  ///< 0 for echo sessions.
  std::string client_id;
  int64_t last_heard_ms;
  int64_t last_ping_ms;
  bool closing = false;
  bool overflowed = false;     ///< Over the outbound cap: nothing more is queued.
  int64_t dropped_at_ms = -1;  ///< When it was closed for overflowing, or -1.

 private:
  const size_t& max_queued_;
  OverflowHandler on_overflow_;
};

class WebSocketServer::Impl {
 public:
  Impl(asio::io_context& io, core::Hub& hub, http::Api& api, const core::Clock& clock,
       core::Counters& counters)
      : io_(io), hub_(hub), api_(api), clock_(clock), counters_(counters),
        connection_limiter_(clock), sweep_(io), shutdown_timer_(io) {
    server_.init_asio(&io_);
    // Everything is registered before start_accept(): the pre-created first
    // connection copies the handlers set at that moment (TECH-NOTES §5).
    server_.clear_access_channels(wlog::alevel::all);
    server_.clear_error_channels(wlog::elevel::all);
    server_.set_error_channels(wlog::elevel::warn | wlog::elevel::rerror | wlog::elevel::fatal);
    server_.set_reuse_addr(true);
    server_.set_user_agent("notifyd");
    server_.set_open_handshake_timeout(5000);
    server_.set_close_handshake_timeout(2000);
    using websocketpp::lib::placeholders::_1;
    using websocketpp::lib::placeholders::_2;
    server_.set_tcp_pre_init_handler([this](Hdl h) { Guard("tcp_pre_init", [&] { OnTcpInit(h); }); });
    server_.set_validate_handler([this](Hdl h) {
      bool ok = false;
      Guard("validate", [&] { ok = OnValidate(h); });
      return ok;
    });
    server_.set_open_handler([this](Hdl h) { Guard("open", [&] { OnOpen(h); }); });
    server_.set_close_handler([this](Hdl h) { Guard("close", [&] { OnClose(h); }); });
    server_.set_fail_handler([this](Hdl h) { Guard("fail", [&] { OnClose(h); }); });
    server_.set_message_handler(
        [this](Hdl h, Server::message_ptr m) { Guard("message", [&] { OnMessage(h, m); }); });
    server_.set_http_handler([this](Hdl h) { Guard("http", [&] { OnHttp(h); }); });
    server_.set_ping_handler([this](Hdl h, std::string) {
      Heard(h);
      return true;  // answer with a pong
    });
    server_.set_pong_handler([this](Hdl h, std::string) { Heard(h); });
  }

  void Configure(const config::Config& c) {
    config_ = c;
    max_queued_ = c.max_queued_bytes_per_client;
    connection_limiter_.Configure(c.connection_rate, c.connection_burst);
    server_.set_max_message_size(c.max_frame_bytes);
    // Bodies up to 4x the limit are read and answered with a JSON 413 by the
    // API; beyond that websocketpp refuses them itself (bare 413) unread.
    server_.set_max_http_body_size(std::max<size_t>(4ull * c.max_body_bytes, 65536));
    interval_ms_ = static_cast<int64_t>(c.heartbeat_interval_s * 1000);
    timeout_ms_ = static_cast<int64_t>(c.heartbeat_timeout_s * 1000);
    if (listening_) ScheduleSweep();
  }

  // notifyd runs its own acceptor rather than websocketpp's listen(): it can
  // adopt a socket passed by systemd (websocketpp has no API for that,
  // TECH-NOTES §6) and it backs off when descriptors run out instead of
  // spinning (TECH-NOTES §8).
  bool Listen(const std::string& address, uint16_t port, std::string* error) {
    asio::error_code ec;
    asio::ip::address addr = asio::ip::make_address(address, ec);
    if (ec) {
      *error = "invalid listen address '" + address + "': " + ec.message();
      return false;
    }
    asio::ip::tcp::endpoint endpoint(addr, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message();
      asio::error_code ignored;
      acceptor_.close(ignored);
      return false;
    }
    StartServing();
    return true;
  }

  bool Adopt(int fd, std::string* error) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      *error = std::string("cannot use the socket passed by systemd: ") + std::strerror(errno);
      return false;
    }
    auto proto = ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
    asio::error_code ec;
    acceptor_.assign(proto, fd, ec);
    if (ec) {
      *error = "cannot use the socket passed by systemd: " + ec.message();
      return false;
    }
    StartServing();
    return true;
  }

  std::string LocalEndpoint() {
    asio::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (ec) return "?";
    std::string addr = ep.address().to_string();
    if (ep.address().is_v6()) addr = "[" + addr + "]";
    return addr + ":" + std::to_string(ep.port());
  }

  void Shutdown(int64_t timeout_ms, std::function<void()> done) {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    sweep_.cancel();
    websocketpp::lib::error_code ec;
    accept_backoff_.cancel();
    acceptor_.close(ec);
    listening_ = false;
    const std::string bye = protocol::EncodeServerShutdown();
    // Closing can run the close handler at once, which erases from sessions_.
    for (Session* s : Snapshot()) {
      if (!s->echo) s->SendText(bye);
      s->closing = true;
    }
    for (const ConnectionPtr& con : Connections()) {
      con->close(close_code::going_away, "Server shutting down", ec);
    }
    shutdown_timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    shutdown_timer_.async_wait([this](const asio::error_code& e) {
      if (e) return;
      spdlog::warn("{} client(s) did not close within the shutdown timeout; dropping them",
                   sessions_.size());
      for (const ConnectionPtr& con : Connections()) {
        websocketpp::lib::error_code ignored;
        con->terminate(ignored);
      }
      FinishShutdown();
    });
    if (sessions_.empty()) FinishShutdown();
  }

  size_t connection_count() const { return sessions_.size() - echo_count_; }
  size_t echo_count() const { return echo_count_; }

 private:
  template <typename F>
  void Guard(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in the {} handler: {}", what, e.what());
    }
  }

  std::vector<Session*> Snapshot() {
    std::vector<Session*> out;
    out.reserve(sessions_.size());
    for (auto& entry : sessions_) out.push_back(entry.second.get());
    return out;
  }

  // Strong references, so that closing one (which may erase its session at
  // once) leaves the list valid.
  std::vector<ConnectionPtr> Connections() {
    std::vector<ConnectionPtr> out;
    out.reserve(sessions_.size());
    for (auto& entry : sessions_) out.push_back(entry.second->con);
    return out;
  }

  Session* Find(Hdl h) {
    auto it = sessions_.find(h);
    return it == sessions_.end() ? nullptr : it->second.get();
  }

  void Heard(Hdl h) {
    if (Session* s = Find(h)) s->last_heard_ms = clock_.MonotonicMillis();
  }

  void OnTcpInit(Hdl h) {
    asio::error_code ec;
    server_.get_con_from_hdl(h)->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);
  }

  // Decides on an upgrade request before the 101 is sent.
  bool OnValidate(Hdl h) {
    ConnectionPtr con = server_.get_con_from_hdl(h);
    std::string path = PathOf(con->get_resource());
    http::Response refusal;
    std::optional<http::Response> denied;
    if (shutting_down_) {
      refusal = http::JsonError(503, "Service unavailable", "the server is shutting down");
    } else if (path != kWsPath && !(path == kEchoPath && config_.echo_enabled)) {
      refusal = http::JsonError(404, "Not found", "no WebSocket endpoint at " + path);
    } else if (denied = api_.AuthorizeSubscribe(ToHttpRequest(con)); denied) {
      refusal = std::move(*denied);
    } else if (double retry = 0; !connection_limiter_.Allow(PeerAddress(con), &retry)) {
      ++counters_.connections_rate_limited;
      refusal = http::JsonError(429, "Too many requests",
                                "too many new connections from this address; retry later");
      refusal.SetHeader("Retry-After", std::to_string(std::max<int64_t>(1, std::ceil(retry))));
    } else if (sessions_.size() >= config_.max_connections) {
      ++counters_.connections_over_limit;
      refusal = http::JsonError(503, "Service unavailable",
                                "connection limit reached (" +
                                    std::to_string(config_.max_connections) + ")");
      spdlog::warn("connection limit ({}) reached; refused {}", config_.max_connections,
                   PeerAddress(con));
    } else {
      return true;
    }
    spdlog::debug("refused a WebSocket upgrade from {} to {}: {}", PeerAddress(con), path,
                  refusal.status);
    api_.AddCommonHeaders(&refusal);
    con->set_status(static_cast<websocketpp::http::status_code::value>(refusal.status));
    for (const auto& [k, v] : refusal.headers) con->replace_header(k, v);
    con->set_body(refusal.body);
    return false;
  }

  void OnOpen(Hdl h) {
    ConnectionPtr con = server_.get_con_from_hdl(h);
    bool echo = PathOf(con->get_resource()) == kEchoPath;
    auto session = std::make_unique<Session>(con, echo, PeerAddress(con), clock_.MonotonicMillis(),
                                             max_queued_, [this](Session* s) { Overflowed(s); });
    Session* s = session.get();
    sessions_.emplace(h, std::move(session));
    if (echo) {
      ++echo_count_;
      spdlog::debug("echo client connected from {}", s->peer);
      s->SendText("Connected!");
      return;
    }
    const core::ClientInfo& info = hub_.Connect(s);
    s->handle = info.handle;
    s->client_id = info.id;
    spdlog::debug("client {} connected from {} (total: {})", info.id, s->peer,
                  connection_count());
    s->SendText(protocol::EncodeWelcome(info.id));
  }

  // A client that does not read what it is sent: stop queueing for it and
  // close it with 1008; the sweep terminates it if the close cannot get out.
  void Overflowed(Session* s) {
    ++counters_.slow_clients_dropped;
    spdlog::warn("client {} ({}) dropped: more than {} bytes queued for it (not reading)",
                 s->echo ? "echo" : s->client_id, s->peer, max_queued_);
    s->closing = true;
    s->dropped_at_ms = clock_.MonotonicMillis();
    ConnectionPtr con = s->con;
    asio::post(io_, [con] {
      websocketpp::lib::error_code ec;
      con->close(close_code::policy_violation, "Outbound queue limit exceeded", ec);
    });
  }

  void OnClose(Hdl h) {
    auto it = sessions_.find(h);
    if (it == sessions_.end()) return;
    Session* s = it->second.get();
    if (s->con->get_local_close_code() == close_code::message_too_big) ++counters_.frames_too_large;
    if (s->echo) {
      --echo_count_;
    } else {
      hub_.Disconnect(s->handle);
    }
    spdlog::debug("client {} ({}) disconnected: close code {}", s->echo ? "echo" : s->client_id,
                  s->peer, s->con->get_remote_close_code());
    sessions_.erase(it);
    ++closed_since_trim_;
    if (sessions_.empty() && closed_since_trim_ >= kTrimWhenIdleAfter) {
      malloc_trim(0);  // everyone left: hand the memory back now
      closed_since_trim_ = 0;
    }
    if (shutting_down_ && sessions_.empty()) FinishShutdown();
  }

  void OnMessage(Hdl h, const Server::message_ptr& msg) {
    Session* s = Find(h);
    if (s == nullptr) return;
    s->last_heard_ms = clock_.MonotonicMillis();
    bool text = msg->get_opcode() == websocketpp::frame::opcode::text;
    if (s->echo) {
      s->con->send("Echo: " + msg->get_payload(), msg->get_opcode());
      return;
    }
    if (!text) {
      s->SendText(protocol::EncodeError(protocol::BinaryFrameError()));
      return;
    }
    protocol::ParseResult parsed = protocol::ParseRequest(msg->get_payload());
    if (auto* err = std::get_if<protocol::ProtocolError>(&parsed)) {
      spdlog::debug("client {}: {} ({})", s->client_id, err->message,
                    protocol::ErrorCodeName(err->code));
      ++counters_.protocol_errors;
      if (err->code == protocol::ErrorCode::kInvalidChannel) ++counters_.invalid_channels;
      s->SendText(protocol::EncodeError(*err));
      return;
    }
    Handle(s, std::get<protocol::Request>(parsed));
  }

  void Handle(Session* s, const protocol::Request& req) {
    using protocol::RequestType;
    switch (req.type) {
      case RequestType::kSubscribe: {
        core::SubscribeResult r = hub_.Subscribe(s->handle, req.channel);
        if (!r.ok) {
          ++counters_.subscriptions_over_limit;
          s->SendText(protocol::EncodeError(
              {protocol::ErrorCode::kLimitExceeded,
               "Subscription limit reached: at most " +
                   std::to_string(config_.max_subscriptions_per_client) + " channels per client",
               req.id_json}));
          return;
        }
        spdlog::debug("client {} subscribed to {}", s->client_id, req.channel);
        s->SendText(protocol::EncodeSubscribed(req.channel, r.subscriber_count, req.id_json));
        return;
      }
      case RequestType::kUnsubscribe:
        hub_.Unsubscribe(s->handle, req.channel);
        s->SendText(protocol::EncodeUnsubscribed(req.channel, req.id_json));
        return;
      case RequestType::kSetName:
        if (req.name.size() > config_.max_name_bytes) {
          ++counters_.names_too_long;
          s->SendText(protocol::EncodeError(
              {protocol::ErrorCode::kLimitExceeded,
               "Name too long: at most " + std::to_string(config_.max_name_bytes) + " bytes",
               req.id_json}));
          return;
        }
        hub_.SetName(s->handle, req.name);
        s->SendText(protocol::EncodeNameSet(req.name, req.id_json));
        return;
      case RequestType::kListSubscriptions: {
        const core::ClientInfo* info = hub_.Find(s->handle);
        s->SendText(protocol::EncodeSubscriptions(info ? info->subscriptions
                                                       : std::vector<std::string>{},
                                                  req.id_json));
        return;
      }
      case RequestType::kPing:
        s->SendText(protocol::EncodePong(clock_.WallMillis(), req.id_json));
        return;
      case RequestType::kPong:
        return;  // last_heard_ms is already updated
    }
  }

  // The plain request that http::Api works on.
  static http::Request ToHttpRequest(const ConnectionPtr& con) {
    const auto& raw = con->get_request();
    http::Request req;
    req.method = raw.get_method();
    const std::string& resource = con->get_resource();
    size_t q = resource.find('?');
    req.path = resource.substr(0, q);
    if (q != std::string::npos) req.query = resource.substr(q + 1);
    for (const auto& [k, v] : raw.get_headers()) req.headers.emplace_back(k, v);
    req.body = raw.get_body();
    req.peer_address = PeerAddress(con);
    return req;
  }

  void OnHttp(Hdl h) {
    ConnectionPtr con = server_.get_con_from_hdl(h);
    auto start = std::chrono::steady_clock::now();
    http::Request req = ToHttpRequest(con);
    http::Response resp = api_.Handle(req);
    con->set_status(static_cast<websocketpp::http::status_code::value>(resp.status));
    for (const auto& [k, v] : resp.headers) con->replace_header(k, v);
    con->set_body(resp.body);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    spdlog::info("http {} \"{} {}\" {} {} {:.3f}ms", req.peer_address, req.method, req.path,
                 resp.status, resp.body.size(), us / 1000.0);
  }

  // One timer for every connection: sends heartbeats when due and closes
  // clients that have been silent for longer than the timeout.
  void ScheduleSweep() {
    int64_t tick = std::clamp<int64_t>(std::min(interval_ms_, timeout_ms_) / 4, 10, 1000);
    sweep_.expires_after(std::chrono::milliseconds(tick));
    sweep_.async_wait([this](const asio::error_code& e) {
      if (e || shutting_down_) return;
      Guard("heartbeat", [&] { Sweep(); });
      ScheduleSweep();
    });
  }

  void Sweep() {
    int64_t now = clock_.MonotonicMillis();
    std::string heartbeat;
    std::vector<ConnectionPtr> silent;
    std::vector<ConnectionPtr> stuck;
    for (auto& [hdl, s] : sessions_) {
      if (s->dropped_at_ms >= 0 && now - s->dropped_at_ms >= kDropGraceMs) {
        s->dropped_at_ms = -1;
        stuck.push_back(s->con);
      }
      if (s->closing) continue;
      websocketpp::lib::error_code ec;
      if (now - s->last_heard_ms >= timeout_ms_) {
        spdlog::info("client {} ({}) timed out after {} ms of silence",
                     s->echo ? "echo" : s->client_id, s->peer, now - s->last_heard_ms);
        s->closing = true;
        silent.push_back(s->con);
        continue;
      }
      if (now - s->last_ping_ms < interval_ms_) continue;
      s->last_ping_ms = now;
      if (!s->echo) {
        if (heartbeat.empty()) heartbeat = protocol::EncodeHeartbeat(clock_.WallMillis());
        s->SendText(heartbeat);
      }
      s->con->ping("", ec);
    }
    for (const ConnectionPtr& con : silent) {
      websocketpp::lib::error_code ec;
      con->close(close_code::normal, "Ping timeout", ec);
    }
    for (const ConnectionPtr& con : stuck) {
      websocketpp::lib::error_code ec;
      con->terminate(ec);
    }
    TrimMemory(now);
  }

  // glibc keeps freed memory (TECH-NOTES §4); give it back once many
  // connections have gone, at most once a second.
  void TrimMemory(int64_t now) {
    if (closed_since_trim_ < kTrimAfterCloses || now - last_trim_ms_ < 1000) return;
    malloc_trim(0);
    closed_since_trim_ = 0;
    last_trim_ms_ = now;
  }

  void StartServing() {
    listening_ = true;
    Accept();
    ScheduleSweep();
  }

  void Accept() {
    ConnectionPtr con = server_.get_connection();
    acceptor_.async_accept(con->get_raw_socket(),
                           [this, con](const asio::error_code& ec) { OnAccept(con, ec); });
  }

  void OnAccept(const ConnectionPtr& con, const asio::error_code& ec) {
    if (!ec) {
      con->start();
      Accept();
      return;
    }
    websocketpp::lib::error_code ignored = ec;
    con->terminate(ignored);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    bool exhausted = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                     ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
    if (!exhausted) {
      spdlog::debug("accept failed: {}", ec.message());
      Accept();
      return;
    }
    // Out of descriptors: retrying at once would spin. Wait, and say so once
    // every 10 s rather than once per attempt.
    ++accept_failures_;
    int64_t now = clock_.MonotonicMillis();
    if (now - last_accept_warning_ms_ >= 10000) {
      spdlog::warn("cannot accept connections: {} ({} failures; raise LimitNOFILE= or lower "
                   "limits.max_connections)",
                   ec.message(), accept_failures_);
      last_accept_warning_ms_ = now;
    }
    accept_backoff_.expires_after(std::chrono::milliseconds(100));
    accept_backoff_.async_wait([this](const asio::error_code& e) {
      if (!e) Accept();
    });
  }

  void FinishShutdown() {
    if (!shutdown_done_) return;
    shutdown_timer_.cancel();
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }

  asio::io_context& io_;
  core::Hub& hub_;
  http::Api& api_;
  const core::Clock& clock_;
  core::Counters& counters_;
  core::RateLimiter connection_limiter_;
  size_t max_queued_ = 4194304;
  uint64_t closed_since_trim_ = 0;
  int64_t last_trim_ms_ = -1000000;
  Server server_;
  config::Config config_;
  std::map<Hdl, std::unique_ptr<Session>, std::owner_less<Hdl>> sessions_;
  size_t echo_count_ = 0;
  int64_t interval_ms_ = 30000;
  int64_t timeout_ms_ = 60000;
  bool listening_ = false;
  asio::ip::tcp::acceptor acceptor_{io_};
  asio::steady_timer accept_backoff_{io_};
  uint64_t accept_failures_ = 0;
  int64_t last_accept_warning_ms_ = -1000000;
  bool shutting_down_ = false;
  asio::steady_timer sweep_;
  asio::steady_timer shutdown_timer_;
  std::function<void()> shutdown_done_;
};

WebSocketServer::WebSocketServer(asio::io_context& io, core::Hub& hub, http::Api& api,
                                 const core::Clock& clock, core::Counters& counters)
    : impl_(std::make_unique<Impl>(io, hub, api, clock, counters)) {}

WebSocketServer::~WebSocketServer() = default;

void WebSocketServer::Configure(const config::Config& config) { impl_->Configure(config); }

bool WebSocketServer::Listen(const std::string& address, uint16_t port, std::string* error) {
  return impl_->Listen(address, port, error);
}

bool WebSocketServer::Adopt(int fd, std::string* error) { return impl_->Adopt(fd, error); }

std::string WebSocketServer::LocalEndpoint() const { return impl_->LocalEndpoint(); }

void WebSocketServer::Shutdown(int64_t timeout_ms, std::function<void()> done) {
  impl_->Shutdown(timeout_ms, std::move(done));
}

size_t WebSocketServer::connection_count() const { return impl_->connection_count(); }

size_t WebSocketServer::echo_count() const { return impl_->echo_count(); }

}  // namespace notifyd::transport
