// When notifyd-cli tries again, and how long it waits first: the bounded
// retries of publish and history (a few attempts, for failures that a moment
// may cure), and the reconnect back-off of sub and tail (unbounded in number,
// bounded per wait).
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

/// Longest wait between two reconnects of sub and tail.
inline constexpr std::chrono::milliseconds kMaxReconnectDelay{10000};

/// The wait before reconnect attempt `failures` + 1 (failures: attempts that
/// failed in a row, from 0): 0.5 s doubling to at most kMaxReconnectDelay,
/// scaled by `jitter` in [0.5, 1] so that many clients of a restarted server
/// do not come back at the same instant.
std::chrono::milliseconds ReconnectDelay(int failures, double jitter);

}  // namespace notifyd::cli
