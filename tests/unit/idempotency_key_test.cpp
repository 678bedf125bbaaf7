// The Idempotency-Key of notifyd-cli publish (src/cli/idempotency_key.h).
#include "cli/idempotency_key.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

TEST(IdempotencyKeyTest, NewKeysAre32HexDigitsAndDiffer) {
  std::set<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    std::string key = NewIdempotencyKey();
    EXPECT_EQ(key.size(), 32u);
    EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << key;
    EXPECT_TRUE(IsValidIdempotencyKey(key));
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 100u);  // 128 random bits: a repeat means a broken source
}

TEST(IdempotencyKeyTest, AcceptsPrintableAsciiUpTo128) {
  EXPECT_TRUE(IsValidIdempotencyKey("k"));
  EXPECT_TRUE(IsValidIdempotencyKey("backup 2026-11-25 #1 ~!\"{}"));
  EXPECT_TRUE(IsValidIdempotencyKey(std::string(128, 'x')));
}

TEST(IdempotencyKeyTest, RefusesEmptyLongControlNonAsciiAndEdgeSpaces) {
  EXPECT_FALSE(IsValidIdempotencyKey(""));
  EXPECT_FALSE(IsValidIdempotencyKey(std::string(129, 'x')));
  EXPECT_FALSE(IsValidIdempotencyKey("a\tb"));
  EXPECT_FALSE(IsValidIdempotencyKey("a\r\nX-Injected: 1"));
  EXPECT_FALSE(IsValidIdempotencyKey("a\x7F"));
  EXPECT_FALSE(IsValidIdempotencyKey("caf\xC3\xA9"));
  EXPECT_FALSE(IsValidIdempotencyKey(" k"));
  EXPECT_FALSE(IsValidIdempotencyKey("k "));
}

}  // namespace
}  // namespace notifyd::cli
