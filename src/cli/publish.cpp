#include "cli/publish.h"

#include <unistd.h>

#include <iostream>
#include <iterator>
#include <optional>

#include "cli/command_line.h"
#include "cli/http_client.h"
#include "cli/idempotency_key.h"
#include "cli/server_address.h"
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
};

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
  return true;
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

std::string Attempts(int attempts) {
  return attempts > 1 ? " (tried " + std::to_string(attempts) + " times)" : "";
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
                       std::to_string(response.status) + " " + body + Attempts(attempts),
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
  if (std::optional<int> exit_code = ReadCommandLine(
          args, {"--title", "--data", "--idempotency-key", "--url", "--token"}, &line)) {
    return *exit_code;
  }
  std::string error;
  PublishArgs parsed;
  if (!ReadArgs(line, &parsed, &error)) return UsageFailure(error);
  HttpTarget target;
  if (!ResolveHttpTarget(parsed.url, &target, &error)) return Failure(error, kExitUsage);
  HttpRequest request;
  request.method = "POST";
  request.target = "/api/notify/" + EncodePathSegment(parsed.channel);
  request.token = parsed.token;
  request.headers.emplace_back("Idempotency-Key", parsed.idempotency_key);
  protocol::ClientPublishRequest publish{parsed.title, BodyText(parsed), parsed.data};
  request.json_body.emplace();
  if (!protocol::EncodeClientPublishBody(publish, &*request.json_body, &error)) {
    return Failure(error, kExitUsage);
  }
  HttpResponse response;
  int attempts = 0;
  if (!SendHttpRequest(target, request, &response, &error, &attempts)) {
    return Failure(error + Attempts(attempts), kExitFailure);
  }
  return Report(response, attempts);
}

}  // namespace notifyd::cli
