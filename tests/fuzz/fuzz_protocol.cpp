// libFuzzer target: client frames (protocol::ParseRequest) and publish bodies
// (protocol::ParsePublishJson). Beyond "no crash, no sanitizer report", it
// checks that whatever is accepted is what PROTOCOL.md promises, and that
// every text the daemon would send back is valid UTF-8 JSON (the transport
// sends prepared frames without checking them again).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/channel_name.h"
#include "core/hub.h"
#include "core/utf8.h"
#include "fuzz_check.h"
#include "protocol/messages.h"

namespace {

using namespace notifyd;

// True when `text` is valid UTF-8 and parses as a JSON object.
bool IsJsonObject(const std::string& text) {
  if (!core::IsValidUtf8(text)) return false;
  protocol::PublishRequest ignored;
  std::string details;
  const protocol::PublishParse parsed = protocol::ParsePublishJson(text, &ignored, &details);
  return parsed == protocol::PublishParse::kOk || parsed == protocol::PublishParse::kBadField;
}

// True when `text`, a reply to a client, is valid UTF-8 and a JSON object.
// Read by ParseRequest, which takes any JSON number, also an echoed id beyond
// a double's range (1e400) that ParsePublishJson refuses.
bool IsJsonReply(const std::string& text) {
  if (!core::IsValidUtf8(text)) return false;
  const protocol::ParseResult parsed = protocol::ParseRequest(text);
  const auto* error = std::get_if<protocol::ProtocolError>(&parsed);
  return error == nullptr ||
         (error->code != protocol::ErrorCode::kInvalidJson &&
          error->message != "Invalid message format: expected a JSON object");
}

// An echoed id is a JSON string, or a number exactly as the frame holds it.
void CheckId(std::string_view frame, const std::string& id_json) {
  if (id_json.empty()) return;
  if (id_json[0] == '"') {
    FUZZ_CHECK(IsJsonReply("{\"id\":" + id_json + "}"));
  } else {
    FUZZ_CHECK(frame.find(id_json) != std::string_view::npos);
    FUZZ_CHECK(id_json.find_first_not_of("0123456789+-.eE") == std::string::npos);
  }
}

void CheckRequest(const protocol::Request& request) {
  using protocol::RequestType;
  switch (request.type) {
    case RequestType::kSubscribe:
    case RequestType::kUnsubscribe:
      FUZZ_CHECK(core::IsValidChannelName(request.channel));
    {
      protocol::Subscribed reply;
      reply.channel = request.channel;
      reply.subscriber_count = 1;
      reply.epoch = "AbCdEfGh1234";
      // A parsed since has any string as its epoch: it is never echoed, but
      // the reply must stay JSON whatever it was.
      reply.with_since = request.since.has_value();
      if (request.since) FUZZ_CHECK(request.type == RequestType::kSubscribe);
      FUZZ_CHECK(IsJsonReply(protocol::EncodeSubscribed(reply, request.id_json)));
    }
      FUZZ_CHECK(IsJsonReply(protocol::EncodeUnsubscribed(request.channel, request.id_json)));
      break;
    case RequestType::kSetName:
      FUZZ_CHECK(!request.name.empty());
      FUZZ_CHECK(core::IsValidUtf8(request.name));
      FUZZ_CHECK(IsJsonReply(protocol::EncodeNameSet(request.name, request.id_json)));
      break;
    default:
      FUZZ_CHECK(IsJsonReply(protocol::EncodePong(1, request.id_json)));
      break;
  }
}

void FuzzFrame(std::string_view frame) {
  const protocol::ParseResult result = protocol::ParseRequest(frame);
  if (const auto* request = std::get_if<protocol::Request>(&result)) {
    CheckId(frame, request->id_json);
    CheckRequest(*request);
    return;
  }
  const auto& error = std::get<protocol::ProtocolError>(result);
  CheckId(frame, error.id_json);
  FUZZ_CHECK(core::IsValidUtf8(error.message));
  FUZZ_CHECK(IsJsonReply(protocol::EncodeError(error)));
}

void FuzzPublishBody(std::string_view body) {
  protocol::PublishRequest publish;
  std::string details;
  const protocol::PublishParse parsed = protocol::ParsePublishJson(body, &publish, &details);
  FUZZ_CHECK(core::IsValidUtf8(details));
  FUZZ_CHECK(IsJsonObject(protocol::EncodeHttpError("Invalid request body", details)));
  if (parsed != protocol::PublishParse::kOk) return;
  FUZZ_CHECK(core::IsValidUtf8(publish.title));
  FUZZ_CHECK(core::IsValidUtf8(publish.body));
  FUZZ_CHECK(publish.data_json.empty() || IsJsonObject(publish.data_json));
  core::Notification n;
  n.channel = "fuzz";
  n.id = "0000000000000000-1";
  n.title = publish.title;
  n.body = publish.body;
  n.data_json = publish.data_json;
  FUZZ_CHECK(IsJsonObject(protocol::JsonNotificationEncoder().Encode(n)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FuzzFrame(text);
  FuzzPublishBody(text);
  return 0;
}
