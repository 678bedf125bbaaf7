#include "protocol/json.h"

#include <array>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "core/utf8.h"

namespace notifyd::protocol {

namespace {

// What AppendJsonString does with a byte: 0 copy, 'u' \u00XX, 2 a UTF-8
// lead byte (or a stray one) to check, else the letter after the backslash.
constexpr std::array<char, 256> kEscapes = [] {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = 'u';
  table['\b'] = 'b';
  table['\t'] = 't';
  table['\n'] = 'n';
  table['\f'] = 'f';
  table['\r'] = 'r';
  table['"'] = '"';
  table['\\'] = '\\';
  for (int c = 0x80; c < 0x100; ++c) table[c] = 2;
  return table;
}();

// Escapes `s`, known to be UTF-8, into `out`.
void AppendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;  // start of the bytes not yet appended
  for (; p < end; ++p) {
    char e = kEscapes[static_cast<unsigned char>(*p)];
    if (e == 0 || e == 2) continue;
    out.append(run, static_cast<size_t>(p - run));
    run = p + 1;
    if (e == 'u') {
      char u[6] = {'\\', 'u', '0', '0', kHex[(*p >> 4) & 0xF], kHex[*p & 0xF]};
      out.append(u, sizeof u);
    } else {
      char pair[2] = {'\\', e};
      out.append(pair, 2);
    }
  }
  out.append(run, static_cast<size_t>(end - run));
}

// No kParseValidateEncodingFlag: every decoded string and key is checked by
// the guard (core::IsValidUtf8), which also catches what that flag lets
// through (a lone surrogate escape), and bytes outside strings must be JSON's
// ASCII syntax anyway. Validating twice cost a publish a tenth of its time.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag;
// The first pass sees numbers as their source text, for the request's "id".
constexpr unsigned kGuardFlags = kParseFlags | rapidjson::kParseNumbersAsStringsFlag;

// First pass: a SAX handler that counts depth and checks that every decoded
// string is UTF-8 (raw bytes, and escapes: RapidJSON decodes a lone low
// surrogate, \uDC00, into bytes that are not UTF-8). It also notes where the value of the
// first top-level "id" member starts when that value is a number.
struct GuardHandler : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, GuardHandler> {
  explicit GuardHandler(const rapidjson::MemoryStream* in) : stream(in) {}

  const rapidjson::MemoryStream* stream;
  int depth = 0;
  bool too_deep = false;
  bool bad_string = false;
  bool id_seen = false;
  bool id_next = false;  ///< The next value is the first top-level "id".
  size_t id_number_at = std::string_view::npos;

  bool Default() { return Value(); }
  bool RawNumber(const char*, rapidjson::SizeType n, bool) {
    // The number has just been read: the stream (not copied while parsing,
    // see StreamTraits) stands right after it.
    if (id_next) id_number_at = stream->Tell() - n;
    return Value();
  }
  bool String(const char* s, rapidjson::SizeType n, bool) { return Value() && CheckString(s, n); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1 && !id_seen && std::string_view(s, n) == "id") id_seen = id_next = true;
    return CheckString(s, n);
  }
  bool StartObject() { return Value() && Enter(); }
  bool EndObject(rapidjson::SizeType) { return Leave(); }
  bool StartArray() { return Value() && Enter(); }
  bool EndArray(rapidjson::SizeType) { return Leave(); }

  bool Value() {
    id_next = false;
    return true;
  }
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

// What went wrong, for a parse that `guard` watched.
std::string GuardError(const GuardHandler& guard, const rapidjson::ParseResult& result) {
  if (guard.too_deep) return "nesting deeper than " + std::to_string(kMaxJsonDepth);
  if (guard.bad_string) return "invalid UTF-8 in a string";
  return std::string(rapidjson::GetParseError_En(result.Code())) + " at offset " +
         std::to_string(result.Offset());
}

// Runs the first pass over `text` into *guard. On failure sets *error.
rapidjson::ParseResult Guard(std::string_view text, GuardHandler* guard, std::string* error) {
  rapidjson::MemoryStream ms(text.data(), text.size());
  *guard = GuardHandler(&ms);
  rapidjson::Reader reader;
  rapidjson::ParseResult ok = reader.Parse<kGuardFlags>(ms, *guard);
  guard->stream = nullptr;
  if (!ok) *error = GuardError(*guard, ok);
  return ok;
}

// One pass for ParseJson: GuardHandler's checks on every event, which is
// then handed to the document being built (RapidJSON's Document is itself a
// SAX handler), so a publish body is read once, not twice.
struct CheckingBuilder {
  rapidjson::Document& doc;
  GuardHandler guard{nullptr};

