#include "core/printable.h"

#include <cstdint>

namespace notifyd::core {

namespace {

// The length of the well-formed UTF-8 sequence starting at `s[i]`, or 0 when
// the byte there does not start one (the rules of core::IsValidUtf8: no
// overlong forms, no surrogates, nothing above U+10FFFF).
size_t SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

void AppendHex(std::string* out, uint8_t b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  *out += "\\x";
  *out += kHex[b >> 4];
  *out += kHex[b & 0x0F];
}

// Appends the escaped form of the character or stray byte at `s[i]`; returns
// how many input bytes it consumed.
size_t AppendOne(std::string_view s, size_t i, std::string* out) {
  const uint8_t b = static_cast<uint8_t>(s[i]);
  switch (b) {
    case '\n': *out += "\\n"; return 1;
    case '\r': *out += "\\r"; return 1;
    case '\t': *out += "\\t"; return 1;
    case '\\': *out += "\\\\"; return 1;
    default: break;
  }
  if (b < 0x20 || b == 0x7F) {
    AppendHex(out, b);
    return 1;
  }
  if (b < 0x80) {
    *out += static_cast<char>(b);
    return 1;
  }
  const size_t n = SequenceLength(s, i);
  if (n == 0) {
    AppendHex(out, b);
    return 1;
  }
  if (b == 0xC2 && static_cast<uint8_t>(s[i + 1]) <= 0x9F) {  // C1 control
    AppendHex(out, b);
    AppendHex(out, static_cast<uint8_t>(s[i + 1]));
    return 2;
  }
  out->append(s.substr(i, n));
  return n;
}

}  // namespace

std::string Printable(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  std::string piece;
  for (size_t i = 0; i < text.size();) {
    piece.clear();
    i += AppendOne(text, i, &piece);
    if (out.size() + piece.size() > max_bytes) return out + "…";
    out += piece;
  }
  return out;
}

}  // namespace notifyd::core
