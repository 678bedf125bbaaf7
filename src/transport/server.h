// The network side of the daemon, and the manager of its connections: one
// Listener on the daemon's io_context (and a second one for TLS, [tls]) serves /ws (WebSocket sessions that the
// hub delivers to), /ws/echo, server-sent event streams and plain HTTP (HTTP
// exchanges handed to http::Api) on the same port. The Server owns every Connection, writes their
// send queues in batched flush passes, runs the one sweep timer (heartbeats,
// timeouts, every deadline), enforces the connection limits, and stops them
// all at shutdown. Everything here runs on the single io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "config/config.h"
#include "core/broker.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
#include "core/rate_limiter.h"
#include "http/api.h"
#include "http/session_api.h"
#include "transport/batch_sender.h"
#include "transport/connection.h"
#include "transport/listener.h"
#include "transport/tls_context.h"

namespace notifyd::transport {

// A request head (and body) or a WebSocket handshake must arrive within this.
inline constexpr int64_t kRequestTimeoutMs = 5000;
// How long the peer gets to close once our last bytes are out, a closing
// handshake we started to complete, and a client dropped for not reading.
inline constexpr int64_t kCloseTimeoutMs = 2000;
// How long a connection gets to send its last response or close frame.
inline constexpr int64_t kLastWriteTimeoutMs = 30000;

/// The long-lived kinds of connection, which count against max_connections.
enum class SessionKind {
  kWebSocket,  ///< A /ws session.
  kEcho,       ///< A /ws/echo session.
  kEvents,     ///< A server-sent event stream.
};

class Server {
 public:
  Server(asio::io_context& io, core::Hub& hub, core::Broker& broker, http::Api& api,
         http::SessionApi& session_api, const core::Clock& clock, core::Counters& counters);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Applies limits, heartbeat, keep-alive and echo settings; on reload they
  /// apply to existing connections too, except the frame limit (new sessions).
  void Configure(const config::Config& config);
  /// Binds and starts accepting. False with *error on failure.
  bool Listen(const std::string& address, uint16_t port, std::string* error);
  /// Serves on a listening socket passed by systemd (socket activation).
  bool Adopt(int fd, std::string* error);
  /// The bound address, "127.0.0.1:8080" or "[::]:8080".
  std::string LocalEndpoint() const { return listener_.LocalEndpoint(); }

  // --- TLS ([tls]): a second listener whose connections speak TLS and are
  // then served exactly as the plain port's. ---------------------------------

  /// Binds the TLS listener and serves on it with `context`. False with *error.
  bool ListenTls(const std::string& address, uint16_t port, std::shared_ptr<TlsContext> context,
                 std::string* error);
  /// The same on a listening socket passed by systemd.
  bool AdoptTls(int fd, std::shared_ptr<TlsContext> context, std::string* error);
  /// The certificate for connections accepted from now on (a reload).
  void SetTlsContext(std::shared_ptr<TlsContext> context) { tls_context_ = std::move(context); }
  bool tls_enabled() const { return tls_context_ != nullptr; }
  /// The TLS listener's address; "?" when there is none.
  std::string TlsEndpoint() const { return tls_listener_.LocalEndpoint(); }
  /// Stops accepting, sends every client `server_shutdown` and a close 1001,
  /// ends event streams once what is queued is out and HTTP connections once
  /// their response is out (a deferred reply once it is made), then calls
  /// `done` once every session is closed and every deferred reply sent, or
  /// `timeout_ms` has passed.
  void Shutdown(int64_t timeout_ms, std::function<void()> done);

  /// Open /ws sessions.
  size_t connection_count() const { return sessions_ - echo_count_ - sse_streams_; }
  /// Open /ws/echo sessions.
  size_t echo_count() const { return echo_count_; }
  /// Open server-sent event streams.
  size_t sse_streams() const { return sse_streams_; }

  // --- for connections, exchanges and sessions ---------------------------------

