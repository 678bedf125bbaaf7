#include "http/api.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>

#include "core/channel_name.h"
#include "core/utf8.h"

namespace notifyd::http {

namespace {

Response Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.SetHeader("Content-Type", "application/json");
  return r;
}

// Media types are case-insensitive (RFC 9110 8.3.1).
bool IsJsonContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() && strncasecmp(media.data(), kJson.data(), kJson.size()) == 0;
}

constexpr std::string_view kEventsPrefix = "/api/events/";
constexpr size_t kDefaultPageLimit = 100;
constexpr size_t kMaxPageLimit = 1000;
constexpr size_t kMaxIdempotencyKeyBytes = 128;

// Routes that read a channel as a subscriber does (history, events): access
// as for subscribing to it (the subscribe token, when one is configured).
bool IsSubscriberRoute(std::string_view path) {
  if (path.substr(0, kEventsPrefix.size()) == kEventsPrefix) return true;
  constexpr std::string_view kChannels = "/api/channels/";
  constexpr std::string_view kMessages = "/messages";
  return path.size() > kChannels.size() + kMessages.size() &&
         path.substr(0, kChannels.size()) == kChannels &&
         path.substr(path.size() - kMessages.size()) == kMessages;
}

// Privileged routes: every route under /api/, present and future, except the
// subscriber routes; and /metrics, which tells what /api/stats tells. Without
// tokens only trusted loopback clients may use them; with tokens they need
// an admin token (/health stays open).
bool IsProtectedPath(std::string_view path) {
  return (path.substr(0, 5) == "/api/" && !IsSubscriberRoute(path)) || path == "/metrics";
}

// 1-128 printable ASCII characters (PROTOCOL.md "Idempotent publish").
bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes) return false;
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// ?since=E:N, ?since=all (= none), absent (= none). False when malformed.
bool SinceParam(std::string_view query, std::optional<core::Position>* since) {
  std::string text;
  if (!QueryParam(query, "since", &text) || text == "all") return true;
  *since = core::ParsePosition(text);
  return since->has_value();
}

// The POSTs under /api/ publish: to the channel in the path, or (a check-in)
// to the check-in's channel; everything else there is for admins.
bool IsPublish(const Request& request, const Match& match) {
  return request.method == "POST" && match.params.size() == 1;
}

// The Content-Length of a request head, when it has a plain decimal one.
bool DeclaredLength(const Request& head, uint64_t* length) {
  const std::string_view text = head.Header("Content-Length");
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  *length = std::stoull(std::string(text));
  return true;
}

// RFC 6750 §3: a missing token gets the bare challenge, a wrong one says so.
Response Unauthorized(bool token_sent, std::string_view details) {
  Response r = JsonError(401, "Unauthorized", details);
  r.SetHeader("WWW-Authenticate", token_sent ? R"(Bearer realm="notifyd", error="invalid_token")"
                                             : R"(Bearer realm="notifyd")");
  return r;
}

std::string FormatRate(double rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", rate);
  return text;
}

}  // namespace

Response JsonError(int status, std::string_view error, std::string_view details) {
  return Json(status, protocol::EncodeHttpError(error, details));
}

namespace {

// A valid token that may not do this (403), or nullopt.
std::optional<Response> CheckGrant(const Access::Grant& grant, bool publish, const Request& request,
                                   const Match& match) {
  if (!publish) {
    if (grant.MayRead()) return std::nullopt;
    return JsonError(403, "Forbidden", "only an admin token may read " + request.path);
  }
  if (grant.role == Access::Role::kSubscribe) {
    return JsonError(403, "Forbidden", "the subscribe token may not publish");
  }
  // A check-in publishes to the channel its body names: the handler checks it.
  if (match.params.front().first != "channel") return std::nullopt;
  // An invalid channel name is the handler's 400, whoever asks.
  const std::string& channel = match.params.front().second;
  if (!core::IsValidChannelName(channel) || grant.MayPublish(channel)) return std::nullopt;
  return JsonError(403, "Forbidden", "this token may not publish to " + channel);
}

}  // namespace