  bool Null() { return guard.Default() && doc.Null(); }
  bool Bool(bool b) { return guard.Default() && doc.Bool(b); }
  bool Int(int i) { return guard.Default() && doc.Int(i); }
  bool Uint(unsigned u) { return guard.Default() && doc.Uint(u); }
  bool Int64(int64_t i) { return guard.Default() && doc.Int64(i); }
  bool Uint64(uint64_t u) { return guard.Default() && doc.Uint64(u); }
  bool Double(double d) { return guard.Default() && doc.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return guard.Default() && doc.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return guard.String(s, n, copy) && doc.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return guard.Key(s, n, copy) && doc.Key(s, n, copy);
  }
  bool StartObject() { return guard.StartObject() && doc.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { return guard.EndObject(n) && doc.EndObject(n); }
  bool StartArray() { return guard.StartArray() && doc.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return guard.EndArray(n) && doc.EndArray(n); }
};

// RapidJSON treats a NUL byte as the end of the input; JSON never holds a raw
// one (inside strings it must be escaped), so it is refused up front.
bool HasNul(std::string_view text, std::string* error) {
  size_t nul = text.find('\0');
  if (nul == std::string_view::npos) return false;
  *error = "NUL byte at offset " + std::to_string(nul);
  return true;
}

// Second pass, over text the first pass accepted.
bool BuildDocument(std::string_view text, rapidjson::Document* doc, std::string* error) {
  doc->Parse<kParseFlags>(text.data(), text.size());
  if (doc->HasParseError()) {  // not expected after the first pass; kept as a guard
    *error = rapidjson::GetParseError_En(doc->GetParseError());
    return false;
  }
  return true;
}

// The length of the JSON number that starts at text[at], by its grammar:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, on text known to hold one.
size_t NumberLength(std::string_view text, size_t at) {
  size_t i = at;
  const auto skip = [&](std::string_view chars) {
    if (i < text.size() && chars.find(text[i]) != std::string_view::npos) ++i;
  };
  const auto digits = [&] {
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  };
  skip("-");
  digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    digits();
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    skip("+-");
    digits();
  }
  return i - at;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  if (core::IsValidUtf8(s)) {
    AppendEscaped(out, s);  // the common case
  } else {
    AppendEscaped(out, core::ToValidUtf8(s));
  }
  out += '"';
}

bool ParseJson(std::string_view text, rapidjson::Document* doc, std::string* error) {
  if (HasNul(text, error)) return false;
  rapidjson::MemoryStream ms(text.data(), text.size());
  CheckingBuilder builder{*doc};
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    rapidjson::Reader reader;
    result = reader.Parse<kParseFlags>(ms, builder);
    return !result.IsError();
  };
  doc->Populate(generate);
  if (result.IsError()) {
    *error = GuardError(builder.guard, result);
    return false;
  }
  return true;
}

bool ParseRequestJson(std::string_view text, rapidjson::Document* doc, std::string* error,
                      std::string* id_number) {
  id_number->clear();
  if (HasNul(text, error)) return false;
  // Each number too large for a double becomes "0" and spaces, the same
  // length, so offsets still match `text`; every round blanks one more
  // number, past the one before, so the rounds end.
  std::string blanked;
  std::string_view input = text;
  GuardHandler guard(nullptr);
  for (size_t round = 0; round <= text.size(); ++round) {
    rapidjson::ParseResult ok = Guard(input, &guard, error);
    if (ok) break;
    if (ok.Code() != rapidjson::kParseErrorNumberTooBig) return false;
    if (blanked.empty()) blanked = std::string(text);
    const size_t length = NumberLength(text, ok.Offset());
    blanked.replace(ok.Offset(), length, "0" + std::string(length - 1, ' '));
    input = blanked;
  }
  if (guard.id_number_at != std::string_view::npos) {
    *id_number = std::string(text.substr(guard.id_number_at,
                                         NumberLength(text, guard.id_number_at)));
  }
  return BuildDocument(input, doc, error);
}

std::string ToJsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  value.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace notifyd::protocol
