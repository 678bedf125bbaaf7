// Redis replies built in one line (Int(1), Array({Str("a")})), for the tests of the Redis engine
// (what cluster/redis.h's connections hand their callbacks).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cluster/redis.h"

namespace notifyd::testing_support::redis_replies {

inline cluster::RedisReply Int(long long value) {
  cluster::RedisReply reply;
  reply.type = cluster::RedisReply::Type::kInteger;
  reply.integer = value;
  return reply;
}

inline cluster::RedisReply Str(std::string text) {
  cluster::RedisReply reply;
  reply.type = cluster::RedisReply::Type::kString;
  reply.str = std::move(text);
  return reply;
}

inline cluster::RedisReply Error(std::string text) {
  cluster::RedisReply reply;
  reply.type = cluster::RedisReply::Type::kError;
  reply.str = std::move(text);
  return reply;
}

inline cluster::RedisReply Array(std::vector<cluster::RedisReply> elements) {
  cluster::RedisReply reply;
  reply.type = cluster::RedisReply::Type::kArray;
  reply.elements = std::move(elements);
  return reply;
}

}  // namespace notifyd::testing_support::redis_replies
