// A notifyd-cli command's arguments taken apart the same way for every
// command: options as "--name VALUE" or "--name=VALUE", "-h"/"--help", "--"
// to end the options; "-", "" and everything not starting with '-' are
// positional. Which options a command knows is its own business.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace notifyd::cli {

/// The parsed arguments of one command.
struct CommandLine {
  std::map<std::string, std::string, std::less<>> options;  ///< "--name" -> value; last one wins.
  std::vector<std::string> positional;                      ///< In order.
  bool help = false;                                        ///< "-h" or "--help" was given.

  /// The value of option `name` ("--title"), when given.
  std::optional<std::string> Get(std::string_view name) const;
};

/// Parses `args` (the words after the command's name). `known` lists the
/// options the command takes, each with a value. Returns false and fills
/// *error for an unknown option or one without its value.
bool ParseCommandLine(const std::vector<std::string>& args,
                      const std::vector<std::string_view>& known, CommandLine* out,
                      std::string* error);

/// Checks a CHANNEL argument against the channel-name rule (PROTOCOL.md
/// "Channel names"); false and *error saying so otherwise.
bool CheckChannelArgument(std::string_view channel, std::string* error);

}  // namespace notifyd::cli
