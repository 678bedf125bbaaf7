#include "cli/interactive.h"

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cli/server_address.h"
#include "cli/websocket_client.h"
#include "protocol/client_codec.h"

namespace notifyd::cli {
namespace {

using protocol::ServerMessage;

// After EOF on stdin, how long to wait for the replies to commands already
// sent before closing: websocketpp drops data frames that arrive once our
// close frame is out, so closing at once would swallow them.
constexpr auto kEofGrace = std::chrono::seconds(2);

// How long a close waits for the server's close frame (websocketpp: 5 s).
constexpr long kCloseHandshakeMs = 2000;
// How long the opening handshake (TCP, TLS, upgrade) may take: websocketpp's default.
constexpr long kOpenHandshakeMs = 5000;

// Every line goes out at once, so the client works behind a pipe.
void Say(std::string_view line) { std::cout << line << '\n' << std::flush; }

bool IsC1Control(std::string_view text, size_t i) {
  return static_cast<unsigned char>(text[i]) == 0xC2 && i + 1 < text.size() &&
         static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
         static_cast<unsigned char>(text[i + 1]) <= 0x9F;
}

bool IsC0Control(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7F; }

// Server text goes to a terminal: control characters (ESC, CSI, CR...) could
// rewrite the screen, so they print as U+FFFD. Tabs and line breaks stay.
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsC1Control(text, i)) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else if (IsC0Control(static_cast<unsigned char>(text[i]))) {
      out += "\xEF\xBF\xBD";
    } else {
      out += text[i];
    }
  }
  return out;
}

// A field as the seed's string interpolation shows it: "null" when absent.
std::string Show(const std::optional<std::string>& value) {
  return value ? Printable(*value) : "null";
}

std::string Show(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : "null";
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += Printable(item);
  }
  return out;
}

void PrintRaw(const ServerMessage& m) { Say("← " + Printable(m.raw)); }

void PrintWelcome(const ServerMessage& m) { Say("✓ Connected as " + Show(m.client_id)); }

void PrintSubscribed(const ServerMessage& m) {
  Say("✓ Subscribed to \"" + Show(m.channel) + "\" (" + Show(m.subscriber_count) + " subscribers)");
}

void PrintUnsubscribed(const ServerMessage& m) {
  Say("✓ Unsubscribed from \"" + Show(m.channel) + "\"");
}

void PrintNameSet(const ServerMessage& m) { Say("✓ Name set to \"" + Show(m.name) + "\""); }

void PrintNotification(const ServerMessage& m) {
  Say("");
  Say("╔══════════════════════════════════════════");
  Say("║ 🔔 NOTIFICATION [" + Show(m.channel) + "]");
  Say("║ Title: " + Show(m.title));
  Say("║ Body: " + Show(m.body));
  if (!m.data.empty()) Say("║ Data: " + Printable(m.data));
  Say("╚══════════════════════════════════════════");
  Say("");
}

void PrintSubscriptions(const ServerMessage& m) {
  if (!m.channels) return PrintRaw(m);  // the seed would crash on it
  Say("✓ Your subscriptions: " + (m.channels->empty() ? "(none)" : Join(*m.channels, ", ")));
}

void PrintPong(const ServerMessage&) { Say("✓ Pong received"); }

void PrintError(const ServerMessage& m) { Say("✗ Error: " + Show(m.error)); }

void PrintShutdown(const ServerMessage& m) { Say("⚠ Server is shutting down: " + Show(m.message)); }

// The seed's _printMessage, as a table from message type to printer.
void PrintMessage(const ServerMessage& m) {
  using Printer = void (*)(const ServerMessage&);
  static const std::unordered_map<std::string_view, Printer> kPrinters = {
      {"welcome", PrintWelcome},
      {"subscribed", PrintSubscribed},
      {"unsubscribed", PrintUnsubscribed},
      {"name_set", PrintNameSet},
      {"notification", PrintNotification},
      {"subscriptions", PrintSubscriptions},
      {"pong", PrintPong},
      {"error", PrintError},
      {"server_shutdown", PrintShutdown}};
  auto it = kPrinters.find(m.type);
  (it == kPrinters.end() ? PrintRaw : it->second)(m);
}

// The message types that answer one request of ours (PROTOCOL.md).
bool IsDirectReply(std::string_view type) {
  return type == "subscribed" || type == "unsubscribed" || type == "name_set" ||
         type == "subscriptions" || type == "pong" || type == "error";
}

void PrintCommandList() {
  Say("Connected! Commands:");
  Say("  sub <channel>   - Subscribe to channel");
  Say("  unsub <channel> - Unsubscribe from channel");
  Say("  name <name>     - Set your name");
  Say("  list            - List subscriptions");
  Say("  ping            - Send ping");
  Say("  help            - Show commands");
  Say("  quit            - Exit");
  Say("");
}

