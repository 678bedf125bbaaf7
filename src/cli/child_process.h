// Runs the command of `notifyd-cli run` as a child process: its stdout and
// stderr go through pipes, are passed on to notifyd-cli's own (so cron still
// mails them) and their last lines are kept (output_tail.h); SIGINT, SIGTERM,
// SIGHUP and SIGQUIT sent to notifyd-cli by another process are passed on to
// the child (those a terminal sends reach the child directly, as it is in
// the same process group); stdin and the environment are the child's as they
// are. Linux only (signalfd).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "cli/output_tail.h"
#include "cli/run_report.h"

namespace notifyd::cli {

class ChildRunner {
 public:
  /// The runner feeds the command's output to *tail, which must outlive it.
  explicit ChildRunner(OutputTail* tail) : tail_(tail) {}
  ChildRunner(const ChildRunner&) = delete;
  ChildRunner& operator=(const ChildRunner&) = delete;

  /// Runs `argv` (looked up in $PATH as a shell does) to its end. When it
  /// cannot be started, says so on stderr as a shell would. The four signals
  /// stay blocked in notifyd-cli afterwards, so that what comes after (the
  /// publish) is not cut short; StopRequested() tells whether one came.
  CommandResult Run(const std::vector<std::string>& argv);

  /// True when one of the four signals was sent to notifyd-cli while the
  /// command ran, or is pending since: the user wants notifyd-cli to finish.
  bool StopRequested() const;

 private:
  bool Start(const std::vector<std::string>& argv, CommandResult* result);
  void Wait(CommandResult* result);
  bool Pump(int index);
  void HandleSignals(CommandResult* result);
  void PassOn(int fd, const char* data, size_t size);

  OutputTail* tail_;
  sigset_t stop_signals_{};
  sigset_t old_mask_{};
  int signal_fd_ = -1;
  int out_fds_[2] = {-1, -1};  // read ends: the child's stdout and stderr
  bool pass_on_[2] = {true, true};
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool stop_seen_ = false;
};

}  // namespace notifyd::cli
