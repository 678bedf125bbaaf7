// Who the client is when a reverse proxy stands in front: IP addresses and
// CIDR ranges, the trusted proxies of [server] trusted_proxies, the key that
// per-address limits count under, and the rule that takes the client address
// from X-Forwarded-For or Forwarded (RFC 7239) when the TCP peer is a trusted
// proxy. Standard library and inet_pton only, so the config parser can check
// CIDR lists with the same code. Values only; nothing here owns anything.
//
// Every address this module returns is the text of a parsed IP address
// (inet_ntop's canonical form, an IPv4-mapped IPv6 address as plain IPv4), or
// the peer address as the transport gave it: client text that is not an IP
// address never comes out, since the result ends up in logs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/router.h"

namespace notifyd::http {

/// An IPv4 or IPv6 address. IPv4 is kept in the first 4 bytes.
struct IpAddress {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};
};

/// Parses an IPv4 or IPv6 literal (no brackets, no port, no zone). An
/// IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address.
bool ParseIpAddress(std::string_view text, IpAddress* out);

/// The canonical text of `address` ("192.0.2.1", "2001:db8::1").
std::string FormatIpAddress(const IpAddress& address);

/// The key per-address limits count `address` under: an IPv4 address as it
/// is, an IPv6 address as its /64 ("2001:db8:1:2::/64"), since one host or
/// customer commonly holds a whole /64. Text that is not an address is
/// returned unchanged.
std::string LimitKey(std::string_view address);

/// Splits an authority ("host", "host:port", "[v6]", "[v6]:port") into its
/// host (brackets kept) and port ("" when none). False when it is malformed:
/// empty host, an unclosed bracket, or a port that is not 1..5 digits.
bool SplitHostPort(std::string_view authority, std::string_view* host, std::string_view* port);

/// The peers whose forwarding headers are believed: a list of CIDR ranges.
class TrustedProxies {
 public:
  /// Replaces the ranges with `cidrs` ("127.0.0.0/8", "::1/128", or a bare
  /// address for a single host). On a malformed entry returns false, sets
  /// *error to what is wrong with it and keeps the earlier ranges.
  bool Configure(const std::vector<std::string>& cidrs, std::string* error);
  /// True when `address` (an IP literal) lies in one of the ranges.
  bool Contains(std::string_view address) const;
  bool Contains(const IpAddress& address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    IpAddress network;
    int prefix_bits = 0;
  };
  std::vector<Range> ranges_;
};

/// Checks one CIDR range as [server] trusted_proxies accepts it; on failure
/// *error says why (without quoting `cidr`).
bool IsValidCidr(std::string_view cidr, std::string* error);

/// The client behind a request, as the limits and the log see it.
struct ResolvedClient {
  std::string address;      ///< Canonical IP text, or the peer as given.
  bool forwarded = false;   ///< The request carried X-Forwarded-For or Forwarded.
  bool from_proxy = false;  ///< The TCP peer is a trusted proxy.
};

/// Resolves the client of a request from the TCP `peer` and its `headers`.
/// From a peer outside `proxies` the peer is the client. From a trusted
/// peer: the right-most X-Forwarded-For entry (over all its field lines) that
/// is not itself a trusted proxy, or the left-most when all are; without
/// X-Forwarded-For the same over the `for=` parameters of Forwarded. A header
/// with any entry that is not an IP address ("unknown", an obfuscated name,
/// garbage) is unusable, and the peer is the client.
ResolvedClient ResolveClient(std::string_view peer, const Headers& headers,
                             const TrustedProxies& proxies);

}  // namespace notifyd::http
