#include "cli/publish.h"

#include <unistd.h>

#include <iostream>
#include <iterator>
#include <optional>

#include "cli/command_line.h"
#include "cli/http_client.h"
#include "cli/idempotency_key.h"
#include "cli/notification_sender.h"
#include "cli/server_address.h"
#include "cli/spool.h"
#include "cli/spool_flusher.h"
#include "cli/usage.h"
#include "protocol/client_codec.h"

namespace notifyd::cli {
namespace {

struct PublishArgs {
  std::string channel;
  std::optional<std::string> title;
  std::optional<std::string> data;
  std::optional<std::string> body;
  std::string idempotency_key;
  std::optional<std::string> url;
  std::optional<std::string> token;
  std::optional<std::string> spool_dir;  // nullopt with --no-spool
};

const CommandSyntax kSyntax = {
    {"--title", "--data", "--idempotency-key", "--url", "--token", "--spool"}, {"--no-spool"}};

bool AssignPositionals(const std::vector<std::string>& positional, PublishArgs* out,
                       std::string* error) {
  if (positional.empty() || positional[0].empty()) {
    *error = "publish needs a CHANNEL";
    return false;
  }
  if (positional.size() > 2) {
    *error = "too many arguments: quote the body, as in publish news \"two words\"";
    return false;
  }
  out->channel = positional[0];
  if (positional.size() == 2) out->body = positional[1];
  return true;
}

// Fills *out from the parsed command line; false and *error on a usage error.
bool ReadArgs(const CommandLine& line, PublishArgs* out, std::string* error) {
  if (!AssignPositionals(line.positional, out, error)) return false;
  out->title = line.Get("--title");
  out->data = line.Get("--data");
  out->url = line.Get("--url");
  if (out->data && !protocol::ValidateJsonObject(*out->data, error)) {
    *error = "--data is " + *error;
    return false;
  }
  if (!ResolveToken(line.Get("--token"), &out->token, error)) return false;
  std::optional<std::string> key = line.Get("--idempotency-key");
  if (key && !IsValidIdempotencyKey(*key)) {
    *error = "--idempotency-key needs 1 to 128 printable ASCII characters";
    return false;
  }
  out->idempotency_key = key ? *key : NewIdempotencyKey();
  if (line.Has("--no-spool")) return true;
  return ResolveSpoolDir(line.Get("--spool"), &out->spool_dir.emplace(), error);
}

std::string ReadAllStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// The body text: the BODY argument, or stdin for "-" or a piped stdin.
std::string BodyText(const PublishArgs& args) {
  bool from_stdin = args.body ? *args.body == "-" : isatty(STDIN_FILENO) == 0;
  if (!from_stdin) return args.body.value_or("");
  std::string text = ReadAllStdin();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Success needs a 2xx status and "success":true; the answer goes to stdout.
int Report(const HttpResponse& response, int attempts) {
  protocol::ClientPublishResponse decoded;
  std::string error;
  bool is_2xx = response.status >= 200 && response.status < 300;
  bool success =
      protocol::DecodeClientPublishResponse(response.body, &decoded, &error) && decoded.success;
  std::string body = response.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  if (!is_2xx || !success) {
    return Failure(std::string(is_2xx ? "unexpected answer: " : "server refused: ") +
                       std::to_string(response.status) + " " + body + AttemptsText(attempts),
                   kExitFailure);
  }
  // A replay answering a retry of ours is what the key is for; one answering
  // the first attempt means the key was used before, which the user may not know.
  if (attempts == 1 && response.Header("Idempotent-Replayed") == "true") {
    Note(
        "the server had this Idempotency-Key already and repeated its first answer; "
        "nothing was delivered again");
  }
  std::cout << body << '\n' << std::flush;
  return kExitOk;
}

}  // namespace

int RunPublish(const std::vector<std::string>& args) {
  CommandLine line;
  if (std::optional<int> exit_code = ReadCommandLine(args, kSyntax, &line)) return *exit_code;
  std::string error;
  PublishArgs parsed;
  if (!ReadArgs(line, &parsed, &error)) return UsageFailure(error);
  HttpTarget target;
  if (!ResolveHttpTarget(parsed.url, &target, &error)) return Failure(error, kExitUsage);
  SpoolRecord record;
  record.channel = parsed.channel;
  record.title = parsed.title;
  record.body = BodyText(parsed);
  record.data = parsed.data;
  record.idempotency_key = parsed.idempotency_key;
  protocol::ClientPublishRequest publish{record.title, record.body, record.data};
  std::string json;
  if (!protocol::EncodeClientPublishBody(publish, &json, &error)) return Failure(error, kExitUsage);
  std::optional<Spool> spool;
  if (parsed.spool_dir) spool.emplace(*parsed.spool_dir);
  SendOutcome outcome;
  switch (
      DeliverOrSpool(target, parsed.token, record, spool ? &*spool : nullptr, &outcome, &error)) {
    case Delivery::kSpooled: return Failure(error, kExitSpooled);
    case Delivery::kFailed: return Failure(error, kExitFailure);
    case Delivery::kDelivered: break;
  }
  int exit_code = Report(outcome.response, outcome.attempts);
  if (spool) FlushAfterSuccess(*spool, target, parsed.token);
  return exit_code;
}

}  // namespace notifyd::cli
