#include "cli/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

extern char** environ;

namespace notifyd::cli {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// A closed fd 0, 1 or 2 would be handed out for a pipe and then mistaken
// for the child's stdin, stdout or stderr: each is opened on /dev/null.
void EnsureStandardFds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) open("/dev/null", O_RDWR);
  }
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
};

}  // namespace

CommandResult ChildRunner::Run(const std::vector<std::string>& argv) {
  CommandResult result;
  auto start = std::chrono::steady_clock::now();
  if (Start(argv, &result)) Wait(&result);
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  CloseFd(&signal_fd_);
  for (int& fd : out_fds_) CloseFd(&fd);
  tail_->Finish();
  return result;
}

bool ChildRunner::Start(const std::vector<std::string>& argv, CommandResult* result) {
  EnsureStandardFds();
  sigemptyset(&stop_signals_);
  for (int signal : kForwarded) sigaddset(&stop_signals_, signal);
  sigset_t blocked = stop_signals_;
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, &old_mask_);
  signal_fd_ = signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  // Writing to a closed stdout must not kill notifyd-cli before it reports;
  // the child gets SIGPIPE's disposition as notifyd-cli found it.
  struct sigaction ignore {};
  struct sigaction old_pipe {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_pipe);
  // With SIGCHLD ignored (inherited from whoever started notifyd-cli) the
  // kernel would reap the child itself and its status would be lost.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &default_action, nullptr);

  int pipes[2][2];
  if (signal_fd_ < 0 || pipe2(pipes[0], O_CLOEXEC) != 0) {
    result->start_error = std::strerror(errno);
    result->exit_code = kExitCannotRun;
    return false;
  }
  if (pipe2(pipes[1], O_CLOEXEC) != 0) {
    result->start_error = std::strerror(errno);
    result->exit_code = kExitCannotRun;
    close(pipes[0][0]);
    close(pipes[0][1]);
    return false;
  }
  SpawnSetup setup;
  posix_spawn_file_actions_adddup2(&setup.actions, pipes[0][1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, pipes[1][1], STDERR_FILENO);
  sigset_t defaults;
  sigemptyset(&defaults);
  if (old_pipe.sa_handler == SIG_DFL) sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&setup.attr, &old_mask_);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  int error = posix_spawnp(&pid_, args[0], &setup.actions, &setup.attr, args.data(), environ);
  for (int* fds : pipes) close(fds[1]);
  out_fds_[0] = pipes[0][0];
  out_fds_[1] = pipes[1][0];
  if (error != 0) {
    result->start_error = std::strerror(error);
    result->exit_code = ExitCodeOfStartError(error);
    std::cerr << "notifyd-cli: cannot run " << QuotedCommand({argv[0]}) << ": "
              << *result->start_error << '\n';
    return false;
  }
  for (int fd : out_fds_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return true;
}

void ChildRunner::Wait(CommandResult* result) {
  pollfd fds[3] = {{out_fds_[0], POLLIN, 0}, {out_fds_[1], POLLIN, 0}, {signal_fd_, POLLIN, 0}};
  while (!reaped_) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      // Not expected; the output is no longer read, the child still awaited.
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      result->exit_code = ExitCodeOfWaitStatus(status, &result->signal);
      reaped_ = true;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents != 0 && !Pump(i)) fds[i].fd = -1;
    }
    if (fds[2].revents != 0) HandleSignals(result);
  }
  // What the child wrote before it ended is in the pipes now; a process it
  // left behind may hold them open, so reading stops at what is there.
  for (int i = 0; i < 2; ++i) {
    while (fds[i].fd >= 0 && Pump(i)) {
    }
  }
}

// Reads what is there on out_fds_[index]; false at its end (or once nothing
// more is there, after the child ended).
bool ChildRunner::Pump(int index) {
  char chunk[65536];
  ssize_t n = read(out_fds_[index], chunk, sizeof chunk);
  if (n < 0) return errno == EINTR || (errno == EAGAIN && !reaped_);
  if (n == 0) return false;
  tail_->Add(index == 0 ? OutputTail::kStdout : OutputTail::kStderr,
             std::string_view(chunk, static_cast<size_t>(n)));
  PassOn(index == 0 ? STDOUT_FILENO : STDERR_FILENO, chunk, static_cast<size_t>(n));
  return true;
}

void ChildRunner::PassOn(int fd, const char* data, size_t size) {
  bool& enabled = pass_on_[fd == STDOUT_FILENO ? 0 : 1];
  while (enabled && size > 0) {
    ssize_t n = write(fd, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd out = {fd, POLLOUT, 0};
      poll(&out, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      enabled = false;  // our stdout or stderr is gone: the tail is still kept
    }
  }
}

void ChildRunner::HandleSignals(CommandResult* result) {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof info) == sizeof info) {
    int signal = static_cast<int>(info.ssi_signo);
    if (signal == SIGCHLD) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        result->exit_code = ExitCodeOfWaitStatus(status, &result->signal);
        reaped_ = true;
      }
      continue;
    }
    stop_seen_ = true;
    // A terminal's Ctrl-C (SI_KERNEL) reached the child's process group too.
    if (info.ssi_code != SI_KERNEL && !reaped_) kill(pid_, signal);
  }
}

bool ChildRunner::StopRequested() const {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  for (int signal : kForwarded) {
    if (sigismember(&pending, signal) == 1) return true;
  }
  return stop_seen_;
}

}  // namespace notifyd::cli
