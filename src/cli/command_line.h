// A notifyd-cli command's arguments taken apart the same way for every
// command: options as "--name VALUE" or "--name=VALUE", flags as "--name",
// "-h"/"--help", "--" to end the options; "-", "" and everything not starting
// with '-' are positional. Which options a command knows is its own business.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cli {

/// The parsed arguments of one command.
struct CommandLine {
  std::map<std::string, std::string, std::less<>> options;  ///< "--name" -> value; last one wins.
  std::set<std::string, std::less<>> flags;                 ///< "--always", ... as given.
  std::vector<std::string> positional;                      ///< In order.
  bool help = false;                                        ///< "-h" or "--help" was given.

  /// The value of option `name` ("--title"), when given.
  std::optional<std::string> Get(std::string_view name) const;

  /// True when flag `name` ("--always") was given.
  bool Has(std::string_view name) const;
};

/// What one command accepts.
struct CommandSyntax {
  std::vector<std::string_view> options;     ///< Options that take a value ("--title").
  std::vector<std::string_view> flags = {};  ///< Options that take none ("--always").
  /// The first positional argument ends the options, as "--" does: what
  /// follows it (a command to run, with options of its own) is positional.
  bool positional_ends_options = false;
};

/// Parses `args` (the words after the command's name) as `syntax` says.
/// Returns false and fills *error for an unknown option, an option without
/// its value, or a flag given a value.
bool ParseCommandLine(const std::vector<std::string>& args, const CommandSyntax& syntax,
                      CommandLine* out, std::string* error);

/// ParseCommandLine for a command whose options (`known`) all take a value.
bool ParseCommandLine(const std::vector<std::string>& args,
                      const std::vector<std::string_view>& known, CommandLine* out,
                      std::string* error);

/// Checks a CHANNEL argument against the channel-name rule (PROTOCOL.md
/// "Channel names"); false and *error saying so otherwise.
bool CheckChannelArgument(std::string_view channel, std::string* error);

}  // namespace notifyd::cli
