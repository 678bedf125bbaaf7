// The HTTP publishers: one blocking POST per connection (PublishOnce), and K
// persistent connections on one epoll loop (RunKeepAlive), as `wrk -t1 -cK`.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.h"

namespace bench {

namespace {

long FindNumberAfter(const std::string& s, const char* key) {
  size_t p = s.find(key);
  if (p == std::string::npos) return -1;
  p += strlen(key);
  while (p < s.size() && (s[p] == ' ' || s[p] == ':' || s[p] == '"')) ++p;
  if (p >= s.size() || s[p] < '0' || s[p] > '9') return -1;
  return strtol(s.c_str() + p, nullptr, 10);
}

sockaddr_in Address(const Target& t) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(t.port));
  inet_pton(AF_INET, t.host.c_str(), &a.sin_addr);
  return a;
}

// Host is the bare address, no Origin: a loopback client as notifyd expects
// one without tokens.
std::string Request(const Target& t, const std::string& channel, const std::string& json,
                     bool keep_alive) {
  return "POST " + t.PubPath(channel) + " HTTP/1.1\r\nHost: " + t.host +
         "\r\nContent-Type: application/json\r\n" +
         (keep_alive ? "" : "Connection: close\r\n") +
         "Content-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
}

bool HeaderIs(const std::string& head, size_t line, size_t colon, const char* name) {
  size_t n = strlen(name);
  return colon - line == n && strncasecmp(head.c_str() + line, name, n) == 0;
}

// The value of a header line, without surrounding blanks, lower-cased.
std::string Value(const std::string& head, size_t colon, size_t eol) {
  size_t b = colon + 1, e = eol;
  while (b < e && (head[b] == ' ' || head[b] == '\t')) ++b;
  while (e > b && (head[e - 1] == ' ' || head[e - 1] == '\t')) --e;
  std::string v = head.substr(b, e - b);
  for (char& c : v) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return v;
}

// Decodes a chunked body starting at `at`; the end of the last chunk's
// trailer section, or npos while incomplete (or malformed).
size_t ChunkedEnd(const std::string& in, size_t at, std::string* body) {
  // Bounded: every round consumes a chunk header and its data.
  for (;;) {
    size_t eol = in.find("\r\n", at);
    if (eol == std::string::npos) return std::string::npos;
    char* end = nullptr;
    unsigned long size = strtoul(in.c_str() + at, &end, 16);
    if (end == in.c_str() + at) return std::string::npos;
    if (size == 0) {
      size_t t = in.find("\r\n\r\n", eol);  // an empty trailer: "0\r\n\r\n"
      return t == std::string::npos ? t : t + 4;
    }
    if (in.size() < eol + 2 + size + 2) return std::string::npos;
    body->append(in, eol + 2, size);
    at = eol + 2 + size + 2;
  }
}

}  // namespace

ResponseParse ParseResponse(const std::string& in, bool at_eof, PublishResult* r) {
  ResponseParse p;
  size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return p;
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 && in.compare(0, 9, "HTTP/1.0 ") != 0) {
    p.bad = true;
    return p;
  }
  const bool http10 = in[7] == '0';
  long length = -1;
  bool chunked = false, close = http10, keep = false;
  for (size_t line = in.find("\r\n") + 2; line < head_end;) {
    size_t eol = in.find("\r\n", line), colon = in.find(':', line);
    if (colon < eol) {
      if (HeaderIs(in, line, colon, "Content-Length")) length = atol(in.c_str() + colon + 1);
      std::string v = Value(in, colon, eol);
      if (HeaderIs(in, line, colon, "Transfer-Encoding")) chunked = v.find("chunked") != v.npos;
      if (HeaderIs(in, line, colon, "Connection")) {
        close = close || v.find("close") != v.npos;
        keep = v.find("keep-alive") != v.npos;
      }
    }
    line = eol + 2;
  }
  if (http10 && keep) close = false;
  std::string body;
  size_t body_at = head_end + 4;
  if (chunked) {
    p.consumed = ChunkedEnd(in, body_at, &body);
    if (p.consumed == std::string::npos) return ResponseParse{};
  } else if (length >= 0) {
    if (in.size() < body_at + static_cast<size_t>(length)) return p;
    p.consumed = body_at + static_cast<size_t>(length);
    body = in.substr(body_at, static_cast<size_t>(length));
  } else {
    if (!at_eof) return p;  // the body runs to the end of the connection
    p.consumed = in.size();
    body = in.substr(body_at);
    close = true;
  }
  p.complete = true;
  p.close = close;
  r->status = atoi(in.c_str() + 9);
  r->ok = r->status >= 200 && r->status < 300;
  r->delivered = FindNumberAfter(body, "\"delivered\"");
  if (r->delivered < 0) r->delivered = FindNumberAfter(body, "active subscribers");
  return p;
}

