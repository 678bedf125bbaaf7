#include "http/client_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

namespace notifyd::http {

namespace {

constexpr std::string_view kSpace = " \t";

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Decimal digits only, at most `max_digits` of them.
bool ParseDigits(std::string_view text, size_t max_digits, int* value) {
  if (text.empty() || text.size() > max_digits ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  *value = 0;
  for (char c : text) *value = *value * 10 + (c - '0');
  return true;
}

bool IsV4Mapped(const uint8_t* bytes) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes, kPrefix, sizeof kPrefix) == 0;
}

// One forwarded node: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:4711". The port is checked and dropped.
bool ParseNode(std::string_view text, IpAddress* out) {
  if (text.empty()) return false;
  if (std::count(text.begin(), text.end(), ':') > 1 && text.front() != '[') {
    return ParseIpAddress(text, out);  // a bare IPv6 address
  }
  std::string_view host;
  std::string_view port;
  if (!SplitHostPort(text, &host, &port)) return false;
  if (host.front() == '[') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) return false;
  }
  return ParseIpAddress(host, out);
}

// The entries of every X-Forwarded-For field line, in order. False when
// there is no such line.
bool ForwardedForEntries(const Headers& headers, std::vector<std::string_view>* entries) {
  bool present = false;
  for (const auto& [name, value] : headers) {
    if (!SameName(name, "X-Forwarded-For")) continue;
    present = true;
    std::string_view rest = value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view entry = Trim(rest.substr(0, comma));
      if (!entry.empty()) entries->push_back(entry);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return present;
}

// Splits a Forwarded field value (RFC 7239 §4) into its elements and reads
// each element's for= value (unquoted) into *nodes. False when the syntax is
// broken or an element has no for=.
class ForwardedReader {
 public:
  explicit ForwardedReader(std::string_view value) : text_(value) {}

  bool ReadAll(std::vector<std::string>* nodes) {
    while (true) {
      std::string node;
      if (!ReadElement(&node)) return false;
      nodes->push_back(std::move(node));
      SkipSpace();
      if (pos_ == text_.size()) return true;
      if (text_[pos_++] != ',') return false;
    }
  }

 private:
  bool ReadElement(std::string* node) {
    bool found = false;
    while (true) {
      SkipSpace();
      std::string key;
      std::string value;
      if (!ReadToken(&key) || !Expect('=') || !ReadValue(&value)) return false;
      if (SameName(key, "for")) {
        if (found) return false;
        found = true;
        *node = std::move(value);
      }
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != ';') return found;
      ++pos_;
    }
  }

  bool ReadValue(std::string* value) {
    if (pos_ < text_.size() && text_[pos_] == '"') return ReadQuoted(value);
    return ReadToken(value);
  }

  bool ReadToken(std::string* token) {
    const size_t begin = pos_;
    while (pos_ < text_.size() && IsTokenChar(text_[pos_])) ++pos_;
    token->assign(text_.substr(begin, pos_ - begin));
    return pos_ > begin;
  }

  bool ReadQuoted(std::string* value) {
    ++pos_;  // the opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ == text_.size()) return false;
        c = text_[pos_++];
      }
      value->push_back(c);
    }
    return false;
  }

  bool Expect(char c) {
    if (pos_ == text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  static bool IsTokenChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// The for= nodes of every Forwarded field line, in order. False when there is
// no such line; *usable is false when one of them cannot be read.
bool ForwardedNodes(const Headers& headers, std::vector<std::string>* nodes, bool* usable) {
  bool present = false;
  *usable = true;
  for (const auto& [name, value] : headers) {
    if (!SameName(name, "Forwarded")) continue;
    present = true;
    if (!ForwardedReader(value).ReadAll(nodes)) *usable = false;
  }
  return present;
}

// Applies the right-most-untrusted rule to parsed nodes; false when one of
// them is not an IP address.
template <typename Text>
bool PickClient(const std::vector<Text>& nodes, const TrustedProxies& proxies,
                std::string* client) {
  std::vector<IpAddress> addresses(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!ParseNode(nodes[i], &addresses[i])) return false;
  }
  if (addresses.empty()) return false;
  for (size_t i = addresses.size(); i-- > 0;) {
    if (!proxies.Contains(addresses[i])) {
      *client = FormatIpAddress(addresses[i]);
      return true;
    }
  }
  *client = FormatIpAddress(addresses.front());
  return true;
}

// The canonical text of `peer`, or `peer` itself when it is not an address.
std::string CanonicalPeer(std::string_view peer) {
  IpAddress address;
  return ParseIpAddress(peer, &address) ? FormatIpAddress(address) : std::string(peer);
}

}  // namespace

