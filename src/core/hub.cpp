#include "core/hub.h"

#include <algorithm>

namespace notifyd::core {

Hub::Hub(const Clock& clock, IdSource ids) : clock_(clock), ids_(std::move(ids)) {}

const ClientInfo& Hub::Connect(Subscriber* subscriber) {
  ClientHandle handle = next_handle_++;
  ClientInfo& info = clients_[handle];
  info.handle = handle;
  info.id = ids_.NewUuid();
  info.connected_at_ms = clock_.WallMillis();
  info.subscriber = subscriber;
  ++totals_.connections_total;
  return info;
}

void Hub::Disconnect(ClientHandle handle) {
  auto it = clients_.find(handle);
  if (it == clients_.end()) return;
  for (const std::string& channel : it->second.subscriptions) {
    RemoveFromChannel(channel, &it->second);
  }
  clients_.erase(it);
}

SubscribeResult Hub::Subscribe(ClientHandle handle, const std::string& channel) {
  ClientInfo* client = FindMutable(handle);
  if (client == nullptr) return {};
  auto& subs = client->subscriptions;
  if (std::find(subs.begin(), subs.end(), channel) != subs.end()) {
    return {true, SubscriberCount(channel)};
  }
  if (subs.size() >= max_subscriptions_) return {false, SubscriberCount(channel)};
  subs.push_back(channel);
  std::vector<ClientInfo*>& members = channels_[channel];
  members.push_back(client);
  return {true, members.size()};
}

void Hub::Unsubscribe(ClientHandle handle, const std::string& channel) {
  ClientInfo* client = FindMutable(handle);
  if (client == nullptr) return;
  auto& subs = client->subscriptions;
  auto it = std::find(subs.begin(), subs.end(), channel);
  if (it == subs.end()) return;
  subs.erase(it);
  RemoveFromChannel(channel, client);
}

void Hub::SetName(ClientHandle handle, std::string name) {
  if (ClientInfo* client = FindMutable(handle)) client->name = std::move(name);
}

size_t Hub::Deliver(const std::string& channel, const FramePtr& frame, bool count_publish) {
  if (count_publish) ++totals_.published_total;
  auto it = channels_.find(channel);
  if (it == channels_.end()) return 0;
  size_t delivered = 0;
  for (ClientInfo* client : it->second) {
    if (client->subscriber->Deliver(frame)) ++delivered;
  }
  totals_.delivered_total += delivered;
  return delivered;
}

bool Hub::DeliverTo(ClientHandle handle, const FramePtr& frame) {
  const ClientInfo* client = Find(handle);
  if (client == nullptr || !client->subscriber->Deliver(frame)) return false;
  ++totals_.delivered_total;
  return true;
}

const ClientInfo* Hub::Find(ClientHandle handle) const {
  auto it = clients_.find(handle);
  return it == clients_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, size_t>> Hub::ChannelCounts() const {
  std::vector<std::pair<std::string, size_t>> out;
  out.reserve(channels_.size());
  for (const auto& [name, members] : channels_) out.emplace_back(name, members.size());
  return out;
}

size_t Hub::SubscriberCount(const std::string& channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.size();
}

HubStats Hub::stats() const {
  HubStats s = totals_;
  s.connections = clients_.size();
  s.channels = channels_.size();
  return s;
}

ClientInfo* Hub::FindMutable(ClientHandle handle) {
  auto it = clients_.find(handle);
  return it == clients_.end() ? nullptr : &it->second;
}

void Hub::RemoveFromChannel(const std::string& channel, ClientInfo* client) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  auto& members = it->second;
  // Erase (not swap-and-pop) keeps delivery order stable for the others.
  members.erase(std::remove(members.begin(), members.end(), client), members.end());
  if (members.empty()) channels_.erase(it);
}

}  // namespace notifyd::core
