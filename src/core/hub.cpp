#include "core/hub.h"

#include <algorithm>

namespace notifyd::core {

Hub::Hub(const Clock& clock, const NotificationEncoder& encoder, IdSource ids)
    : clock_(clock), encoder_(encoder), ids_(std::move(ids)), node_prefix_(ids_.NewHex64()) {}

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

PublishResult Hub::Publish(const std::string& channel, std::string title, std::string body,
                           std::string data_json) {
  Notification n{channel,           node_prefix_ + "-" + std::to_string(next_sequence_++),
                 clock_.WallMillis(), std::move(title), std::move(body), std::move(data_json)};
  PublishResult result{n.id, 0};
  ++totals_.published_total;
  auto it = channels_.find(channel);
  if (it == channels_.end()) return result;
  auto frame = std::make_shared<const Frame>(encoder_.Encode(n));
  for (ClientInfo* client : it->second) {
    if (client->subscriber->Deliver(frame)) ++result.delivered;
  }
  totals_.delivered_total += result.delivered;
  return result;
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
