#include "cli/resume_tracker.h"

#include <utility>

#include "cli/position_text.h"

namespace notifyd::cli {
namespace {

std::string Count(uint64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The server's position in a subscribed or resync message, when it gave one.
std::optional<core::Position> ServerPosition(const StreamMessage& message) {
  if (!message.epoch || !message.seq) return std::nullopt;
  return core::Position{*message.epoch, *message.seq};
}

// Why a resume from `since` failed, as far as the reply tells.
std::string CannotResumeReason(const core::Position& since,
                               const std::optional<core::Position>& now) {
  if (!now) return "the server did not say where the channel stands";
  if (now->epoch != since.epoch) {
    return "the channel's stream was restarted as epoch " + now->epoch;
  }
  if (since.seq > now->seq) return "the server's latest is " + PositionText(*now);
  return "history does not reach back";
}

std::string ResumeLine(const std::string& channel, const core::Position& since,
                       const StreamMessage& message) {
  std::optional<core::Position> now = ServerPosition(message);
  if (!message.recovered) {
    return channel + ": the server ignored the resume from " + PositionText(since) +
           " (no \"recovered\" in its answer); notifications may have been missed";
  }
  if (*message.recovered) {
    return "resumed " + channel + ": recovered " +
           Count(message.missed.value_or(0), "missed notification");
  }
  return channel + ": cannot resume from " + PositionText(since) + " (" +
         CannotResumeReason(since, now) + "); reloading is up to you";
}

}  // namespace

void ResumeTracker::Add(const std::string& channel, std::optional<core::Position> start) {
  channels_[channel].last = std::move(start);
}

void ResumeTracker::Remove(const std::string& channel) { channels_.erase(channel); }

bool ResumeTracker::Has(const std::string& channel) const { return channels_.count(channel) > 0; }

std::optional<core::Position> ResumeTracker::BeginSubscribe(const std::string& channel) {
  ChannelState& state = channels_[channel];
  state.sent_since = state.last;
  state.subscribe_pending = true;
  return state.sent_since;
}

std::string ResumeTracker::OnSubscribed(const StreamMessage& message) {
  ChannelState* state = Find(message.channel);
  if (state == nullptr || !state->subscribe_pending) return "";
  state->subscribe_pending = false;
  std::optional<core::Position> now = ServerPosition(message);
  std::optional<core::Position> since = std::exchange(state->sent_since, std::nullopt);
  bool replaying = since && message.recovered.value_or(false);
  if (!replaying && now) state->last = now;
  if (since) return ResumeLine(*message.channel, *since, message);
  return "subscribed to " + *message.channel + (now ? " at " + PositionText(*now) : "");
}

ResumeTracker::Delivery ResumeTracker::OnNotification(const StreamMessage& message,
                                                      std::string* note) {
  note->clear();
  ChannelState* state = Find(message.channel);
  if (state == nullptr || !message.epoch || !message.seq) return Delivery::kPrint;
  core::Position position{*message.epoch, *message.seq};
  std::optional<core::Position> last = std::exchange(state->last, position);
  if (!last) return Delivery::kPrint;
  if (last->epoch != position.epoch) {
    *note = *message.channel + ": the stream moved from epoch " + last->epoch + " to " +
            position.epoch + " without a resync; notifications may have been missed";
  } else if (position.seq <= last->seq) {
    state->last = last;
    return Delivery::kDuplicate;
  } else if (position.seq > last->seq + 1) {
    *note = *message.channel + ": " + Count(position.seq - last->seq - 1, "notification") +
            " after " + PositionText(*last) + " did not arrive; reloading is up to you";
  }
  return Delivery::kPrint;
}

std::string ResumeTracker::OnResync(const StreamMessage& message) {
  ChannelState* state = Find(message.channel);
  std::optional<core::Position> now = ServerPosition(message);
  if (state == nullptr || !now) return "";
  state->last = now;
  return *message.channel + ": resync from the server (" +
         message.reason.value_or("no reason given") + "); continuing at " + PositionText(*now) +
         "; reloading is up to you";
}

std::optional<core::Position> ResumeTracker::Last(const std::string& channel) const {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return std::nullopt;
  return it->second.last;
}

ResumeTracker::ChannelState* ResumeTracker::Find(const std::optional<std::string>& channel) {
  if (!channel) return nullptr;
  auto it = channels_.find(*channel);
  return it == channels_.end() ? nullptr : &it->second;
}

}  // namespace notifyd::cli
