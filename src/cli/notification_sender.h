// The one way notifyd-cli's publish, run and flush send a notification:
// POST /api/notify/CHANNEL with the record's Idempotency-Key and the bounded
// retries of http_client.h; and, for publish and run, into the spool
// (spool.h) instead when the server cannot take it now, to be delivered
// later by spool_flusher.h.
#pragma once

#include <optional>
#include <string>

#include "cli/http_client.h"
#include "cli/retry_policy.h"
#include "cli/spool_record.h"

namespace notifyd::cli {

class Spool;

/// What became of one send.
struct SendOutcome {
  PublishAnswer answer = PublishAnswer::kUnavailable;  ///< What the answer means.
  HttpResponse response;  ///< The answer, when one came (status 0 otherwise).
  std::string error;      ///< Unless delivered: "cannot connect to ...", "server refused: 400 ...".
  int attempts = 0;       ///< HTTP attempts made.
};

/// Sends `record` to `target` as `token` (none: no Authorization header).
SendOutcome SendNotification(const HttpTarget& target, const std::optional<std::string>& token,
                             const SpoolRecord& record);

/// Where DeliverOrSpool's notification went.
enum class Delivery {
  kDelivered,  ///< The server has it.
  kSpooled,    ///< The server could not take it now; it waits in the spool.
  kFailed,     ///< Refused, or it could not be kept: nothing will deliver it.
};

/// Sends `record` (its `url` and `created` are filled in here). When the
/// server cannot take it now and `spool` is given, keeps it there, with the
/// attempts made and the reason. *outcome gets the send's outcome; *message,
/// unless delivered, one sentence for stderr: what went wrong and, when
/// spooled, where it is kept.
Delivery DeliverOrSpool(const HttpTarget& target, const std::optional<std::string>& token,
                        SpoolRecord record, const Spool* spool, SendOutcome* outcome,
                        std::string* message);

/// The body of a server's answer for a message on stderr: without its
/// trailing line break, control characters escaped, at most 4 KiB.
std::string AnswerText(const std::string& body);

/// " (tried N times)" for N > 1, else "".
std::string AttemptsText(int attempts);

}  // namespace notifyd::cli
