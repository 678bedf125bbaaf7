// What sub and tail remember per channel to resume after a lost connection
// (PROTOCOL.md Part 2 "Resume over WebSocket"): the last position seen,
// moved on by subscribed replies, notifications and resync pushes, and the
// position each pending subscribe was sent with. Pure bookkeeping: it
// decides what to print and words the status lines; the caller prints them.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cli/stream_codec.h"
#include "core/history.h"

namespace notifyd::cli {

class ResumeTracker {
 public:
  /// What to do with a notification.
  enum class Delivery {
    kPrint,      ///< New: print it (the position has moved to it).
    kDuplicate,  ///< At or before the position in the same epoch: printed already.
  };

  /// Follows `channel`, from `start` (--since: the last position seen) or,
  /// without it, from wherever the channel stands when subscribed.
  void Add(const std::string& channel, std::optional<core::Position> start);

  /// Stops following `channel` (the server refused to subscribe it).
  void Remove(const std::string& channel);

  /// True while `channel` is followed.
  bool Has(const std::string& channel) const;

  /// The `since` for subscribing `channel` now: its last position, if any.
  /// Remembered until the subscribed reply, which OnSubscribed reads.
  std::optional<core::Position> BeginSubscribe(const std::string& channel);

  /// The "subscribed" reply. Without a since, or when the server could not
  /// resume, the position becomes the channel's latest (epoch, seq); with
  /// recovered:true it stays, and the missed notifications that follow move
  /// it. Returns the status line.
  std::string OnSubscribed(const StreamMessage& message);

  /// A notification. Sets *note to a status line when the stream skipped
  /// ahead or changed epoch without a resync (else leaves it empty).
  Delivery OnNotification(const StreamMessage& message, std::string* note);

  /// A "resync" push: the position becomes the one it names. Returns the
  /// status line.
  std::string OnResync(const StreamMessage& message);

  /// The last position of `channel`, when known.
  std::optional<core::Position> Last(const std::string& channel) const;

 private:
  struct ChannelState {
    std::optional<core::Position> last;        // the last notification seen, or where it stood
    std::optional<core::Position> sent_since;  // with the subscribe awaiting its reply
    bool subscribe_pending = false;
  };

  ChannelState* Find(const std::optional<std::string>& channel);

  std::map<std::string, ChannelState> channels_;
};

}  // namespace notifyd::cli
