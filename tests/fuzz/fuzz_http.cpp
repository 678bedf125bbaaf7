// libFuzzer target: HTTP request handling (http::Api::Handle, routing and
// every handler, the access rules and the publish rate) and the WebSocket
// upgrade check (Api::AuthorizeSubscribe), with a real Hub and a manual clock.
//
// Input: one flags byte, then "METHOD\nTARGET\nName: value\n...\n\nBODY".
// Flags: 0x01 tokens configured, 0x02 remote peer, 0x04 IPv6 peer, 0x08 add a
// correct Content-Length, 0x10 move the clock by a second.
//
// Invariants beyond "no crash": every response has a known status and the
// CORS header; JSON bodies are valid UTF-8 objects; 401 has WWW-Authenticate,
// 405 Allow, 429 a whole-second Retry-After; and nothing under /api/ nor any
// upgrade succeeds without the credentials the access rules ask for (with
// no tokens: a loopback peer, a loopback Host, and no Origin or the
// same-origin one, as no allowed_hosts or allowed_origins are configured).
#include <cstddef>
#include <cstdint>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/counters.h"
#include "core/broker.h"
#include "core/checkins.h"
#include "core/hub.h"
#include "core/utf8.h"
#include "fuzz_check.h"
#include "http/api.h"
#include "protocol/messages.h"

namespace {

using namespace notifyd;

constexpr const char* kSub = "fuzz-sub-0123456789";
constexpr const char* kPub = "fuzz-pub-0123456789";
constexpr const char* kAdmin = "fuzz-adm-0123456789";

class CountingSubscriber final : public core::Subscriber {
 public:
  bool Deliver(const core::FramePtr& frame) override {
    FUZZ_CHECK(core::IsValidUtf8(frame->text));
    ++delivered;
    return true;
  }
  uint64_t delivered = 0;
};

// Everything one Api needs, built once per process and kept across inputs
// (as the daemon keeps it across requests).
struct World {
  explicit World(bool tokens) {
    config::Config c;
    if (tokens) {
      c.subscribe_token = {kSub, "", {}};
      c.publish_tokens = {{kPub, "", {"backups-*", "alerts"}}};
      c.admin_tokens = {{kAdmin, "", {}}};
    }
    c.max_body_bytes = 1024;
    api.Configure(c);
    api.AttachCheckins(&checkins);
    const core::ClientHandle handle = hub.Connect(&subscriber).handle;
    for (const char* channel : {"news", "alerts", "backups-x"}) hub.Subscribe(handle, channel);
  }

