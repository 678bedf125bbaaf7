// The engine of `notifyd-cli sub` and `tail`: one WebSocket connection at a
// time, every channel subscribed on it, and after a lost connection a new one
// that resumes each channel from the last position seen (PROTOCOL.md Part 2
// "Resume over WebSocket"). It runs until SIGINT or SIGTERM, or until the
// server refuses every channel; status lines go to stderr, notifications to
// the printer. Everything runs on the thread that calls Run().
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "cli/resume_tracker.h"
#include "cli/stream_codec.h"
#include "cli/websocket_client.h"
#include "core/history.h"

namespace notifyd::cli {

/// What to follow, and where.
struct FollowSettings {
  std::string ws_url;                   ///< A ws:// URL (server_address.h).
  std::optional<std::string> token;     ///< Sent as "Authorization: Bearer".
  std::vector<std::string> channels;    ///< Valid channel names, no repeats.
  std::optional<core::Position> since;  ///< --since; only with one channel.
};

class Follower {
 public:
  /// Prints one notification; returns false when stdout is gone.
  using Printer = std::function<bool(const StreamMessage& notification)>;

  Follower(FollowSettings settings, Printer printer);
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  /// Follows until stopped; returns the exit code: 0 after SIGINT/SIGTERM, 1
  /// when the server refused every channel or the connection for good, 2 for
  /// a URL websocketpp cannot use.
  int Run();

 private:
  bool Setup(std::string* error);
  void Connect();
  bool IsCurrent(websocketpp::connection_hdl hdl) const;
  void OnOpen(websocketpp::connection_hdl hdl);
  void OnMessage(websocketpp::connection_hdl hdl, const WsClient::message_ptr& msg);
  void OnClose(websocketpp::connection_hdl hdl);
  void OnFail(websocketpp::connection_hdl hdl);
  void Handle(const StreamMessage& message);
  void HandleNotification(const StreamMessage& message);
  void HandleError(const StreamMessage& message);
  void Send(const std::string& frame);
  void Heard();
  void ArmLiveness(std::chrono::steady_clock::duration after);
  void CheckLiveness();
  void Drop(const std::string& why);
  void ScheduleReconnect(const std::string& what_happened);
  void Stop(int exit_code);

  FollowSettings settings_;
  Printer printer_;
  std::vector<std::string> channels_;  // still followed, in the order given
  ResumeTracker tracker_;
  asio::io_context io_;  // declared before everything that refers to it
  WsClient client_;
  asio::signal_set signals_{io_};
  asio::steady_timer reconnect_timer_{io_};
  asio::steady_timer liveness_timer_{io_};
  websocketpp::connection_hdl hdl_;  // the current connection, open or opening
  bool open_ = false;
  bool stopping_ = false;
  int failures_ = 0;         // connection attempts that failed in a row
  std::string drop_reason_;  // why we closed the current connection ourselves
  std::chrono::steady_clock::time_point last_heard_;
  bool pinged_ = false;  // a ping is out because the server fell silent
  std::minstd_rand jitter_;
  int exit_code_ = 0;
};

}  // namespace notifyd::cli
