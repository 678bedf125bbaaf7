// Sends to many sockets with few system calls. A publish to 10,000
// subscribers is 10,000 sendmsg calls; on a virtual machine every system call
// costs about 1 µs on its own (docs/BENCHMARKS.md), so the batch goes to the
// kernel through io_uring, many sendmsg per io_uring_enter. Every send is
// MSG_DONTWAIT: the kernel completes it inline or fails it with EAGAIN, so a
// batch is complete when Run returns and nothing outlives it. Where io_uring
// is unavailable (old kernel, seccomp, kernel.io_uring_disabled) it falls
// back to one sendmsg per socket, with the same results.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace notifyd::transport {

class BatchSender {
 public:
  /// Up to this many buffers per socket and batch.
  static constexpr size_t kMaxIov = 64;

  /// `use_io_uring` false: always one sendmsg per socket.
  explicit BatchSender(bool use_io_uring = true);
  ~BatchSender();
  BatchSender(const BatchSender&) = delete;
  BatchSender& operator=(const BatchSender&) = delete;

  /// "io_uring" or "sendmsg", and why when io_uring could not be set up.
  const std::string& description() const { return description_; }

  /// Starts a new, empty batch.
  void Begin();
  /// Adds a send on `fd`: fill the returned kMaxIov buffers, then Commit(n)
  /// with how many were filled (1..kMaxIov), before the next Add.
  iovec* Add(int fd);
  void Commit(size_t n);
  size_t size() const { return entries_.size(); }

  /// One sendmsg of iov[0, n) on `fd`, with the flags every send here uses
  /// (MSG_NOSIGNAL | MSG_DONTWAIT), retried on EINTR: the byte count, or -1
  /// with *error an errno. For a single client outside a batch.
  static ssize_t SendNow(int fd, const iovec* iov, size_t n, int* error);

  /// Sends the batch; then calls done(i, result, error) for every entry in
  /// the order added: result is the byte count, or -1 with error an errno.
  void Run(const std::function<void(size_t, ssize_t, int)>& done);

 private:
  struct Entry {
    int fd;
    size_t first;  ///< Index of its first buffer in iov_.
    size_t count;
  };
  struct Ring;

  void RunSendmsg(size_t from);
  void RunRing();
  void Disable(const std::string& why);

  std::unique_ptr<Ring> ring_;
  std::string description_;
  std::vector<Entry> entries_;
  std::vector<iovec> iov_;  ///< iov_[0, iov_used_) belong to entries_.
  size_t iov_used_ = 0;
  std::vector<ssize_t> results_;
  std::vector<int> errors_;
};

}  // namespace notifyd::transport
