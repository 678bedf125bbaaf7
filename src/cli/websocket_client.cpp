#include "cli/websocket_client.h"

#include <openssl/ssl.h>

#include "cli/client_tls.h"
#include "version.h"

namespace notifyd::cli {
namespace {

template <class Endpoint>
bool InitEndpoint(Endpoint* client, asio::io_context* io, long open_handshake_ms,
                  long close_handshake_ms, std::string* error) {
  // By default websocketpp logs every frame and its payload (TECH-NOTES §5).
  client->clear_access_channels(websocketpp::log::alevel::all);
  client->clear_error_channels(websocketpp::log::elevel::all);
  websocketpp::lib::error_code ec;
  client->init_asio(io, ec);
  if (ec) {
    *error = ec.message();
    return false;
  }
  client->set_user_agent("notifyd-cli/" NOTIFYD_VERSION);
  client->set_open_handshake_timeout(open_handshake_ms);
  client->set_close_handshake_timeout(close_handshake_ms);
  return true;
}

template <class ConnectionPtr>
int FailureStatus(const ConnectionPtr& con) {
  int status = static_cast<int>(con->get_response_code());
  return status == 101 ? 0 : status;
}

template <class ConnectionPtr>
std::string FailureReason(const ConnectionPtr& con) {
  if (int status = FailureStatus(con); status != 0) {
    return "server answered " + std::to_string(status) + " " + con->get_response_msg() +
           " instead of upgrading to WebSocket";
  }
  // The transport error only explains websocketpp's catch-all code; after a
  // failed connect it may hold a later, unrelated shutdown error.
  websocketpp::lib::error_code ec = con->get_ec();
  asio::error_code transport_error = con->get_transport_ec();
  if (ec == websocketpp::transport::error::pass_through && transport_error) {
    return transport_error.message();
  }
  return ec.message();
}

template <class Endpoint>
WsEnding EndingOf(Endpoint& client, websocketpp::connection_hdl hdl) {
  WsEnding ending;
  websocketpp::lib::error_code ec;
  typename Endpoint::connection_ptr con = client.get_con_from_hdl(hdl, ec);
  if (!con) {
    ending.failure = ec.message();
    return ending;
  }
  ending.known = true;
  ending.failure_status = FailureStatus(con);
  ending.failure = FailureReason(con);
  ending.remote_close_code = con->get_remote_close_code();
  ending.remote_close_reason = con->get_remote_close_reason();
  if (con->get_transport_ec()) ending.transport_error = con->get_transport_ec().message();
  return ending;
}

}  // namespace

bool WsClient::Init(asio::io_context* io, const std::string& url, long open_handshake_ms,
                    long close_handshake_ms, std::string* error) {
  url_ = url;
  if (!InitEndpoint(&plain_, io, open_handshake_ms, close_handshake_ms, error) ||
      !InitEndpoint(&tls_, io, open_handshake_ms, close_handshake_ms, error)) {
    return false;
  }
  websocketpp::uri uri(url);
  if (!uri.get_valid()) return true;  // Connect says what is wrong with it
  secure_ = uri.get_secure();
  host_port_ = uri.get_host_port();
  if (!secure_) return true;
  tls_context_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (!SetUpClientTls(tls_context_.get(), uri.get_host(), error)) return false;
  tls_.set_tls_init_handler([this](websocketpp::connection_hdl) { return tls_context_; });
  return true;
}

bool WsClient::Connect(const std::string* token, Hdl* hdl, std::string* error) {
  websocketpp::lib::error_code ec;
  auto start = [&](auto& client) {
    auto con = client.get_connection(url_, ec);
    if (ec) return;
    if (token != nullptr) con->append_header("Authorization", "Bearer " + *token);
    *hdl = con->get_handle();
    client.connect(con);
  };
  secure_ ? start(tls_) : start(plain_);
  if (ec) *error = ec.message();
  return !ec;
}

void WsClient::Send(Hdl hdl, const std::string& text, websocketpp::lib::error_code& ec) {
  secure_ ? tls_.send(hdl, text, websocketpp::frame::opcode::text, ec)
          : plain_.send(hdl, text, websocketpp::frame::opcode::text, ec);
}

void WsClient::Close(Hdl hdl, websocketpp::close::status::value code,
                     websocketpp::lib::error_code& ec) {
  secure_ ? tls_.close(hdl, code, "", ec) : plain_.close(hdl, code, "", ec);
}

WsEnding WsClient::Ending(Hdl hdl) {
  if (!secure_) return EndingOf(plain_, hdl);
  WsEnding ending = EndingOf(tls_, hdl);
  if (!ending.known) return ending;
  // A certificate that does not verify is said as such, not as
  // websocketpp's "TLS handshake failed".
  websocketpp::lib::error_code ec;
  Tls::connection_ptr con = tls_.get_con_from_hdl(hdl, ec);
  if (con) {
    std::string failure = CertificateFailure(con->get_socket().native_handle(), host_port_);
    if (!failure.empty()) {
      ending.failure = failure;
      ending.untrusted = true;
    }
  }
  return ending;
}

}  // namespace notifyd::cli
