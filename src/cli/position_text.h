// Positions as text in notifyd-cli's status lines and requests: "E:N", the
// last seq N a client saw of epoch E (PROTOCOL.md Part 2 "Positions"). The
// grammar is the server's own (core/history.h): a --since the server would
// refuse is refused before anything is sent.
#pragma once

#include <string>

#include "core/history.h"

namespace notifyd::cli {

/// "E:N".
inline std::string PositionText(const core::Position& position) {
  return core::FormatPosition(position.epoch, position.seq);
}

}  // namespace notifyd::cli
