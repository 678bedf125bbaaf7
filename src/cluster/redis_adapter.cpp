#include "cluster/redis_adapter.h"

#include <memory>
#include <utility>

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>

namespace notifyd::cluster {
namespace {

using Wait = asio::posix::descriptor_base::wait_type;

// The adapter's state for one context: ac->ev.data points here.
class LoopEvents : public std::enable_shared_from_this<LoopEvents> {
 public:
  LoopEvents(asio::io_context& io, redisAsyncContext* ac, std::function<void()> on_cleanup)
      : socket_(io), context_(ac), on_cleanup_(std::move(on_cleanup)) {}

  bool Assign(int fd, std::string* error) {
    asio::error_code ec;
    socket_.assign(fd, ec);
    if (ec) *error = "cannot watch the Redis socket: " + ec.message();
    return !ec;
  }

  // hiredis calls these to say what it waits for. They must be idempotent:
  // addRead comes again after every read.
  static void AddRead(void* data) { Self(data)->Want(Wait::wait_read, true); }
  static void DelRead(void* data) { Self(data)->Want(Wait::wait_read, false); }
  static void AddWrite(void* data) { Self(data)->Want(Wait::wait_write, true); }
  static void DelWrite(void* data) { Self(data)->Want(Wait::wait_write, false); }

  // From __redisAsyncFree, before redisFree closes the socket.
  static void Cleanup(void* data) {
    LoopEvents* events = Self(data);
    events->context_ = nullptr;
    events->want_read_ = events->want_write_ = false;
    events->socket_.release();  // pending waits complete with operation_aborted
    // hiredis's reference goes last: `events` may be freed with it.
    std::shared_ptr<LoopEvents> keep = std::move(events->self_);
    std::function<void()> on_cleanup = std::move(events->on_cleanup_);
    if (on_cleanup) on_cleanup();
  }

  /// hiredis's own reference, dropped by Cleanup.
  std::shared_ptr<LoopEvents> self_;

 private:
  static LoopEvents* Self(void* data) { return static_cast<LoopEvents*>(data); }

  void Want(Wait direction, bool wanted) {
    const bool read = direction == Wait::wait_read;
    (read ? want_read_ : want_write_) = wanted;
    bool& waiting = read ? read_waiting_ : write_waiting_;
    // A wait that hiredis no longer wants stays queued and is ignored when it
    // completes: a descriptor's waits can only be cancelled all together.
    if (!read && !wanted) write_tried_ = false;  // all written: the next write may be tried
    if (!wanted || waiting || context_ == nullptr) return;
    waiting = true;
    if (!read && !write_tried_ && (context_->c.flags & REDIS_CONNECTED) != 0) {
      // A connected socket is almost always writable: write on the loop's
      // next turn instead of asking epoll first (a turn less per command).
      // If not everything went, hiredis asks again and epoll is asked then.
      write_tried_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this(), direction] {
        self->Ready(direction, asio::error_code());
      });
      return;
    }
    socket_.async_wait(direction, [self = shared_from_this(), direction](
                                      const asio::error_code& ec) { self->Ready(direction, ec); });
  }

  void Ready(Wait direction, const asio::error_code& ec) {
    const bool read = direction == Wait::wait_read;
    (read ? read_waiting_ : write_waiting_) = false;
    if (ec == asio::error::operation_aborted || context_ == nullptr) return;
    if (!(read ? want_read_ : want_write_)) return;
    // Any other error is left for hiredis to meet on the socket. Either call
    // may free the context (Cleanup runs inside it): nothing after it here
    // may touch the context, and nothing does.
    if (read) {
      redisAsyncHandleRead(context_);
    } else {
      redisAsyncHandleWrite(context_);
    }
  }

  asio::posix::stream_descriptor socket_;
  redisAsyncContext* context_;  // null once hiredis cleaned up
  std::function<void()> on_cleanup_;
  bool want_read_ = false, want_write_ = false;
  bool read_waiting_ = false, write_waiting_ = false;
  bool write_tried_ = false;  ///< A write was tried without asking epoll, and not all went.
};

}  // namespace

bool AttachToLoop(asio::io_context& io, redisAsyncContext* ac, std::function<void()> on_cleanup,
                  std::string* error) {
  auto events = std::make_shared<LoopEvents>(io, ac, std::move(on_cleanup));
  if (!events->Assign(ac->c.fd, error)) return false;
  events->self_ = events;
  ac->ev.data = events.get();
  ac->ev.addRead = &LoopEvents::AddRead;
  ac->ev.delRead = &LoopEvents::DelRead;
  ac->ev.addWrite = &LoopEvents::AddWrite;
  ac->ev.delWrite = &LoopEvents::DelWrite;
  ac->ev.cleanup = &LoopEvents::Cleanup;
  return true;
}

}  // namespace notifyd::cluster
