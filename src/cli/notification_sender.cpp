#include "cli/notification_sender.h"

#include "cli/server_address.h"
#include "cli/spool.h"
#include "core/clock.h"
#include "core/printable.h"
#include "protocol/client_codec.h"

namespace notifyd::cli {
std::string AnswerText(const std::string& body) {
  std::string text = body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return core::Printable(text, 4096);
}

std::string AttemptsText(int attempts) {
  return attempts > 1 ? " (tried " + std::to_string(attempts) + " times)" : "";
}

SendOutcome SendNotification(const HttpTarget& target, const std::optional<std::string>& token,
                             const SpoolRecord& record) {
  SendOutcome outcome;
  HttpRequest request;
  request.method = "POST";
  request.target = "/api/notify/" + EncodePathSegment(record.channel);
  request.token = token;
  request.headers.emplace_back("Idempotency-Key", record.idempotency_key);
  protocol::ClientPublishRequest publish{record.title, record.body, record.data};
  request.json_body.emplace();
  if (!protocol::EncodeClientPublishBody(publish, &*request.json_body, &outcome.error)) {
    outcome.answer = PublishAnswer::kRejected;
    return outcome;
  }
  if (!SendHttpRequest(target, request, &outcome.response, &outcome.error, &outcome.attempts)) {
    outcome.response = HttpResponse{};
    outcome.error += AttemptsText(outcome.attempts);
    outcome.answer = PublishAnswer::kUnavailable;
    return outcome;
  }
  outcome.answer = ClassifyPublishAnswer(outcome.response.status);
  if (outcome.answer != PublishAnswer::kDelivered) {
    outcome.error = "server refused: " + std::to_string(outcome.response.status) + " " +
                    AnswerText(outcome.response.body) + AttemptsText(outcome.attempts);
  }
  return outcome;
}

Delivery DeliverOrSpool(const HttpTarget& target, const std::optional<std::string>& token,
                        SpoolRecord record, const Spool* spool, SendOutcome* outcome,
                        std::string* message) {
  record.url = CanonicalBaseUrl(target);
  record.created = core::FormatIso8601(core::SystemClock().WallMillis());
  *outcome = SendNotification(target, token, record);
  if (outcome->answer == PublishAnswer::kDelivered) return Delivery::kDelivered;
  *message = outcome->error;
  if (outcome->answer != PublishAnswer::kUnavailable || spool == nullptr) return Delivery::kFailed;
  record.attempts = static_cast<uint64_t>(outcome->attempts);
  record.last_error = outcome->error;
  std::string path;
  std::string error;
  if (!spool->Add(record, &path, &error)) {
    *message += "; not kept either: " + error;
    return Delivery::kFailed;
  }
  *message += "; kept in " + path + ", to be delivered by the next publish, run or flush";
  return Delivery::kSpooled;
}

}  // namespace notifyd::cli
