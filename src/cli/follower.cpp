#include "cli/follower.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <utility>

#include "cli/retry_policy.h"
#include "cli/usage.h"
#include "core/printable.h"
#include "protocol/client_codec.h"

namespace notifyd::cli {
namespace {

// Bounds of one connection attempt (websocketpp also bounds the name lookup
// and the TCP connect, at 5 s each), and of a close handshake.
constexpr long kOpenHandshakeMs = 10000;
constexpr long kCloseHandshakeMs = 2000;
// The server sends a heartbeat every 30 s by default. After this much silence
// we ask with a ping of our own, and give up on the connection when that gets
// no answer either: a connection can die without a FIN (a laptop suspended,
// a NAT entry dropped), and then only silence tells.
constexpr auto kSilence = std::chrono::seconds(35);
constexpr auto kAnswerWait = std::chrono::seconds(15);

// HTTP answers to the upgrade that a retry cannot change.
bool IsPermanentRefusal(int status) {
  return status == 400 || status == 401 || status == 403 || status == 404;
}

std::string Seconds(std::chrono::milliseconds delay) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(delay.count()) / 1000.0);
  return text;
}

// A status line made of our words and the server's: control characters the
// server might send cannot reach the terminal.
void Status(const std::string& line) {
  if (!line.empty()) Note(core::Printable(line, 4096));
}

}  // namespace

Follower::Follower(FollowSettings settings, Printer printer)
    : settings_(std::move(settings)),
      printer_(std::move(printer)),
      channels_(settings_.channels),
      jitter_(std::random_device{}()) {
  for (const std::string& channel : channels_) tracker_.Add(channel, settings_.since);
}

int Follower::Run() {
  std::string error;
  if (!Setup(&error)) return Failure(error, kExitFailure);
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.async_wait([this](const asio::error_code& ec, int) {
    if (!ec) Stop(kExitOk);
  });
  Connect();
  io_.run();
  return exit_code_;
}

bool Follower::Setup(std::string* error) {
  if (!client_.Init(&io_, settings_.ws_url, kOpenHandshakeMs, kCloseHandshakeMs, error)) {
    return false;
  }
  client_.set_open_handler([this](websocketpp::connection_hdl hdl) { OnOpen(hdl); });
  client_.set_message_handler(
      [this](websocketpp::connection_hdl hdl, WsClient::message_ptr msg) { OnMessage(hdl, msg); });
  client_.set_close_handler([this](websocketpp::connection_hdl hdl) { OnClose(hdl); });
  client_.set_fail_handler([this](websocketpp::connection_hdl hdl) { OnFail(hdl); });
  // The server's protocol pings are a sign of life too; websocketpp answers them.
  client_.set_ping_handler([this](websocketpp::connection_hdl hdl, std::string) {
    if (IsCurrent(hdl)) Heard();
    return true;
  });
  return true;
}

void Follower::Connect() {
  std::string error;
  drop_reason_.clear();
  if (!client_.Connect(settings_.token ? &*settings_.token : nullptr, &hdl_, &error)) {
    Status("cannot connect to " + settings_.ws_url + ": " + error);
    return Stop(kExitUsage);
  }
}

bool Follower::IsCurrent(websocketpp::connection_hdl hdl) const {
  return !hdl.owner_before(hdl_) && !hdl_.owner_before(hdl);
}

void Follower::OnOpen(websocketpp::connection_hdl hdl) {
  if (!IsCurrent(hdl)) return;
  open_ = true;
  failures_ = 0;
  if (stopping_) return Stop(exit_code_);
  Heard();
  ArmLiveness(kSilence);
  for (const std::string& channel : channels_) {
    // Channel names and epochs are ASCII, so the frame always encodes.
    if (std::optional<std::string> frame =
            EncodeSubscribe(channel, tracker_.BeginSubscribe(channel))) {
      Send(*frame);
    }
  }
}

void Follower::OnMessage(websocketpp::connection_hdl hdl, const WsClient::message_ptr& msg) {
  if (!IsCurrent(hdl) || stopping_) return;
  Heard();
  if (msg->get_opcode() != websocketpp::frame::opcode::text) return;
  StreamMessage message;
  std::string error;
  if (!DecodeStreamMessage(msg->get_payload(), &message, &error)) {
    return Status("the server sent a message that is " + error);
  }
  Handle(message);
}

void Follower::Handle(const StreamMessage& message) {
  if (message.type == "notification") return HandleNotification(message);
  if (message.type == "subscribed") return Status(tracker_.OnSubscribed(message));
  if (message.type == "resync") return Status(tracker_.OnResync(message));
  if (message.type == "ping") return Send(protocol::EncodeClientPong());
  if (message.type == "error") return HandleError(message);
  if (message.type == "server_shutdown") return Status("the server is shutting down");
  // welcome, pong and whatever a later server adds: nothing to do.
}

