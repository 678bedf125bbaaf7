#include "core/history.h"

namespace notifyd::core {

namespace {

bool IsAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

bool IsValidEpoch(std::string_view epoch) {
  if (epoch.size() < 8 || epoch.size() > 32) return false;
  for (char c : epoch) {
    if (!IsAlnum(c)) return false;
  }
  return true;
}

std::optional<Position> ParsePosition(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view epoch = text.substr(0, colon);
  const std::string_view digits = text.substr(colon + 1);
  if (!IsValidEpoch(epoch) || digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return Position{std::string(epoch), seq};
}

std::string FormatPosition(std::string_view epoch, uint64_t seq) {
  std::string out(epoch);
  out += ':';
  out += std::to_string(seq);
  return out;
}

Recovery DecideRecovery(const Position& since, const StreamView& stream, uint64_t recover_max) {
  if (since.epoch != stream.epoch || since.seq > stream.top) return {};
  const uint64_t missed = stream.top - since.seq;
  if (missed == 0) return {true, 0};
  // Every seq after since.seq must still be kept: the oldest kept is at most
  // since.seq + 1 (the ring is contiguous up to top).
  if (stream.first_kept == 0 || stream.first_kept > since.seq + 1) return {};
  if (recover_max != 0 && missed > recover_max) return {};
  return {true, missed};
}

}  // namespace notifyd::core
