#include "core/broker.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <utility>

namespace notifyd::core {

Broker::Broker(Hub& hub, const Clock& clock, const NotificationEncoder& encoder, IdSource ids)
    : hub_(hub), clock_(clock), encoder_(encoder), ids_(std::move(ids)) {}

void Broker::Configure(const Options& options) {
  const bool batch = options_.batch;
  options_ = options;
  if (store_ != nullptr) {
    options_.batch = batch;  // the store was opened in its mode
    store_->SetLimits({options_.size, options_.ttl_ms});
  }
}

std::string Broker::KeyOf(const std::string& channel, std::string_view key) const {
  std::string out = channel;
  out += '\0';
  out += key;
  return out;
}

Broker::Stream& Broker::StreamFor(const std::string& channel) {
  auto it = streams_.find(channel);
  if (it != streams_.end()) return it->second;
  Stream& stream = streams_[channel];
  stream.epoch = ids_.NewEpoch();
  stream.last_ms = clock_.WallMillis();
  if (store_ != nullptr) {
    StoreOp op;
    op.kind = StoreOp::Kind::kChannel;
    op.channel = channel;
    op.epoch = stream.epoch;
    op.published_ms = stream.last_ms;
    store_->Submit(std::move(op));
  }
  return stream;
}

void Broker::AttachStore(HistoryStore* store) {
  const int64_t now = clock_.WallMillis();
  LoadedHistory loaded = store->Load({options_.size, options_.ttl_ms}, now);
  // Continuity is vouched for only when every write acknowledged before the
  // stop reached the file: always in commit mode, in batch mode only after a
  // clean stop. Otherwise every channel starts a new epoch.
  const bool keep_epochs = !loaded.started_anew && (!options_.batch || loaded.clean_stop);
  load_report_ = LoadReport{loaded.channels.size(), 0, keep_epochs, loaded.started_anew,
                            loaded.clean_stop};
  store_ = store;
  loaded_checkins_ = std::move(loaded.checkins);
  store_->Start(this);
  for (StoredChannel& stored : loaded.channels) {
    if (!keep_epochs) {
      StoreOp drop;
      drop.kind = StoreOp::Kind::kDropChannel;
      drop.channel = stored.name;
      store_->Submit(std::move(drop));
      continue;
    }
    Stream& stream = streams_[stored.name];
    stream.epoch = std::move(stored.epoch);
    stream.top = stream.assigned = stored.top;
    stream.last_ms = stored.last_ms;
    for (StoredEntry& entry : stored.entries) {
      auto frame = std::make_shared<const Frame>(std::move(entry.json),
                                                 FormatPosition(stream.epoch, entry.seq), entry.seq);
      Keep(stream, Kept{entry.seq, entry.published_ms, std::move(frame)});
      ++load_report_.notifications;
    }
  }
  for (StoredKey& key : loaded.keys) {
    if (key.expires_ms <= now) continue;
    KeyRecord& record = keys_[KeyOf(key.channel, key.key)];
    record.outcome.channel = key.channel;
    record.outcome.epoch = key.epoch;
    record.outcome.seq = key.seq;
    record.outcome.id = FormatPosition(key.epoch, key.seq);
    record.outcome.delivered = key.delivered;
    record.expires_ms = key.expires_ms;
  }
}

void Broker::FailStore(std::string error) {
  store_error_ = std::move(error);
  store_failed_until_ms_ = INT64_MAX;
  store_unusable_ = true;
}

void Broker::CloseStore() {
  if (store_ == nullptr) return;
  store_->Close(!store_dirty_);
  store_ = nullptr;
}

void Broker::Keep(Stream& stream, Kept kept) {
  if (options_.size == 0) return;
  stats_.kept_bytes += kept.frame->text.size();
  ++stats_.kept;
  stream.kept.push_back(std::move(kept));
  while (stream.kept.size() > options_.size) DropOldest(stream);
}

void Broker::DropOldest(Stream& stream) {
  stats_.kept_bytes -= stream.kept.front().frame->text.size();
  --stats_.kept;
  stream.kept.pop_front();
}

std::optional<PublishOutcome> Broker::Publish(const std::string& channel, PublishInput input,
                                              std::string_view idempotency_key,
                                              const std::function<PublishDone()>& defer) {
  if (engine_ != nullptr) {
    if (!engine_->up()) {  // the command connection: a lost subscription repairs itself
      PublishOutcome refused;
      refused.status = PublishOutcome::Status::kUnavailable;
      refused.channel = channel;
      refused.clustered = true;
      refused.error = "Redis is unavailable: " + engine_->down_reason();
      return refused;
    }
    // Idempotency keys are the engine's: a repeat may reach any node.
    PublishToEngine(channel, std::move(input), idempotency_key, defer());
    return std::nullopt;
  }
  const int64_t now = clock_.WallMillis();
  std::string key_of;
  if (!idempotency_key.empty()) {
    key_of = KeyOf(channel, idempotency_key);
    auto it = keys_.find(key_of);
    if (it != keys_.end() && it->second.expires_ms > now) {
      ++stats_.idempotent_replays;
      if (it->second.pending) {
        it->second.waiters.push_back(defer());
        return std::nullopt;
      }
      PublishOutcome outcome = it->second.outcome;
      outcome.replayed = true;
      return outcome;
    }
  }
  if ((store_ != nullptr || store_unusable_) && !store_ok()) {
    PublishOutcome refused;
    refused.status = PublishOutcome::Status::kUnavailable;
    refused.channel = channel;
    refused.error = "the history store cannot write: " + store_error_;
    return refused;
  }
  Stream& stream = StreamFor(channel);
  const uint64_t seq = ++stream.assigned;
  stream.last_ms = now;
  if (options_.size == 0 && store_ == nullptr && hub_.SubscriberCount(channel) == 0) {
    // Nobody to send it to and nothing to keep: only the position counts.
    stream.top = seq;
    hub_.CountUndelivered();
    PublishOutcome outcome;
    outcome.channel = channel;
    outcome.epoch = stream.epoch;
    outcome.seq = seq;
    outcome.id = FormatPosition(stream.epoch, seq);
    if (!key_of.empty()) RememberKey(key_of, idempotency_key, outcome, now);
    return outcome;
  }
  Notification n{channel,      FormatPosition(stream.epoch, seq), seq,
                 stream.epoch, now,
                 std::move(input.title), std::move(input.body), std::move(input.data_json)};
  auto frame = std::make_shared<const Frame>(encoder_.Encode(n), std::move(n.id), seq);

  uint64_t ticket = 0;
  if (store_ != nullptr) {
    ticket = next_ticket_++;
    StoreOp op;
    op.kind = StoreOp::Kind::kAppend;
    op.ticket = ticket;
    op.channel = channel;
    op.epoch = stream.epoch;
    op.seq = seq;
    op.published_ms = now;
    op.json = frame->text;
    if (!key_of.empty()) {
      op.has_key = true;
      op.key = std::string(idempotency_key);
      op.key_expires_ms = now + options_.idempotency_ttl_ms;
    }
    store_->Submit(std::move(op));
    submitted_.push_back(Submitted{ticket, clock_.MonotonicMicros()});
  }

  if (store_ != nullptr && !options_.batch) {
    // Commit mode: nothing is visible until the store says it is durable.
    if (!key_of.empty()) {
      KeyRecord& record = keys_[key_of];
      record = KeyRecord{};
      record.pending = true;
      record.expires_ms = now + options_.idempotency_ttl_ms;
    }
    pending_.push_back(Pending{ticket, channel, seq, now, std::move(frame),
                               std::string(idempotency_key), defer()});
    ++stats_.pending;
    return std::nullopt;
  }

  PublishOutcome outcome;
  Release(channel, stream, seq, now, std::move(frame), &outcome);
  if (!key_of.empty()) RememberKey(key_of, idempotency_key, outcome, now);
  return outcome;
}

void Broker::RememberKey(const std::string& key_of, std::string_view key,
                         const PublishOutcome& outcome, int64_t now) {
  KeyRecord& record = keys_[key_of];
  std::vector<PublishDone> waiters = std::move(record.waiters);
  record = KeyRecord{};
  record.outcome = outcome;
  record.expires_ms = now + options_.idempotency_ttl_ms;
  if (store_ != nullptr) {
    StoreOp op;
    op.kind = StoreOp::Kind::kKeyDelivered;
    op.channel = outcome.channel;
    op.key = std::string(key);
    op.delivered = outcome.delivered;
    store_->Submit(std::move(op));
  }
  PublishOutcome replay = outcome;
  replay.replayed = true;
  for (PublishDone& waiter : waiters) waiter(replay);
}

void Broker::Release(const std::string& channel, Stream& stream, uint64_t seq,
                     int64_t published_ms, FramePtr frame, PublishOutcome* outcome) {
  stream.top = seq;
  outcome->status = PublishOutcome::Status::kOk;
  outcome->channel = channel;
  outcome->epoch = stream.epoch;
  outcome->seq = seq;
  outcome->id = frame->id;
  outcome->delivered = hub_.Deliver(channel, frame);
  // The transport's encoded forms are held by the send queues that need
  // them; the ring keeps only the text (a replay encodes it again).
  frame->prepared.reset();
  frame->prepared_sse.reset();
  Keep(stream, Kept{seq, published_ms, std::move(frame)});
}

void Broker::OnCommitted(uint64_t ticket) {
  const int64_t now_us = clock_.MonotonicMicros();
  while (!submitted_.empty() && submitted_.front().ticket <= ticket) {
    stats_.commit_durations.Observe(static_cast<double>(now_us - submitted_.front().at_us) / 1e6);
    submitted_.pop_front();
  }
  while (!pending_.empty() && pending_.front().ticket <= ticket) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    --stats_.pending;
    // A stream with pending publishes is never swept, so it is there.
    Stream& stream = streams_[p.channel];
    PublishOutcome outcome;
    Release(p.channel, stream, p.seq, p.published_ms, std::move(p.frame), &outcome);
    p.done(outcome);  // the first publisher is answered before any repeat of its key
    if (!p.key.empty()) RememberKey(KeyOf(p.channel, p.key), p.key, outcome, clock_.WallMillis());
  }
}

