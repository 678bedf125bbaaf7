// Positions (PROTOCOL.md Part 2): every notification on a channel has a seq,
// 1, 2, 3, ... contiguous within an epoch, a random name for the stream the
// seq counts in. A new epoch begins only when continuity cannot be vouched
// for. This file holds the value types and the pure recovery decision; the
// Broker keeps the streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace notifyd::core {

/// A point in a channel's stream: the last seq a client saw of epoch `epoch`
/// (0 when it saw none).
struct Position {
  std::string epoch;
  uint64_t seq = 0;
  bool operator==(const Position& o) const { return epoch == o.epoch && seq == o.seq; }
};

/// Epochs are 8-32 characters of A-Za-z0-9.
bool IsValidEpoch(std::string_view epoch);

/// Parses "E:N" (a notification id, a Last-Event-ID, ?since=): a valid epoch,
/// ':', a decimal seq without sign or leading '+' (at most 19 digits).
std::optional<Position> ParsePosition(std::string_view text);
/// "E:N".
std::string FormatPosition(std::string_view epoch, uint64_t seq);

/// A channel's stream as the recovery decision sees it.
struct StreamView {
  std::string_view epoch;
  uint64_t top = 0;         ///< The latest seq (0: none yet).
  uint64_t first_kept = 0;  ///< The oldest seq still kept; 0 when none is kept.
};

struct Recovery {
  bool recovered = false;
  /// recovered: the seqs since.seq+1 .. top follow (missed = top - since.seq).
  uint64_t missed = 0;
};

/// PROTOCOL.md "Resume": recovered when `since` names the current epoch, is
/// not ahead of top, every seq after it is still kept, and there are at most
/// `recover_max` of them (0: no limit, as for HTTP pages).
Recovery DecideRecovery(const Position& since, const StreamView& stream, uint64_t recover_max);

}  // namespace notifyd::core
