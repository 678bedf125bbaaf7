// Strict UTF-8 validation. A notification is encoded into a WebSocket text
// frame once and sent as is, and RFC 6455 requires text frames to be valid
// UTF-8, so every string that reaches a client is checked here or by the
// JSON writer first.
#pragma once

#include <string>
#include <string_view>

namespace notifyd::core {

/// True when `text` is well-formed UTF-8: no overlong forms, no surrogates
/// (U+D800..U+DFFF), nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

/// `text` with every byte that is not part of a well-formed sequence replaced
/// by U+FFFD, for echoing untrusted bytes (a path, a method) in a message.
std::string ToValidUtf8(std::string_view text);

}  // namespace notifyd::core
