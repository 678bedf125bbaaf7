#include "wire/http_syntax.h"

namespace notifyd::wire {

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

bool NextLine(std::string_view text, size_t* pos, std::string_view* line) {
  size_t lf = text.find('\n', *pos);
  if (lf == std::string_view::npos) return false;
  *line = text.substr(*pos, lf - *pos);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *pos = lf + 1;
  return true;
}

const char* SplitFieldLine(std::string_view line, std::string_view* name,
                           std::string_view* value) {
  // obs-fold (RFC 9112 §5.2), and whitespace after the start line (§2.2),
  // are rejected rather than unfolded: 400 is allowed for both.
  if (!line.empty() && IsOws(line[0])) return "Obsolete line folding";
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "Malformed header field";
  // No whitespace before the colon (§5.1): a token check rejects it.
  *name = line.substr(0, colon);
  if (!IsToken(*name)) return "Malformed header field";
  *value = TrimOws(line.substr(colon + 1));
  for (char c : *value) {
    const auto u = static_cast<unsigned char>(c);
    // CR, LF and NUL among them: a value that carries them could split into
    // extra fields further down the line. obs-text (>= 0x80) is fine.
    if ((u < 0x20 && c != '\t') || u == 0x7F) return "Invalid header field value";
  }
  return nullptr;
}

bool NextListElement(std::string_view* list, std::string_view* element) {
  while (!list->empty()) {
    const size_t comma = list->find(',');
    *element = TrimOws(list->substr(0, comma));
    list->remove_prefix(comma == std::string_view::npos ? list->size() : comma + 1);
    if (!element->empty()) return true;
  }
  return false;
}

}  // namespace notifyd::wire