void Broker::OnFailed(std::string error) {
  ++stats_.store_failures;
  store_error_ = std::move(error);
  store_failed_until_ms_ = clock_.MonotonicMillis() + kStoreRetryMs;
  // In batch mode the lost writes were acknowledged already: the next start
  // must not vouch for this run's epochs.
  if (options_.batch) store_dirty_ = true;
  // The store writes nothing more of what was submitted before Resume():
  // every pending publish fails, and its seq is given out again (no one saw it).
  std::deque<Pending> failed = std::move(pending_);
  pending_.clear();
  submitted_.clear();
  stats_.pending = 0;
  for (Pending& p : failed) {
    auto it = streams_.find(p.channel);
    if (it != streams_.end()) it->second.assigned = it->second.top;
  }
  if (store_ != nullptr) store_->Resume();
  PublishOutcome refused;
  refused.status = PublishOutcome::Status::kUnavailable;
  refused.error = "the history store cannot write: " + store_error_;
  for (Pending& p : failed) {
    refused.channel = p.channel;
    if (!p.key.empty()) {
      auto it = keys_.find(KeyOf(p.channel, p.key));
      if (it != keys_.end()) {
        std::vector<PublishDone> waiters = std::move(it->second.waiters);
        keys_.erase(it);
        for (PublishDone& waiter : waiters) waiter(refused);
      }
    }
    p.done(refused);
  }
}

