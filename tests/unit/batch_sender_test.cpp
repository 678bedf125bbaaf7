// BatchSender over local socket pairs, through io_uring and through the
// sendmsg fallback: every entry's result in order, partial sends, EAGAIN and
// errors per entry, batches larger than one ring submission.
#include "transport/batch_sender.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace notifyd::transport {
namespace {

struct Pair {
  int ours = -1;
  int theirs = -1;
};

class BatchSenderTest : public ::testing::TestWithParam<bool> {
 protected:
  BatchSenderTest() { pairs_.reserve(1024); }  // NewPair's references stay valid
  ~BatchSenderTest() override {
    for (const Pair& p : pairs_) {
      if (p.ours >= 0) close(p.ours);
      if (p.theirs >= 0) close(p.theirs);
    }
  }

  Pair& NewPair(int sndbuf = 0) {
    EXPECT_LT(pairs_.size(), pairs_.capacity());
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    if (sndbuf > 0) setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    pairs_.push_back({fds[0], fds[1]});
    return pairs_.back();
  }

  static std::string Drain(int fd) {
    std::string out;
    char buf[65536];
    for (int i = 0; i < 1000; ++i) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  struct Result {
    ssize_t bytes;
    int error;
  };

  std::vector<Result> Run(BatchSender& sender) {
    std::vector<Result> results;
    sender.Run([&](size_t i, ssize_t bytes, int error) {
      EXPECT_EQ(i, results.size());  // in the order added
      results.push_back({bytes, error});
    });
    return results;
  }

  std::vector<Pair> pairs_;
};

TEST_P(BatchSenderTest, DescribesItsMode) {
  BatchSender sender(GetParam());
  if (GetParam()) {
    // io_uring, or the fallback with the reason (a kernel or sandbox without it).
    EXPECT_TRUE(sender.description() == "io_uring" ||
                sender.description().rfind("sendmsg (io_uring unavailable: ", 0) == 0)
        << sender.description();
  } else {
    EXPECT_EQ(sender.description(), "sendmsg (io_uring disabled)");
  }
}

TEST_P(BatchSenderTest, SendsEveryEntryInOrderAcrossSubmissions) {
  BatchSender sender(GetParam());
  constexpr int kSockets = 600;  // more than one ring submission (256)
  std::vector<std::string> first(kSockets), second(kSockets);
  for (int i = 0; i < kSockets; ++i) NewPair();
  sender.Begin();
  for (int i = 0; i < kSockets; ++i) {
    first[i] = "frame-" + std::to_string(i) + "|";
    second[i] = std::string(static_cast<size_t>(i % 7), 'x');
    iovec* iov = sender.Add(pairs_[i].ours);
    iov[0] = {first[i].data(), first[i].size()};
    size_t n = 1;
    if (!second[i].empty()) iov[n++] = {second[i].data(), second[i].size()};
    sender.Commit(n);
  }
  EXPECT_EQ(sender.size(), static_cast<size_t>(kSockets));
  std::vector<Result> results = Run(sender);
  ASSERT_EQ(results.size(), static_cast<size_t>(kSockets));
  for (int i = 0; i < kSockets; ++i) {
    EXPECT_EQ(results[i].error, 0) << i;
    EXPECT_EQ(results[i].bytes, static_cast<ssize_t>(first[i].size() + second[i].size())) << i;
    EXPECT_EQ(Drain(pairs_[i].theirs), first[i] + second[i]) << i;
  }
}

TEST_P(BatchSenderTest, ReusableAfterRun) {
  BatchSender sender(GetParam());
  Pair& p = NewPair();
  for (int round = 0; round < 3; ++round) {
    std::string text = "round " + std::to_string(round);
    sender.Begin();
    sender.Add(p.ours)[0] = {text.data(), text.size()};
    sender.Commit(1);
    std::vector<Result> results = Run(sender);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].bytes, static_cast<ssize_t>(text.size()));
    EXPECT_EQ(Drain(p.theirs), text);
  }
}

TEST_P(BatchSenderTest, ErrorsStayWithTheirEntry) {
  BatchSender sender(GetParam());
  Pair& good1 = NewPair();
  Pair& closed = NewPair();
  Pair& good2 = NewPair();
  Pair& full = NewPair(4096);
  Pair& partial = NewPair(4096);
  // The peer of `closed` is gone: EPIPE (and no SIGPIPE: MSG_NOSIGNAL).
  close(closed.theirs);
  closed.theirs = -1;
  // `full` cannot take another byte: EAGAIN, not a block (MSG_DONTWAIT).
  std::string chunk(4096, 'f');
  for (int i = 0; i < 10000 && send(full.ours, chunk.data(), chunk.size(), MSG_DONTWAIT) > 0; ++i) {
  }
  std::string a = "a", b = "b", big(1 << 20, 'p');
  sender.Begin();
  sender.Add(good1.ours)[0] = {a.data(), a.size()};
  sender.Commit(1);
  sender.Add(closed.ours)[0] = {a.data(), a.size()};
  sender.Commit(1);
  sender.Add(good2.ours)[0] = {b.data(), b.size()};
  sender.Commit(1);
  sender.Add(full.ours)[0] = {a.data(), a.size()};
  sender.Commit(1);
  sender.Add(partial.ours)[0] = {big.data(), big.size()};
  sender.Commit(1);
  std::vector<Result> results = Run(sender);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].bytes, 1);
  EXPECT_EQ(results[1].bytes, -1);
  EXPECT_EQ(results[1].error, EPIPE);
  EXPECT_EQ(results[2].bytes, 1);
  EXPECT_EQ(results[3].bytes, -1);
  EXPECT_TRUE(results[3].error == EAGAIN || results[3].error == EWOULDBLOCK) << results[3].error;
  // The kernel takes what fits: a partial send, reported as such.
  EXPECT_GT(results[4].bytes, 0);
  EXPECT_LT(results[4].bytes, static_cast<ssize_t>(big.size()));
  EXPECT_EQ(Drain(good1.theirs), "a");
  EXPECT_EQ(Drain(good2.theirs), "b");
  EXPECT_EQ(Drain(partial.theirs).size(), static_cast<size_t>(results[4].bytes));
}

TEST_P(BatchSenderTest, EmptyBatchCallsNothing) {
  BatchSender sender(GetParam());
  sender.Begin();
  int calls = 0;
  sender.Run([&](size_t, ssize_t, int) { ++calls; });
  EXPECT_EQ(calls, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, BatchSenderTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("IoUring") : std::string("Sendmsg");
                         });

}  // namespace
}  // namespace notifyd::transport
