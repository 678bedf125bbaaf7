// The Part 2 wire fields notifyd-cli's sub, tail and history read and write
// (PROTOCOL.md Part 2): subscribe with "since", the positions in
// notifications, "subscribed" and "resync", and the history page of
// GET /api/channels/{channel}/messages. The Part 1 fields of the interactive
// client stay in protocol/client_codec.h; these live beside the commands that
// use them, because src/protocol/ belongs to the server's work on issue 10.
// Nothing here throws or asserts on bad input: failures are returned as
// values, and a field that is missing or has the wrong type stays unset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/history.h"

namespace notifyd::cli {

/// One server message on a connection of sub or tail.
struct StreamMessage {
  std::string type;                       ///< `type`; empty when absent or not a string.
  std::optional<std::string> channel;     ///< `channel`.
  std::optional<std::string> epoch;       ///< `epoch` (notification, subscribed, resync).
  std::optional<uint64_t> seq;            ///< `seq`, when a non-negative integer.
  std::optional<bool> recovered;          ///< `recovered` (subscribed with since).
  std::optional<uint64_t> missed;         ///< `missed` (subscribed with since).
  std::optional<std::string> reason;      ///< `reason` (resync).
  std::optional<std::string> timestamp;   ///< `timestamp` (notification).
  std::optional<std::string> title;       ///< `title` (notification).
  std::optional<std::string> body;        ///< `body` (notification).
  std::string data;                       ///< `data` as compact JSON; empty when absent or null.
  std::optional<std::string> error;       ///< `error` (error).
  std::optional<std::string> code;        ///< `code` (error).
  std::optional<std::string> request_id;  ///< `id` when a string: names our request (error).
  std::optional<std::string> message;     ///< `message` (server_shutdown).
  std::string compact;                    ///< The whole object as compact JSON, one line.
};

/// Decodes one text frame. Returns false and fills *error when it is not a
/// JSON object.
bool DecodeStreamMessage(std::string_view text, StreamMessage* out, std::string* error);

/// `{"type":"subscribe","channel":C,"id":C}`, plus
/// `"since":{"epoch":E,"seq":N}` when `since` is given: the "id" comes back
/// in an error about this request. nullopt when a string is not UTF-8.
std::optional<std::string> EncodeSubscribe(std::string_view channel,
                                           const std::optional<core::Position>& since);

/// One notification of a history page.
struct HistoryEntry {
  std::string json;                  ///< The notification object as compact JSON.
  std::optional<std::string> epoch;  ///< Its `epoch`.
  std::optional<uint64_t> seq;       ///< Its `seq`.
};

/// The answer of GET /api/channels/{channel}/messages.
struct HistoryPage {
  std::string epoch;                   ///< The channel's current epoch.
  uint64_t seq = 0;                    ///< Its latest seq.
  bool recovered = false;              ///< The page continues the requested position.
  bool more = false;                   ///< `limit` cut the list: page on.
  std::vector<HistoryEntry> messages;  ///< Oldest first.
};

/// Decodes a history page. Returns false and fills *error when it is not a
/// JSON object with "epoch" (string), "seq" (integer), "recovered" and
/// "more" (booleans) and "messages" (an array of objects).
bool DecodeHistoryPage(std::string_view text, HistoryPage* out, std::string* error);

}  // namespace notifyd::cli
