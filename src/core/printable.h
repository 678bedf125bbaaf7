// SHIM
#pragma once
#include <string>
#include <string_view>
namespace notifyd::core {
inline std::string Printable(std::string_view s, size_t = 200) { return std::string(s); }
}
