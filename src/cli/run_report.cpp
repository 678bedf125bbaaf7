#include "cli/run_report.h"

#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <rapidjson/stringbuffer.h>

#include "core/utf8.h"
#include "protocol/json.h"

namespace notifyd::cli {
namespace {

bool NeedsQuotes(std::string_view word) {
  if (word.empty()) return true;
  for (char c : word) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view("-_./=:,+@%").find(c) != std::string_view::npos;
    if (!plain) return true;
  }
  return false;
}

std::string JobName(const std::vector<std::string>& argv, const std::optional<std::string>& job) {
  if (job) return *job;
  if (argv.empty()) return "command";
  std::string_view path = argv[0];
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos || path.size() == 1 ? path
                                                                         : path.substr(slash + 1));
}

std::string Title(const std::string& name, const CommandResult& result) {
  std::string code = std::to_string(result.exit_code);
  if (result.start_error) return name + " could not be started (exit " + code + ")";
  if (result.signal) return name + " failed (killed by " + SignalName(*result.signal) + ")";
  if (result.exit_code == 0) return name + " succeeded";
  return name + " failed (exit " + code + ")";
}

// Seconds with millisecond precision, as a JSON number.
std::string Seconds(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

std::string Data(const std::vector<std::string>& argv, const CommandResult& result,
                 uint64_t output_lines, std::string_view host) {
  rapidjson::StringBuffer buffer;
  protocol::JsonWriter writer(buffer);
  writer.StartObject();
  protocol::WriteMember(writer, "command", QuotedCommand(argv));
  writer.Key("exit");
  writer.Int(result.exit_code);
  if (result.signal) protocol::WriteMember(writer, "signal", SignalName(*result.signal));
  writer.Key("duration_s");
  std::string seconds = Seconds(result.duration);
  writer.RawValue(seconds.data(), seconds.size(), rapidjson::kNumberType);
  protocol::WriteMember(writer, "host", host);
  writer.Key("output_lines");
  writer.Uint64(output_lines);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

int ExitCodeOfWaitStatus(int wait_status, std::optional<int>* signal) {
  if (WIFSIGNALED(wait_status)) {
    *signal = WTERMSIG(wait_status);
    return 128 + WTERMSIG(wait_status);
  }
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1;
}

int ExitCodeOfStartError(int error_number) {
  return error_number == ENOENT || error_number == ENOTDIR ? kExitNotFound : kExitCannotRun;
}

std::string SignalName(int signal) {
  const char* name = signal > 0 ? sigabbrev_np(signal) : nullptr;
  return name != nullptr ? std::string("SIG") + name : "signal " + std::to_string(signal);
}

std::string QuotedCommand(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& word : argv) {
    if (!text.empty()) text += ' ';
    if (!NeedsQuotes(word)) {
      text += word;
      continue;
    }
    text += '\'';
    for (char c : word) text += c == '\'' ? std::string("'\\''") : std::string(1, c);
    text += '\'';
  }
  return text;
}

RunNotification DescribeRun(const std::vector<std::string>& argv,
                            const std::optional<std::string>& job, const CommandResult& result,
                            std::string_view output, uint64_t output_lines, std::string_view host) {
  RunNotification notification;
  notification.title = core::ToValidUtf8(Title(JobName(argv, job), result));
  if (result.start_error) {
    notification.body = core::ToValidUtf8(
        "cannot run " + QuotedCommand({argv.empty() ? "" : argv[0]}) + ": " + *result.start_error);
  } else {
    notification.body = output.empty() ? "(no output)" : std::string(output);
  }
  notification.data = Data(argv, result, output_lines, host);
  return notification;
}

}  // namespace notifyd::cli