bool ParseIpAddress(std::string_view text, IpAddress* out) {
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer ||
      text.find('\0') != std::string_view::npos) {
    return false;
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  if (inet_pton(AF_INET, buffer, address.bytes.data()) == 1) {
    *out = address;
    return true;
  }
  if (inet_pton(AF_INET6, buffer, address.bytes.data()) != 1) return false;
  address.v4 = IsV4Mapped(address.bytes.data());
  if (address.v4) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::fill(address.bytes.begin() + 4, address.bytes.end(), 0);
  }
  *out = address;
  return true;
}

std::string FormatIpAddress(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN];
  const char* text =
      inet_ntop(address.v4 ? AF_INET : AF_INET6, address.bytes.data(), buffer, sizeof buffer);
  return text != nullptr ? std::string(text) : std::string();
}

std::string LimitKey(std::string_view address) {
  IpAddress parsed;
  if (!ParseIpAddress(address, &parsed)) return std::string(address);
  if (parsed.v4) return FormatIpAddress(parsed);
  std::fill(parsed.bytes.begin() + 8, parsed.bytes.end(), 0);
  return FormatIpAddress(parsed) + "/64";
}

bool SplitHostPort(std::string_view authority, std::string_view* host, std::string_view* port) {
  size_t host_end = 0;
  if (!authority.empty() && authority.front() == '[') {
    host_end = authority.find(']');
    if (host_end == std::string_view::npos) return false;
    ++host_end;
  } else {
    host_end = std::min(authority.find(':'), authority.size());
  }
  *host = authority.substr(0, host_end);
  const std::string_view rest = authority.substr(host_end);
  if (host->empty() || (!rest.empty() && rest.front() != ':')) return false;
  *port = rest.empty() ? rest : rest.substr(1);
  int number = 0;
  return rest.empty() || (ParseDigits(*port, 5, &number) && number <= 65535);
}

bool IsValidCidr(std::string_view cidr, std::string* error) {
  TrustedProxies probe;
  return probe.Configure({std::string(cidr)}, error);
}

bool TrustedProxies::Configure(const std::vector<std::string>& cidrs, std::string* error) {
  std::vector<Range> ranges;
  for (const std::string& cidr : cidrs) {
    const size_t slash = cidr.find('/');
    const std::string_view text = std::string_view(cidr).substr(0, slash);
    Range range;
    if (!ParseIpAddress(text, &range.network)) {
      *error = "not an IP address or CIDR range (such as 10.0.0.0/8 or fd00::/8)";
      return false;
    }
    const bool written_v6 = text.find(':') != std::string_view::npos;
    const int max_bits = written_v6 ? 128 : 32;
    range.prefix_bits = max_bits;
    if (slash != std::string::npos &&
        (!ParseDigits(std::string_view(cidr).substr(slash + 1), 3, &range.prefix_bits) ||
         range.prefix_bits > max_bits)) {
      *error = "the prefix length after '/' must be 0.." + std::to_string(max_bits);
      return false;
    }
    if (written_v6 && range.network.v4) {  // ::ffff:a.b.c.d/n covers IPv4 addresses
      if (range.prefix_bits < 96) {
        *error = "an IPv4-mapped range needs a prefix length of 96..128";
        return false;
      }
      range.prefix_bits -= 96;
    }
    ranges.push_back(range);
  }
  ranges_ = std::move(ranges);
  return true;
}

bool TrustedProxies::Contains(std::string_view address) const {
  IpAddress parsed;
  return ParseIpAddress(address, &parsed) && Contains(parsed);
}

bool TrustedProxies::Contains(const IpAddress& address) const {
  for (const Range& range : ranges_) {
    if (range.network.v4 != address.v4) continue;
    const int whole = range.prefix_bits / 8;
    const int rest = range.prefix_bits % 8;
    if (std::memcmp(range.network.bytes.data(), address.bytes.data(), whole) != 0) continue;
    const uint8_t mask = static_cast<uint8_t>(0xff00 >> rest);
    if (rest == 0 || ((range.network.bytes[whole] ^ address.bytes[whole]) & mask) == 0) {
      return true;
    }
  }
  return false;
}

ResolvedClient ResolveClient(std::string_view peer, const Headers& headers,
                             const TrustedProxies& proxies) {
  ResolvedClient client;
  client.address = CanonicalPeer(peer);
  client.from_proxy = proxies.Contains(peer);
  if (!client.from_proxy) return client;
  std::vector<std::string_view> entries;
  if (ForwardedForEntries(headers, &entries)) {
    client.forwarded = true;
    PickClient(entries, proxies, &client.address);
    return client;
  }
  std::vector<std::string> nodes;
  bool usable = true;
  if (ForwardedNodes(headers, &nodes, &usable)) {
    client.forwarded = true;
    if (usable) PickClient(nodes, proxies, &client.address);
  }
  return client;
}

}  // namespace notifyd::http
