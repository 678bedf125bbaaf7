// Client text made safe for a log line: whatever a client sends (a message
// type, a channel or client name, an error text quoting its input) is shown
// with control characters and invalid UTF-8 escaped, so it can neither forge
// a log line nor break a terminal, and is cut to a bounded length.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace notifyd::core {

/// `text` for a log line: `\n` `\r` `\t` as the two characters \n \r \t, a
/// backslash as \\, every other C0 control, DEL, each byte of a C1 control
/// (U+0080..U+009F) and each byte that is not part of well-formed UTF-8 as
/// \xNN (upper-case hex). Well-formed printable UTF-8 is kept as is. When the
/// escaped text exceeds `max_bytes`, it is cut to at most `max_bytes` bytes,
/// never inside a character or an escape, and "…" is appended.
std::string Printable(std::string_view text, size_t max_bytes = 200);

}  // namespace notifyd::core
