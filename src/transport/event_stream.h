// A server-sent events stream (PROTOCOL.md "Server-sent events"): a
// Connection after an accepted GET /api/events/{channel}, whose 200 head
// (without a body length: the stream ends when the connection does) is
// already queued. It is the hub's core::Subscriber for that one channel and
// sends each notification as an event (`id: E:N`, `event: notification`,
// `data: <the notification JSON>`, a blank line), built once per frame and
// shared by every stream. It resumes from the position the request named,
// sends `: ping` every heartbeat interval, and drops a client that does not
// read (max_queued_bytes_per_client). Input from the client is read and
// ignored; its EOF ends the stream.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/frame.h"
#include "core/hub.h"
#include "http/api.h"
#include "transport/connection.h"
#include "transport/server.h"

namespace notifyd::transport {

class EventStream final : public Protocol, public core::Subscriber {
 public:
  /// Opens the stream on `connection`: registers a client with the hub,
  /// subscribes it to start.channel and queues, when start.since was given,
  /// the missed notifications (recovered) or a `resync` event (not). `slot`
  /// is the per-address slot taken by Server::Admit, given back on close.
  EventStream(Connection& connection, AddressSlot* slot, http::Api::EventsStart start);
  ~EventStream() override;

  // Protocol
  /// A GET has no body: whatever the client sends is ignored.
  void OnData(std::string_view data) override { (void)data; }
  void OnSweep(int64_t now_ms) override;
  void OnClosed() override;
  std::string Describe() const override;
  /// Closes the connection once what is queued is sent.
  void Shutdown() override;

  // core::Subscriber: queues the notification's event unless the stream is
  // closing or over its send-queue cap.
  bool Deliver(const core::FramePtr& frame) override;

 private:
  void Resume(const std::optional<core::Position>& since);
  void Resumed(const std::optional<core::Position>& since, const core::ResumeResult& resume);
  bool Admit(size_t bytes);
  void Overflowed();

  Connection& connection_;
  Server& server_;
  const std::string channel_;
  core::ClientHandle handle_ = 0;
  AddressSlot* slot_;  ///< nullptr when exempt from the per-address cap.
  int64_t last_ping_ms_ = 0;
  bool open_ = true;  ///< Not shutting down.
  /// Expires with the stream: a resume answered later finds it gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  bool overflowed_ = false;
};

}  // namespace notifyd::transport
