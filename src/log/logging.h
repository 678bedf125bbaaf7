// spdlog setup: journald (identifier "notifyd", real priorities) when stderr
// is the journal, stderr otherwise; the level comes from the config.
#pragma once

#include "config/config.h"

namespace notifyd::log {

/// Where log lines go.
enum class Target { kAuto, kJournal, kStderr };

/// Installs the default logger. kAuto picks the journal when JOURNAL_STREAM
/// names our stderr (so nothing vanishes into a journal that is not there).
void Setup(Target target, config::LogLevel level);

/// Changes the level of the installed logger (on reload).
void SetLevel(config::LogLevel level);

/// True when JOURNAL_STREAM matches the device and inode of stderr.
bool StderrIsJournal();

}  // namespace notifyd::log
