// The network side: one listener on the daemon's io_context that serves /ws
// (sessions adapted to core::Subscriber), /ws/echo, and plain HTTP on the same
// port (handed to http::Api). HTTP and WebSocket framing are notifyd's own
// (src/wire/), on asio sockets; heartbeats and every deadline run from one
// sweep timer. Everything here runs on the single io thread (TECH-NOTES §3).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "config/config.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
#include "http/api.h"

namespace notifyd::transport {

class WebSocketServer {
 public:
  WebSocketServer(asio::io_context& io, core::Hub& hub, http::Api& api, const core::Clock& clock,
                  core::Counters& counters);
  ~WebSocketServer();
  WebSocketServer(const WebSocketServer&) = delete;
  WebSocketServer& operator=(const WebSocketServer&) = delete;

  /// Applies limits, heartbeat and echo settings; on reload they apply to
  /// existing connections too, except the frame limit (new connections only).
  void Configure(const config::Config& config);
  /// Binds and starts accepting. False with *error on failure.
  bool Listen(const std::string& address, uint16_t port, std::string* error);
  /// Serves on a listening socket passed by systemd (socket activation).
  bool Adopt(int fd, std::string* error);
  /// The bound address, "127.0.0.1:8080" or "[::]:8080".
  std::string LocalEndpoint() const;
  /// Stops accepting, sends every client `server_shutdown` and a close 1001,
  /// then calls `done` once all are closed or `timeout_ms` has passed.
  void Shutdown(int64_t timeout_ms, std::function<void()> done);

  /// Open /ws connections.
  size_t connection_count() const;
  /// Open /ws/echo connections.
  size_t echo_count() const;

  class Impl;  ///< Defined in websocket_server.cpp.

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace notifyd::transport
