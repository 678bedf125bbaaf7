#include "cli/idempotency_key.h"

#include <algorithm>
#include <random>

namespace notifyd::cli {

bool IsValidIdempotencyKey(std::string_view key) {
  return !key.empty() && key.size() <= kMaxIdempotencyKeyBytes && key.front() != ' ' &&
         key.back() != ' ' &&
         std::all_of(key.begin(), key.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

std::string NewIdempotencyKey() {
  static const char kHex[] = "0123456789abcdef";
  std::random_device random;  // 32 random bits per call
  std::string key;
  for (int word = 0; word < 4; ++word) {
    uint32_t bits = random();
    for (int nibble = 0; nibble < 8; ++nibble, bits >>= 4) key += kHex[bits & 15];
  }
  return key;
}

}  // namespace notifyd::cli
