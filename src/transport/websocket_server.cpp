#include "transport/websocket_server.h"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "core/rate_limiter.h"
#include "protocol/messages.h"
#include "transport/batch_sender.h"
#include "wire/http_parser.h"
#include "wire/websocket.h"

namespace notifyd::transport {

namespace {

using Bytes = std::shared_ptr<const std::string>;
using wire::Opcode;
namespace close_code = wire::close_code;

constexpr const char* kWsPath = "/ws";
constexpr const char* kEchoPath = "/ws/echo";
// A request head (and body) or a WebSocket handshake must arrive within this.
constexpr int64_t kRequestTimeoutMs = 5000;
// How long the peer gets to close once our last bytes are out, a closing
// handshake we started to complete, and a client dropped for not reading.
constexpr int64_t kCloseTimeoutMs = 2000;
// How long a connection gets to send its last response or close frame.
constexpr int64_t kLastWriteTimeoutMs = 30000;
// Clients written per event-loop turn (FlushAll).
constexpr size_t kFlushChunk = 1024;
// Closed connections after which freed memory is handed back to the system.
constexpr uint64_t kTrimAfterCloses = 256;
constexpr uint64_t kTrimWhenIdleAfter = 16;
// Reads per readiness event before the connection waits its turn again.
constexpr int kReadsPerEvent = 4;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string SerializeResponse(const http::Response& r, bool head_only) {
  std::string out;
  out.reserve(160 + r.body.size() + 64 * r.headers.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += ReasonPhrase(r.status);
  out += "\r\nServer: notifyd\r\n";
  for (const auto& [k, v] : r.headers) {
    if (http::EqualsIgnoreCase(k, "Content-Length")) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\n\r\n";
  if (!head_only) out += r.body;
  return out;
}

// The encoded frame of a notification, built once per publish and shared by
// every recipient: no allocation or re-encoding per delivery.
Bytes WireFrame(const core::Frame& frame) {
  if (frame.prepared) return std::static_pointer_cast<const std::string>(frame.prepared);
  auto bytes = std::make_shared<const std::string>(wire::EncodeFrame(Opcode::kText, frame.text));
  frame.prepared = bytes;
  return bytes;
}

bool IoUringDisabledByEnv() {
  const char* v = std::getenv("NOTIFYD_IO_URING");
  return v != nullptr && std::string_view(v) == "0";
}

// A decimal Content-Length, or nullopt when absent or not a plain number.
std::optional<uint64_t> ContentLength(const http::Request& req) {
  std::string_view v = req.Header("Content-Length");
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::stoull(std::string(v));
}

}  // namespace

// One accepted TCP connection: an HTTP request, then (after an upgrade) a
// WebSocket session. For /ws it is the hub's Subscriber. The server owns it
// through a shared_ptr; pending socket waits hold one too, so it outlives
// the handlers that complete after it was closed.
class Connection final : public core::Subscriber,
                         public std::enable_shared_from_this<Connection> {
 public:
  enum class State {
    kRequest,    ///< Reading a request head.
    kBody,       ///< Reading a request body.
    kOpen,       ///< WebSocket session.
    kClosing,    ///< Our close frame is queued; waiting for the client's.
    kLingering,  ///< Last bytes queued; then shut down sending, read until EOF.
    kClosed,
  };
  enum class Kind { kHttp, kSubscriber, kEcho };

  Connection(WebSocketServer::Impl* server, asio::ip::tcp::socket socket, std::string peer)
      : server(server), socket(std::move(socket)), peer(std::move(peer)) {}

  bool Deliver(const core::FramePtr& frame) override;

  int fd() { return socket.native_handle(); }
  bool websocket() const { return kind != Kind::kHttp; }

  WebSocketServer::Impl* const server;
  asio::ip::tcp::socket socket;
  const std::string peer;
  State state = State::kRequest;
  Kind kind = Kind::kHttp;
  std::unique_ptr<wire::HttpHeadParser> request;  ///< Only until the request is read.
  size_t body_expected = 0;
  std::unique_ptr<wire::WsDecoder> decoder;       ///< From the upgrade on.
  core::ClientHandle handle = 0;                  ///< Kind::kSubscriber only.

  // Outbound bytes: out[head..] with the first `offset` bytes of out[head]
  // already sent; `queued` counts every byte not yet sent.
  std::vector<Bytes> out;
  size_t head = 0;
  size_t offset = 0;
  size_t queued = 0;
  bool dirty = false;          ///< In the server's flush list.
  bool write_waiting = false;  ///< Waiting for the socket to take more.
  bool read_waiting = false;
  bool read_eof = false;
  bool shutdown_after_write = false;
  bool close_sent = false;
  bool overflowed = false;

  int64_t last_heard_ms = 0;
  int64_t last_ping_ms = 0;
  int64_t deadline_ms = -1;  ///< Closed by the sweep at this time; -1: none.
  uint16_t local_close = 0;
  uint16_t remote_close = close_code::kAbnormal;
};

using ConnectionPtr = std::shared_ptr<Connection>;

class WebSocketServer::Impl {
 public:
  Impl(asio::io_context& io, core::Hub& hub, http::Api& api, const core::Clock& clock,
       core::Counters& counters)
      : io_(io), hub_(hub), api_(api), clock_(clock), counters_(counters),
        connection_limiter_(clock), sweep_(io), shutdown_timer_(io) {
    read_buffer_.resize(64 * 1024);
  }

  ~Impl() {
    for (auto& [raw, c] : connections_) {
      asio::error_code ignored;
      c->state = Connection::State::kClosed;
      c->socket.close(ignored);
    }
  }

  void Configure(const config::Config& c) {
    config_ = c;
    max_queued_ = c.max_queued_bytes_per_client;
    connection_limiter_.Configure(c.connection_rate, c.connection_burst);
    interval_ms_ = static_cast<int64_t>(c.heartbeat_interval_s * 1000);
    timeout_ms_ = static_cast<int64_t>(c.heartbeat_timeout_s * 1000);
    if (listening_) ScheduleSweep();
  }

  // notifyd runs its own acceptor: it can adopt a socket passed by systemd
  // (TECH-NOTES §6) and it backs off when descriptors run out instead of
  // spinning (TECH-NOTES §8).
  bool Listen(const std::string& address, uint16_t port, std::string* error) {
    asio::error_code ec;
    asio::ip::address addr = asio::ip::make_address(address, ec);
    if (ec) {
      *error = "invalid listen address '" + address + "': " + ec.message();
      return false;
    }
    asio::ip::tcp::endpoint endpoint(addr, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message();
      asio::error_code ignored;
      acceptor_.close(ignored);
      return false;
    }
    StartServing();
    return true;
  }

  bool Adopt(int fd, std::string* error) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      *error = std::string("cannot use the socket passed by systemd: ") + std::strerror(errno);
      return false;
    }
    auto proto = ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
    asio::error_code ec;
    acceptor_.assign(proto, fd, ec);
    if (ec) {
      *error = "cannot use the socket passed by systemd: " + ec.message();
      return false;
    }
    StartServing();
    return true;
  }

