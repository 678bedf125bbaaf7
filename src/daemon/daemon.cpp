#include "daemon/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "config/config_parser.h"
#include "daemon/process_stats.h"
#include "log/logging.h"
#include "store/sqlite_store.h"
#include "version.h"

namespace notifyd::daemon {

bool LoadConfig(const ConfigSource& source, config::Config* out, std::string* error) {
  if (!source.explicit_path && access(source.path.c_str(), F_OK) != 0) {
    return config::BuiltinDefault(out, error);
  }
  return config::LoadConfigFile(source.path, out, error);
}

Daemon::Daemon(config::Config config, ConfigSource source)
    : config_(std::move(config)),
      source_(std::move(source)),
      started_ms_(clock_.MonotonicMillis()),
      hub_(clock_),
      broker_(hub_, clock_, encoder_),
      checkins_(broker_, clock_),
      api_(hub_, broker_, clock_, counters_, [this] { return StatsExtra(); },
           &ReadProcessMetrics),
      session_api_(hub_, broker_, clock_, counters_),
      signals_(io_, SIGINT, SIGTERM, SIGHUP),
      server_(io_, hub_, broker_, api_, session_api_, clock_, counters_),
      status_timer_(io_),
      watchdog_timer_(io_),
      sweep_timer_(io_) {
  api_.AttachCheckins(&checkins_);
  Apply(config_);
}

void Daemon::Apply(const config::Config& config) {
  log::SetLevel(config.log_level);
  core::Broker::Options history;
  history.size = config.history_size;
  history.ttl_ms = static_cast<int64_t>(config.history_ttl_s * 1000);
  history.recover_max = config.history_recover_max;
  history.batch = config.history_sync == config::HistorySync::kBatch;
  broker_.Configure(history);
  hub_.set_max_subscriptions_per_client(config.max_subscriptions_per_client);
  api_.Configure(config);
  session_api_.Configure(config);
  server_.Configure(config);
}

int Daemon::Run() {
  if (config_.cluster_broker == config::ClusterBroker::kRedis) {
    JoinCluster();
  } else {
    OpenHistory();
  }
  std::string error;
  int inherited_fd = -1;
  int inherited_tls_fd = -1;
  bool ok = systemd::Notifier::ListenSockets(config_.tls_port, &inherited_fd, &inherited_tls_fd,
                                             &error);
  if (ok) {
    ok = inherited_fd >= 0 ? server_.Adopt(inherited_fd, &error)
                           : server_.Listen(config_.listen_address, config_.port, &error);
  }
  if (ok && config_.tls_port != 0) ok = StartTls(inherited_tls_fd, &error);
  if (!ok) {
    spdlog::error("{}", error);
    return 1;
  }
  spdlog::info("notifyd {} listening on {}{} (config: {}; heartbeat {}s/{}s)", NOTIFYD_VERSION,
               server_.LocalEndpoint(),
               inherited_fd >= 0 ? ", socket-activated (server.listen and server.port unused)" : "",
               access(source_.path.c_str(), F_OK) == 0 ? source_.path : "built-in default",
               config_.heartbeat_interval_s, config_.heartbeat_timeout_s);
  notifier_.Ready(StatusLine());
  WaitForSignal();
  ScheduleStatus();
  ScheduleSweep();
  if (auto wd = notifier_.WatchdogInterval(); wd.count() > 0) ScheduleWatchdog(wd / 2);
  // Handlers catch their own exceptions; this loop is the last line of defence.
  for (;;) {
    try {
      io_.run();
      break;
    } catch (const std::exception& e) {
      spdlog::error("unexpected error in the event loop: {}", e.what());
    }
  }
  // Every reply the loop was waiting for is out; what is still queued
  // (batch mode) is written now, and the stop is marked clean.
  broker_.CloseStore();
  spdlog::info("notifyd stopped");
  return 0;
}

void Daemon::OpenHistory() {
  if (config_.history_store != config::HistoryStore::kSqlite) {
    spdlog::info("history: in memory, {} per channel for {}s (lost at a restart: new epochs)",
                 config_.history_size, config_.history_ttl_s);
    return;
  }
  const bool batch = config_.history_sync == config::HistorySync::kBatch;
  try {
    store_ = std::make_unique<store::SqliteStore>(
        config_.history_path, batch,
        [this](std::function<void()> fn) { asio::post(io_, std::move(fn)); });
    broker_.AttachStore(store_.get());
  } catch (const std::exception& e) {
    // Not a crash loop: the daemon serves live traffic and refuses
    // publishes (503) until the store can be opened at a restart.
    store_.reset();
    spdlog::error("history: cannot open {}: {}; publishes are refused (503) until this is fixed "
                  "and notifyd restarted", config_.history_path, e.what());
    broker_.FailStore(std::string("cannot open ") + config_.history_path + ": " + e.what());
    return;
  }
  checkins_.Restore(broker_.TakeLoadedCheckins());
  const core::Broker::LoadReport& r = broker_.load_report();
  spdlog::info("history: {} ({} sync), {} channels and {} notifications loaded", config_.history_path,
               batch ? "batch" : "commit", r.channels, r.notifications);
  if (!r.kept_epochs && r.channels > 0) {
    spdlog::warn("history: {}: every channel starts a new epoch (clients resuming from before "
                 "are told recovered: false)",
                 r.started_anew ? "the database was started anew"
                                : "the last run did not stop cleanly in batch mode");
  }
}

void Daemon::JoinCluster() {
  cluster_ = std::make_unique<ClusterNode>(io_, config_, clock_, hub_);
  broker_.AttachEngine(&cluster_->engine());
  cluster_->Start();
}

void Daemon::ScheduleSweep() {
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    broker_.Sweep();
    checkins_.Sweep();
    ScheduleSweep();
  });
}

