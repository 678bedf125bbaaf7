// The HTTP API of PROTOCOL.md: publish, channels, stats, clients, health, the
// web console's files (StaticFiles, served to anyone: they hold no data), plus
// CORS, OPTIONS, JSON errors, the access rules (loopback only, or tokens), the
// client address behind trusted proxies and the publish rate limit. Pure
// functions of a Request, the hub and the clock; the transport does the
// socket side (framing, keep-alive, Connection headers).
//
// Without tokens, a privileged request (everything under /api/ but the
// subscriber routes, and /metrics) is trusted when the client is on loopback
// and the request cannot come from a foreign web page: its Host is a
// loopback name (or in [server] allowed_hosts, so a DNS-rebound name is
// refused) and its Origin is absent, the same origin, or in [server]
// allowed_origins.
#pragma once

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/broker.h"
#include "core/checkins.h"
#include "core/clock.h"
#include "core/history.h"
#include "core/counters.h"
#include "core/hub.h"
#include "core/rate_limiter.h"
#include "http/access.h"
#include "http/client_address.h"
#include "http/router.h"
#include "http/static_files.h"
#include "protocol/messages.h"
#include "protocol/metrics.h"

namespace notifyd::http {

class Api {
 public:
  /// Who sent a request, as the limits and the log should see it.
  struct ClientPeer {
    std::string address;    ///< The client: from a trusted proxy's forwarding headers, else
                            ///< the peer (canonical IP text).
    std::string limit_key;  ///< LimitKey(address): what per-address limits count under.
    bool exempt = false;    ///< A trusted proxy speaking for itself (no forwarding header):
                            ///< per-address limits do not apply.
  };

  /// Supplies the /api/stats fields the hub does not know (uptime, ...).
  using StatsSource = std::function<protocol::StatsExtra()>;
  /// Supplies the process_* figures of /metrics (nullopt: none to report).
  using ProcessSource = std::function<std::optional<protocol::ProcessMetrics>()>;

