// The HTTP/1.1 side of a Connection (RFC 9112): reads requests one after
// another, each head with wire::HttpHeadParser and its body by
// Content-Length or chunked, hands each complete request to http::Api and
// queues the responses in order. Persistent connections and pipelining: a
// connection serves up to max_requests_per_connection requests and waits
// keepalive_timeout_s for the next one. `Expect: 100-continue` is answered
// before the body is read. A WebSocket upgrade request is checked here and,
// when accepted, the Connection continues as a WebSocketSession.
#pragma once

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
  std::string Describe() const override;

  /// At shutdown: closes an idle connection now, else after the response
  /// being sent, and reads no further request.
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
  /// The request is complete: answers it and gets ready for the next.
  void OnRequest();
  /// Queues `response`; `keep` false makes it the connection's last.
  void Respond(http::Response response, bool head_only, bool keep);
  /// Answers an unusable request and closes (its body is not read).
  void Refuse(http::Response response);
  void RefuseMalformed(int status, const std::string& reason);
  void Upgrade(std::string_view rest);
  std::optional<http::Response> ValidateUpgrade(AddressSlot** slot);
  void StartRequestTimer();

  Connection& connection_;
  Server& server_;
  wire::HttpHeadParser parser_;
  std::unique_ptr<wire::ChunkedDecoder> chunked_;  ///< Stage::kChunked only.
  std::string pending_;  ///< Input held while reading is paused for a slow reader.
  uint64_t body_expected_ = 0;
  uint32_t requests_ = 0;   ///< Answered on this connection.
  Stage stage_ = Stage::kHead;
  bool in_request_ = false;  ///< Some of the next request has arrived.
  bool closing_ = false;     ///< The last response is queued: ignore further input.
};

}  // namespace notifyd::transport
