#include "http/static_files.h"

#include <utility>

#include "core/digest.h"

namespace notifyd::http {

namespace {

constexpr std::string_view kIndex = "index.html";

// Everything the console loads comes from its own server: scripts and styles
// only from files (no inline code, no eval), connections only to the same
// origin and to WebSocket URLs, no plugins, no <base>, forms only to itself,
// and no page may frame it. ws: and wss: are listed because 'self' covers
// WebSocket URLs only in browsers that implement CSP Level 3 there.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match (RFC 9110 §13.1.2): "*", or a list of entity tags compared
// weakly (a W/ prefix on either side does not matter).
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  if (Trim(header) == "*") return true;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view tag = Trim(header.substr(0, comma));
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

StaticFiles::StaticFiles(const std::vector<WebFile>& files) {
  for (const WebFile& file : files) {
    entries_.push_back(
        {"/" + std::string(file.name), file.body, ContentType(file.name), EntityTag(file.body)});
    if (file.name == kIndex) {
      entries_.push_back({"/", file.body, ContentType(file.name), entries_.back().etag});
    }
  }
}

std::vector<std::string> StaticFiles::Paths() const {
  std::vector<std::string> paths;
  for (const Entry& entry : entries_) paths.push_back(entry.path);
  return paths;
}

std::optional<Response> StaticFiles::Serve(const Request& request) const {
  const Entry* entry = Find(request.path);
  if (entry == nullptr) return std::nullopt;
  Response r;
  const bool unchanged = NoneMatchHits(request.Header("If-None-Match"), entry->etag);
  // A 304 carries what the 200 would have for caching (RFC 9110 §15.4.5).
  r.status = unchanged ? 304 : 200;
  if (!unchanged) {
    r.body = std::string(entry->body);
    r.SetHeader("Content-Type", std::string(entry->content_type));
  }
  r.SetHeader("ETag", entry->etag);
  r.SetHeader("Cache-Control", "no-cache");
  r.SetHeader("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r.SetHeader("X-Content-Type-Options", "nosniff");
  r.SetHeader("Referrer-Policy", "no-referrer");
  r.SetHeader("X-Frame-Options", "DENY");
  return r;
}

std::string_view StaticFiles::ContentType(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},  // RFC 9239
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (EndsWith(name, extension)) return type;
  }
  return "application/octet-stream";
}

std::string StaticFiles::EntityTag(std::string_view body) {
  static constexpr char kHex[] = "0123456789abcdef";
  const core::Digest digest = core::Sha256(body);
  std::string tag = "\"";
  for (size_t i = 0; i < 16; ++i) {
    tag += kHex[digest[i] >> 4];
    tag += kHex[digest[i] & 0xf];
  }
  return tag + "\"";
}

const StaticFiles::Entry* StaticFiles::Find(std::string_view path) const {
  for (const Entry& entry : entries_) {
    if (entry.path == path) return &entry;
  }
  return nullptr;
}

}  // namespace notifyd::http
