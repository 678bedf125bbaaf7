// The character-level grammar of HTTP/1.1 messages (RFC 9110 §5.6, RFC 9112
// §2 and §5) shared by the request head parser and the chunked body decoder:
// tokens, whitespace, field lines and comma-separated lists. Pure functions
// over string_views; nothing here allocates.
#pragma once

#include <cstddef>
#include <string_view>

namespace notifyd::wire {

/// tchar (RFC 9110 §5.6.2).
bool IsTchar(unsigned char c);
/// 1*tchar.
bool IsToken(std::string_view s);
/// OWS: SP or HTAB.
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
/// `s` without leading and trailing OWS.
std::string_view TrimOws(std::string_view s);

/// The next LF-terminated line of `text` from *pos, without its LF and the
/// optional CR before it (RFC 9112 §2.2 lets a recipient accept a bare LF).
/// False when no complete line is left.
bool NextLine(std::string_view text, size_t* pos, std::string_view* line);

/// Splits a field line (RFC 9112 §5: field-name ":" OWS field-value OWS) into
/// its name and trimmed value. Returns nullptr, or a short English reason
/// when the line is not one: obs-fold, no colon, a name that is not a token
/// (whitespace before the colon among them), or a control character in the
/// value (obs-text, >= 0x80, is allowed).
const char* SplitFieldLine(std::string_view line, std::string_view* name,
                           std::string_view* value);

/// The next element of a comma-separated list (RFC 9110 §5.6.1), trimmed,
/// removing it from *list; empty elements are skipped. False at the end.
bool NextListElement(std::string_view* list, std::string_view* element);

}  // namespace notifyd::wire
