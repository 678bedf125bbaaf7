#include "cli/history.h"

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/command_line.h"
#include "cli/http_client.h"
#include "cli/position_text.h"
#include "core/history.h"
#include "cli/server_address.h"
#include "cli/stream_codec.h"
#include "cli/usage.h"
#include "core/printable.h"

namespace notifyd::cli {
namespace {

// Notifications per page without --limit: the server's default page. With
// --limit, pages up to the server's largest.
constexpr uint64_t kDefaultPage = 100;
constexpr uint64_t kMaxPage = 1000;
// A page holds up to 1000 notifications of up to 64 KiB (the default body
// limit) each, escaped.
constexpr size_t kMaxPageBytes = size_t{256} << 20;

struct HistoryArgs {
  std::string channel;
  std::optional<core::Position> since;  // nullopt: from the oldest kept
  std::optional<uint64_t> limit;        // nullopt: everything kept
  std::optional<std::string> url;
  std::optional<std::string> token;
};

bool ParseLimit(const std::string& text, uint64_t* limit) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  *limit = std::stoull(text);
  return *limit >= 1;
}

bool ReadArgs(const CommandLine& line, HistoryArgs* out, std::string* error) {
  if (line.positional.size() != 1) {
    *error = line.positional.empty() ? "history needs a CHANNEL" : "history takes one CHANNEL";
    return false;
  }
  out->channel = line.positional[0];
  if (!CheckChannelArgument(out->channel, error)) return false;
  std::optional<std::string> since = line.Get("--since");
  if (since && *since != "all" && !(out->since = core::ParsePosition(*since))) {
    *error =
        "--since needs E:N (a notification id) or \"all\", got \"" + core::Printable(*since) + "\"";
    return false;
  }
  if (std::optional<std::string> limit = line.Get("--limit")) {
    if (!ParseLimit(*limit, &out->limit.emplace())) {
      *error = "--limit needs a whole number of at least 1";
      return false;
    }
  }
  out->url = line.Get("--url");
  if (!ResolveToken(line.Get("--token"), &out->token, error)) return false;
  return true;
}

// Reads the pages one after the other and prints their notifications.
class HistoryReader {
 public:
  HistoryReader(const HttpTarget& target, const HistoryArgs& args)
      : target_(target), args_(args), since_(args.since), remaining_(args.limit) {}

  /// Prints everything asked for; returns the exit code.
  int Run();

 private:
  bool FetchPage(HistoryPage* page, std::string* error);
  void Print(const HistoryPage& page);
  bool Advance(const HistoryPage& page, std::string* error);

  const HttpTarget& target_;
  const HistoryArgs& args_;
  std::optional<core::Position> since_;
  std::optional<uint64_t> remaining_;
  bool first_page_ = true;
};

int HistoryReader::Run() {
  std::string error;
  std::string closing_note;
  while (true) {
    HistoryPage page;
    if (!FetchPage(&page, &error)) return Failure(core::Printable(error, 4096), kExitFailure);
    if (!page.recovered && first_page_ && since_) {
      closing_note =
          "history does not reach back to " + PositionText(*since_) + "; showing what is kept";
    } else if (!page.recovered && !first_page_) {
      closing_note = "the history was restarted while it was read (now epoch " +
                     core::Printable(page.epoch) + "); stopped";
      break;
    }
    first_page_ = false;
    Print(page);
    if (!page.more || remaining_ == uint64_t{0}) break;
    if (!Advance(page, &error)) return Failure(core::Printable(error, 4096), kExitFailure);
  }
  std::cout << std::flush;
  if (!closing_note.empty()) Note(closing_note);
  return kExitOk;
}

bool HistoryReader::FetchPage(HistoryPage* page, std::string* error) {
  uint64_t page_size = remaining_ ? std::min(*remaining_, kMaxPage) : kDefaultPage;
  HttpRequest request;
  request.method = "GET";
  request.target = "/api/channels/" + EncodePathSegment(args_.channel) + "/messages?";
  if (since_) request.target += "since=" + PositionText(*since_) + "&";
  request.target += "limit=" + std::to_string(page_size);
  request.token = args_.token;
  request.max_response_bytes = kMaxPageBytes;
  HttpResponse response;
  if (!SendHttpRequest(target_, request, &response, error)) return false;
  std::string body = response.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  if (response.status != 200) {
    *error = "server refused: " + std::to_string(response.status) + " " + body;
    return false;
  }
  if (DecodeHistoryPage(response.body, page, error)) return true;
  *error = "unexpected answer: " + *error;
  return false;
}

void HistoryReader::Print(const HistoryPage& page) {
  for (const HistoryEntry& entry : page.messages) {
    if (remaining_ == uint64_t{0}) break;
    std::cout << entry.json << '\n';
    if (remaining_) --*remaining_;
  }
  std::cout << std::flush;
}

// The next page starts after the last notification of this one, which must
// lie beyond where this page started: a server that does not move on would
// otherwise keep the loop going.
bool HistoryReader::Advance(const HistoryPage& page, std::string* error) {
  if (page.messages.empty() || !page.messages.back().seq) {
    *error = "unexpected answer: a page with \"more\" but no last seq to go on from";
    return false;
  }
  const HistoryEntry& last = page.messages.back();
  core::Position next{last.epoch.value_or(page.epoch), *last.seq};
  if (since_ && next.epoch == since_->epoch && next.seq <= since_->seq) {
    *error = "unexpected answer: the page after " + PositionText(*since_) + " ends at " +
             PositionText(next);
    return false;
  }
  since_ = next;
  return true;
}

}  // namespace

int RunHistory(const std::vector<std::string>& args) {
  CommandLine line;
  if (std::optional<int> exit_code =
          ReadCommandLine(args, {"--since", "--limit", "--url", "--token"}, &line)) {
    return *exit_code;
  }
  std::string error;
  HistoryArgs parsed;
  if (!ReadArgs(line, &parsed, &error)) return UsageFailure(error);
  HttpTarget target;
  if (!ResolveHttpTarget(parsed.url, &target, &error)) return Failure(error, kExitUsage);
  return HistoryReader(target, parsed).Run();
}

}  // namespace notifyd::cli
