#include "cli/retry_policy.h"

#include <algorithm>

namespace notifyd::cli {
namespace {

constexpr std::chrono::milliseconds kFirstDelay{500};

}  // namespace

std::chrono::milliseconds HttpRetryDelay(int attempt) {
  return kFirstDelay * (1 << std::clamp(attempt - 1, 0, 1));
}

bool IsRetryableStatus(int status) { return status == 502 || status == 503 || status == 504; }

PublishAnswer ClassifyPublishAnswer(int status) {
  if (status >= 200 && status < 300) return PublishAnswer::kDelivered;
  if (status == 0 || status >= 500 || status == 408 || status == 429) {
    return PublishAnswer::kUnavailable;
  }
  if (status >= 400 && status != 401 && status != 403 && status != 404) {
    return PublishAnswer::kRejected;
  }
  return PublishAnswer::kRefused;
}

std::chrono::milliseconds ReconnectDelay(int failures, double jitter) {
  // 0.5 s * 2^5 already exceeds the cap, so the shift never overflows.
  std::chrono::milliseconds full =
      std::min(kFirstDelay * (1 << std::clamp(failures, 0, 5)), kMaxReconnectDelay);
  jitter = std::clamp(jitter, 0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long>(static_cast<double>(full.count()) * jitter));
}

}  // namespace notifyd::cli
