#include "cluster/redis_engine.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "cluster/redis_scripts.h"
#include "core/history.h"

namespace notifyd::cluster {

namespace {

using core::EngineEntry;
using core::EngineSnapshot;

/// Failed reads are tried again at most this often (they fail together when
/// Redis refuses them, e.g. out of memory).
constexpr int64_t kRetryMs = 1000;
/// Seqs are doubles in Redis's Lua: exact up to 2^53, which no channel reaches.
constexpr uint64_t kMaxSeq = uint64_t{1} << 53;

/// Does nothing: the events before SetEvents.
class NoEvents final : public core::EngineEvents {
 public:
  void OnSynced(const std::string&, EngineSnapshot) override {}
  void OnEntry(const std::string&, uint64_t, const std::string&) override {}
  void OnEngineState(bool, const std::string&) override {}
};

NoEvents no_events;

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// An integer reply, or a bulk string of digits (what HGETALL and HMGET give).
bool ToU64(const RedisReply& reply, uint64_t* out) {
  if (reply.type == RedisReply::Type::kInteger) {
    if (reply.integer < 0) return false;
    *out = static_cast<uint64_t>(reply.integer);
    return true;
  }
  if (reply.type == RedisReply::Type::kString) return ParseU64(reply.str, out);
  return false;
}

bool IsText(const RedisReply& reply) {
  return reply.type == RedisReply::Type::kString || reply.type == RedisReply::Type::kStatus;
}

bool IsArray(const RedisReply& reply, size_t size) {
  return reply.type == RedisReply::Type::kArray && reply.elements.size() == size;
}

/// read.lua's {epoch, top, first_kept, {seq, payload, ...}}.
std::optional<EngineSnapshot> ParseSnapshot(const RedisReply& reply) {
  EngineSnapshot snapshot;
  if (!IsArray(reply, 4) || !IsText(reply.elements[0]) ||
      !core::IsValidEpoch(reply.elements[0].str) || !ToU64(reply.elements[1], &snapshot.top) ||
      !ToU64(reply.elements[2], &snapshot.first_kept) ||
      reply.elements[3].type != RedisReply::Type::kArray ||
      reply.elements[3].elements.size() % 2 != 0) {
    return std::nullopt;
  }
  snapshot.epoch = reply.elements[0].str;
  const std::vector<RedisReply>& flat = reply.elements[3].elements;
  snapshot.entries.reserve(flat.size() / 2);
  for (size_t i = 0; i < flat.size(); i += 2) {
    EngineEntry entry;
    if (!ToU64(flat[i], &entry.seq) || !IsText(flat[i + 1])) return std::nullopt;
    entry.payload = flat[i + 1].str;
    snapshot.entries.push_back(std::move(entry));
  }
  return snapshot;
}

/// A snapshot's entries are the contiguous run that ends at its top; what
/// does not fit that (nothing should) is left out, and first_kept follows.
void KeepContiguousTail(EngineSnapshot* snapshot) {
  std::vector<EngineEntry>& entries = snapshot->entries;
  if (entries.empty()) return;
  size_t start = entries.size() - 1;
  if (entries.back().seq != snapshot->top) {
    start = entries.size();
  } else {
    while (start > 0 && entries[start - 1].seq + 1 == entries[start].seq) --start;
  }
  if (start > 0) {
    entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(start));
    snapshot->first_kept = entries.empty() ? 0 : entries.front().seq;
  } else if (snapshot->first_kept == 0 || snapshot->first_kept > entries.front().seq) {
    snapshot->first_kept = entries.front().seq;
  }
}

/// publish.lua's {seq, epoch, replayed, delivered, receivers}.
core::EngineAck ParseAck(const RedisReply& reply) {
  core::EngineAck ack;
  uint64_t replayed = 0;
  if (reply.type == RedisReply::Type::kError) {
    ack.error = reply.str;
  } else if (!IsArray(reply, 5) || !ToU64(reply.elements[0], &ack.seq) ||
             !IsText(reply.elements[1]) || !core::IsValidEpoch(reply.elements[1].str) ||
             !ToU64(reply.elements[2], &replayed) || !ToU64(reply.elements[3], &ack.delivered) ||
             !ToU64(reply.elements[4], &ack.nodes)) {
    ack.error = "unexpected reply from Redis to the publish script";
  } else {
    ack.ok = true;
    ack.epoch = reply.elements[1].str;
    ack.replayed = replayed != 0;
  }
  return ack;
}

/// A channel's pub/sub message: "<seq>:<epoch>:<payload>".
struct Message {
  uint64_t seq = 0;
  std::string_view epoch;
  std::string_view payload;
};

std::optional<Message> ParseMessage(std::string_view text) {
  Message message;
  const size_t first = text.find(':');
  if (first == std::string_view::npos || !ParseU64(text.substr(0, first), &message.seq) ||
      message.seq == 0) {
    return std::nullopt;
  }
  const size_t second = text.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  message.epoch = text.substr(first + 1, second - first - 1);
  message.payload = text.substr(second + 1);
  return message;
}

std::string Duration(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

RedisEngine::RedisEngine(RedisEngineOptions options, RedisCommands& commands, RedisPubSub& pubsub,
                         const core::Clock& clock, core::IdSource& ids)
    : options_(std::move(options)),
      commands_(commands),
      pubsub_(pubsub),
      clock_(clock),
      ids_(ids),
      events_(&no_events) {
  if (options_.node_id.empty()) options_.node_id = ids_.NewEpoch();
  if (options_.read_page == 0) options_.read_page = 1;
  if (options_.top_check_batch == 0) options_.top_check_batch = 1;
  key_head_ = options_.prefix + ":{";
  probe_channel_ = options_.prefix + ":node:" + options_.node_id;
}

// Replies still on their way find alive_ gone and do nothing.
RedisEngine::~RedisEngine() = default;

// --- names ----------------------------------------------------------------------

std::string RedisEngine::MetaKey(std::string_view channel) const {
  return key_head_ + std::string(channel) + "}:m";
}

std::string RedisEngine::StreamKey(std::string_view channel) const {
  return key_head_ + std::string(channel) + "}:x";
}

std::string RedisEngine::PubSubChannel(std::string_view channel) const {
  return key_head_ + std::string(channel) + "}:p";
}

std::string RedisEngine::IdempotencyKey(std::string_view channel, std::string_view key) const {
  return key_head_ + std::string(channel) + "}:i:" + std::string(key);
}

std::string RedisEngine::ProbeChannel() const { return probe_channel_; }

std::string RedisEngine::NodesKey() const { return options_.prefix + ":nodes"; }

std::string RedisEngine::CountsKey(std::string_view node) const {
  return options_.prefix + ":counts:" + std::string(node);
}

std::optional<std::string> RedisEngine::ChannelOf(std::string_view pubsub_channel) const {
  static constexpr std::string_view kTail = "}:p";
  if (pubsub_channel.size() <= key_head_.size() + kTail.size() ||
      pubsub_channel.substr(0, key_head_.size()) != key_head_ ||
      pubsub_channel.substr(pubsub_channel.size() - kTail.size()) != kTail) {
    return std::nullopt;
  }
  return std::string(pubsub_channel.substr(
      key_head_.size(), pubsub_channel.size() - key_head_.size() - kTail.size()));
}

// --- wiring -----------------------------------------------------------------------

CommandEvents RedisEngine::command_events() {
  CommandEvents events;
  events.on_up = [this] { OnCommandsUp(); };
  events.on_down = [this](const std::string& why) { OnCommandsDown(why); };
  return events;
}

PubSubEvents RedisEngine::pubsub_events() {
  PubSubEvents events;
  events.on_up = [this] { OnPubSubUp(); };
  events.on_down = [this](const std::string& why) { OnPubSubDown(why); };
  events.on_subscribed = [this](const std::string& channel) { OnPubSubSubscribed(channel); };
  events.on_message = [this](const std::string& channel, const std::string& message) {
    OnPubSubMessage(channel, message);
  };
  return events;
}

void RedisEngine::SetEvents(core::EngineEvents* events) {
  events_ = events != nullptr ? events : &no_events;
}

void RedisEngine::SetSubscriberCounts(SubscriberCounts counts) { counts_ = std::move(counts); }

void RedisEngine::OnCommandsUp() {
  commands_up_ = true;
  next_top_check_ = clock_.MonotonicMillis() + options_.top_check_interval_ms;
  RunHeartbeat();
  RetryFailedReads();
  ReportState();
}

void RedisEngine::OnCommandsDown(const std::string& why) {
  commands_up_ = false;
  commands_why_ = why;
  nodes_ = 0;
  remote_counts_.clear();
  ReportState();
}

void RedisEngine::OnPubSubUp() {
  pubsub_up_ = true;
  ++pubsub_session_;
  if (pubsub_was_up_) ++stats_.pubsub_reconnects;
  pubsub_was_up_ = true;
  std::vector<std::string> names;
  names.reserve(channels_.size() + 1);
  names.push_back(probe_channel_);
  for (const auto& [name, channel] : channels_) names.push_back(PubSubChannel(name));
  Subscribe(std::move(names));
  ReportState();
}

// Whatever is published until the channels are subscribed again is lost on
// the way: OnPubSubSubscribed has each synced channel catch up from the
// stream, and a read out now is followed by one (it is not `current`).
void RedisEngine::OnPubSubDown(const std::string& why) {
  pubsub_up_ = false;
  ++pubsub_session_;
  pubsub_why_ = why;
  probe_subscribed_ = false;
  probe_pending_ = 0;
  pending_acks_.clear();
  for (auto& [name, channel] : channels_) channel.subscribed = false;
  ReportState();
}

// Redis sends nothing of a channel before it acknowledges the SUBSCRIBE, so
// a read begun after the acknowledgement misses nothing in between.
void RedisEngine::OnPubSubSubscribed(const std::string& pubsub_channel) {
  auto pending = pending_acks_.find(pubsub_channel);
  if (pending != pending_acks_.end()) {
    if (--pending->second > 0) return;  // An older SUBSCRIBE's; a later one is on its way.
    pending_acks_.erase(pending);
  }
  if (pubsub_channel == probe_channel_) {
    probe_subscribed_ = true;
    next_probe_ = clock_.MonotonicMillis();
    return;
  }
  const std::optional<std::string> name = ChannelOf(pubsub_channel);
  if (!name) return;
  auto it = channels_.find(*name);
  if (it == channels_.end()) return;
  Channel& channel = it->second;
  channel.subscribed = true;
  ++channel.subscription;
  if (channel.synced) channel.want_catch_up = true;
  Advance(*name, channel.generation);
}

void RedisEngine::OnPubSubMessage(const std::string& pubsub_channel, const std::string& message) {
  if (pubsub_channel == probe_channel_) {
    OnProbeMessage(message);
    return;
  }
  const std::optional<std::string> name = ChannelOf(pubsub_channel);
  if (!name) return;
  auto it = channels_.find(*name);
  const std::optional<Message> parsed = ParseMessage(message);
  if (it == channels_.end() || !parsed) return;
  Channel& channel = it->second;
  if (DeliverIfNext(*name, channel, parsed->seq, parsed->epoch, parsed->payload)) return;
  Hold(channel, parsed->seq, parsed->epoch, parsed->payload);
  Advance(*name, channel.generation);
}

// The common case, without holding anything: the next seq (or one already
// delivered) of a channel that has nothing else to do. False: the caller
// holds it.
bool RedisEngine::DeliverIfNext(const std::string& name, Channel& channel, uint64_t seq,
                                std::string_view epoch, std::string_view payload) {
  if (!channel.synced || !channel.subscribed || channel.reading || !channel.held.empty() ||
      channel.want_snapshot || channel.want_catch_up || epoch != channel.epoch) {
    return false;
  }
  if (seq <= channel.last) return true;  // A duplicate.
  if (seq != channel.last + 1) return false;
  channel.last = seq;
  events_->OnEntry(name, seq, std::string(payload));
  return true;
}

// --- the channels -------------------------------------------------------------------

void RedisEngine::Attach(const std::string& name, const std::string& epoch_candidate) {
  auto [it, inserted] = channels_.try_emplace(name);
  if (!inserted) return;
  it->second.generation = ++next_generation_;
  it->second.candidate = epoch_candidate;
  if (pubsub_up_) Subscribe({PubSubChannel(name)});
}

void RedisEngine::Detach(const std::string& name) {
  if (channels_.erase(name) == 0) return;
  failed_reads_.erase(name);
  if (pubsub_up_) pubsub_.Unsubscribe({PubSubChannel(name)});
}

RedisEngine::Channel* RedisEngine::Find(const std::string& name, uint64_t generation) {
  auto it = channels_.find(name);
  if (it == channels_.end() || it->second.generation != generation) return nullptr;
  return &it->second;
}

// Every callback into the broker may attach or detach channels, so after one
// the channel is looked up again. `name` must not be a key of channels_.
void RedisEngine::Advance(const std::string& name, uint64_t generation) {
  for (;;) {
    Channel* channel = Find(name, generation);
    if (channel == nullptr || !channel->subscribed || channel->reading) return;
    if (!channel->synced || channel->want_snapshot) {
      StartRead(name, *channel, ReadKind::kSnapshot);
      return;
    }
    // What is held and continues the channel goes first; a read is for what
    // is missing after it.
    auto next = channel->held.begin();
    if (next != channel->held.end()) {
      if (next->second.epoch != channel->epoch) {
        channel->want_snapshot = true;
        continue;
      }
      if (next->first <= channel->last) {
        channel->held.erase(next);
        continue;
      }
      if (next->first == channel->last + 1) {
        const uint64_t seq = next->first;
        const std::string payload = std::move(next->second.payload);
        channel->held.erase(next);
        channel->last = seq;
        events_->OnEntry(name, seq, payload);
        continue;
      }
      channel->want_catch_up = true;  // A hole: repaired from the stream.
    }
    if (channel->want_catch_up || channel->last < channel->catch_up_to) {
      StartRead(name, *channel, ReadKind::kCatchUp);
    }
    return;
  }
}

void RedisEngine::Hold(Channel& channel, uint64_t seq, std::string_view epoch,
                       std::string_view payload) {
  if (channel.held.size() >= options_.max_held) {
    // Too far behind to keep holding: what is held (this message too) is
    // covered by the snapshot to come, which any read out now would not be.
    channel.held.clear();
    channel.want_snapshot = true;
    channel.reading = false;
    ++channel.read_serial;
    return;
  }
  channel.held.try_emplace(seq, Held{std::string(epoch), std::string(payload)});
}

void RedisEngine::StartRead(const std::string& name, Channel& channel, ReadKind kind) {
  if (stopped_) return;
  if (!commands_up_) {
    failed_reads_.insert(name);
    return;
  }
  std::vector<std::string> args{TakeCandidate(channel)};
  if (kind == ReadKind::kSnapshot) {
    // Everything held was received before this read runs in Redis, so the
    // snapshot covers it.
    channel.held.clear();
    args.insert(args.end(), {"0", std::to_string(options_.history_size), "tail"});
  } else {
    args.insert(args.end(),
                {std::to_string(channel.last), std::to_string(options_.read_page), "after"});
  }
  args.push_back(std::to_string(options_.meta_ttl_ms));
  channel.reading = true;
  const uint64_t serial = ++channel.read_serial;
  commands_.Eval(scripts::Read(), {MetaKey(name), StreamKey(name)}, std::move(args),
                 Guarded([this, name, generation = channel.generation, serial,
                          subscription = channel.subscription,
                          kind](RedisFailure failure, const RedisReply& reply) {
                   OnReadDone(name, generation, serial, subscription, kind, failure, reply);
                 }));
}

void RedisEngine::OnReadDone(const std::string& name, uint64_t generation, uint64_t serial,
                             uint64_t subscription, ReadKind kind, RedisFailure failure,
                             const RedisReply& reply) {
  Channel* channel = Find(name, generation);
  if (channel == nullptr || channel->read_serial != serial) return;
  channel->reading = false;
  std::optional<EngineSnapshot> snapshot;
  if (failure == RedisFailure::kNone) snapshot = ParseSnapshot(reply);
  if (!snapshot) {
    ++stats_.reads_failed;
    failed_reads_.insert(name);  // Tried again when the connection is back, or by Tick.
    return;
  }
  // A read begun under an earlier subscription may have missed what came
  // before the current one: it is followed by a catch-up.
  const bool current = channel->subscribed && channel->subscription == subscription;
  if (kind == ReadKind::kSnapshot) {
    ApplySnapshot(name, *channel, std::move(*snapshot), current);
  } else {
    ApplyCatchUp(*channel, std::move(*snapshot), current);
  }
  Advance(name, generation);
}

void RedisEngine::ApplySnapshot(const std::string& name, Channel& channel, EngineSnapshot snapshot,
                                bool current) {
  if (channel.synced) ++stats_.resyncs;
  channel.synced = true;
  channel.epoch = snapshot.epoch;
  channel.last = snapshot.top;
  channel.want_snapshot = false;
  channel.want_catch_up = !current;
  channel.catch_up_to = 0;
  KeepContiguousTail(&snapshot);
  events_->OnSynced(name, std::move(snapshot));
}

// The entries after `last` join the held messages (deduplicated by seq), and
// Advance delivers them in order. A catch-up that cannot continue the channel
// (another epoch, entries no longer kept) asks for a snapshot.
void RedisEngine::ApplyCatchUp(Channel& channel, EngineSnapshot snapshot, bool current) {
  if (snapshot.epoch != channel.epoch || snapshot.top < channel.last) {
    channel.want_snapshot = true;
    return;
  }
  uint64_t next = channel.last + 1;
  for (EngineEntry& entry : snapshot.entries) {
    if (entry.seq < next) continue;
    if (entry.seq != next) break;
    channel.held.insert_or_assign(entry.seq, Held{snapshot.epoch, std::move(entry.payload)});
    ++next;
  }
  const bool progressed = next > channel.last + 1;
  // A full page goes on with the next (unless what is held fills the rest);
  // anything shorter ran out of kept entries.
  if (next - 1 < snapshot.top && (!progressed || snapshot.entries.size() < options_.read_page)) {
    channel.want_snapshot = true;
    return;
  }
  channel.catch_up_to = snapshot.top;
  channel.want_catch_up = !current;
  ++stats_.repairs;
}

std::string RedisEngine::TakeCandidate(Channel& channel) {
  // Attach's candidate serves one read only: once Redis may have stored it, a
  // later loss of the channel's data must not bring the same epoch back.
  if (channel.candidate.empty()) return ids_.NewEpoch();
  return std::exchange(channel.candidate, std::string());
}

void RedisEngine::Subscribe(std::vector<std::string> pubsub_channels) {
  for (const std::string& name : pubsub_channels) ++pending_acks_[name];
  pubsub_.Subscribe(pubsub_channels);
}

void RedisEngine::RetryFailedReads() {
  if (!commands_up_ || failed_reads_.empty()) return;
  std::vector<std::string> names(failed_reads_.begin(), failed_reads_.end());
  failed_reads_.clear();
  for (const std::string& name : names) {
    auto it = channels_.find(name);
    if (it != channels_.end()) Advance(name, it->second.generation);
  }
}

// --- publish and read ---------------------------------------------------------------

void RedisEngine::Publish(const std::string& channel, const std::string& epoch_candidate,
                          std::string payload, std::string_view idempotency_key, int64_t key_ttl_ms,
                          core::EngineAckDone done) {
  std::vector<std::string> keys{MetaKey(channel), StreamKey(channel)};
  if (!idempotency_key.empty()) keys.push_back(IdempotencyKey(channel, idempotency_key));
  // This node's own notification, when the channel is followed here, is
  // delivered as soon as the script's answer says where it went, if it is
  // the next one; its echo through pub/sub is then a duplicate. (Waiting for
  // the echo costs a fan-out's worth of loop turns per publish, and
  // consecutive publishes then share no sends.) Anything else waits for pub/sub.
  std::string own;
  if (channels_.count(channel) != 0) own = payload;
  std::vector<std::string> args{epoch_candidate,
                                std::move(payload),
                                std::to_string(options_.history_size),
                                std::to_string(options_.history_ttl_ms),
                                std::to_string(options_.meta_ttl_ms),
                                PubSubChannel(channel),
                                std::to_string(key_ttl_ms)};
  commands_.Eval(
      scripts::Publish(), std::move(keys), std::move(args),
      Guarded([this, channel, own = std::move(own), done = std::move(done)](
                  RedisFailure failure, const RedisReply& reply) {
        core::EngineAck ack;
        if (failure != RedisFailure::kNone) {
          ack.error = FailureText(failure);
        } else {
          ack = ParseAck(reply);
        }
        if (!ack.ok) ++stats_.publishes_failed;
        if (ack.ok && !ack.replayed && !own.empty()) {
          auto it = channels_.find(channel);
          if (it != channels_.end()) DeliverIfNext(channel, it->second, ack.seq, ack.epoch, own);
        }
        done(ack);
      }));
}

void RedisEngine::RecordDelivered(const std::string& channel, std::string_view idempotency_key,
                                  uint64_t delivered) {
  if (idempotency_key.empty()) return;
  commands_.Eval(scripts::RecordDelivered(), {IdempotencyKey(channel, idempotency_key)},
                 {std::to_string(delivered)}, [](RedisFailure, const RedisReply&) {});
}

void RedisEngine::Read(const std::string& channel, const std::string& epoch_candidate,
                       uint64_t since, size_t limit, core::EngineReadDone done) {
  std::vector<std::string> args{epoch_candidate, std::to_string(std::min(since, kMaxSeq)),
                                std::to_string(limit), "after",
                                std::to_string(options_.meta_ttl_ms)};
  commands_.Eval(
      scripts::Read(), {MetaKey(channel), StreamKey(channel)}, std::move(args),
      Guarded([this, done = std::move(done)](RedisFailure failure, const RedisReply& reply) {
        if (failure != RedisFailure::kNone) {
          done(false, EngineSnapshot(), FailureText(failure));
          return;
        }
        std::optional<EngineSnapshot> snapshot = ParseSnapshot(reply);
        if (snapshot) {
          done(true, *snapshot, std::string());
        } else if (reply.type == RedisReply::Type::kError) {
          done(false, EngineSnapshot(), reply.str);
        } else {
          done(false, EngineSnapshot(), "unexpected reply from Redis to the read script");
        }
      }));
}

// --- the periodic jobs -----------------------------------------------------------------

void RedisEngine::Tick() {
  if (stopped_) return;
  const int64_t now = clock_.MonotonicMillis();
  if (commands_up_ && !heartbeat_out_ && now >= next_heartbeat_) RunHeartbeat();
  if (commands_up_ && pubsub_up_ && probe_subscribed_ && now >= next_probe_) SendProbe(now);
  CheckProbe(now);
  if (commands_up_ && top_checks_out_ == 0 && now >= next_top_check_) RunTopCheck(now);
  if (now >= next_retry_) {
    next_retry_ = now + kRetryMs;
    RetryFailedReads();
  }
}

// The probe goes out on the command connection and must come back on the
// pub/sub one: only that shows the subscription works (Centrifugo's lesson,
// HISTORY-CLUSTER.md A5). A probe counts once Redis has taken it.
void RedisEngine::SendProbe(int64_t now) {
  next_probe_ = now + options_.probe_interval_ms;
  const uint64_t id = ++probe_serial_;
  commands_.Command({"PUBLISH", probe_channel_, std::to_string(id)},
                    Guarded([this, id, now, session = pubsub_session_](RedisFailure failure,
                                                                       const RedisReply& reply) {
                      if (failure != RedisFailure::kNone ||
                          reply.type == RedisReply::Type::kError || session != pubsub_session_) {
                        return;  // Not the pub/sub connection's fault, or not this one's.
                      }
                      if (id > probe_received_ && probe_pending_ == 0) {
                        probe_pending_ = id;
                        probe_pending_since_ = now;
                      }
                    }));
}

void RedisEngine::OnProbeMessage(const std::string& message) {
  uint64_t id = 0;
  if (!ParseU64(message, &id)) return;
  probe_received_ = std::max(probe_received_, id);
  if (probe_pending_ != 0 && id >= probe_pending_) probe_pending_ = 0;
}

void RedisEngine::CheckProbe(int64_t now) {
  if (probe_pending_ == 0 || now - probe_pending_since_ < options_.probe_timeout_ms ||
      !commands_up_ || !pubsub_up_) {
    return;
  }
  probe_pending_ = 0;
  ++stats_.probes_failed;
  pubsub_.Reset("no liveness probe came back in " + Duration(options_.probe_timeout_ms));
}

void RedisEngine::RunHeartbeat() {
  if (stopped_) return;
  heartbeat_out_ = true;
  next_heartbeat_ = clock_.MonotonicMillis() + options_.heartbeat_interval_ms;
  std::vector<std::string> args{options_.node_id, std::to_string(options_.node_expiry_ms),
                                options_.prefix + ":counts:"};
  if (counts_) {
    for (auto& [channel, count] : counts_()) {
      if (count == 0) continue;
      args.push_back(std::move(channel));
      args.push_back(std::to_string(count));
    }
  }
  commands_.Eval(scripts::Heartbeat(), {NodesKey(), CountsKey(options_.node_id)}, std::move(args),
                 Guarded([this](RedisFailure failure, const RedisReply& reply) {
                   heartbeat_out_ = false;
                   if (failure == RedisFailure::kNone) OnHeartbeatDone(reply);
                 }));
}

// {live nodes, node, {channel, count, ...}, ...}: the others' counts.
void RedisEngine::OnHeartbeatDone(const RedisReply& reply) {
  uint64_t live = 0;
  if (reply.type != RedisReply::Type::kArray || reply.elements.empty() ||
      reply.elements.size() % 2 != 1 || !ToU64(reply.elements[0], &live)) {
    return;
  }
  std::unordered_map<std::string, size_t> counts;
  for (size_t i = 1; i + 1 < reply.elements.size(); i += 2) {
    const std::vector<RedisReply>& pairs = reply.elements[i + 1].elements;
    for (size_t j = 0; j + 1 < pairs.size(); j += 2) {
      uint64_t count = 0;
      if (IsText(pairs[j]) && ToU64(pairs[j + 1], &count)) counts[pairs[j].str] += count;
    }
  }
  remote_counts_ = std::move(counts);
  nodes_ = live;
}

// A channel whose top in Redis is ahead of what it delivered may only have
// messages on their way; one still behind the top the previous check saw has
// lost one (typically its last: no later message shows the hole).
void RedisEngine::RunTopCheck(int64_t now) {
  next_top_check_ = now + options_.top_check_interval_ms;
  std::vector<TopCheck> batch;
  std::vector<std::string> keys;
  auto send = [&] {
    ++top_checks_out_;
    commands_.Eval(
        scripts::Tops(), std::move(keys), {std::to_string(options_.meta_ttl_ms)},
        Guarded([this, batch = std::move(batch)](RedisFailure failure, const RedisReply& reply) {
          --top_checks_out_;
          if (failure == RedisFailure::kNone) OnTopsDone(batch, reply);
        }));
    batch.clear();
    keys.clear();
  };
  for (const auto& [name, channel] : channels_) {
    if (!channel.synced || !channel.subscribed || channel.reading) continue;
    batch.push_back(TopCheck{name, channel.generation, channel.read_serial, channel.last});
    keys.push_back(MetaKey(name));
    if (batch.size() == options_.top_check_batch) send();
  }
  if (!batch.empty()) send();
}

void RedisEngine::OnTopsDone(const std::vector<TopCheck>& batch, const RedisReply& reply) {
  if (!IsArray(reply, batch.size() * 2)) return;
  for (size_t i = 0; i < batch.size(); ++i) {
    const TopCheck& check = batch[i];
    Channel* channel = Find(check.name, check.generation);
    uint64_t top = 0;
    if (channel == nullptr || channel->reading || !channel->synced ||
        channel->read_serial != check.read_serial || !IsText(reply.elements[2 * i]) ||
        !ToU64(reply.elements[2 * i + 1], &top)) {
      continue;  // Read since, or gone: this answer is stale.
    }
    const uint64_t seen = std::exchange(channel->top_seen, 0);
    // Messages published after the script ran may be delivered before its
    // answer comes: `last` may be past `top` now, but not past it then.
    if (reply.elements[2 * i].str != channel->epoch || top < check.last) {
      // The meta hash was lost, or replaced (with the same epoch only if a
      // candidate was used twice: its seqs went back).
      channel->want_snapshot = true;
    } else if (top > channel->last && seen > channel->last) {
      channel->want_catch_up = true;
    } else {
      if (top > channel->last) channel->top_seen = top;
      continue;
    }
    Advance(check.name, check.generation);
  }
}

// The two commands are answered in order: the second's reply is the end.
void RedisEngine::Stop(std::function<void()> done) {
  stopped_ = true;
  commands_.Command({"ZREM", NodesKey(), options_.node_id}, [](RedisFailure, const RedisReply&) {});
  commands_.Command({"DEL", CountsKey(options_.node_id)},
                    Guarded([done = std::move(done)](RedisFailure, const RedisReply&) {
                      if (done) done();
                    }));
}

// --- state ------------------------------------------------------------------------------

bool RedisEngine::up() const { return commands_up_; }

std::string RedisEngine::down_reason() const {
  return commands_up_ ? std::string() : "Redis command connection: " + commands_why_;
}

size_t RedisEngine::RemoteSubscribers(const std::string& channel) const {
  auto it = remote_counts_.find(channel);
  return it == remote_counts_.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, size_t>> RedisEngine::RemoteCounts() const {
  return {remote_counts_.begin(), remote_counts_.end()};
}

size_t RedisEngine::nodes() const { return nodes_; }

RedisEngineStats RedisEngine::stats() const {
  RedisEngineStats stats = stats_;
  stats.attached_channels = channels_.size();
  return stats;
}

std::string RedisEngine::FailureText(RedisFailure failure) const {
  switch (failure) {
    case RedisFailure::kNone: break;
    case RedisFailure::kNotConnected: return "not connected to Redis (" + commands_why_ + ")";
    case RedisFailure::kTimeout:
      return "Redis did not answer within " + std::to_string(options_.command_timeout_ms) + " ms";
    case RedisFailure::kDisconnected: return "connection to Redis lost";
  }
  return "Redis failed";
}

void RedisEngine::ReportState() {
  const bool up = commands_up_ && pubsub_up_;
  std::string why;
  if (!commands_up_) {
    why = "Redis command connection: " + commands_why_;
  } else if (!pubsub_up_) {
    why = "Redis pub/sub connection: " + pubsub_why_;
  }
  if (reported_ && reported_->first == up && reported_->second == why) return;
  reported_ = std::make_pair(up, why);
  events_->OnEngineState(up, why);
}

CommandDone RedisEngine::Guarded(std::function<void(RedisFailure, const RedisReply&)> fn) {
  return [alive = std::weak_ptr<int>(alive_), fn = std::move(fn)](RedisFailure failure,
                                                                  const RedisReply& reply) {
    if (!alive.expired()) fn(failure, reply);
  };
}

}  // namespace notifyd::cluster
