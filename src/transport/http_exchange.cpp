#include "transport/http_exchange.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/printable.h"
#include "http/api.h"
#include "transport/server.h"
#include "transport/websocket_session.h"
#include "wire/http_response.h"
#include "wire/websocket.h"

namespace notifyd::transport {

namespace {

constexpr const char* kWsPath = "/ws";
constexpr const char* kEchoPath = "/ws/echo";
// A client that pipelines requests without reading the responses: past this
// many unsent bytes, its input waits until they are out.
constexpr size_t kMaxQueuedResponses = 256 * 1024;

}  // namespace

HttpExchange::HttpExchange(Connection& connection)
    : Protocol(/*wants_drained=*/true), connection_(connection), server_(connection.server()) {
  StartRequestTimer();
}

std::string HttpExchange::Describe() const {
  return in_request_ ? "http client (request incomplete)" : "http client (idle)";
}

void HttpExchange::StartRequestTimer() {
  connection_.set_deadline(server_.clock().MonotonicMillis() + kRequestTimeoutMs);
}

void HttpExchange::OnData(std::string_view data) {
  if (!pending_.empty()) {
    pending_.append(data);  // behind input already held: keep the order
    return;
  }
  Consume(data);
}

void HttpExchange::Consume(std::string_view data) {
  while (!data.empty() && !closing_ && connection_.state() == Connection::State::kOpen) {
    if (connection_.queued() > kMaxQueuedResponses) {
      pending_.append(data);
      connection_.PauseReading();
      return;
    }
    if (!in_request_) {
      in_request_ = true;
      StartRequestTimer();
    }
    switch (stage_) {
      case Stage::kHead: {
        size_t used = 0;
        wire::HttpHeadParser::State state = parser_.Feed(data, &used);
        data.remove_prefix(used);
        if (state == wire::HttpHeadParser::State::kNeedMore) return;
        if (state == wire::HttpHeadParser::State::kError) {
          RefuseMalformed(parser_.error_status(), parser_.error());
          return;
        }
        if (!OnHead(&data)) return;
        break;
      }
      case Stage::kBody: {
        std::string& body = parser_.request().body;
        size_t take = std::min<uint64_t>(data.size(), body_expected_ - body.size());
        body.append(data.data(), take);
        data.remove_prefix(take);
        if (body.size() == body_expected_) OnRequest();
        break;
      }
      case Stage::kChunked: {
        size_t used = 0;
        wire::ChunkedDecoder::State state = chunked_->Feed(data, &used, &parser_.request().body);
        data.remove_prefix(used);
        if (state == wire::ChunkedDecoder::State::kNeedMore) return;
        if (state == wire::ChunkedDecoder::State::kError) {
          if (chunked_->error_status() == 413) ++server_.counters().bodies_too_large;
          RefuseMalformed(chunked_->error_status(), chunked_->error());
          return;
        }
        OnRequest();
        break;
      }
    }
  }
}

bool HttpExchange::OnHead(std::string_view* rest) {
  http::Request& req = parser_.request();
  req.peer_address = connection_.peer();
  if (http::HasToken(req.Header("Upgrade"), "websocket")) {
    Upgrade(*rest);
    return false;
  }
  switch (parser_.framing()) {
    case wire::HttpHeadParser::BodyFraming::kNone:
      OnRequest();
      return true;
    case wire::HttpHeadParser::BodyFraming::kChunked:
      chunked_ = std::make_unique<wire::ChunkedDecoder>(server_.config().max_body_bytes);
      stage_ = Stage::kChunked;
      break;
    case wire::HttpHeadParser::BodyFraming::kLength:
      if (parser_.content_length() > server_.config().max_body_bytes) {
        // Refused unread: no point in reading what will not be used.
        ++server_.counters().bodies_too_large;
        Refuse(http::JsonError(413, "Request body too large",
                               "the limit is " + std::to_string(server_.config().max_body_bytes) +
                                   " bytes"));
        return false;
      }
      body_expected_ = parser_.content_length();
      stage_ = Stage::kBody;
      if (body_expected_ == 0) {
        OnRequest();
        return true;
      }
      break;
  }
  // RFC 9110 §10.1.1: answer at once, with 100 or with the final status when
  // the head decides it already. A client that sent the body without
  // waiting needs no 100.
  if (parser_.expect_continue() && rest->empty()) {
    if (std::optional<http::Response> final_response = server_.api().Precheck(req)) {
      Refuse(std::move(*final_response));
      return false;
    }
    connection_.Queue(std::make_shared<const std::string>(wire::kContinueResponse));
    if (!connection_.write_waiting()) connection_.Flush();
  }
  return true;
}

void HttpExchange::OnRequest() {
  auto start = std::chrono::steady_clock::now();
  const http::Request& req = parser_.request();
  http::Response resp = server_.api().Handle(req);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  if (spdlog::should_log(spdlog::level::info)) {
    spdlog::info("http {} \"{} {}\" {} {} {:.3f}ms", server_.api().ResolvePeer(req).address,
                 core::Printable(req.method), core::Printable(req.path), resp.status,
                 resp.body.size(), us / 1000.0);
  }
  ++requests_;
  bool keep = parser_.keep_alive() && !server_.shutting_down() && server_.KeepAliveAllowed() &&
              requests_ < server_.config().max_requests_per_connection;
  bool head_only = req.method == "HEAD";
  Respond(std::move(resp), head_only, keep);
  if (!keep) return;
  parser_.Reset();
  chunked_.reset();
  stage_ = Stage::kHead;
  body_expected_ = 0;
  in_request_ = false;
  // Until the response is out, the last-write limit; then the idle timeout
  // (OnDrained).
  connection_.set_deadline(server_.clock().MonotonicMillis() + kLastWriteTimeoutMs);
  if (connection_.queued() == 0) OnDrained();
}

void HttpExchange::Respond(http::Response response, bool head_only, bool keep) {
  http::Api& api = server_.api();
  if (response.Header("Access-Control-Allow-Origin").empty()) api.AddCommonHeaders(&response);
  // Persistence is the transport's to decide: whatever a handler said,
  // Connection says what happens next.
  auto& headers = response.headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const auto& h) { return http::EqualsIgnoreCase(h.first, "Connection"); }),
                headers.end());
  if (!keep) {
    response.SetHeader("Connection", "close");
  } else if (parser_.version_minor() == 0) {
    response.SetHeader("Connection", "keep-alive");
  }
  std::string bytes = wire::SerializeResponse(response, head_only, server_.Date());
  if (!keep) {
    closing_ = true;
    pending_.clear();
    connection_.SendLast(std::move(bytes));
    return;
  }
  connection_.Queue(std::make_shared<const std::string>(std::move(bytes)));
  // The response goes out now, ahead of the fan-out a publish may have
  // queued: a publisher learns at once that its notification was taken.
  if (!connection_.write_waiting()) connection_.Flush();
}