PublishResult PublishOnce(const Target& t, const std::string& channel, const std::string& json,
                          int timeout_ms) {
  PublishResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a = Address(t);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = Request(t, channel, json, false);
  if (!WriteFull(fd, req.data(), req.size())) {
    close(fd);
    return r;
  }
  std::string resp;
  char buf[4096];
  // Read to EOF: both servers close after the response (Connection: close), so
  // TIME_WAIT stays on the server side and the client's ports do not run out.
  // Bounded: at most 64 KiB of response, and SO_RCVTIMEO bounds each read.
  while (resp.size() < 65536) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  ParseResponse(resp, true, &r);
  return r;
}

namespace {

/// K persistent connections, each with one request in flight: send, read the
/// whole response (Content-Length or chunked), send the next on the same
/// connection; reconnect when the server says `Connection: close` or closes.
class KeepAliveLoop {
 public:
  KeepAliveLoop(const Target& t, const std::string& channel, const KeepAliveOptions& o)
      : t_(t), channel_(channel), o_(o), addr_(Address(t)), conns_(o.connections) {}

  KeepAliveStats Run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return stats_;
    for (size_t i = 0; i < conns_.size(); ++i) Open(i);
    std::vector<epoll_event> evs(conns_.size() + 1);
    const uint64_t drain_end = o_.end_ns + 10'000'000'000ull;
    // Bounded: no new request after end_ns, and in-flight ones get 10 s.
    while (Busy() && NowNs() < drain_end) {
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 100);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) OnEvent(evs[i].data.u32, evs[i].events);
    }
    for (size_t i = 0; i < conns_.size(); ++i) Drop(i);
    close(ep_);
    stats_.end_ns = NowNs();
    return stats_;
  }

 private:
  struct Conn {
    int fd = -1;
    bool in_flight = false;
    bool responded = false;  // this connection answered a request before
    bool retried = false;    // the request in flight is a retry already
    bool want_out = false;   // EPOLLOUT is in the registered events
    std::string out;         // request bytes the socket did not take yet
    std::string in;          // response bytes read so far
    std::string body;        // the request in flight, kept for one retry
    std::string channel;     // ...and its channel
  };

  // Whether a new request may go out: before end_ns and below max_requests.
  bool MayStart() const {
    return NowNs() < o_.end_ns && (o_.max_requests == 0 || started_ < o_.max_requests);
  }

  // The channel of the next new request (round robin over o_.channels).
  std::string NextChannel() {
    const uint64_t n = started_++;
    return o_.channels > 1 ? channel_ + std::to_string(n % o_.channels) : channel_;
  }

  bool Busy() const {
    for (const Conn& c : conns_) {
      if (c.fd >= 0) return true;
    }
    return false;
  }

  // Connects and sends `body` to `channel` (a new request when body is
  // empty); a retry keeps its body and channel.
  void Open(size_t i, std::string body = std::string(), std::string channel = std::string()) {
    Conn& c = conns_[i];
    const bool retry = !body.empty();
    c = Conn{};
    if (!retry && !MayStart()) return;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return;
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0 &&
        errno != EINPROGRESS) {
      ++stats_.errors;
      close(c.fd);
      c.fd = -1;
      return;
    }
    ++stats_.connections;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.want_out = true;
    c.retried = retry;
    if (retry) {
      Send(i, std::move(body), std::move(channel));
    } else {
      SendNew(i);
    }
  }

  void SendNew(size_t i) {
    std::string channel = NextChannel();
    Send(i, o_.make_body(), std::move(channel));
  }

  void Drop(size_t i) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
  }

  void Send(size_t i, std::string body, std::string channel) {
    Conn& c = conns_[i];
    c.out = Request(t_, channel, body, true);
    c.body = std::move(body);
    c.channel = std::move(channel);
    c.in.clear();
    c.in_flight = true;
    Flush(i);
  }

  void Flush(size_t i) {
    Conn& c = conns_[i];
    ssize_t n = c.out.empty() ? 0 : send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) c.out.erase(0, static_cast<size_t>(n));
    if (n < 0 && errno != EAGAIN && errno != ENOTCONN) return Lost(i);
    // Ask for EPOLLOUT only while bytes wait: no epoll_ctl in the usual case,
    // where the whole request goes out at once.
    const bool want_out = !c.out.empty();
    if (want_out == c.want_out) return;
    c.want_out = want_out;
    epoll_event ev{};
    ev.events = EPOLLIN | (want_out ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void OnEvent(uint32_t i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    if ((events & EPOLLOUT) && !c.out.empty()) Flush(i);
    if (c.fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char buf[16384];
    // Bounded: a short read ends it. Epoll is level-triggered, so bytes left
    // behind (or an EOF right after the response) are reported again.
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      return Eof(i);
    }
    Parse(i, false);
  }

  // The connection ended: a response that runs to EOF is complete now; a
  // request on a reused connection that got no byte back is sent once more on
  // a new one (the server closed the idle connection as the request arrived).
  void Eof(uint32_t i) {
    Conn& c = conns_[i];
    if (!c.in.empty() && Parse(i, true)) return;
    if (c.in_flight && c.in.empty() && c.responded && !c.retried) {
      std::string body = std::move(c.body);
      std::string channel = std::move(c.channel);
      ++stats_.retries;
      Drop(i);
      Open(i, std::move(body), std::move(channel));
      return;
    }
    Lost(i);
  }

  void Lost(size_t i) {
    const bool answered_before = conns_[i].responded;
    if (conns_[i].in_flight) ++stats_.errors;
    Drop(i);
    // A connection that never got an answer (nothing listens, the server
    // refuses it) is not made again: that would only repeat, recursively
    // (Open, Send, Flush, Lost) until the stack ran out.
    if (answered_before) Open(i);
  }

  // Takes a complete response off the connection: count it, then send the next
  // request (or reconnect first). False while the response is incomplete.
  bool Parse(size_t i, bool at_eof) {
    Conn& c = conns_[i];
    PublishResult r;
    ResponseParse p = ParseResponse(c.in, at_eof, &r);
    if (p.bad) {
      Lost(i);
      return true;
    }
    if (!p.complete) return false;
    ++(r.ok ? stats_.ok : stats_.errors);
    if (!r.ok && stats_.first_error_status == 0) stats_.first_error_status = r.status;
    if (r.delivered > 0) stats_.delivered += static_cast<uint64_t>(r.delivered);
    c.in.erase(0, p.consumed);
    c.in_flight = false;
    c.responded = true;
    c.retried = false;
    if (p.close || at_eof || !c.in.empty()) {
      if (p.close) ++stats_.server_closes;
      Drop(i);
      Open(i);
    } else if (!MayStart()) {
      Drop(i);
    } else {
      SendNew(i);
    }
    return true;
  }

  const Target t_;
  const std::string channel_;
  const KeepAliveOptions o_;
  const sockaddr_in addr_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  uint64_t started_ = 0;  // new requests sent (retries not counted)
  KeepAliveStats stats_;
};

}  // namespace

KeepAliveStats RunKeepAlive(const Target& t, const std::string& channel,
                            const KeepAliveOptions& o) {
  return KeepAliveLoop(t, channel, o).Run();
}

}  // namespace bench
