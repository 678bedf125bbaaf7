// A redis-server child of a GoogleTest integration test (the Redis
// connections', the engine's), without persistence, on 127.0.0.1 (when given a
// port) and on a unix socket in its own directory; PING-checked at start,
// and only its own PID is ever killed. The Python tests have
// tests/integration/redis_harness.py for the same.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

namespace notifyd::testing_support {

/// The redis-server on PATH, or "" (the caller skips).
inline std::string FindRedisServer() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/redis-server";
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

/// A loopback port nothing listens on (bound once, then released); 0 on failure.
inline uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(address.sin_port);
}

class RedisServer {
 public:
  RedisServer(std::string binary, std::string dir)
      : binary_(std::move(binary)), dir_(std::move(dir)) {}
  ~RedisServer() { Kill(); }

  /// `port` 0: the unix socket only.
  bool Start(uint16_t port, std::string* error) {
    port_ = port;
    const std::string port_text = std::to_string(port);
    const std::string log = dir_ + "/redis.log";
    std::vector<std::string> args = {
        binary_,     "--port",           port_text, "--bind",
        "127.0.0.1", "--save",           "",        "--appendonly",
        "no",        "--daemonize",      "no",      "--dir",
        dir_,        "--logfile",        log,       "--unixsocket",
        unix_path(), "--unixsocketperm", "700",     "--enable-debug-command",
        "local"};
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(binary_.c_str(), argv.data());
      _exit(127);
    }
    if (pid_ < 0) {
      *error = "fork failed";
      return false;
    }
    // Ready when it answers PING, within 5 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "redis-server exited at start; its log: " + ReadLog();
        return false;
      }
      if (Control({"PING"}) == "PONG") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "redis-server did not answer PING within 5 s; its log: " + ReadLog();
    return false;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// One command on a short blocking connection of the test's own, outside
  /// the connections under test; the reply as text ("" when none).
  std::string Control(const std::vector<std::string>& argv) const {
    redisContext* c = redisConnectUnixWithTimeout(unix_path().c_str(), timeval{0, 200 * 1000});
    std::string out;
    if (c != nullptr && c->err == 0) {
      std::vector<const char*> words;
      std::vector<size_t> lengths;
      for (const auto& word : argv) {
        words.push_back(word.data());
        lengths.push_back(word.size());
      }
      auto* reply = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(words.size()), words.data(), lengths.data()));
      if (reply != nullptr) {
        if (reply->str != nullptr) out.assign(reply->str, reply->len);
        if (reply->type == REDIS_REPLY_INTEGER) out = std::to_string(reply->integer);
        freeReplyObject(reply);
      }
    }
    if (c != nullptr) redisFree(c);
    return out;
  }

  uint16_t port() const { return port_; }
  std::string unix_path() const { return dir_ + "/redis.sock"; }

 private:
  std::string ReadLog() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string binary_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace notifyd::testing_support
