#include "cli/websocket_client.h"

#include "version.h"

namespace notifyd::cli {

bool InitWsClient(WsClient* client, asio::io_context* io, long close_handshake_ms,
                  std::string* error) {
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
  client->set_close_handshake_timeout(close_handshake_ms);
  return true;
}

int ConnectFailureStatus(const WsClient::connection_ptr& con) {
  int status = static_cast<int>(con->get_response_code());
  return status == 101 ? 0 : status;
}

std::string ConnectFailureReason(const WsClient::connection_ptr& con) {
  if (int status = ConnectFailureStatus(con); status != 0) {
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

}  // namespace notifyd::cli
