// Strict UTF-8 validation. Frames go out as prepared websocketpp messages,
// which skip websocketpp's own UTF-8 check (TECH-NOTES §3), so every string
// that reaches a client is checked here or by the JSON writer first.
#pragma once

#include <string_view>

namespace notifyd::core {

/// True when `text` is well-formed UTF-8: no overlong forms, no surrogates
/// (U+D800..U+DFFF), nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

}  // namespace notifyd::core