bool Broker::store_ok() const { return clock_.MonotonicMillis() >= store_failed_until_ms_; }

ResumeResult Broker::Resume(const std::string& channel, const std::optional<Position>& since) {
  return ResumeFrom(StreamFor(channel), since);
}

std::optional<ResumeResult> Broker::Resume(const std::string& channel,
                                           const std::optional<Position>& since,
                                           const std::function<ResumeDone()>& defer) {
  if (engine_ == nullptr) return ResumeFrom(StreamFor(channel), since);
  auto it = streams_.find(channel);
  if (it != streams_.end() && it->second.synced) return ResumeFrom(it->second, since);
  if (since && !engine_->up()) {
    ResumeResult refused;
    refused.unavailable = true;
    refused.error = "Redis is unavailable: " + engine_->down_reason();
    return refused;
  }
  if (it == streams_.end()) {
    it = streams_.emplace(channel, Stream{}).first;
    it->second.synced = false;
    it->second.last_ms = clock_.WallMillis();
    engine_->Attach(channel, ids_.NewEpoch());
  }
  it->second.unwatched_since_ms = 0;
  it->second.waiters.push_back(Stream::Waiter{since, defer()});
  return std::nullopt;
}

ResumeResult Broker::ResumeFrom(Stream& stream, const std::optional<Position>& since) {
  stream.last_ms = clock_.WallMillis();
  ResumeResult result;
  result.epoch = stream.epoch;
  result.top = stream.top;
  if (!since) return result;
  const uint64_t first_kept = stream.kept.empty() ? 0 : stream.kept.front().seq;
  result.recovery =
      DecideRecovery(*since, {stream.epoch, stream.top, first_kept}, options_.recover_max);
  if (!result.recovery.recovered) {
    ++stats_.resumes_not_recovered;
    return result;
  }
  ++stats_.resumes_recovered;
  if (result.recovery.missed == 0) return result;
  const size_t from = static_cast<size_t>(since->seq + 1 - first_kept);
  result.frames.reserve(stream.kept.size() - from);
  for (size_t i = from; i < stream.kept.size(); ++i) result.frames.push_back(stream.kept[i].frame);
  return result;
}

