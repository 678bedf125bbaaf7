// The Idempotency-Key notifyd-cli publish sends (PROTOCOL.md Part 2
// "Idempotent publish"): one key per invocation, the same on every attempt,
// so a retry after a lost answer is answered with the first reply and
// delivers nothing twice.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace notifyd::cli {

/// Longest key the server accepts, in bytes.
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

/// True for 1 to 128 printable ASCII characters (space to '~') that neither
/// start nor end with a space (HTTP would drop those spaces in transit).
bool IsValidIdempotencyKey(std::string_view key);

/// 32 lower-case hex digits: 128 bits from the system's random source
/// (std::random_device, which reads getrandom or /dev/urandom on Linux).
std::string NewIdempotencyKey();

}  // namespace notifyd::cli