Api::Api(core::Hub& hub, core::Broker& broker, const core::Clock& clock,
         core::Counters& counters, StatsSource stats, ProcessSource process)
    : hub_(hub),
      broker_(broker),
      clock_(clock),
      counters_(counters),
      stats_(std::move(stats)),
      process_(std::move(process)),
      publish_limiter_(clock) {
  using namespace std::placeholders;
  router_.Add("POST", "/api/notify/{channel}", std::bind(&Api::Publish, this, _1, _2));
  router_.Add("GET", "/api/channels", std::bind(&Api::Channels, this, _1, _2));
  router_.Add("GET", "/api/channels/{channel}/messages", std::bind(&Api::Messages, this, _1, _2));
  router_.Add("GET", "/api/events/{channel}", std::bind(&Api::Events, this, _1, _2));
  router_.Add("POST", "/api/checkin/{name}", std::bind(&Api::CheckIn, this, _1, _2));
  router_.Add("DELETE", "/api/checkin/{name}", std::bind(&Api::DeleteCheckin, this, _1, _2));
  router_.Add("GET", "/api/checkins", std::bind(&Api::ListCheckins, this, _1, _2));
  router_.Add("GET", "/api/stats", std::bind(&Api::Stats, this, _1, _2));
  router_.Add("GET", "/api/clients", std::bind(&Api::Clients, this, _1, _2));
  router_.Add("GET", "/metrics", std::bind(&Api::Metrics, this, _1, _2));
  router_.Add("GET", "/health", std::bind(&Api::Health, this, _1, _2));
  router_.Add("GET", "/ws", std::bind(&Api::UpgradeRequired, this, _1, _2));
  router_.Add("GET", "/ws/echo", std::bind(&Api::UpgradeRequired, this, _1, _2));
  for (const std::string& path : web_files_.Paths()) {
    router_.Add("GET", path, std::bind(&Api::WebFile, this, _1, _2));
  }
}

void Api::Configure(const config::Config& config) {
  common_headers_ = MakeCommonHeaders(config.cors_origin);
  max_body_bytes_ = config.max_body_bytes;
  allowed_hosts_ = config.allowed_hosts;
  allowed_origins_ = config.allowed_origins;
  std::string error;  // the config parser has checked every range
  trusted_proxies_.Configure(config.trusted_proxies, &error);
  last_peer_socket_.clear();  // resolved under the old trusted_proxies
  last_peer_ = ClientPeer();
  access_.Configure(config);
  publish_limiter_.Configure(config.publish_rate, config.publish_burst);
}

Api::ClientPeer Api::ResolvePeer(const Request& request) const {
  // Without forwarding headers the answer depends on the peer alone, and a
  // keep-alive connection asks again for every request: remember the last.
  const bool forwarding =
      request.HasHeader("X-Forwarded-For") || request.HasHeader("Forwarded");
  if (!forwarding && !last_peer_.address.empty() && request.peer_address == last_peer_socket_) {
    return last_peer_;
  }
  const ResolvedClient client =
      ResolveClient(request.peer_address, request.headers, trusted_proxies_);
  ClientPeer peer;
  peer.address = client.address;
  peer.limit_key = LimitKey(client.address);
  peer.exempt = client.from_proxy && !client.forwarded;
  if (!forwarding) {
    last_peer_socket_ = request.peer_address;
    last_peer_ = peer;
  }
  return peer;
}

