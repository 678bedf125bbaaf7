#include "protocol/messages.h"

#include <charconv>
#include <cstring>

#include "core/channel_name.h"
#include "core/clock.h"
#include "protocol/json.h"

namespace notifyd::protocol {

namespace {

constexpr size_t kMaxEchoedTypeBytes = 64;

ProtocolError Error(ErrorCode code, std::string message, std::string id_json = {}) {
  return ProtocolError{code, std::move(message), std::move(id_json)};
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string TruncateUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

struct TypeName {
  const char* name;
  RequestType type;
};
constexpr TypeName kTypes[] = {
    {"subscribe", RequestType::kSubscribe},
    {"unsubscribe", RequestType::kUnsubscribe},
    {"set_name", RequestType::kSetName},
    {"list_subscriptions", RequestType::kListSubscriptions},
    {"ping", RequestType::kPing},
    {"pong", RequestType::kPong},
};

// Reads the optional string member `key`. Returns false when it is present
// with another type; *out stays empty when absent or null.
bool OptionalString(const rapidjson::Value& obj, const char* key, std::string* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return true;
  if (!it->value.IsString()) return false;
  *out = StringOf(it->value);
  return true;
}

ParseResult ParseChannelRequest(const rapidjson::Value& obj, Request req) {
  if (!OptionalString(obj, "channel", &req.channel)) {
    return Error(ErrorCode::kInvalidMessage, "Invalid message format: channel must be a string",
                 req.id_json);
  }
  if (req.channel.empty()) {
    return Error(ErrorCode::kChannelRequired, "Channel name required", req.id_json);
  }
  if (!core::IsValidChannelName(req.channel)) {
    return Error(ErrorCode::kInvalidChannel,
                 "Invalid channel name: use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @",
                 req.id_json);
  }
  return req;
}

// PROTOCOL.md Part 2: "since": {"epoch": E, "seq": N}, both required.
ParseResult ParseSince(const rapidjson::Value& obj, Request req) {
  auto since = obj.FindMember("since");
  if (since == obj.MemberEnd() || since->value.IsNull()) return req;
  const rapidjson::Value& v = since->value;
  const char* problem = nullptr;
  if (!v.IsObject()) {
    problem = "since must be an object {\"epoch\": string, \"seq\": integer}";
  } else {
    auto epoch = v.FindMember("epoch");
    auto seq = v.FindMember("seq");
    if (epoch == v.MemberEnd() || !epoch->value.IsString()) {
      problem = "since.epoch must be a string";
    } else if (seq == v.MemberEnd() || !seq->value.IsUint64()) {
      problem = "since.seq must be a non-negative integer";
    } else {
      req.since = core::Position{StringOf(epoch->value), seq->value.GetUint64()};
      return req;
    }
  }
  return Error(ErrorCode::kInvalidSince, std::string("Invalid since: ") + problem, req.id_json);
}

ParseResult ParseSetName(const rapidjson::Value& obj, Request req) {
  if (!OptionalString(obj, "name", &req.name)) {
    return Error(ErrorCode::kInvalidMessage, "Invalid message format: name must be a string",
                 req.id_json);
  }
  if (req.name.empty()) return Error(ErrorCode::kNameRequired, "Name required", req.id_json);
  return req;
}

// Starts a reply object {"type": type, ...}; Finish() closes it.
class Reply {
 public:
  explicit Reply(const char* type) : w_(sb_) {
    w_.StartObject();
    WriteMember(w_, "type", type);
  }
  JsonWriter& w() { return w_; }
  std::string Finish(std::string_view id_json = {}) {
    if (!id_json.empty()) {
      w_.Key("id");
      w_.RawValue(id_json.data(), id_json.size(), rapidjson::kStringType);
    }
    w_.EndObject();
    return std::string(sb_.GetString(), sb_.GetSize());
  }

 private:
  rapidjson::StringBuffer sb_;
  JsonWriter w_;
};

// A plain JSON object for HTTP bodies.
class Body {
 public:
  Body() : w_(sb_) { w_.StartObject(); }
  JsonWriter& w() { return w_; }
  std::string Finish() {
    w_.EndObject();
    return std::string(sb_.GetString(), sb_.GetSize());
  }

 private:
  rapidjson::StringBuffer sb_;
  JsonWriter w_;
};

void AppendUint(std::string& out, uint64_t value) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;  // 20 digits hold any uint64_t
  out.append(digits, static_cast<size_t>(end - digits));
}

void WriteStringArray(JsonWriter& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const auto& s : items) WriteString(w, s);
  w.EndArray();
}

}  // namespace

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidJson: return "invalid_json";
    case ErrorCode::kInvalidMessage: return "invalid_message";
    case ErrorCode::kUnknownType: return "unknown_type";
    case ErrorCode::kChannelRequired: return "channel_required";
    case ErrorCode::kInvalidChannel: return "invalid_channel";
    case ErrorCode::kNameRequired: return "name_required";
    case ErrorCode::kLimitExceeded: return "limit_exceeded";
    case ErrorCode::kInvalidSince: return "invalid_since";
    case ErrorCode::kBrokerUnavailable: return "broker_unavailable";
  }
  return "invalid_message";
}

