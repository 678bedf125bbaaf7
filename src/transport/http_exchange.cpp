#include "transport/http_exchange.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/printable.h"
#include "http/api.h"
#include "transport/event_stream.h"
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

// The connection behind `weak` while it is open and still runs `exchange`
// (not closed, not upgraded), else null: for callbacks that may come late.
ConnectionPtr StillServing(const std::weak_ptr<Connection>& weak, const Protocol* exchange) {
  ConnectionPtr connection = weak.lock();
  if (!connection || connection->closed() || connection->protocol() != exchange) return nullptr;
  return connection;
}

}  // namespace

HttpExchange::HttpExchange(Connection& connection)
    : Protocol(/*wants_drained=*/true), connection_(connection), server_(connection.server()) {
  StartRequestTimer();
}

std::string HttpExchange::Describe() const {
  if (waiting_) return "http client (reply deferred)";
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
    if (waiting_ || connection_.queued() > kMaxQueuedResponses) {
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
  // Timed only for the info line (a clock read per request otherwise).
  request_start_ = spdlog::should_log(spdlog::level::info) ? std::chrono::steady_clock::now()
                                                           : std::chrono::steady_clock::time_point();
  ++serial_;
  http::Request& req = parser_.request();
  if (server_.api().IsEventsRequest(req)) {
    OpenEvents();
    return;
  }
  // Captures only `this`: stored inside the std::function, no allocation.
  req.defer = [this] { return Defer(); };
  defer_taken_ = false;
  in_handle_ = true;
  http::Response resp = server_.api().Handle(req);
  in_handle_ = false;
  std::optional<http::Response> early = std::move(early_reply_);
  early_reply_.reset();
  if (resp.deferred()) {
    if (early) {
      resp = std::move(*early);
    } else if (!defer_taken_) {
      resp = http::JsonError(500, "Internal server error",
                             "the reply was deferred without a way to make it");
    } else {
      // Wait for the reply: further input is held (and not read, so that
      // the peer's EOF does not end the connection before it), and the
      // request timer gives way to the last-write limit.
      waiting_ = true;
      server_.ReplyDeferred();
      connection_.PauseReading();
      connection_.set_deadline(server_.clock().MonotonicMillis() + kLastWriteTimeoutMs);
      return;
    }
  }
  Answer(std::move(resp));
}

http::Completion HttpExchange::Defer() {
  defer_taken_ = true;
  std::weak_ptr<Connection> weak = connection_.shared_from_this();
  return [weak = std::move(weak), serial = serial_, self = this](http::Response response) {
    if (ConnectionPtr connection = StillServing(weak, self)) {
      self->Complete(serial, std::move(response));
    }
  };
}

void HttpExchange::Complete(uint64_t serial, http::Response response) {
  if (serial != serial_) return;
  if (in_handle_) {
    early_reply_ = std::move(response);
    return;
  }
  if (!waiting_) return;
  // Still waiting_ while the reply is queued, so that OnDrained does not go
  // on with the held input inside the Completion's caller (the broker, in
  // the middle of a commit), which a pipelined publish would re-enter.
  Answer(std::move(response));
  if (waiting_) {  // else the connection closed meanwhile (OnClosed)
    waiting_ = false;
    server_.DeferredReplyEnded();  // at shutdown, this may end the event loop
  }
  if (closing_ || connection_.closed()) return;
  // The held input, in a later turn of the loop (or when the reply is out).
  std::weak_ptr<Connection> weak = connection_.shared_from_this();
  server_.Post([weak = std::move(weak), self = this] {
    ConnectionPtr connection = StillServing(weak, self);
    if (connection && connection->queued() == 0) self->OnDrained();
  });
}

void HttpExchange::Answer(http::Response resp) {
  LogRequest(resp.status, resp.body.size());
  ++requests_;
  bool keep = parser_.keep_alive() && !server_.shutting_down() && server_.KeepAliveAllowed() &&
              requests_ < server_.config().max_requests_per_connection;
  bool head_only = parser_.request().method == "HEAD";
  int version_minor = parser_.version_minor();
  if (keep) {
    // Done with the request before its response is queued: sending it may
    // drain the queue at once, and OnDrained then goes on with held input.
    parser_.Reset();
    chunked_.reset();
    stage_ = Stage::kHead;
    body_expected_ = 0;
    in_request_ = false;
    // Until the response is out, the last-write limit; then the idle
    // timeout (OnDrained).
    connection_.set_deadline(server_.clock().MonotonicMillis() + kLastWriteTimeoutMs);
  }
  Respond(std::move(resp), head_only, keep, version_minor);
}

void HttpExchange::LogRequest(int status, size_t body_bytes) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  const http::Request& req = parser_.request();
  // 0 when info lines were turned on while the request was being handled.
  auto us = request_start_ == std::chrono::steady_clock::time_point()
                ? 0
                : std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - request_start_)
                      .count();
  spdlog::info("http {} \"{} {}\" {} {} {:.3f}ms", server_.api().ResolvePeer(req).address,
               core::Printable(req.method), core::Printable(req.path), status, body_bytes,
               us / 1000.0);
}

