// notifyd-bench: load generator for notifyd and Nchan (docs/BENCHMARKS.md).
//
//   notifyd-bench --target notifyd|nchan --port N --pid SERVER_PID SCENARIO [options]
//
// The parent process forks the worker processes (each an epoll loop holding a
// share of the WebSocket connections, below the per-process open-files limit),
// publishes over HTTP, samples the server's /proc and prints one JSON object.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

using namespace bench;

namespace {

const char kUsage[] =
    "usage: notifyd-bench --target notifyd|nchan --port N [--pid SERVER_PID] SCENARIO [options]\n"
    "scenarios:\n"
    "  idle     --conns N [--channels 100]        connect N subscribers, RSS per connection\n"
    "  fanout   --subs S --rate P --duration T    S subscribers on one channel, P publishes/s\n"
    "           [--saturate --publishes N]        or N publishes back-to-back (one in flight)\n"
    "           [--port-b P --subs-b S2]  S2 more subscribers on a second server (a cluster\n"
    "                     node); publishes still go to --port; *_a / *_b figures per server\n"
    "  publish  --subs S --duration T [--concurrency K]   HTTP publishes/s, K connections\n"
    "           [--keepalive]   K persistent connections on one thread (as wrk -t1 -cK);\n"
    "                           without it K threads, a new connection per publish\n"
    "           [--spread C]    round robin over channels pub0..pub<C-1> (default pub0),\n"
    "                           subscriber i on pub<i % C>\n"
    "           [--count N]     stop after N publishes (keep-alive; --duration still bounds)\n"
    "  churn    --rounds R --conns N [--channels 100]     connect+subscribe+close rounds\n"
    "  resume   --subs S [--channels 100] [--missed 10] [--resume-inflight 0]\n"
    "           S subscribers keep their positions; prints 'PHASE restart' and reads the\n"
    "           restarted server's pid from stdin; publishes MISSED per channel; all\n"
    "           reconnect at once (0: no cap on handshakes in flight) with since\n"
    "         --tls-port N  subscribers connect over TLS to port N (publishes stay on --port)\n"
    "options: --workers W  --payload BYTES (body size, default 100)  --host 127.0.0.1\n"
    "         --sample NAME:PID  (repeatable) NAME_cpu_s: that process's CPU over the\n"
    "                            measured phase (fanout: e.g. the other node, Redis)\n"
    "         --hook-before CMD  --hook-after CMD  (run by sh around the measured publishes)\n";

struct Args {
  Target target;
  int pid = 0;
  std::string scenario;
  uint32_t conns = 1000, channels = 100, subs = 100, rounds = 5, publishes = 100;
  uint32_t spread = 1, missed = 10;
  uint64_t count = 0;
  uint32_t resume_inflight = 0;
  double rate = 20, duration = 10;
  int workers = 0, concurrency = 4;
  size_t payload = 100;
  bool saturate = false;
  bool keepalive = false;
  std::string hook_before, hook_after;
  // fanout: a second server's subscribers (--port-b, --subs-b).
  int port_b = 0;
  uint32_t subs_b = 0;
  std::vector<std::pair<std::string, int>> samples;  // --sample NAME:PID
};

[[noreturn]] void Usage(const char* why) {
  fprintf(stderr, "notifyd-bench: %s\n%s", why, kUsage);
  exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--target") {
      std::string t = val();
      if (t != "notifyd" && t != "nchan") Usage("--target is notifyd or nchan");
      a.target.nchan = t == "nchan";
    } else if (k == "--port") {
      a.target.port = atoi(val().c_str());
    } else if (k == "--tls-port") {
      a.target.tls_port = atoi(val().c_str());
    } else if (k == "--host") {
      a.target.host = val();
    } else if (k == "--pid") {
      a.pid = atoi(val().c_str());
    } else if (k == "--conns") {
      a.conns = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--channels") {
      a.channels = std::max<uint32_t>(1, static_cast<uint32_t>(atol(val().c_str())));
    } else if (k == "--subs") {
      a.subs = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--rounds") {
      a.rounds = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--publishes") {
      a.publishes = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--rate") {
      a.rate = atof(val().c_str());
    } else if (k == "--duration") {
      a.duration = atof(val().c_str());
    } else if (k == "--workers") {
      a.workers = atoi(val().c_str());
    } else if (k == "--concurrency") {
      a.concurrency = std::max(1, atoi(val().c_str()));
    } else if (k == "--payload") {
      a.payload = static_cast<size_t>(atol(val().c_str()));
    } else if (k == "--spread") {
      a.spread = std::max<uint32_t>(1, static_cast<uint32_t>(atol(val().c_str())));
    } else if (k == "--count") {
      a.count = static_cast<uint64_t>(atoll(val().c_str()));
    } else if (k == "--missed") {
      a.missed = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--resume-inflight") {
      a.resume_inflight = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--saturate") {
      a.saturate = true;
    } else if (k == "--keepalive") {
      a.keepalive = true;
    } else if (k == "--port-b") {
      a.port_b = atoi(val().c_str());
    } else if (k == "--subs-b") {
      a.subs_b = static_cast<uint32_t>(atol(val().c_str()));
    } else if (k == "--sample") {
      std::string v = val();
      size_t colon = v.rfind(':');
      if (colon == std::string::npos || colon == 0 || atoi(v.c_str() + colon + 1) <= 0) {
        Usage("--sample is NAME:PID");
      }
      a.samples.emplace_back(v.substr(0, colon), atoi(v.c_str() + colon + 1));
    } else if (k == "--hook-before") {
      a.hook_before = val();
    } else if (k == "--hook-after") {
      a.hook_after = val();
    } else if (k == "-h" || k == "--help") {
      fputs(kUsage, stdout);
      exit(0);
    } else if (!k.empty() && k[0] != '-' && a.scenario.empty()) {
      a.scenario = k;
    } else {
      Usage(("unknown argument " + k).c_str());
    }
  }
  if (a.target.port <= 0) Usage("--port is required");
  if (a.target.host != "127.0.0.1" && a.target.host != "localhost") Usage("only 127.0.0.1");
  a.target.host = "127.0.0.1";
  if (a.scenario.empty()) Usage("no scenario");
  if (a.rate <= 0 || a.rate > 100000) Usage("--rate out of range");
  if (a.duration <= 0 || a.duration > 600) Usage("--duration out of range (0, 600]");
  if (a.conns > 200000 || a.subs > 200000 || a.subs_b > 200000) {
    Usage("at most 200000 connections");
  }
  if ((a.subs_b > 0) != (a.port_b > 0)) Usage("--port-b and --subs-b go together");
  if (a.rounds > 100 || a.publishes > 1000000) Usage("--rounds <= 100, --publishes <= 1e6");
  return a;
}