ParseResult ParseRequest(std::string_view frame) {
  rapidjson::Document doc;
  std::string why;
  std::string id_number;
  if (!ParseRequestJson(frame, &doc, &why, &id_number)) {
    return Error(ErrorCode::kInvalidJson, "Invalid message format: " + why);
  }
  if (!doc.IsObject()) {
    return Error(ErrorCode::kInvalidMessage, "Invalid message format: expected a JSON object");
  }
  Request req;
  auto id = doc.FindMember("id");
  if (id != doc.MemberEnd()) {
    if (!id->value.IsString() && !id->value.IsNumber()) {
      return Error(ErrorCode::kInvalidMessage,
                   "Invalid message format: id must be a string or a number");
    }
    // A number is echoed as sent, never re-rounded through a double.
    req.id_json = id->value.IsNumber() ? id_number : ToJsonText(id->value);
  }
  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || type->value.IsNull()) {
    return Error(ErrorCode::kUnknownType, "Unknown message type: null", req.id_json);
  }
  if (!type->value.IsString()) {
    return Error(ErrorCode::kInvalidMessage, "Invalid message format: type must be a string",
                 req.id_json);
  }
  std::string_view type_name(type->value.GetString(), type->value.GetStringLength());
  for (const TypeName& t : kTypes) {
    if (type_name != t.name) continue;
    req.type = t.type;
    if (t.type == RequestType::kSubscribe) {
      ParseResult parsed = ParseChannelRequest(doc, std::move(req));
      if (Request* ok = std::get_if<Request>(&parsed)) return ParseSince(doc, std::move(*ok));
      return parsed;
    }
    if (t.type == RequestType::kUnsubscribe) return ParseChannelRequest(doc, std::move(req));
    if (t.type == RequestType::kSetName) return ParseSetName(doc, std::move(req));
    return req;
  }
  return Error(ErrorCode::kUnknownType,
               "Unknown message type: " + TruncateUtf8(type_name, kMaxEchoedTypeBytes),
               req.id_json);
}

ProtocolError BinaryFrameError() {
  return Error(ErrorCode::kInvalidMessage,
               "Invalid message format: binary frames are not supported, send JSON text");
}

std::string EncodeWelcome(std::string_view client_id) {
  Reply r("welcome");
  WriteMember(r.w(), "clientId", client_id);
  WriteMember(r.w(), "message", "Connected to notification server");
  return r.Finish();
}

std::string EncodeSubscribed(const Subscribed& s, std::string_view id_json) {
  Reply r("subscribed");
  WriteMember(r.w(), "channel", s.channel);
  r.w().Key("subscriberCount");
  r.w().Uint64(s.subscriber_count);
  WriteMember(r.w(), "epoch", s.epoch);
  r.w().Key("seq");
  r.w().Uint64(s.seq);
  if (s.with_since) {
    r.w().Key("recovered");
    r.w().Bool(s.recovered);
    r.w().Key("missed");
    r.w().Uint64(s.missed);
  }
  return r.Finish(id_json);
}

std::string EncodeResync(std::string_view channel, std::string_view epoch, uint64_t seq,
                         std::string_view reason) {
  Reply r("resync");
  WriteMember(r.w(), "channel", channel);
  WriteMember(r.w(), "epoch", epoch);
  r.w().Key("seq");
  r.w().Uint64(seq);
  WriteMember(r.w(), "reason", reason);
  return r.Finish();
}

