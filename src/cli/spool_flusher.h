// Delivering what notifyd-cli's spool (spool.h) keeps: `notifyd-cli flush`,
// and the flush every publish and run make once they have reached the
// server. Oldest first, each with its own Idempotency-Key, under the spool's
// lock, so that two flushes never send one notification twice and a flush
// that dies half-way is safely done again; each record is removed only after
// the server took it. Only records meant for the server this invocation
// talks to are sent (with its token); others wait for a flush aimed at
// theirs. Everything set aside or left is reported on stderr.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/server_address.h"
#include "cli/spool.h"

namespace notifyd::cli {

/// What one flush did.
struct FlushSummary {
  int delivered = 0;  ///< Sent and removed.
  int failed = 0;     ///< Refused for good: moved to failed/.
  int corrupt = 0;    ///< Not readable as records: moved to corrupt/.
  int left = 0;       ///< Still waiting for this server (it could not take them now).
  int elsewhere = 0;  ///< Waiting for another server: not this flush's to send.
  std::vector<std::string> other_servers;  ///< Their URLs, each once.
  bool busy = false;  ///< Another process held the lock (when not waiting for it).
};

class SpoolFlusher {
 public:
  /// Flushes `spool` to `target` as `token`.
  SpoolFlusher(const Spool& spool, const HttpTarget& target, std::optional<std::string> token);

  /// Takes the spool's lock (waiting for it when `wait`; otherwise gives up
  /// at once, with summary->busy, when another process holds it) and
  /// delivers, oldest first, until the records are done or `stop` (when
  /// set) returns true. Once the server cannot take one now, the later ones
  /// for it are left too, in order; corrupt files are still set aside. Returns false, after a note
  /// on stderr, when the spool could not be locked or read.
  bool Flush(bool wait, const std::function<bool()>& stop, FlushSummary* summary);

 private:
  // Handles one record: delivers it, sets it aside, or leaves it.
  void DeliverOne(const std::string& name, FlushSummary* summary);
  // Leaves a record in the spool, counting the attempts and noting why.
  void Keep(const std::string& name, SpoolRecord record, int attempts, const std::string& why);

  const Spool& spool_;
  HttpTarget target_;
  std::string url_;
  std::optional<std::string> token_;
  bool unavailable_ = false;  // the server could not take one: send no more
};

/// What publish and run do after reaching the server: a flush that does not
/// wait for the lock and stays silent unless something is set aside or left.
/// `stop` as for Flush.
void FlushAfterSuccess(const Spool& spool, const HttpTarget& target,
                       const std::optional<std::string>& token,
                       const std::function<bool()>& stop = nullptr);

/// Runs `notifyd-cli flush ARGS...` (`args` excludes "flush"); returns the
/// exit code: 0 when nothing is left, 1 when something is.
int RunFlush(const std::vector<std::string>& args);

}  // namespace notifyd::cli
