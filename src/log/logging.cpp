#include "log/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace notifyd::log {

namespace {

spdlog::level::level_enum ToSpdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace: return spdlog::level::trace;
    case config::LogLevel::kDebug: return spdlog::level::debug;
    case config::LogLevel::kInfo: return spdlog::level::info;
    case config::LogLevel::kWarn: return spdlog::level::warn;
    case config::LogLevel::kError: return spdlog::level::err;
    case config::LogLevel::kCritical: return spdlog::level::critical;
    case config::LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

bool StderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

void Setup(Target target, config::LogLevel level) {
  bool journal = target == Target::kJournal || (target == Target::kAuto && StderrIsJournal());
  std::shared_ptr<spdlog::logger> logger;
  if (journal) {
    // The journal adds its own timestamp and priority; the message stays plain.
    logger = spdlog::systemd_logger_st("notifyd", "notifyd");
  } else {
    logger = spdlog::stderr_color_st("notifyd");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(ToSpdlog(level));
  logger->flush_on(spdlog::level::trace);  // stderr is unbuffered anyway; never lose a line
  spdlog::set_default_logger(logger);
}

void SetLevel(config::LogLevel level) { spdlog::default_logger()->set_level(ToSpdlog(level)); }

}  // namespace notifyd::log
