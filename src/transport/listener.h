// Accepts TCP connections on one listening socket, bound here or passed by
// systemd (socket activation), and hands each to a callback. When file
// descriptors run out it backs off instead of spinning on the error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "core/clock.h"

namespace notifyd::transport {

class Listener {
 public:
  using AcceptHandler = std::function<void(asio::ip::tcp::socket)>;

  Listener(asio::io_context& io, const core::Clock& clock);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// Binds `address`:`port` (0: any free port). False with *error on failure.
  bool Bind(const std::string& address, uint16_t port, std::string* error);
  /// Takes a listening socket passed by systemd. False with *error on failure.
  bool Adopt(int fd, std::string* error);
  /// Accepts until Close(), calling `handler` with every new socket.
  void Start(AcceptHandler handler);
  /// Stops accepting and closes the listening socket.
  void Close();
  /// The bound address, "127.0.0.1:8080" or "[::]:8080"; "?" when not bound.
  std::string LocalEndpoint() const;

 private:
  void Accept();
  void OnError(const asio::error_code& ec);

  const core::Clock& clock_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  AcceptHandler handler_;
  uint64_t failures_ = 0;
  int64_t last_warning_ms_ = -1000000;
};

}  // namespace notifyd::transport
