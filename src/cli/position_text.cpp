#include "cli/position_text.h"

#include <algorithm>
#include <cctype>

namespace notifyd::cli {
namespace {

constexpr size_t kMinEpochChars = 8;
constexpr size_t kMaxEpochChars = 32;
// 19 digits always fit a uint64_t (its maximum has 20).
constexpr size_t kMaxSeqDigits = 19;

bool ValidEpoch(std::string_view epoch) {
  return epoch.size() >= kMinEpochChars && epoch.size() <= kMaxEpochChars &&
         std::all_of(epoch.begin(), epoch.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 && c < 0x80; });
}

std::optional<uint64_t> ParseSeq(std::string_view digits) {
  if (digits.empty() || digits.size() > kMaxSeqDigits) return std::nullopt;
  uint64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

}  // namespace

std::optional<core::Position> ParsePositionText(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || !ValidEpoch(text.substr(0, colon))) return std::nullopt;
  std::optional<uint64_t> seq = ParseSeq(text.substr(colon + 1));
  if (!seq) return std::nullopt;
  return core::Position{std::string(text.substr(0, colon)), *seq};
}

std::string PositionText(const core::Position& position) {
  return position.epoch + ":" + std::to_string(position.seq);
}

}  // namespace notifyd::cli