  Api(core::Hub& hub, core::Broker& broker, const core::Clock& clock, core::Counters& counters,
      StatsSource stats, ProcessSource process = nullptr);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Takes the settings it uses (CORS origin, body limit, tokens, publish
  /// rate, allowed hosts and origins, trusted proxies); called again on
  /// reload, when the new values apply to the next request.
  void Configure(const config::Config& config);

  /// Serves /api/checkin and /api/checkins from `checkins` (not owned).
  void AttachCheckins(core::Checkins* checkins) { checkins_ = checkins; }

  /// The client behind `request` (trusted_proxies and the X-Forwarded-For or
  /// Forwarded header applied to request.peer_address).
  ClientPeer ResolvePeer(const Request& request) const;

  /// Answers one request, whose body is complete (empty when it had none).
  /// Never throws for bad input.
  Response Handle(const Request& request);
  /// For "Expect: 100-continue": given the request head (body not read yet),
  /// the final response when the head decides it (400/404/405 route, 401/403
  /// access, 413 when Content-Length is over the body limit); nullopt when the
  /// body should be read and Handle() called. Takes no rate-limit token (the
  /// publish rate is Handle's) and counts only the refusals it returns.
  std::optional<Response> Precheck(const Request& head);
  /// Decides on a WebSocket upgrade (/ws, /ws/echo) before it is accepted:
  /// nullopt when allowed; else the refusal, with the common headers: 401
  /// without a valid token when [auth] requires a subscribe token (taken from
  /// "Authorization: Bearer" or ?token=), 403 for a publish token.
  std::optional<Response> AuthorizeSubscribe(const Request& request);
  /// A server-sent events request (GET /api/events/{channel}) accepted by
  /// OpenEvents: the channel and where to resume (Last-Event-ID, else ?since=).
  struct EventsStart {
    std::string channel;
    std::optional<core::Position> since;
  };
  /// True when `request` asks for a server-sent events stream (GET or HEAD
  /// on /api/events/{channel}); the transport then calls OpenEvents instead
  /// of Handle.
  bool IsEventsRequest(const Request& request) const;
  /// Decides on an events request: nullopt and *start filled when the stream
  /// may begin (the transport then admits it as a connection, sends the
  /// 200 head from EventsHead() and runs the stream); else the refusal with
  /// the common headers (400 bad channel or since, 401/403 as for a
  /// WebSocket subscribe).
  std::optional<Response> OpenEvents(const Request& request, EventsStart* start);
  /// The head of a 200 event stream: Content-Type: text/event-stream,
  /// Cache-Control: no-store, X-Accel-Buffering: no, and the common headers;
  /// no body length (the stream ends when the connection does).
  Response EventsHead() const;

  /// Adds the headers every response carries (CORS), unless it has its own
  /// Access-Control-Allow-Origin; for responses made outside Handle too, such
  /// as a refused WebSocket upgrade.
  void AddCommonHeaders(Response* response) const;

 private:
  static std::shared_ptr<const std::string> MakeCommonHeaders(const std::string& cors_origin);
  Response Publish(const Request& request, const Params& params);
  Response Channels(const Request& request, const Params& params);
  Response Messages(const Request& request, const Params& params);
  Response CheckIn(const Request& request, const Params& params);
  Response DeleteCheckin(const Request& request, const Params& params);
  Response ListCheckins(const Request& request, const Params& params);
  Response Events(const Request& request, const Params& params);
  /// The reply to a publish, from its outcome.
  Response PublishReply(const core::PublishOutcome& outcome) const;
  Response PageReply(const std::string& channel, const core::HistoryPage& page) const;
  Response Stats(const Request& request, const Params& params);
  /// GET /metrics: the Prometheus text exposition of the same figures.
  Response Metrics(const Request& request, const Params& params);
  /// What /api/stats and /metrics report beyond the hub's figures.
  protocol::StatsExtra CollectStats() const;
  Response Clients(const Request& request, const Params& params);
  Response Health(const Request& request, const Params& params);
  Response UpgradeRequired(const Request& request, const Params& params);
  Response WebFile(const Request& request, const Params& params);
  Response Dispatch(const Request& request);
  /// The refusal of a request whose route is not found (404, 405, 400), or nullopt.
  std::optional<Response> RouteError(const Request& request, const Match& match) const;
  /// The access rule for a routed /api/ request: nullopt when it may go on.
  /// *grant is the token's grant, nullptr when none was needed.
  std::optional<Response> Authorize(const Request& request, const Match& match,
                                    const ClientPeer& peer, const Access::Grant** grant);
  /// Loopback trust without tokens: the 403 when the client, Host or Origin
  /// does not qualify, else nullopt.
  std::optional<Response> CheckLoopbackTrust(const Request& request, const ClientPeer& peer) const;
  bool IsAllowedHost(std::string_view host) const;
  bool IsAllowedOrigin(std::string_view origin, std::string_view host) const;
  std::optional<Response> LimitPublishRate(const Access::Grant* grant, const ClientPeer& peer);
  /// The 413 for a body over max_body_bytes, counted.
  Response BodyTooLarge();

  core::Hub& hub_;
  core::Broker& broker_;
  core::Checkins* checkins_ = nullptr;
  /// The grant of the request being dispatched (nullptr: none needed), for
  /// handlers whose rule depends on the body (a check-in's channel).
  const Access::Grant* grant_ = nullptr;
  const core::Clock& clock_;
  core::Counters& counters_;
  StatsSource stats_;
  StaticFiles web_files_{BuiltinWebFiles()};
  ProcessSource process_;
  Router router_;
  /// The CORS header lines of every response, for [server] cors_origin.
  std::shared_ptr<const std::string> common_headers_ = MakeCommonHeaders("*");
  size_t max_body_bytes_ = 65536;
  std::vector<std::string> allowed_hosts_;
  std::vector<std::string> allowed_origins_;
  TrustedProxies trusted_proxies_;
  mutable std::string last_peer_socket_;  ///< ResolvePeer's last peer without forwarding headers,
  mutable ClientPeer last_peer_;          ///< and what it resolved to.
  Access access_;
  core::RateLimiter publish_limiter_;  ///< Keyed by token digest, or the client's limit key.
};

/// A JSON response {"error": error[, "details": details]}.
Response JsonError(int status, std::string_view error, std::string_view details = {});

}  // namespace notifyd::http