/// The set of worker processes and the blocking control protocol to them.
class Pool {
 public:
  Pool(const Target& t, uint32_t conns, uint32_t channels, const std::string& prefix, int workers)
      : Pool(conns, workers, Template(t, channels, prefix)) {}

  /// Workers configured as `tmpl`, each with its share of the connections.
  Pool(uint32_t conns, int workers, const WorkerConfig& tmpl) {
    if (conns == 0) return;
    int w = workers > 0 ? workers : std::max<int>(2, static_cast<int>((conns + 7999) / 8000));
    w = std::min<int>(w, static_cast<int>(conns));
    uint32_t per = conns / static_cast<uint32_t>(w), extra = conns % static_cast<uint32_t>(w);
    uint32_t first = 0;
    for (int i = 0; i < w; ++i) {
      WorkerConfig cfg = tmpl;
      cfg.first = first;
      cfg.count = per + (static_cast<uint32_t>(i) < extra ? 1 : 0);
      first += cfg.count;
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        exit(1);
      }
      fflush(nullptr);
      pid_t p = fork();
      if (p < 0) {
        perror("fork");
        exit(1);
      }
      if (p == 0) {
        for (int fd : ctl_) close(fd);
        close(sv[0]);
        _exit(RunWorker(cfg, sv[1]));
      }
      close(sv[1]);
      ctl_.push_back(sv[0]);
      pids_.push_back(p);
    }
  }
  ~Pool() {
    for (int fd : ctl_) {
      char q = kQuit;
      WriteFull(fd, &q, 1);
      close(fd);
    }
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
  }
  bool empty() const { return ctl_.empty(); }

  static WorkerConfig Template(const Target& t, uint32_t channels, const std::string& prefix) {
    WorkerConfig cfg;
    cfg.target = t;
    cfg.channels = channels;
    cfg.prefix = prefix;
    return cfg;
  }

  /// Sends cmd to every worker, then sums the replies.
  Reply All(char cmd, Histogram* hist = nullptr) {
    Reply sum;
    sum.cmd = static_cast<uint32_t>(cmd);
    sum.min_per_conn = UINT64_MAX;
    for (int fd : ctl_) WriteFull(fd, &cmd, 1);
    if (cmd == kZero || cmd == kQuit) {
      sum.min_per_conn = 0;
      return sum;
    }
    Histogram h;
    for (int fd : ctl_) {
      Reply r;
      if (!ReadFull(fd, &r, sizeof r)) {
        fprintf(stderr, "notifyd-bench: a worker died\n");
        exit(1);
      }
      if (cmd == kStats) {
        if (!ReadFull(fd, h.raw().data(), h.raw().size() * sizeof(uint64_t))) exit(1);
        h.raw_n() = r.hist_n;
        h.raw_max() = r.hist_max;
        if (hist) hist->Merge(h);
      }
      sum.ready += r.ready;
      sum.failed += r.failed;
      sum.closed_clean += r.closed_clean;
      sum.elapsed_ns = std::max(sum.elapsed_ns, r.elapsed_ns);
      sum.received += r.received;
      if (r.ready > 0) sum.min_per_conn = std::min(sum.min_per_conn, r.min_per_conn);
      sum.max_per_conn = std::max(sum.max_per_conn, r.max_per_conn);
      sum.out_of_order += r.out_of_order;
      sum.protocol_errors += r.protocol_errors;
      sum.gone += r.gone;
      sum.recovered += r.recovered;
      sum.not_recovered += r.not_recovered;
      sum.resumed_done += r.resumed_done;
      sum.extra += r.extra;
      sum.last_done_ns = std::max(sum.last_done_ns, r.last_done_ns);
      sum.cpu_us += r.cpu_us;
    }
    if (sum.min_per_conn == UINT64_MAX) sum.min_per_conn = 0;
    return sum;
  }

  /// Polls until `target` notifications arrived, or no progress for idle_s, or
  /// max_s in all. Returns the time the last progress was seen.
  uint64_t WaitReceived(uint64_t target, double idle_s, double max_s, uint64_t* got) {
    const uint64_t start = NowNs();
    uint64_t last_change = start, last = UINT64_MAX;
    // Bounded by max_s.
    for (;;) {
      Reply r = All(kProgress);
      uint64_t now = NowNs();
      if (r.received != last) {
        last = r.received;
        last_change = now;
      }
      *got = r.received;
      if (r.received >= target) return now;
      if ((now - last_change) / 1e9 > idle_s || (now - start) / 1e9 > max_s) return last_change;
      usleep(2000);
    }
  }

 private:
  std::vector<int> ctl_;
  std::vector<pid_t> pids_;
};