std::optional<Response> Api::AuthorizeSubscribe(const Request& request) {
  if (!access_.subscribe_token_required()) return std::nullopt;
  std::string_view token;
  std::string query_token;
  bool sent = BearerToken(request.Header("Authorization"), &token);
  if (!sent && QueryParam(request.query, "token", &query_token)) {
    token = query_token;
    sent = true;
  }
  const Access::Grant* grant = sent ? access_.Find(token) : nullptr;
  Response refusal;
  if (grant == nullptr) {
    ++counters_.auth_failures;
    refusal = Unauthorized(sent, sent ? "the token is not valid"
                                      : "send the subscribe token as ?token= or in an "
                                        "Authorization: Bearer header");
  } else if (grant->role == Access::Role::kPublish) {
    ++counters_.forbidden;
    refusal = JsonError(403, "Forbidden", "a publish token may not subscribe");
  } else {
    return std::nullopt;
  }
  AddCommonHeaders(&refusal);
  return refusal;
}

Response Api::Handle(const Request& request) {
  Response response = Dispatch(request);
  AddCommonHeaders(&response);
  return response;
}

std::optional<Response> Api::Precheck(const Request& head) {
  if (head.method == "OPTIONS") return std::nullopt;
  const Match match = router_.Route(head.method, head.path);
  std::optional<Response> refusal = RouteError(head, match);
  const Access::Grant* grant = nullptr;
  if (!refusal && IsSubscriberRoute(head.path)) {
    refusal = AuthorizeSubscribe(head);
  } else if (!refusal && IsProtectedPath(head.path)) {
    refusal = Authorize(head, match, ResolvePeer(head), &grant);
  }
  uint64_t length = 0;
  if (!refusal && DeclaredLength(head, &length) && length > max_body_bytes_) {
    refusal = BodyTooLarge();
  }
  if (refusal) AddCommonHeaders(&*refusal);
  return refusal;
}

std::optional<Response> Api::RouteError(const Request& request, const Match& match) const {
  switch (match.kind) {
    case Match::kNotFound:
      return JsonError(404, "Not found", "no such path: " + request.path);
    case Match::kBadPath:
      return JsonError(400, "Bad request", "malformed percent-encoding in the path");
    case Match::kMethodNotAllowed: {
      Response r = JsonError(405, "Method not allowed",
                             request.method + " is not allowed here; allowed: " + match.allow);
      r.SetHeader("Allow", match.allow);
      return r;
    }
    case Match::kFound:
      break;
  }
  return std::nullopt;
}

Response Api::Dispatch(const Request& request) {
  if (request.method == "OPTIONS") return Response{200, {}, {}};
  const Match match = router_.Route(request.method, request.path);
  if (std::optional<Response> error = RouteError(request, match)) return std::move(*error);
  if (IsSubscriberRoute(request.path)) {
    if (std::optional<Response> refusal = AuthorizeSubscribe(request)) return std::move(*refusal);
  } else if (IsProtectedPath(request.path)) {
    const ClientPeer peer = ResolvePeer(request);
    const Access::Grant* grant = nullptr;
    std::optional<Response> refusal = Authorize(request, match, peer, &grant);
    if (!refusal && IsPublish(request, match)) refusal = LimitPublishRate(grant, peer);
    if (refusal) return std::move(*refusal);
    grant_ = grant;
  }
  Response response = (*match.handler)(request, match.params);
  grant_ = nullptr;
  return response;
}

std::optional<Response> Api::Authorize(const Request& request, const Match& match,
                                       const ClientPeer& peer, const Access::Grant** grant) {
  *grant = nullptr;
  if (!access_.api_tokens()) {
    std::optional<Response> refusal = CheckLoopbackTrust(request, peer);
    if (refusal) ++counters_.forbidden;
    return refusal;
  }
  std::string_view token;
  const bool sent = BearerToken(request.Header("Authorization"), &token);
  *grant = sent ? access_.Find(token) : nullptr;
  if (*grant == nullptr) {
    ++counters_.auth_failures;
    return Unauthorized(sent, sent ? "the token is not valid"
                                   : "send a token in an Authorization: Bearer header");
  }
  std::optional<Response> refusal = CheckGrant(**grant, IsPublish(request, match), request, match);
  if (refusal) ++counters_.forbidden;
  return refusal;
}

