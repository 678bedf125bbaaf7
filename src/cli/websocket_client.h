// The websocketpp client endpoint notifyd-cli uses (plain ws://, asio) and
// what its interactive mode, sub and tail share about it.
#pragma once

#include <string>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace notifyd::cli {

using WsClient = websocketpp::client<websocketpp::config::asio_client>;

/// Prepares `client` to run on `io`: websocketpp's own logging off (it would
/// log every frame and its payload), notifyd-cli's User-Agent, and
/// `close_handshake_ms` as the bound of a close. False and *error on failure.
bool InitWsClient(WsClient* client, asio::io_context* io, long close_handshake_ms,
                  std::string* error);

/// Why connecting `con` failed, in words: the HTTP status when the server
/// answered without upgrading, else the transport's or websocketpp's error.
std::string ConnectFailureReason(const WsClient::connection_ptr& con);

/// The HTTP status of a failed connect (0 when the server never answered).
int ConnectFailureStatus(const WsClient::connection_ptr& con);

}  // namespace notifyd::cli
