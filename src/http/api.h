// The HTTP API of PROTOCOL.md: publish, channels, stats, clients, health, plus
// CORS, OPTIONS, JSON errors and the loopback access rule. Pure functions of a
// Request and the hub; the transport does the socket side.
#pragma once

#include <functional>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
#include "http/router.h"
#include "protocol/messages.h"

namespace notifyd::http {

class Api {
 public:
  /// Supplies the /api/stats fields the hub does not know (uptime, ...).
  using StatsSource = std::function<protocol::StatsExtra()>;

  Api(core::Hub& hub, const core::Clock& clock, core::Counters& counters, StatsSource stats);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Takes the settings it uses (CORS origin, body limit); called again on reload.
  void Configure(const config::Config& config);

  /// Answers one request. Never throws for bad input.
  Response Handle(const Request& request);
  /// Adds the headers every response carries (CORS, Connection: close); for
  /// responses made outside Handle, such as a refused WebSocket upgrade.
  void AddCommonHeaders(Response* response) const;

 private:
  Response Publish(const Request& request, const Params& params);
  Response Channels(const Request& request, const Params& params);
  Response Stats(const Request& request, const Params& params);
  Response Clients(const Request& request, const Params& params);
  Response Health(const Request& request, const Params& params);
  Response UpgradeRequired(const Request& request, const Params& params);
  Response Dispatch(const Request& request);

  core::Hub& hub_;
  const core::Clock& clock_;
  core::Counters& counters_;
  StatsSource stats_;
  Router router_;
  std::string cors_origin_ = "*";
  size_t max_body_bytes_ = 65536;
};

/// A JSON response {"error": error[, "details": details]}.
Response JsonError(int status, std::string_view error, std::string_view details = {});

}  // namespace notifyd::http
