// A worker process: many WebSocket client connections on one edge-triggered
// epoll loop. Minimal RFC 6455 client: fixed handshake, unmasked server
// frames parsed in place, masked client frames. The hot path (a notification)
// is one memmem for the body marker and two fixed-width integer scans: no JSON.
// With Target::tls_port the connections are TLS (OpenSSL on the socket, no
// certificate check: loopback only), the rest unchanged above the record layer.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common.h"

namespace bench {

namespace {

enum State : uint8_t {
  kIdle,
  kConnecting,
  kTlsHandshake,
  kHandshake,
  kWaitWelcome,
  kWaitSubscribed,
  kReady,
  kClosing,  // we sent a close frame, waiting for the server's close / EOF
  kDone,
  kFailed,
  kGone,     // resume scenario: the server closed it; waits for kResume
};

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // TLS only
  State st = kIdle;
  uint8_t retries = 0;
  bool got_close = false;
  uint32_t idx = 0;      // global index
  std::string in;        // bytes of an incomplete frame (usually empty)
  std::string out;       // bytes the socket did not take yet (usually empty)
  uint64_t received = 0;
  uint64_t last_seq = 0;
  // Resume scenario: the position (the server's epoch and seq of the last
  // notification seen), and the progress of a resume.
  std::string epoch;
  uint64_t seq = 0;
  bool resuming = false;
  uint32_t replayed = 0;
};

constexpr uint32_t kCtlTag = 0xffffffffu;
constexpr uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};

uint64_t ParseFixed(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v * 10 + static_cast<uint64_t>(p[i] - '0');
  return v;
}

/// The unsigned integer after the first `key` (e.g. "\"seq\":") in p[0, n).
bool FindUint(const char* p, size_t n, const char* key, uint64_t* v) {
  const size_t kl = strlen(key);
  const char* k = static_cast<const char*>(memmem(p, n, key, kl));
  if (!k) return false;
  const char* d = k + kl;
  const char* end = p + n;
  if (d >= end || *d < '0' || *d > '9') return false;
  uint64_t x = 0;
  // Bounded by the frame's end (and 20 digits).
  for (int i = 0; d < end && *d >= '0' && *d <= '9' && i < 20; ++d, ++i) {
    x = x * 10 + static_cast<uint64_t>(*d - '0');
  }
  *v = x;
  return true;
}

/// The string value after the first `key` (e.g. "\"epoch\":\"") up to the next quote.
bool FindText(const char* p, size_t n, const char* key, std::string* v) {
  const size_t kl = strlen(key);
  const char* k = static_cast<const char*>(memmem(p, n, key, kl));
  if (!k) return false;
  const char* b = k + kl;
  const char* e = static_cast<const char*>(memchr(b, '"', static_cast<size_t>(p + n - b)));
  if (!e) return false;
  v->assign(b, e);
  return true;
}

