// The messages of /ws sessions (PROTOCOL.md: subscribe, unsubscribe,
// set_name, list_subscriptions, ping, pong, and the error replies), handled
// socket-free as Api handles HTTP requests: the transport hands over each
// complete message of a session registered with the hub and sends back the
// text returned. Runs on the daemon's single event-loop thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/broker.h"
#include "core/clock.h"
#include "core/counters.h"
#include "core/hub.h"
#include "protocol/messages.h"

namespace notifyd::http {

/// Handles the messages of /ws sessions, socket-free (as Api handles HTTP
/// requests). Borrows the hub, the clock and the counters, which must outlive it.
class SessionApi {
 public:
  SessionApi(core::Hub& hub, core::Broker& broker, const core::Clock& clock,
             core::Counters& counters);
  SessionApi(const SessionApi&) = delete;
  SessionApi& operator=(const SessionApi&) = delete;

  /// Takes max_subscriptions_per_client (also set on the hub, so the limit
  /// and the error text naming it agree) and max_name_bytes; called again on
  /// reload, when they apply to the next message.
  void Configure(const config::Config& config);

  /// What to send back for one message.
  struct Reply {
    std::optional<std::string> text;  ///< The reply, if any.
    /// A resumed subscribe's missed notifications, oldest first: to be
    /// delivered right after `text` (Hub::DeliverTo), before anything live.
    std::vector<core::FramePtr> replay;
  };

  /// Handles one complete message of session `handle` (a client connected to
  /// the hub): the binary-frame error for a binary message, an error JSON for
  /// a protocol error or a refused request, the reply for a request (and a
  /// resume's replay), nothing for a pong or for a subscribe that waits for
  /// the cluster engine (its reply and replay are delivered when it comes). Counts refusals in the counters.
  /// Never throws for bad input.
  Reply HandleMessage(core::ClientHandle handle, bool text, std::string_view payload);

 private:
  std::optional<std::string> Handle(core::ClientHandle handle, const protocol::Request& request,
                                    std::vector<core::FramePtr>* replay);
  /// Nullopt when the answer comes later (delivered then with Hub::DeliverTo).
  std::optional<std::string> Subscribe(core::ClientHandle handle,
                                       const protocol::Request& request,
                                       std::vector<core::FramePtr>* replay);
  std::string Subscribed(core::ClientHandle handle, const protocol::Request& request,
                         size_t subscriber_count, core::ResumeResult resume,
                         std::vector<core::FramePtr>* replay);
  std::string SetName(core::ClientHandle handle, const protocol::Request& request);
  /// The client's id for log lines, or "?" when the handle is unknown.
  std::string ClientId(core::ClientHandle handle) const;

  core::Hub& hub_;
  core::Broker& broker_;
  const core::Clock& clock_;
  core::Counters& counters_;
  size_t max_subscriptions_ = 256;
  size_t max_name_bytes_ = 128;
};

}  // namespace notifyd::http