  fuzz::ManualClock clock;
  protocol::JsonNotificationEncoder encoder;
  core::Hub hub{clock, core::IdSource(1)};
  core::Broker broker{hub, clock, encoder, core::IdSource(2)};
  core::Checkins checkins{broker, clock};
  core::Counters counters;
  CountingSubscriber subscriber;
  http::Api api{hub, broker, clock, counters, nullptr};
};

std::string_view NextLine(std::string_view* rest) {
  const size_t end = rest->find('\n');
  std::string_view line = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return line;
}

http::Request ParseInput(std::string_view input, uint8_t flags) {
  http::Request request;
  request.method = std::string(NextLine(&input));
  const std::string_view target = NextLine(&input);
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  while (!input.empty()) {
    const std::string_view line = NextLine(&input);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  request.body = std::string(input);
  if (flags & 0x08) request.headers.emplace_back("Content-Length", std::to_string(input.size()));
  const bool remote = flags & 0x02;
  const bool ipv6 = flags & 0x04;
  request.peer_address = remote ? (ipv6 ? "2001:db8::7" : "192.0.2.7") : (ipv6 ? "::1" : "127.0.0.1");
  return request;
}

// True when some header holds `token`, or (`query_too`) ?token= is it.
bool Mentions(const http::Request& request, std::string_view token, bool query_too = false) {
  std::string from_query;
  if (query_too && http::QueryParam(request.query, "token", &from_query) && from_query == token) {
    return true;
  }
  for (const auto& [name, value] : request.headers) {
    if (value.find(token) != std::string::npos) return true;
  }
  return false;
}

bool IsJsonObject(const std::string& text) {
  protocol::PublishRequest ignored;
  std::string details;
  const protocol::PublishParse parsed = protocol::ParsePublishJson(text, &ignored, &details);
  return parsed == protocol::PublishParse::kOk || parsed == protocol::PublishParse::kBadField;
}

void CheckResponse(const http::Response& r) {
  switch (r.status) {
    case 200: case 400: case 401: case 403: case 404: case 405: case 413: case 426:
    case 429:
      break;
    default:
      FUZZ_CHECK(r.status == 200);  // an unexpected status: always fails
  }
  FUZZ_CHECK(r.Header("Access-Control-Allow-Origin") == "*");
  FUZZ_CHECK(core::IsValidUtf8(r.body));
  if (r.Header("Content-Type") == "application/json") FUZZ_CHECK(IsJsonObject(r.body));
  if (r.status >= 400) FUZZ_CHECK(r.Header("Content-Type") == "application/json");
  if (r.status == 401) FUZZ_CHECK(!r.Header("WWW-Authenticate").empty());
  if (r.status == 405) FUZZ_CHECK(!r.Header("Allow").empty());
  if (r.status == 429) {
    const std::string_view retry = r.Header("Retry-After");
    FUZZ_CHECK(!retry.empty() && retry.find_first_not_of("0123456789") == std::string::npos);
    FUZZ_CHECK(retry.front() != '0');
  }
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The Host the API judges: a loopback name with an optional port. Looser than
// the daemon's parse (any text after the port colon passes), as befits a
// necessary condition.
bool IsLoopbackHost(std::string_view host) {
  std::string name = Lower(host);
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && name.find(']', colon) == std::string::npos) name.resize(colon);
  return name == "localhost" || name == "127.0.0.1" || name == "[::1]";
}

// No Origin, or the same-origin one ("http://" + Host), the only one allowed
// while allowed_origins is empty.
bool HasTrustedOrigin(const http::Request& request, std::string_view host) {
  if (!request.HasHeader("Origin")) return true;
  return Lower(request.Header("Origin")) == "http://" + Lower(host);
}

void CheckAccess(const http::Request& request, const http::Response& r, bool tokens) {
  if (r.status != 200 || request.method == "OPTIONS" || request.path.rfind("/api/", 0) != 0) {
    return;
  }
  if (!tokens) {
    FUZZ_CHECK(request.peer_address == "127.0.0.1" || request.peer_address == "::1");
    const std::string_view host = request.host.empty() ? request.Header("Host") : request.host;
    FUZZ_CHECK(IsLoopbackHost(host));
    FUZZ_CHECK(HasTrustedOrigin(request, host));
  } else if (request.method == "POST") {
    FUZZ_CHECK(Mentions(request, kPub) || Mentions(request, kAdmin));
  } else {
    FUZZ_CHECK(Mentions(request, kAdmin));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* const open = new World(false);
  static World* const guarded = new World(true);
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const bool tokens = flags & 0x01;
  World& world = tokens ? *guarded : *open;
  world.clock.Advance(flags & 0x10 ? 1000 : 1);
  const http::Request request =
      ParseInput(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), flags);

  const http::Response response = world.api.Handle(request);
  CheckResponse(response);
  CheckAccess(request, response, tokens);

  const std::optional<http::Response> refusal = world.api.AuthorizeSubscribe(request);
  if (refusal) {
    FUZZ_CHECK(tokens);
    FUZZ_CHECK(refusal->status == 401 || refusal->status == 403);
    CheckResponse(*refusal);
  } else if (tokens) {
    FUZZ_CHECK(Mentions(request, kSub, true) || Mentions(request, kAdmin, true));
  }
  return 0;
}
