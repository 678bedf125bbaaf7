// SHIM
#include "wire/http_response.h"
namespace notifyd::wire {
const char* ReasonPhrase(int) { return "X"; }
std::string SerializeResponse(const http::Response& r, bool head_only, std::string_view date) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nServer: notifyd\r\nDate: " + std::string(date) + "\r\n";
  for (const auto& [k, v] : r.headers) { if (http::EqualsIgnoreCase(k, "Content-Length")) continue; out += k + ": " + v + "\r\n"; }
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
  if (!head_only) out += r.body;
  return out;
}
std::string HttpDate(int64_t) { return "Thu, 01 Jan 1970 00:00:00 GMT"; }
}
