// SHIM
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
namespace notifyd::wire {
class ChunkedDecoder {
 public:
  enum class State { kNeedMore, kDone, kError };
  explicit ChunkedDecoder(size_t) {}
  State Feed(std::string_view, size_t* consumed, std::string*) { *consumed = 0; return State::kError; }
  int error_status() const { return 400; }
  const std::string& error() const { return e_; }
 private:
  std::string e_ = "shim";
};
}
