#include "cli/command_line.h"

#include <algorithm>

#include "core/channel_name.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

bool Contains(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Reads the option or flag at args[*i] ("--name VALUE", "--name=VALUE" or
// "--flag").
bool ParseOption(const std::vector<std::string>& args, const CommandSyntax& syntax, size_t* i,
                 CommandLine* out, std::string* error) {
  const std::string& arg = args[*i];
  if (arg == "--help" || arg == "-h") return out->help = true;
  size_t equals = arg.find('=');
  std::string name = arg.substr(0, equals);
  if (Contains(syntax.flags, name)) {
    if (equals != std::string::npos) {
      *error = name + " takes no value";
      return false;
    }
    out->flags.insert(name);
    return true;
  }
  if (!Contains(syntax.options, name)) {
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

bool CommandLine::Has(std::string_view name) const { return flags.find(name) != flags.end(); }

bool ParseCommandLine(const std::vector<std::string>& args, const CommandSyntax& syntax,
                      CommandLine* out, std::string* error) {
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      out->positional.push_back(arg);
      options_done = options_done || syntax.positional_ends_options;
    } else if (arg == "--") {
      options_done = true;
    } else if (!ParseOption(args, syntax, &i, out, error)) {
      return false;
    }
  }
  return true;
}

bool ParseCommandLine(const std::vector<std::string>& args,
                      const std::vector<std::string_view>& known, CommandLine* out,
                      std::string* error) {
  return ParseCommandLine(args, CommandSyntax{known}, out, error);
}

bool CheckChannelArgument(std::string_view channel, std::string* error) {
  if (core::IsValidChannelName(channel)) return true;
  *error = "\"" + core::Printable(channel) +
           "\" is not a channel name (1 to 128 characters of A-Z a-z 0-9 _ - . : @)";
  return false;
}

}  // namespace notifyd::cli