std::optional<Response> Api::CheckLoopbackTrust(const Request& request,
                                                const ClientPeer& peer) const {
  if (!IsLoopback(peer.address)) {
    return JsonError(403, "Forbidden",
                     "the API answers only loopback clients while no tokens are configured; "
                     "configure tokens in [auth] to use it from elsewhere");
  }
  const std::string_view host = request.host.empty() ? request.Header("Host") : request.host;
  if (!IsAllowedHost(host)) {
    return JsonError(403, "Forbidden",
                     "Host \"" + std::string(host) +
                         "\" is not a loopback name (localhost, 127.0.0.1, [::1]); a web page may "
                         "have pointed its name at this machine. List the name in [server] "
                         "allowed_hosts, or configure tokens in [auth]");
  }
  if (request.HasHeader("Origin") && !IsAllowedOrigin(request.Header("Origin"), host)) {
    return JsonError(403, "Forbidden",
                     "a request from the web page at Origin \"" +
                         std::string(request.Header("Origin")) +
                         "\" needs a token; list that origin in [server] allowed_origins, or "
                         "configure tokens in [auth]");
  }
  return std::nullopt;
}

bool Api::IsAllowedHost(std::string_view host) const {
  std::string_view name;
  std::string_view port;
  if (!SplitHostPort(host, &name, &port)) return false;
  for (std::string_view loopback : {"localhost", "127.0.0.1", "[::1]"}) {
    if (EqualsIgnoreCase(name, loopback)) return true;
  }
  for (const std::string& allowed : allowed_hosts_) {
    std::string_view allowed_name;
    std::string_view allowed_port;
    if (SplitHostPort(allowed, &allowed_name, &allowed_port) &&
        EqualsIgnoreCase(name, allowed_name) && (allowed_port.empty() || allowed_port == port)) {
      return true;
    }
  }
  return false;
}

// "null" (sandboxed frames, files) names no site and is never allowed.
bool Api::IsAllowedOrigin(std::string_view origin, std::string_view host) const {
  if (origin == "null") return false;
  for (const std::string& allowed : allowed_origins_) {
    if (EqualsIgnoreCase(origin, allowed)) return true;
  }
  constexpr std::string_view kHttp = "http://";
  return origin.size() > kHttp.size() && EqualsIgnoreCase(origin.substr(0, kHttp.size()), kHttp) &&
         EqualsIgnoreCase(origin.substr(kHttp.size()), host);
}

std::optional<Response> Api::LimitPublishRate(const Access::Grant* grant, const ClientPeer& peer) {
  // One bucket per token (its digest, never the token itself), else per
  // client address; a trusted proxy speaking for itself is not limited.
  if (grant == nullptr && peer.exempt) return std::nullopt;
  const std::string key =
      grant != nullptr ? "t" + std::string(reinterpret_cast<const char*>(grant->digest.data()),
                                           grant->digest.size())
                       : "a" + peer.limit_key;
  double retry_after_s = 0;
  if (publish_limiter_.Allow(key, &retry_after_s)) return std::nullopt;
  ++counters_.publishes_rate_limited;
  const int64_t seconds = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(retry_after_s)));
  Response r = JsonError(429, "Too many requests",
                         "over the publish rate of " + FormatRate(publish_limiter_.rate()) +
                             " per second (burst " + std::to_string(publish_limiter_.burst()) +
                             "); retry after " + std::to_string(seconds) + " s");
  r.SetHeader("Retry-After", std::to_string(seconds));
  return r;
}

Response Api::BodyTooLarge() {
  ++counters_.bodies_too_large;
  return JsonError(413, "Request body too large",
                   "the limit is " + std::to_string(max_body_bytes_) + " bytes");
}

void Api::AddCommonHeaders(Response* response) const {
  if (response->shared_headers || !response->Header("Access-Control-Allow-Origin").empty()) return;
  response->shared_headers = common_headers_;
}