std::string EncodePosition(std::string_view channel, std::string_view epoch, uint64_t seq) {
  Body b;
  WriteMember(b.w(), "channel", channel);
  WriteMember(b.w(), "epoch", epoch);
  b.w().Key("seq");
  b.w().Uint64(seq);
  return b.Finish();
}

std::string EncodeUnsubscribed(std::string_view channel, std::string_view id_json) {
  Reply r("unsubscribed");
  WriteMember(r.w(), "channel", channel);
  return r.Finish(id_json);
}

std::string EncodeNameSet(std::string_view name, std::string_view id_json) {
  Reply r("name_set");
  WriteMember(r.w(), "name", name);
  return r.Finish(id_json);
}

std::string EncodeSubscriptions(const std::vector<std::string>& channels,
                                std::string_view id_json) {
  Reply r("subscriptions");
  r.w().Key("channels");
  WriteStringArray(r.w(), channels);
  return r.Finish(id_json);
}

std::string EncodePong(int64_t wall_ms, std::string_view id_json) {
  Reply r("pong");
  r.w().Key("timestamp");
  r.w().Int64(wall_ms);
  return r.Finish(id_json);
}

std::string EncodeHeartbeat(int64_t wall_ms) {
  Reply r("ping");
  r.w().Key("timestamp");
  r.w().Int64(wall_ms);
  return r.Finish();
}

std::string EncodeError(const ProtocolError& error) {
  Reply r("error");
  WriteMember(r.w(), "error", error.message);
  WriteMember(r.w(), "code", ErrorCodeName(error.code));
  return r.Finish(error.id_json);
}

std::string EncodeServerShutdown() {
  Reply r("server_shutdown");
  WriteMember(r.w(), "message", "Server is shutting down");
  return r.Finish();
}

// Built by hand, not with the JsonWriter: every publish encodes its
// notification (the history keeps it), and the writer's generic path cost
// several times this. The same bytes as the writer's (messages_test checks).
std::string JsonNotificationEncoder::Encode(const core::Notification& n) const {
  std::string out;
  out.reserve(160 + n.channel.size() + n.id.size() + n.epoch.size() + n.title.size() +
              n.body.size() + n.data_json.size());
  out += "{\"type\":\"notification\",\"channel\":";
  AppendJsonString(out, n.channel);
  out += ",\"id\":";
  AppendJsonString(out, n.id);
  out += ",\"seq\":";
  AppendUint(out, n.seq);
  out += ",\"epoch\":";
  AppendJsonString(out, n.epoch);
  out += ",\"timestamp\":\"";
  core::AppendIso8601(out, n.timestamp_ms);
  out += "\",\"title\":";
  AppendJsonString(out, n.title);
  out += ",\"body\":";
  AppendJsonString(out, n.body);
  if (!n.data_json.empty()) {
    out += ",\"data\":";
    out += n.data_json;
  }
  out += '}';
  return out;
}

PublishParse ParsePublishJson(std::string_view body, PublishRequest* out, std::string* details) {
  rapidjson::Document doc;
  if (!ParseJson(body, &doc, details)) return PublishParse::kNotJson;
  if (!doc.IsObject()) {
    *details = "the body must be a JSON object";
    return PublishParse::kNotObject;
  }
  PublishRequest req;
  if (!OptionalString(doc, "title", &req.title)) {
    *details = "title must be a string";
    return PublishParse::kBadField;
  }
  if (!OptionalString(doc, "body", &req.body)) {
    *details = "body must be a string";
    return PublishParse::kBadField;
  }
  auto data = doc.FindMember("data");
  if (data != doc.MemberEnd() && !data->value.IsNull()) {
    if (!data->value.IsObject()) {
      *details = "data must be a JSON object";
      return PublishParse::kBadField;
    }
    req.data_json = ToJsonText(data->value);
  }
  *out = std::move(req);
  return PublishParse::kOk;
}

std::string EncodeHttpError(std::string_view error, std::string_view details) {
  Body b;
  WriteMember(b.w(), "error", error);
  if (!details.empty()) WriteMember(b.w(), "details", details);
  return b.Finish();
}

