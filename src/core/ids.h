// Random identifiers: client ids (UUID v4, as the seed's `Uuid().v4()`) and
// the node prefix that makes notification ids unique across restarts.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace notifyd::core {

class IdSource {
 public:
  /// Seeded from std::random_device.
  IdSource();
  /// Deterministic, for tests.
  explicit IdSource(uint64_t seed);

  /// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case hex, RFC 4122 version 4.
  std::string NewUuid();
  /// 16 lower-case hex digits (64 random bits).
  std::string NewHex64();
  /// 12 characters of A-Za-z0-9 (about 71 random bits): a new epoch.
  std::string NewEpoch();

 private:
  std::mt19937_64 rng_;
};

}  // namespace notifyd::core
