// Positions as text on notifyd-cli's command line and in its status lines:
// "E:N", the last seq N a client saw of epoch E (PROTOCOL.md Part 2
// "Positions"). Notification ids have the same form, so the "id" of the last
// notification a script printed is what it passes to --since.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/history.h"

namespace notifyd::cli {

/// Parses "E:N" with the server's grammar: an epoch of 8 to 32 characters of
/// A-Za-z0-9, ':', and a decimal seq of 1 to 19 digits without a sign. So a
/// --since the server would refuse is refused before anything is sent.
std::optional<core::Position> ParsePositionText(std::string_view text);

/// "E:N".
std::string PositionText(const core::Position& position);

}  // namespace notifyd::cli