void HttpExchange::Respond(http::Response response, bool head_only, bool keep, int version_minor) {
  http::Api& api = server_.api();
  api.AddCommonHeaders(&response);
  // Persistence is the transport's to decide: whatever a handler said,
  // Connection says what happens next.
  auto& headers = response.headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const auto& h) { return http::EqualsIgnoreCase(h.first, "Connection"); }),
                headers.end());
  if (!keep) {
    response.SetHeader("Connection", "close");
  } else if (version_minor == 0) {
    response.SetHeader("Connection", "keep-alive");
  }
  std::string bytes = wire::SerializeResponse(response, head_only, server_.Date());
  if (!keep) {
    closing_ = true;
    pending_.clear();
    connection_.SendLast(std::move(bytes));
    // Reading may be paused (held input, a deferred reply): the lingering
    // connection reads, and drops, until the peer closes.
    connection_.ResumeReading();
    return;
  }
  connection_.Queue(std::make_shared<const std::string>(std::move(bytes)));
  // The response goes out now, ahead of the fan-out a publish may have
  // queued: a publisher learns at once that its notification was taken.
  if (!connection_.write_waiting()) connection_.Flush();
}

void HttpExchange::Refuse(http::Response response) {
  Respond(std::move(response), parser_.request().method == "HEAD", false, parser_.version_minor());
}

void HttpExchange::RefuseMalformed(int status, const std::string& reason) {
  spdlog::debug("bad request from {}: {} {}", connection_.peer(), status,
                core::Printable(reason));
  Respond(http::JsonError(status, wire::ReasonPhrase(status), reason), false, false,
          parser_.version_minor());
}

void HttpExchange::OnDrained() {
  if (closing_ || waiting_) return;
  if (!in_request_) {
    auto idle_ms = static_cast<int64_t>(server_.config().keepalive_timeout_s * 1000);
    connection_.set_deadline(server_.clock().MonotonicMillis() + idle_ms);
  }
  ConsumeHeld();
}

void HttpExchange::ConsumeHeld() {
  if (!pending_.empty()) {
    std::string held = std::move(pending_);
    pending_.clear();
    Consume(held);
  }
  // Also after an upgrade: the new protocol reads.
  if (pending_.empty() && !waiting_ && connection_.reading_paused() && !connection_.closed()) {
    connection_.ResumeReading();
  }
}

void HttpExchange::OnClosed() {
  if (!waiting_) return;
  waiting_ = false;  // the Completion finds the connection closed
  server_.DeferredReplyEnded();
}

void HttpExchange::Shutdown() {
  if (closing_) return;
  // A deferred reply is like a response being sent: once made, it closes the
  // connection (the server is shutting down), and the server waits for it.
  if (waiting_) return;
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
  if (req.path != kWsPath && !(req.path == kEchoPath && config.echo_enabled)) {
    return http::JsonError(404, "Not found", "no WebSocket endpoint at " + req.path);
  }
  if (std::optional<http::Response> denied = server_.api().AuthorizeSubscribe(req)) return denied;
  return AdmitSession(slot);
}

std::optional<http::Response> HttpExchange::AdmitSession(AddressSlot** slot) {
  http::Api::ClientPeer client = server_.api().ResolvePeer(parser_.request());
  std::optional<http::Response> refusal = server_.Admit(client, slot);
  if (!refusal) connection_.set_peer(std::move(client.address));
  return refusal;
}

// --- server-sent events ------------------------------------------------------------

void HttpExchange::OpenEvents() {
  const http::Request& req = parser_.request();
  http::Api& api = server_.api();
  http::Api::EventsStart start;
  if (std::optional<http::Response> refusal = api.OpenEvents(req, &start)) {
    Answer(std::move(*refusal));
    return;
  }
  bool head_only = req.method == "HEAD";
  AddressSlot* slot = nullptr;
  if (!head_only) {
    if (std::optional<http::Response> refusal = AdmitSession(&slot)) {
      spdlog::debug("refused an event stream from {} to {}: {}", connection_.peer(),
                    core::Printable(req.path), refusal->status);
      Answer(std::move(*refusal));
      return;
    }
  }
  http::Response head = api.EventsHead();
  api.AddCommonHeaders(&head);
  if (head_only) head.SetHeader("Connection", "close");
  LogRequest(head.status, 0);
  ++requests_;
  // This exchange is done: any further input belongs to the stream, which
  // ignores it.
  closing_ = true;
  pending_.clear();
  // No length: the stream ends when the connection does.
  std::string bytes =
      wire::SerializeResponse(head, head_only, server_.Date(), wire::BodyLength::kUntilClose);
  if (head_only) {
    connection_.SendLast(std::move(bytes));
    connection_.ResumeReading();
    return;
  }
  connection_.set_deadline(-1);
  connection_.Queue(std::make_shared<const std::string>(std::move(bytes)));
  // Replaces this exchange, which stays alive until the read that led here
  // is done but, closing_, does nothing more.
  connection_.Upgrade(std::make_unique<EventStream>(connection_, slot, std::move(start)), {});
}

}  // namespace notifyd::transport
