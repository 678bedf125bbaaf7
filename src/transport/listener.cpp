#include "transport/listener.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

namespace notifyd::transport {

Listener::Listener(asio::io_context& io, const core::Clock& clock)
    : clock_(clock), acceptor_(io), backoff_(io) {}

bool Listener::Bind(const std::string& address, uint16_t port, std::string* error) {
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
  return true;
}

bool Listener::Adopt(int fd, std::string* error) {
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
  return true;
}

void Listener::Start(AcceptHandler handler) {
  handler_ = std::move(handler);
  Accept();
}

void Listener::Close() {
  backoff_.cancel();
  asio::error_code ignored;
  acceptor_.close(ignored);
}

std::string Listener::LocalEndpoint() const {
  asio::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  if (ec) return "?";
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

void Listener::Accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      OnError(ec);
      return;
    }
    try {
      handler_(std::move(socket));
    } catch (const std::exception& e) {
      spdlog::error("unexpected error while accepting a connection: {}", e.what());
    }
    Accept();
  });
}

void Listener::OnError(const asio::error_code& ec) {
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
  ++failures_;
  int64_t now = clock_.MonotonicMillis();
  if (now - last_warning_ms_ >= 10000) {
    spdlog::warn("cannot accept connections: {} ({} failures; raise LimitNOFILE= or lower "
                 "limits.max_connections)",
                 ec.message(), failures_);
    last_warning_ms_ = now;
  }
  backoff_.expires_after(std::chrono::milliseconds(100));
  backoff_.async_wait([this](const asio::error_code& e) {
    if (!e) Accept();
  });
}

}  // namespace notifyd::transport
