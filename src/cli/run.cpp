#include "cli/run.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "cli/child_process.h"
#include "cli/command_line.h"
#include "cli/http_client.h"
#include "cli/idempotency_key.h"
#include "cli/notification_sender.h"
#include "cli/output_tail.h"
#include "cli/server_address.h"
#include "cli/spool.h"
#include "cli/spool_flusher.h"
#include "cli/usage.h"
#include "core/channel_name.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

struct RunArgs {
  std::vector<std::string> command;
  std::string channel = kDefaultRunChannel;
  std::optional<std::string> job;  // --title: the job's name in the title
  std::optional<std::string> checkin;
  std::optional<uint64_t> every;  // --every and --grace: whole seconds
  std::optional<uint64_t> grace;
  bool always = false;
  std::optional<std::string> token;
  HttpTarget target;
  std::optional<std::string> spool_dir;  // nullopt with --no-spool
};

const CommandSyntax kSyntax = {
    {"--channel", "--title", "--checkin", "--every", "--grace", "--url", "--token", "--spool"},
    {"--always", "--no-spool"},
    true};

// Reads option `option` into *seconds when given: 1 to 999999999.
bool WholeSeconds(const CommandLine& line, const char* option, std::optional<uint64_t>* seconds,
                  std::string* error) {
  std::optional<std::string> value = line.Get(option);
  if (!value) return true;
  bool digits =
      !value->empty() && value->size() <= 9 &&
      std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits && std::stoull(*value) >= 1) {
    *seconds = std::stoull(*value);
    return true;
  }
  *error = std::string(option) + " needs a whole number of seconds (1 or more)";
  return false;
}

bool ReadCheckin(const CommandLine& line, RunArgs* out, std::string* error) {
  out->checkin = line.Get("--checkin");
  if (!WholeSeconds(line, "--every", &out->every, error) ||
      !WholeSeconds(line, "--grace", &out->grace, error)) {
    return false;
  }
  if (!out->checkin && (out->every || out->grace)) {
    *error = "--every and --grace go with --checkin";
    return false;
  }
  if (out->checkin && !core::IsValidChannelName(*out->checkin)) {
    *error = "\"" + core::Printable(*out->checkin) +
             "\" is not a check-in name (1 to 128 characters of A-Z a-z 0-9 _ - . : @)";
    return false;
  }
  return true;
}

bool ReadArgs(const CommandLine& line, RunArgs* out, std::string* error) {
  out->command = line.positional;
  if (out->command.empty() || out->command[0].empty()) {
    *error = "run needs a COMMAND";
    return false;
  }
  out->channel = line.Get("--channel").value_or(kDefaultRunChannel);
  if (!CheckChannelArgument(out->channel, error)) return false;
  out->job = line.Get("--title");
  out->always = line.Has("--always");
  if (!ReadCheckin(line, out, error)) return false;
  if (!ResolveToken(line.Get("--token"), &out->token, error) ||
      !ResolveHttpTarget(line.Get("--url"), &out->target, error)) {
    return false;
  }
  if (line.Has("--no-spool")) return true;
  return ResolveSpoolDir(line.Get("--spool"), &out->spool_dir.emplace(), error);
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

// Publishes what happened; false when the server could not be reached.
bool Publish(const RunArgs& args, const CommandResult& result, const OutputTail& tail,
             const Spool* spool) {
  RunNotification about =
      DescribeRun(args.command, args.job, result, tail.Text(), tail.total_lines(), HostName());
  SpoolRecord record;
  record.channel = args.channel;
  record.title = about.title;
  record.body = about.body;
  record.data = about.data;
  record.idempotency_key = NewIdempotencyKey();
  SendOutcome outcome;
  std::string message;
  Delivery delivery = DeliverOrSpool(args.target, args.token, record, spool, &outcome, &message);
  if (delivery != Delivery::kDelivered) Note(message);
  return outcome.answer != PublishAnswer::kUnavailable;
}

std::string CheckinBody(const RunArgs& args) {
  std::string body = "{";
  if (args.every) body += "\"every\":" + std::to_string(*args.every);
  if (args.every && args.grace) body += ",";
  if (args.grace) body += "\"grace\":" + std::to_string(*args.grace);
  return body + "}";
}

// Checks in; false when the server could not be reached. A check-in is not
// spooled: sent late it would vouch for a time at which nothing was heard.
bool CheckIn(const RunArgs& args) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/api/checkin/" + EncodePathSegment(*args.checkin);
  request.token = args.token;
  request.json_body = CheckinBody(args);
  HttpResponse response;
  std::string error;
  int attempts = 0;
  std::string what = "check-in " + *args.checkin;
  if (!SendHttpRequest(args.target, request, &response, &error, &attempts)) {
    Note(what + " not sent: " + error + AttemptsText(attempts));
    return false;
  }
  if (response.status >= 200 && response.status < 300) return true;
  if (response.status == 404) {
    Note(what +
         " not sent: the server does not know check-ins (404; it is older than "
         "notifyd-cli); the job's exit status is kept");
    return true;
  }
  Note(what + " refused: " + std::to_string(response.status) + " " + AnswerText(response.body));
  return ClassifyPublishAnswer(response.status) != PublishAnswer::kUnavailable;
}

}  // namespace

int RunRun(const std::vector<std::string>& args) {
  CommandLine line;
  if (std::optional<int> exit_code = ReadCommandLine(args, kSyntax, &line)) return *exit_code;
  std::string error;
  RunArgs parsed;
  if (!ReadArgs(line, &parsed, &error)) return UsageFailure(error);
  std::optional<Spool> spool;
  if (parsed.spool_dir) spool.emplace(*parsed.spool_dir);
  const Spool* spool_or_none = spool ? &*spool : nullptr;

  OutputTail tail;
  ChildRunner runner(&tail);
  CommandResult result = runner.Run(parsed.command);
  bool reached = true;
  if (result.exit_code != 0 || parsed.always) {
    reached = Publish(parsed, result, tail, spool_or_none);
  }
  if (result.exit_code == 0 && parsed.checkin) reached = CheckIn(parsed) && reached;
  if (reached && spool && !runner.StopRequested()) {
    FlushAfterSuccess(*spool, parsed.target, parsed.token,
                      [&runner] { return runner.StopRequested(); });
  }
  return result.exit_code;
}

}  // namespace notifyd::cli