std::shared_ptr<const std::string> Api::MakeCommonHeaders(const std::string& cors_origin) {
  return std::make_shared<const std::string>(
      "Access-Control-Allow-Origin: " + cors_origin +
      "\r\n"
      "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
      "Access-Control-Allow-Headers: Content-Type, Authorization, Idempotency-Key, "
      "Last-Event-ID, Title\r\n"
      "Access-Control-Expose-Headers: Idempotent-Replayed\r\n");
}

Response Api::Publish(const Request& request, const Params& params) {
  const std::string& channel = params.front().second;
  if (!core::IsValidChannelName(channel)) {
    ++counters_.invalid_channels;
    return JsonError(400, "Invalid channel name",
                     "use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @");
  }
  if (request.body.size() > max_body_bytes_) return BodyTooLarge();
  const std::string_view key = request.Header("Idempotency-Key");
  if (request.HasHeader("Idempotency-Key") && !IsValidIdempotencyKey(key)) {
    return JsonError(400, "Invalid Idempotency-Key", "use 1 to 128 printable ASCII characters");
  }
  protocol::PublishRequest pub;
  std::string details;
  bool json_type = IsJsonContentType(request.Header("Content-Type"));
  protocol::PublishParse parsed = protocol::ParsePublishJson(request.body, &pub, &details);
  // Only a body that is not JSON at all, sent without the JSON content type,
  // is plain text; JSON that is not a valid publish object is an error.
  if (parsed == protocol::PublishParse::kBadField ||
      parsed == protocol::PublishParse::kNotObject ||
      (parsed == protocol::PublishParse::kNotJson && json_type)) {
    return JsonError(400, "Invalid request body", details);
  }
  if (parsed != protocol::PublishParse::kOk) {
    // Plain text from curl -d and friends: the whole body is the message.
    pub = protocol::PublishRequest{};
    pub.body = request.body;
    std::string title(request.Header("Title"));
    if (!title.empty() || QueryParam(request.query, "title", &title)) {
      if (!title.empty()) pub.title = title;
    }
    if (!core::IsValidUtf8(pub.body) || !core::IsValidUtf8(pub.title)) {
      return JsonError(400, "Invalid request body", "the text is not valid UTF-8");
    }
  }
  // A repeat of a key is answered from the first reply without looking at
  // its body; a body that does not parse is refused above all the same.
  std::optional<core::PublishOutcome> outcome = broker_.Publish(
      channel, {std::move(pub.title), std::move(pub.body), std::move(pub.data_json)}, key,
      [this, &request]() -> core::PublishDone {
        Completion later = request.defer ? request.defer() : Completion();
        return [this, later](const core::PublishOutcome& o) {
          if (later) later(PublishReply(o));
        };
      });
  return outcome ? PublishReply(*outcome) : Response::Deferred();
}

Response Api::PublishReply(const core::PublishOutcome& o) const {
  if (o.status == core::PublishOutcome::Status::kUnavailable) {
    Response r =
        JsonError(503, o.clustered ? "Broker unavailable" : "Service unavailable", o.error);
    r.SetHeader("Retry-After", "1");
    return r;
  }
  Response r = Json(200, protocol::EncodePublishResponse(
                             o.channel, o.delivered, o.id, o.seq, o.epoch,
                             o.clustered ? std::optional<uint64_t>(o.nodes) : std::nullopt));
  if (o.replayed) r.SetHeader("Idempotent-Replayed", "true");
  return r;
}

