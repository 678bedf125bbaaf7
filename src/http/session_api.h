// SHIM
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include "config/config.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
namespace notifyd::http {
class SessionApi {
 public:
  SessionApi(core::Hub&, const core::Clock&, core::Counters&) {}
  void Configure(const config::Config&) {}
  std::optional<std::string> HandleMessage(core::ClientHandle, bool, std::string_view) { return std::nullopt; }
};
}
