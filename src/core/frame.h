// A text frame encoded once and shared by every recipient of a publish.
#pragma once

#include <memory>
#include <string>

namespace notifyd::core {

struct Frame {
  explicit Frame(std::string t) : text(std::move(t)) {}
  /// The JSON text, valid UTF-8.
  const std::string text;
  /// The transport's own prepared form of `text` (the encoded frame),
  /// built by the first recipient and reused by the rest. The core never
  /// looks inside; everything runs on the one event-loop thread.
  mutable std::shared_ptr<const void> prepared;
};

using FramePtr = std::shared_ptr<const Frame>;

/// What the hub delivers to: a WebSocket session implements it, tests use fakes.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  /// Queues `frame` for sending. Returns true when the frame was queued;
  /// false when the subscriber is closing or dropped (it is not counted as
  /// delivered). Must not call back into the Hub.
  virtual bool Deliver(const FramePtr& frame) = 0;
};

}  // namespace notifyd::core
