// A WebSocket session: a Connection after a successful upgrade to /ws or
// /ws/echo. It decodes the client's frames (RFC 6455), answers pings, runs
// the closing handshake and the heartbeat, and queues what the hub delivers:
// for /ws it is the hub's core::Subscriber, and its messages are handled by
// http::SessionApi; /ws/echo answers each message with "Echo: " + message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/frame.h"
#include "core/hub.h"
#include "transport/connection.h"
#include "transport/server.h"
#include "wire/websocket.h"

namespace notifyd::transport {

class WebSocketSession final : public Protocol, public core::Subscriber {
 public:
  /// Opens the session on `connection` (the 101 is already queued): registers
  /// a /ws client with the hub and queues its `welcome`, or the echo greeting.
  /// `slot` is the per-address slot taken by Server::Admit, given back on close.
  WebSocketSession(Connection& connection, bool echo, AddressSlot* slot);
  ~WebSocketSession() override;

  // Protocol
  void OnData(std::string_view data) override;
  void OnSweep(int64_t now_ms) override;
  void OnClosed() override;
  std::string Describe() const override;

  // core::Subscriber: queues a notification unless the session is closing
  // or over its send-queue cap.
  bool Deliver(const core::FramePtr& frame) override;

  /// Sends `server_shutdown` (for /ws) and starts the closing handshake with 1001.
  void Shutdown() override;

 private:
  void ConsumeFrames();
  void OnMessage(wire::WsEvent& message);
  bool Admit(size_t bytes);
  void SendText(std::string_view text);
  void SendFrame(wire::Opcode opcode, std::string_view payload);
  void EndWebSocket(uint16_t code, std::string_view reason);
  void CloseWebSocket(uint16_t code, std::string_view reason);
  void Overflowed();
  void Heartbeat();

  Connection& connection_;
  Server& server_;
  wire::WsDecoder decoder_;
  core::ClientHandle handle_ = 0;  ///< /ws only; 0 for echo.
  AddressSlot* slot_;              ///< nullptr when exempt from the per-address cap.
  int64_t last_heard_ms_ = 0;
  int64_t last_ping_ms_ = 0;
  uint16_t local_close_ = 0;
  uint16_t remote_close_ = wire::close_code::kAbnormal;
  bool echo_;
  bool open_ = true;  ///< No close frame sent or received yet.
  bool close_sent_ = false;
  bool overflowed_ = false;
};

}  // namespace notifyd::transport