std::string_view Trim(std::string_view text) {
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Reads stdin on its own thread (a blocking read cannot share the io thread)
// and hands every line to the io thread with asio::post: websocketpp is only
// free of races when a single thread touches it (TECH-NOTES §3).
class StdinReader {
 public:
  using LineHandler = std::function<void(const std::string& line)>;
  using EofHandler = std::function<void()>;

  /// The handlers run on `io`'s thread, never on the reader's.
  StdinReader(asio::io_context* io, LineHandler on_line, EofHandler on_eof)
      : shared_(std::make_shared<Shared>()) {
    shared_->io = io;
    shared_->on_line = std::move(on_line);
    shared_->on_eof = std::move(on_eof);
  }
  ~StdinReader() { Stop(); }
  StdinReader(const StdinReader&) = delete;
  StdinReader& operator=(const StdinReader&) = delete;

  /// Starts the reader thread.
  void Start() { std::thread(ReadLoop, shared_).detach(); }

  /// Nothing is posted after this returns. The thread is detached because it
  /// may stay blocked in read() until the process exits.
  void Stop() {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->io = nullptr;
  }

 private:
  struct Shared {
    std::mutex mutex;
    asio::io_context* io = nullptr;  // guarded by mutex; null once stopped
    LineHandler on_line;
    EofHandler on_eof;
  };

  static bool Post(Shared* shared, std::function<void()> task) {
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (shared->io == nullptr) return false;
    asio::post(*shared->io, std::move(task));
    return true;
  }

  static void ReadLoop(std::shared_ptr<Shared> shared) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!Post(shared.get(), [shared, line] { shared->on_line(line); })) return;
    }
    Post(shared.get(), [shared] { shared->on_eof(); });
  }

  std::shared_ptr<Shared> shared_;
};

// The seed's client simulator. Everything runs on the thread that calls Run(),
// except the blocking stdin read (StdinReader).
class InteractiveClient {
 public:
  explicit InteractiveClient(std::string url) : url_(std::move(url)) {}
  InteractiveClient(const InteractiveClient&) = delete;
  InteractiveClient& operator=(const InteractiveClient&) = delete;

  /// Connects and serves stdin until the connection ends; returns the exit code.
  int Run();

 private:
  using Command = void (InteractiveClient::*)(const std::optional<std::string>& arg);

  bool Setup(std::string* error);
  bool Connect(std::string* error);
  void OnOpen();
  void OnMessage(const WsClient::message_ptr& msg);
  void OnClose();
  void OnFail(websocketpp::connection_hdl hdl);
  void HandleLine(const std::string& line);
  void HandleEof();
  void Subscribe(const std::optional<std::string>& arg);
  void Unsubscribe(const std::optional<std::string>& arg);
  void SetName(const std::optional<std::string>& arg);
  void List(const std::optional<std::string>& arg);
  void Ping(const std::optional<std::string>& arg);
  void Help(const std::optional<std::string>& arg);
  void Quit(const std::optional<std::string>& arg);
  void Request(const std::optional<std::string>& frame, const std::string& note);
  void Send(const std::string& frame);
  void NoteReply();
  void CloseAfterReplies();
  void Close();

  std::string url_;
  asio::io_context io_;  // declared before client_, which refers to it
  WsClient client_;
  websocketpp::connection_hdl hdl_;
  asio::steady_timer eof_timer_{io_};
  std::vector<std::string> pending_;  // frames typed before the connection opened
  int awaiting_replies_ = 0;          // requests sent and not answered yet
  bool open_ = false;
  bool closing_ = false;
  bool quitting_ = false;
  bool stdin_done_ = false;
  int exit_code_ = 0;
};

int InteractiveClient::Run() {
  Say("Connecting to " + url_ + "...");
  std::string error;
  if (!CheckWsUrl(url_, &error) || !Setup(&error) || !Connect(&error)) {
    Say("Error: " + error);
    return 1;
  }
  PrintCommandList();
  StdinReader reader(
      &io_, [this](const std::string& line) { HandleLine(line); }, [this] { HandleEof(); });
  reader.Start();
  io_.run();
  reader.Stop();
  return exit_code_;
}

bool InteractiveClient::Setup(std::string* error) {
  if (!client_.Init(&io_, url_, kOpenHandshakeMs, kCloseHandshakeMs, error)) return false;
  client_.set_open_handler([this](websocketpp::connection_hdl) { OnOpen(); });
  client_.set_message_handler(
      [this](websocketpp::connection_hdl, WsClient::message_ptr msg) { OnMessage(msg); });
  client_.set_close_handler([this](websocketpp::connection_hdl) { OnClose(); });
  client_.set_fail_handler([this](websocketpp::connection_hdl hdl) { OnFail(hdl); });
  return true;
}

bool InteractiveClient::Connect(std::string* error) {
  std::string why;
  if (client_.Connect(nullptr, &hdl_, &why)) return true;
  *error = "cannot connect to \"" + url_ + "\": " + why;
  return false;
}

void InteractiveClient::OnOpen() {
  open_ = true;
  for (const std::string& frame : pending_) Send(frame);
  pending_.clear();
  if (stdin_done_) CloseAfterReplies();
}