std::string EncodePublishResponse(std::string_view channel, size_t delivered,
                                  std::string_view id, uint64_t seq, std::string_view epoch,
                                  std::optional<uint64_t> nodes) {
  // By hand, as the notification (one per publish): the writer's bytes.
  std::string out;
  out.reserve(96 + channel.size() + id.size() + epoch.size());
  out += "{\"success\":true,\"channel\":";
  AppendJsonString(out, channel);
  out += ",\"delivered\":";
  AppendUint(out, delivered);
  out += ",\"id\":";
  AppendJsonString(out, id);
  out += ",\"seq\":";
  AppendUint(out, seq);
  out += ",\"epoch\":";
  AppendJsonString(out, epoch);
  if (nodes) {
    out += ",\"nodes\":";
    AppendUint(out, *nodes);
  }
  out += '}';
  return out;
}

std::string EncodeHistoryPage(std::string_view channel, const core::HistoryPage& page) {
  Body b;
  WriteMember(b.w(), "channel", channel);
  WriteMember(b.w(), "epoch", page.epoch);
  b.w().Key("seq");
  b.w().Uint64(page.top);
  b.w().Key("recovered");
  b.w().Bool(page.recovered);
  b.w().Key("more");
  b.w().Bool(page.more);
  b.w().Key("messages");
  b.w().StartArray();
  for (const core::FramePtr& frame : page.messages) {
    b.w().RawValue(frame->text.data(), frame->text.size(), rapidjson::kObjectType);
  }
  b.w().EndArray();
  return b.Finish();
}

std::string EncodeChannels(const std::vector<std::pair<std::string, size_t>>& channels) {
  Body b;
  b.w().Key("channels");
  b.w().StartArray();
  for (const auto& [name, count] : channels) {
    b.w().StartObject();
    WriteMember(b.w(), "name", name);
    b.w().Key("subscribers");
    b.w().Uint64(count);
    b.w().EndObject();
  }
  b.w().EndArray();
  b.w().Key("total");
  b.w().Uint64(channels.size());
  return b.Finish();
}

std::string EncodeClients(const std::map<core::ClientHandle, core::ClientInfo>& clients) {
  Body b;
  b.w().Key("clients");
  b.w().StartArray();
  for (const auto& [handle, c] : clients) {
    b.w().StartObject();
    WriteMember(b.w(), "id", c.id);
    b.w().Key("name");
    if (c.name) {
      WriteString(b.w(), *c.name);
    } else {
      b.w().Null();
    }
    WriteMember(b.w(), "connectedAt", core::FormatIso8601(c.connected_at_ms));
    b.w().Key("subscriptions");
    WriteStringArray(b.w(), c.subscriptions);
    b.w().EndObject();
  }
  b.w().EndArray();
  b.w().Key("total");
  b.w().Uint64(clients.size());
  return b.Finish();
}

std::string EncodeStats(const core::HubStats& stats, const StatsExtra& extra) {
  Body b;
  JsonWriter& w = b.w();
  w.Key("connections");
  w.Uint64(stats.connections);
  w.Key("channels");
  w.Uint64(stats.channels);
  WriteMember(w, "timestamp", core::FormatIso8601(extra.now_ms));
  w.Key("uptimeSeconds");
  w.Double(extra.uptime_s);
  w.Key("connectionsTotal");
  w.Uint64(stats.connections_total);
  w.Key("echoConnections");
  w.Uint64(extra.echo_connections);
  w.Key("sseStreams");
  w.Uint64(extra.sse_streams);
  w.Key("published");
  w.Uint64(stats.published_total);
  w.Key("delivered");
  w.Uint64(stats.delivered_total);
  WriteMember(w, "version", extra.version);
  const core::BrokerStats& h = extra.history;
  w.Key("history");
  w.StartObject();
  WriteMember(w, "store", extra.history_store);
  WriteMember(w, "state", extra.history_error.empty() ? "ok" : "failing");
  if (!extra.history_error.empty()) WriteMember(w, "error", extra.history_error);
  const std::pair<const char*, uint64_t> history[] = {
      {"channels", h.channels},
      {"kept", h.kept},
      {"keptBytes", h.kept_bytes},
      {"pending", h.pending},
      {"fileBytes", extra.history_file_bytes},
      {"storeFailures", h.store_failures},
      {"resumesRecovered", h.resumes_recovered},
      {"resumesNotRecovered", h.resumes_not_recovered},
      {"idempotentReplays", h.idempotent_replays},
  };
  for (const auto& [key, value] : history) {
    w.Key(key);
    w.Uint64(value);
  }
  w.EndObject();
  w.Key("cluster");
  w.StartObject();
  WriteMember(w, "broker", extra.broker);
  WriteMember(w, "state", extra.broker_up ? "up" : "down");
  if (!extra.broker_error.empty()) WriteMember(w, "error", extra.broker_error);
  if (!extra.redis.empty()) WriteMember(w, "redis", extra.redis);
  w.Key("nodes");
  w.Uint64(extra.cluster_nodes);
  w.Key("resyncs");
  w.Uint64(h.resyncs);
  w.Key("malformedEntries");
  w.Uint64(h.malformed_entries);
  for (const StatsExtra::ClusterFigure& figure : extra.cluster_figures) {
    w.Key(figure.stats_key.c_str(), static_cast<rapidjson::SizeType>(figure.stats_key.size()));
    w.Uint64(figure.value);
  }
  w.EndObject();
  w.Key("refused");
  w.StartObject();
  for (const core::CounterName& name : core::kCounterNames) {
    w.Key(name.stats_key);
    w.Uint64(extra.counters.*name.value);
  }
  w.EndObject();
  return b.Finish();
}

}  // namespace notifyd::protocol

