// Clock, histogram, blocking I/O helpers and /proc sampling of the server.
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common.h"

namespace bench {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void SleepUntilNs(uint64_t t) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(t / 1000000000ull);
  ts.tv_nsec = static_cast<long>(t % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void Histogram::Merge(const Histogram& o) {
  for (size_t i = 0; i < kBuckets; ++i) b_[i] += o.b_[i];
  if (o.max_ > max_) max_ = o.max_;
  n_ += o.n_;
}

void Histogram::Clear() {
  std::fill(b_.begin(), b_.end(), 0);
  max_ = 0;
  n_ = 0;
}

uint64_t Histogram::Upper(size_t i) {
  if (i < 512) return i;
  size_t k = i - 512;
  int e = static_cast<int>(k / 256) + 9;
  uint64_t m = 256 + k % 256;
  int shift = e - 8;
  return ((m + 1) << shift) - 1;
}

double Histogram::Quantile(double q) const {
  if (n_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n_));
  if (rank >= n_) rank = n_ - 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += b_[i];
    if (seen > rank) {
      uint64_t u = Upper(i);
      return static_cast<double>(u < max_ ? u : max_);
    }
  }
  return static_cast<double>(max_);
}

bool ReadFull(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string MakeBody(uint64_t seq, uint64_t send_ns, size_t payload_bytes) {
  char head[64];
  int n = snprintf(head, sizeof head, "@@S%010llu@@T%020llu@@", static_cast<unsigned long long>(seq),
                   static_cast<unsigned long long>(send_ns));
  std::string body(head, static_cast<size_t>(n));
  if (payload_bytes > body.size()) body.append(payload_bytes - body.size(), 'x');
  return "{\"title\":\"t\",\"body\":\"" + body + "\"}";
}

namespace {

// Fields of /proc/PID/stat after the command name: state(3) ppid(4) ...
// utime(14) stime(15) cutime(16) cstime(17).
bool ReadStat(int pid, int* ppid, double* own, double* children) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream f(path);
  std::string s;
  if (!std::getline(f, s)) return false;
  size_t r = s.rfind(')');
  if (r == std::string::npos) return false;
  std::istringstream in(s.substr(r + 2));
  std::string tok;
  std::vector<std::string> v;
  while (in >> tok && v.size() < 16) v.push_back(tok);
  if (v.size() < 15) return false;
  static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  // v[0] is field 3.
  *ppid = atoi(v[1].c_str());
  *own = (atof(v[11].c_str()) + atof(v[12].c_str())) / hz;
  *children = (atof(v[13].c_str()) + atof(v[14].c_str())) / hz;
  return true;
}

double ReadRssKb(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return atof(line.c_str() + 6);
  }
  return 0;
}

bool IsKsoftirqd(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  std::ifstream f(path);
  std::string comm;
  return std::getline(f, comm) && comm.compare(0, 10, "ksoftirqd/") == 0;
}

long CountFds(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR* d = opendir(path);
  if (!d) return 0;
  long n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

ProcSample SampleProc(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  // Parent map of every process, then the descendants of pid (nginx master ->
  // workers; notifyd has none).
  std::multimap<int, int> kids;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      int p = atoi(e->d_name);
      if (p <= 0) continue;
      int pp;
      double a, b;
      if (!ReadStat(p, &pp, &a, &b)) continue;
      kids.emplace(pp, p);
      if (pp == 2 && IsKsoftirqd(p)) s.ksoftirqd_s += a;  // kthreadd's children
    }
    closedir(d);
  }
  std::vector<int> todo{pid};
  for (size_t i = 0; i < todo.size() && i < 4096; ++i) {
    int p = todo[i];
    int pp;
    double own, ch;
    if (!ReadStat(p, &pp, &own, &ch)) continue;
    s.cpu_s += own;
    if (p == pid) s.cpu_s += ch;  // waited-for children of the root
    s.rss_kb += ReadRssKb(p);
    s.fds += CountFds(p);
    ++s.procs;
    auto range = kids.equal_range(p);
    for (auto it = range.first; it != range.second; ++it) todo.push_back(it->second);
  }
  return s;
}

}  // namespace bench
