#include "cli/publish.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <utility>

#include "protocol/client_codec.h"
#include "version.h"

namespace notifyd::cli {
namespace {

// Resolve, connect, send and read the answer must all fit in this time.
constexpr int kTimeoutSeconds = 10;
constexpr auto kTimeout = std::chrono::seconds(kTimeoutSeconds);
// A publish answer is a few dozen bytes; anything far larger is not notifyd.
constexpr size_t kMaxResponseBytes = 1 << 20;
constexpr const char* kDefaultBaseUrl = "http://localhost:8080";

constexpr std::string_view kUsage = R"(Usage:
  notifyd-cli                  interactive client (the seed's client simulator)
  notifyd-cli publish CHANNEL [--title T] [--data JSON] [--url URL] [--token TOKEN] [BODY | -]
  notifyd-cli --help | --version

Interactive mode connects to $WS_URL (default ws://localhost:8080/ws) and reads
commands from stdin, one per line: sub <channel>, unsub <channel>, name <name>,
list, ping, help, quit (or exit). It prints every server message and answers
the server's heartbeat by itself. At EOF on stdin it waits up to 2 s for the
replies to commands already sent, then closes the connection.

publish sends POST /api/notify/CHANNEL with the JSON body {"title","body","data"}:
  --title T      the title (when omitted the server uses "Notification")
  --data JSON    extra data for the subscribers; must be a JSON object
  --url URL      the server's base URL. Default: $NOTIFYD_URL, else derived from
                 $WS_URL (ws://host:port/... -> http://host:port), else
                 http://localhost:8080
  --token TOKEN  send "Authorization: Bearer TOKEN" (default: $NOTIFYD_TOKEN;
                 prefer the variable, other users can see a command line)
  BODY           the body text. "-", or no BODY while stdin is not a terminal,
                 reads it from stdin and drops its trailing line breaks.
  Options take "--opt VALUE" or "--opt=VALUE"; "--" ends the options.
  The whole request (resolve, connect, send, read the answer) is bounded to
  10 s. On success the server's JSON answer is printed on stdout.

Exit status: 0 success; 1 connecting failed, timed out, or the server refused
the request (the reason goes to stderr); 2 usage error.

wss:// and https:// are not supported: notifyd-cli speaks plain ws:// and
http:// only. Reach a TLS endpoint through a TLS-terminating proxy.
)";

struct PublishArgs {
  std::string channel;
  std::optional<std::string> title;
  std::optional<std::string> data;
  std::optional<std::string> url;
  std::optional<std::string> token;
  std::optional<std::string> body;
  bool help = false;
};

// Where to send the request, taken apart from the base URL.
struct HttpTarget {
  std::string host;         // without brackets, for the resolver
  std::string port;         // "80" when the URL has none
  std::string authority;    // host[:port] as written, for the Host header
  std::string path_prefix;  // the URL's path without a trailing '/'
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

int UsageFailure(const std::string& message) {
  std::cerr << "notifyd-cli: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

int Failure(const std::string& message, int code) {
  std::cerr << "notifyd-cli: " << message << '\n';
  return code;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// --- command line --------------------------------------------------------------

using OptionField = std::optional<std::string> PublishArgs::*;

OptionField FindOption(std::string_view name) {
  static const std::pair<std::string_view, OptionField> kOptions[] = {
      {"--title", &PublishArgs::title},
      {"--data", &PublishArgs::data},
      {"--url", &PublishArgs::url},
      {"--token", &PublishArgs::token}};
  for (const auto& [option, field] : kOptions) {
    if (option == name) return field;
  }
  return nullptr;
}

// Reads the option at args[*i] ("--name VALUE" or "--name=VALUE").
bool ParseOption(const std::vector<std::string>& args, size_t* i, PublishArgs* out,
                 std::string* error) {
  const std::string& arg = args[*i];
  if (arg == "--help" || arg == "-h") return out->help = true;
  size_t equals = arg.find('=');
  OptionField field = FindOption(std::string_view(arg).substr(0, equals));
  if (field == nullptr) {
    *error = "unknown option " + arg.substr(0, equals);
    return false;
  }
  if (equals != std::string::npos) {
    out->*field = arg.substr(equals + 1);
  } else if (*i + 1 < args.size()) {
    out->*field = args[++*i];
  } else {
    *error = arg + " needs a value";
    return false;
  }
  return true;
}

bool AssignPositionals(const std::vector<std::string>& positional, PublishArgs* out,
                       std::string* error) {
  if (out->help) return true;
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

bool ParseArgs(const std::vector<std::string>& args, PublishArgs* out, std::string* error) {
  std::vector<std::string> positional;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      positional.push_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (!ParseOption(args, &i, out, error)) {
      return false;
    }
  }
  return AssignPositionals(positional, out, error);
}

// --- server URL -----------------------------------------------------------------

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// ws://host:port/ws -> http://host:port (wss becomes https, refused later).
std::string HttpUrlFromWsUrl(std::string_view ws_url) {
  size_t scheme_end = ws_url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(ws_url);
  std::string scheme = Lowercase(ws_url.substr(0, scheme_end));
  std::string_view rest = ws_url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (scheme == "ws") scheme = "http";
  if (scheme == "wss") scheme = "https";
  return scheme + "://" + std::string(authority);
}

// The base URL and where it came from, for error messages.
std::pair<std::string, std::string> BaseUrl(const PublishArgs& args) {
  if (args.url) return {*args.url, "--url"};
  if (const char* url = NonEmptyEnv("NOTIFYD_URL")) return {url, "NOTIFYD_URL"};
  if (const char* ws = NonEmptyEnv("WS_URL")) return {HttpUrlFromWsUrl(ws), "WS_URL"};
  return {kDefaultBaseUrl, "the default"};
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ValidPort(std::string_view port) {
  return AllDigits(port) && port.size() <= 5 && std::stoi(std::string(port)) >= 1 &&
         std::stoi(std::string(port)) <= 65535;
}

// host, host:port, [v6] or [v6]:port; an empty port means the default.
bool SplitHostPort(std::string_view authority, std::string_view* host, std::string_view* port) {
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    *host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
    *port = rest.empty() ? rest : rest.substr(1);
    return true;
  }
  *host = authority.substr(0, colon);
  *port = colon == std::string_view::npos ? "" : authority.substr(colon + 1);
  return host->find(':') == std::string_view::npos;
}

bool SplitAuthority(std::string_view authority, HttpTarget* target, std::string* error) {
  std::string_view host;
  std::string_view port;
  if (!SplitHostPort(authority, &host, &port) || host.empty() ||
      authority.find('@') != std::string_view::npos) {
    *error = "no usable host in it";
    return false;
  }
  target->host = std::string(host);
  target->port = port.empty() ? "80" : std::string(port);
  target->authority = std::string(authority);
  if (ValidPort(target->port)) return true;
  *error = "\"" + target->port + "\" is not a port number";
  return false;
}

bool ParseBaseUrl(std::string_view url, HttpTarget* target, std::string* error) {
  size_t scheme_end = url.find("://");
  std::string scheme = Lowercase(url.substr(0, scheme_end));
  if (scheme_end != std::string_view::npos && scheme == "https") {
    *error =
        "https is not supported: notifyd-cli speaks plain http:// only; reach a TLS "
        "endpoint through a TLS-terminating proxy";
    return false;
  }
  if (scheme_end == std::string_view::npos || scheme != "http") {
    *error = "not an http:// URL";
    return false;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  target->path_prefix = std::string(path);
  return SplitAuthority(rest.substr(0, path_start), target, error);
}

std::string HostPort(const HttpTarget& target) {
  bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + target.port;
}

// --- request ---------------------------------------------------------------------

// The channel is one path segment: everything but unreserved characters and
// the channel-name punctuation is percent-encoded, so "a/b" stays one segment.
std::string EncodePathSegment(std::string_view segment) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) ||
        std::string_view("-._~:@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
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

std::optional<std::string> Token(const PublishArgs& args) {
  if (args.token) return args.token;
  if (const char* token = NonEmptyEnv("NOTIFYD_TOKEN")) return std::string(token);
  return std::nullopt;
}

bool ValidHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7F; });
}

std::string BuildRequest(const HttpTarget& target, const PublishArgs& args,
                         const std::string& body) {
  std::string request = "POST " + target.path_prefix + "/api/notify/" +
                        EncodePathSegment(args.channel) + " HTTP/1.1\r\n";
  request += "Host: " + target.authority + "\r\n";
  request += "User-Agent: notifyd-cli/" NOTIFYD_VERSION "\r\n";
  request += "Content-Type: application/json\r\nAccept: application/json\r\n";
  if (std::optional<std::string> token = Token(args)) {
    request += "Authorization: Bearer " + *token + "\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "Connection: close\r\n\r\n" + body;
  return request;
}

// --- HTTP exchange ---------------------------------------------------------------

bool ResponseComplete(const std::string& raw);

// One request over one connection, async on a private io_context so the total
// time can be bounded with run_for(); the server closes after every answer,
// so the answer is everything up to EOF.
class HttpExchange {
 public:
  HttpExchange(HttpTarget target, std::string request)
      : target_(std::move(target)), request_(std::move(request)) {}
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  /// Runs the exchange; fills *response with the raw answer, or *error.
  bool Run(std::string* response, std::string* error);

 private:
  void OnResolved(const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results);
  void OnConnected(const asio::error_code& ec);
  void OnWritten(const asio::error_code& ec);
  void Read();
  void OnRead(const asio::error_code& ec, size_t bytes);
  void Finish(std::string error);

  HttpTarget target_;
  std::string request_;
  asio::io_context io_;
  asio::ip::tcp::resolver resolver_{io_};
  asio::ip::tcp::socket socket_{io_};
  std::array<char, 4096> chunk_{};
  std::string response_;
  bool done_ = false;
  std::string error_;
};

bool HttpExchange::Run(std::string* response, std::string* error) {
  resolver_.async_resolve(
      target_.host, target_.port,
      [this](const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
        OnResolved(ec, results);
      });
  io_.run_for(kTimeout);
  if (!done_) {
    *error =
        "no answer from " + HostPort(target_) + " within " + std::to_string(kTimeoutSeconds) + " s";
    resolver_.cancel();
    return false;
  }
  if (!error_.empty()) {
    *error = error_;
    return false;
  }
  *response = std::move(response_);
  return true;
}

void HttpExchange::OnResolved(const asio::error_code& ec,
                              const asio::ip::tcp::resolver::results_type& results) {
  if (ec) return Finish("cannot resolve " + target_.host + ": " + ec.message());
  asio::async_connect(socket_, results,
                      [this](const asio::error_code& error, const asio::ip::tcp::endpoint&) {
                        OnConnected(error);
                      });
}

void HttpExchange::OnConnected(const asio::error_code& ec) {
  if (ec) return Finish("cannot connect to " + HostPort(target_) + ": " + ec.message());
  asio::async_write(socket_, asio::buffer(request_),
                    [this](const asio::error_code& error, size_t) { OnWritten(error); });
}

void HttpExchange::OnWritten(const asio::error_code& ec) {
  if (ec) return Finish("lost the connection to " + HostPort(target_) + ": " + ec.message());
  Read();
}

void HttpExchange::Read() {
  socket_.async_read_some(asio::buffer(chunk_),
                          [this](const asio::error_code& ec, size_t bytes) { OnRead(ec, bytes); });
}

void HttpExchange::OnRead(const asio::error_code& ec, size_t bytes) {
  response_.append(chunk_.data(), bytes);
  // notifyd closes after every answer; a proxy might keep the connection open
  // or reset it, so a complete answer also ends the exchange.
  if (ec == asio::error::eof || ResponseComplete(response_)) return Finish("");
  if (ec) return Finish("lost the connection to " + HostPort(target_) + ": " + ec.message());
  if (response_.size() > kMaxResponseBytes) {
    return Finish("the answer from " + HostPort(target_) + " is larger than 1 MiB");
  }
  Read();
}

void HttpExchange::Finish(std::string error) {
  done_ = true;
  error_ = std::move(error);
  asio::error_code ignored;
  socket_.close(ignored);
}

// --- response --------------------------------------------------------------------

std::optional<std::string> HeaderValue(std::string_view head, std::string_view name) {
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    size_t line_end = head.find("\r\n", line_start);
    std::string_view line = head.substr(line_start, line_end - line_start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && Lowercase(line.substr(0, colon)) == name) {
      return std::string(TrimSpaces(line.substr(colon + 1)));
    }
    line_start = line_end;
  }
  return std::nullopt;
}

std::optional<size_t> ContentLength(std::string_view head) {
  std::optional<std::string> length = HeaderValue(head, "content-length");
  if (!length || !AllDigits(*length) || length->size() > 9) return std::nullopt;
  return std::stoul(*length);
}

// True once the head and a Content-Length body have arrived.
bool ResponseComplete(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::optional<size_t> length = ContentLength(std::string_view(raw).substr(0, head_end));
  return length && raw.size() - head_end - 4 >= *length;
}

// Transfer-Encoding: chunked (notifyd sends Content-Length, a proxy might not).
bool DecodeChunked(std::string_view data, std::string* out, std::string* error) {
  out->clear();
  while (true) {
    size_t line_end = data.find("\r\n");
    if (line_end == std::string_view::npos) break;
    std::string size_text(data.substr(0, data.find_first_of(";\r")));
    char* end = nullptr;
    unsigned long size = std::strtoul(size_text.c_str(), &end, 16);
    if (size_text.empty() || *end != '\0') break;
    if (size == 0) return true;
    data.remove_prefix(line_end + 2);
    if (size > data.size() || data.size() - size < 2) break;
    out->append(data.substr(0, size));
    data.remove_prefix(size + 2);
  }
  *error = "malformed chunked answer";
  return false;
}

bool ParseStatusLine(std::string_view head, int* status) {
  std::string_view line = head.substr(0, head.find("\r\n"));
  size_t space = line.find(' ');
  if (line.substr(0, 5) != "HTTP/" || space == std::string_view::npos) return false;
  std::string_view code = line.substr(space + 1, 3);
  if (code.size() != 3 || !AllDigits(code)) return false;
  *status = std::stoi(std::string(code));
  return true;
}

bool ParseResponse(const std::string& raw, HttpResponse* out, std::string* error) {
  size_t head_end = raw.find("\r\n\r\n");
  std::string_view head(raw.data(), head_end == std::string::npos ? 0 : head_end);
  if (head_end == std::string::npos || !ParseStatusLine(head, &out->status)) {
    *error = "the server's answer is not HTTP";
    return false;
  }
  std::string_view body = std::string_view(raw).substr(head_end + 4);
  std::optional<std::string> encoding = HeaderValue(head, "transfer-encoding");
  if (encoding && Lowercase(*encoding) == "chunked") return DecodeChunked(body, &out->body, error);
  if (std::optional<size_t> length = ContentLength(head)) body = body.substr(0, *length);
  out->body = std::string(body);
  return true;
}

// Success needs a 2xx status and "success":true; the answer goes to stdout.
int Report(const HttpResponse& response) {
  protocol::ClientPublishResponse decoded;
  std::string error;
  bool is_2xx = response.status >= 200 && response.status < 300;
  bool success =
      protocol::DecodeClientPublishResponse(response.body, &decoded, &error) && decoded.success;
  std::string body(TrimSpaces(response.body));
  if (!is_2xx || !success) {
    return Failure(std::string(is_2xx ? "unexpected answer: " : "server refused: ") +
                       std::to_string(response.status) + " " + body,
                   kExitFailure);
  }
  std::cout << body << '\n' << std::flush;
  return kExitOk;
}

int Publish(const HttpTarget& target, const PublishArgs& args, const std::string& body) {
  HttpExchange exchange(target, BuildRequest(target, args, body));
  std::string raw;
  std::string error;
  HttpResponse response;
  if (!exchange.Run(&raw, &error) || !ParseResponse(raw, &response, &error)) {
    return Failure(error, kExitFailure);
  }
  return Report(response);
}

}  // namespace

std::string_view UsageText() { return kUsage; }

int RunPublish(const std::vector<std::string>& args) {
  PublishArgs parsed;
  std::string error;
  if (!ParseArgs(args, &parsed, &error)) return UsageFailure(error);
  if (parsed.help) {
    std::cout << kUsage << std::flush;
    return kExitOk;
  }
  if (parsed.data && !protocol::ValidateJsonObject(*parsed.data, &error)) {
    return UsageFailure("--data is " + error);
  }
  std::optional<std::string> token = Token(parsed);
  if (token && !ValidHeaderValue(*token)) return UsageFailure("the token holds control characters");
  auto [url, source] = BaseUrl(parsed);
  HttpTarget target;
  if (!ParseBaseUrl(url, &target, &error)) {
    return Failure("bad server URL \"" + url + "\" (from " + source + "): " + error, kExitUsage);
  }
  std::string body;
  protocol::ClientPublishRequest request{parsed.title, BodyText(parsed), parsed.data};
  if (!protocol::EncodeClientPublishBody(request, &body, &error)) return Failure(error, kExitUsage);
  return Publish(target, parsed, body);
}

}  // namespace notifyd::cli
