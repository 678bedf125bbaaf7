// Prints what notifyd's HTTP/1.1 reading code makes of raw request bytes, for
// the differential test (differential_http.py), which compares it with an
// independent parser.
//
// Input (stdin): cases, each "<decimal byte count>\n" then that many bytes.
// Output (stdout): per case one JSON line, a list of events as a keep-alive
// connection would see them: every request read whole ({"method", "path",
// "query", "host", "version", "headers": [[name, value], ...], "body",
// "keep_alive", "expect_continue"}), then, if reading stopped early,
// {"error": status, "reason": text} or {"incomplete": true}. Reading stops
// after a request that does not keep the connection alive. Strings carry
// bytes as code points U+0000-U+00FF (Latin-1).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "wire/chunked_decoder.h"
#include "wire/http_parser.h"

namespace {

using namespace notifyd;

constexpr size_t kMaxBodyBytes = 1 << 20;

std::string Json(std::string_view bytes) {
  std::string out = "\"";
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += c;
    } else if (u >= 0x20 && u < 0x7F) {
      out += c;
    } else {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", u);
      out += escape;
    }
  }
  return out + "\"";
}

std::string RequestJson(const wire::HttpHeadParser& parser, const http::Request& r) {
  std::string out = "{\"method\":" + Json(r.method) + ",\"path\":" + Json(r.path) +
                    ",\"query\":" + Json(r.query) + ",\"host\":" + Json(r.host) +
                    ",\"version\":" + std::to_string(r.version_minor) + ",\"headers\":[";
  for (size_t i = 0; i < r.headers.size(); ++i) {
    out += (i ? ",[" : "[") + Json(r.headers[i].first) + "," + Json(r.headers[i].second) + "]";
  }
  out += "],\"body\":" + Json(r.body);
  out += std::string(",\"keep_alive\":") + (parser.keep_alive() ? "true" : "false");
  out += std::string(",\"expect_continue\":") + (parser.expect_continue() ? "true" : "false");
  return out + "}";
}

std::string ErrorJson(int status, const std::string& reason) {
  return "{\"error\":" + std::to_string(status) + ",\"reason\":" + Json(reason) + "}";
}

// Reads the body that `parser` framed from the front of *rest into the
// request. Returns "" when it is complete, else the event that ends the case.
std::string ReadBody(wire::HttpHeadParser& parser, std::string_view* rest) {
  http::Request& request = parser.request();
  if (parser.framing() == wire::HttpHeadParser::BodyFraming::kLength) {
    if (rest->size() < parser.content_length()) return "{\"incomplete\":true}";
    request.body = std::string(rest->substr(0, parser.content_length()));
    rest->remove_prefix(parser.content_length());
  } else if (parser.framing() == wire::HttpHeadParser::BodyFraming::kChunked) {
    wire::ChunkedDecoder decoder(kMaxBodyBytes);
    size_t consumed = 0;
    const auto state = decoder.Feed(*rest, &consumed, &request.body);
    if (state == wire::ChunkedDecoder::State::kError) {
      return ErrorJson(decoder.error_status(), decoder.error());
    }
    if (state == wire::ChunkedDecoder::State::kNeedMore) return "{\"incomplete\":true}";
    rest->remove_prefix(consumed);
  }
  return "";
}

std::string Verdict(std::string_view rest) {
  std::string events;
  auto add = [&events](const std::string& event) { events += (events.empty() ? "" : ",") + event; };
  wire::HttpHeadParser parser;
  while (!rest.empty()) {
    parser.Reset();
    size_t consumed = 0;
    const auto state = parser.Feed(rest, &consumed);
    rest.remove_prefix(consumed);
    if (state == wire::HttpHeadParser::State::kError) {
      add(ErrorJson(parser.error_status(), parser.error()));
      break;
    }
    if (state == wire::HttpHeadParser::State::kNeedMore) {
      add("{\"incomplete\":true}");
      break;
    }
    const std::string end = ReadBody(parser, &rest);
    if (!end.empty()) {
      add(end);
      break;
    }
    add(RequestJson(parser, parser.request()));
    if (!parser.keep_alive()) break;
  }
  return "[" + events + "]";
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string_view rest = input;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) return 2;
    const size_t size = std::stoul(std::string(rest.substr(0, newline)));
    rest.remove_prefix(newline + 1);
    if (size > rest.size()) return 2;
    std::cout << Verdict(rest.substr(0, size)) << '\n';
    rest.remove_prefix(size);
  }
  return 0;
}