/// One JSON object on stdout, flat, numbers and strings only.
class Out {
 public:
  void S(const std::string& k, const std::string& v) { kv_.emplace_back(k, "\"" + v + "\""); }
  void N(const std::string& k, double v) {
    char b[64];
    if (std::isfinite(v)) {
      snprintf(b, sizeof b, "%.6g", v);
    } else {
      snprintf(b, sizeof b, "null");
    }
    kv_.emplace_back(k, b);
  }
  void Raw(const std::string& k, const std::string& v) { kv_.emplace_back(k, v); }
  void Print() {
    std::string s = "{";
    for (size_t i = 0; i < kv_.size(); ++i) {
      s += (i ? ",\"" : "\"") + kv_[i].first + "\":" + kv_[i].second;
    }
    s += "}\n";
    fputs(s.c_str(), stdout);
    fflush(stdout);
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

void Hook(const std::string& cmd) {
  if (cmd.empty()) return;
  int rc = system(cmd.c_str());
  if (rc != 0) fprintf(stderr, "notifyd-bench: hook '%s' exited %d\n", cmd.c_str(), rc);
}

void Latency(Out& o, const Histogram& h, const std::string& suffix = "") {
  o.N("lat_n" + suffix, static_cast<double>(h.Count()));
  o.N("lat_p50_ms" + suffix, h.Quantile(0.50) / 1000.0);
  o.N("lat_p90_ms" + suffix, h.Quantile(0.90) / 1000.0);
  o.N("lat_p99_ms" + suffix, h.Quantile(0.99) / 1000.0);
  o.N("lat_p999_ms" + suffix, h.Quantile(0.999) / 1000.0);
  o.N("lat_max_ms" + suffix, static_cast<double>(h.Max()) / 1000.0);
}

/// CPU of the --sample processes, sampled with the server's.
std::vector<double> SampleOthers(const Args& a) {
  std::vector<double> cpu;
  for (const auto& s : a.samples) cpu.push_back(SampleProc(s.second).cpu_s);
  return cpu;
}

void OthersCpu(const Args& a, Out& o, const std::vector<double>& c0,
               const std::vector<double>& c1) {
  for (size_t i = 0; i < a.samples.size(); ++i) o.N(a.samples[i].first + "_cpu_s", c1[i] - c0[i]);
}

Reply OpenAll(Pool& pool, uint32_t want, const char* what) {
  Reply r = pool.All(kOpen);
  fprintf(stderr, "  %s: %u/%u connections ready in %.2f s, %u failed\n", what, r.ready, want,
          r.elapsed_ns / 1e9, r.failed);
  return r;
}

// ---- scenarios ---------------------------------------------------------------

int Idle(const Args& a, Out& o) {
  ProcSample base = SampleProc(a.pid);
  Pool pool(a.target, a.conns, a.channels, "idle", a.workers);
  uint64_t t0 = NowNs();
  Reply r = OpenAll(pool, a.conns, "idle");
  double establish = (NowNs() - t0) / 1e9;
  usleep(1000000);  // let the server settle (lazy allocations, timers)
  ProcSample s = SampleProc(a.pid);
  o.N("conns", a.conns);
  o.N("ready", r.ready);
  o.N("failed", r.failed);
  o.N("establish_s", establish);
  o.N("conns_per_s", r.ready / establish);
  o.N("rss_base_kb", base.rss_kb);
  o.N("rss_kb", s.rss_kb);
  o.N("rss_per_conn_kb", r.ready ? (s.rss_kb - base.rss_kb) / r.ready : NAN);
  o.N("cpu_establish_s", s.cpu_s - base.cpu_s);
  o.N("cpu_per_conn_us", r.ready ? (s.cpu_s - base.cpu_s) / r.ready * 1e6 : NAN);
  o.N("loss", 0);
  pool.All(kClose);
  return r.ready == a.conns ? 0 : 1;
}

int Fanout(const Args& a, Out& o) {
  Pool pool(a.target, a.subs, 1, "fan", a.workers);
  Reply r = OpenAll(pool, a.subs, "fanout");
  // With --port-b, more subscribers of the same channel on a second server (a
  // cluster node the publishes reach only through the cluster); none without.
  Target tb = a.target;
  tb.port = a.port_b;
  Pool pool_b(tb, a.subs_b, 1, "fan", a.workers);
  Reply rb;
  if (!pool_b.empty()) rb = OpenAll(pool_b, a.subs_b, "fanout, server b");
  const std::string ch = "fan0";
  // Warm-up publish: every subscriber must receive it before the measurement.
  PublishResult w = PublishOnce(a.target, ch, MakeBody(0, NowNs(), a.payload));
  uint64_t got = 0, got_b = 0;
  pool.WaitReceived(r.ready, 5, 30, &got);
  if (!pool_b.empty()) pool_b.WaitReceived(rb.ready, 5, 30, &got_b);
  if (!w.ok || got < r.ready || got_b < rb.ready) {
    fprintf(stderr, "  warm-up: status %d, %llu of %u received (server b: %llu of %u)\n", w.status,
            static_cast<unsigned long long>(got), r.ready, static_cast<unsigned long long>(got_b),
            rb.ready);
  }
  pool.All(kZero);
  if (!pool_b.empty()) pool_b.All(kZero);
  Hook(a.hook_before);
  ProcSample c0 = SampleProc(a.pid);
  const std::vector<double> others0 = SampleOthers(a);
  const uint64_t t0 = NowNs();
  uint64_t ok = 0, errors = 0, delivered_reported = 0;
  const uint64_t n = a.saturate ? a.publishes : static_cast<uint64_t>(std::llround(a.rate * a.duration));
  uint64_t behind = 0;
  for (uint64_t i = 1; i <= n; ++i) {
    if (!a.saturate) {
      uint64_t due = t0 + static_cast<uint64_t>((i - 1) * 1e9 / a.rate);
      if (NowNs() > due + 5000000) ++behind;  // more than 5 ms late
      SleepUntilNs(due);
    }
    PublishResult p = PublishOnce(a.target, ch, MakeBody(i, NowNs(), a.payload));
    if (p.ok) {
      ++ok;
      if (p.delivered > 0) delivered_reported += static_cast<uint64_t>(p.delivered);
    } else {
      ++errors;
    }
  }
  const uint64_t t_pub = NowNs();
  const uint64_t expected_a = ok * r.ready, expected_b = ok * rb.ready;
  const uint64_t expected = expected_a + expected_b;
  uint64_t received = 0;
  uint64_t t_done = pool.WaitReceived(expected_a, 5, 60, &received);
  if (!pool_b.empty()) {
    t_done = std::max(t_done, pool_b.WaitReceived(expected_b, 5, 60, &received));
  }
  ProcSample c1 = SampleProc(a.pid);
  const std::vector<double> others1 = SampleOthers(a);
  Hook(a.hook_after);
  Histogram h, hb;
  Reply st = pool.All(kStats, &h);
  Reply stb;
  if (!pool_b.empty()) stb = pool_b.All(kStats, &hb);
  const uint64_t all_received = st.received + stb.received;
  const double cpu = c1.cpu_s - c0.cpu_s;
  o.N("subs", a.subs);
  o.N("ready", r.ready);
  o.N("failed", st.failed + stb.failed);
  o.S("mode", a.saturate ? "saturate" : "paced");
  o.N("rate", a.saturate ? ok / ((t_pub - t0) / 1e9) : a.rate);
  o.N("publishes", static_cast<double>(n));
  o.N("publish_ok", static_cast<double>(ok));
  o.N("publish_errors", static_cast<double>(errors));
  o.N("publishes_late", static_cast<double>(behind));
  o.N("delivered_reported", static_cast<double>(delivered_reported));
  o.N("expected", static_cast<double>(expected));
  o.N("received", static_cast<double>(all_received));
  o.N("loss", static_cast<double>(expected > all_received ? expected - all_received : 0));
  const uint64_t min_per_conn =
      pool_b.empty() ? st.min_per_conn : std::min(st.min_per_conn, stb.min_per_conn);
  o.N("min_per_conn", static_cast<double>(min_per_conn));
  o.N("out_of_order", static_cast<double>(st.out_of_order + stb.out_of_order));
  o.N("protocol_errors", static_cast<double>(st.protocol_errors + stb.protocol_errors));
  o.N("publish_s", (t_pub - t0) / 1e9);
  o.N("elapsed_s", (t_done - t0) / 1e9);
  o.N("deliveries_per_s", all_received / ((t_done - t0) / 1e9));
  // The server at --port, per delivery to its own subscribers.
  o.N("server_cpu_s", cpu);
  o.N("cpu_s_per_M", st.received ? cpu / st.received * 1e6 : NAN);
  const double softirqd = c1.ksoftirqd_s - c0.ksoftirqd_s;
  o.N("ksoftirqd_cpu_s", softirqd);
  o.N("cpu_ksoftirqd_s_per_M", st.received ? (cpu + softirqd) / st.received * 1e6 : NAN);
  o.N("rss_kb", c1.rss_kb);
  OthersCpu(a, o, others0, others1);
  Histogram all = h;
  all.Merge(hb);
  Latency(o, all);
  if (!pool_b.empty()) {
    o.N("subs_b", a.subs_b);
    o.N("ready_b", rb.ready);
    o.N("received_a", static_cast<double>(st.received));
    o.N("received_b", static_cast<double>(stb.received));
    o.N("loss_b", static_cast<double>(expected_b > stb.received ? expected_b - stb.received : 0));
    Latency(o, h, "_a");
    Latency(o, hb, "_b");
    pool_b.All(kClose);
  }
  pool.All(kClose);
  return (expected == all_received && errors == 0) ? 0 : 1;
}

// Publishes for the duration: K threads with a new connection per publish, or
// K persistent connections on one thread. Fills ok/errors, returns the end time.
uint64_t PublishFor(const Args& a, const std::string& ch, uint64_t end, uint64_t* ok,
                    uint64_t* errors, Out& o) {
  std::atomic<uint64_t> seq{1};
  if (a.keepalive) {
    KeepAliveOptions ko;
    ko.connections = a.concurrency;
    ko.end_ns = end;
    ko.channels = a.spread;
    ko.max_requests = a.count;
    ko.make_body = [&] { return MakeBody(seq++, NowNs(), a.payload); };
    KeepAliveStats k = RunKeepAlive(a.target, ch, ko);
    *ok = k.ok;
    *errors = k.errors;
    o.N("connections_opened", static_cast<double>(k.connections));
    o.N("server_closes", static_cast<double>(k.server_closes));
    o.N("retries", static_cast<double>(k.retries));
    o.N("first_error_status", k.first_error_status);
    return k.end_ns;
  }
  std::atomic<uint64_t> good{0}, bad{0};
  std::vector<std::thread> th;
  for (int k = 0; k < a.concurrency; ++k) {
    th.emplace_back([&] {
      // Bounded by the deadline.
      while (NowNs() < end) {
        PublishResult p = PublishOnce(a.target, ch, MakeBody(seq++, NowNs(), a.payload));
        (p.ok ? good : bad)++;
      }
    });
  }
  for (auto& t : th) t.join();
  *ok = good.load();
  *errors = bad.load();
  return NowNs();
}

int Publish(const Args& a, Out& o) {
  // Subscriber i is on pub<i % spread>: with --spread, S/spread per channel.
  if (a.spread > 1 && a.subs % a.spread != 0) Usage("--subs must be a multiple of --spread");
  Pool pool(a.target, a.subs, a.spread, "pub", a.workers);
  Reply r;
  if (!pool.empty()) r = OpenAll(pool, a.subs, "publish");
  // Without --spread everything is on pub0; with it the publishes go round
  // robin over pub0 .. pub<spread-1>.
  const std::string ch = a.spread > 1 ? "pub" : "pub0";
  Hook(a.hook_before);
  ProcSample c0 = SampleProc(a.pid);
  const uint64_t t0 = NowNs();
  uint64_t ok = 0, errors = 0;
  const uint64_t t1 = PublishFor(a, ch, t0 + static_cast<uint64_t>(a.duration * 1e9), &ok,
                                 &errors, o);
  ProcSample c1 = SampleProc(a.pid);
  Hook(a.hook_after);
  uint64_t received = 0;
  const uint64_t expected = ok * r.ready / a.spread;
  if (!pool.empty()) pool.WaitReceived(expected, 5, 60, &received);
  o.N("subs", a.subs);
  o.N("ready", r.ready);
  o.N("spread", a.spread);
  o.S("mode", a.keepalive ? "keepalive" : "close");
  o.N("concurrency", a.concurrency);
  o.N("publish_ok", static_cast<double>(ok));
  o.N("publish_errors", static_cast<double>(errors));
  o.N("publishes_per_s", ok / ((t1 - t0) / 1e9));
  o.N("server_cpu_s", c1.cpu_s - c0.cpu_s);
  o.N("cpu_us_per_publish", ok ? (c1.cpu_s - c0.cpu_s) / ok * 1e6 : NAN);
  const double softirqd = c1.ksoftirqd_s - c0.ksoftirqd_s;
  o.N("cpu_ksoftirqd_us_per_publish", ok ? (c1.cpu_s - c0.cpu_s + softirqd) / ok * 1e6 : NAN);
  o.N("rss_before_kb", c0.rss_kb);
  o.N("rss_after_kb", c1.rss_kb);
  o.N("expected", static_cast<double>(expected));
  o.N("received", static_cast<double>(received));
  o.N("loss", static_cast<double>(expected > received ? expected - received : 0));
  if (!pool.empty()) pool.All(kClose);
  const bool all_sent = a.count == 0 || !a.keepalive || ok == a.count;
  return errors == 0 && received >= expected && all_sent ? 0 : 1;
}

// ---- resume ------------------------------------------------------------------

// `count` keep-alive publishes round robin over channels prefix0 ..
// prefix<channels-1> (prefix0 alone when channels is 1), at most 120 s.
KeepAliveStats PublishSpread(const Args& a, const std::string& prefix, uint32_t channels,
                             uint64_t count) {
  std::atomic<uint64_t> seq{1};
  KeepAliveOptions ko;
  ko.connections = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(a.concurrency), count));
  ko.end_ns = NowNs() + 120'000'000'000ull;
  ko.channels = channels;
  ko.max_requests = count;
  ko.make_body = [&] { return MakeBody(seq++, NowNs(), a.payload); };
  return RunKeepAlive(a.target, channels > 1 ? prefix : prefix + "0", ko);
}

