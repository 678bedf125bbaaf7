// The WebSocket client notifyd-cli's interactive mode, sub and tail share:
// websocketpp on asio, ws:// or wss://. websocketpp fixes TLS in an
// endpoint's type, so WsClient holds one endpoint of each kind and uses the
// one its URL's scheme needs; the URL is set once (Init), so every
// connection of a WsClient is of the same kind.
#pragma once

#include <memory>
#include <string>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace notifyd::cli {

/// How a connection ended or failed, for a status line.
struct WsEnding {
  bool known = false;     ///< The connection was still there to ask.
  int failure_status = 0; ///< The HTTP status of a refused upgrade (0: no answer).
  std::string failure;    ///< Why connecting failed, in words (after a failure).
  bool untrusted = false; ///< wss://: the server's certificate did not verify.
  websocketpp::close::status::value remote_close_code = websocketpp::close::status::no_status;
  std::string remote_close_reason;
  std::string transport_error;  ///< The transport's error after a close, "" for none.
};

class WsClient {
 public:
  using message_ptr = websocketpp::config::core_client::message_type::ptr;
  using Hdl = websocketpp::connection_hdl;

  /// Prepares both endpoints on `io` for connections to `url` (ws:// or
  /// wss://; for wss:// the server is verified as client_tls.h says):
  /// websocketpp's own logging off (it would log every frame and its
  /// payload), notifyd-cli's User-Agent, the bounds of the opening and
  /// closing handshakes. False and *error on failure.
  bool Init(asio::io_context* io, const std::string& url, long open_handshake_ms,
            long close_handshake_ms, std::string* error);

  /// Handlers, the same on both endpoints (websocketpp's signatures).
  template <class F>
  void set_open_handler(F f) { Both([&](auto& e) { e.set_open_handler(f); }); }
  template <class F>
  void set_close_handler(F f) { Both([&](auto& e) { e.set_close_handler(f); }); }
  template <class F>
  void set_fail_handler(F f) { Both([&](auto& e) { e.set_fail_handler(f); }); }
  template <class F>
  void set_message_handler(F f) { Both([&](auto& e) { e.set_message_handler(f); }); }
  template <class F>
  void set_ping_handler(F f) { Both([&](auto& e) { e.set_ping_handler(f); }); }

  /// Starts connecting to the URL of Init; `token` goes as
  /// "Authorization: Bearer". Fills *hdl, or *error for a URL websocketpp refuses.
  bool Connect(const std::string* token, Hdl* hdl, std::string* error);
  void Send(Hdl hdl, const std::string& text, websocketpp::lib::error_code& ec);
  void Close(Hdl hdl, websocketpp::close::status::value code, websocketpp::lib::error_code& ec);
  /// How the connection `hdl` ended or failed.
  WsEnding Ending(Hdl hdl);

 private:
  using Plain = websocketpp::client<websocketpp::config::asio_client>;
  using Tls = websocketpp::client<websocketpp::config::asio_tls_client>;

  template <class F>
  void Both(F f) {
    f(plain_);
    f(tls_);
  }

  bool secure_ = false;
  std::string url_;
  std::string host_port_;
  std::shared_ptr<asio::ssl::context> tls_context_;  ///< wss:// only; shared by its connections.
  Plain plain_;
  Tls tls_;
};

}  // namespace notifyd::cli