void Daemon::WaitForSignal() {
  signals_.async_wait([this](const asio::error_code& ec, int signo) {
    if (ec) return;
    OnSignal(signo);
    WaitForSignal();
  });
}

void Daemon::OnSignal(int signo) {
  if (signo == SIGHUP) {
    if (!stopping_) Reload();
    return;
  }
  if (stopping_) {
    spdlog::warn("second {} during shutdown: stopping now", strsignal(signo));
    io_.stop();
    return;
  }
  Stop(signo);
}

void Daemon::Reload() {
  notifier_.Reloading();
  spdlog::info("reloading the configuration from {}", source_.path);
  config::Config fresh;
  std::string error;
  if (!LoadConfig(source_, &fresh, &error)) {
    spdlog::error("reload failed, keeping the running configuration: {}", error);
  } else {
    if (fresh.history_store != config_.history_store || fresh.history_path != config_.history_path ||
        fresh.history_sync != config_.history_sync) {
      spdlog::warn("[history] store, path and sync take effect at the next restart");
      fresh.history_store = config_.history_store;
      fresh.history_path = config_.history_path;
      fresh.history_sync = config_.history_sync;
    }
    if (fresh.cluster_broker != config_.cluster_broker ||
        fresh.cluster_redis != config_.cluster_redis ||
        fresh.cluster_prefix != config_.cluster_prefix ||
        fresh.cluster_timeout_s != config_.cluster_timeout_s) {
      spdlog::warn("[cluster] takes effect at the next restart");
      fresh.cluster_broker = config_.cluster_broker;
      fresh.cluster_redis = config_.cluster_redis;
      fresh.cluster_prefix = config_.cluster_prefix;
      fresh.cluster_timeout_s = config_.cluster_timeout_s;
    }
    if (fresh.listen_address != config_.listen_address || fresh.port != config_.port) {
      spdlog::warn("the listen address changed; it takes effect at the next restart");
      fresh.listen_address = config_.listen_address;
      fresh.port = config_.port;
    }
    ReloadTls(&fresh);
    config_ = fresh;
    Apply(config_);
    spdlog::info("configuration reloaded");
  }
  notifier_.Ready(StatusLine());
}

