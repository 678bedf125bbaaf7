#include "cli/spool_flusher.h"

#include <algorithm>
#include <utility>

#include "cli/command_line.h"
#include "cli/notification_sender.h"
#include "cli/usage.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

// Which notification a note is about: 'spooled notification to cron
// "backup failed (exit 1)" (2026-11-25T02:30:01.123Z)'.
std::string Describe(const SpoolRecord& record) {
  std::string text = "spooled notification to " + record.channel;
  if (record.title) text += " \"" + core::Printable(*record.title) + "\"";
  return text + " (" + core::Printable(record.created) + ")";
}

std::string Plural(int count, const char* what) {
  return std::to_string(count) + " " + what + (count == 1 ? "" : "s");
}

}  // namespace

SpoolFlusher::SpoolFlusher(const Spool& spool, const HttpTarget& target,
                           std::optional<std::string> token)
    : spool_(spool), target_(target), url_(CanonicalBaseUrl(target)), token_(std::move(token)) {}

bool SpoolFlusher::Flush(bool wait, const std::function<bool()>& stop, FlushSummary* summary) {
  *summary = FlushSummary{};
  unavailable_ = false;
  std::string error;
  std::vector<std::string> names;
  // Nothing spooled (the common case): no lock, no directory made.
  if (!spool_.List(&names, &error) || names.empty()) {
    if (!error.empty()) Note(error);
    return error.empty();
  }
  SpoolLock lock;
  if (!lock.Acquire(spool_, wait, &error)) {
    summary->busy = error.empty();
    if (!error.empty()) Note(error);
    return error.empty();
  }
  // Listed again under the lock: a flush that held it before may have
  // delivered some of them.
  if (!spool_.List(&names, &error)) {
    Note(error);
    return false;
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (stop && stop()) {
      summary->left += static_cast<int>(names.size() - i);
      break;
    }
    DeliverOne(names[i], summary);
  }
  return true;
}

void SpoolFlusher::DeliverOne(const std::string& name, FlushSummary* summary) {
  std::string error;
  std::string moved_to;
  SpoolRecord record;
  switch (spool_.Read(name, &record, &error)) {
    case Spool::ReadStatus::kOk: break;
    case Spool::ReadStatus::kCorrupt: {
      ++summary->corrupt;
      std::string what =
          "spool file " + spool_.PathOf(name) + " is corrupt (" + core::Printable(error) + ")";
      if (spool_.SetAsideCorrupt(name, &moved_to, &error)) {
        Note(what + "; moved to " + moved_to);
      } else {
        Note(what + ", and " + error);
      }
      return;
    }
    case Spool::ReadStatus::kUnreadable:
      ++summary->left;
      Note(error + "; left in place");
      return;
  }
  if (record.url != url_) {
    ++summary->elsewhere;
    auto& others = summary->other_servers;
    if (std::find(others.begin(), others.end(), record.url) == others.end()) {
      others.push_back(record.url);
    }
    return;
  }
  // Once the server could not take one, the later ones wait too: sent now,
  // they would overtake it.
  if (unavailable_) {
    ++summary->left;
    return;
  }
  SendOutcome outcome = SendNotification(target_, token_, record);
  switch (outcome.answer) {
    case PublishAnswer::kDelivered:
      ++summary->delivered;
      if (!spool_.Remove(name, &error)) Note("delivered, but " + error);
      return;
    case PublishAnswer::kRejected:
      ++summary->failed;
      record.attempts += static_cast<uint64_t>(outcome.attempts);
      record.last_error = outcome.error;
      if (spool_.SetAsideFailed(name, record, &moved_to, &error)) {
        Note(Describe(record) + " cannot be delivered: " + outcome.error + "; moved to " +
             moved_to);
      } else {
        Note(Describe(record) + " cannot be delivered: " + outcome.error + ", and " + error);
      }
      return;
    case PublishAnswer::kRefused:
      ++summary->left;
      Keep(name, record, outcome.attempts, outcome.error);
      return;
    case PublishAnswer::kUnavailable:
      ++summary->left;
      unavailable_ = true;
      Keep(name, record, outcome.attempts, outcome.error);
      return;
  }
}

void SpoolFlusher::Keep(const std::string& name, SpoolRecord record, int attempts,
                        const std::string& why) {
  record.attempts += static_cast<uint64_t>(attempts);
  record.last_error = why;
  Note(Describe(record) + " was not delivered: " + why + "; kept in " + spool_.PathOf(name));
  // Only the count and the reason would be lost: the record itself stays.
  std::string error;
  if (!spool_.Replace(name, record, &error)) Note(error);
}

namespace {

// One line on what a flush did; empty when it found nothing to do.
std::string SummaryText(const Spool& spool, const FlushSummary& summary) {
  std::vector<std::string> parts;
  if (summary.delivered > 0)
    parts.push_back("delivered " + Plural(summary.delivered, "notification"));
  if (summary.failed > 0)
    parts.push_back(Plural(summary.failed, "refused notification") + " moved to failed/");
  if (summary.corrupt > 0)
    parts.push_back(Plural(summary.corrupt, "corrupt file") + " moved to corrupt/");
  if (summary.left > 0) parts.push_back(std::to_string(summary.left) + " left for later");
  if (parts.empty() && summary.elsewhere == 0) return "";
  std::string text = "spool " + spool.dir() + ":";
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? " " : ", ") + parts[i];
  if (summary.elsewhere > 0) {
    text += std::string(parts.empty() ? " " : "; ") + Plural(summary.elsewhere, "notification") +
            " for another server, to be flushed with --url";
    for (const std::string& url : summary.other_servers) text += " " + url;
  }
  return text;
}

}  // namespace

int RunFlush(const std::vector<std::string>& args) {
  CommandLine line;
  if (std::optional<int> exit_code =
          ReadCommandLine(args, {"--url", "--token", "--spool"}, &line)) {
    return *exit_code;
  }
  std::string error;
  if (!line.positional.empty()) return UsageFailure("flush takes no arguments");
  std::optional<std::string> token;
  if (!ResolveToken(line.Get("--token"), &token, &error)) return UsageFailure(error);
  HttpTarget target;
  std::string dir;
  if (!ResolveHttpTarget(line.Get("--url"), &target, &error) ||
      !ResolveSpoolDir(line.Get("--spool"), &dir, &error)) {
    return Failure(error, kExitUsage);
  }
  Spool spool(dir);
  FlushSummary summary;
  if (!SpoolFlusher(spool, target, token).Flush(true, nullptr, &summary)) return kExitFailure;
  if (std::string text = SummaryText(spool, summary); !text.empty()) Note(text);
  bool clean =
      summary.failed == 0 && summary.corrupt == 0 && summary.left == 0 && summary.elsewhere == 0;
  return clean ? kExitOk : kExitFailure;
}

void FlushAfterSuccess(const Spool& spool, const HttpTarget& target,
                       const std::optional<std::string>& token, const std::function<bool()>& stop) {
  FlushSummary summary;
  SpoolFlusher(spool, target, token).Flush(false, stop, &summary);
}

}  // namespace notifyd::cli
