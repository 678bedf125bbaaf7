#include "wire/http_parser.h"


#include <utility>

namespace notifyd::wire {

namespace {

constexpr char kTooLarge[] = "Request header fields too large";

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// The next LF-terminated line of `head` from *pos, without its LF and the
// optional CR before it (RFC 9112 §2.2 lets a recipient accept a bare LF).
// False when no complete line is left.
bool NextLine(std::string_view head, size_t* pos, std::string_view* line) {
  size_t lf = head.find('\n', *pos);
  if (lf == std::string_view::npos) return false;
  *line = head.substr(*pos, lf - *pos);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *pos = lf + 1;
  return true;
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
  size_t lf = 0;
  for (size_t from = 0; (lf = take.find('\n', from)) != std::string_view::npos; from = lf + 1) {
    const size_t end = old_size + lf;  // the LF, as an offset in buffer_ + take
    const size_t length = end - line_start_;
    const bool empty = length == 0 || (length == 1 && byte_at(line_start_) == '\r');
    line_start_ = end + 1;
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

HttpHeadParser::State HttpHeadParser::Parse() {
  const std::string_view head = buffer_;
  size_t pos = 0;
  std::string_view line;

  // Feed() only calls this once a non-empty line and then an empty one are
  // buffered, but a missing line is still an error rather than a loop.
  do {
    if (!NextLine(head, &pos, &line)) return Fail(400, "Malformed request line");
  } while (line.empty());

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
  // exactly one SP each: anything else is not split leniently, since a
  // front-end that splits differently would see another request.
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(400, "Malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return Fail(400, "Malformed request line");
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(400, "Malformed request line");

  // Only origin-form: the daemon is not a proxy and has no OPTIONS *.
  if (target.empty() || target[0] != '/') return Fail(400, "Invalid request target");
  for (char c : target) {
    if (c < 0x21 || c > 0x7E) return Fail(400, "Invalid request target");
  }

  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !IsDigit(version[5]) ||
      version[6] != '.' || !IsDigit(version[7])) {
    return Fail(400, "Malformed request line");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Fail(505, "HTTP version not supported");
  }

  http::Request request;
  request.method = std::string(method);
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));

  bool has_content_length = false;
  bool has_transfer_encoding = false;
  std::string_view content_length;
  while (NextLine(head, &pos, &line) && !line.empty()) {
    if (request.headers.size() >= limits_.max_headers) return Fail(431, kTooLarge);
    // obs-fold (RFC 9112 §5.2), and whitespace after the request line
    // (§2.2), are rejected rather than unfolded: 400 is allowed for both.
    if (IsOws(line[0])) return Fail(400, "Obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Fail(400, "Malformed header field");
    // No whitespace before the colon (§5.1): a token check rejects it.
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Fail(400, "Malformed header field");
    const std::string_view value = TrimOws(line.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      // CR, LF and NUL among them: a value that carries them could split
      // into extra headers further down the line. obs-text (>= 0x80) is fine.
      if ((u < 0x20 && c != '\t') || u == 0x7F) return Fail(400, "Invalid header field value");
    }

    if (http::EqualsIgnoreCase(name, "Content-Length")) {
      // Identical repeats are harmless; different ones leave the body length
      // ambiguous (request smuggling). The value itself is checked by Api.
      if (has_content_length && value != content_length) {
        return Fail(400, "Conflicting Content-Length");
      }
      has_content_length = true;
      content_length = value;
    } else if (http::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      has_transfer_encoding = true;
    }
    request.headers.emplace_back(std::string(name), std::string(value));
  }
  // RFC 9112 §6.1: a sender must not send both; a server may reject it, and
  // does, since the body is read by Content-Length only.
  if (has_content_length && has_transfer_encoding) {
    return Fail(400, "Content-Length with Transfer-Encoding");
  }

  request_ = std::move(request);
  version_minor_ = version[7] - '0';
  state_ = State::kDone;
  // `head` and `content_length` point into buffer_: release it only now.
  std::string().swap(buffer_);
  return state_;
}

HttpHeadParser::State HttpHeadParser::Fail(int status, std::string reason) {
  state_ = State::kError;
  error_status_ = status;
  error_ = std::move(reason);
  request_ = http::Request();
  // The connection is closed after the error: keep none of the head.
  std::string().swap(buffer_);
  return state_;
}

void HttpHeadParser::Reset() {
  state_ = State::kNeedMore;
  // swap, not clear(): clear() keeps the capacity, and an idle keep-alive
  // connection should hold no memory.
  std::string().swap(buffer_);
  line_start_ = 0;
  saw_request_line_ = false;
  request_ = http::Request();
  version_minor_ = 1;
  error_status_ = 0;
  std::string().swap(error_);
}

}  // namespace notifyd::wire
