// SHIM
#pragma once
#include <string>
#include <string_view>
#include "http/router.h"
namespace notifyd::wire {
const char* ReasonPhrase(int status);
std::string SerializeResponse(const http::Response& r, bool head_only, std::string_view date);
std::string HttpDate(int64_t wall_ms);
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";
}
