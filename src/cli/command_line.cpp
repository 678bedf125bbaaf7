#include "cli/command_line.h"

#include <algorithm>

#include "core/channel_name.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

// Reads the option at args[*i] ("--name VALUE" or "--name=VALUE").
bool ParseOption(const std::vector<std::string>& args, const std::vector<std::string_view>& known,
                 size_t* i, CommandLine* out, std::string* error) {
  const std::string& arg = args[*i];
  if (arg == "--help" || arg == "-h") return out->help = true;
  size_t equals = arg.find('=');
  std::string name = arg.substr(0, equals);
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    *error = "unknown option " + name;
    return false;
  }
  if (equals != std::string::npos) {
    out->options[name] = arg.substr(equals + 1);
  } else if (*i + 1 < args.size()) {
    out->options[name] = args[++*i];
  } else {
    *error = arg + " needs a value";
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> CommandLine::Get(std::string_view name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

bool ParseCommandLine(const std::vector<std::string>& args,
                      const std::vector<std::string_view>& known, CommandLine* out,
                      std::string* error) {
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      out->positional.push_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (!ParseOption(args, known, &i, out, error)) {
      return false;
    }
  }
  return true;
}

bool CheckChannelArgument(std::string_view channel, std::string* error) {
  if (core::IsValidChannelName(channel)) return true;
  *error = "\"" + core::Printable(channel) +
           "\" is not a channel name (1 to 128 characters of A-Z a-z 0-9 _ - . : @)";
  return false;
}

}  // namespace notifyd::cli
