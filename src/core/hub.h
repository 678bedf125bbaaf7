// The hub: connected clients, channels, subscriptions and publishing. It is
// the one place every notification goes through (the seam where a history
// store or a cluster engine will sit), it never sees a socket, and it runs on
// the daemon's single event-loop thread, so it has no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/ids.h"

namespace notifyd::core {

/// A notification as published, before encoding.
struct Notification {
  std::string channel;
  std::string id;            ///< Opaque, unique within the channel, also across restarts.
  int64_t timestamp_ms = 0;  ///< Wall clock, ms since the epoch.
  std::string title;
  std::string body;
  std::string data_json;  ///< A JSON object as compact text, or empty for "no data".
};

/// Turns a notification into its wire text; implemented by protocol/.
class NotificationEncoder {
 public:
  virtual ~NotificationEncoder() = default;
  virtual std::string Encode(const Notification& n) const = 0;
};

using ClientHandle = uint64_t;

struct ClientInfo {
  ClientHandle handle = 0;
  std::string id;                           ///< UUID v4, sent in `welcome`.
  std::optional<std::string> name;          ///< Set by `set_name`.
  int64_t connected_at_ms = 0;              ///< Wall clock.
  std::vector<std::string> subscriptions;   ///< In the order subscribed.
  Subscriber* subscriber = nullptr;         ///< Not owned.
};

struct SubscribeResult {
  bool ok = false;                ///< False: the per-client subscription limit is reached.
  size_t subscriber_count = 0;    ///< The channel's subscribers after the change.
};

struct PublishResult {
  std::string id;
  size_t delivered = 0;
};

struct HubStats {
  size_t connections = 0;
  size_t channels = 0;
  uint64_t connections_total = 0;
  uint64_t published_total = 0;
  uint64_t delivered_total = 0;
};

class Hub {
 public:
  /// `ids` supplies client ids and this process's notification-id prefix.
  Hub(const Clock& clock, const NotificationEncoder& encoder, IdSource ids = IdSource());
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// Limit on channels per client; applies to later subscribes.
  void set_max_subscriptions_per_client(size_t n) { max_subscriptions_ = n; }

  /// Registers a client; `subscriber` must stay valid until Disconnect.
  const ClientInfo& Connect(Subscriber* subscriber);
  /// Removes the client from every channel; empty channels disappear.
  void Disconnect(ClientHandle handle);

  /// REQUIRES: IsValidChannelName(channel). Subscribing twice is harmless.
  SubscribeResult Subscribe(ClientHandle handle, const std::string& channel);
  /// Harmless when the client is not subscribed.
  void Unsubscribe(ClientHandle handle, const std::string& channel);
  void SetName(ClientHandle handle, std::string name);

  /// Encodes once and hands the same frame to every subscriber, in
  /// subscription order. REQUIRES: IsValidChannelName(channel), valid UTF-8.
  PublishResult Publish(const std::string& channel, std::string title, std::string body,
                        std::string data_json);

  /// nullptr when unknown.
  const ClientInfo* Find(ClientHandle handle) const;
  /// All clients in connection order.
  const std::map<ClientHandle, ClientInfo>& clients() const { return clients_; }
  /// Channel name -> subscriber count, sorted by name.
  std::vector<std::pair<std::string, size_t>> ChannelCounts() const;
  size_t SubscriberCount(const std::string& channel) const;
  HubStats stats() const;

 private:
  ClientInfo* FindMutable(ClientHandle handle);
  void RemoveFromChannel(const std::string& channel, ClientInfo* client);

  const Clock& clock_;
  const NotificationEncoder& encoder_;
  IdSource ids_;
  const std::string node_prefix_;
  size_t max_subscriptions_ = 256;
  ClientHandle next_handle_ = 1;
  uint64_t next_sequence_ = 1;
  std::map<ClientHandle, ClientInfo> clients_;
  std::map<std::string, std::vector<ClientInfo*>> channels_;
  HubStats totals_;
};

}  // namespace notifyd::core