Response Api::Messages(const Request& request, const Params& params) {
  const std::string& channel = params.front().second;
  if (!core::IsValidChannelName(channel)) {
    ++counters_.invalid_channels;
    return JsonError(400, "Invalid channel name",
                     "use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @");
  }
  std::optional<core::Position> since;
  if (!SinceParam(request.query, &since)) {
    return JsonError(400, "Invalid since", "use since=EPOCH:SEQ (a notification's id) or all");
  }
  size_t limit = kDefaultPageLimit;
  std::string text;
  if (QueryParam(request.query, "limit", &text)) {
    if (text.empty() || text.size() > 4 ||
        text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(text) < 1 || std::stoul(text) > kMaxPageLimit) {
      return JsonError(400, "Invalid limit", "use limit=1 to 1000");
    }
    limit = std::stoul(text);
  }
  std::optional<core::HistoryPage> page =
      broker_.Read(channel, since, limit, [&]() -> core::HistoryPageDone {
        Completion later = request.defer ? request.defer() : Completion();
        return [this, channel, later](core::HistoryPage p) {
          if (later) later(PageReply(channel, p));
        };
      });
  return page ? PageReply(channel, *page) : Response::Deferred();
}

Response Api::PageReply(const std::string& channel, const core::HistoryPage& page) const {
  if (page.unavailable) {
    Response r = JsonError(503, "Broker unavailable", page.error);
    r.SetHeader("Retry-After", "1");
    return r;
  }
  return Json(200, protocol::EncodeHistoryPage(channel, page));
}

Response Api::CheckIn(const Request& request, const Params& params) {
  const std::string& name = params.front().second;
  if (!core::IsValidChannelName(name)) {
    return JsonError(400, "Invalid check-in name", "use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @");
  }
  if (checkins_ == nullptr) return JsonError(404, "Not found", "check-ins are not served here");
  core::Checkins::Update update;
  std::string details;
  if (!request.body.empty() && !protocol::ParseCheckinJson(request.body, &update, &details)) {
    return JsonError(400, "Invalid request body", details);
  }
  // Query parameters, where given, as the body's fields.
  for (auto [key, min, field] : {std::make_tuple("every", int64_t{1}, &update.every_s),
                                 std::make_tuple("grace", int64_t{0}, &update.grace_s)}) {
    std::string text;
    if (!QueryParam(request.query, key, &text)) continue;
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(text) < min || std::stoll(text) > core::Checkins::kMaxSeconds) {
      return JsonError(400, "Invalid " + std::string(key),
                       std::string(key) + " is a number of seconds, " + std::to_string(min) +
                           " to " + std::to_string(core::Checkins::kMaxSeconds));
    }
    *field = std::stoll(text);
  }
  std::string channel;
  if (QueryParam(request.query, "channel", &channel)) {
    if (!core::IsValidChannelName(channel)) {
      return JsonError(400, "Invalid channel name", "use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @");
    }
    update.channel = channel;
  }
  const core::StoredCheckin* known = checkins_->Find(name);
  const std::string target = update.channel ? *update.channel
                             : known       ? known->channel
                                           : core::Checkins::kDefaultChannel;
  if (grant_ != nullptr && !grant_->MayPublish(target)) {
    ++counters_.forbidden;
    return JsonError(403, "Forbidden", "this token may not publish to " + target);
  }
  return Json(200, protocol::EncodeCheckin(checkins_->CheckIn(name, update)));
}

Response Api::DeleteCheckin(const Request&, const Params& params) {
  const std::string& name = params.front().second;
  if (checkins_ == nullptr || !checkins_->Remove(name)) {
    return JsonError(404, "Not found", "no check-in named " + name);
  }
  Response r{204, {}, {}};
  return r;
}

Response Api::ListCheckins(const Request&, const Params&) {
  return Json(200, protocol::EncodeCheckins(checkins_ ? checkins_->List()
                                                      : std::vector<core::StoredCheckin>{}));
}

// The transport streams /api/events itself (OpenEvents); reached only where
// no stream can be served.
Response Api::Events(const Request&, const Params&) {
  return JsonError(400, "Bad request", "server-sent events need a streaming connection");
}

bool Api::IsEventsRequest(const Request& request) const {
  return (request.method == "GET" || request.method == "HEAD") &&
         request.path.compare(0, kEventsPrefix.size(), kEventsPrefix) == 0;
}

