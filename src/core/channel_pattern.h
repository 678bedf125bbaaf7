// Channel patterns, as a publish token's `channels` list holds them: a channel
// name ("alerts"), a prefix with a trailing '*' ("backups-*"), or "*" alone
// for every channel. '*' anywhere else is not a pattern.
#pragma once

#include <string_view>

#include "core/channel_name.h"

namespace notifyd::core {

/// True for "*", a valid channel name, or a valid channel name followed by '*'.
inline bool IsValidChannelPattern(std::string_view pattern) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*') pattern.remove_suffix(1);
  return IsValidChannelName(pattern);
}

/// True when `channel` is matched by `pattern` (which IsValidChannelPattern
/// accepts): equal to it, or starting with its prefix before the '*'.
inline bool ChannelPatternMatches(std::string_view pattern, std::string_view channel) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return channel.substr(0, pattern.size()) == pattern;
  }
  return channel == pattern;
}

}  // namespace notifyd::core
