#include "wire/http_parser.h"

#include <algorithm>
#include <utility>

#include "wire/http_syntax.h"

namespace notifyd::wire {

namespace {

constexpr char kTooLarge[] = "Request header fields too large";
constexpr char kUriTooLong[] = "URI too long";
constexpr char kBadRequestLine[] = "Malformed request line";
constexpr char kBadTarget[] = "Invalid request target";
// Content-Length = 1*DIGIT; 18 digits (under 10^18 bytes) cannot overflow.
constexpr size_t kMaxContentLengthDigits = 18;
// Header lines most requests have (curl sends 3 to 5, a browser 10 to 15).
constexpr size_t kUsualHeaderLines = 12;

bool IsAlnum(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2),
// which also covers IPv4 addresses.
bool IsRegName(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || http::HexDigitValue(s[i + 1]) < 0 || http::HexDigitValue(s[i + 2]) < 0) return false;
      i += 2;
    } else if (!IsAlnum(c) && std::string_view("-._~!$&'()*+,;=").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// uri-host [ ":" port ] (RFC 9110 §7.2): an IP-literal in brackets (hex
// digits, ':' and '.') or a reg-name, then an optional ':' and digits.
bool IsValidHost(std::string_view s) {
  std::string_view rest;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (http::HexDigitValue(c) < 0 && c != ':' && c != '.') return false;
    }
    rest = s.substr(close + 1);
  } else {
    const size_t colon = s.find(':');
    if (!IsRegName(s.substr(0, colon))) return false;
    if (colon != std::string_view::npos) rest = s.substr(colon);
  }
  if (rest.empty()) return true;
  if (rest[0] != ':') return false;
  for (char c : rest.substr(1)) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Splits "path?query" (origin-form, RFC 9112 §3.2.1) into the request.
void SplitPathAndQuery(std::string_view target, http::Request* request) {
  const size_t question = target.find('?');
  request->path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request->query = std::string(target.substr(question + 1));
}

// The "http://" or "https://" prefix of an absolute-form target (any case),
// or 0 when there is none.
size_t SchemePrefix(std::string_view target) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() >= scheme.size() &&
        http::EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      return scheme.size();
    }
  }
  return 0;
}

http::Headers::iterator FindHeader(http::Headers* headers, std::string_view name) {
  for (auto it = headers->begin(); it != headers->end(); ++it) {
    if (http::EqualsIgnoreCase(it->first, name)) return it;
  }
  return headers->end();
}

}  // namespace

HttpHeadParser::HttpHeadParser(HttpLimits limits) : limits_(limits) {}

HttpHeadParser::State HttpHeadParser::Feed(std::string_view data, size_t* consumed) {
  size_t ignored;
  if (consumed == nullptr) consumed = &ignored;
  *consumed = 0;
  if (state_ != State::kNeedMore) return state_;

  // Never buffer more than the limit: a head that has not ended within
  // max_head_bytes is rejected without reading the rest of it.
  const size_t old_size = buffer_.size();
  const size_t room = limits_.max_head_bytes > old_size ? limits_.max_head_bytes - old_size : 0;
  const std::string_view take = data.substr(0, room);
  auto byte_at = [&](size_t pos) { return pos < old_size ? buffer_[pos] : take[pos - old_size]; };

  // Only the new bytes are searched; the line in progress is tracked by
  // line_start_, and an empty line needs at most one byte before its LF.
  for (size_t from = 0;;) {
    const size_t lf = take.find('\n', from);
    // The request line is watched as it arrives, so an overlong target gets
    // 414 even when the head limit (431) is reached first.
    if (!saw_request_line_ && !WatchTarget(take.substr(from, lf - std::min(lf, from)))) {
      *consumed = take.size();
      return Fail(414, kUriTooLong);
    }
    if (lf == std::string_view::npos) break;
    const size_t end = old_size + lf;  // the LF, as an offset in buffer_ + take
    const size_t length = end - line_start_;
    const bool empty = length == 0 || (length == 1 && byte_at(line_start_) == '\r');
    line_start_ = end + 1;
    from = lf + 1;
    if (!empty) {
      saw_request_line_ = true;
    } else if (saw_request_line_) {
      // The blank line that ends the head: what follows is the caller's.
      buffer_.append(take.data(), lf + 1);
      *consumed = lf + 1;
      return Parse();
    }
    // else: an empty line before the request line, ignored (RFC 9112 §2.2)
    // but still counted against max_head_bytes so it cannot go on forever.
  }

  buffer_.append(take.data(), take.size());
  *consumed = take.size();
  if (take.size() < data.size()) return Fail(431, kTooLarge);
  return State::kNeedMore;
}

bool HttpHeadParser::WatchTarget(std::string_view bytes) {
  if (request_line_spaces_ >= 2) return true;  // the target is complete
  for (char c : bytes) {
    if (c == ' ') {
      ++request_line_spaces_;
    } else if (request_line_spaces_ == 1) {
      ++target_bytes_;
    }
  }
  return target_bytes_ <= limits_.max_target_bytes;
}

