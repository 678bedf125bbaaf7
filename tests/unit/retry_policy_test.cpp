// When notifyd-cli tries again (src/cli/retry_policy.h).
#include "cli/retry_policy.h"

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

using std::chrono::milliseconds;

TEST(RetryPolicyTest, HttpWaitsHalfASecondThenOne) {
  EXPECT_EQ(kMaxHttpAttempts, 3);
  EXPECT_EQ(HttpRetryDelay(1), milliseconds(500));
  EXPECT_EQ(HttpRetryDelay(2), milliseconds(1000));
}

TEST(RetryPolicyTest, OnlyGatewayAndUnavailableStatusesAreRetried) {
  for (int status : {502, 503, 504}) EXPECT_TRUE(IsRetryableStatus(status)) << status;
  for (int status : {200, 400, 401, 403, 404, 413, 429, 500, 501, 505}) {
    EXPECT_FALSE(IsRetryableStatus(status)) << status;
  }
}

TEST(RetryPolicyTest, PublishAnswersSayWhetherLaterMayHelp) {
  for (int status : {200, 201, 204}) {
    EXPECT_EQ(ClassifyPublishAnswer(status), PublishAnswer::kDelivered) << status;
  }
  for (int status : {0, 408, 429, 500, 502, 503, 504, 507}) {
    EXPECT_EQ(ClassifyPublishAnswer(status), PublishAnswer::kUnavailable) << status;
  }
  for (int status : {101, 301, 401, 403, 404}) {
    EXPECT_EQ(ClassifyPublishAnswer(status), PublishAnswer::kRefused) << status;
  }
  for (int status : {400, 405, 411, 413, 415, 422, 431}) {
    EXPECT_EQ(ClassifyPublishAnswer(status), PublishAnswer::kRejected) << status;
  }
}

TEST(RetryPolicyTest, ReconnectDelayDoublesUpToTheCap) {
  EXPECT_EQ(ReconnectDelay(0, 1.0), milliseconds(500));
  EXPECT_EQ(ReconnectDelay(1, 1.0), milliseconds(1000));
  EXPECT_EQ(ReconnectDelay(3, 1.0), milliseconds(4000));
  EXPECT_EQ(ReconnectDelay(5, 1.0), kMaxReconnectDelay);
  EXPECT_EQ(ReconnectDelay(1000000, 1.0), kMaxReconnectDelay);
  EXPECT_EQ(ReconnectDelay(-1, 1.0), milliseconds(500));
}

TEST(RetryPolicyTest, JitterShortensTheWaitByAtMostHalf) {
  EXPECT_EQ(ReconnectDelay(0, 0.5), milliseconds(250));
  EXPECT_EQ(ReconnectDelay(0, 0.0), milliseconds(250));  // clamped
  EXPECT_EQ(ReconnectDelay(6, 0.75), milliseconds(7500));
  EXPECT_EQ(ReconnectDelay(6, 2.0), kMaxReconnectDelay);  // clamped
}

}  // namespace
}  // namespace notifyd::cli
