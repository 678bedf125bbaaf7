// What every notifyd-cli command shares at its edges: the exit codes, the
// --help text, and the one-line reports of a failure on stderr.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cli {

/// Exit codes of notifyd-cli.
inline constexpr int kExitOk = 0;       ///< Success, or stopped by SIGINT/SIGTERM.
inline constexpr int kExitFailure = 1;  ///< Connection failed, timed out, or refused.
inline constexpr int kExitUsage = 2;    ///< Bad command line.
/// publish: not delivered now, kept in the spool for later (sysexits.h's
/// EX_TEMPFAIL). Publishing again would deliver it twice.
inline constexpr int kExitSpooled = 75;

/// The whole of `--help`, also printed to stderr on usage errors.
std::string_view UsageText();

struct CommandLine;
struct CommandSyntax;

/// Parses the arguments of a command that takes `syntax` into *line.
/// Returns the exit code to end with at once: 0 after printing the usage text
/// for --help, kExitUsage after a usage error; nullopt to go on.
std::optional<int> ReadCommandLine(const std::vector<std::string>& args,
                                   const CommandSyntax& syntax, CommandLine* line);

/// ReadCommandLine for a command whose `options` all take a value.
std::optional<int> ReadCommandLine(const std::vector<std::string>& args,
                                   const std::vector<std::string_view>& options, CommandLine* line);

/// Prints "notifyd-cli: MESSAGE", a blank line and the usage text to stderr;
/// returns kExitUsage.
int UsageFailure(const std::string& message);

/// Prints "notifyd-cli: MESSAGE" to stderr; returns `code`.
int Failure(const std::string& message, int code);

/// Prints "notifyd-cli: MESSAGE" to stderr: a status line of sub, tail and
/// history, which keep stdout for notifications.
void Note(const std::string& message);

}  // namespace notifyd::cli
