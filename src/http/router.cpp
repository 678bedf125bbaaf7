#include "http/router.h"

#include <strings.h>

namespace notifyd::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

namespace {

std::string_view FindHeader(const Headers& headers, std::string_view name, bool* found) {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      *found = true;
      return v;
    }
  }
  *found = false;
  return {};
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  out.reserve(8);  // one allocation for the paths routed here (at most 4 segments)
  size_t pos = 0;
  if (!path.empty() && path[0] == '/') pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}


bool IsCapture(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::string_view Request::Header(std::string_view name) const {
  bool found;
  return FindHeader(headers, name, &found);
}

bool Request::HasHeader(std::string_view name) const {
  bool found;
  FindHeader(headers, name, &found);
  return found;
}

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string_view Response::Header(std::string_view name) const {
  bool found;
  std::string_view value = FindHeader(headers, name, &found);
  if (found || !shared_headers) return value;
  std::string_view lines = *shared_headers;
  while (!lines.empty()) {
    size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    lines = end == std::string_view::npos ? std::string_view() : lines.substr(end + 2);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name)) {
      value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return value;
    }
  }
  return {};
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
  Route_ r{std::move(method), {}, std::move(handler)};
  for (std::string_view s : SplitPath(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

Match Router::Route(std::string_view method, std::string_view path) const {
  std::vector<std::string_view> parts = SplitPath(path);
  Match match;
  for (const Route_& route : routes_) {
    if (route.segments.size() != parts.size()) continue;
    Params params;
    bool ok = true;
    for (size_t i = 0; ok && i < parts.size(); ++i) {
      if (!IsCapture(route.segments[i])) {
        ok = route.segments[i] == parts[i];
        continue;
      }
      std::string value;
      if (parts[i].empty()) {
        ok = false;
      } else if (!PercentDecode(parts[i], false, &value)) {
        return Match{Match::kBadPath, nullptr, {}, {}};
      } else {
        params.emplace_back(route.segments[i].substr(1, route.segments[i].size() - 2), value);
      }
    }
    if (!ok) continue;
    // HEAD is GET without the body (RFC 9110 §9.3.2); the transport drops it.
    if (route.method == method || (method == "HEAD" && route.method == "GET")) {
      return Match{Match::kFound, &route.handler, std::move(params), {}};
    }
    match.kind = Match::kMethodNotAllowed;
    match.allow += route.method + ", ";
    if (route.method == "GET") match.allow += "HEAD, ";
  }
  if (match.kind == Match::kMethodNotAllowed) match.allow += "OPTIONS";
  return match;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      int hi = i + 1 < in.size() ? HexDigitValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexDigitValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

bool QueryParam(std::string_view query, std::string_view key, std::string* value) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    std::string name;
    if (PercentDecode(pair.substr(0, eq), true, &name) && name == key) {
      if (eq == std::string_view::npos) {
        value->clear();
        return true;
      }
      return PercentDecode(pair.substr(eq + 1), true, value);
    }
    pos = amp + 1;
  }
  return false;
}

bool IsLoopback(std::string_view address) {
  if (address == "::1") return true;
  constexpr std::string_view kMapped = "::ffff:";
  if (address.substr(0, kMapped.size()) == kMapped) address.remove_prefix(kMapped.size());
  return address.substr(0, 4) == "127.";
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace notifyd::http