// Reads the new server's pid from stdin (one line), at most timeout_s.
int ReadPid(double timeout_s) {
  pollfd p{0, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return 0;
  char line[64] = {0};
  if (!fgets(line, sizeof line, stdin)) return 0;
  return atoi(line);
}

// Polls the workers until `pred` holds for the summed counters, at most max_s.
template <typename Pred>
Reply PollUntil(Pool& pool, double max_s, Pred pred) {
  const uint64_t end = NowNs() + static_cast<uint64_t>(max_s * 1e9);
  Reply r = pool.All(kProgress);
  // Bounded by max_s.
  while (!pred(r) && NowNs() < end) {
    usleep(2000);
    r = pool.All(kProgress);
  }
  return r;
}

// Subscribers on `channels` channels take a position; the server restarts
// (the driver does it between "PHASE restart" on stdout and the new pid on
// stdin), `missed` notifications per channel are published, then every
// client reconnects at once with `since` and must get recovered:true and
// exactly `missed` notifications. Times that and the server's CPU.
int Resume(const Args& a, Out& o) {
  WorkerConfig tmpl = Pool::Template(a.target, a.channels, "r");
  tmpl.resume = true;
  tmpl.expect_missed = a.missed;
  tmpl.resume_inflight = a.resume_inflight;
  Pool pool(a.subs, a.workers, tmpl);
  Reply r = OpenAll(pool, a.subs, "resume");
  o.N("subs", a.subs);
  o.N("channels", a.channels);
  o.N("missed_per_channel", a.missed);
  o.N("ready", r.ready);
  if (r.ready != a.subs) return 1;
  // One live notification per channel: every client's position comes from it.
  KeepAliveStats first = PublishSpread(a, "r", a.channels, a.channels);
  uint64_t got = 0;
  pool.WaitReceived(a.subs, 5, 60, &got);
  o.N("first_received", static_cast<double>(got));
  if (first.ok != a.channels || got != a.subs) return 1;

  // The restart, by the driver.
  printf("PHASE restart\n");
  fflush(stdout);
  const int pid = ReadPid(180);
  o.N("new_pid", pid);
  if (pid <= 0) return 1;
  Reply gone = PollUntil(pool, 30, [&](const Reply& p) { return p.gone >= a.subs; });
  o.N("gone", gone.gone);
  if (gone.gone != a.subs) return 1;

  // What the clients miss.
  const uint64_t want = static_cast<uint64_t>(a.channels) * a.missed;
  const uint64_t tp = NowNs();
  KeepAliveStats missed = PublishSpread(a, "r", a.channels, want);
  o.N("missed_publish_s", (NowNs() - tp) / 1e9);
  o.N("missed_published", static_cast<double>(missed.ok));
  if (missed.ok != want || missed.errors != 0) return 1;

  // Everyone back at once.
  const Reply before = pool.All(kProgress);
  const ProcSample c0 = SampleProc(pid);
  const uint64_t t0 = NowNs();
  const Reply sub = pool.All(kResume);
  const uint64_t t_sub = NowNs();
  const Reply done = PollUntil(pool, 120, [&](const Reply& p) { return p.resumed_done >= a.subs; });
  const ProcSample c1 = SampleProc(pid);
  const Reply after = pool.All(kProgress);
  // Anything past the expected notifications would show within this.
  usleep(500000);
  const Reply fin = pool.All(kProgress);
  const double wall = done.last_done_ns > t0 ? (done.last_done_ns - t0) / 1e9 : NAN;
  o.N("resubscribed", sub.ready);
  o.N("resubscribe_failed", sub.failed);
  o.N("subscribed_s", (t_sub - t0) / 1e9);
  o.N("recovered", fin.recovered);
  o.N("not_recovered", fin.not_recovered);
  o.N("resumed_done", fin.resumed_done);
  o.N("extra", static_cast<double>(fin.extra));
  o.N("out_of_order", static_cast<double>(fin.out_of_order));
  o.N("protocol_errors", static_cast<double>(fin.protocol_errors));
  o.N("min_per_conn", static_cast<double>(fin.min_per_conn));
  o.N("max_per_conn", static_cast<double>(fin.max_per_conn));
  o.N("resume_wall_s", wall);
  o.N("server_cpu_s", c1.cpu_s - c0.cpu_s);
  o.N("cpu_us_per_client", (c1.cpu_s - c0.cpu_s) / a.subs * 1e6);
  // The clients' side of the same phase: whether the load generator was the bound.
  o.N("loadgen_resume_cpu_s", (after.cpu_us - before.cpu_us) / 1e6);
  o.N("rss_kb", c1.rss_kb);
  const uint64_t lost = a.subs > fin.resumed_done ? a.subs - fin.resumed_done : 0;
  o.N("loss", static_cast<double>(lost));
  pool.All(kClose);
  const bool ok = fin.resumed_done == a.subs && fin.recovered == a.subs && fin.not_recovered == 0 &&
                  fin.extra == 0 && fin.out_of_order == 0 && fin.protocol_errors == 0 &&
                  fin.min_per_conn == a.missed && fin.max_per_conn == a.missed;
  return ok ? 0 : 1;
}

int Churn(const Args& a, Out& o) {
  Pool pool(a.target, a.conns, a.channels, "churn", a.workers);
  ProcSample base = SampleProc(a.pid);
  std::string rss = "[", times = "[";
  uint32_t failed = 0, clean = 0;
  std::vector<double> rs;
  for (uint32_t round = 1; round <= a.rounds; ++round) {
    uint64_t t0 = NowNs();
    Reply r = pool.All(kOpen);
    failed += a.conns - r.ready;
    Reply c = pool.All(kClose);
    clean += c.closed_clean;
    // Wait until the server has let go of the sockets (bounded: 15 s).
    ProcSample s;
    for (int k = 0; k < 300; ++k) {
      s = SampleProc(a.pid);
      if (s.fds <= base.fds + 2) break;
      usleep(50000);
    }
    usleep(300000);
    s = SampleProc(a.pid);
    rs.push_back(s.rss_kb);
    char b[64];
    snprintf(b, sizeof b, "%s%.0f", round > 1 ? "," : "", s.rss_kb);
    rss += b;
    snprintf(b, sizeof b, "%s%.3f", round > 1 ? "," : "", (NowNs() - t0) / 1e9);
    times += b;
    fprintf(stderr, "  churn round %u: %u ready, %u clean closes, server fds %ld, RSS %.0f kB\n",
            round, r.ready, c.closed_clean, s.fds, s.rss_kb);
  }
  o.N("conns", a.conns);
  o.N("rounds", a.rounds);
  o.N("failed", failed);
  o.N("clean_closes", clean);
  o.N("rss_base_kb", base.rss_kb);
  o.Raw("rss_rounds_kb", rss + "]");
  o.Raw("round_s", times + "]");
  if (rs.size() >= 2) {
    o.N("rss_round2_kb", rs[1]);
    o.N("rss_last_kb", rs.back());
    o.N("rss_growth_pct", (rs.back() / rs[1] - 1) * 100);
  }
  o.N("loss", 0);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  Out o;
  o.S("scenario", a.scenario);
  o.S("target", a.target.nchan ? "nchan" : "notifyd");
  o.N("tls", a.target.tls_port > 0 ? 1 : 0);
  int rc;
  if (a.scenario == "idle") {
    rc = Idle(a, o);
  } else if (a.scenario == "fanout") {
    rc = Fanout(a, o);
  } else if (a.scenario == "publish") {
    rc = Publish(a, o);
  } else if (a.scenario == "churn") {
    rc = Churn(a, o);
  } else if (a.scenario == "resume") {
    rc = Resume(a, o);
  } else {
    Usage("unknown scenario");
  }
  // The load generator's own CPU (parent + workers), to show it is not the bound.
  rusage self{}, kids{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  o.N("loadgen_cpu_s", secs(self.ru_utime) + secs(self.ru_stime) + secs(kids.ru_utime) +
                           secs(kids.ru_stime));
  o.N("rc", rc);
  o.Print();
  return rc;
}
