#include "core/checkins.h"

#include <utility>

namespace notifyd::core {

Checkins::Checkins(Broker& broker, const Clock& clock) : broker_(broker), clock_(clock) {}

void Checkins::Restore(std::vector<StoredCheckin> stored) {
  for (StoredCheckin& c : stored) {
    std::string name = c.name;
    checkins_[std::move(name)] = std::move(c);
  }
}

StoredCheckin Checkins::CheckIn(const std::string& name, const Update& update) {
  auto [it, added] = checkins_.try_emplace(name);
  StoredCheckin& c = it->second;
  if (added) {
    c.name = name;
    c.channel = kDefaultChannel;
    c.every_s = kDefaultEvery;
    c.grace_s = kDefaultGrace;
  }
  if (update.every_s) c.every_s = *update.every_s;
  if (update.grace_s) c.grace_s = *update.grace_s;
  if (update.channel) c.channel = *update.channel;
  c.last_ms = clock_.WallMillis();
  if (c.late) {
    c.late = false;
    Announce(c, /*late=*/false);
  }
  Save(c);
  return c;
}

bool Checkins::Remove(const std::string& name) {
  auto it = checkins_.find(name);
  if (it == checkins_.end()) return false;
  if (HistoryStore* store = broker_.store()) {
    StoreOp op;
    op.kind = StoreOp::Kind::kDropCheckin;
    op.checkin.name = name;
    store->Submit(std::move(op));
  }
  checkins_.erase(it);
  return true;
}

std::vector<StoredCheckin> Checkins::List() const {
  std::vector<StoredCheckin> out;
  out.reserve(checkins_.size());
  for (const auto& [name, c] : checkins_) out.push_back(c);
  return out;
}

void Checkins::Sweep() {
  const int64_t now = clock_.WallMillis();
  for (auto& [name, c] : checkins_) {
    if (c.late || now <= DueMs(c) + c.grace_s * 1000) continue;
    c.late = true;
    Announce(c, /*late=*/true);
    Save(c);
  }
}

const StoredCheckin* Checkins::Find(const std::string& name) const {
  auto it = checkins_.find(name);
  return it == checkins_.end() ? nullptr : &it->second;
}

size_t Checkins::CountLate() const {
  size_t late = 0;
  for (const auto& [name, c] : checkins_) late += c.late ? 1 : 0;
  return late;
}

void Checkins::Announce(const StoredCheckin& c, bool late) {
  const char* status = late ? "late" : "back";
  // Names follow the channel-name rules (A-Z a-z 0-9 _ - . : @), so they
  // need no escaping in JSON text.
  const std::string last = FormatIso8601(c.last_ms);
  std::string data = "{\"checkin\":\"" + c.name + "\",\"status\":\"" + status +
                     "\",\"last\":\"" + last + "\"}";
  std::string title = c.name + (late ? " is late" : " is back");
  std::string body = late
                         ? "no check-in since " + last + " (every " + std::to_string(c.every_s) +
                               " s, grace " + std::to_string(c.grace_s) + " s)"
                         : "checked in at " + last;
  // The outcome does not matter here: a refused publish (the store cannot
  // write) is counted by the broker and said in the journal by the daemon.
  broker_.Publish(c.channel, {std::move(title), std::move(body), std::move(data)}, "",
                  [] { return PublishDone([](const PublishOutcome&) {}); });
}

void Checkins::Save(const StoredCheckin& c) {
  HistoryStore* store = broker_.store();
  if (store == nullptr) return;
  StoreOp op;
  op.kind = StoreOp::Kind::kCheckin;
  op.checkin = c;
  store->Submit(std::move(op));
}

}  // namespace notifyd::core