namespace notifyd::protocol {

namespace {

void WriteCheckin(JsonWriter& w, const core::StoredCheckin& c) {
  w.StartObject();
  WriteMember(w, "name", c.name);
  WriteMember(w, "channel", c.channel);
  w.Key("every");
  w.Int64(c.every_s);
  w.Key("grace");
  w.Int64(c.grace_s);
  WriteMember(w, "state", c.late ? "late" : "up");
  WriteMember(w, "last", core::FormatIso8601(c.last_ms));
  WriteMember(w, "due", core::FormatIso8601(core::Checkins::DueMs(c)));
  w.EndObject();
}

// An integer member `key` in min..max, when present.
bool SecondsMember(const rapidjson::Value& obj, const char* key, int64_t min,
                   std::optional<int64_t>* out, std::string* details) {
  const rapidjson::Value* v = Member(obj, key);
  if (v == nullptr || v->IsNull()) return true;
  if (!v->IsInt64() || v->GetInt64() < min || v->GetInt64() > core::Checkins::kMaxSeconds) {
    *details = std::string(key) + " must be an integer number of seconds, " +
               std::to_string(min) + " to " + std::to_string(core::Checkins::kMaxSeconds);
    return false;
  }
  *out = v->GetInt64();
  return true;
}

}  // namespace

bool ParseCheckinJson(std::string_view body, core::Checkins::Update* out, std::string* details) {
  rapidjson::Document doc;
  if (!ParseJson(body, &doc, details)) return false;
  if (!doc.IsObject()) {
    *details = "the body must be a JSON object";
    return false;
  }
  if (!SecondsMember(doc, "every", 1, &out->every_s, details) ||
      !SecondsMember(doc, "grace", 0, &out->grace_s, details)) {
    return false;
  }
  std::optional<std::string> channel = StringMember(doc, "channel");
  const rapidjson::Value* raw = Member(doc, "channel");
  if ((raw != nullptr && !raw->IsNull() && !channel) ||
      (channel && !core::IsValidChannelName(*channel))) {
    *details = "channel must be a channel name: 1 to 128 bytes of A-Z a-z 0-9 _ - . : @";
    return false;
  }
  if (channel) out->channel = std::move(channel);
  return true;
}

std::string EncodeCheckin(const core::StoredCheckin& checkin) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  WriteCheckin(w, checkin);
  return std::string(sb.GetString(), sb.GetSize());
}

std::string EncodeCheckins(const std::vector<core::StoredCheckin>& checkins) {
  Body b;
  b.w().Key("checkins");
  b.w().StartArray();
  for (const core::StoredCheckin& c : checkins) WriteCheckin(b.w(), c);
  b.w().EndArray();
  b.w().Key("total");
  b.w().Uint64(checkins.size());
  return b.Finish();
}

}  // namespace notifyd::protocol
