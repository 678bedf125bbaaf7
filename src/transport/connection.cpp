#include "transport/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "transport/batch_sender.h"
#include "transport/server.h"
#include "transport/tls_channel.h"
#include "transport/tls_record.h"

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

Connection::Connection(Server& server, asio::ip::tcp::socket socket, std::string peer,
                       std::unique_ptr<TlsChannel> tls)
    : server_(server), socket_(std::move(socket)), peer_(std::move(peer)), tls_(std::move(tls)) {}

Connection::~Connection() = default;

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
  if (!tls_ || tls_kernel_) {
    QueueWire(std::move(bytes));
    return;
  }
  sealing_bytes_ += bytes->size();
  sealing_.push_back(std::move(bytes));
  if (dirty || write_waiting_) return;
  server_.MarkDirty(this);
}

void Connection::QueueWire(Bytes bytes) {
  if (state_ == State::kClosed) return;
  queued_ += bytes->size();
  out_.push_back(std::move(bytes));
  if (dirty || write_waiting_) return;
  server_.MarkDirty(this);
}

void Connection::DropUnstarted() {
  if (tls_ && !tls_kernel_) {
    // Sealed records cannot be dropped (each has its sequence number); the
    // plaintext not sealed yet can.
    sealing_.clear();
    sealing_bytes_ = 0;
    return;
  }
  size_t keep = head_ + (offset_ > 0 ? 1 : 0);
  for (size_t i = keep; i < out_.size(); ++i) queued_ -= out_[i]->size();
  out_.resize(std::min(out_.size(), keep));
}

size_t Connection::FillIov(iovec* iov, size_t max) {
  if (tls_ && !tls_kernel_) Seal();
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
  if (tls_kernel_ && tls_->CountKernelSend(static_cast<size_t>(result))) EndAtRecordLimit();
  if (static_cast<size_t>(result) == queued_) {
    Drained();  // the usual case: everything went out
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
  if (tls_ && !tls_kernel_) Seal();
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
  if (state_ == State::kOpen && protocol_->wants_drained()) protocol_->OnDrained();
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
  if (tls_) {
    tls_closing_ = true;
    Seal();  // the last records, then close_notify (or the alert of a failure)
  }
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
  if (tls_kernel_ && tls_closing_ && !tls_->failed() && !SendKernelCloseNotify(fd())) {
    spdlog::debug("TLS with {}: close_notify not sent: {}", peer_, std::strerror(errno));
  }
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
  sealing_.clear();
  sealing_bytes_ = 0;
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
      if (state_ == State::kOpen) {
        if (tls_) {
          ReceiveTls(std::string_view(buffer.data(), n));
        } else {
          protocol_->OnData(std::string_view(buffer.data(), n));
        }
      }
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
  if (head_ < out_.size() || sealing_bytes_ > 0) {
    // The peer is done sending but may still read the rest of our reply.
    if (state_ == State::kLingering) return;
    if (protocol_->FinishAfterEof()) {
      SendLast({});
      return;
    }
  }
  Destroy();
}

// --- TLS ---------------------------------------------------------------------------

void Connection::ReceiveTls(std::string_view ciphertext) {
  const bool was_established = tls_->established();
  TlsChannel::Status status =
      tls_->Receive(ciphertext, server_.tls_buffer(), [this](std::string_view plaintext) {
        protocol_->OnData(plaintext);
        return state_ == State::kOpen;
      });
  if (!was_established && tls_->established()) {
    spdlog::debug("TLS with {}: {}", peer_, tls_->Describe());
  }
  if (closed()) return;
  TakeTlsOutput();  // the handshake's replies, a KeyUpdate's, an alert
  switch (status) {
    case TlsChannel::Status::kOk:
      return;
    case TlsChannel::Status::kClosed:
      OnEof();
      return;
    case TlsChannel::Status::kFailed:
      if (tls_->sealing() != TlsChannel::Sealing::kOpenSsl) {
        // After the takeover: a KeyUpdate asked for, or OpenSSL's alert on a
        // broken record, neither of which can be sent with our sequence
        // numbers. The connection ends without them.
        spdlog::debug("TLS with {} failed: {}", peer_, tls_->error());
        Destroy();
        return;
      }
      // Not a ClientHello, no common version or protocol, a forged record:
      // the alert goes out and the connection ends, as after a last response.
      spdlog::debug("TLS with {} failed: {}", peer_, tls_->error());
      SendLast({});
      return;
  }
}

void Connection::Seal() {
  if (tls_->established()) {
    // Kernel TLS: once every record sealed so far is in the socket (the
    // kernel seals in the order written), the kernel seals what follows, and
    // the plaintext waiting is queued as it is. Until then, and if the kernel
    // refuses, records are sealed here, in order, with the same numbering.
    if (tls_->kernel_wanted() && head_ == out_.size() && tls_->output().empty() &&
        tls_->StartKernel(fd())) {
      tls_kernel_ = true;
      spdlog::debug("TLS with {}: {}", peer_, tls_->Describe());
      for (Bytes& b : sealing_) {
        queued_ += b->size();
        out_.push_back(std::move(b));
      }
      sealing_.clear();
      sealing_bytes_ = 0;
      if (tls_closing_) tls_->Close();  // ShutdownSending sends close_notify
      return;
    }
    for (const Bytes& b : sealing_) {
      if (!tls_->Seal(*b)) {
        auto self = shared_from_this();
        if (tls_->failed()) {
          // Only after a fatal error, which ends the connection anyway.
          spdlog::debug("TLS with {} failed: {}", peer_, tls_->error());
          server_.Post([self] { self->Destroy(); });
        } else {
          // The key's record limit: close_notify is sealed, the end follows.
          EndAtRecordLimit();
        }
        break;
      }
    }
    sealing_.clear();
    if (sealing_.capacity() > 16) std::vector<Bytes>().swap(sealing_);
    sealing_bytes_ = 0;
    if (tls_closing_) tls_->Close();
  }
  std::string& output = tls_->output();
  if (output.empty()) return;
  queued_ += output.size();
  out_.push_back(std::make_shared<const std::string>(std::move(output)));
  output = std::string();
}

void Connection::EndAtRecordLimit() {
  spdlog::debug("TLS with {}: the record limit of the key is reached, closing", peer_);
  auto self = shared_from_this();
  server_.Post([self] {
    if (self->state() == State::kOpen) self->SendLast({});
  });
}

void Connection::TakeTlsOutput() {
  std::string& output = tls_->output();
  if (output.empty()) return;
  QueueWire(std::make_shared<const std::string>(std::move(output)));
  output = std::string();
}

}  // namespace notifyd::transport
