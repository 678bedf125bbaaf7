// The access rules of PROTOCOL.md "Access": who may publish, read /api/* and
// subscribe over /ws, from the tokens in [auth]. Owned by http::Api, which
// rebuilds it from the config at start and on every reload.
//
// Tokens are kept only as SHA-256 digests. A presented token is hashed once
// and compared with every configured digest, without an early exit, so the
// time taken tells nothing about how close a guess was or how long the real
// tokens are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/digest.h"

namespace notifyd::http {

class Access {
 public:
  enum class Role { kSubscribe, kPublish, kAdmin };

  /// What a configured token may do.
  struct Grant {
    Role role = Role::kPublish;
    std::vector<std::string> channels;  ///< kPublish: patterns; empty = every channel.
    core::Digest digest{};              ///< SHA-256 of the token.

    /// True when this grant may publish to `channel`.
    bool MayPublish(std::string_view channel) const;
    /// True when it may read /api/channels, /api/clients, /api/stats.
    bool MayRead() const { return role == Role::kAdmin; }
  };

  /// Takes the tokens of `config` (replacing any earlier ones).
  void Configure(const config::Config& config);

  /// True when publish or admin tokens exist: the API then wants a token from
  /// everyone, instead of answering loopback peers only.
  bool api_tokens() const { return api_tokens_; }
  /// True when /ws needs a token (the subscribe token, or an admin token).
  bool subscribe_token_required() const { return subscribe_required_; }

  /// The grant of `token`, or nullptr when it matches none. Looks at every
  /// configured token whatever the outcome.
  const Grant* Find(std::string_view token) const;

 private:
  std::vector<Grant> grants_;
  bool api_tokens_ = false;
  bool subscribe_required_ = false;
};

/// The token of an "Authorization: Bearer <token>" header value (scheme
/// case-insensitive), or false when the value is not of that form.
bool BearerToken(std::string_view authorization, std::string_view* token);

}  // namespace notifyd::http