  const config::Config& config() const { return config_; }
  const core::Clock& clock() const { return clock_; }
  core::Counters& counters() { return counters_; }
  core::Hub& hub() { return hub_; }
  core::Broker& broker() { return broker_; }
  http::Api& api() { return api_; }
  http::SessionApi& session_api() { return session_api_; }
  bool shutting_down() const { return shutting_down_; }
  /// The shared read buffer: an idle connection holds none of its own.
  std::vector<char>& read_buffer() { return read_buffer_; }
  /// The shared buffer TLS connections decrypt into (one record's worth).
  std::vector<char>& tls_buffer() { return tls_buffer_; }
  /// The Date header value for now (formatted once a second).
  const std::string& Date();

  /// A heartbeat message and a ping frame, encoded once per sweep and shared.
  const Bytes& HeartbeatFrame();
  const Bytes& PingFrame() const { return ping_; }

  /// False when more TCP connections than limits.max_connections are open
  /// outside WebSocket sessions: HTTP responses then close their connection,
  /// so idle keep-alive connections cannot take every descriptor.
  bool KeepAliveAllowed() const {
    return connections_.size() - sessions_ <= config_.max_connections;
  }

  /// Runs `task` in a later turn of the event loop.
  void Post(std::function<void()> task);

  /// Adds `c` to the next flush pass.
  void MarkDirty(Connection* c);
  /// Forgets a closed connection.
  void Remove(Connection* c);

  /// Decides on a session (a WebSocket upgrade, an event stream) the headers
  /// allowed, by the server's limits (shutdown, max_connections, per-address
  /// rate and cap): nullopt with *slot set (or nullptr when exempt) when it
  /// may go on.
  std::optional<http::Response> Admit(const http::Api::ClientPeer& peer, AddressSlot** slot);
  /// A session opened or closed; `slot` as from Admit.
  void SessionOpened(SessionKind kind);
  void SessionClosed(SessionKind kind, AddressSlot* slot);

  /// An HTTP reply was deferred (a publish waiting for its commit), and later
  /// sent or given up with its connection: shutdown waits for these.
  void ReplyDeferred() { ++deferred_replies_; }
  void DeferredReplyEnded();

 private:
  void OnAccept(asio::ip::tcp::socket socket, bool tls);
  void StartServing();
  void StartServingTls(std::shared_ptr<TlsContext> context);
  void FlushAll();
  void PostFlush();
  void ScheduleSweep();
  void Sweep();
  void TrimMemory(int64_t now);
  /// Finishes the shutdown when no session is open and no reply deferred.
  void FinishShutdownIfDone();
  void FinishShutdown();
  std::vector<ConnectionPtr> Snapshot() const;

  asio::io_context& io_;
  core::Hub& hub_;
  core::Broker& broker_;
  http::Api& api_;
  http::SessionApi& session_api_;
  const core::Clock& clock_;
  core::Counters& counters_;
  config::Config config_;
  core::RateLimiter connection_limiter_;  ///< Keyed by the client's limit key.
  Listener listener_;
  Listener tls_listener_;
  std::shared_ptr<TlsContext> tls_context_;  ///< For new TLS connections; null: no TLS.

  std::unordered_map<Connection*, ConnectionPtr> connections_;
  std::unordered_map<std::string, uint32_t> per_address_;  ///< Open sessions per limit key.
  size_t sessions_ = 0;                                    ///< Open sessions of every kind.
  size_t echo_count_ = 0;
  size_t sse_streams_ = 0;
  size_t deferred_replies_ = 0;
  std::vector<char> read_buffer_;
  std::vector<char> tls_buffer_;

  std::vector<ConnectionPtr> dirty_;  ///< Connections with bytes to send, from dirty_head_ on.
  size_t dirty_head_ = 0;
  std::vector<Connection*> batch_;    ///< FlushAll's sends, in BatchSender order.
  bool flush_posted_ = false;
  BatchSender sender_;

  Bytes heartbeat_;  ///< This sweep's heartbeat frame; null until one is needed.
  const Bytes ping_;
  std::string date_;
  int64_t date_second_ = -1;
  uint64_t closed_since_trim_ = 0;
  int64_t last_trim_ms_ = -1000000;
  bool serving_ = false;
  bool shutting_down_ = false;
  asio::steady_timer sweep_;
  asio::steady_timer shutdown_timer_;
  std::function<void()> shutdown_done_;
};

}  // namespace notifyd::transport
