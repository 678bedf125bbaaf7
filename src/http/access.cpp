#include "http/access.h"

#include <strings.h>

#include "core/channel_pattern.h"

namespace notifyd::http {

bool Access::Grant::MayPublish(std::string_view channel) const {
  if (role == Role::kAdmin) return true;
  if (role != Role::kPublish) return false;
  if (channels.empty()) return true;
  for (const std::string& pattern : channels) {
    if (core::ChannelPatternMatches(pattern, channel)) return true;
  }
  return false;
}

void Access::Configure(const config::Config& config) {
  grants_.clear();
  auto add = [this](Role role, const config::AccessToken& token) {
    grants_.push_back({role, token.channels, core::Sha256(token.secret)});
  };
  if (!config.subscribe_token.secret.empty()) add(Role::kSubscribe, config.subscribe_token);
  for (const config::AccessToken& token : config.publish_tokens) add(Role::kPublish, token);
  for (const config::AccessToken& token : config.admin_tokens) add(Role::kAdmin, token);
  api_tokens_ = !config.publish_tokens.empty() || !config.admin_tokens.empty();
  subscribe_required_ = !config.subscribe_token.secret.empty();
}

const Access::Grant* Access::Find(std::string_view token) const {
  const core::Digest digest = core::Sha256(token);
  const Grant* found = nullptr;
  for (const Grant& grant : grants_) {
    // No break: every digest is compared, found or not. The config refuses
    // duplicate tokens, so at most one matches.
    const bool equal = core::DigestsEqual(digest, grant.digest);
    found = equal ? &grant : found;
  }
  return found;
}

bool BearerToken(std::string_view authorization, std::string_view* token) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0 ||
      (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t')) {
    return false;
  }
  std::string_view rest = authorization.substr(kScheme.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  if (rest.empty()) return false;
  *token = rest;
  return true;
}

}  // namespace notifyd::http
