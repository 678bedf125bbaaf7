// The client side of the wire contract (PROTOCOL.md), for notifyd-cli: client
// requests and publish bodies as JSON text, and server messages decoded into a
// plain struct for printing. notifyd-cli never touches RapidJSON itself; every
// JSON byte it sends or reads goes through these functions. Nothing here
// throws or asserts on bad input: failures are returned as values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::protocol {

/// `{"type":"subscribe","channel":C}`; nullopt when `channel` is not UTF-8.
std::optional<std::string> EncodeClientSubscribe(std::string_view channel);

/// `{"type":"unsubscribe","channel":C}`; nullopt when `channel` is not UTF-8.
std::optional<std::string> EncodeClientUnsubscribe(std::string_view channel);

/// `{"type":"set_name","name":N}`; nullopt when `name` is not UTF-8.
std::optional<std::string> EncodeClientSetName(std::string_view name);

/// `{"type":"list_subscriptions"}`.
std::string EncodeClientListSubscriptions();

/// `{"type":"ping"}`: asks the server for a `pong`.
std::string EncodeClientPing();

/// `{"type":"pong"}`: the answer to the server's heartbeat `ping`.
std::string EncodeClientPong();

/// Checks that `json` is one JSON object, UTF-8 and nested no deeper than the
/// server accepts (kMaxJsonDepth in protocol/json.h). Returns false and fills
/// *error otherwise.
bool ValidateJsonObject(std::string_view json, std::string* error);

/// What notifyd-cli publishes: the body of `POST /api/notify/<channel>`.
struct ClientPublishRequest {
  std::optional<std::string> title;  ///< Omitted when unset: the server says "Notification".
  std::string body;                  ///< Always sent, may be empty.
  std::optional<std::string> data;   ///< JSON text of an object; omitted when unset.
};

/// Builds `{"title":T,"body":B,"data":{...}}` into *out. Returns false and
/// fills *error when title or body is not UTF-8 or data is not a JSON object.
bool EncodeClientPublishBody(const ClientPublishRequest& request, std::string* out,
                             std::string* error);

/// The server's answer to a publish, as far as notifyd-cli looks at it.
struct ClientPublishResponse {
  bool success = false;              ///< `"success":true` was present.
  std::optional<int64_t> delivered;  ///< `delivered`, when an integer.
  std::string error;                 ///< `error`, when a string (failed requests).
};

/// Decodes a publish response body. Returns false and fills *error when it is
/// not a JSON object; wrong field types just leave the field at its default.
bool DecodeClientPublishResponse(std::string_view text, ClientPublishResponse* out,
                                 std::string* error);

/// One server message, every field optional: a field that is missing or has
/// the wrong type is left unset, never an error.
struct ServerMessage {
  std::string type;                         ///< `type`; empty when absent or not a string.
  std::optional<std::string> channel;       ///< `channel`.
  std::optional<std::string> client_id;     ///< `clientId` (welcome).
  std::optional<int64_t> subscriber_count;  ///< `subscriberCount` (subscribed).
  std::optional<std::string> name;          ///< `name` (name_set).
  std::optional<std::string> title;         ///< `title` (notification).
  std::optional<std::string> body;          ///< `body` (notification).
  std::string data;                         ///< `data` as compact JSON; empty when absent or null.
  std::optional<std::vector<std::string>> channels;  ///< `channels` when an array of strings.
  std::optional<std::string> error;                  ///< `error` (error).
  std::optional<std::string> code;                   ///< `code` (error, ext).
  std::optional<std::string> message;                ///< `message` (welcome, server_shutdown).
  std::string raw;                                   ///< The text as received, for unknown types.
};

/// Decodes one text frame from the server. `out->raw` is always set. Returns
/// false and fills *error when the text is not a JSON object (or is nested
/// deeper than the server accepts).
bool DecodeServerMessage(std::string_view text, ServerMessage* out, std::string* error);

}  // namespace notifyd::protocol