  std::string LocalEndpoint() {
    asio::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (ec) return "?";
    std::string addr = ep.address().to_string();
    if (ep.address().is_v6()) addr = "[" + addr + "]";
    return addr + ":" + std::to_string(ep.port());
  }

  void Shutdown(int64_t timeout_ms, std::function<void()> done) {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    sweep_.cancel();
    accept_backoff_.cancel();
    asio::error_code ec;
    acceptor_.close(ec);
    listening_ = false;
    const std::string bye = protocol::EncodeServerShutdown();
    for (const ConnectionPtr& c : Snapshot()) {
      if (c->state == Connection::State::kOpen) {
        if (c->kind == Connection::Kind::kSubscriber) SendText(c.get(), bye);
        CloseWebSocket(c.get(), close_code::kGoingAway, "Server shutting down");
      } else if (c->state == Connection::State::kRequest || c->state == Connection::State::kBody) {
        Destroy(c.get());
      }
    }
    shutdown_timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    shutdown_timer_.async_wait([this](const asio::error_code& e) {
      if (e) return;
      spdlog::warn("{} client(s) did not close within the shutdown timeout; dropping them",
                   sessions_);
      for (const ConnectionPtr& c : Snapshot()) Destroy(c.get());
      FinishShutdown();
    });
    if (sessions_ == 0) FinishShutdown();
  }

  size_t connection_count() const { return sessions_ - echo_count_; }
  size_t echo_count() const { return echo_count_; }

  // --- sending ----------------------------------------------------------------

  /// Queues a notification for a subscriber (Subscriber::Deliver); false
  /// when the session is closing or was dropped for overflow.
  bool DeliverFrame(Connection* c, const core::FramePtr& frame) {
    if (c->state != Connection::State::kOpen || c->overflowed) return false;
    Bytes bytes = WireFrame(*frame);
    if (!Admit(c, bytes->size())) return false;
    Queue(c, std::move(bytes));
    return true;
  }

 private:
  template <typename F>
  void Guard(const char* what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in the {} handler: {}", what, e.what());
    }
  }

  std::vector<ConnectionPtr> Snapshot() {
    std::vector<ConnectionPtr> out;
    out.reserve(connections_.size());
    for (auto& entry : connections_) out.push_back(entry.second);
    return out;
  }

  const std::string& ClientName(const Connection* c) const {
    static const std::string echo = "echo";
    static const std::string unknown = "?";
    if (c->kind == Connection::Kind::kEcho) return echo;
    const core::ClientInfo* info = hub_.Find(c->handle);
    return info ? info->id : unknown;
  }

  /// True when `bytes` more fit under the per-client cap; else drops the client.
  bool Admit(Connection* c, size_t bytes) {
    if (c->overflowed) return false;
    if (c->queued + bytes <= max_queued_) return true;
    Overflowed(c);
    return false;
  }

