#include "transport/batch_sender.h"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace notifyd::transport {

namespace {
// Sends per io_uring_enter; a larger batch is split. At 10,000 subscribers
// (bench/compare.py, server + ksoftirqd CPU per delivery, runs of 3) 32 came
// out worse than 256 and 1024 no better, with more of the loopback softirq
// work deferred to ksoftirqd; the run-to-run noise is about 20 %.
constexpr unsigned kRingEntries = 256;
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
}  // namespace

struct BatchSender::Ring {
  io_uring ring{};
  std::vector<msghdr> msgs;
};

BatchSender::BatchSender(bool use_io_uring) {
  if (!use_io_uring) {
    description_ = "sendmsg (io_uring disabled)";
    return;
  }
  auto ring = std::make_unique<Ring>();
  int rc = io_uring_queue_init(kRingEntries, &ring->ring, 0);
  if (rc < 0) {
    description_ = std::string("sendmsg (io_uring unavailable: ") + std::strerror(-rc) + ")";
    return;
  }
  ring_ = std::move(ring);
  description_ = "io_uring";
}

BatchSender::~BatchSender() {
  if (ring_) io_uring_queue_exit(&ring_->ring);
}

void BatchSender::Begin() {
  entries_.clear();
  iov_used_ = 0;
}

iovec* BatchSender::Add(int fd) {
  // Grows, never shrinks, and is not cleared: Add costs no memset.
  if (iov_.size() < iov_used_ + kMaxIov) iov_.resize(std::max(2 * iov_.size(), iov_used_ + kMaxIov));
  entries_.push_back({fd, iov_used_, 0});
  return iov_.data() + iov_used_;
}

void BatchSender::Commit(size_t n) {
  Entry& e = entries_.back();
  e.count = n;
  iov_used_ = e.first + n;
}

void BatchSender::Run(const std::function<void(size_t, ssize_t, int)>& done) {
  size_t n = entries_.size();
  if (n == 0) return;
  results_.assign(n, -1);
  errors_.assign(n, 0);
  // A single send gains nothing from the ring.
  if (n > 1 && ring_) {
    RunRing();
  } else {
    RunSendmsg(0);
  }
  for (size_t i = 0; i < n; ++i) done(i, results_[i], errors_[i]);
}

ssize_t BatchSender::SendNow(int fd, const iovec* iov, size_t n, int* error) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = n;
  ssize_t w;
  do {
    w = ::sendmsg(fd, &msg, kSendFlags);
  } while (w < 0 && errno == EINTR);
  *error = w < 0 ? errno : 0;
  return w;
}

void BatchSender::RunSendmsg(size_t from) {
  for (size_t i = from; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    results_[i] = SendNow(e.fd, iov_.data() + e.first, e.count, &errors_[i]);
  }
}

// Sends entries [0, n) through the ring. If the ring fails, it is shut down
// for good (unsubmitted entries die with it) and the rest goes by sendmsg.
void BatchSender::RunRing() {
  io_uring* ring = &ring_->ring;
  size_t n = entries_.size();
  ring_->msgs.assign(n, msghdr{});
  for (size_t done = 0; done < n;) {
    size_t chunk = std::min<size_t>(n - done, kRingEntries);
    for (size_t i = done; i < done + chunk; ++i) {
      const Entry& e = entries_[i];
      msghdr& msg = ring_->msgs[i];
      msg.msg_iov = iov_.data() + e.first;
      msg.msg_iovlen = e.count;
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (e.count == 1) {
        // The common case, one frame: send skips importing a msghdr.
        io_uring_prep_send(sqe, e.fd, iov_[e.first].iov_base, iov_[e.first].iov_len, kSendFlags);
      } else {
        io_uring_prep_sendmsg(sqe, e.fd, &msg, kSendFlags);
      }
      io_uring_sqe_set_data64(sqe, i);
    }
    int rc;
    do {
      // -EINTR only when nothing was submitted: the entries are still queued.
      rc = io_uring_submit_and_wait(ring, static_cast<unsigned>(chunk));
    } while (rc == -EINTR);
    if (rc < 0) {
      Disable(std::string("io_uring_enter: ") + std::strerror(-rc));
      RunSendmsg(done);
      return;
    }
    // Every send completes inline (MSG_DONTWAIT): collect the chunk.
    for (size_t seen = 0; seen < chunk;) {
      io_uring_cqe* cqe = nullptr;
      int w = io_uring_wait_cqe(ring, &cqe);
      if (w == -EINTR) continue;
      if (w < 0) {
        // Whether the rest went out is unknown: fail those sockets.
        for (size_t i = done; i < n; ++i) {
          if (results_[i] < 0 && errors_[i] == 0) errors_[i] = EIO;
        }
        Disable(std::string("io_uring_wait_cqe: ") + std::strerror(-w));
        return;
      }
      size_t i = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
      if (i < n) {
        results_[i] = cqe->res >= 0 ? cqe->res : -1;
        errors_[i] = cqe->res >= 0 ? 0 : -cqe->res;
      }
      io_uring_cqe_seen(ring, cqe);
      ++seen;
    }
    done += chunk;
  }
}

void BatchSender::Disable(const std::string& why) {
  io_uring_queue_exit(&ring_->ring);
  ring_.reset();
  description_ = "sendmsg (io_uring failed: " + why + ")";
}

}  // namespace notifyd::transport
