// RapidJSON helpers shared by the protocol .cpp files and notifyd-cli's
// stream codec (never included by the daemon outside src/protocol/). Untrusted JSON is parsed with a nesting cap, UTF-8
// validation and no recursion, so a deep input cannot exhaust the stack;
// output is written with encoding validation, so every text frame the server
// sends is valid UTF-8 (the transport sends prepared frames unchecked).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/utf8.h"

namespace notifyd::protocol {

/// Deepest nesting of arrays/objects accepted from a client or publisher.
inline constexpr int kMaxJsonDepth = 32;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                     rapidjson::CrtAllocator,
                                     rapidjson::kWriteValidateEncodingFlag>;

/// Parses `text` into *doc. On failure returns false and sets *error to a
/// short description ("nesting deeper than 32", "Invalid encoding in string
/// at offset 7", ...). Rejects invalid UTF-8, lone surrogates, trailing data.
bool ParseJson(std::string_view text, rapidjson::Document* doc, std::string* error);

/// ParseJson for a client request, which also sets *id_number to the source
/// text of the top-level "id" member when it is a number, byte for byte as
/// sent (-0, 1.50, 1e400, 123456789012345678901234567890), else clears it.
/// Numbers beyond a double's range, which ParseJson refuses, are accepted
/// here and read as 0 in *doc: a request's numbers are only echoed.
bool ParseRequestJson(std::string_view text, rapidjson::Document* doc, std::string* error,
                      std::string* id_number);

/// Writes `s` as a JSON string; bytes that are not UTF-8 become U+FFFD, so
/// the output is always valid (the validating writer would stop half-way).
inline void WriteString(JsonWriter& w, std::string_view s) {
  if (core::IsValidUtf8(s)) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  } else {
    std::string clean = core::ToValidUtf8(s);
    w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
  }
}

/// Appends `s` to `out` as a JSON string (quotes included), escaped exactly
/// as the JsonWriter escapes it (\" \\ \b \f \n \r \t, other control bytes
/// as \u00XX, everything else as is), with bytes that are not UTF-8 replaced
/// by U+FFFD as WriteString does. For hand-built hot messages (a notification,
/// a publish's reply): one pass, no writer.
void AppendJsonString(std::string& out, std::string_view s);

/// Writes a string member "key": "value".
inline void WriteMember(JsonWriter& w, const char* key, std::string_view value) {
  w.Key(key);
  WriteString(w, value);
}

/// The value as compact JSON text.
std::string ToJsonText(const rapidjson::Value& value);

/// A std::string copy of a string value (length-aware: "\u0000" survives).
inline std::string StringOf(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

/// The member `key` of an object, or nullptr when absent.
inline const rapidjson::Value* Member(const rapidjson::Value& object, const char* key) {
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

/// The string member `key`, or nullopt when absent or not a string.
inline std::optional<std::string> StringMember(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || !value->IsString()) return std::nullopt;
  return StringOf(*value);
}

}  // namespace notifyd::protocol
