#include "cli/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

namespace notifyd::cli {
namespace {

// A record is a notification of at most the server's body limit, escaped;
// anything larger is not one of ours.
constexpr size_t kMaxRecordBytes = size_t{16} << 20;
constexpr mode_t kDirMode = 0700;
constexpr int kNameAttempts = 8;

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::string Reason(const std::string& what, const std::string& path) {
  return "cannot " + what + " " + path + ": " + std::strerror(errno);
}

// Creates `path` and its missing parents with mode 0700.
bool MakeDirs(const std::string& path, std::string* error) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string part = path.substr(0, slash);
    if (!part.empty() && mkdir(part.c_str(), kDirMode) != 0 && errno != EEXIST) {
      *error = Reason("create", part);
      return false;
    }
    if (slash == std::string::npos) return true;
  }
}

bool SyncDir(const std::string& dir, std::string* error) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ok = fd >= 0 && fsync(fd) == 0;
  if (!ok) *error = Reason("sync", dir);
  if (fd >= 0) close(fd);
  return ok;
}

bool WriteAll(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The whole file, up to `limit` + 1 bytes (so a larger one shows as larger).
bool ReadFile(const std::string& path, size_t limit, std::string* text) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  char chunk[65536];
  bool ok = true;
  while (text->size() <= limit) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    text->append(chunk, static_cast<size_t>(n));
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return ok;
}

std::string NewName() {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  std::random_device random;
  return SpoolFileName(static_cast<uint64_t>(micros.count()), random());
}

std::string HomeDir() {
  if (const char* home = NonEmptyEnv("HOME")) return home;
  const passwd* entry = getpwuid(geteuid());
  return entry != nullptr && entry->pw_dir != nullptr ? entry->pw_dir : "";
}

}  // namespace

bool ResolveSpoolDir(const std::optional<std::string>& option, std::string* dir,
                     std::string* error) {
  return ResolveSpoolDirAs(geteuid() == 0, option, dir, error);
}

bool ResolveSpoolDirAs(bool as_root, const std::optional<std::string>& option, std::string* dir,
                       std::string* error) {
  if (option && !option->empty()) {
    *dir = *option;
  } else if (const char* env = NonEmptyEnv("NOTIFYD_SPOOL")) {
    *dir = env;
  } else if (as_root) {
    *dir = kSystemSpoolDir;
  } else if (const char* state = NonEmptyEnv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    *dir = std::string(state) + "/notifyd";
  } else if (std::string home = HomeDir(); !home.empty() && home[0] == '/') {
    *dir = home + "/.local/state/notifyd";
  } else {
    *error = "no spool directory: neither $XDG_STATE_HOME nor a home directory is known";
    return false;
  }
  while (dir->size() > 1 && dir->back() == '/') dir->pop_back();
  return true;
}

bool Spool::WriteAtomically(const std::string& dir, const std::string& name,
                            const std::string& text, std::string* error) const {
  std::string temp = dir + "/.tmp-" + name;
  std::string path = dir + "/" + name;
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = Reason("create", temp);
    return false;
  }
  bool ok = WriteAll(fd, text) && fsync(fd) == 0;
  if (!ok) *error = Reason("write", temp);
  if (close(fd) != 0 && ok) {
    *error = Reason("write", temp);
    ok = false;
  }
  if (ok && rename(temp.c_str(), path.c_str()) != 0) {
    *error = Reason("rename " + temp + " to", path);
    ok = false;
  }
  if (!ok) {
    unlink(temp.c_str());
    return false;
  }
  return SyncDir(dir, error);
}

bool Spool::Add(const SpoolRecord& record, std::string* path, std::string* error) const {
  std::optional<std::string> text = EncodeSpoolRecord(record);
  SpoolRecord check;
  if (!text || !DecodeSpoolRecord(*text, &check, error)) {
    *error = "the notification cannot be kept: " + (text ? *error : "its data is not an object");
    return false;
  }
  if (!MakeDirs(dir_, error)) return false;
  // Two processes may pick the same name only within one microsecond and
  // with the same 32 random bits; the name is checked all the same.
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    std::string name = NewName();
    struct stat existing;
    if (lstat(PathOf(name).c_str(), &existing) == 0) continue;
    *path = PathOf(name);
    return WriteAtomically(dir_, name, *text, error);
  }
  *error = "cannot find a free file name in " + dir_;
  return false;
}

bool Spool::List(std::vector<std::string>* names, std::string* error) const {
  names->clear();
  DIR* dir = opendir(dir_.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return true;
    *error = Reason("read", dir_);
    return false;
  }
  while (const dirent* entry = readdir(dir)) {
    if (IsSpoolFileName(entry->d_name)) names->emplace_back(entry->d_name);
  }
  closedir(dir);
  std::sort(names->begin(), names->end());
  return true;
}

Spool::ReadStatus Spool::Read(const std::string& name, SpoolRecord* out, std::string* error) const {
  std::string text;
  if (!ReadFile(PathOf(name), kMaxRecordBytes, &text)) {
    *error = Reason("read", PathOf(name));
    return ReadStatus::kUnreadable;
  }
  if (text.size() > kMaxRecordBytes) {
    *error = "larger than " + std::to_string(kMaxRecordBytes >> 20) + " MiB";
    return ReadStatus::kCorrupt;
  }
  return DecodeSpoolRecord(text, out, error) ? ReadStatus::kOk : ReadStatus::kCorrupt;
}

bool Spool::Replace(const std::string& name, const SpoolRecord& record, std::string* error) const {
  std::optional<std::string> text = EncodeSpoolRecord(record);
  if (!text) {
    *error = "cannot encode " + PathOf(name);
    return false;
  }
  return WriteAtomically(dir_, name, *text, error);
}

bool Spool::Remove(const std::string& name, std::string* error) const {
  if (unlink(PathOf(name).c_str()) != 0) {
    *error = Reason("remove", PathOf(name));
    return false;
  }
  return SyncDir(dir_, error);
}

bool Spool::SetAsideCorrupt(const std::string& name, std::string* moved_to,
                            std::string* error) const {
  std::string aside = dir_ + "/corrupt";
  *moved_to = aside + "/" + name;
  if (!MakeDirs(aside, error)) return false;
  if (rename(PathOf(name).c_str(), moved_to->c_str()) != 0) {
    *error = Reason("move " + PathOf(name) + " to", *moved_to);
    return false;
  }
  return SyncDir(dir_, error) && SyncDir(aside, error);
}

bool Spool::SetAsideFailed(const std::string& name, const SpoolRecord& record,
                           std::string* moved_to, std::string* error) const {
  std::string aside = dir_ + "/failed";
  *moved_to = aside + "/" + name;
  std::optional<std::string> text = EncodeSpoolRecord(record);
  if (!text) {
    *error = "cannot encode " + PathOf(name);
    return false;
  }
  return MakeDirs(aside, error) && WriteAtomically(aside, name, *text, error) &&
         Remove(name, error);
}

SpoolLock::~SpoolLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

bool SpoolLock::Acquire(const Spool& spool, bool wait, std::string* error) {
  error->clear();
  if (fd_ >= 0) return true;
  if (!MakeDirs(spool.dir(), error)) return false;
  std::string path = spool.PathOf(".lock");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = Reason("open", path);
    return false;
  }
  int result;
  do {
    result = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    if (errno != EWOULDBLOCK) *error = Reason("lock", path);
    close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

}  // namespace notifyd::cli
