#include "transport/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "transport/batch_sender.h"
#include "transport/server.h"

namespace notifyd::transport {

namespace {

// Reads per readiness event before the connection waits its turn again.
constexpr int kReadsPerEvent = 4;

template <typename F>
void Guard(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("unexpected error in the {} handler: {}", what, e.what());
  }
}

}  // namespace

Connection::Connection(Server& server, asio::ip::tcp::socket socket, std::string peer)
    : server_(server), socket_(std::move(socket)), peer_(std::move(peer)) {}

void Connection::Start(std::unique_ptr<Protocol> protocol) {
  protocol_ = std::move(protocol);
  WaitReadable();
}

void Connection::Upgrade(std::unique_ptr<Protocol> next, std::string_view rest) {
  retired_ = std::move(protocol_);
  protocol_ = std::move(next);
  if (!rest.empty() && state_ == State::kOpen) protocol_->OnData(rest);
}

// --- sending ------------------------------------------------------------------

void Connection::Queue(Bytes bytes) {
  if (state_ == State::kClosed) return;
  queued_ += bytes->size();
  out_.push_back(std::move(bytes));
  if (dirty || write_waiting_) return;
  server_.MarkDirty(this);
}

void Connection::DropUnstarted() {
  size_t keep = head_ + (offset_ > 0 ? 1 : 0);
  for (size_t i = keep; i < out_.size(); ++i) queued_ -= out_[i]->size();
  out_.resize(std::min(out_.size(), keep));
}

size_t Connection::FillIov(iovec* iov, size_t max) const {
  size_t n = 0;
  for (size_t i = head_; i < out_.size() && n < max; ++i, ++n) {
    const std::string& b = *out_[i];
    size_t skip = i == head_ ? offset_ : 0;
    iov[n].iov_base = const_cast<char*>(b.data() + skip);
    iov[n].iov_len = b.size() - skip;
  }
  return n;
}

void Connection::SendDone(ssize_t result, int error) {
  if (state_ == State::kClosed) return;
  if (result < 0) {
    if (error == EAGAIN || error == EWOULDBLOCK) {
      WaitWritable();
      return;
    }
    spdlog::debug("send to {} failed: {}", peer_, std::strerror(error));
    Destroy();
    return;
  }
  Advance(static_cast<size_t>(result));
  if (head_ < out_.size()) {
    // The kernel took part of it: its buffer is full, or more than
    // BatchSender::kMaxIov frames were queued. Go on when it can take more.
    WaitWritable();
    return;
  }
  Drained();
}

void Connection::Flush() {
  if (state_ == State::kClosed) return;
  if (head_ == out_.size()) {
    Drained();
    return;
  }
  iovec iov[BatchSender::kMaxIov];
  int error = 0;
  ssize_t w = BatchSender::SendNow(fd(), iov, FillIov(iov, BatchSender::kMaxIov), &error);
  SendDone(w, error);
}

void Connection::Advance(size_t n) {
  queued_ -= std::min(queued_, n);
  while (n > 0 && head_ < out_.size()) {
    size_t left = out_[head_]->size() - offset_;
    if (n < left) {
      offset_ += n;
      return;
    }
    n -= left;
    out_[head_].reset();
    ++head_;
    offset_ = 0;
  }
}

void Connection::Drained() {
  out_.clear();
  if (out_.capacity() > 16) std::vector<Bytes>().swap(out_);
  head_ = 0;
  offset_ = 0;
  queued_ = 0;
  if (shutdown_after_write_) {
    ShutdownSending();
    return;
  }
  if (state_ == State::kOpen && protocol_) protocol_->OnDrained();
}

void Connection::WaitWritable() {
  if (write_waiting_) return;
  write_waiting_ = true;
  auto self = shared_from_this();
  socket_.async_wait(asio::socket_base::wait_write, [self](const asio::error_code& ec) {
    self->write_waiting_ = false;
    if (self->closed()) return;
    if (ec) {
      self->Destroy();
      return;
    }
    Guard("write", [&] { self->Flush(); });
  });
}

// --- ending --------------------------------------------------------------------

void Connection::SendLast(std::string bytes) {
  if (state_ == State::kClosed) return;
  // Time to get the bytes out (a large /api/clients to a slow client); the
  // peer then gets kCloseTimeoutMs to close.
  deadline_ms_ = server_.clock().MonotonicMillis() + kLastWriteTimeoutMs;
  state_ = State::kLingering;
  if (!bytes.empty()) Queue(std::make_shared<const std::string>(std::move(bytes)));
  if (head_ == out_.size()) {
    ShutdownSending();
    return;
  }
  shutdown_after_write_ = true;  // Drained() shuts down
  if (!write_waiting_) Flush();
}

// Sends nothing more: the peer sees EOF once it has read everything. The
// connection is closed when the peer closes too (or at the deadline), so
// that no unread input makes the kernel reset what is still in flight.
void Connection::ShutdownSending() {
  shutdown_after_write_ = false;
  ::shutdown(fd(), SHUT_WR);
  state_ = State::kLingering;
  deadline_ms_ = server_.clock().MonotonicMillis() + kCloseTimeoutMs;
  if (read_eof_) Destroy();  // the peer is gone already
}

void Connection::Destroy() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  asio::error_code ignored;
  socket_.close(ignored);
  out_.clear();
  head_ = offset_ = queued_ = 0;
  auto self = shared_from_this();  // Remove() drops the server's reference
  if (protocol_) protocol_->OnClosed();
  server_.Remove(this);
}

// --- reading ---------------------------------------------------------------------

void Connection::ResumeReading() {
  paused_ = false;
  WaitReadable();
}

void Connection::WaitReadable() {
  if (read_waiting_ || paused_ || read_eof_ || state_ == State::kClosed) return;
  read_waiting_ = true;
  auto self = shared_from_this();
  socket_.async_wait(asio::socket_base::wait_read, [self](const asio::error_code& ec) {
    self->read_waiting_ = false;
    if (self->closed()) return;
    if (ec) {
      self->Destroy();
      return;
    }
    Guard("read", [&] { self->OnReadable(); });
    self->retired_.reset();
    self->WaitReadable();
  });
}

// Reads into one buffer shared by every connection: an idle connection
// holds no read buffer at all.
void Connection::OnReadable() {
  std::vector<char>& buffer = server_.read_buffer();
  for (int i = 0; i < kReadsPerEvent && !closed() && !read_eof_ && !paused_; ++i) {
    ssize_t n = ::recv(fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      // Once lingering, input is read only to be dropped.
      if (state_ == State::kOpen) protocol_->OnData(std::string_view(buffer.data(), n));
      if (static_cast<size_t>(n) < buffer.size()) return;
      continue;
    }
    if (n == 0) {
      OnEof();
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    spdlog::debug("read from {} failed: {}", peer_, std::strerror(errno));
    Destroy();
    return;
  }
}

void Connection::OnEof() {
  read_eof_ = true;  // stop reading: EOF stays readable
  if (head_ < out_.size()) {
    // The peer is done sending but may still read the rest of our reply.
    if (state_ == State::kLingering) return;
    if (protocol_->FinishAfterEof()) {
      SendLast({});
      return;
    }
  }
  Destroy();
}

}  // namespace notifyd::transport