HistoryPage Broker::Read(const std::string& channel, const std::optional<Position>& since,
                         size_t limit) {
  return PageFrom(StreamFor(channel), since, limit);
}

std::optional<HistoryPage> Broker::Read(const std::string& channel,
                                        const std::optional<Position>& since, size_t limit,
                                        const std::function<HistoryPageDone()>& defer) {
  if (engine_ == nullptr) return PageFrom(StreamFor(channel), since, limit);
  auto it = streams_.find(channel);
  if (it != streams_.end() && it->second.synced) return PageFrom(it->second, since, limit);
  if (!engine_->up()) {
    HistoryPage refused;
    refused.unavailable = true;
    refused.error = "Redis is unavailable: " + engine_->down_reason();
    return refused;
  }
  // Not followed here: read the engine's stream as it stands. A position
  // that is not recovered gets what is kept, from the oldest, as locally.
  auto shared_done = std::make_shared<HistoryPageDone>(defer());
  auto answer = [this, channel, since, limit, shared_done](bool ok, const EngineSnapshot& snapshot,
                                                  const std::string& error, bool from_since) {
    HistoryPage page;
    if (!ok) {
      page.unavailable = true;
      page.error = error;
      (*shared_done)(std::move(page));
      return false;
    }
    page.epoch = snapshot.epoch;
    page.top = snapshot.top;
    if (since && from_since) {
      page.recovered = DecideRecovery(*since, {snapshot.epoch, snapshot.top, snapshot.first_kept},
                                      /*recover_max=*/0)
                           .recovered;
      if (!page.recovered) return true;  // read again from the oldest kept
    } else if (since) {
      page.recovered = false;
    }
    for (const EngineEntry& entry : snapshot.entries) {
      if (page.messages.size() == limit) {
        page.more = true;
        break;
      }
      std::optional<EntryContent> content = DecodeEntryPayload(entry.payload);
      if (!content) continue;
      page.messages.push_back(FrameOf(channel, page.epoch, entry.seq, *content));
    }
    (*shared_done)(std::move(page));
    return false;
  };
  const std::string candidate = ids_.NewEpoch();
  engine_->Read(channel, candidate, since ? since->seq : 0, limit + 1,
                [this, channel, candidate, limit, answer](bool ok, const EngineSnapshot& snapshot,
                                                          const std::string& error) {
                  if (!answer(ok, snapshot, error, true)) return;
                  engine_->Read(channel, candidate, 0, limit + 1,
                                [answer](bool ok2, const EngineSnapshot& all,
                                         const std::string& error2) {
                                  answer(ok2, all, error2, false);
                                });
                });
  return std::nullopt;
}