  void SendText(Connection* c, std::string_view text) {
    if (c->close_sent || c->state == Connection::State::kClosed) return;
    if (!Admit(c, text.size())) return;
    Queue(c, std::make_shared<const std::string>(wire::EncodeFrame(Opcode::kText, text)));
  }

  void Queue(Connection* c, Bytes bytes) {
    if (c->state == Connection::State::kClosed) return;
    c->queued += bytes->size();
    c->out.push_back(std::move(bytes));
    if (c->dirty || c->write_waiting) return;
    c->dirty = true;
    dirty_.push_back(c->shared_from_this());
    PostFlush();
  }

  // Writes what was queued, oldest first, at most kFlushChunk clients per
  // event-loop turn: a publish to 10,000 subscribers does not hold the loop
  // (heartbeats, new connections, the next publish) for its whole fan-out,
  // and a client still waiting its turn when the next publish arrives gets
  // both frames in one send. One sendmsg per client (several frames share
  // it), handed to the kernel in batches (BatchSender).
  void FlushAll() {
    flush_posted_ = false;
    size_t end = std::min(dirty_.size(), dirty_head_ + kFlushChunk);
    sender_.Begin();
    batch_.clear();
    for (size_t i = dirty_head_; i < end; ++i) {
      Connection* c = dirty_[i].get();
      c->dirty = false;
      if (c->state == Connection::State::kClosed || c->write_waiting) continue;
      if (c->head == c->out.size()) continue;
      batch_.push_back(c);
      sender_.Commit(FillIov(c, sender_.Add(c->fd())));
    }
    // dirty_[dirty_head_, end) keeps every batch_ entry alive during Run.
    sender_.Run([this](size_t i, ssize_t result, int error) {
      Guard("send", [&] { SendDone(batch_[i], result, error); });
    });
    batch_.clear();
    for (size_t i = dirty_head_; i < end; ++i) dirty_[i].reset();  // may free closed ones
    dirty_head_ = end;
    if (dirty_head_ == dirty_.size()) {
      dirty_.clear();
      dirty_head_ = 0;
    } else {
      PostFlush();
    }
  }

