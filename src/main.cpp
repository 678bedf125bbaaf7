// notifyd: argv -> config -> Daemon -> exit status.
#include <cstdio>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config_parser.h"
#include "daemon/daemon.h"
#include "log/logging.h"
#include "transport/tls_context.h"
#include "version.h"

namespace {

constexpr const char* kUsage =
    "Usage: notifyd [--config FILE] [--check-config] [--log-target auto|journal|stderr]\n"
    "       notifyd --version | --help\n"
    "\n"
    "Real-time notification daemon: WebSocket clients subscribe to channels at /ws,\n"
    "anything that speaks HTTP publishes with POST /api/notify/<channel>.\n"
    "\n"
    "  --config FILE     read FILE instead of /etc/notifyd.conf (without either,\n"
    "                    the built-in default serves: port 8080 or $PORT)\n"
    "  --check-config    validate the config, print the effective settings, exit 0/1\n"
    "  --log-target T    auto (journal when stderr is the journal), journal or stderr\n";

struct Options {
  notifyd::daemon::ConfigSource source{notifyd::config::kDefaultConfigPath, false};
  bool check_only = false;
  notifyd::log::Target log_target = notifyd::log::Target::kAuto;
};

// Returns -1 to go on, or an exit status.
int ParseArgs(int argc, char** argv, Options* opts) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--version") {
      std::printf("notifyd %s\n", NOTIFYD_VERSION);
      return 0;
    } else if (arg == "--check-config" || arg == "-t") {
      opts->check_only = true;
    } else if (arg == "--config" && has_value) {
      opts->source = {argv[++i], true};
    } else if (arg == "--log-target" && has_value) {
      std::string t = argv[++i];
      if (t == "auto") opts->log_target = notifyd::log::Target::kAuto;
      else if (t == "journal") opts->log_target = notifyd::log::Target::kJournal;
      else if (t == "stderr") opts->log_target = notifyd::log::Target::kStderr;
      else return std::fprintf(stderr, "notifyd: unknown log target '%s'\n", t.c_str()), 2;
    } else {
      std::fprintf(stderr, "notifyd: unknown or incomplete option '%s'\n\n%s", arg.c_str(),
                   kUsage);
      return 2;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (int status = ParseArgs(argc, argv, &opts); status >= 0) return status;

  notifyd::config::Config config;
  std::string error;
  bool ok = notifyd::daemon::LoadConfig(opts.source, &config, &error);
  // [tls]: the files must load, the key match and the certificate be valid
  // now, at start as in --check-config (and so before every reload).
  std::string tls_note;
  if (ok && config.tls_port != 0) {
    auto context = notifyd::transport::TlsContext::Load(config, &error);
    ok = context != nullptr;
    if (ok) tls_note = "notifyd: TLS certificate " + context->description() + "\n";
  }
  if (opts.check_only) {
    // Under systemd (ExecStartPre=, ExecReload=) stderr is the journal: give
    // the error its priority there ("<3>" is SD_ERR).
    const char* err_prefix = notifyd::log::StderrIsJournal() ? "<3>" : "";
    if (!ok) return std::fprintf(stderr, "%s%s\n", err_prefix, error.c_str()), 1;
    std::fputs(notifyd::config::FormatConfig(config).c_str(), stdout);
    std::fputs(tls_note.c_str(), stderr);
    std::fprintf(stderr, "notifyd: configuration OK\n");
    return 0;
  }
  notifyd::log::Setup(opts.log_target, ok ? config.log_level : notifyd::config::LogLevel::kInfo);
  if (!ok) {
    spdlog::error("invalid configuration: {}", error);
    return 1;
  }
  try {
    notifyd::daemon::Daemon daemon(std::move(config), opts.source);
    return daemon.Run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
