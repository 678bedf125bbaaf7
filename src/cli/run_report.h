// What `notifyd-cli run` makes of a command that has ended: the exit status
// it passes on (as a shell would), and the notification that tells about it.
// Plain values in and out; child_process.h runs the command.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cli {

/// Exit status when the command was not found (as in sh).
inline constexpr int kExitNotFound = 127;
/// Exit status when the command was found but could not be run (as in sh).
inline constexpr int kExitCannotRun = 126;

/// How a command ended.
struct CommandResult {
  int exit_code = 0;                       ///< What run exits with: 0..255.
  std::optional<int> signal;               ///< The signal that killed it.
  std::optional<std::string> start_error;  ///< Why it could not be started.
  std::chrono::milliseconds duration{0};   ///< From start to end.
};

/// The exit status for a waitpid() status: the command's own exit code, or
/// 128 + N when signal N killed it. Fills *signal in the second case.
int ExitCodeOfWaitStatus(int wait_status, std::optional<int>* signal);

/// The exit status when starting the command failed with `error_number`:
/// 127 when it does not exist (ENOENT, ENOTDIR), 126 otherwise (EACCES,
/// ENOEXEC, ...).
int ExitCodeOfStartError(int error_number);

/// "SIGKILL" for 9; "signal 99" for a number without a name.
std::string SignalName(int signal);

/// The command line as one string a shell would read back: words with
/// anything but letters, digits and -_./=:,+@% in single quotes.
std::string QuotedCommand(const std::vector<std::string>& argv);

/// The notification about a command, before it is sent.
struct RunNotification {
  std::string title;
  std::string body;
  std::string data;  ///< A JSON object as text.
};

/// What run publishes about `argv`, ended as `result`: the title names the job
/// (`job`, else the last part of argv[0]) and how it ended ("backup failed
/// (exit 1)", "backup succeeded", "backup failed (killed by SIGKILL)",
/// "backup could not be started (exit 127)"); the body is `output` (the last
/// lines, OutputTail::Text) or why it could not start; data is
/// {"command","exit","duration_s","host"}, plus "signal" when one killed it
/// and "output_lines" (how many lines it wrote in all).
RunNotification DescribeRun(const std::vector<std::string>& argv,
                            const std::optional<std::string>& job, const CommandResult& result,
                            std::string_view output, uint64_t output_lines, std::string_view host);

}  // namespace notifyd::cli
