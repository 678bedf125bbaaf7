#include "cli/spool_record.h"

#include <cinttypes>
#include <cstdio>
#include <utility>

#include <rapidjson/document.h>

#include "cli/idempotency_key.h"
#include "cli/server_address.h"
#include "core/channel_name.h"
#include "protocol/json.h"

namespace notifyd::cli {
namespace {

using protocol::Member;
using protocol::StringMember;

constexpr size_t kFileNameBytes = 16 + 1 + 8 + 5;  // digits, '-', hex, ".json"

void WriteOptional(protocol::JsonWriter& writer, const char* key,
                   const std::optional<std::string>& value) {
  if (value) protocol::WriteMember(writer, key, *value);
}

bool WriteData(protocol::JsonWriter& writer, const std::optional<std::string>& data) {
  if (!data) return true;
  rapidjson::Document doc;
  std::string error;
  if (!protocol::ParseJson(*data, &doc, &error) || !doc.IsObject()) return false;
  writer.Key("data");
  return doc.Accept(writer);
}

// The members every record has, with their types; *error names the first
// one that is missing or wrong.
bool ReadRequired(const rapidjson::Value& doc, SpoolRecord* out, std::string* error) {
  const rapidjson::Value* format = Member(doc, "format");
  const rapidjson::Value* attempts = Member(doc, "attempts");
  std::optional<std::string> url = StringMember(doc, "url");
  std::optional<std::string> channel = StringMember(doc, "channel");
  std::optional<std::string> body = StringMember(doc, "body");
  std::optional<std::string> key = StringMember(doc, "idempotency_key");
  std::optional<std::string> created = StringMember(doc, "created");
  const std::pair<const char*, bool> members[] = {
      {"format", format != nullptr && format->IsInt()},
      {"url", url.has_value()},
      {"channel", channel.has_value()},
      {"body", body.has_value()},
      {"idempotency_key", key.has_value()},
      {"created", created.has_value()},
      {"attempts", attempts != nullptr && attempts->IsUint64()}};
  for (const auto& [name, present] : members) {
    if (present) continue;
    *error = std::string("no valid \"") + name + "\"";
    return false;
  }
  if (format->GetInt() != kSpoolFormat) {
    *error =
        "format " + std::to_string(format->GetInt()) + " is not " + std::to_string(kSpoolFormat);
    return false;
  }
  *out = SpoolRecord{*url, *channel, std::nullopt,          *body,       std::nullopt,
                     *key, *created, attempts->GetUint64(), std::nullopt};
  return true;
}

bool ReadOptional(const rapidjson::Value& doc, SpoolRecord* out, std::string* error) {
  for (const char* key : {"title", "last_error"}) {
    const rapidjson::Value* value = Member(doc, key);
    if (value != nullptr && !value->IsString()) {
      *error = std::string("\"") + key + "\" is not a string";
      return false;
    }
  }
  out->title = StringMember(doc, "title");
  out->last_error = StringMember(doc, "last_error");
  const rapidjson::Value* data = Member(doc, "data");
  if (data != nullptr && !data->IsObject()) {
    *error = "\"data\" is not an object";
    return false;
  }
  if (data != nullptr) out->data = protocol::ToJsonText(*data);
  return true;
}

// What could never be sent: a record with these is damaged, not merely
// undelivered.
bool CheckSendable(const SpoolRecord& record, std::string* error) {
  HttpTarget target;
  if (!ParseBaseUrl(record.url, &target, error)) {
    *error = "\"url\" is unusable: " + *error;
    return false;
  }
  if (!core::IsValidChannelName(record.channel)) {
    *error = "\"channel\" is not a channel name";
    return false;
  }
  if (!IsValidIdempotencyKey(record.idempotency_key)) {
    *error = "\"idempotency_key\" is not a valid key";
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> EncodeSpoolRecord(const SpoolRecord& record) {
  rapidjson::StringBuffer buffer;
  protocol::JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("format");
  writer.Int(kSpoolFormat);
  protocol::WriteMember(writer, "url", record.url);
  protocol::WriteMember(writer, "channel", record.channel);
  WriteOptional(writer, "title", record.title);
  protocol::WriteMember(writer, "body", record.body);
  if (!WriteData(writer, record.data)) return std::nullopt;
  protocol::WriteMember(writer, "idempotency_key", record.idempotency_key);
  protocol::WriteMember(writer, "created", record.created);
  writer.Key("attempts");
  writer.Uint64(record.attempts);
  WriteOptional(writer, "last_error", record.last_error);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

bool DecodeSpoolRecord(std::string_view text, SpoolRecord* out, std::string* error) {
  rapidjson::Document doc;
  if (!protocol::ParseJson(text, &doc, error)) {
    *error = "not valid JSON (" + *error + ")";
    return false;
  }
  if (!doc.IsObject()) {
    *error = "not a JSON object";
    return false;
  }
  return ReadRequired(doc, out, error) && ReadOptional(doc, out, error) &&
         CheckSendable(*out, error);
}

std::string SpoolFileName(uint64_t unix_micros, uint32_t random) {
  char name[kFileNameBytes + 1];
  std::snprintf(name, sizeof name, "%016" PRIu64 "-%08" PRIx32 ".json",
                unix_micros % 10000000000000000, random);
  return name;
}

bool IsSpoolFileName(std::string_view name) {
  if (name.size() != kFileNameBytes || name.substr(16, 1) != "-" || name.substr(25) != ".json") {
    return false;
  }
  for (size_t i = 0; i < 25; ++i) {
    char c = name[i];
    bool ok = i == 16 || (c >= '0' && c <= '9') || (i > 16 && c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return true;
}

std::string CanonicalBaseUrl(const HttpTarget& target) {
  HttpTarget lower = target;
  lower.host = Lowercase(target.host);
  return "http://" + HostPort(lower) + target.path_prefix;
}

}  // namespace notifyd::cli
