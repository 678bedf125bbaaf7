#include "protocol/client_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include <limits>
#include <utility>

#include "protocol/json.h"

namespace notifyd::protocol {
namespace {

// ParseJson (json.h) does the careful part: iterative parse, UTF-8
// validation, a nesting cap. This adds "must be an object".
bool ParseJsonObject(std::string_view text, rapidjson::Document* doc, std::string* error) {
  if (!ParseJson(text, doc, error)) {
    *error = "not valid JSON: " + *error;
    return false;
  }
  if (doc->IsObject()) return true;
  *error = "not a JSON object";
  return false;
}

// Unlike json.h's WriteString, reports text that is not UTF-8: a bad stdin
// line becomes an error here instead of a frame the server would reject.
bool WriteCheckedString(JsonWriter* writer, std::string_view text) {
  return text.size() <= std::numeric_limits<rapidjson::SizeType>::max() &&
         writer->String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

std::string BufferText(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

// `{"type":TYPE}` or, with a key, `{"type":TYPE,KEY:VALUE}`.
std::optional<std::string> EncodeRequest(const char* type, const char* key = nullptr,
                                         std::string_view value = {}) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  bool ok = writer.StartObject() && writer.Key("type") && writer.String(type);
  if (ok && key != nullptr) ok = writer.Key(key) && WriteCheckedString(&writer, value);
  if (!ok || !writer.EndObject()) return std::nullopt;
  return BufferText(buffer);
}

std::optional<int64_t> IntMember(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || !value->IsInt64()) return std::nullopt;
  return value->GetInt64();
}

std::optional<std::vector<std::string>> StringArrayMember(const rapidjson::Value& object,
                                                          const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || !value->IsArray()) return std::nullopt;
  std::vector<std::string> items;
  for (const rapidjson::Value& item : value->GetArray()) {
    if (!item.IsString()) return std::nullopt;
    items.push_back(StringOf(item));
  }
  return items;
}

// Compact JSON of any member but null (the seed prints data unless it is null).
std::string CompactMember(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || value->IsNull()) return {};
  return ToJsonText(*value);
}

void FillServerMessage(const rapidjson::Value& object, ServerMessage* out) {
  out->type = StringMember(object, "type").value_or("");
  out->channel = StringMember(object, "channel");
  out->client_id = StringMember(object, "clientId");
  out->subscriber_count = IntMember(object, "subscriberCount");
  out->name = StringMember(object, "name");
  out->title = StringMember(object, "title");
  out->body = StringMember(object, "body");
  out->data = CompactMember(object, "data");
  out->channels = StringArrayMember(object, "channels");
  out->error = StringMember(object, "error");
  out->code = StringMember(object, "code");
  out->message = StringMember(object, "message");
}

bool WritePublishBody(const ClientPublishRequest& request, const rapidjson::Document* data,
                      JsonWriter* writer, std::string* error) {
  writer->StartObject();
  if (request.title && !(writer->Key("title") && WriteCheckedString(writer, *request.title))) {
    *error = "title is not valid UTF-8";
    return false;
  }
  if (!(writer->Key("body") && WriteCheckedString(writer, request.body))) {
    *error = "body is not valid UTF-8";
    return false;
  }
  if (data != nullptr && !(writer->Key("data") && data->Accept(*writer))) {
    *error = "data holds a string that is not valid UTF-8";
    return false;
  }
  return writer->EndObject();
}

}  // namespace

std::optional<std::string> EncodeClientSubscribe(std::string_view channel) {
  return EncodeRequest("subscribe", "channel", channel);
}

std::optional<std::string> EncodeClientUnsubscribe(std::string_view channel) {
  return EncodeRequest("unsubscribe", "channel", channel);
}

std::optional<std::string> EncodeClientSetName(std::string_view name) {
  return EncodeRequest("set_name", "name", name);
}

std::string EncodeClientListSubscriptions() { return *EncodeRequest("list_subscriptions"); }

std::string EncodeClientPing() { return *EncodeRequest("ping"); }

std::string EncodeClientPong() { return *EncodeRequest("pong"); }

bool ValidateJsonObject(std::string_view json, std::string* error) {
  rapidjson::Document doc;
  return ParseJsonObject(json, &doc, error);
}

bool EncodeClientPublishBody(const ClientPublishRequest& request, std::string* out,
                             std::string* error) {
  rapidjson::Document data;
  if (request.data && !ParseJsonObject(*request.data, &data, error)) {
    *error = "data is " + *error;
    return false;
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  if (!WritePublishBody(request, request.data ? &data : nullptr, &writer, error)) {
    return false;
  }
  *out = BufferText(buffer);
  return true;
}

bool DecodeClientPublishResponse(std::string_view text, ClientPublishResponse* out,
                                 std::string* error) {
  rapidjson::Document doc;
  if (!ParseJsonObject(text, &doc, error)) return false;
  const rapidjson::Value* success = Member(doc, "success");
  out->success = success != nullptr && success->IsBool() && success->GetBool();
  out->delivered = IntMember(doc, "delivered");
  out->error = StringMember(doc, "error").value_or("");
  return true;
}

bool DecodeServerMessage(std::string_view text, ServerMessage* out, std::string* error) {
  *out = ServerMessage{};
  out->raw = std::string(text);
  rapidjson::Document doc;
  if (!ParseJsonObject(text, &doc, error)) return false;
  FillServerMessage(doc, out);
  return true;
}

}  // namespace notifyd::protocol