  void PostFlush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(io_, [this] { FlushAll(); });
  }

  // Points up to kMaxIov buffers at c's unsent bytes; returns how many.
  static size_t FillIov(Connection* c, iovec* iov) {
    size_t n = 0;
    for (size_t i = c->head; i < c->out.size() && n < BatchSender::kMaxIov; ++i, ++n) {
      const std::string& b = *c->out[i];
      size_t skip = i == c->head ? c->offset : 0;
      iov[n].iov_base = const_cast<char*>(b.data() + skip);
      iov[n].iov_len = b.size() - skip;
    }
    return n;
  }

  void SendDone(Connection* c, ssize_t result, int error) {
    if (c->state == Connection::State::kClosed) return;
    if (result < 0) {
      if (error == EAGAIN || error == EWOULDBLOCK) {
        WaitWritable(c);
        return;
      }
      spdlog::debug("send to {} failed: {}", c->peer, std::strerror(error));
      Destroy(c);
      return;
    }
    Advance(c, static_cast<size_t>(result));
    if (c->head < c->out.size()) {
      // The kernel took part of it: its buffer is full, or more than BatchSender::kMaxIov
      // frames were queued. Go on when it can take more.
      WaitWritable(c);
      return;
    }
    Drained(c);
  }

  // Drops `n` sent bytes from the front of c's queue.
  void Advance(Connection* c, size_t n) {
    c->queued -= std::min(c->queued, n);
    while (n > 0 && c->head < c->out.size()) {
      size_t left = c->out[c->head]->size() - c->offset;
      if (n < left) {
        c->offset += n;
        return;
      }
      n -= left;
      c->out[c->head].reset();
      ++c->head;
      c->offset = 0;
    }
  }

  void Drained(Connection* c) {
    c->out.clear();
    if (c->out.capacity() > 16) std::vector<Bytes>().swap(c->out);
    c->head = 0;
    c->offset = 0;
    c->queued = 0;
    if (c->shutdown_after_write) ShutdownSending(c);
  }

  // Writes one connection's queue at once (a resumed write, an HTTP
  // response): one sendmsg, then the same bookkeeping as a batch entry.
  void Flush(Connection* c) {
    if (c->state == Connection::State::kClosed) return;
    if (c->head == c->out.size()) {
      Drained(c);
      return;
    }
    iovec iov[BatchSender::kMaxIov];
    int error = 0;
    ssize_t w = BatchSender::SendNow(c->fd(), iov, FillIov(c, iov), &error);
    SendDone(c, w, error);
  }

  void WaitWritable(Connection* c) {
    if (c->write_waiting) return;
    c->write_waiting = true;
    ConnectionPtr self = c->shared_from_this();
    c->socket.async_wait(asio::socket_base::wait_write, [this, self](const asio::error_code& ec) {
      self->write_waiting = false;
      if (self->state == Connection::State::kClosed) return;
      if (ec) {
        Destroy(self.get());
        return;
      }
      Guard("write", [&] { Flush(self.get()); });
    });
  }

  // Sends nothing more: the peer sees EOF once it has read everything. The
  // connection is closed when the peer closes too (or at the deadline), so
  // that no unread input makes the kernel reset what is still in flight.
  void ShutdownSending(Connection* c) {
    c->shutdown_after_write = false;
    ::shutdown(c->fd(), SHUT_WR);
    c->state = Connection::State::kLingering;
    c->deadline_ms = clock_.MonotonicMillis() + kCloseTimeoutMs;
    if (c->read_eof) Destroy(c);  // the peer is gone already
  }

  // Queues `bytes` (may be empty) as the last thing the connection sends.
  void SendLast(Connection* c, std::string bytes) {
    c->state = Connection::State::kLingering;
    // Time to get the bytes out (a large /api/clients to a slow client);
    // the peer then gets kCloseTimeoutMs to close.
    // A WebSocket deadline already running (a dropped client's) stays.
    int64_t limit = clock_.MonotonicMillis() + kLastWriteTimeoutMs;
    c->deadline_ms = c->websocket() && c->deadline_ms >= 0 ? std::min(c->deadline_ms, limit) : limit;
    if (!bytes.empty()) Queue(c, std::make_shared<const std::string>(std::move(bytes)));
    if (c->head == c->out.size()) {
      ShutdownSending(c);
      return;
    }
    c->shutdown_after_write = true;  // Drained() shuts down
    // An HTTP response goes out now, ahead of the fan-out it may have
    // queued: a publisher learns at once that its notification was taken.
    if (c->kind == Connection::Kind::kHttp && !c->write_waiting) Flush(c);
  }

  // --- receiving --------------------------------------------------------------

  void WaitReadable(Connection* c) {
    if (c->read_waiting || c->state == Connection::State::kClosed) return;
    c->read_waiting = true;
    ConnectionPtr self = c->shared_from_this();
    c->socket.async_wait(asio::socket_base::wait_read, [this, self](const asio::error_code& ec) {
      self->read_waiting = false;
      if (self->state == Connection::State::kClosed) return;
      if (ec) {
        Destroy(self.get());
        return;
      }
      Guard("read", [&] { OnReadable(self.get()); });
      if (self->state != Connection::State::kClosed && !self->read_eof) WaitReadable(self.get());
    });
  }

  // Reads into one buffer shared by every connection: an idle connection
  // holds no read buffer at all.
  void OnReadable(Connection* c) {
    for (int i = 0; i < kReadsPerEvent && c->state != Connection::State::kClosed && !c->read_eof;
         ++i) {
      ssize_t n = ::recv(c->fd(), read_buffer_.data(), read_buffer_.size(), MSG_DONTWAIT);
      if (n > 0) {
        Consume(c, std::string_view(read_buffer_.data(), static_cast<size_t>(n)));
        if (static_cast<size_t>(n) < read_buffer_.size()) return;
        continue;
      }
      if (n == 0) {
        OnEof(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      spdlog::debug("read from {} failed: {}", c->peer, std::strerror(errno));
      Destroy(c);
      return;
    }
  }

  void OnEof(Connection* c) {
    c->read_eof = true;  // stop reading: EOF stays readable
    if (c->state == Connection::State::kLingering && c->head < c->out.size()) {
      return;  // the peer is done sending but may still read the rest of our reply
    }
    Destroy(c);
  }

  void Consume(Connection* c, std::string_view data) {
    switch (c->state) {
      case Connection::State::kRequest:
        ConsumeRequest(c, data);
        return;
      case Connection::State::kBody:
        ConsumeBody(c, data);
        return;
      case Connection::State::kOpen:
      case Connection::State::kClosing:
        c->decoder->Feed(data);
        ConsumeFrames(c);
        return;
      case Connection::State::kLingering:
      case Connection::State::kClosed:
        return;  // discarded
    }
  }

  void ConsumeRequest(Connection* c, std::string_view data) {
    size_t used = 0;
    switch (c->request->Feed(data, &used)) {
      case wire::HttpHeadParser::State::kNeedMore:
        return;
      case wire::HttpHeadParser::State::kError: {
        int status = c->request->error_status();
        spdlog::debug("bad request from {}: {} {}", c->peer, status, c->request->error());
        Reply(c, http::JsonError(status, ReasonPhrase(status), c->request->error()), false);
        return;
      }
      case wire::HttpHeadParser::State::kDone:
        break;
    }
    data.remove_prefix(used);
    http::Request& req = c->request->request();
    req.peer_address = c->peer;
    if (http::HasToken(req.Header("Upgrade"), "websocket")) {
      Upgrade(c, data);
      return;
    }
    std::optional<uint64_t> length = ContentLength(req);
    if (length && *length > config_.max_body_bytes) {
      // Refused unread: no point in reading what will not be used.
      ++counters_.bodies_too_large;
      Reply(c,
            http::JsonError(413, "Request body too large",
                            "the limit is " + std::to_string(config_.max_body_bytes) + " bytes"),
            req.method == "HEAD");
      return;
    }
    // Without a usable Content-Length there is no body to wait for; the API
    // answers such a publish with 400/411.
    c->body_expected = length ? *length : 0;
    c->state = Connection::State::kBody;
    ConsumeBody(c, data);
  }

  void ConsumeBody(Connection* c, std::string_view data) {
    std::string& body = c->request->request().body;
    size_t take = std::min(data.size(), c->body_expected - body.size());
    body.append(data.data(), take);
    if (body.size() < c->body_expected) return;
    HandleHttp(c);
  }

  void HandleHttp(Connection* c) {
    auto start = std::chrono::steady_clock::now();
    const http::Request& req = c->request->request();
    http::Response resp = api_.Handle(req);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    spdlog::info("http {} \"{} {}\" {} {} {:.3f}ms", req.peer_address, req.method, req.path,
                 resp.status, resp.body.size(), us / 1000.0);
    Reply(c, std::move(resp), req.method == "HEAD");
  }

  // Sends `resp` (with the common headers when made here) and closes.
  void Reply(Connection* c, http::Response resp, bool head_only) {
    if (resp.Header("Access-Control-Allow-Origin").empty()) api_.AddCommonHeaders(&resp);
    c->request.reset();
    SendLast(c, SerializeResponse(resp, head_only));
  }

  // --- the WebSocket handshake ------------------------------------------------

  void Upgrade(Connection* c, std::string_view rest) {
    const http::Request& req = c->request->request();
    std::string path = req.path;
    if (req.method != "GET") {
      Reply(c, http::JsonError(400, "Bad request", "a WebSocket upgrade must use GET"), false);
      return;
    }
    if (!http::HasToken(req.Header("Connection"), "upgrade")) {
      Reply(c, http::JsonError(400, "Bad request", "Connection: Upgrade is missing"), false);
      return;
    }
    if (req.Header("Sec-WebSocket-Version") != "13") {
      http::Response r = http::JsonError(426, "Upgrade required",
                                         "only WebSocket version 13 is supported");
      r.SetHeader("Sec-WebSocket-Version", "13");
      Reply(c, std::move(r), false);
      return;
    }
    std::string_view key = req.Header("Sec-WebSocket-Key");
    if (!wire::IsValidWebSocketKey(key)) {
      Reply(c, http::JsonError(400, "Bad request", "missing or malformed Sec-WebSocket-Key"),
            false);
      return;
    }
    if (std::optional<http::Response> refusal = Validate(c, req)) {
      spdlog::debug("refused a WebSocket upgrade from {} to {}: {}", c->peer, path,
                    refusal->status);
      Reply(c, std::move(*refusal), false);
      return;
    }
    std::string accept = "HTTP/1.1 101 Switching Protocols\r\nServer: notifyd\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                         wire::WebSocketAccept(key) + "\r\n\r\n";
    bool echo = path == kEchoPath;
    c->request.reset();
    c->decoder = std::make_unique<wire::WsDecoder>(config_.max_frame_bytes);
    c->state = Connection::State::kOpen;
    c->kind = echo ? Connection::Kind::kEcho : Connection::Kind::kSubscriber;
    c->deadline_ms = -1;
    c->last_heard_ms = c->last_ping_ms = clock_.MonotonicMillis();
    Queue(c, std::make_shared<const std::string>(std::move(accept)));
    ++sessions_;
    if (echo) {
      ++echo_count_;
      spdlog::debug("echo client connected from {}", c->peer);
      SendText(c, "Connected!");
    } else {
      const core::ClientInfo& info = hub_.Connect(c);
      c->handle = info.handle;
      spdlog::debug("client {} connected from {} (total: {})", info.id, c->peer,
                    connection_count());
      SendText(c, protocol::EncodeWelcome(info.id));
    }
    if (!rest.empty()) Consume(c, rest);
  }

  // Decides on a well-formed upgrade request before the 101 is sent.
  std::optional<http::Response> Validate(Connection* c, const http::Request& req) {
    http::Response refusal;
    if (shutting_down_) {
      return http::JsonError(503, "Service unavailable", "the server is shutting down");
    }
    if (req.path != kWsPath && !(req.path == kEchoPath && config_.echo_enabled)) {
      return http::JsonError(404, "Not found", "no WebSocket endpoint at " + req.path);
    }
    if (std::optional<http::Response> denied = api_.AuthorizeSubscribe(req)) return denied;
    if (double retry = 0; !connection_limiter_.Allow(c->peer, &retry)) {
      ++counters_.connections_rate_limited;
      refusal = http::JsonError(429, "Too many requests",
                                "too many new connections from this address; retry later");
      refusal.SetHeader("Retry-After", std::to_string(std::max<int64_t>(1, std::ceil(retry))));
      return refusal;
    }
    if (sessions_ >= config_.max_connections) {
      ++counters_.connections_over_limit;
      spdlog::warn("connection limit ({}) reached; refused {}", config_.max_connections, c->peer);
      return http::JsonError(503, "Service unavailable",
                             "connection limit reached (" +
                                 std::to_string(config_.max_connections) + ")");
    }
    return std::nullopt;
  }

  // --- WebSocket sessions -----------------------------------------------------

  void ConsumeFrames(Connection* c) {
    while (c->state == Connection::State::kOpen || c->state == Connection::State::kClosing) {
      wire::WsEvent e = c->decoder->Next();
      switch (e.kind) {
        case wire::WsEvent::Kind::kNeedMore:
          return;
        case wire::WsEvent::Kind::kMessage:
          c->last_heard_ms = clock_.MonotonicMillis();
          if (c->state == Connection::State::kOpen) OnMessage(c, e);
          break;
        case wire::WsEvent::Kind::kPing:
          c->last_heard_ms = clock_.MonotonicMillis();
          if (c->state == Connection::State::kOpen && Admit(c, e.payload.size() + 2)) {
            Queue(c, std::make_shared<const std::string>(wire::EncodeFrame(Opcode::kPong, e.payload)));
          }
          break;
        case wire::WsEvent::Kind::kPong:
          c->last_heard_ms = clock_.MonotonicMillis();
          break;
        case wire::WsEvent::Kind::kClose:
          // Echo the client's code (RFC 6455 §5.5.1), then end the connection.
          c->remote_close = e.close_code;
          EndWebSocket(c, e.close_code, {});
          return;
        case wire::WsEvent::Kind::kError:
          spdlog::debug("client {} ({}): {}; closing with {}", ClientName(c), c->peer,
                        e.payload, e.close_code);
          if (e.close_code == close_code::kMessageTooBig) ++counters_.frames_too_large;
          EndWebSocket(c, e.close_code, e.payload);
          return;
      }
    }
  }

  // Sends our close frame with `code` (none if one went out already; an
  // empty one for 1005, which may not be sent) as the connection's last bytes.
  void EndWebSocket(Connection* c, uint16_t code, std::string_view reason) {
    if (c->close_sent) {
      SendLast(c, {});
      return;
    }
    c->close_sent = true;
    c->local_close = code;
    SendLast(c, code == close_code::kNoStatus ? wire::EncodeFrame(Opcode::kClose, {})
                                              : wire::EncodeCloseFrame(code, reason));
  }

  // Starts the closing handshake; the client's close frame (or the deadline)
  // ends the connection.
  void CloseWebSocket(Connection* c, uint16_t code, std::string_view reason) {
    if (c->close_sent || c->state != Connection::State::kOpen) return;
    c->close_sent = true;
    c->local_close = code;
    c->state = Connection::State::kClosing;
    c->deadline_ms = clock_.MonotonicMillis() + kCloseTimeoutMs;
    Queue(c, std::make_shared<const std::string>(wire::EncodeCloseFrame(code, reason)));
  }

  // A client that does not read what it is sent: stop queueing for it and
  // close it with 1008; the sweep ends it if the close cannot get out.
  void Overflowed(Connection* c) {
    c->overflowed = true;
    ++counters_.slow_clients_dropped;
    spdlog::warn("client {} ({}) dropped: more than {} bytes queued for it (not reading)",
                 ClientName(c), c->peer, max_queued_);
    // Frames not yet started will never be read: free them now.
    size_t keep = c->head + (c->offset > 0 ? 1 : 0);
    for (size_t i = keep; i < c->out.size(); ++i) c->queued -= c->out[i]->size();
    c->out.resize(keep);
    CloseWebSocket(c, close_code::kPolicyViolation, "Outbound queue limit exceeded");
    // Also when a close was under way already: 2 s, not more.
    c->deadline_ms = clock_.MonotonicMillis() + kCloseTimeoutMs;
  }

  void OnMessage(Connection* c, wire::WsEvent& msg) {
    bool text = msg.opcode == Opcode::kText;
    if (c->kind == Connection::Kind::kEcho) {
      std::string reply = "Echo: " + msg.payload;
      if (!Admit(c, reply.size())) return;
      Queue(c, std::make_shared<const std::string>(wire::EncodeFrame(msg.opcode, reply)));
      return;
    }
    if (!text) {
      SendText(c, protocol::EncodeError(protocol::BinaryFrameError()));
      return;
    }
    protocol::ParseResult parsed = protocol::ParseRequest(msg.payload);
    if (auto* err = std::get_if<protocol::ProtocolError>(&parsed)) {
      spdlog::debug("client {}: {} ({})", ClientName(c), err->message,
                    protocol::ErrorCodeName(err->code));
      ++counters_.protocol_errors;
      if (err->code == protocol::ErrorCode::kInvalidChannel) ++counters_.invalid_channels;
      SendText(c, protocol::EncodeError(*err));
      return;
    }
    Handle(c, std::get<protocol::Request>(parsed));
  }

  void Handle(Connection* c, const protocol::Request& req) {
    using protocol::RequestType;
    switch (req.type) {
      case RequestType::kSubscribe: {
        core::SubscribeResult r = hub_.Subscribe(c->handle, req.channel);
        if (!r.ok) {
          ++counters_.subscriptions_over_limit;
          SendText(c, protocol::EncodeError(
                          {protocol::ErrorCode::kLimitExceeded,
                           "Subscription limit reached: at most " +
                               std::to_string(config_.max_subscriptions_per_client) +
                               " channels per client",
                           req.id_json}));
          return;
        }
        spdlog::debug("client {} subscribed to {}", ClientName(c), req.channel);
        SendText(c, protocol::EncodeSubscribed(req.channel, r.subscriber_count, req.id_json));
        return;
      }
      case RequestType::kUnsubscribe:
        hub_.Unsubscribe(c->handle, req.channel);
        SendText(c, protocol::EncodeUnsubscribed(req.channel, req.id_json));
        return;
      case RequestType::kSetName:
        if (req.name.size() > config_.max_name_bytes) {
          ++counters_.names_too_long;
          SendText(c, protocol::EncodeError(
                          {protocol::ErrorCode::kLimitExceeded,
                           "Name too long: at most " + std::to_string(config_.max_name_bytes) +
                               " bytes",
                           req.id_json}));
          return;
        }
        hub_.SetName(c->handle, req.name);
        SendText(c, protocol::EncodeNameSet(req.name, req.id_json));
        return;
      case RequestType::kListSubscriptions: {
        const core::ClientInfo* info = hub_.Find(c->handle);
        SendText(c, protocol::EncodeSubscriptions(
                        info ? info->subscriptions : std::vector<std::string>{}, req.id_json));
        return;
      }
      case RequestType::kPing:
        SendText(c, protocol::EncodePong(clock_.WallMillis(), req.id_json));
        return;
      case RequestType::kPong:
        return;  // last_heard_ms is already updated
    }
  }

  // Ends a connection now: closes the socket and forgets the session.
  void Destroy(Connection* c) {
    if (c->state == Connection::State::kClosed) return;
    c->state = Connection::State::kClosed;
    asio::error_code ignored;
    c->socket.close(ignored);
    if (c->websocket()) {
      // 1006: the TCP connection ended without the client's close frame;
      // ours 0: notifyd sent none.
      spdlog::debug("client {} ({}) disconnected: close code {} (ours {})", ClientName(c),
                    c->peer, c->remote_close, c->local_close);
      if (c->kind == Connection::Kind::kEcho) {
        --echo_count_;
      } else {
        hub_.Disconnect(c->handle);
      }
      --sessions_;
    }
    c->out.clear();
    c->head = c->offset = c->queued = 0;
    c->decoder.reset();
    c->request.reset();
    auto it = connections_.find(c);
    ConnectionPtr keep;  // c stays valid until this function returns
    if (it != connections_.end()) {
      keep = std::move(it->second);
      connections_.erase(it);
    }
    ++closed_since_trim_;
    if (connections_.empty() && closed_since_trim_ >= kTrimWhenIdleAfter) {
      malloc_trim(0);  // everyone left: hand the memory back now
      closed_since_trim_ = 0;
    }
    if (shutting_down_ && sessions_ == 0) FinishShutdown();
  }

  // --- timers -----------------------------------------------------------------

  // One timer for every connection: heartbeats when due, clients silent for
  // longer than the timeout, and every deadline (request, close handshake).
  void ScheduleSweep() {
    int64_t tick = std::clamp<int64_t>(std::min(interval_ms_, timeout_ms_) / 4, 10, 1000);
    sweep_.expires_after(std::chrono::milliseconds(tick));
    sweep_.async_wait([this](const asio::error_code& e) {
      if (e || shutting_down_) return;
      Guard("heartbeat", [&] { Sweep(); });
      ScheduleSweep();
    });
  }

  void Sweep() {
    int64_t now = clock_.MonotonicMillis();
    std::string heartbeat;
    Bytes ping;
    std::vector<ConnectionPtr> expired;
    for (auto& [raw, c] : connections_) {
      if (c->deadline_ms >= 0 && now >= c->deadline_ms) {
        expired.push_back(c);
        continue;
      }
      if (c->state != Connection::State::kOpen) continue;
      if (now - c->last_heard_ms >= timeout_ms_) {
        spdlog::info("client {} ({}) timed out after {} ms of silence", ClientName(c.get()),
                     c->peer, now - c->last_heard_ms);
        CloseWebSocket(c.get(), close_code::kNormal, "Ping timeout");
        continue;
      }
      if (now - c->last_ping_ms < interval_ms_) continue;
      c->last_ping_ms = now;
      if (c->kind == Connection::Kind::kSubscriber) {
        if (heartbeat.empty()) heartbeat = protocol::EncodeHeartbeat(clock_.WallMillis());
        SendText(c.get(), heartbeat);
      }
      if (!ping) ping = std::make_shared<const std::string>(wire::EncodeFrame(Opcode::kPing, {}));
      if (!c->close_sent && Admit(c.get(), ping->size())) Queue(c.get(), ping);
    }
    for (const ConnectionPtr& c : expired) {
      if (c->state == Connection::State::kRequest || c->state == Connection::State::kBody) {
        spdlog::debug("{}: no complete request within {} ms", c->peer, kRequestTimeoutMs);
      }
      Destroy(c.get());
    }
    TrimMemory(now);
  }

  // glibc keeps freed memory (TECH-NOTES §4); give it back once many
  // connections have gone, at most once a second.
  void TrimMemory(int64_t now) {
    if (closed_since_trim_ < kTrimAfterCloses || now - last_trim_ms_ < 1000) return;
    malloc_trim(0);
    closed_since_trim_ = 0;
    last_trim_ms_ = now;
  }

  // --- accepting --------------------------------------------------------------

  void StartServing() {
    listening_ = true;
    spdlog::info("sending with {}", sender_.description());
    Accept();
    ScheduleSweep();
  }

  void Accept() {
    acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      Guard("accept", [&] { OnAccept(ec, std::move(socket)); });
    });
  }

  void OnAccept(const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (!ec) {
      asio::error_code e;
      socket.set_option(asio::ip::tcp::no_delay(true), e);
      socket.non_blocking(true, e);
      auto ep = socket.remote_endpoint(e);
      std::string peer = e ? std::string("unknown") : ep.address().to_string();
      auto c = std::make_shared<Connection>(this, std::move(socket), std::move(peer));
      c->request = std::make_unique<wire::HttpHeadParser>();
      c->deadline_ms = clock_.MonotonicMillis() + kRequestTimeoutMs;
      connections_.emplace(c.get(), c);
      WaitReadable(c.get());
      Accept();
      return;
    }
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    bool exhausted = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                     ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
    if (!exhausted) {
      spdlog::debug("accept failed: {}", ec.message());
      Accept();
      return;
    }
    // Out of descriptors: retrying at once would spin. Wait, and say so once
    // every 10 s rather than once per attempt.
    ++accept_failures_;
    int64_t now = clock_.MonotonicMillis();
    if (now - last_accept_warning_ms_ >= 10000) {
      spdlog::warn("cannot accept connections: {} ({} failures; raise LimitNOFILE= or lower "
                   "limits.max_connections)",
                   ec.message(), accept_failures_);
      last_accept_warning_ms_ = now;
    }
    accept_backoff_.expires_after(std::chrono::milliseconds(100));
    accept_backoff_.async_wait([this](const asio::error_code& e) {
      if (!e) Accept();
    });
  }

  void FinishShutdown() {
    if (!shutdown_done_) return;
    shutdown_timer_.cancel();
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }

  asio::io_context& io_;
  core::Hub& hub_;
  http::Api& api_;
  const core::Clock& clock_;
  core::Counters& counters_;
  core::RateLimiter connection_limiter_;
  config::Config config_;
  size_t max_queued_ = 4194304;
  int64_t interval_ms_ = 30000;
  int64_t timeout_ms_ = 60000;

  std::unordered_map<Connection*, ConnectionPtr> connections_;
  size_t sessions_ = 0;    ///< Open WebSocket sessions (subscribers and echo).
  size_t echo_count_ = 0;
  std::vector<char> read_buffer_;
  std::vector<ConnectionPtr> dirty_;  ///< Clients with frames to send, from dirty_head_ on.
  size_t dirty_head_ = 0;
  std::vector<Connection*> batch_;       ///< FlushAll's sends, in BatchSender order.
  bool flush_posted_ = false;
  // NOTIFYD_IO_URING=0 in the environment: plain sendmsg (for comparisons).
  BatchSender sender_{!IoUringDisabledByEnv()};

  uint64_t closed_since_trim_ = 0;
  int64_t last_trim_ms_ = -1000000;
  bool listening_ = false;
  asio::ip::tcp::acceptor acceptor_{io_};
  asio::steady_timer accept_backoff_{io_};
  uint64_t accept_failures_ = 0;
  int64_t last_accept_warning_ms_ = -1000000;
  bool shutting_down_ = false;
  asio::steady_timer sweep_;
  asio::steady_timer shutdown_timer_;
  std::function<void()> shutdown_done_;
};

bool Connection::Deliver(const core::FramePtr& frame) { return server->DeliverFrame(this, frame); }

WebSocketServer::WebSocketServer(asio::io_context& io, core::Hub& hub, http::Api& api,
                                 const core::Clock& clock, core::Counters& counters)
    : impl_(std::make_unique<Impl>(io, hub, api, clock, counters)) {}

WebSocketServer::~WebSocketServer() = default;

void WebSocketServer::Configure(const config::Config& config) { impl_->Configure(config); }

bool WebSocketServer::Listen(const std::string& address, uint16_t port, std::string* error) {
  return impl_->Listen(address, port, error);
}

bool WebSocketServer::Adopt(int fd, std::string* error) { return impl_->Adopt(fd, error); }

std::string WebSocketServer::LocalEndpoint() const { return impl_->LocalEndpoint(); }

void WebSocketServer::Shutdown(int64_t timeout_ms, std::function<void()> done) {
  impl_->Shutdown(timeout_ms, std::move(done));
}

size_t WebSocketServer::connection_count() const { return impl_->connection_count(); }

size_t WebSocketServer::echo_count() const { return impl_->echo_count(); }

}  // namespace notifyd::transport
