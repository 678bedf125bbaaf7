#include "cli/stream_codec.h"

#include <limits>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "protocol/json.h"

namespace notifyd::cli {
namespace {

using protocol::Member;
using protocol::StringMember;

// Iterative: a deeply nested answer cannot exhaust the stack. Invalid UTF-8
// is refused, so whatever is printed again is valid UTF-8.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseFullPrecisionFlag;

using Writer = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                 rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

bool ParseObject(std::string_view text, rapidjson::Document* doc, std::string* error) {
  doc->Parse<kParseFlags>(text.data(), text.size());
  if (doc->HasParseError()) {
    *error = std::string("not valid JSON: ") + rapidjson::GetParseError_En(doc->GetParseError()) +
             " at offset " + std::to_string(doc->GetErrorOffset());
    return false;
  }
  if (doc->IsObject()) return true;
  *error = "not a JSON object";
  return false;
}

std::string Compact(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<uint64_t> UintMember(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || !value->IsUint64()) return std::nullopt;
  return value->GetUint64();
}

std::optional<bool> BoolMember(const rapidjson::Value& object, const char* key) {
  const rapidjson::Value* value = Member(object, key);
  if (value == nullptr || !value->IsBool()) return std::nullopt;
  return value->GetBool();
}

bool WriteString(Writer* writer, std::string_view text) {
  return text.size() <= std::numeric_limits<rapidjson::SizeType>::max() &&
         writer->String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

bool WriteSince(Writer* writer, const core::Position& since) {
  return writer->Key("since") && writer->StartObject() && writer->Key("epoch") &&
         WriteString(writer, since.epoch) && writer->Key("seq") && writer->Uint64(since.seq) &&
         writer->EndObject();
}

bool DecodeHistoryEntries(const rapidjson::Value& messages, HistoryPage* out, std::string* error) {
  for (const rapidjson::Value& message : messages.GetArray()) {
    if (!message.IsObject()) {
      *error = "a history message is not a JSON object";
      return false;
    }
    out->messages.push_back(
        {Compact(message), StringMember(message, "epoch"), UintMember(message, "seq")});
  }
  return true;
}

}  // namespace

bool DecodeStreamMessage(std::string_view text, StreamMessage* out, std::string* error) {
  *out = StreamMessage{};
  rapidjson::Document doc;
  if (!ParseObject(text, &doc, error)) return false;
  out->type = StringMember(doc, "type").value_or("");
  out->channel = StringMember(doc, "channel");
  out->epoch = StringMember(doc, "epoch");
  out->seq = UintMember(doc, "seq");
  out->recovered = BoolMember(doc, "recovered");
  out->missed = UintMember(doc, "missed");
  out->reason = StringMember(doc, "reason");
  out->timestamp = StringMember(doc, "timestamp");
  out->title = StringMember(doc, "title");
  out->body = StringMember(doc, "body");
  const rapidjson::Value* data = Member(doc, "data");
  if (data != nullptr && !data->IsNull()) out->data = Compact(*data);
  out->error = StringMember(doc, "error");
  out->code = StringMember(doc, "code");
  out->request_id = StringMember(doc, "id");
  out->message = StringMember(doc, "message");
  out->compact = Compact(doc);
  return true;
}

std::optional<std::string> EncodeSubscribe(std::string_view channel,
                                           const std::optional<core::Position>& since) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  bool ok = writer.StartObject() && writer.Key("type") && writer.String("subscribe") &&
            writer.Key("channel") && WriteString(&writer, channel) && writer.Key("id") &&
            WriteString(&writer, channel);
  if (ok && since) ok = WriteSince(&writer, *since);
  if (!ok || !writer.EndObject()) return std::nullopt;
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool DecodeHistoryPage(std::string_view text, HistoryPage* out, std::string* error) {
  *out = HistoryPage{};
  rapidjson::Document doc;
  if (!ParseObject(text, &doc, error)) return false;
  std::optional<std::string> epoch = StringMember(doc, "epoch");
  std::optional<uint64_t> seq = UintMember(doc, "seq");
  std::optional<bool> recovered = BoolMember(doc, "recovered");
  std::optional<bool> more = BoolMember(doc, "more");
  const rapidjson::Value* messages = Member(doc, "messages");
  if (!epoch || !seq || !recovered || !more || messages == nullptr || !messages->IsArray()) {
    *error =
        "not a history page (it needs \"epoch\", \"seq\", \"recovered\", \"more\" and "
        "\"messages\")";
    return false;
  }
  out->epoch = *epoch;
  out->seq = *seq;
  out->recovered = *recovered;
  out->more = *more;
  return DecodeHistoryEntries(*messages, out, error);
}

}  // namespace notifyd::cli
