// One notification kept in notifyd-cli's spool (spool.h) until the server
// takes it: what the file holds, how it is named, and how a damaged file is
// told from a good one. Text work only; spool.h does the file system.
//
// A spool file is one JSON object:
//   {"format":1,"url":"http://127.0.0.1:8080","channel":"cron",
//    "title":"backup failed (exit 1)","body":"...","data":{...},
//    "idempotency_key":"3f2a...","created":"2026-11-25T02:30:01.123Z",
//    "attempts":1,"last_error":"cannot connect to ..."}
// "title", "data" and "last_error" may be absent. Members this version does
// not know are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace notifyd::cli {

struct HttpTarget;

/// The "format" this version writes and reads.
inline constexpr int kSpoolFormat = 1;

/// A spooled notification.
struct SpoolRecord {
  std::string url;                        ///< The server it is meant for (CanonicalBaseUrl).
  std::string channel;                    ///< Where it is published.
  std::optional<std::string> title;       ///< Unset: the server's default title.
  std::string body;                       ///< May be empty.
  std::optional<std::string> data;        ///< A JSON object as text, when given.
  std::string idempotency_key;            ///< Sent with every attempt, so none delivers twice.
  std::string created;                    ///< When it was spooled: UTC ISO-8601 with milliseconds.
  uint64_t attempts = 0;                  ///< Attempts to deliver it so far.
  std::optional<std::string> last_error;  ///< Why the last attempt failed.
};

/// The record as one line of JSON (text that is not UTF-8 is written with
/// U+FFFD in place of the bad bytes). `record.data` must be a JSON object
/// (checked where it came in); nullopt otherwise.
std::optional<std::string> EncodeSpoolRecord(const SpoolRecord& record);

/// Reads a spool file's text. Returns false and fills *error (what is wrong,
/// for the report) when it is not a complete record of kSpoolFormat: not JSON
/// (a file cut short), a member missing or of the wrong type, a URL, channel
/// or key that could never be sent.
bool DecodeSpoolRecord(std::string_view text, SpoolRecord* out, std::string* error);

/// "<unix microseconds, 16 digits>-<8 hex digits>.json": names sort by the
/// time they were made, oldest first; `random` tells apart two made in the
/// same microsecond.
std::string SpoolFileName(uint64_t unix_micros, uint32_t random);

/// True for a name SpoolFileName makes; everything else in the spool
/// directory (temporary files, subdirectories, the lock) is not a record.
bool IsSpoolFileName(std::string_view name);

/// "http://host:port/prefix": the one spelling of a server's base URL, so
/// that records are matched with the server a command talks to however its
/// URL was written (host in lower case, the port always given).
std::string CanonicalBaseUrl(const HttpTarget& target);

}  // namespace notifyd::cli
