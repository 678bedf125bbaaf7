// Counters of refused or dropped work, one per limit, shown in /api/stats.
// Owned by the daemon; the transport and the HTTP API increment them on the
// single event-loop thread.
#pragma once

#include <cstdint>

namespace notifyd::core {

struct Counters {
  uint64_t frames_too_large = 0;          ///< Client frames over max_frame_bytes (closed 1009).
  uint64_t bodies_too_large = 0;          ///< HTTP bodies over max_body_bytes (413).
  uint64_t connections_over_limit = 0;    ///< Upgrades refused at max_connections (503).
  uint64_t connections_over_address_limit = 0;  ///< Upgrades refused at max_connections_per_address (503).
  uint64_t connections_rate_limited = 0;  ///< Upgrades refused by the per-address rate (429).
  uint64_t subscriptions_over_limit = 0;  ///< Subscribes refused at the per-client limit.
  uint64_t invalid_channels = 0;          ///< Channel names refused (WebSocket and HTTP).
  uint64_t names_too_long = 0;            ///< set_name over max_name_bytes.
  uint64_t publishes_rate_limited = 0;    ///< Publishes refused by the rate limit (429).
  uint64_t auth_failures = 0;             ///< 401: missing or wrong token.
  uint64_t forbidden = 0;                 ///< 403: token outside its channels, or not loopback.
  uint64_t slow_clients_dropped = 0;      ///< Clients over the outbound queue cap.
  uint64_t protocol_errors = 0;           ///< WebSocket error replies of any kind.
};

/// How each counter is named outside: its key in /api/stats "refused", and
/// its `reason` label in the /metrics family notifyd_refusals_total (nullptr
/// for slow_clients_dropped, which has a family of its own). The reasons are
/// a fixed set, as a Prometheus label's values should be.
struct CounterName {
  uint64_t Counters::*value;
  const char* stats_key;
  const char* reason;
};

inline constexpr CounterName kCounterNames[] = {
    {&Counters::frames_too_large, "framesTooLarge", "frame_too_large"},
    {&Counters::bodies_too_large, "bodiesTooLarge", "body_too_large"},
    {&Counters::connections_over_limit, "connectionsOverLimit", "connection_limit"},
    {&Counters::connections_over_address_limit, "connectionsOverAddressLimit",
     "address_connection_limit"},
    {&Counters::connections_rate_limited, "connectionsRateLimited", "connection_rate"},
    {&Counters::subscriptions_over_limit, "subscriptionsOverLimit", "subscription_limit"},
    {&Counters::invalid_channels, "invalidChannels", "invalid_channel"},
    {&Counters::names_too_long, "namesTooLong", "name_too_long"},
    {&Counters::publishes_rate_limited, "publishesRateLimited", "publish_rate"},
    {&Counters::auth_failures, "authFailures", "unauthorized"},
    {&Counters::forbidden, "forbidden", "forbidden"},
    {&Counters::slow_clients_dropped, "slowClientsDropped", nullptr},
    {&Counters::protocol_errors, "protocolErrors", "protocol_error"},
};

}  // namespace notifyd::core
