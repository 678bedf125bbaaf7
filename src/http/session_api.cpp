#include "http/session_api.h"

#include <algorithm>
#include <memory>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/printable.h"

namespace notifyd::http {

using protocol::ErrorCode;
using protocol::ProtocolError;
using protocol::Request;
using protocol::RequestType;

SessionApi::SessionApi(core::Hub& hub, core::Broker& broker, const core::Clock& clock,
                       core::Counters& counters)
    : hub_(hub), broker_(broker), clock_(clock), counters_(counters) {}

void SessionApi::Configure(const config::Config& config) {
  max_subscriptions_ = config.max_subscriptions_per_client;
  max_name_bytes_ = config.max_name_bytes;
  hub_.set_max_subscriptions_per_client(max_subscriptions_);
}

SessionApi::Reply SessionApi::HandleMessage(core::ClientHandle handle, bool text,
                                            std::string_view payload) {
  Reply reply;
  if (!text) {
    reply.text = protocol::EncodeError(protocol::BinaryFrameError());
    return reply;
  }
  protocol::ParseResult parsed = protocol::ParseRequest(payload);
  if (const auto* error = std::get_if<ProtocolError>(&parsed)) {
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("client {}: {} ({})", ClientId(handle), core::Printable(error->message),
                    protocol::ErrorCodeName(error->code));
    }
    ++counters_.protocol_errors;
    if (error->code == ErrorCode::kInvalidChannel) ++counters_.invalid_channels;
    reply.text = protocol::EncodeError(*error);
    return reply;
  }
  reply.text = Handle(handle, std::get<Request>(parsed), &reply.replay);
  return reply;
}

std::optional<std::string> SessionApi::Handle(core::ClientHandle handle, const Request& request,
                                              std::vector<core::FramePtr>* replay) {
  switch (request.type) {
    case RequestType::kSubscribe:
      return Subscribe(handle, request, replay);
    case RequestType::kUnsubscribe:
      hub_.Unsubscribe(handle, request.channel);
      return protocol::EncodeUnsubscribed(request.channel, request.id_json);
    case RequestType::kSetName:
      return SetName(handle, request);
    case RequestType::kListSubscriptions: {
      const core::ClientInfo* info = hub_.Find(handle);
      return protocol::EncodeSubscriptions(
          info ? info->subscriptions : std::vector<std::string>{}, request.id_json);
    }
    case RequestType::kPing:
      return protocol::EncodePong(clock_.WallMillis(), request.id_json);
    case RequestType::kPong:
      break;  // the transport notes that the client is alive
  }
  return std::nullopt;
}

std::optional<std::string> SessionApi::Subscribe(core::ClientHandle handle,
                                                 const Request& request,
                                                 std::vector<core::FramePtr>* replay) {
  core::SubscribeResult result = hub_.Subscribe(handle, request.channel);
  if (!result.ok) {
    ++counters_.subscriptions_over_limit;
    return protocol::EncodeError({ErrorCode::kLimitExceeded,
                                  "Subscription limit reached: at most " +
                                      std::to_string(max_subscriptions_) + " channels per client",
                                  request.id_json});
  }
  // Subscribed first, then the replay is read: on this one thread nothing
  // can be published in between, so every notification reaches the client
  // exactly once, from the replay or live. When the cluster engine must be
  // asked first, the broker delivers nothing live on the channel before the
  // answer, which is sent then.
  std::optional<core::ResumeResult> resume =
      broker_.Resume(request.channel, request.since, [&] {
        return [this, handle, request, count = result.subscriber_count](core::ResumeResult later) {
          const core::ClientInfo* info = hub_.Find(handle);
          if (info == nullptr) return;  // gone meanwhile
          const auto& subs = info->subscriptions;
          if (std::find(subs.begin(), subs.end(), request.channel) == subs.end()) return;
          std::vector<core::FramePtr> frames;
          std::string text = Subscribed(handle, request, count, std::move(later), &frames);
          hub_.DeliverTo(handle, std::make_shared<const core::Frame>(std::move(text)));
          for (const core::FramePtr& frame : frames) hub_.DeliverTo(handle, frame);
        };
      });
  if (!resume) return std::nullopt;
  return Subscribed(handle, request, result.subscriber_count, std::move(*resume), replay);
}

std::string SessionApi::Subscribed(core::ClientHandle handle, const Request& request,
                                   size_t subscriber_count, core::ResumeResult resume,
                                   std::vector<core::FramePtr>* replay) {
  if (resume.unavailable) {
    hub_.Unsubscribe(handle, request.channel);
    spdlog::debug("client {}: resume of {} refused: {}", ClientId(handle),
                  core::Printable(request.channel), resume.error);
    return protocol::EncodeError({ErrorCode::kBrokerUnavailable,
                                  "Broker unavailable: cannot resume " + request.channel +
                                      " now (" + resume.error + "); try again",
                                  request.id_json});
  }
  protocol::Subscribed reply;
  reply.channel = request.channel;
  reply.subscriber_count = subscriber_count;
  if (const core::ClusterEngine* engine = broker_.engine()) {
    reply.subscriber_count += engine->RemoteSubscribers(request.channel);
  }
  reply.epoch = resume.epoch;
  reply.seq = resume.top;
  if (request.since) {
    reply.with_since = true;
    reply.recovered = resume.recovery.recovered;
    reply.missed = resume.recovery.missed;
    *replay = std::move(resume.frames);
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    if (request.since) {
      spdlog::debug("client {} subscribed to {} since {}:{}: {} ({} missed)", ClientId(handle),
                    core::Printable(request.channel), core::Printable(request.since->epoch),
                    request.since->seq, reply.recovered ? "recovered" : "not recovered",
                    reply.missed);
    } else {
      spdlog::debug("client {} subscribed to {}", ClientId(handle),
                    core::Printable(request.channel));
    }
  }
  return protocol::EncodeSubscribed(reply, request.id_json);
}

std::string SessionApi::SetName(core::ClientHandle handle, const Request& request) {
  if (request.name.size() > max_name_bytes_) {
    ++counters_.names_too_long;
    return protocol::EncodeError(
        {ErrorCode::kLimitExceeded,
         "Name too long: at most " + std::to_string(max_name_bytes_) + " bytes", request.id_json});
  }
  hub_.SetName(handle, request.name);
  return protocol::EncodeNameSet(request.name, request.id_json);
}

std::string SessionApi::ClientId(core::ClientHandle handle) const {
  const core::ClientInfo* info = hub_.Find(handle);
  return info ? info->id : "?";
}

}  // namespace notifyd::http
