#include "protocol/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "core/utf8.h"

namespace notifyd::protocol {

namespace {

constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag;

// First pass: a SAX handler that only counts depth and re-checks decoded
// strings, because RapidJSON decodes a lone low surrogate (\uDC00) into bytes
// that are not UTF-8 even with validation on.
struct GuardHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, GuardHandler> {
  int depth = 0;
  bool too_deep = false;
  bool bad_string = false;
  bool Default() { return true; }
  bool String(const char* s, rapidjson::SizeType n, bool) { return CheckString(s, n); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return CheckString(s, n); }
  bool StartObject() { return Enter(); }
  bool EndObject(rapidjson::SizeType) { return Leave(); }
  bool StartArray() { return Enter(); }
  bool EndArray(rapidjson::SizeType) { return Leave(); }

  bool Enter() {
    if (++depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  }
  bool Leave() {
    --depth;
    return true;
  }
  bool CheckString(const char* s, rapidjson::SizeType n) {
    if (!core::IsValidUtf8(std::string_view(s, n))) bad_string = true;
    return !bad_string;
  }
};

}  // namespace

bool ParseJson(std::string_view text, rapidjson::Document* doc, std::string* error) {
  // RapidJSON treats a NUL byte as the end of the input; JSON never holds a
  // raw one (inside strings it must be escaped), so refuse it up front.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    *error = "NUL byte at offset " + std::to_string(nul);
    return false;
  }
  GuardHandler guard;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::ParseResult ok = reader.Parse<kParseFlags>(ms, guard);
  if (!ok) {
    if (guard.too_deep) {
      *error = "nesting deeper than " + std::to_string(kMaxJsonDepth);
    } else if (guard.bad_string) {
      *error = "invalid UTF-8 (lone surrogate escape) in string";
    } else {
      *error = std::string(rapidjson::GetParseError_En(ok.Code())) + " at offset " +
               std::to_string(ok.Offset());
    }
    return false;
  }
  doc->Parse<kParseFlags>(text.data(), text.size());
  if (doc->HasParseError()) {  // not expected after the first pass; kept as a guard
    *error = rapidjson::GetParseError_En(doc->GetParseError());
    return false;
  }
  return true;
}

std::string ToJsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  value.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace notifyd::protocol
