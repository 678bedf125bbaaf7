#include "daemon/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace notifyd::daemon {

namespace {

// /proc/stat grows with the number of CPUs; this is far above any.
constexpr size_t kMaxProcFileBytes = 1 << 20;

// The whole of a /proc file (whose stat size is 0), at most kMaxProcFileBytes.
bool ReadProcFile(const char* path, std::string* text) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  text->clear();
  char buffer[4096];
  ssize_t n = 0;
  while (text->size() < kMaxProcFileBytes && (n = read(fd, buffer, sizeof buffer)) > 0) {
    text->append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return n >= 0;
}

bool ParseUint(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != text.npos) {
    return false;
  }
  *value = std::strtoull(std::string(text).c_str(), nullptr, 10);
  return true;
}

// Open descriptors: the size of /proc/self/fd where the kernel reports it
// (Linux 6.2 and later), else its entries counted, less the one reading it.
uint64_t CountOpenFds() {
  struct stat st {};
  if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0) return static_cast<uint64_t>(st.st_size);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;
}

}  // namespace

bool ParseProcSelfStat(std::string_view stat, int64_t ticks_per_second, uint64_t page_bytes,
                       uint64_t boot_time_s, protocol::ProcessMetrics* out) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'. Field 3 (state) is index 0.
  const size_t close = stat.rfind(')');
  if (close == stat.npos || ticks_per_second <= 0) return false;
  std::vector<std::string_view> fields;
  size_t pos = close + 1;
  while (fields.size() < 22) {
    pos = stat.find_first_not_of(' ', pos);
    if (pos == stat.npos) break;
    const size_t end = std::min(stat.find_first_of(" \n", pos), stat.size());
    fields.push_back(stat.substr(pos, end - pos));
    pos = end;
  }
  // Fields 14 utime, 15 stime, 22 starttime (clock ticks), 23 vsize
  // (bytes), 24 rss (pages): proc(5).
  uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  if (fields.size() < 22 || !ParseUint(fields[11], &utime) || !ParseUint(fields[12], &stime) ||
      !ParseUint(fields[19], &start) || !ParseUint(fields[20], &vsize) ||
      !ParseUint(fields[21], &rss)) {
    return false;
  }
  const double ticks = static_cast<double>(ticks_per_second);
  out->cpu_seconds = static_cast<double>(utime + stime) / ticks;
  out->virtual_memory_bytes = vsize;
  out->resident_memory_bytes = rss * page_bytes;
  out->start_time_seconds = static_cast<double>(boot_time_s) + static_cast<double>(start) / ticks;
  return true;
}

bool ParseBootTime(std::string_view proc_stat, uint64_t* boot_time_s) {
  constexpr std::string_view kKey = "btime ";
  size_t pos = 0;
  while (pos < proc_stat.size()) {
    const size_t end = std::min(proc_stat.find('\n', pos), proc_stat.size());
    const std::string_view line = proc_stat.substr(pos, end - pos);
    if (line.substr(0, kKey.size()) == kKey)
      return ParseUint(line.substr(kKey.size()), boot_time_s);
    pos = end + 1;
  }
  return false;
}

std::optional<protocol::ProcessMetrics> ReadProcessMetrics() {
  std::string stat;
  std::string proc_stat;
  uint64_t boot_time_s = 0;
  if (!ReadProcFile("/proc/self/stat", &stat)) return std::nullopt;
  if (ReadProcFile("/proc/stat", &proc_stat)) ParseBootTime(proc_stat, &boot_time_s);
  protocol::ProcessMetrics metrics;
  if (!ParseProcSelfStat(stat, sysconf(_SC_CLK_TCK), static_cast<uint64_t>(sysconf(_SC_PAGESIZE)),
                         boot_time_s, &metrics)) {
    return std::nullopt;
  }
  metrics.open_fds = CountOpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    metrics.max_fds = limit.rlim_cur;
  }
  return metrics;
}

}  // namespace notifyd::daemon