bool Daemon::StartTls(int inherited_fd, std::string* error) {
  std::shared_ptr<transport::TlsContext> context = transport::TlsContext::Load(config_, error);
  if (!context) return false;
  const std::string description = context->description();
  bool ok = inherited_fd >= 0
                ? server_.AdoptTls(inherited_fd, std::move(context), error)
                : server_.ListenTls(config_.listen_address, config_.tls_port, std::move(context),
                                    error);
  if (!ok) return false;
  spdlog::info("serving TLS on {}{} (certificate {})", server_.TlsEndpoint(),
               inherited_fd >= 0 ? ", socket-activated" : "", description);
  return true;
}

void Daemon::ReloadTls(config::Config* fresh) {
  if (fresh->tls_port != config_.tls_port) {
    spdlog::warn("tls.port changed; it takes effect at the next restart");
    fresh->tls_port = config_.tls_port;
  }
  if (!server_.tls_enabled()) return;
  std::string error;
  std::shared_ptr<transport::TlsContext> context = transport::TlsContext::Load(*fresh, &error);
  if (!context) {
    spdlog::error("TLS: refused the certificate, new connections keep the one loaded before: {}",
                  error);
    fresh->tls_certificate = config_.tls_certificate;
    fresh->tls_key = config_.tls_key;
    return;
  }
  spdlog::info("TLS: certificate loaded for new connections: {}", context->description());
  server_.SetTlsContext(std::move(context));
}

void Daemon::Stop(int signo) {
  stopping_ = true;
  spdlog::info("received {}: shutting down ({} clients)", strsignal(signo),
               server_.connection_count());
  notifier_.Stopping("shutting down");
  status_timer_.cancel();
  sweep_timer_.cancel();
  server_.Shutdown(static_cast<int64_t>(config_.shutdown_timeout_s * 1000), [this] {
    auto finish = [this] {
      watchdog_timer_.cancel();
      signals_.cancel();
      io_.stop();
    };
    if (cluster_) {
      cluster_->Stop(finish);  // off the node list first
    } else {
      finish();
    }
  });
}

void Daemon::ScheduleStatus() {
  status_timer_.expires_after(std::chrono::seconds(1));
  status_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    notifier_.Status(StatusLine());
    ScheduleStatus();
  });
}

void Daemon::ScheduleWatchdog(std::chrono::microseconds interval) {
  // Fed from the event loop itself: a stuck loop stops the heartbeat.
  notifier_.Watchdog();
  watchdog_timer_.expires_after(interval);
  watchdog_timer_.async_wait([this, interval](const asio::error_code& ec) {
    if (!ec) ScheduleWatchdog(interval);
  });
}

std::string Daemon::StatusLine() const {
  core::HubStats s = hub_.stats();
  std::string line = std::to_string(s.connections) + " clients, " +
                     std::to_string(s.channels) + " channels, " +
                     std::to_string(s.published_total) + " published";
  if (!broker_.store_ok()) line += "; history store failing: " + broker_.store_error();
  if (!broker_.engine_up()) line += "; Redis unavailable: " + broker_.engine_error();
  return line;
}

protocol::StatsExtra Daemon::StatsExtra() const {
  protocol::StatsExtra extra;
  extra.uptime_s = (clock_.MonotonicMillis() - started_ms_) / 1000.0;
  extra.echo_connections = server_.echo_count();
  extra.sse_streams = server_.sse_streams();
  extra.history = broker_.stats();
  extra.checkins_late = checkins_.CountLate();
  extra.checkins_up = checkins_.size() - extra.checkins_late;
  if (config_.history_store == config::HistoryStore::kSqlite) {
    extra.history_store = "sqlite";
    if (store_) extra.history_file_bytes = store_->FileBytes();
  }
  if (!broker_.store_ok()) extra.history_error = broker_.store_error();
  if (cluster_) {
    extra.history_store = "redis";
    cluster_->Fill(&extra);
  }
  extra.version = NOTIFYD_VERSION;
  return extra;
}

}  // namespace notifyd::daemon
