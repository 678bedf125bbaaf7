#include "cli/follow.h"

#include <algorithm>
#include <iostream>

#include "cli/command_line.h"
#include "cli/follower.h"
#include "cli/position_text.h"
#include "core/history.h"
#include "cli/server_address.h"
#include "cli/usage.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

// A notification's text may be long; the line shows it whole, escaped.
constexpr size_t kMaxFieldBytes = 1 << 20;

// Reads CHANNEL... and the options into *out; `command` names the command
// in messages, `one_channel` says whether it takes exactly one.
bool ReadArgs(const CommandLine& line, const char* command, bool one_channel, FollowSettings* out,
              std::string* error) {
  if (line.positional.empty()) {
    *error = std::string(command) + " needs a CHANNEL";
    return false;
  }
  if (one_channel && line.positional.size() > 1) {
    *error = std::string(command) + " takes one CHANNEL";
    return false;
  }
  for (const std::string& channel : line.positional) {
    if (!CheckChannelArgument(channel, error)) return false;
    if (std::find(out->channels.begin(), out->channels.end(), channel) == out->channels.end()) {
      out->channels.push_back(channel);
    }
  }
  if (std::optional<std::string> since = line.Get("--since")) {
    if (!(out->since = core::ParsePosition(*since))) {
      *error = "--since needs E:N (a notification id), got \"" + core::Printable(*since) + "\"";
      return false;
    }
    if (out->channels.size() != 1) {
      *error = "--since needs exactly one CHANNEL";
      return false;
    }
  }
  if (!ResolveToken(line.Get("--token"), &out->token, error)) return false;
  return true;
}

int RunFollow(const std::vector<std::string>& args, const char* command, bool one_channel,
              Follower::Printer printer) {
  CommandLine line;
  if (std::optional<int> exit_code =
          ReadCommandLine(args, {"--since", "--url", "--token"}, &line)) {
    return *exit_code;
  }
  std::string error;
  FollowSettings settings;
  if (!ReadArgs(line, command, one_channel, &settings, &error)) return UsageFailure(error);
  if (!ResolveWsUrl(line.Get("--url"), &settings.ws_url, &error)) {
    return Failure(error, kExitUsage);
  }
  return Follower(std::move(settings), std::move(printer)).Run();
}

// "[CHANNEL #SEQ] TIMESTAMP TITLE: BODY DATA", every part escaped by
// core::Printable, so one notification is one line and cannot drive the
// terminal.
bool PrintForPeople(const StreamMessage& m) {
  std::string line = "[" + core::Printable(m.channel.value_or("?"));
  if (m.seq) line += " #" + std::to_string(*m.seq);
  line += "]";
  if (m.timestamp) line += " " + core::Printable(*m.timestamp);
  if (m.title) line += " " + core::Printable(*m.title, kMaxFieldBytes) + ":";
  if (m.body) line += " " + core::Printable(*m.body, kMaxFieldBytes);
  if (!m.data.empty()) line += " " + core::Printable(m.data, kMaxFieldBytes);
  std::cout << line << '\n' << std::flush;
  return static_cast<bool>(std::cout);
}

// The notification as the server sent it, compact: one line of JSON.
bool PrintJson(const StreamMessage& m) {
  std::cout << m.compact << '\n' << std::flush;
  return static_cast<bool>(std::cout);
}

}  // namespace

int RunSub(const std::vector<std::string>& args) {
  return RunFollow(args, "sub", false, PrintForPeople);
}

int RunTail(const std::vector<std::string>& args) {
  return RunFollow(args, "tail", true, PrintJson);
}

}  // namespace notifyd::cli