void HttpExchange::Refuse(http::Response response) {
  Respond(std::move(response), parser_.request().method == "HEAD", false);
}

void HttpExchange::RefuseMalformed(int status, const std::string& reason) {
  spdlog::debug("bad request from {}: {} {}", connection_.peer(), status,
                core::Printable(reason));
  Respond(http::JsonError(status, wire::ReasonPhrase(status), reason), false, false);
}

void HttpExchange::OnDrained() {
  if (closing_) return;
  if (!in_request_) {
    auto idle_ms = static_cast<int64_t>(server_.config().keepalive_timeout_s * 1000);
    connection_.set_deadline(server_.clock().MonotonicMillis() + idle_ms);
  }
  if (pending_.empty()) return;
  std::string held = std::move(pending_);
  pending_.clear();
  Consume(held);
  if (pending_.empty() && !connection_.closed()) connection_.ResumeReading();
}

void HttpExchange::Shutdown() {
  if (closing_) return;
  // Idle, or a half-read request that will not be answered: close now.
  if (in_request_ || connection_.queued() == 0) {
    connection_.Destroy();
    return;
  }
  closing_ = true;
  connection_.SendLast({});
}

// --- the WebSocket handshake ----------------------------------------------------

void HttpExchange::Upgrade(std::string_view rest) {
  const http::Request& req = parser_.request();
  if (req.method != "GET") {
    Refuse(http::JsonError(400, "Bad request", "a WebSocket upgrade must use GET"));
    return;
  }
  if (!http::HasToken(req.Header("Connection"), "upgrade")) {
    Refuse(http::JsonError(400, "Bad request", "Connection: Upgrade is missing"));
    return;
  }
  if (req.Header("Sec-WebSocket-Version") != "13") {
    http::Response r =
        http::JsonError(426, "Upgrade required", "only WebSocket version 13 is supported");
    r.SetHeader("Sec-WebSocket-Version", "13");
    Refuse(std::move(r));
    return;
  }
  std::string_view key = req.Header("Sec-WebSocket-Key");
  if (!wire::IsValidWebSocketKey(key)) {
    Refuse(http::JsonError(400, "Bad request", "missing or malformed Sec-WebSocket-Key"));
    return;
  }
  AddressSlot* slot = nullptr;
  if (std::optional<http::Response> refusal = ValidateUpgrade(&slot)) {
    spdlog::debug("refused a WebSocket upgrade from {} to {}: {}", connection_.peer(),
                  core::Printable(req.path), refusal->status);
    Refuse(std::move(*refusal));
    return;
  }
  std::string accept =
      "HTTP/1.1 101 Switching Protocols\r\nServer: notifyd\r\n"
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
      wire::WebSocketAccept(key) + "\r\n\r\n";
  bool echo = req.path == kEchoPath;
  connection_.set_deadline(-1);
  connection_.Queue(std::make_shared<const std::string>(std::move(accept)));
  // Replaces this exchange: nothing of it may be used after this line.
  connection_.Upgrade(std::make_unique<WebSocketSession>(connection_, echo, slot), rest);
}

// Decides on a well-formed upgrade request before the 101 is sent.
std::optional<http::Response> HttpExchange::ValidateUpgrade(AddressSlot** slot) {
  const http::Request& req = parser_.request();
  const config::Config& config = server_.config();
  if (server_.shutting_down()) {
    return http::JsonError(503, "Service unavailable", "the server is shutting down");
  }
  if (req.path != kWsPath && !(req.path == kEchoPath && config.echo_enabled)) {
    return http::JsonError(404, "Not found", "no WebSocket endpoint at " + req.path);
  }
  if (std::optional<http::Response> denied = server_.api().AuthorizeSubscribe(req)) return denied;
  http::Api::ClientPeer client = server_.api().ResolvePeer(req);
  std::optional<http::Response> refusal = server_.Admit(client, slot);
  if (!refusal) connection_.set_peer(std::move(client.address));
  return refusal;
}

}  // namespace notifyd::transport