HistoryPage Broker::PageFrom(const Stream& stream, const std::optional<Position>& since,
                             size_t limit) const {
  HistoryPage page;
  page.epoch = stream.epoch;
  page.top = stream.top;
  const uint64_t first_kept = stream.kept.empty() ? 0 : stream.kept.front().seq;
  size_t from = 0;
  if (since) {
    page.recovered =
        DecideRecovery(*since, {stream.epoch, stream.top, first_kept}, /*recover_max=*/0)
            .recovered;
    // Not recovered: the client is told so, and gets what is kept.
    if (page.recovered && !stream.kept.empty()) {
      from = static_cast<size_t>(std::max<uint64_t>(since->seq + 1, first_kept) - first_kept);
    }
  }
  const size_t end = std::min(stream.kept.size(), from + limit);
  for (size_t i = from; i < end; ++i) page.messages.push_back(stream.kept[i].frame);
  page.more = end < stream.kept.size();
  return page;
}

void Broker::Sweep() {
  if (engine_ != nullptr) SweepEngineStreams();
  const int64_t now = clock_.WallMillis();
  const int64_t oldest = now - options_.ttl_ms;
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = it->second;
    while (!stream.kept.empty() && (stream.kept.front().published_ms < oldest ||
                                    stream.kept.size() > options_.size)) {
      DropOldest(stream);  // expired, or over a size lowered by a reload
    }
    const bool idle = engine_ == nullptr && stream.assigned == stream.top && stream.last_ms < oldest &&
                      hub_.SubscriberCount(it->first) == 0;
    if (!idle) {
      ++it;
      continue;
    }
    if (store_ != nullptr) {
      StoreOp drop;
      drop.kind = StoreOp::Kind::kDropChannel;
      drop.channel = it->first;
      store_->Submit(std::move(drop));
    }
    it = streams_.erase(it);
  }
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (!it->second.pending && it->second.expires_ms <= now) {
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
}

// --- With a cluster engine --------------------------------------------------

void Broker::AttachEngine(ClusterEngine* engine) {
  engine_ = engine;
  engine_->SetEvents(this);
}

FramePtr Broker::FrameOf(const std::string& channel, const std::string& epoch, uint64_t seq,
                         const EntryContent& content) const {
  Notification n{channel,       FormatPosition(epoch, seq), seq,          epoch,
                 content.published_ms, content.title,       content.body, content.data_json};
  return std::make_shared<const Frame>(encoder_.Encode(n), std::move(n.id), seq);
}

void Broker::PublishToEngine(const std::string& channel, PublishInput input,
                             std::string_view idempotency_key, PublishDone done) {
  std::string payload =
      EncodeEntryPayload(clock_.WallMillis(), input.title, input.body, input.data_json);
  engine_->Publish(channel, ids_.NewEpoch(), std::move(payload), idempotency_key,
                   options_.idempotency_ttl_ms,
                   [this, channel, key = std::string(idempotency_key),
                    done = std::move(done)](const EngineAck& ack) mutable {
                     OnEngineAck(channel, key, ack, std::move(done));
                   });
}

