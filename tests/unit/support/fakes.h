// Hand-written fakes for the socket-free core: a clock the test sets, a
// subscriber that records what it is handed (and can refuse it), and an
// encoder that counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/hub.h"

namespace notifyd::testing_support {

/// A clock that moves only when the test says so. Both clocks count in
/// microseconds; the millisecond readings are those divided by 1000.
class FakeClock final : public core::Clock {
 public:
  /// 2026-11-25T19:07:29.123Z, an arbitrary instant with a millisecond part.
  static constexpr int64_t kDefaultWallMillis = 1795633649123;

  int64_t WallMillis() const override { return wall_us_ / 1000; }
  int64_t MonotonicMillis() const override { return monotonic_us_ / 1000; }
  int64_t MonotonicMicros() const override { return monotonic_us_; }

  void SetWallMillis(int64_t ms) { wall_us_ = ms * 1000; }
  void SetMonotonicMillis(int64_t ms) { monotonic_us_ = ms * 1000; }
  /// Moves both clocks forward by `ms`.
  void Advance(int64_t ms) { AdvanceMicros(ms * 1000); }
  /// Moves both clocks forward by `us`.
  void AdvanceMicros(int64_t us) {
    wall_us_ += us;
    monotonic_us_ += us;
  }

 private:
  int64_t wall_us_ = kDefaultWallMillis * 1000;
  int64_t monotonic_us_ = 1000 * 1000;
};

/// Records every frame the hub hands it, in order, and queues it unless told
/// to refuse (as a session that is closing or was dropped refuses).
class FakeSubscriber final : public core::Subscriber {
 public:
  bool Deliver(const core::FramePtr& frame) override {
    frames_.push_back(frame);
    return accepting_;
  }

  /// Whether later Deliver calls report the frame as queued (default true).
  void set_accepting(bool accepting) { accepting_ = accepting; }

  const std::vector<core::FramePtr>& frames() const { return frames_; }
  /// The frames' texts, in delivery order.
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    out.reserve(frames_.size());
    for (const core::FramePtr& f : frames_) out.push_back(f->text);
    return out;
  }

 private:
  std::vector<core::FramePtr> frames_;
  bool accepting_ = true;
};

/// Encodes a notification as "channel|id|title" and counts the calls.
class FakeEncoder final : public core::NotificationEncoder {
 public:
  std::string Encode(const core::Notification& n) const override {
    ++calls_;
    last_ = n;
    return n.channel + "|" + n.id + "|" + n.title;
  }
  std::string EncodeResync(const std::string& channel, const std::string& epoch, uint64_t top,
                           std::string_view reason) const override {
    return "resync|" + channel + "|" + epoch + ":" + std::to_string(top) + "|" +
           std::string(reason);
  }

  int calls() const { return calls_; }
  /// The notification passed to the last Encode call.
  const core::Notification& last() const { return last_; }

 private:
  mutable int calls_ = 0;
  mutable core::Notification last_;
};

}  // namespace notifyd::testing_support
