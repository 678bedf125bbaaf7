// A text frame encoded once and shared by every recipient of a publish.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace notifyd::core {

struct Frame {
  explicit Frame(std::string t) : text(std::move(t)) {}
  Frame(std::string t, std::string position_id, uint64_t position_seq)
      : text(std::move(t)), id(std::move(position_id)), seq(position_seq) {}
  /// A `resync` push: the stream goes on from `position_id` ("E:top").
  struct ResyncTag {};
  Frame(ResyncTag, std::string t, std::string position_id)
      : text(std::move(t)), id(std::move(position_id)), resync(true) {}
  /// The JSON text, valid UTF-8.
  const std::string text;
  /// A notification's position "E:N" (its `id`, the SSE `id:` line); empty
  /// for frames that are not notifications.
  const std::string id;
  const uint64_t seq = 0;
  const bool resync = false;
  /// The transport's own prepared forms of `text` (the encoded WebSocket
  /// frame, the SSE event), built by the first recipient of each kind and
  /// reused by the rest. The core never looks inside; everything runs on the
  /// one event-loop thread.
  mutable std::shared_ptr<const void> prepared;
  mutable std::shared_ptr<const void> prepared_sse;
};

using FramePtr = std::shared_ptr<const Frame>;

/// What the hub delivers to: a WebSocket session or an SSE stream implements
/// it, tests use fakes.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  /// Queues `frame` for sending. Returns true when the frame was queued;
  /// false when the subscriber is closing or dropped (it is not counted as
  /// delivered). Must not call back into the Hub.
  virtual bool Deliver(const FramePtr& frame) = 0;
};

}  // namespace notifyd::core
