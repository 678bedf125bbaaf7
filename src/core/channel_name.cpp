#include "core/channel_name.h"

namespace notifyd::core {

namespace {
bool IsChannelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.' || c == ':' || c == '@';
}
}  // namespace

bool IsValidChannelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxChannelNameBytes) return false;
  for (char c : name) {
    if (!IsChannelChar(c)) return false;
  }
  return true;
}

}  // namespace notifyd::core
