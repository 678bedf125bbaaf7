// When notifyd-cli tries again, and how long it waits first: the bounded
// retries of publish and history (a few attempts, for failures that a moment
// may cure), what a publish's answer means for the spool (later, or never),
// and the reconnect back-off of sub and tail (unbounded in number, bounded
// per wait).
#pragma once

#include <chrono>

namespace notifyd::cli {

/// Most attempts of one HTTP request (publish, a history page).
inline constexpr int kMaxHttpAttempts = 3;

/// The wait before HTTP attempt `attempt` + 1 (attempt counts from 1):
/// 0.5 s after the first, 1 s after the second.
std::chrono::milliseconds HttpRetryDelay(int attempt);

/// True for the HTTP statuses a retry may cure: 502, 503 and 504 (a proxy
/// without its upstream, a server over a limit or without its broker).
bool IsRetryableStatus(int status);

/// What the answer to a publish means for the notification.
enum class PublishAnswer {
  kDelivered,    ///< 2xx: the server has it.
  kUnavailable,  ///< No answer, 5xx, 408 or 429: the server cannot take it now; later it may.
  kRefused,      ///< 401, 403, 404, 1xx, 3xx: not from this client or at this URL, as it is set up.
  kRejected,     ///< Any other 4xx (400, 413, ...): never accepted as it is.
};

/// Classifies a publish's answer; `status` 0 means none came (connecting
/// failed, the connection was lost, an attempt timed out).
PublishAnswer ClassifyPublishAnswer(int status);

/// Longest wait between two reconnects of sub and tail.
inline constexpr std::chrono::milliseconds kMaxReconnectDelay{10000};

/// The wait before reconnect attempt `failures` + 1 (failures: attempts that
/// failed in a row, from 0): 0.5 s doubling to at most kMaxReconnectDelay,
/// scaled by `jitter` in [0.5, 1] so that many clients of a restarted server
/// do not come back at the same instant.
std::chrono::milliseconds ReconnectDelay(int failures, double jitter);

}  // namespace notifyd::cli
