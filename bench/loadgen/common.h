// Shared pieces of the load generator: clock, latency histogram, the
// parent <-> worker control protocol and the target description.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

/// CLOCK_MONOTONIC in nanoseconds. It is the same clock in every process of
/// the machine, so the publisher (parent) and the receivers (workers) compare
/// timestamps directly.
uint64_t NowNs();
void SleepUntilNs(uint64_t t);

/// The server under test. notifyd: WebSocket at /ws, then a subscribe command;
/// publish POST /api/notify/<ch>. Nchan: WebSocket at /sub/<ch> (subscribed by
/// the URL), publish POST /pub/<ch>.
struct Target {
  bool nchan = false;
  std::string host = "127.0.0.1";
  int port = 0;
  /// Subscribers connect here over TLS when > 0; publishes stay on `port`.
  int tls_port = 0;
  int SubPort() const { return tls_port > 0 ? tls_port : port; }
  std::string SubPath(const std::string& ch) const { return nchan ? "/sub/" + ch : "/ws"; }
  std::string PubPath(const std::string& ch) const {
    return nchan ? "/pub/" + ch : "/api/notify/" + ch;
  }
};

/// Latency histogram in microseconds: exact below 512 us, then 256 buckets per
/// power of two (error < 0.4 %).
class Histogram {
 public:
  static constexpr size_t kBuckets = 512 + 40 * 256;
  Histogram() : b_(kBuckets, 0) {}
  void Add(uint64_t us) {
    ++b_[Index(us)];
    if (us > max_) max_ = us;
    ++n_;
  }
  void Merge(const Histogram& o);
  void Clear();
  uint64_t Count() const { return n_; }
  uint64_t Max() const { return max_; }
  /// q in [0,1]; the value (upper edge of the bucket, capped at max) in us.
  double Quantile(double q) const;
  std::vector<uint64_t>& raw() { return b_; }
  const std::vector<uint64_t>& raw() const { return b_; }
  uint64_t& raw_max() { return max_; }
  uint64_t& raw_n() { return n_; }

 private:
  static size_t Index(uint64_t v) {
    if (v < 512) return v;
    int e = 63 - __builtin_clzll(v);  // >= 9
    if (e > 48) return kBuckets - 1;
    int shift = e - 8;
    return 512 + static_cast<size_t>(e - 9) * 256 + ((v >> shift) - 256);
  }
  static uint64_t Upper(size_t i);
  std::vector<uint64_t> b_;
  uint64_t max_ = 0;
  uint64_t n_ = 0;
};

// ---- control protocol over a socketpair: parent sends one command byte,
// ---- the worker answers with a Reply (and, for 'S', the histogram buckets).
enum Cmd : char {
  kOpen = 'O',      // connect + subscribe every connection of the worker
  kProgress = 'P',  // cheap counters
  kZero = 'Z',      // reset latency/receive counters
  kStats = 'S',     // counters + histogram
  kClose = 'X',     // close every connection: even index clean, odd abrupt
  kQuit = 'Q',
  kResume = 'R',    // reconnect every connection the server closed, subscribe with since
};

struct Reply {
  uint32_t cmd = 0;
  uint32_t ready = 0;        // connections subscribed and open
  uint32_t failed = 0;       // connections that could not be opened / lost
  uint32_t closed_clean = 0; // kClose: close handshakes completed
  uint64_t elapsed_ns = 0;   // kOpen / kClose: time the phase took
  uint64_t received = 0;     // notifications received since the last kZero
  uint64_t min_per_conn = 0; // fewest notifications on one ready connection
  uint64_t max_per_conn = 0;
  uint64_t out_of_order = 0; // sequence numbers that were not last+1
  uint64_t protocol_errors = 0;
  uint64_t hist_n = 0;
  uint64_t hist_max = 0;
  // The resume scenario (WorkerConfig::resume):
  uint32_t gone = 0;           // connections the server closed, position kept
  uint32_t recovered = 0;      // resumed with recovered:true and the expected missed
  uint32_t not_recovered = 0;  // recovered:false, or another missed count
  uint32_t resumed_done = 0;   // got exactly the expected missed notifications
  uint64_t extra = 0;          // notifications past the expected ones after a resume
  uint64_t last_done_ns = 0;   // when the last client completed (CLOCK_MONOTONIC)
  uint64_t cpu_us = 0;         // the worker's own CPU (user + system) so far
};