void Broker::OnEngineAck(const std::string& channel, const std::string& key, const EngineAck& ack,
                         PublishDone done) {
  PublishOutcome outcome;
  outcome.channel = channel;
  outcome.clustered = true;
  if (!ack.ok) {
    outcome.status = PublishOutcome::Status::kUnavailable;
    outcome.error = ack.error;
    done(outcome);
    return;
  }
  outcome.epoch = ack.epoch;
  outcome.seq = ack.seq;
  outcome.id = FormatPosition(ack.epoch, ack.seq);
  outcome.nodes = ack.nodes;
  if (ack.replayed) {
    ++stats_.idempotent_replays;
    outcome.replayed = true;
    outcome.delivered = ack.delivered;
    done(outcome);
    return;
  }
  hub_.CountUndelivered();  // taken here; delivered (and not counted) where it comes back
  AwaitingEcho awaiting{channel, ack.epoch, ack.seq, 0, std::move(outcome), key, std::move(done)};
  auto it = streams_.find(channel);
  if (it == streams_.end() || !it->second.synced || it->second.epoch != ack.epoch) {
    // No local subscriber, or a new snapshot is on its way: nothing was or
    // will be delivered here as a notification.
    AnswerEcho(awaiting, 0);
    return;
  }
  Stream& stream = it->second;
  if (stream.top >= ack.seq) {
    // It came back through the engine before the engine's answer did.
    size_t delivered = 0;
    for (const auto& [seq, count] : stream.delivered) {
      if (seq == ack.seq) delivered = count;
    }
    AnswerEcho(awaiting, delivered);
    return;
  }
  awaiting.deadline_ms = clock_.MonotonicMillis() + kEchoWaitMs;
  awaiting_echo_.push_back(std::move(awaiting));
}

void Broker::AnswerEcho(AwaitingEcho& awaiting, size_t delivered) {
  awaiting.outcome.delivered = delivered;
  awaiting.done(awaiting.outcome);
  if (!awaiting.key.empty()) engine_->RecordDelivered(awaiting.channel, awaiting.key, delivered);
}

void Broker::OnEntry(const std::string& channel, uint64_t seq, const std::string& payload) {
  auto it = streams_.find(channel);
  if (it == streams_.end() || !it->second.synced) return;
  Stream& stream = it->second;
  stream.top = stream.assigned = seq;
  stream.last_ms = clock_.WallMillis();
  size_t delivered = 0;
  if (std::optional<EntryContent> content = DecodeEntryPayload(payload)) {
    FramePtr frame = FrameOf(channel, stream.epoch, seq, *content);
    delivered = hub_.Deliver(channel, frame, /*count_publish=*/false);
    frame->prepared.reset();
    frame->prepared_sse.reset();
    Keep(stream, Kept{seq, content->published_ms, std::move(frame)});
  } else {
    // Not written by a notifyd: its position counts, there is nothing to show.
    ++stats_.malformed_entries;
    while (!stream.kept.empty()) DropOldest(stream);
  }
  stream.delivered.emplace_back(seq, delivered);
  if (stream.delivered.size() > kDeliveredKept) stream.delivered.pop_front();
  for (auto a = awaiting_echo_.begin(); a != awaiting_echo_.end();) {
    if (a->seq == seq && a->channel == channel && a->epoch == stream.epoch) {
      AnswerEcho(*a, delivered);
      a = awaiting_echo_.erase(a);
    } else {
      ++a;
    }
  }
}

