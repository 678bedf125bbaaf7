// The daemon's messages to systemd (READY, STATUS, RELOADING, STOPPING,
// WATCHDOG). Silent when NOTIFY_SOCKET is unset, i.e. not under systemd.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace notifyd::systemd {

class Notifier {
 public:
  /// READY=1 with a status line.
  void Ready(const std::string& status);
  /// STATUS=... (only sent when it changed since the last one).
  void Status(const std::string& status);
  /// RELOADING=1 with MONOTONIC_USEC, as systemd >= 253 requires.
  void Reloading();
  void Stopping(const std::string& status);
  void Watchdog();
  /// The listening sockets passed by systemd socket activation: the plain
  /// one in *fd and, with [tls], the TLS one in *tls_fd (-1 when not passed).
  /// With two sockets, the TLS one is named "tls" (FileDescriptorName=) or
  /// bound to `tls_port`. False with *error when the passed sockets are
  /// unusable (not one or two listening TCP sockets, or no way to tell them
  /// apart). Clears LISTEN_* from the environment.
  static bool ListenSockets(uint16_t tls_port, int* fd, int* tls_fd, std::string* error);
  /// The watchdog interval systemd asks for, or zero when disabled.
  std::chrono::microseconds WatchdogInterval() const;

 private:
  void Send(const std::string& message);
  std::string last_status_;
};

}  // namespace notifyd::systemd
