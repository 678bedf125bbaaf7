// Owns the event loop, the signal set and every long-lived object, and runs
// start, reload and stop in one readable order. Members are declared in
// start-up order, so destruction reverses it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "config/config.h"
#include "core/broker.h"
#include "core/checkins.h"
#include "core/clock.h"
#include "core/history_store.h"
#include "core/hub.h"
#include "daemon/cluster_node.h"
#include "http/api.h"
#include "protocol/messages.h"
#include "systemd/notifier.h"
#include "http/session_api.h"
#include "transport/server.h"

namespace notifyd::daemon {

/// Where the config came from, so a reload reads the same place.
struct ConfigSource {
  std::string path;       ///< The file to read on reload.
  bool explicit_path;     ///< Given with --config (must exist), or the default path.
};

class Daemon {
 public:
  Daemon(config::Config config, ConfigSource source);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Binds, serves until SIGINT/SIGTERM, shuts down. Returns the exit status.
  int Run();

 private:
  void Apply(const config::Config& config);
  void WaitForSignal();
  void OnSignal(int signo);
  void Reload();
  /// [tls]: loads the certificate and serves the TLS port (on `inherited_fd`
  /// when systemd passed one). False with *error.
  bool StartTls(int inherited_fd, std::string* error);
  /// [tls] at a reload: the port stays; a certificate that loads replaces
  /// the old one for new connections, one that does not is refused.
  void ReloadTls(config::Config* fresh);
  void Stop(int signo);
  /// Opens the [history] store (sqlite) and loads it into the broker.
  void OpenHistory();
  /// Joins the cluster ([cluster] broker = "redis"): the broker publishes
  /// through Redis from now on.
  void JoinCluster();
  void ScheduleStatus();
  void ScheduleSweep();
  void ScheduleWatchdog(std::chrono::microseconds interval);
  std::string StatusLine() const;
  protocol::StatsExtra StatsExtra() const;

  config::Config config_;
  const ConfigSource source_;
  core::SystemClock clock_;
  const int64_t started_ms_;
  protocol::JsonNotificationEncoder encoder_;
  core::Hub hub_;
  core::Broker broker_;
  core::Checkins checkins_;
  core::Counters counters_;
  http::Api api_;
  http::SessionApi session_api_;
  // One thread runs the loop and nothing else touches it: no locking needed
  // in the reactor (fewer mutex operations per delivery).
  asio::io_context io_{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  asio::signal_set signals_;
  transport::Server server_;
  systemd::Notifier notifier_;
  asio::steady_timer status_timer_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer sweep_timer_;
  std::unique_ptr<core::HistoryStore> store_;  ///< [history] store = "sqlite".
  std::unique_ptr<ClusterNode> cluster_;       ///< [cluster] broker = "redis".
  bool stopping_ = false;
};

/// Loads the config the way the daemon starts: `--config PATH` must exist;
/// otherwise /etc/notifyd.conf when it exists, else the built-in default.
/// On failure returns false with "file:line: message" in *error.
bool LoadConfig(const ConfigSource& source, config::Config* out, std::string* error);

}  // namespace notifyd::daemon
