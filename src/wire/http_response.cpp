#include "wire/http_response.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace notifyd::wire {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string SerializeResponse(const http::Response& r, bool head_only, std::string_view date,
                              BodyLength length) {
  std::string out;
  out.reserve(160 + r.body.size() + 64 * r.headers.size() +
              (r.shared_headers ? r.shared_headers->size() : 0));
  out += "HTTP/1.1 ";
  char status[12];
  char* status_end = std::to_chars(status, status + sizeof status, r.status).ptr;
  out.append(status, static_cast<size_t>(status_end - status));
  out += ' ';
  out += ReasonPhrase(r.status);
  out += "\r\nServer: notifyd\r\n";
  if (!date.empty()) out.append("Date: ").append(date).append("\r\n");
  for (const auto& [name, value] : r.headers) {
    if (http::EqualsIgnoreCase(name, "Content-Length")) continue;
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (r.shared_headers) out += *r.shared_headers;
  // RFC 9110 §8.6: no Content-Length in a 1xx or 204 response, nor in a 304,
  // where it would have to be the length of the body the 200 would carry.
  if (length == BodyLength::kContentLength && r.status >= 200 && r.status != 204 &&
      r.status != 304) {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, r.body.size()).ptr;
    out.append("Content-Length: ").append(digits, static_cast<size_t>(end - digits)).append("\r\n");
  }
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

std::string HttpDate(int64_t wall_ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Whole seconds, rounded down also before the epoch.
  const int64_t seconds = wall_ms / 1000 - (wall_ms % 1000 < 0 ? 1 : 0);
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

}  // namespace notifyd::wire
