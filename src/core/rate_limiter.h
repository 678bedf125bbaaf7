// A token-bucket rate limiter keyed by a string: a peer address for new
// connections, a token (or peer address) for publishes. Each key may act
// `burst` times at once and `rate` times per second on average. Owned by
// whoever enforces the limit (the HTTP API, the transport); single-threaded,
// like the rest of the core, and standard library only.
//
// Memory stays bounded however many keys an attacker invents: a bucket that has
// filled up again is the same as no bucket, so such buckets are dropped as the
// limiter goes (a little work per call), and no more than `max_keys` buckets are
// kept; at the cap the least recently used one is evicted (which at worst
// gives that key a fresh burst).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace notifyd::core {

class RateLimiter {
 public:
  /// The default cap on tracked keys (about 10 MB at the worst).
  static constexpr size_t kDefaultMaxKeys = 100000;

  /// `clock` must outlive the limiter. Unlimited until Configure() says otherwise.
  explicit RateLimiter(const Clock& clock, size_t max_keys = kDefaultMaxKeys);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Sets the rate (per second; 0 = unlimited, Allow always true) and the
  /// burst (at least 1). May be called again (reload): buckets are kept, and
  /// capped at the new burst.
  void Configure(double rate_per_s, uint32_t burst);

  /// Takes one token from `key`'s bucket. True when there was one; otherwise
  /// false, and *retry_after_s (when not null) is the seconds until there is
  /// one again (> 0). On success *retry_after_s is 0.
  bool Allow(std::string_view key, double* retry_after_s);

  /// Keys tracked now (buckets not yet full again).
  size_t size() const { return buckets_.size(); }

  double rate() const { return rate_; }
  uint32_t burst() const { return burst_; }

 private:
  struct Bucket {
    double tokens = 0;       ///< Tokens left at updated_ms.
    int64_t updated_ms = 0;  ///< Monotonic time of the last Allow for this key.
    std::list<const std::string*>::iterator lru;  ///< Position in lru_.
  };
  using Map = std::unordered_map<std::string, Bucket>;

  /// The bucket's tokens at `now_ms`, refilled but not capped.
  double Level(const Bucket& bucket, int64_t now_ms) const;
  /// Drops full buckets from the least recently used end, at most `limit`.
  void PruneFull(int64_t now_ms, size_t limit);
  void Erase(Map::iterator it);

  const Clock& clock_;
  const size_t max_keys_;
  double rate_ = 0;
  uint32_t burst_ = 1;
  Map buckets_;
  std::list<const std::string*> lru_;  ///< Keys of buckets_, most recently used first.
};

}  // namespace notifyd::core
