// The daemon's messages to systemd (READY, STATUS, RELOADING, STOPPING,
// WATCHDOG). Silent when NOTIFY_SOCKET is unset, i.e. not under systemd.
#pragma once

#include <chrono>
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
  /// The listening socket passed by systemd socket activation: its fd, or -1
  /// when none was passed. False with *error when the passed sockets are
  /// unusable (not exactly one listening TCP socket). Clears LISTEN_* from
  /// the environment.
  static bool ListenSocket(int* fd, std::string* error);
  /// The watchdog interval systemd asks for, or zero when disabled.
  std::chrono::microseconds WatchdogInterval() const;

 private:
  void Send(const std::string& message);
  std::string last_status_;
};

}  // namespace notifyd::systemd
