#include "systemd/notifier.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstring>

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

bool Notifier::ListenSocket(int* fd, std::string* error) {
  *fd = -1;
  int n = sd_listen_fds(1);
  if (n == 0) return true;
  if (n < 0) {
    *error = std::string("socket activation failed: ") + std::strerror(-n);
    return false;
  }
  if (n != 1 || sd_is_socket_inet(SD_LISTEN_FDS_START, 0, SOCK_STREAM, 1, 0) <= 0) {
    *error = "socket activation: expected exactly one listening TCP socket, got " +
             std::to_string(n) + " descriptor(s)";
    return false;
  }
  *fd = SD_LISTEN_FDS_START;
  return true;
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
