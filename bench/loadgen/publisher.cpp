// The HTTP publisher: one blocking POST per connection, read to EOF.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

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

}  // namespace

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
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(t.port));
  inet_pton(AF_INET, t.host.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = "POST " + t.PubPath(channel) + " HTTP/1.1\r\nHost: " + t.host + ":" +
                    std::to_string(t.port) +
                    "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(json.size()) + "\r\n\r\n" + json;
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
  if (resp.compare(0, 9, "HTTP/1.1 ") != 0 && resp.compare(0, 9, "HTTP/1.0 ") != 0) return r;
  r.status = atoi(resp.c_str() + 9);
  r.ok = r.status >= 200 && r.status < 300;
  r.delivered = FindNumberAfter(resp, "\"delivered\"");
  if (r.delivered < 0) r.delivered = FindNumberAfter(resp, "active subscribers");
  return r;
}

}  // namespace bench
