// The channel-name rule shared by WebSocket and HTTP (PROTOCOL.md "Channel names").
#pragma once

#include <cstddef>
#include <string_view>

namespace notifyd::core {

/// Longest channel name in bytes.
inline constexpr size_t kMaxChannelNameBytes = 128;

/// True for 1 to 128 bytes of A-Z a-z 0-9 _ - . : @
bool IsValidChannelName(std::string_view name);

}  // namespace notifyd::core