void Follower::HandleNotification(const StreamMessage& message) {
  std::string note;
  ResumeTracker::Delivery delivery = tracker_.OnNotification(message, &note);
  Status(note);
  if (delivery == ResumeTracker::Delivery::kPrint && !printer_(message)) {
    // stdout is gone (a closed pipe with SIGPIPE ignored): nobody reads on.
    Stop(kExitFailure);
  }
}

// An error that carries the id of one of our subscribes refuses that channel.
void Follower::HandleError(const StreamMessage& message) {
  std::string text = message.error.value_or("(no text)");
  if (message.code) text += " (" + *message.code + ")";
  if (!message.request_id || !tracker_.Has(*message.request_id)) {
    return Status("the server reports an error: " + text);
  }
  const std::string channel = *message.request_id;
  if (message.code == "broker_unavailable") {
    return Drop(channel + ": the server cannot resume while its broker is unavailable");
  }
  Status(channel + ": the server refused to subscribe: " + text);
  tracker_.Remove(channel);
  channels_.erase(std::find(channels_.begin(), channels_.end(), channel));
  if (channels_.empty()) Stop(kExitFailure);
}

void Follower::Send(const std::string& frame) {
  websocketpp::lib::error_code ec;
  client_.Send(hdl_, frame, ec);
  // A failed send means a connection on its way down: its close handler
  // follows and reconnects.
}

void Follower::Heard() {
  last_heard_ = std::chrono::steady_clock::now();
  pinged_ = false;
}

void Follower::ArmLiveness(std::chrono::steady_clock::duration after) {
  liveness_timer_.expires_after(after);
  liveness_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) CheckLiveness();
  });
}

// Rather than re-arm the timer on every message, it wakes at the earliest
// moment silence could matter and looks at when the server was last heard.
void Follower::CheckLiveness() {
  if (!open_ || stopping_) return;
  std::chrono::steady_clock::duration silent = std::chrono::steady_clock::now() - last_heard_;
  if (silent >= kSilence + kAnswerWait) {
    return Drop("nothing heard from the server for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) +
                " s");
  }
  if (silent >= kSilence && !pinged_) {
    Send(protocol::EncodeClientPing());
    pinged_ = true;
  }
  ArmLiveness(silent < kSilence ? kSilence - silent : kSilence + kAnswerWait - silent);
}

// Closes the current connection on purpose; its close handler reconnects.
void Follower::Drop(const std::string& why) {
  drop_reason_ = why;
  liveness_timer_.cancel();
  websocketpp::lib::error_code ec;
  client_.Close(hdl_, websocketpp::close::status::going_away, ec);
  if (ec) ScheduleReconnect(why);  // not open after all: nothing will call back
}

void Follower::OnClose(websocketpp::connection_hdl hdl) {
  if (!IsCurrent(hdl)) return;
  open_ = false;
  liveness_timer_.cancel();
  if (stopping_) return io_.stop();
  std::string what = drop_reason_;
  if (what.empty()) {
    WsEnding ending = client_.Ending(hdl);
    what = "the connection to " + settings_.ws_url + " ended";
    if (ending.known && ending.remote_close_code != websocketpp::close::status::no_status &&
        ending.remote_close_code != websocketpp::close::status::abnormal_close) {
      what += " (" + std::to_string(ending.remote_close_code) + " " +
              ending.remote_close_reason + ")";
    } else if (ending.known && !ending.transport_error.empty()) {
      what += " (" + ending.transport_error + ")";
    }
  }
  ScheduleReconnect(what);
}

void Follower::OnFail(websocketpp::connection_hdl hdl) {
  if (!IsCurrent(hdl)) return;
  open_ = false;
  if (stopping_) return io_.stop();
  WsEnding ending = client_.Ending(hdl);
  // Neither a refusal nor a certificate that does not verify changes by
  // trying again.
  if (ending.known && (IsPermanentRefusal(ending.failure_status) || ending.untrusted)) {
    Status("cannot connect to " + settings_.ws_url + ": " + ending.failure);
    return Stop(kExitFailure);
  }
  ScheduleReconnect("cannot connect to " + settings_.ws_url + ": " + ending.failure);
}

void Follower::ScheduleReconnect(const std::string& what_happened) {
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  std::chrono::milliseconds delay = ReconnectDelay(failures_++, jitter(jitter_));
  Status(what_happened + "; reconnecting in " + Seconds(delay));
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec && !stopping_) Connect();
  });
}

// Ends Run(): a clean close when a connection is open, else at once.
void Follower::Stop(int exit_code) {
  if (!stopping_) exit_code_ = exit_code;
  stopping_ = true;
  std::cout << std::flush;
  // A second Ctrl-C during the close handshake ends the process at once.
  asio::error_code ignored;
  signals_.cancel(ignored);
  signals_.clear(ignored);
  reconnect_timer_.cancel();
  liveness_timer_.cancel();
  websocketpp::lib::error_code ec;
  if (open_) client_.Close(hdl_, websocketpp::close::status::going_away, ec);
  if (!open_ || ec) io_.stop();
}

}  // namespace notifyd::cli
