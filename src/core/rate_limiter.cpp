#include "core/rate_limiter.h"

#include <algorithm>

namespace notifyd::core {

namespace {

// Full buckets looked at per Allow(). Two is enough to drain idle keys faster
// than new ones arrive, and keeps each call O(1).
constexpr size_t kPrunePerCall = 2;

}  // namespace

RateLimiter::RateLimiter(const Clock& clock, size_t max_keys)
    : clock_(clock), max_keys_(std::max<size_t>(max_keys, 1)) {}

void RateLimiter::Configure(double rate_per_s, uint32_t burst) {
  const double new_rate = rate_per_s > 0 ? rate_per_s : 0;
  burst_ = std::max<uint32_t>(burst, 1);
  if (new_rate == 0 || rate_ == 0) {
    // Unlimited keeps no state; from unlimited, every key starts full.
    rate_ = new_rate;
    buckets_.clear();
    lru_.clear();
    return;
  }
  // Settle every bucket at the old rate, then cap it: a reload never hands
  // out more than the new burst at once.
  const int64_t now = clock_.MonotonicMillis();
  for (auto& [key, bucket] : buckets_) {
    bucket.tokens = std::min<double>(Level(bucket, now), burst_);
    bucket.updated_ms = now;
  }
  rate_ = new_rate;
}

double RateLimiter::Level(const Bucket& bucket, int64_t now_ms) const {
  const int64_t elapsed_ms = std::max<int64_t>(now_ms - bucket.updated_ms, 0);
  return bucket.tokens + static_cast<double>(elapsed_ms) * rate_ / 1000.0;
}

void RateLimiter::Erase(Map::iterator it) {
  lru_.erase(it->second.lru);
  buckets_.erase(it);
}

void RateLimiter::PruneFull(int64_t now_ms, size_t limit) {
  for (size_t i = 0; i < limit && !lru_.empty(); ++i) {
    auto it = buckets_.find(*lru_.back());
    if (Level(it->second, now_ms) < burst_) return;
    Erase(it);
  }
}

bool RateLimiter::Allow(std::string_view key, double* retry_after_s) {
  if (retry_after_s != nullptr) *retry_after_s = 0;
  if (rate_ == 0) return true;
  const int64_t now = clock_.MonotonicMillis();
  PruneFull(now, kPrunePerCall);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      PruneFull(now, buckets_.size());
      if (buckets_.size() >= max_keys_) Erase(buckets_.find(*lru_.back()));
    }
    // A new key starts with a full bucket.
    it = buckets_.emplace(std::string(key), Bucket{static_cast<double>(burst_), now, {}}).first;
    lru_.push_front(&it->first);
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& bucket = it->second;
  bucket.tokens = std::min<double>(Level(bucket, now), burst_);
  bucket.updated_ms = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return true;
  }
  if (retry_after_s != nullptr) *retry_after_s = (1 - bucket.tokens) / rate_;
  return false;
}

}  // namespace notifyd::core
