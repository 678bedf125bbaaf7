// The wire contract of PROTOCOL.md as typed values: client frames parse into a
// Request or a ProtocolError, and every server message and HTTP JSON body is
// encoded here. This module is the only user of RapidJSON in the daemon.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/broker.h"
#include "core/checkins.h"
#include "core/counters.h"
#include "core/history.h"
#include "core/hub.h"

namespace notifyd::protocol {

enum class RequestType { kSubscribe, kUnsubscribe, kSetName, kListSubscriptions, kPing, kPong };

/// One client request, validated.
struct Request {
  RequestType type = RequestType::kPing;
  std::string channel;  ///< subscribe/unsubscribe: a valid channel name.
  std::string name;     ///< set_name: non-empty.
  std::string id_json;  ///< The request's "id" as JSON text (a string or number), or empty.
  std::optional<core::Position> since;  ///< subscribe: where to resume, when given.
};

enum class ErrorCode {
  kInvalidJson,
  kInvalidMessage,
  kUnknownType,
  kChannelRequired,
  kInvalidChannel,
  kNameRequired,
  kLimitExceeded,
  kInvalidSince,
  kBrokerUnavailable,  ///< Cluster: a resume while Redis is unreachable.
};

/// "invalid_json", ... as sent in the `code` field.
const char* ErrorCodeName(ErrorCode code);

struct ProtocolError {
  ErrorCode code = ErrorCode::kInvalidMessage;
  std::string message;  ///< For people; starts with the seed's text.
  std::string id_json;  ///< Echoed "id" when the request had a usable one.
};

using ParseResult = std::variant<Request, ProtocolError>;

/// Parses one text frame from a client.
ParseResult ParseRequest(std::string_view frame);

/// The error a binary frame gets.
ProtocolError BinaryFrameError();

// --- server -> client --------------------------------------------------------
std::string EncodeWelcome(std::string_view client_id);
/// The `subscribed` reply: the channel's position, and with `since` the
/// recovery decision.
struct Subscribed {
  std::string_view channel;
  size_t subscriber_count = 0;
  std::string_view epoch;
  uint64_t seq = 0;  ///< The channel's latest seq.
  bool with_since = false;
  bool recovered = false;
  uint64_t missed = 0;
};
std::string EncodeSubscribed(const Subscribed& subscribed, std::string_view id_json);
/// The push sent when a live subscription cannot be continued gap-free.
std::string EncodeResync(std::string_view channel, std::string_view epoch, uint64_t seq,
                         std::string_view reason);
/// {"channel":C,"epoch":E,"seq":N}: the data of an SSE resync event.
std::string EncodePosition(std::string_view channel, std::string_view epoch, uint64_t seq);
std::string EncodeUnsubscribed(std::string_view channel, std::string_view id_json);
std::string EncodeNameSet(std::string_view name, std::string_view id_json);
std::string EncodeSubscriptions(const std::vector<std::string>& channels,
                                std::string_view id_json);
std::string EncodePong(int64_t wall_ms, std::string_view id_json);
/// The server's heartbeat {"type":"ping","timestamp":ms}.
std::string EncodeHeartbeat(int64_t wall_ms);
std::string EncodeError(const ProtocolError& error);
std::string EncodeServerShutdown();

/// Encodes notifications for the hub (one encode per publish).
class JsonNotificationEncoder final : public core::NotificationEncoder {
 public:
  std::string Encode(const core::Notification& n) const override;
  std::string EncodeResync(const std::string& channel, const std::string& epoch, uint64_t top,
                           std::string_view reason) const override {
    return protocol::EncodeResync(channel, epoch, top, reason);
  }
};

// --- HTTP --------------------------------------------------------------------
/// A validated publish request.
struct PublishRequest {
  std::string title = "Notification";
  std::string body;
  std::string data_json;  ///< Compact JSON object text, or empty.
};

/// Outcome of parsing a publish body as JSON.
enum class PublishParse {
  kOk,         ///< *out is filled.
  kNotJson,    ///< Not JSON text at all (a plain-text body, if the content type allows).
  kNotObject,  ///< Valid JSON, but not an object.
  kBadField,   ///< An object with a field of the wrong type.
};

/// Parses a JSON publish body. `details` says what is wrong.
PublishParse ParsePublishJson(std::string_view body, PublishRequest* out, std::string* details);

/// {"error": error} or {"error": error, "details": details}.
std::string EncodeHttpError(std::string_view error, std::string_view details = {});
std::string EncodePublishResponse(std::string_view channel, size_t delivered,
                                  std::string_view id, uint64_t seq, std::string_view epoch,
                                  std::optional<uint64_t> nodes = std::nullopt);
/// GET /api/channels/{channel}/messages; the messages are the frames' JSON as pushed.
std::string EncodeHistoryPage(std::string_view channel, const core::HistoryPage& page);
std::string EncodeChannels(const std::vector<std::pair<std::string, size_t>>& channels);
std::string EncodeClients(const std::map<core::ClientHandle, core::ClientInfo>& clients);

/// A check-in's optional settings from a JSON body {"every","grace","channel"}.
/// False with `details` when the body is not such an object (integers in
/// range, a valid channel name).
bool ParseCheckinJson(std::string_view body, core::Checkins::Update* out, std::string* details);
/// {"name","channel","every","grace","state":"up"|"late","last":ISO,"due":ISO}.
std::string EncodeCheckin(const core::StoredCheckin& checkin);
/// {"checkins":[...],"total":N}.
std::string EncodeCheckins(const std::vector<core::StoredCheckin>& checkins);

/// Fields of GET /api/stats and GET /metrics beyond the hub's counters.
struct StatsExtra {
  int64_t now_ms = 0;
  double uptime_s = 0;
  uint64_t echo_connections = 0;
  uint64_t sse_streams = 0;
  std::string version;
  std::string history_store = "memory";  ///< [history] store.
  uint64_t history_file_bytes = 0;       ///< sqlite: the file and its WAL.
  std::string history_error;             ///< The store's last failure while it lasts, or "".
  std::string broker = "local";          ///< [cluster] broker: "local" or "redis".
  bool broker_up = true;                 ///< Whether it can take publishes.
  std::string broker_error;              ///< Why not, while it lasts.
  std::string redis;                     ///< redis: where it is.
  uint64_t cluster_nodes = 1;            ///< Nodes alive, this one included.
  /// redis: the engine's own figures, for /api/stats and /metrics.
  struct ClusterFigure {
    std::string stats_key;  ///< In /api/stats "cluster", camelCase.
    std::string metric;     ///< notifyd_cluster_..., snake_case.
    bool counter = true;    ///< A counter (metric ends in _total), else a gauge.
    std::string help;
    uint64_t value = 0;
  };
  std::vector<ClusterFigure> cluster_figures;
  uint64_t checkins_up = 0;              ///< Check-ins on time.
  uint64_t checkins_late = 0;            ///< Check-ins past due + grace.
  core::BrokerStats history;
  core::Counters counters;
};
std::string EncodeStats(const core::HubStats& stats, const StatsExtra& extra);

}  // namespace notifyd::protocol