HttpHeadParser::State HttpHeadParser::Parse() {
  const std::string_view head = buffer_;
  size_t pos = 0;
  std::string_view line;

  // Feed() only calls this once a non-empty line and then an empty one are
  // buffered, but a missing line is still an error rather than a loop.
  do {
    if (!NextLine(head, &pos, &line)) return Fail(400, kBadRequestLine);
  } while (line.empty());
  if (!ParseRequestLine(line)) return state_;

  size_t field_lines = 0;
  while (NextLine(head, &pos, &line) && !line.empty()) {
    if (++field_lines > limits_.max_headers) return Fail(431, kTooLarge);
    if (!ParseFieldLine(line)) return state_;
  }
  if (!CheckSemantics()) return state_;

  state_ = State::kDone;
  // `line` points into buffer_: release it only now.
  std::string().swap(buffer_);
  return state_;
}

bool HttpHeadParser::ParseRequestLine(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
  // exactly one SP each: anything else is not split leniently, since a
  // front-end that splits differently would see another request.
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Failed(400, kBadRequestLine);
  const std::string_view method = line.substr(0, sp1);
  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return Failed(400, kBadRequestLine);
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);
  if (!IsToken(method)) return Failed(400, kBadRequestLine);

  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !IsDigit(version[5]) ||
      version[6] != '.' || !IsDigit(version[7])) {
    return Failed(400, kBadRequestLine);
  }
  // The daemon is not a proxy: it has no tunnel to open for CONNECT, and
  // says so rather than calling its authority-form target malformed.
  if (method == "CONNECT") return Failed(501, "CONNECT is not supported");
  result_.request.method = std::string(method);
  if (!ParseTarget(target)) return false;
  if (version[5] != '1') return Failed(505, "HTTP version not supported");
  // A higher minor version is processed as the highest one implemented,
  // 1.1 (RFC 9110 §2.5): a 1.x sender understands a 1.1 response.
  result_.request.version_minor = version[7] == '0' ? 0 : 1;
  return true;
}

bool HttpHeadParser::ParseTarget(std::string_view target) {
  if (target.size() > limits_.max_target_bytes) return Failed(414, kUriTooLong);
  for (char c : target) {
    if (c < 0x21 || c > 0x7E) return Failed(400, kBadTarget);
  }
  http::Request& request = result_.request;
  if (!target.empty() && target[0] == '/') {  // origin-form
    SplitPathAndQuery(target, &request);
    return true;
  }
  if (target == "*") {  // asterisk-form: OPTIONS only (RFC 9112 §3.2.4)
    if (request.method != "OPTIONS") return Failed(400, kBadTarget);
    request.path = "*";
    return true;
  }
  // absolute-form (RFC 9112 §3.2.2): the authority stands for Host, and the
  // rest reads as origin-form, an empty path being "/" (RFC 9110 §4.2.1).
  const size_t scheme = SchemePrefix(target);
  if (scheme == 0) return Failed(400, kBadTarget);
  const std::string_view after = target.substr(scheme);
  const size_t path = after.find_first_of("/?");
  const std::string_view authority = after.substr(0, path);
  // An empty host is invalid (RFC 9110 §4.2.1); so is userinfo ('@').
  if (authority.empty() || authority[0] == ':' || !IsValidHost(authority)) {
    return Failed(400, kBadTarget);
  }
  const std::string_view rest = path == std::string_view::npos ? "" : after.substr(path);
  SplitPathAndQuery(rest, &request);
  if (request.path.empty()) request.path = "/";
  result_.absolute_form = true;
  result_.target_authority = std::string(authority);
  return true;
}

bool HttpHeadParser::ParseFieldLine(std::string_view line) {
  std::string_view name;
  std::string_view value;
  if (const char* error = SplitFieldLine(line, &name, &value)) return Failed(400, error);
  http::Headers& headers = result_.request.headers;
  // Room for a usual request's lines at once, not grown 1, 2, 4, 8 (freed
  // with the request, by Reset).
  if (headers.capacity() == 0) headers.reserve(kUsualHeaderLines);
  if (http::EqualsIgnoreCase(name, "Content-Length")) return AddContentLength(name, value);
  if (http::EqualsIgnoreCase(name, "Host") && ++result_.host_lines > 1) {
    return Failed(400, "More than one Host header");  // RFC 9112 §3.2
  }
  // Field lines with the same name form one comma-separated list (RFC 9110
  // §5.3), so "Connection: keep-alive" and "Connection: Upgrade" on two
  // lines read as one Connection field that lists both.
  const auto existing = FindHeader(&headers, name);
  if (existing == headers.end()) {
    headers.emplace_back(std::string(name), std::string(value));
  } else {
    existing->second.append(", ").append(value.data(), value.size());
  }
  return true;
}

