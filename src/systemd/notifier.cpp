#include "systemd/notifier.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace notifyd::systemd {

void Notifier::Ready(const std::string& status) {
  last_status_ = status;
  Send("READY=1\nSTATUS=" + status);
}

void Notifier::Status(const std::string& status) {
  if (status == last_status_) return;
  last_status_ = status;
  Send("STATUS=" + status);
}

void Notifier::Reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::Stopping(const std::string& status) {
  last_status_ = status;
  Send("STOPPING=1\nSTATUS=" + status);
}

void Notifier::Watchdog() { Send("WATCHDOG=1"); }

namespace {

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace

bool Notifier::ListenSockets(uint16_t tls_port, int* fd, int* tls_fd, std::string* error) {
  *fd = -1;
  *tls_fd = -1;
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  if (n == 0) return true;
  if (n < 0) {
    *error = std::string("socket activation failed: ") + std::strerror(-n);
    return false;
  }
  std::vector<std::string> name;
  for (int i = 0; i < n; ++i) {
    name.push_back(names != nullptr && names[i] != nullptr ? names[i] : "");
    if (names != nullptr) free(names[i]);
  }
  free(names);
  const int max = tls_port != 0 ? 2 : 1;
  for (int i = 0; i < n && n <= max; ++i) {
    if (sd_is_socket_inet(SD_LISTEN_FDS_START + i, 0, SOCK_STREAM, 1, 0) <= 0) n = max + 1;
  }
  if (n > max) {
    *error = "socket activation: expected " +
             std::string(max == 1 ? "exactly one listening TCP socket"
                                  : "one or two listening TCP sockets (plain and [tls])") +
             ", got " + std::to_string(name.size()) + " descriptor(s)";
    return false;
  }
  *fd = SD_LISTEN_FDS_START;
  if (n == 1) return true;
  // Which is which: by name, else by the TLS port.
  for (int i = 0; i < 2; ++i) {
    const int candidate = SD_LISTEN_FDS_START + i;
    if (name[i] == "tls" || (name[0] != "tls" && name[1] != "tls" && LocalPort(candidate) == tls_port)) {
      *tls_fd = candidate;
      *fd = SD_LISTEN_FDS_START + (1 - i);
      return true;
    }
  }
  *error = "socket activation: two sockets passed, and neither is named \"tls\" "
           "(FileDescriptorName=tls) nor bound to tls.port " + std::to_string(tls_port);
  return false;
}

std::chrono::microseconds Notifier::WatchdogInterval() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec);
}

void Notifier::Send(const std::string& message) {
  int r = sd_notify(0, message.c_str());
  if (r < 0) spdlog::warn("sd_notify failed: {}", std::strerror(-r));
}

}  // namespace notifyd::systemd
