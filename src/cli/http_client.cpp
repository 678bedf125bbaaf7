#include "cli/http_client.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>

#include "cli/retry_policy.h"
#include "version.h"

namespace notifyd::cli {
namespace {

constexpr auto kTimeout = std::chrono::seconds(kHttpTimeoutSeconds);

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> HeaderValue(std::string_view head, std::string_view name) {
  std::string wanted = Lowercase(name);
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos) {
    line_start += 2;
    size_t line_end = head.find("\r\n", line_start);
    std::string_view line = head.substr(line_start, line_end - line_start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && Lowercase(line.substr(0, colon)) == wanted) {
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
  out->head = std::string(head);
  std::string_view body = std::string_view(raw).substr(head_end + 4);
  std::optional<std::string> encoding = HeaderValue(head, "transfer-encoding");
  if (encoding && Lowercase(*encoding) == "chunked") return DecodeChunked(body, &out->body, error);
  if (std::optional<size_t> length = ContentLength(head)) body = body.substr(0, *length);
  out->body = std::string(body);
  return true;
}

std::string BuildRequest(const HttpTarget& target, const HttpRequest& request) {
  std::string text = request.method + " " + target.path_prefix + request.target + " HTTP/1.1\r\n";
  text += "Host: " + target.authority + "\r\n";
  text += "User-Agent: notifyd-cli/" NOTIFYD_VERSION "\r\nAccept: application/json\r\n";
  if (request.token) text += "Authorization: Bearer " + *request.token + "\r\n";
  for (const auto& [name, value] : request.headers) text += name + ": " + value + "\r\n";
  if (request.json_body) {
    text += "Content-Type: application/json\r\n";
    text += "Content-Length: " + std::to_string(request.json_body->size()) + "\r\n";
  }
  text += "Connection: close\r\n\r\n";
  if (request.json_body) text += *request.json_body;
  return text;
}

// One request over one connection, async on a private io_context so the total
// time can be bounded with run_for(); the server closes after every answer,
// so the answer is everything up to EOF.
class HttpExchange {
 public:
  HttpExchange(const HttpTarget& target, std::string request, size_t max_response_bytes)
      : target_(target), request_(std::move(request)), max_response_bytes_(max_response_bytes) {}
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  /// Runs the exchange; fills *response with the raw answer, or *error and
  /// *retryable (whether trying again may help).
  bool Run(std::string* response, std::string* error, bool* retryable);

 private:
  void OnResolved(const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results);
  void OnConnected(const asio::error_code& ec);
  /// https://: a TLS handshake that verifies the certificate and its name.
  void StartTls();
  void OnHandshake(const asio::error_code& ec);
  void Write();
  void OnWritten(const asio::error_code& ec);
  void Read();
  void OnRead(const asio::error_code& error, size_t bytes);
  void Finish(std::string error, bool retryable);

  const HttpTarget& target_;
  std::string request_;
  size_t max_response_bytes_;
  asio::io_context io_;
  asio::ip::tcp::resolver resolver_{io_};
  asio::ip::tcp::socket socket_{io_};
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  ///< https:// only.
  std::array<char, 4096> chunk_{};
  std::string response_;
  bool done_ = false;
  std::string error_;
  bool retryable_ = false;
};

bool HttpExchange::Run(std::string* response, std::string* error, bool* retryable) {
  resolver_.async_resolve(
      target_.host, target_.port,
      [this](const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
        OnResolved(ec, results);
      });
  io_.run_for(kTimeout);
  if (!done_) {
    *error = "no answer from " + HostPort(target_) + " within " +
             std::to_string(kHttpTimeoutSeconds) + " s";
    *retryable = true;
    resolver_.cancel();
    return false;
  }
  if (!error_.empty()) {
    *error = error_;
    *retryable = retryable_;
    return false;
  }
  *response = std::move(response_);
  return true;
}

void HttpExchange::OnResolved(const asio::error_code& ec,
                              const asio::ip::tcp::resolver::results_type& results) {
  if (ec) return Finish("cannot resolve " + target_.host + ": " + ec.message(), false);
  asio::async_connect(socket_, results,
                      [this](const asio::error_code& error, const asio::ip::tcp::endpoint&) {
                        OnConnected(error);
                      });
}

void HttpExchange::OnConnected(const asio::error_code& ec) {
  if (ec) return Finish("cannot connect to " + HostPort(target_) + ": " + ec.message(), true);
  if (target_.tls) return StartTls();
  Write();
}

void HttpExchange::StartTls() {
  tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  std::string error;
  if (!SetUpClientTls(tls_context_.get(), target_.host, &error)) return Finish(error, false);
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
  SSL_set_tlsext_host_name(tls_->native_handle(), target_.host.c_str());  // SNI
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(tls_->native_handle(), kAlpn, sizeof kAlpn);
  tls_->async_handshake(asio::ssl::stream_base::client,
                        [this](const asio::error_code& error) { OnHandshake(error); });
}

void HttpExchange::OnHandshake(const asio::error_code& ec) {
  if (!ec) return Write();
  std::string failure = CertificateFailure(tls_->native_handle(), HostPort(target_));
  // Not retried: the same certificate will not verify a moment later.
  if (!failure.empty()) return Finish(failure, false);
  Finish("TLS handshake with " + HostPort(target_) + " failed: " + ec.message(), true);
}

void HttpExchange::Write() {
  auto done = [this](const asio::error_code& error, size_t) { OnWritten(error); };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(request_), done);
  } else {
    asio::async_write(socket_, asio::buffer(request_), done);
  }
}

void HttpExchange::OnWritten(const asio::error_code& ec) {
  if (ec) return Finish("lost the connection to " + HostPort(target_) + ": " + ec.message(), true);
  Read();
}

void HttpExchange::Read() {
  auto done = [this](const asio::error_code& ec, size_t bytes) { OnRead(ec, bytes); };
  if (tls_) {
    tls_->async_read_some(asio::buffer(chunk_), done);
  } else {
    socket_.async_read_some(asio::buffer(chunk_), done);
  }
}

void HttpExchange::OnRead(const asio::error_code& error, size_t bytes) {
  response_.append(chunk_.data(), bytes);
  // A TLS peer that ends TCP without close_notify: the answer's own length
  // says whether anything is missing.
  const asio::error_code ec =
      error == asio::ssl::error::stream_truncated ? asio::error::eof : error;
  // An end before the first byte of an answer: the request may or may not
  // have been acted on, which is what the Idempotency-Key makes safe to retry.
  if (ec == asio::error::eof && response_.empty()) {
    return Finish("the connection to " + HostPort(target_) + " ended without an answer", true);
  }
  // notifyd closes after every answer; a proxy might keep the connection open
  // or reset it, so a complete answer also ends the exchange.
  if (ec == asio::error::eof || ResponseComplete(response_)) return Finish("", false);
  if (ec) return Finish("lost the connection to " + HostPort(target_) + ": " + ec.message(), true);
  if (response_.size() > max_response_bytes_) {
    return Finish("the answer from " + HostPort(target_) + " is larger than " +
                      std::to_string(max_response_bytes_ >> 20) + " MiB",
                  false);
  }
  Read();
}

void HttpExchange::Finish(std::string error, bool retryable) {
  done_ = true;
  error_ = std::move(error);
  retryable_ = retryable;
  asio::error_code ignored;
  socket_.close(ignored);
}

// One attempt. *retryable says whether another attempt may help.
bool Attempt(const HttpTarget& target, const std::string& text, size_t max_response_bytes,
             HttpResponse* response, std::string* error, bool* retryable) {
  HttpExchange exchange(target, text, max_response_bytes);
  std::string raw;
  *retryable = false;
  if (!exchange.Run(&raw, error, retryable) || !ParseResponse(raw, response, error)) return false;
  *retryable = IsRetryableStatus(response->status);
  return true;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  return HeaderValue(head, name);
}

bool SendHttpRequest(const HttpTarget& target, const HttpRequest& request, HttpResponse* response,
                     std::string* error, int* attempts) {
  std::string text = BuildRequest(target, request);
  for (int attempt = 1;; ++attempt) {
    if (attempts != nullptr) *attempts = attempt;
    bool retryable = false;
    *response = HttpResponse{};
    bool answered = Attempt(target, text, request.max_response_bytes, response, error, &retryable);
    if (!retryable || attempt == kMaxHttpAttempts) return answered;
    std::this_thread::sleep_for(HttpRetryDelay(attempt));
  }
}

}  // namespace notifyd::cli