/// Reads or writes exactly n bytes (blocking fd); false on EOF/error.
bool ReadFull(int fd, void* p, size_t n);
bool WriteFull(int fd, const void* p, size_t n);

struct WorkerConfig {
  Target target;
  uint32_t first = 0;    // global index of the first connection
  uint32_t count = 0;    // connections of this worker
  uint32_t channels = 1; // connection i subscribes to channel prefix + (i % channels)
  std::string prefix = "c";
  uint32_t max_inflight = 200;  // handshakes in flight at once
  uint64_t open_timeout_ns = 120'000'000'000ull;
  // Resume scenario: every connection keeps its position (epoch and seq of the
  // last notification, or of `subscribed`), a close by the server is expected
  // (the connection waits for kResume), and kResume subscribes again with
  // `since`, expecting recovered:true and `expect_missed` notifications.
  bool resume = false;
  uint32_t expect_missed = 0;
  uint32_t resume_inflight = 0;  // handshakes in flight during kResume (0: all at once)
};

/// Runs a worker's event loop on control socket `ctl` until kQuit or EOF.
int RunWorker(const WorkerConfig& cfg, int ctl);

/// The body marker: "@@S<seq 10 digits>@@T<send time ns, 20 digits>@@".
/// Found with memmem in the received frame, never parsed as JSON.
constexpr const char kMarkerS[] = "@@S";
std::string MakeBody(uint64_t seq, uint64_t send_ns, size_t payload_bytes);

struct PublishResult {
  bool ok = false;
  int status = 0;
  long delivered = -1;  // notifyd "delivered", Nchan "active subscribers"
};

/// One HTTP POST on a fresh connection, `Connection: close`, read to EOF.
/// Times out after timeout_ms.
PublishResult PublishOnce(const Target& t, const std::string& channel, const std::string& json,
                          int timeout_ms = 10000);

/// What ParseResponse found at the front of a connection's bytes.
struct ResponseParse {
  bool complete = false;  // a whole response: status, headers and body
  bool bad = false;       // not an HTTP/1.x response
  bool close = false;     // the server closes after it (Connection: close, HTTP/1.0, EOF body)
  size_t consumed = 0;    // its length in bytes, when complete
};

/// Parses one HTTP/1.x response (body by Content-Length, chunked, or up to
/// EOF when at_eof) and fills r when it is complete.
ResponseParse ParseResponse(const std::string& in, bool at_eof, PublishResult* r);

struct KeepAliveOptions {
  int connections = 16;
  uint64_t end_ns = 0;                     // no new request from then on
  std::function<std::string()> make_body;  // the JSON of the next publish
  // Request n goes to channel + (n % channels) when channels > 1, else to
  // channel itself.
  uint32_t channels = 1;
  uint64_t max_requests = 0;               // stop after this many (0: only end_ns)
};

struct KeepAliveStats {
  uint64_t ok = 0, errors = 0;
  uint64_t connections = 0;    // TCP connections opened
  uint64_t server_closes = 0;  // responses that closed their connection
  uint64_t retries = 0;        // requests sent again after the server closed an idle connection
  uint64_t delivered = 0;      // sum of the reported deliveries
  int first_error_status = 0;
  uint64_t end_ns = 0;         // when the last in-flight response arrived
};

/// `connections` persistent HTTP/1.1 connections on one epoll loop (as
/// `wrk -t1 -c16`), each with one POST in flight, until end_ns (or
/// max_requests were sent); then waits (at most 10 s) for the responses in
/// flight.
KeepAliveStats RunKeepAlive(const Target& t, const std::string& channel,
                            const KeepAliveOptions& o);

/// Server process accounting (the process and all its descendants).
struct ProcSample {
  double cpu_s = 0;       // utime+stime of the tree + cutime+cstime of the root
  double rss_kb = 0;      // sum of VmRSS
  long fds = 0;           // open fds of the tree
  int procs = 0;
  // utime+stime of the kernel's ksoftirqd/N threads. Softirq work (for
  // loopback TCP: the receiver's side of every send) runs in the sending
  // process and is billed to it, unless the kernel defers it to ksoftirqd,
  // which bills nobody: adding this keeps a server from looking cheap by
  // sending in bursts that overflow into ksoftirqd.
  double ksoftirqd_s = 0;
};
ProcSample SampleProc(int pid);

}  // namespace bench