class Worker {
 public:
  Worker(const WorkerConfig& cfg, int ctl) : cfg_(cfg), ctl_(ctl), conns_(cfg.count), buf_(1 << 16) {
    for (uint32_t i = 0; i < cfg_.count; ++i) conns_[i].idx = cfg_.first + i;
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(cfg_.target.SubPort()));
    inet_pton(AF_INET, cfg_.target.host.c_str(), &addr_.sin_addr);
  }

  ~Worker() { SSL_CTX_free(tls_); }

  int Run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return 1;
    if (cfg_.target.tls_port > 0 && !MakeTlsContext()) return 1;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = kCtlTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, ctl_, &ev);
    std::vector<epoll_event> evs(1024);
    // Bounded: the loop ends on kQuit or when the parent goes away (EOF).
    while (!quit_) {
      int timeout = (opening_ || closing_) ? 10 : 200;
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout);
      if (n < 0 && errno != EINTR) return 1;
      for (int i = 0; i < n; ++i) {
        if (evs[i].data.u32 == kCtlTag) {
          OnControl();
        } else {
          OnEvent(conns_[evs[i].data.u32], evs[i].events);
        }
      }
      if (opening_) StepOpen();
      if (closing_) StepClose();
    }
    close(ep_);
    return 0;
  }

 private:
  // ---- control ---------------------------------------------------------------
  void OnControl() {
    char c;
    ssize_t r = read(ctl_, &c, 1);
    if (r <= 0) {
      quit_ = true;
      return;
    }
    switch (c) {
      case kOpen:
        BeginOpen();
        break;
      case kProgress: {
        Reply rep = Counters(kProgress);
        WriteFull(ctl_, &rep, sizeof rep);
        break;
      }
      case kZero:
        hist_.Clear();
        received_ = 0;
        out_of_order_ = 0;
        for (auto& cn : conns_) cn.received = 0;
        break;
      case kStats: {
        Reply rep = Counters(kStats);
        rep.hist_n = hist_.Count();
        rep.hist_max = hist_.Max();
        WriteFull(ctl_, &rep, sizeof rep);
        WriteFull(ctl_, hist_.raw().data(), hist_.raw().size() * sizeof(uint64_t));
        break;
      }
      case kClose:
        BeginClose();
        break;
      case kResume:
        BeginResume();
        break;
      case kQuit:
      default:
        quit_ = true;
        break;
    }
  }

  Reply Counters(char cmd) const {
    Reply rep;
    rep.cmd = static_cast<uint32_t>(cmd);
    rep.received = received_;
    rep.out_of_order = out_of_order_;
    rep.protocol_errors = protocol_errors_;
    rep.failed = failed_;
    uint64_t mn = UINT64_MAX, mx = 0;
    uint32_t ready = 0;
    for (const auto& cn : conns_) {
      if (cn.st != kReady) continue;
      ++ready;
      if (cn.received < mn) mn = cn.received;
      if (cn.received > mx) mx = cn.received;
    }
    rep.ready = ready;
    rep.min_per_conn = ready ? mn : 0;
    rep.max_per_conn = mx;
    for (const auto& cn : conns_) {
      if (cn.st == kGone) ++rep.gone;
    }
    rep.recovered = recovered_;
    rep.not_recovered = not_recovered_;
    rep.resumed_done = resumed_done_;
    rep.extra = extra_;
    rep.last_done_ns = last_done_ns_;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    rep.cpu_us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                 static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return rep;
  }

  // ---- TLS -------------------------------------------------------------------
  // A client as a browser's: TLS 1.2 or 1.3 with OpenSSL's defaults, ALPN
  // http/1.1, a full handshake every time (no session kept for resumption),
  // buffers released while idle so that 10,000 clients fit in the worker.
  bool MakeTlsContext() {
    tls_ = SSL_CTX_new(TLS_client_method());
    if (tls_ == nullptr) return false;
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(tls_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(tls_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(tls_, kAlpn, sizeof kAlpn);
    return true;
  }

  void StartTls(Conn& c) {
    c.ssl = SSL_new(tls_);
    if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) return Fail(c, true);
    SSL_set_tlsext_host_name(c.ssl, "localhost");
    SSL_set_connect_state(c.ssl);
    c.st = kTlsHandshake;
    StepTls(c);
  }

  void StepTls(Conn& c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl);
    if (r == 1) return OnConnected(c);
    int e = SSL_get_error(c.ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) Fail(c, true);
  }

  /// read(2) or SSL_read: > 0 bytes, 0 at EOF, -1 with errno (EAGAIN: later).
  ssize_t Receive(Conn& c, char* p, size_t n) {
    if (c.ssl == nullptr) return read(c.fd, p, n);
    ERR_clear_error();
    int r = SSL_read(c.ssl, p, static_cast<int>(n));
    if (r > 0) return r;
    return TlsResult(c, r);
  }

  /// send(2) or SSL_write (partial writes allowed), as Receive.
  ssize_t Send(Conn& c, const char* p, size_t n) {
    if (c.ssl == nullptr) return send(c.fd, p, n, MSG_NOSIGNAL);
    ERR_clear_error();
    int r = SSL_write(c.ssl, p, static_cast<int>(std::min<size_t>(n, 1 << 20)));
    if (r > 0) return r;
    return TlsResult(c, r);
  }

  ssize_t TlsResult(Conn& c, int r) {
    int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : EIO;
    return -1;
  }

  void Disconnect(Conn& c) {
    SSL_free(c.ssl);  // no close_notify: the socket closes (or resets) anyway
    c.ssl = nullptr;
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }

  // ---- open ------------------------------------------------------------------
  void BeginOpen() {
    for (auto& cn : conns_) {
      Disconnect(cn);
      uint32_t idx = cn.idx;
      cn = Conn();
      cn.idx = idx;
    }
    failed_ = 0;
    ready_ = 0;
    next_ = 0;
    inflight_ = 0;
    retry_.clear();
    inflight_limit_ = cfg_.max_inflight;
    opening_ = true;
    open_start_ = NowNs();
    StepOpen();
  }

  /// Resume scenario: every connection the server closed connects again (as
  /// many at once as resume_inflight allows, all by default) and subscribes
  /// with its position as `since`. Replies like kOpen once all are subscribed.
  void BeginResume() {
    retry_.clear();
    for (auto& cn : conns_) {
      if (cn.st != kGone) continue;
      cn.st = kIdle;
      cn.retries = 0;
      cn.resuming = true;
      cn.replayed = 0;
      cn.received = 0;
      cn.in.clear();
      cn.out.clear();
      retry_.push_back(cn.idx - cfg_.first);
    }
    std::reverse(retry_.begin(), retry_.end());  // taken from the back: lowest first
    next_ = cfg_.count;
    inflight_ = 0;
    recovered_ = not_recovered_ = resumed_done_ = 0;
    extra_ = 0;
    last_done_ns_ = 0;
    inflight_limit_ = cfg_.resume_inflight ? cfg_.resume_inflight : cfg_.count;
    opening_ = true;
    open_start_ = NowNs();
    StepOpen();
  }

  /// Resume scenario: the server closed a subscribed connection (a restart);
  /// it keeps its position and waits for kResume.
  void Gone(Conn& c) {
    if (c.st == kGone) return;
    if (c.fd >= 0) {
      Disconnect(c);
    }
    if (ready_ > 0) --ready_;
    c.st = kGone;
  }

  void StepOpen() {
    while (inflight_ < inflight_limit_ && (!retry_.empty() || next_ < cfg_.count)) {
      uint32_t i;
      if (!retry_.empty()) {
        i = retry_.back();
        retry_.pop_back();
      } else {
        i = next_++;
      }
      StartConnect(i);
    }
    bool done = next_ >= cfg_.count && retry_.empty() && inflight_ == 0;
    bool late = NowNs() - open_start_ > cfg_.open_timeout_ns;
    if (!done && !late) return;
    if (late) {
      for (auto& cn : conns_) {
        if (cn.st != kReady && cn.st != kFailed && cn.st != kGone) Fail(cn, false);
      }
    }
    opening_ = false;
    Reply rep = Counters(kOpen);
    rep.elapsed_ns = NowNs() - open_start_;
    WriteFull(ctl_, &rep, sizeof rep);
  }

  void StartConnect(uint32_t i) {
    Conn& c = conns_[i];
    c.in.clear();
    c.out.clear();
    Disconnect(c);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ++inflight_;
    if (c.fd < 0) {
      Fail(c, true);
      return;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = i;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.st = kConnecting;
    int r = connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_);
    if (r != 0 && errno != EINPROGRESS) Fail(c, true);
  }

  void OnConnected(Conn& c) {
    const std::string ch = cfg_.prefix + std::to_string(c.idx % cfg_.channels);
    c.out = "GET " + cfg_.target.SubPath(ch) + " HTTP/1.1\r\nHost: " + cfg_.target.host + ":" +
            std::to_string(cfg_.target.SubPort()) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.st = kHandshake;
    Flush(c);
  }

  void BecomeReady(Conn& c) {
    c.st = kReady;
    ++ready_;
    if (inflight_ > 0) --inflight_;
  }

  /// A connection broke. During the open phase it is retried (3 times).
  void Fail(Conn& c, bool may_retry) {
    if (cfg_.resume && c.st == kReady) return Gone(c);
    bool was_opening = c.st != kReady && c.st != kClosing && c.st != kDone && c.st != kFailed;
    if (c.fd >= 0) {
      Disconnect(c);
    }
    if (c.st == kClosing) {  // the server dropped it during our close: still closed
      c.st = kDone;
      return;
    }
    if (c.st == kReady && ready_ > 0) --ready_;
    if (was_opening && inflight_ > 0) --inflight_;
    if (was_opening && opening_ && may_retry && c.retries < 3) {
      ++c.retries;
      c.st = kIdle;
      retry_.push_back(c.idx - cfg_.first);
      return;
    }
    c.st = kFailed;
    ++failed_;
  }

  // ---- close -----------------------------------------------------------------
  void BeginClose() {
    close_start_ = NowNs();
    closed_clean_ = 0;
    opening_ = false;
    for (auto& c : conns_) {
      if (c.fd < 0) continue;
      if (c.st == kReady && c.idx % 2 == 0) {
        // Clean: close frame 1000, then wait for the server's close and EOF.
        const char code[2] = {0x03, static_cast<char>(0xe8)};
        SendFrame(c, 0x8, code, 2);
        c.st = kClosing;
      } else {
        Abort(c);
      }
    }
    closing_ = true;
    StepClose();
  }

  void Abort(Conn& c) {
    linger lg{1, 0};  // RST, no FIN: the abrupt half
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    Disconnect(c);
    c.st = kDone;
  }

  void StepClose() {
    bool late = NowNs() - close_start_ > 10'000'000'000ull;
    uint32_t pending = 0;
    for (auto& c : conns_) {
      if (c.st != kClosing) continue;
      if (late) {
        Abort(c);
      } else {
        ++pending;
      }
    }
    if (pending > 0) return;
    closing_ = false;
    ready_ = 0;
    Reply rep;
    rep.cmd = kClose;
    rep.closed_clean = closed_clean_;
    rep.elapsed_ns = NowNs() - close_start_;
    WriteFull(ctl_, &rep, sizeof rep);
  }

  // ---- I/O -------------------------------------------------------------------
  void OnEvent(Conn& c, uint32_t events) {
    if (c.fd < 0) return;
    if (c.st == kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        Fail(c, true);
        return;
      }
      if (tls_ != nullptr) {
        StartTls(c);
      } else {
        OnConnected(c);
      }
      if (c.fd < 0) return;
    } else if (c.st == kTlsHandshake) {
      StepTls(c);
      if (c.fd < 0 || c.st == kTlsHandshake) return;
    }
    if (events & EPOLLOUT) {
      Flush(c);
      if (c.fd < 0) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ReadAll(c);
  }

  void ReadAll(Conn& c) {
    // Bounded: edge-triggered, read until EAGAIN, at most 64 reads per event.
    for (int k = 0; k < 64 && c.fd >= 0; ++k) {
      ssize_t n = Receive(c, buf_.data(), buf_.size());
      if (n > 0) {
        Feed(c, buf_.data(), static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      // EOF or error.
      if (c.st == kClosing) {
        if (c.got_close) ++closed_clean_;
        Disconnect(c);
        c.st = kDone;
      } else {
        if (c.st == kReady && !cfg_.resume) ++protocol_errors_;  // the server dropped a subscriber
        Fail(c, true);
      }
      return;
    }
  }

  void Feed(Conn& c, const char* p, size_t n) {
    if (c.in.empty()) {
      size_t used = Parse(c, p, n);
      if (c.fd >= 0 && used < n) c.in.assign(p + used, n - used);
    } else {
      c.in.append(p, n);
      size_t used = Parse(c, c.in.data(), c.in.size());
      if (c.fd >= 0) c.in.erase(0, used);
    }
    if (c.in.size() > (1u << 20)) {  // a frame over 1 MiB: not ours
      ++protocol_errors_;
      Fail(c, false);
    }
  }

  /// Parses the handshake response and complete frames; returns bytes used.
  size_t Parse(Conn& c, const char* p, size_t n) {
    size_t pos = 0;
    if (c.st == kHandshake) {
      const void* e = memmem(p, n, "\r\n\r\n", 4);
      if (!e) return 0;
      size_t hlen = static_cast<size_t>(static_cast<const char*>(e) - p) + 4;
      if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
        ++protocol_errors_;
        Fail(c, true);
        return n;
      }
      pos = hlen;
      if (cfg_.target.nchan) {
        BecomeReady(c);  // Nchan subscribes by the URL
      } else {
        c.st = kWaitWelcome;
      }
    }
    while (c.fd >= 0 && n - pos >= 2) {
      const uint8_t b0 = static_cast<uint8_t>(p[pos]);
      const uint8_t b1 = static_cast<uint8_t>(p[pos + 1]);
      uint64_t len = b1 & 0x7f;
      size_t h = 2;
      if (len == 126) {
        if (n - pos < 4) break;
        len = (static_cast<uint64_t>(static_cast<uint8_t>(p[pos + 2])) << 8) |
              static_cast<uint8_t>(p[pos + 3]);
        h = 4;
      } else if (len == 127) {
        if (n - pos < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(p[pos + 2 + i]);
        h = 10;
      }
      if (b1 & 0x80) h += 4;  // servers must not mask; tolerate it for length only
      if (n - pos - h < len) break;
      OnFrame(c, b0 & 0x0f, p + pos + h, static_cast<size_t>(len));
      pos += h + static_cast<size_t>(len);
    }
    return pos;
  }

  void OnFrame(Conn& c, int op, const char* p, size_t n) {
    if (op == 0x1 || op == 0x0) {
      if (c.st == kReady && cfg_.resume) {
        if (memmem(p, n, "@@S", 3)) {
          OnResumeNotification(c, p, n);
        } else if (memmem(p, n, "\"type\":\"ping\"", 13)) {
          static const char pong[] = "{\"type\":\"pong\"}";
          SendFrame(c, 0x1, pong, sizeof pong - 1);
        }
        return;
      }
      if (c.st == kReady || c.st == kClosing) {
        const char* m = static_cast<const char*>(memmem(p, n, "@@S", 3));
        if (m && static_cast<size_t>(p + n - m) >= 3 + 10 + 3 + 20) {
          const uint64_t now = NowNs();
          const uint64_t seq = ParseFixed(m + 3, 10);
          const uint64_t sent = ParseFixed(m + 16, 20);
          hist_.Add(now > sent ? (now - sent) / 1000 : 0);
          ++received_;
          ++c.received;
          if (c.last_seq != 0 && seq != c.last_seq + 1) ++out_of_order_;
          c.last_seq = seq;
          return;
        }
        // notifyd's application heartbeat: {"type":"ping",...} -> {"type":"pong"}
        if (memmem(p, n, "\"type\":\"ping\"", 13)) {
          static const char pong[] = "{\"type\":\"pong\"}";
          SendFrame(c, 0x1, pong, sizeof pong - 1);
        }
        return;
      }
      if (c.st == kWaitWelcome) {
        if (memmem(p, n, "\"welcome\"", 9)) {
          const std::string ch = cfg_.prefix + std::to_string(c.idx % cfg_.channels);
          std::string sub = "{\"type\":\"subscribe\",\"channel\":\"" + ch + "\"";
          if (c.resuming) {
            sub += ",\"since\":{\"epoch\":\"" + c.epoch + "\",\"seq\":" + std::to_string(c.seq) + "}";
          }
          sub += "}";
          c.st = kWaitSubscribed;
          SendFrame(c, 0x1, sub.data(), sub.size());
        }
        return;
      }
      if (c.st == kWaitSubscribed) {
        if (memmem(p, n, "\"subscribed\"", 12)) {
          if (cfg_.resume) OnResumeSubscribed(c, p, n);
          BecomeReady(c);
        } else if (memmem(p, n, "\"error\"", 7)) {
          ++protocol_errors_;
          Fail(c, false);
        }
      }
      return;
    }
    if (op == 0x8) {  // close
      if (c.st == kClosing) {
        c.got_close = true;  // now wait for the server's FIN
        return;
      }
      if (c.st == kReady && cfg_.resume) {  // a restart: answer the close, keep the position
        const char code[2] = {0x03, static_cast<char>(0xe9)};  // 1001
        SendFrame(c, 0x8, code, 2);
        return Gone(c);
      }
      if (c.st == kReady) ++protocol_errors_;
      Fail(c, true);
      return;
    }
    if (op == 0x9) SendFrame(c, 0xA, p, n);  // ping -> pong
  }

  /// Resume scenario, `subscribed`: a first subscription takes the channel's
  /// position (epoch and latest seq); a resume checks recovered and missed and
  /// keeps the position it resumed from.
  void OnResumeSubscribed(Conn& c, const char* p, size_t n) {
    std::string epoch;
    uint64_t seq = 0;
    if (!FindText(p, n, "\"epoch\":\"", &epoch) || !FindUint(p, n, "\"seq\":", &seq)) {
      ++protocol_errors_;
      return;
    }
    if (!c.resuming) {
      c.epoch = epoch;
      c.seq = seq;
      return;
    }
    uint64_t missed = 0;
    const bool recovered = memmem(p, n, "\"recovered\":true", 16) != nullptr;
    if (recovered && FindUint(p, n, "\"missed\":", &missed) && missed == cfg_.expect_missed &&
        epoch == c.epoch) {
      ++recovered_;
    } else {
      ++not_recovered_;
    }
  }

  /// Resume scenario, a notification: it must continue the position (same
  /// epoch, seq + 1); after a resume the first expect_missed complete it.
  void OnResumeNotification(Conn& c, const char* p, size_t n) {
    std::string epoch;
    uint64_t seq = 0;
    if (!FindUint(p, n, "\"seq\":", &seq) || !FindText(p, n, "\"epoch\":\"", &epoch)) {
      ++protocol_errors_;
      return;
    }
    if (epoch != c.epoch || seq != c.seq + 1) ++out_of_order_;
    c.epoch = epoch;
    c.seq = seq;
    ++received_;
    ++c.received;
    if (!c.resuming) return;
    ++c.replayed;
    if (c.replayed == cfg_.expect_missed) {
      ++resumed_done_;
      last_done_ns_ = NowNs();
    } else if (c.replayed > cfg_.expect_missed) {
      ++extra_;
    }
  }

  void SendFrame(Conn& c, int op, const char* p, size_t n) {
    char h[14];
    size_t hl = 2;
    h[0] = static_cast<char>(0x80 | op);
    if (n < 126) {
      h[1] = static_cast<char>(0x80 | n);
    } else {
      h[1] = static_cast<char>(0x80 | 126);
      h[2] = static_cast<char>((n >> 8) & 0xff);
      h[3] = static_cast<char>(n & 0xff);
      hl = 4;
    }
    memcpy(h + hl, kMask, 4);
    hl += 4;
    c.out.append(h, hl);
    for (size_t i = 0; i < n && i < 65535; ++i) c.out.push_back(static_cast<char>(p[i] ^ kMask[i & 3]));
    Flush(c);
  }

  void Flush(Conn& c) {
    // Bounded by the size of c.out: each send takes > 0 bytes or stops.
    while (!c.out.empty() && c.fd >= 0) {
      ssize_t n = Send(c, c.out.data(), c.out.size());
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      if (c.st == kClosing) {
        Disconnect(c);
        c.st = kDone;
      } else {
        Fail(c, true);
      }
      return;
    }
  }

  WorkerConfig cfg_;
  int ctl_;
  int ep_ = -1;
  SSL_CTX* tls_ = nullptr;
  sockaddr_in addr_{};
  std::vector<Conn> conns_;
  std::vector<char> buf_;
  std::vector<uint32_t> retry_;
  Histogram hist_;
  bool quit_ = false;
  bool opening_ = false;
  bool closing_ = false;
  uint64_t open_start_ = 0;
  uint64_t close_start_ = 0;
  uint32_t next_ = 0;
  uint32_t inflight_ = 0;
  uint32_t inflight_limit_ = 200;
  uint32_t ready_ = 0;
  uint32_t failed_ = 0;
  uint32_t closed_clean_ = 0;
  uint64_t received_ = 0;
  uint64_t out_of_order_ = 0;
  uint64_t protocol_errors_ = 0;
  uint32_t recovered_ = 0;
  uint32_t not_recovered_ = 0;
  uint32_t resumed_done_ = 0;
  uint64_t extra_ = 0;
  uint64_t last_done_ns_ = 0;
};

}  // namespace

int RunWorker(const WorkerConfig& cfg, int ctl) {
  Worker w(cfg, ctl);
  return w.Run();
}

}  // namespace bench
