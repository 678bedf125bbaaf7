// The HTTP/1.1 side of a Connection (RFC 9112): reads requests one after
// another, each head with wire::HttpHeadParser and its body by
// Content-Length or chunked, hands each complete request to http::Api and
// queues the responses in order. Persistent connections and pipelining: a
// connection serves up to max_requests_per_connection requests and waits
// keepalive_timeout_s for the next one. `Expect: 100-continue` is answered
// before the body is read. A handler may defer its reply (a publish waiting
// for its commit): the exchange then holds further input until the reply is
// made. A WebSocket upgrade request is checked here and, when accepted, the
// Connection continues as a WebSocketSession; an accepted event-stream
// request (GET /api/events/{channel}) continues as an EventStream.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/router.h"
#include "transport/connection.h"
#include "wire/chunked_decoder.h"
#include "wire/http_parser.h"

namespace notifyd::transport {

class Server;

class HttpExchange final : public Protocol {
 public:
  explicit HttpExchange(Connection& connection);

  // Protocol
  void OnData(std::string_view data) override;
  void OnDrained() override;
  bool FinishAfterEof() const override { return true; }
  void OnClosed() override;
  std::string Describe() const override;

  /// At shutdown: closes an idle connection now, else after the response
  /// being sent (or deferred, once it is made), and reads no further request.
  void Shutdown() override;

 private:
  enum class Stage {
    kHead,     ///< Reading a request head (or waiting for one).
    kBody,     ///< Reading a Content-Length body.
    kChunked,  ///< Reading a chunked body.
  };

  /// Feeds `data` to the request in progress, and then to the ones pipelined
  /// after it. Stops early when the connection closes or upgrades.
  void Consume(std::string_view data);
  /// A head was parsed. False when the connection is done with HTTP.
  bool OnHead(std::string_view* rest);
  /// The request is complete: answers it (or waits for its deferred reply)
  /// and gets ready for the next.
  void OnRequest();
  /// request.defer: the Completion for the request being handled.
  http::Completion Defer();
  /// A deferred reply for request number `serial` arrived.
  void Complete(uint64_t serial, http::Response response);
  /// Sends the reply to the current request, then goes on with the next.
  void Answer(http::Response response);
  void LogRequest(int status, size_t body_bytes);
  /// Feeds input held meanwhile, and reads again.
  void ConsumeHeld();
  /// Queues `response` to a request of HTTP/1.`version_minor`; `keep` false
  /// makes it the connection's last.
  void Respond(http::Response response, bool head_only, bool keep, int version_minor);
  /// Answers an unusable request and closes (its body is not read).
  void Refuse(http::Response response);
  void RefuseMalformed(int status, const std::string& reason);
  void Upgrade(std::string_view rest);
  std::optional<http::Response> ValidateUpgrade(AddressSlot** slot);
  /// An event-stream request: refused, or answered with the stream's head
  /// and continued as an EventStream.
  void OpenEvents();
  /// Admits a session (WebSocket or event stream) by the server's limits;
  /// on success the connection is named after the client's address.
  std::optional<http::Response> AdmitSession(AddressSlot** slot);
  void StartRequestTimer();

  Connection& connection_;
  Server& server_;
  wire::HttpHeadParser parser_;
  std::unique_ptr<wire::ChunkedDecoder> chunked_;  ///< Stage::kChunked only.
  /// Input held while reading is paused: for a slow reader, or until a
  /// deferred reply is made.
  std::string pending_;
  uint64_t body_expected_ = 0;
  uint32_t requests_ = 0;   ///< Answered on this connection.
  uint64_t serial_ = 0;     ///< Numbers the requests handled, for Completions.
  std::chrono::steady_clock::time_point request_start_;  ///< For the log line.
  /// A reply that came through the Completion before Handle returned.
  std::optional<http::Response> early_reply_;
  Stage stage_ = Stage::kHead;
  bool in_request_ = false;  ///< Some of the next request has arrived.
  /// Done with HTTP: the last response is queued, or an event stream took
  /// over. Further input is ignored.
  bool closing_ = false;
  bool in_handle_ = false;    ///< Inside Api::Handle.
  bool defer_taken_ = false;  ///< The handler asked for a Completion.
  bool waiting_ = false;      ///< The reply to the current request is deferred.
};

}  // namespace notifyd::transport