void InteractiveClient::OnMessage(const WsClient::message_ptr& msg) {
  if (msg->get_opcode() != websocketpp::frame::opcode::text) {
    return Say("← (binary message, " + std::to_string(msg->get_payload().size()) + " bytes)");
  }
  ServerMessage message;
  std::string error;
  if (!protocol::DecodeServerMessage(msg->get_payload(), &message, &error)) {
    return PrintRaw(message);
  }
  if (message.type == "ping") return Send(protocol::EncodeClientPong());  // heartbeat, silent
  PrintMessage(message);
  if (IsDirectReply(message.type)) NoteReply();
}

void InteractiveClient::OnClose() {
  if (!quitting_) Say("Connection closed");
  exit_code_ = 0;
  eof_timer_.cancel();
  io_.stop();  // as the seed: the client ends with its connection
}

void InteractiveClient::OnFail(websocketpp::connection_hdl hdl) {
  Say("Error: " + client_.Ending(hdl).failure);
  exit_code_ = 1;
  eof_timer_.cancel();
}

void InteractiveClient::HandleLine(const std::string& line) {
  static const std::unordered_map<std::string_view, Command> kCommands = {
      {"sub", &InteractiveClient::Subscribe}, {"unsub", &InteractiveClient::Unsubscribe},
      {"name", &InteractiveClient::SetName},  {"list", &InteractiveClient::List},
      {"ping", &InteractiveClient::Ping},     {"help", &InteractiveClient::Help},
      {"quit", &InteractiveClient::Quit},     {"exit", &InteractiveClient::Quit}};
  std::string_view text = Trim(line);
  if (text.empty() || closing_ || quitting_) return;
  // As the seed: the command is everything before the first space, the
  // argument everything after it.
  size_t space = text.find(' ');
  std::string cmd = Lowercase(text.substr(0, space));
  std::optional<std::string> arg;
  if (space != std::string_view::npos) arg = std::string(text.substr(space + 1));
  auto it = kCommands.find(cmd);
  if (it == kCommands.end()) {
    return Say("Unknown command: " + cmd + " (type \"help\" for commands)");
  }
  (this->*(it->second))(arg);
}

void InteractiveClient::HandleEof() {
  stdin_done_ = true;
  if (open_) CloseAfterReplies();
}

void InteractiveClient::Subscribe(const std::optional<std::string>& arg) {
  if (!arg || arg->empty()) return Say("Usage: sub <channel>");
  Request(protocol::EncodeClientSubscribe(*arg), "→ Subscribing to \"" + *arg + "\"...");
}

void InteractiveClient::Unsubscribe(const std::optional<std::string>& arg) {
  if (!arg || arg->empty()) return Say("Usage: unsub <channel>");
  Request(protocol::EncodeClientUnsubscribe(*arg), "→ Unsubscribing from \"" + *arg + "\"...");
}

void InteractiveClient::SetName(const std::optional<std::string>& arg) {
  if (!arg || arg->empty()) return Say("Usage: name <your-name>");
  Request(protocol::EncodeClientSetName(*arg), "→ Setting name to \"" + *arg + "\"...");
}

void InteractiveClient::List(const std::optional<std::string>&) {
  Request(protocol::EncodeClientListSubscriptions(), "→ Requesting subscriptions...");
}

void InteractiveClient::Ping(const std::optional<std::string>&) {
  Request(protocol::EncodeClientPing(), "→ Ping sent");
}

void InteractiveClient::Help(const std::optional<std::string>&) {
  Say("Commands: sub, unsub, name, list, ping, quit");
}

void InteractiveClient::Quit(const std::optional<std::string>&) {
  Say("Goodbye!");
  quitting_ = true;
  if (open_) return Close();
  io_.stop();  // still connecting: nothing to close cleanly
}

// Sends a request that the server answers once; `note` is the seed's "→" line.
void InteractiveClient::Request(const std::optional<std::string>& frame, const std::string& note) {
  if (!frame) return Say("✗ Not sent: the text is not valid UTF-8");
  Send(*frame);
  ++awaiting_replies_;
  Say(note);
}

void InteractiveClient::Send(const std::string& frame) {
  if (!open_) {
    pending_.push_back(frame);
    return;
  }
  websocketpp::lib::error_code ec;
  client_.Send(hdl_, frame, ec);
  if (ec) Say("Error: " + ec.message());
}

void InteractiveClient::NoteReply() {
  if (awaiting_replies_ > 0) --awaiting_replies_;
  if (stdin_done_ && awaiting_replies_ == 0) Close();
}

void InteractiveClient::CloseAfterReplies() {
  if (awaiting_replies_ == 0) return Close();
  eof_timer_.expires_after(kEofGrace);
  eof_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) Close();
  });
}

void InteractiveClient::Close() {
  if (closing_) return;
  closing_ = true;
  eof_timer_.cancel();
  websocketpp::lib::error_code ec;
  client_.Close(hdl_, websocketpp::close::status::normal, ec);
  if (ec) io_.stop();  // already gone: nothing left to wait for
}

std::string WsUrlFromEnvironment() {
  const char* url = std::getenv("WS_URL");
  return url != nullptr ? url : kDefaultWsUrl;
}

}  // namespace

int RunInteractive() {
  InteractiveClient client(WsUrlFromEnvironment());
  return client.Run();
}

}  // namespace notifyd::cli
