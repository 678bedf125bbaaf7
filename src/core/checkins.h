// Check-ins, a dead-man's switch for cron jobs and backups (PROTOCOL.md
// Part 2 "Check-ins"): a job checks in under a name; when `every + grace`
// seconds pass without the next check-in, "<name> is late" is published to
// the check-in's channel, once per lateness, and the next check-in publishes
// "<name> is back". Publishes go through the Broker like any other, and with
// a history store the check-ins survive a restart. Runs on the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/broker.h"
#include "core/clock.h"
#include "core/history_store.h"

namespace notifyd::core {

class Checkins {
 public:
  static constexpr int64_t kDefaultEvery = 86400;
  static constexpr int64_t kDefaultGrace = 3600;
  static constexpr const char* kDefaultChannel = "checkins";
  /// Longest `every` or `grace` accepted, in seconds (a year).
  static constexpr int64_t kMaxSeconds = 31536000;

  /// What a check-in may change; absent values keep the stored ones (or the
  /// defaults for a new name).
  struct Update {
    std::optional<int64_t> every_s;
    std::optional<int64_t> grace_s;
    std::optional<std::string> channel;
  };

  Checkins(Broker& broker, const Clock& clock);
  Checkins(const Checkins&) = delete;
  Checkins& operator=(const Checkins&) = delete;

  /// Takes what the store kept (call after Broker::AttachStore) and writes
  /// later changes through the broker's store.
  void Restore(std::vector<StoredCheckin> stored);

  /// Records a check-in of `name` now (REQUIRES: valid name and channel, every
  /// 1..kMaxSeconds, grace 0..kMaxSeconds); publishes "<name> is back" when
  /// it was late. Returns the check-in as it now is.
  StoredCheckin CheckIn(const std::string& name, const Update& update);
  /// False when there is no such check-in.
  bool Remove(const std::string& name);
  /// Sorted by name.
  std::vector<StoredCheckin> List() const;
  /// The check-in named `name`, or nullptr.
  const StoredCheckin* Find(const std::string& name) const;
  /// How many are late.
  size_t CountLate() const;
  size_t size() const { return checkins_.size(); }
  /// When the next check-in of `c` is due (wall ms): last + every.
  static int64_t DueMs(const StoredCheckin& c) { return c.last_ms + c.every_s * 1000; }

  /// Publishes "late" for every check-in past due + grace. About once a second.
  void Sweep();

 private:
  void Announce(const StoredCheckin& c, bool late);
  void Save(const StoredCheckin& c);

  Broker& broker_;
  const Clock& clock_;
  std::map<std::string, StoredCheckin> checkins_;
};

}  // namespace notifyd::core
