#include "transport/event_stream.h"

#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/history.h"
#include "protocol/messages.h"

namespace notifyd::transport {

namespace {

// Appends `text` as `data:` lines. A notification's JSON is one line (JSON
// escapes line breaks), but a line break would end the field early, so
// every CR, LF or CRLF starts a new `data:` line, which the client joins
// back with LF.
void AppendData(std::string_view text, std::string* out) {
  for (;;) {
    size_t end = text.find_first_of("\r\n");
    out->append("data: ").append(text.substr(0, end)).append("\n");
    if (end == std::string_view::npos) return;
    size_t skip = text.compare(end, 2, "\r\n") == 0 ? 2 : 1;
    text.remove_prefix(end + skip);
  }
}

// The event of a notification, built once per publish and shared by every
// stream (as the WebSocket frame is by every session).
Bytes NotificationEvent(const core::Frame& frame) {
  if (frame.prepared_sse) return std::static_pointer_cast<const std::string>(frame.prepared_sse);
  std::string event;
  event.reserve(frame.id.size() + frame.text.size() + 40);
  if (!frame.id.empty()) event.append("id: ").append(frame.id).append("\n");
  event.append(frame.resync ? "event: resync\n" : "event: notification\n");
  AppendData(frame.text, &event);
  event.append("\n");
  auto bytes = std::make_shared<const std::string>(std::move(event));
  frame.prepared_sse = bytes;
  return bytes;
}

// A comment line: keeps proxies from closing an idle stream.
const Bytes& PingEvent() {
  static const Bytes ping = std::make_shared<const std::string>(": ping\n\n");
  return ping;
}

}  // namespace

EventStream::EventStream(Connection& connection, AddressSlot* slot, http::Api::EventsStart start)
    : Protocol(/*wants_drained=*/false),
      connection_(connection),
      server_(connection.server()),
      channel_(std::move(start.channel)),
      slot_(slot) {
  last_ping_ms_ = server_.clock().MonotonicMillis();
  server_.SessionOpened(SessionKind::kEvents);
  core::Hub& hub = server_.hub();
  const core::ClientInfo& info = hub.Connect(this);
  handle_ = info.handle;
  spdlog::debug("sse client {} connected from {} to {} (streams: {})", info.id, connection_.peer(),
                channel_, server_.sse_streams());
  if (!hub.Subscribe(handle_, channel_).ok) {
    spdlog::warn("sse client {}: the subscription limit refused {}", info.id, channel_);
  }
  Resume(start.since);
}

EventStream::~EventStream() = default;

// Everything runs on the loop thread: the replay is queued before any live
// notification can be delivered (also when the answer comes later, from the
// cluster engine: the broker delivers nothing live on the channel before).
void EventStream::Resume(const std::optional<core::Position>& since) {
  std::weak_ptr<int> alive = alive_;
  std::optional<core::ResumeResult> now = server_.broker().Resume(channel_, since, [&] {
    return [this, alive, since](core::ResumeResult later) {
      if (alive.expired()) return;
      Resumed(since, later);
    };
  });
  if (now) Resumed(since, *now);
}

void EventStream::Resumed(const std::optional<core::Position>& since,
                          const core::ResumeResult& resume) {
  if (resume.unavailable) {
    // Without the cluster engine the position cannot be checked: the
    // client is told, and reconnects (EventSource does) with its position.
    if (!open_) return;
    open_ = false;
    connection_.SendLast("event: error\ndata: " +
                         protocol::EncodeHttpError("Broker unavailable", resume.error) + "\n\n");
    return;
  }
  if (!since) return;
  if (resume.recovery.recovered) {
    for (const core::FramePtr& frame : resume.frames) server_.hub().DeliverTo(handle_, frame);
    return;
  }
  // The id makes a browser's next reconnect resume from the top. Channel
  // names and epochs hold no character that JSON escapes.
  std::string event = "event: resync\nid: " + core::FormatPosition(resume.epoch, resume.top) +
                      "\ndata: {\"channel\":\"" + channel_ + "\",\"epoch\":\"" + resume.epoch +
                      "\",\"seq\":" + std::to_string(resume.top) + "}\n\n";
  if (Admit(event.size())) connection_.Queue(std::make_shared<const std::string>(std::move(event)));
}

std::string EventStream::Describe() const {
  const core::ClientInfo* info = server_.hub().Find(handle_);
  return "sse client " + (info ? info->id : std::string("?")) + " on " + channel_;
}

// --- sending ------------------------------------------------------------------

bool EventStream::Deliver(const core::FramePtr& frame) {
  if (!open_ || overflowed_ || connection_.state() != Connection::State::kOpen) return false;
  Bytes bytes = NotificationEvent(*frame);
  if (!Admit(bytes->size())) return false;
  connection_.Queue(std::move(bytes));
  return true;
}

/// True when `bytes` more fit under the per-client cap; else drops the client.
bool EventStream::Admit(size_t bytes) {
  if (overflowed_) return false;
  if (connection_.queued() + bytes <= server_.config().max_queued_bytes_per_client) return true;
  Overflowed();
  return false;
}

// A client that does not read what it is sent. An event stream has no
// closing handshake: events not yet started are dropped and the next sweep
// closes the connection (not now: this may run inside the hub's delivery,
// which a close would call back into). A client that sees the stream end in
// the middle of an event discards that event.
void EventStream::Overflowed() {
  overflowed_ = true;
  ++server_.counters().slow_clients_dropped;
  spdlog::warn("{} ({}) dropped: more than {} bytes queued for it (not reading)", Describe(),
               connection_.peer(), server_.config().max_queued_bytes_per_client);
  connection_.DropUnstarted();
  connection_.set_deadline(server_.clock().MonotonicMillis());
}

void EventStream::OnSweep(int64_t now_ms) {
  if (!open_ || overflowed_) return;
  const auto interval_ms = static_cast<int64_t>(server_.config().heartbeat_interval_s * 1000);
  if (now_ms - last_ping_ms_ < interval_ms) return;
  last_ping_ms_ = now_ms;
  if (Admit(PingEvent()->size())) connection_.Queue(PingEvent());
}

// --- closing ------------------------------------------------------------------

void EventStream::Shutdown() {
  if (!open_) return;
  open_ = false;
  connection_.SendLast({});
}

void EventStream::OnClosed() {
  spdlog::debug("{} ({}) disconnected", Describe(), connection_.peer());
  server_.hub().Disconnect(handle_);
  server_.SessionClosed(SessionKind::kEvents, slot_);
  slot_ = nullptr;
}

}  // namespace notifyd::transport
