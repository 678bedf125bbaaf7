// ScopedEnv: sets or unsets an environment variable for one scope and puts
// the old value back when the scope ends, for tests of settings read from the
// environment. Not thread-safe (neither is setenv).
#pragma once

#include <stdlib.h>

#include <optional>
#include <string>

namespace notifyd::testing_support {

/// Sets `name` to `value` (unsets it when `value` is nullptr) until destroyed.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace notifyd::testing_support