std::optional<Response> Api::OpenEvents(const Request& request, EventsStart* start) {
  const Match match = router_.Route(request.method, request.path);
  std::optional<Response> refusal = RouteError(request, match);
  if (!refusal) refusal = AuthorizeSubscribe(request);
  if (!refusal) {
    start->channel = match.params.front().second;
    start->since.reset();
    if (!core::IsValidChannelName(start->channel)) {
      ++counters_.invalid_channels;
      refusal = JsonError(400, "Invalid channel name",
                          "use 1 to 128 bytes of A-Z a-z 0-9 _ - . : @");
    } else if (!request.Header("Last-Event-ID").empty()) {
      // What a browser's EventSource sends on reconnect; it wins over ?since=.
      start->since = core::ParsePosition(request.Header("Last-Event-ID"));
      if (!start->since) {
        refusal = JsonError(400, "Invalid Last-Event-ID",
                            "use EPOCH:SEQ, the id of the last event received");
      }
    } else if (!SinceParam(request.query, &start->since)) {
      refusal = JsonError(400, "Invalid since", "use since=EPOCH:SEQ (a notification's id) or all");
    }
  }
  if (refusal) AddCommonHeaders(&*refusal);
  return refusal;
}

Response Api::EventsHead() const {
  Response r{200, {}, {}};
  r.SetHeader("Content-Type", "text/event-stream; charset=utf-8");
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("X-Accel-Buffering", "no");
  AddCommonHeaders(&r);
  return r;
}

Response Api::Channels(const Request&, const Params&) {
  std::vector<std::pair<std::string, size_t>> counts = hub_.ChannelCounts();
  if (const core::ClusterEngine* engine = broker_.engine()) {
    // Subscribers on every node: this one's now, the others' as last heard.
    std::map<std::string, size_t> all(counts.begin(), counts.end());
    for (const auto& [channel, n] : engine->RemoteCounts()) all[channel] += n;
    counts.assign(all.begin(), all.end());
  }
  return Json(200, protocol::EncodeChannels(counts));
}

protocol::StatsExtra Api::CollectStats() const {
  protocol::StatsExtra extra = stats_ ? stats_() : protocol::StatsExtra{};
  extra.now_ms = clock_.WallMillis();
  extra.counters = counters_;
  return extra;
}

Response Api::Stats(const Request&, const Params&) {
  return Json(200, protocol::EncodeStats(hub_.stats(), CollectStats()));
}

Response Api::Metrics(const Request&, const Params&) {
  const std::optional<protocol::ProcessMetrics> process =
      process_ ? process_() : std::optional<protocol::ProcessMetrics>();
  Response r{200, {}, protocol::EncodeMetrics(hub_.stats(), CollectStats(), process)};
  r.SetHeader("Content-Type", protocol::kMetricsContentType);
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

Response Api::Clients(const Request&, const Params&) {
  return Json(200, protocol::EncodeClients(hub_.clients()));
}

Response Api::Health(const Request&, const Params&) {
  if (!broker_.engine_up()) {
    // Clients reaching this node cannot publish or resume: a load balancer
    // should send them to another.
    Response r{503, {}, "Broker unavailable: " + broker_.engine_error() + "\n"};
    r.SetHeader("Content-Type", "text/plain; charset=utf-8");
    r.SetHeader("Retry-After", "1");
    return r;
  }
  Response r{200, {}, "OK"};
  r.SetHeader("Content-Type", "text/plain; charset=utf-8");
  return r;
}

// Routed only for the paths StaticFiles serves.
Response Api::WebFile(const Request& request, const Params&) {
  // The router also matches a path that only looks like a file's ("" as
  // "/"): that is no file.
  std::optional<Response> file = web_files_.Serve(request);
  if (!file) return JsonError(404, "Not found", "no such path: " + request.path);
  return std::move(*file);
}

Response Api::UpgradeRequired(const Request&, const Params&) {
  Response r = JsonError(426, "Upgrade required", "this path speaks WebSocket only");
  r.SetHeader("Upgrade", "websocket");
  return r;
}

}  // namespace notifyd::http