bool HttpHeadParser::AddContentLength(std::string_view name, std::string_view value) {
  // One decimal value; a list of identical ones ("5, 5", or repeated lines)
  // is that value (RFC 9110 §8.6). Different ones leave the body length
  // ambiguous, a request smuggling vector: 400. Kept as one header: "5".
  for (;;) {
    const size_t comma = value.find(',');
    const std::string_view element = TrimOws(value.substr(0, comma));
    if (element.empty() || element.size() > kMaxContentLengthDigits ||
        element.find_first_not_of("0123456789") != std::string_view::npos) {
      return Failed(400, "Invalid Content-Length");
    }
    if (!result_.has_content_length) {
      result_.has_content_length = true;
      result_.request.headers.emplace_back(std::string(name), std::string(element));
      result_.content_length = std::stoull(std::string(element));
    } else if (element != FindHeader(&result_.request.headers, name)->second) {
      return Failed(400, "Conflicting Content-Length");
    }
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

bool HttpHeadParser::CheckSemantics() {
  http::Request& request = result_.request;
  const bool http11 = request.version_minor == 1;
  if (request.HasHeader("Transfer-Encoding")) {
    if (!CheckTransferEncoding(request.Header("Transfer-Encoding"))) return false;
  } else if (result_.has_content_length) {
    result_.framing = BodyFraming::kLength;
  }
  if (!CheckHost()) return false;
  if (http11 && request.HasHeader("Expect")) {
    // RFC 9110 §10.1.1; an HTTP/1.0 client cannot mean it, so it is ignored.
    if (!http::EqualsIgnoreCase(request.Header("Expect"), "100-continue")) {
      return Failed(417, "Expectation failed");
    }
    result_.expect_continue = true;
  }
  // RFC 9112 §9.3: HTTP/1.1 persists unless closed; HTTP/1.0 only by request.
  const std::string_view connection = request.Header("Connection");
  result_.keep_alive = !http::HasToken(connection, "close") &&
                       (http11 || http::HasToken(connection, "keep-alive"));
  // RFC 9110 §7.8: a server must ignore Upgrade received in HTTP/1.0.
  if (!http11) {
    const auto upgrade = FindHeader(&request.headers, "Upgrade");
    if (upgrade != request.headers.end()) request.headers.erase(upgrade);
  }
  return true;
}

bool HttpHeadParser::CheckTransferEncoding(std::string_view value) {
  // RFC 9112 §6.1: Transfer-Encoding is HTTP/1.1 only, and with it a
  // Content-Length is a smuggling attempt; a server may reject both.
  if (result_.request.version_minor == 0) {
    return Failed(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (result_.has_content_length) return Failed(400, "Content-Length with Transfer-Encoding");
  // RFC 9112 §6.3: chunked must be the final coding, applied once (else the
  // length cannot be known: 400); other codings are not implemented (501).
  std::string_view coding;
  int chunked = 0;
  bool others = false;
  bool last_is_chunked = false;
  while (NextListElement(&value, &coding)) {
    last_is_chunked = http::EqualsIgnoreCase(coding, "chunked");
    chunked += last_is_chunked ? 1 : 0;
    others = others || !last_is_chunked;
  }
  if (!last_is_chunked || chunked > 1) {
    return Failed(400, "Chunked must be the final transfer coding");
  }
  if (others) return Failed(501, "Transfer-Encoding not supported");
  result_.framing = BodyFraming::kChunked;
  return true;
}

bool HttpHeadParser::CheckHost() {
  // RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host (an empty one
  // is valid: the target may have no authority), and it must be valid even
  // when an absolute-form target's authority takes its place (§3.2.2).
  http::Request& request = result_.request;
  if (result_.host_lines == 0) {
    if (request.version_minor == 1) return Failed(400, "Missing Host header");
  } else if (!IsValidHost(request.Header("Host"))) {
    return Failed(400, "Invalid Host header");
  }
  request.host =
      result_.absolute_form ? result_.target_authority : std::string(request.Header("Host"));
  return true;
}

HttpHeadParser::State HttpHeadParser::Fail(int status, std::string reason) {
  state_ = State::kError;
  error_status_ = status;
  error_ = std::move(reason);
  result_ = Result();
  // The connection is closed after the error: keep none of the head.
  std::string().swap(buffer_);
  return state_;
}

bool HttpHeadParser::Failed(int status, std::string reason) {
  Fail(status, std::move(reason));
  return false;
}

void HttpHeadParser::Reset() {
  state_ = State::kNeedMore;
  // swap, not clear(): clear() keeps the capacity, and an idle keep-alive
  // connection should hold no memory.
  std::string().swap(buffer_);
  line_start_ = 0;
  saw_request_line_ = false;
  request_line_spaces_ = 0;
  target_bytes_ = 0;
  result_ = Result();
  error_status_ = 0;
  std::string().swap(error_);
}

}  // namespace notifyd::wire
