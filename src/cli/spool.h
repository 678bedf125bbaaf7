// notifyd-cli's spool: a directory of notifications not delivered yet, one
// file each (spool_record.h), kept when the server could not be reached or
// answered 5xx and delivered later, oldest first, by spool_flusher.h.
//
// Layout of the directory (mode 0700):
//   <micros>-<hex>.json   a notification waiting (SpoolFileName)
//   .tmp-<name>           one being written; never read as a record
//   .lock                 flock()ed by whoever delivers (SpoolLock)
//   failed/<name>         refused for good (a 4xx), with the reason in "last_error"
//   corrupt/<name>        a file that could not be read as a record, as it was
// Nothing is ever dropped silently: what cannot be delivered is moved aside
// and reported by the caller. File system work only, no sockets.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/spool_record.h"

namespace notifyd::cli {

/// The spool of root (the package creates it, mode 0700).
inline constexpr const char* kSystemSpoolDir = "/var/spool/notifyd";

/// The spool directory: `option` (--spool), else $NOTIFYD_SPOOL, else
/// kSystemSpoolDir for root, else $XDG_STATE_HOME/notifyd when that is an
/// absolute path, else ~/.local/state/notifyd ($HOME, or the password
/// database's home). False and *error when there is no home to use.
bool ResolveSpoolDir(const std::optional<std::string>& option, std::string* dir,
                     std::string* error);

/// ResolveSpoolDir as if the process ran as root (`as_root`) or not.
bool ResolveSpoolDirAs(bool as_root, const std::optional<std::string>& option, std::string* dir,
                       std::string* error);

/// One spool directory. Every method reports failures as false plus *error
/// (a sentence naming the path and the reason).
class Spool {
 public:
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }

  /// DIR/name.
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  /// Writes `record` as a new file named by the current time, creating the
  /// directory (and missing parents, mode 0700) when needed: a temporary
  /// file is written, fsync'ed and renamed into place, and the directory
  /// fsync'ed, so the record is there whole or not at all, also after a
  /// crash. Fills *path.
  bool Add(const SpoolRecord& record, std::string* path, std::string* error) const;

  /// The names of the records waiting, oldest first; none when the directory
  /// does not exist.
  bool List(std::vector<std::string>* names, std::string* error) const;

  /// What Read found.
  enum class ReadStatus {
    kOk,          ///< *out holds the record.
    kCorrupt,     ///< The file is there but is not a record (cut short, damaged).
    kUnreadable,  ///< The file could not be read (permissions, I/O): left alone.
  };

  /// Reads record `name`; *error says what is wrong unless kOk.
  ReadStatus Read(const std::string& name, SpoolRecord* out, std::string* error) const;

  /// Replaces record `name` with `record`, as atomically as Add.
  bool Replace(const std::string& name, const SpoolRecord& record, std::string* error) const;

  /// Removes record `name` (delivered).
  bool Remove(const std::string& name, std::string* error) const;

  /// Moves file `name`, as it is, to corrupt/name; fills *moved_to.
  bool SetAsideCorrupt(const std::string& name, std::string* moved_to, std::string* error) const;

  /// Writes `record` (its last_error saying why) to failed/name, then
  /// removes `name`; fills *moved_to.
  bool SetAsideFailed(const std::string& name, const SpoolRecord& record, std::string* moved_to,
                      std::string* error) const;

 private:
  bool WriteAtomically(const std::string& dir, const std::string& name, const std::string& text,
                       std::string* error) const;

  std::string dir_;
};

/// Holds the spool's lock (flock on DIR/.lock) while it lives, so that one
/// process at a time delivers from the spool and nothing is sent twice by
/// two flushes. The kernel lets go of it when the process ends, however it
/// ends.
class SpoolLock {
 public:
  SpoolLock() = default;
  ~SpoolLock();
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;

  /// Takes the lock of `spool` (creating the directory when needed); with
  /// `wait`, waits while another process holds it. False when not taken:
  /// *error says why, or is empty when another process holds it and not
  /// `wait`.
  bool Acquire(const Spool& spool, bool wait, std::string* error);

 private:
  int fd_ = -1;
};

}  // namespace notifyd::cli
