#include "transport/websocket_session.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/printable.h"
#include "protocol/messages.h"

namespace notifyd::transport {

namespace {

using wire::Opcode;
namespace close_code = wire::close_code;

// The encoded frame of a notification, built once per publish and shared by
// every recipient: no allocation or re-encoding per delivery.
Bytes WireFrame(const core::Frame& frame) {
  if (frame.prepared) return std::static_pointer_cast<const std::string>(frame.prepared);
  auto bytes = std::make_shared<const std::string>(wire::EncodeFrame(Opcode::kText, frame.text));
  frame.prepared = bytes;
  return bytes;
}

}  // namespace

WebSocketSession::WebSocketSession(Connection& connection, bool echo, AddressSlot* slot)
    : Protocol(/*wants_drained=*/false),
      connection_(connection),
      server_(connection.server()),
      decoder_(server_.config().max_frame_bytes),
      slot_(slot),
      echo_(echo) {
  last_heard_ms_ = last_ping_ms_ = server_.clock().MonotonicMillis();
  server_.SessionOpened(echo_ ? SessionKind::kEcho : SessionKind::kWebSocket);
  if (echo_) {
    spdlog::debug("echo client connected from {}", connection_.peer());
    SendText("Connected!");
    return;
  }
  const core::ClientInfo& info = server_.hub().Connect(this);
  handle_ = info.handle;
  spdlog::debug("client {} connected from {} (total: {})", info.id, connection_.peer(),
                server_.connection_count());
  SendText(protocol::EncodeWelcome(info.id));
}

WebSocketSession::~WebSocketSession() = default;

std::string WebSocketSession::Describe() const {
  if (echo_) return "echo client";
  const core::ClientInfo* info = server_.hub().Find(handle_);
  return "client " + (info ? info->id : std::string("?"));
}

// --- sending ------------------------------------------------------------------

bool WebSocketSession::Deliver(const core::FramePtr& frame) {
  if (!open_ || overflowed_ || connection_.closed()) return false;
  Bytes bytes = WireFrame(*frame);
  if (!Admit(bytes->size())) return false;
  connection_.Queue(std::move(bytes));
  return true;
}

/// True when `bytes` more fit under the per-client cap; else drops the client.
bool WebSocketSession::Admit(size_t bytes) {
  if (overflowed_) return false;
  if (connection_.queued() + bytes <= server_.config().max_queued_bytes_per_client) return true;
  Overflowed();
  return false;
}

void WebSocketSession::SendText(std::string_view text) { SendFrame(Opcode::kText, text); }

void WebSocketSession::SendFrame(Opcode opcode, std::string_view payload) {
  if (close_sent_ || connection_.closed()) return;
  if (!Admit(payload.size() + wire::kMaxFrameHeader)) return;
  connection_.Queue(std::make_shared<const std::string>(wire::EncodeFrame(opcode, payload)));
}

// A client that does not read what it is sent: stop queueing for it and
// close it with 1008; the sweep ends it if the close cannot get out.
void WebSocketSession::Overflowed() {
  overflowed_ = true;
  ++server_.counters().slow_clients_dropped;
  spdlog::warn("{} ({}) dropped: more than {} bytes queued for it (not reading)", Describe(),
               connection_.peer(), server_.config().max_queued_bytes_per_client);
  connection_.DropUnstarted();  // frames not yet started will never be read
  CloseWebSocket(close_code::kPolicyViolation, "Outbound queue limit exceeded");
  // Also when a close was under way already: 2 s, not more.
  connection_.set_deadline(server_.clock().MonotonicMillis() + kCloseTimeoutMs);
}

// --- receiving ----------------------------------------------------------------

void WebSocketSession::OnData(std::string_view data) {
  decoder_.Feed(data);
  ConsumeFrames();
}

void WebSocketSession::ConsumeFrames() {
  while (connection_.state() == Connection::State::kOpen) {
    wire::WsEvent e = decoder_.Next();
    switch (e.kind) {
      case wire::WsEvent::Kind::kNeedMore:
        return;
      case wire::WsEvent::Kind::kMessage:
        last_heard_ms_ = server_.clock().MonotonicMillis();
        if (open_) OnMessage(e);
        break;
      case wire::WsEvent::Kind::kPing:
        last_heard_ms_ = server_.clock().MonotonicMillis();
        if (open_) SendFrame(Opcode::kPong, e.payload);
        break;
      case wire::WsEvent::Kind::kPong:
        last_heard_ms_ = server_.clock().MonotonicMillis();
        break;
      case wire::WsEvent::Kind::kClose:
        // Echo the client's code (RFC 6455 §5.5.1), then end the connection.
        remote_close_ = e.close_code;
        EndWebSocket(e.close_code, {});
        return;
      case wire::WsEvent::Kind::kError:
        spdlog::debug("{} ({}): {}; closing with {}", Describe(), connection_.peer(),
                      core::Printable(e.payload), e.close_code);
        if (e.close_code == close_code::kMessageTooBig) ++server_.counters().frames_too_large;
        EndWebSocket(e.close_code, e.payload);
        return;
    }
  }
}

void WebSocketSession::OnMessage(wire::WsEvent& message) {
  bool text = message.opcode == Opcode::kText;
  if (echo_) {
    SendFrame(message.opcode, "Echo: " + message.payload);
    return;
  }
  http::SessionApi::Reply reply =
      server_.session_api().HandleMessage(handle_, text, message.payload);
  if (reply.text) SendText(*reply.text);
  for (const core::FramePtr& frame : reply.replay) server_.hub().DeliverTo(handle_, frame);
}

// --- closing ------------------------------------------------------------------

// Sends our close frame with `code` (none if one went out already; an
// empty one for 1005, which may not be sent) as the connection's last bytes.
void WebSocketSession::EndWebSocket(uint16_t code, std::string_view reason) {
  open_ = false;
  int64_t deadline = connection_.deadline();
  if (close_sent_) {
    connection_.SendLast({});
  } else {
    close_sent_ = true;
    local_close_ = code;
    connection_.SendLast(code == close_code::kNoStatus ? wire::EncodeFrame(Opcode::kClose, {})
                                                      : wire::EncodeCloseFrame(code, reason));
  }
  // A deadline already running (a dropped client's 2 s) stays.
  if (deadline >= 0 && !connection_.closed()) {
    connection_.set_deadline(std::min(deadline, connection_.deadline()));
  }
}

// Starts the closing handshake; the client's close frame (or the deadline)
// ends the connection.
void WebSocketSession::CloseWebSocket(uint16_t code, std::string_view reason) {
  if (close_sent_ || connection_.state() != Connection::State::kOpen) return;
  open_ = false;
  close_sent_ = true;
  local_close_ = code;
  connection_.set_deadline(server_.clock().MonotonicMillis() + kCloseTimeoutMs);
  connection_.Queue(std::make_shared<const std::string>(wire::EncodeCloseFrame(code, reason)));
}

void WebSocketSession::Shutdown() {
  if (!open_) return;
  if (!echo_) SendText(protocol::EncodeServerShutdown());
  CloseWebSocket(close_code::kGoingAway, "Server shutting down");
}

void WebSocketSession::OnClosed() {
  // 1006: the TCP connection ended without the client's close frame;
  // ours 0: notifyd sent none.
  spdlog::debug("{} ({}) disconnected: close code {} (ours {})", Describe(), connection_.peer(),
                remote_close_, local_close_);
  if (!echo_) server_.hub().Disconnect(handle_);
  server_.SessionClosed(echo_ ? SessionKind::kEcho : SessionKind::kWebSocket, slot_);
  slot_ = nullptr;
}

// --- heartbeat ----------------------------------------------------------------

void WebSocketSession::OnSweep(int64_t now_ms) {
  if (!open_) return;
  const config::Config& config = server_.config();
  const auto timeout_ms = static_cast<int64_t>(config.heartbeat_timeout_s * 1000);
  const auto interval_ms = static_cast<int64_t>(config.heartbeat_interval_s * 1000);
  if (now_ms - last_heard_ms_ >= timeout_ms) {
    spdlog::info("{} ({}) timed out after {} ms of silence", Describe(), connection_.peer(),
                 now_ms - last_heard_ms_);
    CloseWebSocket(close_code::kNormal, "Ping timeout");
    return;
  }
  if (now_ms - last_ping_ms_ < interval_ms) return;
  last_ping_ms_ = now_ms;
  Heartbeat();
}

// A `heartbeat` message (for /ws) and a ping frame, both encoded once per
// sweep and shared by every session.
void WebSocketSession::Heartbeat() {
  if (!echo_) {
    const Bytes& heartbeat = server_.HeartbeatFrame();
    if (!Admit(heartbeat->size())) return;
    connection_.Queue(heartbeat);
  }
  const Bytes& ping = server_.PingFrame();
  if (!close_sent_ && Admit(ping->size())) connection_.Queue(ping);
}

}  // namespace notifyd::transport
