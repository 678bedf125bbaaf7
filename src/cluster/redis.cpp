#include "cluster/redis.h"

#include "wire/websocket.h"

namespace notifyd::cluster {

std::string_view FailureName(RedisFailure failure) {
  switch (failure) {
    case RedisFailure::kNone: return "none";
    case RedisFailure::kNotConnected: return "not connected";
    case RedisFailure::kTimeout: return "timeout";
    case RedisFailure::kDisconnected: return "disconnected";
  }
  return "unknown";
}

RedisScript::RedisScript(std::string source_text) : source(std::move(source_text)) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string digest = wire::Sha1(source);
  sha1.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    sha1 += kHex[byte >> 4];
    sha1 += kHex[byte & 0xf];
  }
}

}  // namespace notifyd::cluster
