/* The floor for keep-alive publishes on this machine: the least an HTTP/1.1
 * server with one epoll thread can spend per request. It parses nothing
 * beyond the end of the head and Content-Length, keeps nothing, and answers
 * every request with the same 200 and a JSON body the size of notifyd's
 * reply. What it costs per request is the kernel's TCP work over loopback
 * (recv, send, the peer's wake-up) plus almost nothing: the bound below
 * which neither notifyd nor Nchan can go in `compare.py`'s keep-alive rows
 * (docs/BENCHMARKS.md, "The floor").
 *
 *   cc -O2 bench/http_floor.c -o /tmp/http_floor && /tmp/http_floor PORT
 *
 * Listens on 127.0.0.1:PORT only; exits on SIGTERM/SIGINT. Not a server: a
 * measuring stick. Requests larger than its 64 KiB buffer are refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBuffer = 65536, kMaxFd = 65536 };

static const char kResponse[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/json\r\n"
    "Content-Length: 100\r\n\r\n"
    "{\"success\":true,\"channel\":\"pub0\",\"delivered\":0,\"id\":\"EgIrJwBPGGNX:2\","
    "\"seq\":2,\"epoch\":\"EgIrJwBPGGNX\"}";

struct conn {
  char *buf; /* unparsed input, kBuffer bytes; NULL while the slot is free */
  size_t len;
};

static struct conn conns[kMaxFd];
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* Length of the first complete request in c->buf, or 0 when incomplete. */
static size_t request_length(const struct conn *c) {
  const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  size_t head = (size_t)(end - c->buf) + 4;
  size_t body = 0;
  const char *cl = memmem(c->buf, head, "Content-Length:", 15);
  if (cl == NULL) cl = memmem(c->buf, head, "content-length:", 15);
  if (cl != NULL) body = strtoul(cl + 15, NULL, 10);
  return c->len >= head + body ? head + body : 0;
}

static void drop(int fd) {
  free(conns[fd].buf);
  conns[fd].buf = NULL;
  close(fd);
}

static void serve(int fd) {
  struct conn *c = &conns[fd];
  for (int reads = 0; reads < 4; ++reads) {
    ssize_t n = recv(fd, c->buf + c->len, kBuffer - c->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      drop(fd);
      return;
    }
    if (n < 0) break;
    c->len += (size_t)n;
    size_t len;
    while ((len = request_length(c)) > 0) {
      /* One send per request, as a server that answers each one does. */
      if (send(fd, kResponse, sizeof kResponse - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        drop(fd);
        return;
      }
      memmove(c->buf, c->buf + len, c->len - len);
      c->len -= len;
    }
    if (c->len == kBuffer) {
      drop(fd);
      return;
    }
    if ((size_t)n < kBuffer) break;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[256];
  while (!stop) {
    int n = epoll_wait(ep, events, 256, 200);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd != lfd) {
        if (conns[fd].buf != NULL) serve(fd);
        continue;
      }
      for (int accepted = 0; accepted < 64; ++accepted) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (cfd < 0) break;
        if (cfd >= kMaxFd || (conns[cfd].buf = malloc(kBuffer)) == NULL) {
          close(cfd);
          continue;
        }
        conns[cfd].len = 0;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = cfd};
        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
      }
    }
  }
  return 0;
}