void Broker::OnSynced(const std::string& channel, EngineSnapshot snapshot) {
  auto it = streams_.find(channel);
  if (it == streams_.end()) return;  // detached meanwhile
  Stream& stream = it->second;
  const bool was_synced = stream.synced;
  const bool epoch_changed = stream.epoch != snapshot.epoch;
  while (!stream.kept.empty()) DropOldest(stream);
  stream.delivered.clear();
  stream.epoch = std::move(snapshot.epoch);
  stream.top = stream.assigned = snapshot.top;
  stream.synced = true;
  uint64_t expected = 0;
  for (const EngineEntry& entry : snapshot.entries) {
    std::optional<EntryContent> content = DecodeEntryPayload(entry.payload);
    if (!content || (expected != 0 && entry.seq != expected)) {
      while (!stream.kept.empty()) DropOldest(stream);  // keep only a contiguous run
      expected = entry.seq + 1;
      if (!content) continue;
    }
    expected = entry.seq + 1;
    Keep(stream, Kept{entry.seq, content->published_ms,
                      FrameOf(channel, stream.epoch, entry.seq, *content)});
  }
  if (!stream.kept.empty() && stream.kept.back().seq != stream.top) {
    while (!stream.kept.empty()) DropOldest(stream);  // must end at top
  }
  // Publishes of this node that the new snapshot covers will not come back.
  for (auto a = awaiting_echo_.begin(); a != awaiting_echo_.end();) {
    if (a->channel == channel) {
      AnswerEcho(*a, 0);
      a = awaiting_echo_.erase(a);
    } else {
      ++a;
    }
  }
  if (was_synced) {
    ++stats_.resyncs;
    auto frame = std::make_shared<const Frame>(
        Frame::ResyncTag{},
        encoder_.EncodeResync(channel, stream.epoch, stream.top,
                              epoch_changed ? "epoch_changed" : "gap"),
        FormatPosition(stream.epoch, stream.top));
    hub_.Deliver(channel, frame, /*count_publish=*/false);
  }
  std::vector<Stream::Waiter> waiters = std::move(stream.waiters);
  stream.waiters.clear();
  for (Stream::Waiter& waiter : waiters) waiter.done(ResumeFrom(stream, waiter.since));
}

void Broker::OnEngineState(bool up, const std::string& why) {
  engine_up_ = up;
  engine_error_ = up ? "" : why;
  // Only without the command connection is a position unknowable; a lost
  // subscription alone comes back, and the snapshot with it.
  if (up || engine_->up()) return;
  // A resume that waits for a snapshot cannot be answered while the engine
  // is down; a plain subscribe waits (it is synced when the engine is back).
  for (auto& [channel, stream] : streams_) {
    if (stream.synced) continue;
    std::vector<Stream::Waiter> waiting = std::move(stream.waiters);
    stream.waiters.clear();
    for (Stream::Waiter& waiter : waiting) {
      if (!waiter.since) {
        stream.waiters.push_back(std::move(waiter));
        continue;
      }
      ResumeResult refused;
      refused.unavailable = true;
      refused.error = "Redis is unavailable: " + why;
      waiter.done(std::move(refused));
    }
  }
}

void Broker::SweepEngineStreams() {
  const int64_t now = clock_.MonotonicMillis();
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = it->second;
    if (!stream.waiters.empty() || hub_.SubscriberCount(it->first) > 0) {
      stream.unwatched_since_ms = 0;
      ++it;
      continue;
    }
    if (stream.unwatched_since_ms == 0) {
      stream.unwatched_since_ms = now;  // lingers a second: subscribers come and go
      ++it;
      continue;
    }
    if (now - stream.unwatched_since_ms < kDetachAfterMs) {
      ++it;
      continue;
    }
    engine_->Detach(it->first);
    while (!stream.kept.empty()) DropOldest(stream);
    it = streams_.erase(it);
  }
  while (!awaiting_echo_.empty() && awaiting_echo_.front().deadline_ms <= now) {
    AnswerEcho(awaiting_echo_.front(), 0);
    awaiting_echo_.pop_front();
  }
}

BrokerStats Broker::stats() const {
  BrokerStats s = stats_;
  s.channels = streams_.size();
  return s;
}

}  // namespace notifyd::core
