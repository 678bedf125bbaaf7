// The hub: connected clients, channels, subscriptions and delivery. The
// Broker stamps every notification with its position and hands the hub the
// encoded frame; the hub gives it to every subscriber of the channel. It
// never sees a socket, and it runs on the daemon's single event-loop thread,
// so it has no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/ids.h"

namespace notifyd::core {

/// A notification as published, before encoding.
struct Notification {
  std::string channel;
  std::string id;            ///< "E:N": its position, opaque to clients.
  uint64_t seq = 0;          ///< Its place in the channel's stream, 1, 2, 3, ...
  std::string epoch;         ///< The stream's name.
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
  /// The `resync` push: the channel's stream is now (epoch, top), and what
  /// came between cannot be replayed (reason "epoch_changed" or "gap").
  virtual std::string EncodeResync(const std::string& channel, const std::string& epoch,
                                   uint64_t top, std::string_view reason) const = 0;
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

struct HubStats {
  size_t connections = 0;
  size_t channels = 0;
  uint64_t connections_total = 0;
  uint64_t published_total = 0;
  uint64_t delivered_total = 0;
};

class Hub {
 public:
  /// `ids` supplies client ids.
  explicit Hub(const Clock& clock, IdSource ids = IdSource());
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

  /// Hands one published frame to every subscriber of `channel`, in
  /// subscription order, and counts the publish (unless `count_publish` is
  /// false: in a cluster a publish is counted by the node that took it, not
  /// by every node that delivers it); returns how many queued it.
  size_t Deliver(const std::string& channel, const FramePtr& frame, bool count_publish = true);
  /// Counts a publish that is not delivered here (no subscriber to hand it
  /// to, nothing encoded; or, in a cluster, delivered when it comes back).
  void CountUndelivered() { ++totals_.published_total; }
  /// Hands `frame` to one client (a resume's replay); true when it queued it.
  bool DeliverTo(ClientHandle handle, const FramePtr& frame);

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
  IdSource ids_;
  size_t max_subscriptions_ = 256;
  ClientHandle next_handle_ = 1;
  std::map<ClientHandle, ClientInfo> clients_;
  std::map<std::string, std::vector<ClientInfo*>> channels_;
  HubStats totals_;
};

}  // namespace notifyd::core
