// The HTTP API of PROTOCOL.md: publish, channels, stats, clients, health, plus
// CORS, OPTIONS, JSON errors, the access rules (loopback only, or tokens) and
// the publish rate limit. Pure functions of a Request, the hub and the clock;
// the transport does the socket side.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
#include "core/rate_limiter.h"
#include "http/access.h"
#include "http/router.h"
#include "protocol/messages.h"

namespace notifyd::http {

struct ClientPeer { std::string address; std::string limit_key; bool exempt = false; };  // SHIM
class Api {
 public:
  /// Supplies the /api/stats fields the hub does not know (uptime, ...).
  using StatsSource = std::function<protocol::StatsExtra()>;

  Api(core::Hub& hub, const core::Clock& clock, core::Counters& counters, StatsSource stats);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Takes the settings it uses (CORS origin, body limit, tokens, publish
  /// rate); called again on reload, when new tokens apply to the next request.
  void Configure(const config::Config& config);

  /// Answers one request. Never throws for bad input.
  Response Handle(const Request& request);
  /// Decides on a WebSocket upgrade (/ws, /ws/echo) before it is accepted:
  /// nullopt when allowed; else the refusal, with the common headers: 401
  /// without a valid token when [auth] requires a subscribe token (taken from
  /// "Authorization: Bearer" or ?token=), 403 for a publish token.
  std::optional<Response> AuthorizeSubscribe(const Request& request);
  /// Adds the headers every response carries (CORS, Connection: close); for
  /// responses made outside Handle, such as a refused WebSocket upgrade.
  void AddCommonHeaders(Response* response) const;
  ClientPeer ResolvePeer(const Request& r) const { return {r.peer_address, r.peer_address, false}; }  // SHIM
  std::optional<Response> Precheck(const Request&) { return std::nullopt; }  // SHIM

 private:
  Response Publish(const Request& request, const Params& params);
  Response Channels(const Request& request, const Params& params);
  Response Stats(const Request& request, const Params& params);
  Response Clients(const Request& request, const Params& params);
  Response Health(const Request& request, const Params& params);
  Response UpgradeRequired(const Request& request, const Params& params);
  Response Dispatch(const Request& request);
  /// The access rule and the publish rate for a routed /api/ request:
  /// nullopt when it may go on to its handler.
  std::optional<Response> Authorize(const Request& request, const Match& match);
  std::optional<Response> LimitPublishRate(const Access::Grant* grant, const Request& request);

  core::Hub& hub_;
  const core::Clock& clock_;
  core::Counters& counters_;
  StatsSource stats_;
  Router router_;
  std::string cors_origin_ = "*";
  size_t max_body_bytes_ = 65536;
  Access access_;
  core::RateLimiter publish_limiter_;  ///< Keyed by token digest, or peer address without one.
};

/// A JSON response {"error": error[, "details": details]}.
Response JsonError(int status, std::string_view error, std::string_view details = {});

}  // namespace notifyd::http
