#!/usr/bin/python3
"""Cluster benchmarks (issue 11; docs/BENCHMARKS.md, "Cluster (issue 11)").

Measures, side by side in one run, a fan-out over two notifyd nodes that share
a redis-server (`[cluster] broker = "redis"`) against the same fan-out on one
notifyd with the local broker, a fresh Redis and fresh servers for every run,
in an order that alternates between repetitions:

  single    one notifyd, S subscribers on one channel, publishes to it.
  cluster   nodes A and B, S subscribers on each (the same channel), every
            publish entering at A: A's subscribers get it through Redis's echo
            (as every publish in a cluster), B's are the cross-node deliveries.

Loads (notifyd-bench fanout): "paced" (10 publishes/s for 10 s, as the
fanout 5000x10/s row of compare.py), "saturate" (100 publishes back to back,
each sent when the previous one was answered), "saturate-b1" (the same with
one subscriber on B: A's fan-out alone, on a machine no busier than in the
single run) and "publish" (one subscriber per node, 20,000 publishes: what a
publish itself costs each process). Figures: deliveries/s, latency (B's
subscribers alone: publish entering at A, received at B), server CPU per
delivery of each node against the single node's (issue 11: within 1.2x), Redis
CPU per publish (utime+stime of redis-server over the measured phase, in 10 ms
ticks: only the "publish" load has enough publishes for it), and the machine's
load average before each run. Ratios are taken within each repetition (cluster
run and single run back to back) and their median is printed, with the medians
of the figures.

    bench/cluster.py --build build-rel --out /tmp/cbench            # ~5 minutes (3 reps)
    bench/cluster.py --build build-rel --quick --out /tmp/cbench-q  # under a minute
    bench/cluster.py --build build-rel --only saturate --reps 5

Needs redis-server (Debian `redis-server`; the service need not run: this
script starts its own on a free loopback port, without persistence). Every
process it starts is stopped by its pid.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (Server, log, wait_port, port_free, fmt, median)
import history  # noqa: E402  (NOTIFYD_CONF)

# history.py's notifyd settings (compare.py's, with limits off for loopback)
# and the history every node of a cluster keeps, in memory as in Redis.
HISTORY = 'store = "memory"\nsize = 100'

CLUSTER_CONF = """[cluster]
broker = "redis"
redis = "127.0.0.1:{redis_port}"
prefix = "{prefix}"
timeout = 1.0
"""


def free_port():
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class Proc(compare.Server):
    """A process this script started (notifyd or redis-server); stopped only
    by its pid (compare.Server.stop: SIGTERM, then SIGKILL after 20 s)."""

    def __init__(self, name, cmd, workdir, port):
        super().__init__(name, None, workdir, port)
        self.cmd = cmd

    def start(self):
        if not compare.port_free(self.port):
            raise SystemExit(f"port {self.port} is busy")
        logf = open(os.path.join(self.dir, self.kind + ".log"), "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        logf.close()
        if not compare.wait_port(self.port, 30):
            self.stop()
            raise SystemExit(f"{self.kind} did not start; see {self.dir}/{self.kind}.log")
        return self.proc.pid


def notifyd(args, work, name, cluster=""):
    port = free_port()
    conf = os.path.join(work, name + ".toml")
    with open(conf, "w") as f:
        f.write(history.NOTIFYD_CONF.format(port=port, history=HISTORY) + cluster)
    return Proc(name, [args.notifyd, "--config", conf], work, port)


def cluster_state(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/stats",
                                 headers={"Host": "127.0.0.1"})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read()).get("cluster") or {}
    except OSError:
        return {}


def wait_cluster_up(ports, nodes, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:  # bounded by the deadline
        states = [cluster_state(p) for p in ports]
        if all(s.get("state") == "up" and s.get("nodes") == nodes for s in states):
            return
        time.sleep(0.1)
    raise SystemExit(f"cluster not up on every node within {timeout} s: {states}")


def run_bench(args, port, pid, extra):
    cmd = [args.bench, "--target", "notifyd", "--port", str(port), "--pid", str(pid),
           "fanout"] + extra
    compare.log("  $", os.path.basename(args.bench), "fanout", *extra)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    for line in p.stderr.splitlines():
        compare.log("   ", line)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit(f"notifyd-bench printed no result (rc {p.returncode})")
    return json.loads(lines[-1])


def per_publish(r):
    """The server's (node A's) CPU per publish answered."""
    ok = r.get("publish_ok")
    r["cpu_us_per_publish"] = r["server_cpu_s"] / ok * 1e6 if ok else None


def run_single(args, work, subs, load):
    subs = subs[0]
    srv = notifyd(args, work, "single")
    pid = srv.start()
    try:
        time.sleep(0.3)
        la0 = loadavg()
        r = run_bench(args, srv.port, pid, ["--subs", str(subs)] + load)
        r["loadavg_before"], r["loadavg_after"] = la0, loadavg()
    finally:
        srv.stop()
    per_publish(r)
    return r


def run_cluster(args, work, subs, load):
    subs_a, subs_b = subs
    redis_port = free_port()
    rdir = os.path.join(work, "redis")
    os.makedirs(rdir, exist_ok=True)
    redis = Proc("redis", [args.redis, "--port", str(redis_port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--daemonize", "no",
                           "--dir", rdir, "--protected-mode", "yes"], work, redis_port)
    procs = [redis]
    try:
        redis_pid = redis.start()
        cluster = CLUSTER_CONF.format(redis_port=redis_port, prefix="cb" + uuid.uuid4().hex[:10])
        a, b = notifyd(args, work, "node-a", cluster), notifyd(args, work, "node-b", cluster)
        procs += [a, b]
        a_pid, b_pid = a.start(), b.start()
        wait_cluster_up([a.port, b.port], 2)
        la0 = loadavg()
        r = run_bench(args, a.port, a_pid,
                      ["--subs", str(subs_a), "--port-b", str(b.port), "--subs-b",
                       str(subs_b), "--sample", f"b:{b_pid}", "--sample",
                       f"redis:{redis_pid}"] + load)
        r["loadavg_before"], r["loadavg_after"] = la0, loadavg()
    finally:
        for p in reversed(procs):
            p.stop()
    per_publish(r)
    # Per node, per delivery to its own subscribers; Redis per publish.
    ra, rb = r.get("received_a") or 0, r.get("received_b") or 0
    r["cpu_s_per_M_b"] = r["b_cpu_s"] / rb * 1e6 if rb else None
    r["redis_cpu_us_per_publish"] = (r["redis_cpu_s"] / r["publish_ok"] * 1e6
                                     if r.get("publish_ok") else None)
    r["cpu_us_per_publish_b"] = (r["b_cpu_s"] / r["publish_ok"] * 1e6
                                 if r.get("publish_ok") else None)
    total = r["server_cpu_s"] + r["b_cpu_s"] + r["redis_cpu_s"]
    r["cluster_cpu_s_per_M"] = total / (ra + rb) * 1e6 if ra + rb else None
    return r


def loads(args):
    """(name, (subscribers on A or the single node, on B), fanout options)"""
    q, s = args.quick, args.subs
    return [("paced", (s, s), ["--rate", "10", "--duration", "3" if q else "10"]),
            ("saturate", (s, s), ["--saturate", "--publishes", "30" if q else "100"]),
            # The same with one subscriber on B: node A's fan-out as the single
            # node's, on a machine no busier than in the single run; what is
            # left of A's ratio is the cluster path itself.
            ("saturate-b1", (s, 1), ["--saturate", "--publishes", "30" if q else "100"]),
            # One subscriber per node: what a publish itself costs (Redis's
            # script, pub/sub, the echo), with enough publishes for Redis's
            # CPU (in 10 ms ticks) to mean something.
            ("publish", (1, 1), ["--saturate", "--publishes", "2000" if q else "20000"])]


# (label, source, field): source "single" or "cluster"; ratios below.
FIGURES = [
    ("deliveries/s", "single", "deliveries_per_s"),
    ("deliveries/s", "cluster", "deliveries_per_s"),
    ("p50 latency ms", "single", "lat_p50_ms"),
    ("p99 latency ms", "single", "lat_p99_ms"),
    ("p50 latency ms, A's subscribers", "cluster", "lat_p50_ms_a"),
    ("p99 latency ms, A's subscribers", "cluster", "lat_p99_ms_a"),
    ("p50 latency ms, B's subscribers (cross-node)", "cluster", "lat_p50_ms_b"),
    ("p99 latency ms, B's subscribers (cross-node)", "cluster", "lat_p99_ms_b"),
    ("server CPU s per 1M deliveries", "single", "cpu_s_per_M"),
    ("node A CPU s per 1M deliveries (its own)", "cluster", "cpu_s_per_M"),
    ("node B CPU s per 1M deliveries (its own)", "cluster", "cpu_s_per_M_b"),
    ("A + B + Redis CPU s per 1M deliveries", "cluster", "cluster_cpu_s_per_M"),
    ("Redis CPU us per publish", "cluster", "redis_cpu_us_per_publish"),
    ("server CPU us per publish", "single", "cpu_us_per_publish"),
    ("node A CPU us per publish", "cluster", "cpu_us_per_publish"),
    ("node B CPU us per publish", "cluster", "cpu_us_per_publish_b"),
    ("ksoftirqd CPU s in the run", "single", "ksoftirqd_cpu_s"),
    ("ksoftirqd CPU s in the run", "cluster", "ksoftirqd_cpu_s"),
    ("load generator CPU s", "single", "loadgen_cpu_s"),
    ("load generator CPU s", "cluster", "loadgen_cpu_s"),
    ("lost notifications", "single", "loss"),
    ("lost notifications", "cluster", "loss"),
]

# (label, numerator (source, field), denominator (source, field), goal or None)
RATIOS = [
    ("node A / single, CPU per delivery", ("cluster", "cpu_s_per_M"), ("single", "cpu_s_per_M"),
     1.2),
    ("node B / single, CPU per delivery", ("cluster", "cpu_s_per_M_b"), ("single", "cpu_s_per_M"),
     1.2),
    ("(A + B + Redis) / single, CPU per delivery", ("cluster", "cluster_cpu_s_per_M"),
     ("single", "cpu_s_per_M"), None),
    ("cluster / single, deliveries/s", ("cluster", "deliveries_per_s"),
     ("single", "deliveries_per_s"), None),
    ("cross-node p99 / single p99", ("cluster", "lat_p99_ms_b"), ("single", "lat_p99_ms"), None),
    ("node A / single, CPU per publish", ("cluster", "cpu_us_per_publish"),
     ("single", "cpu_us_per_publish"), None),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--quick", action="store_true", help="short loads, one repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    ap.add_argument("--only", default="", help="comma-separated: paced,saturate,saturate-b1,publish")
    ap.add_argument("--subs", type=int, default=5000, help="subscribers per node (default 5000)")
    ap.add_argument("--out", default=None, help="results directory (default: a new temp dir)")
    ap.add_argument("--redis", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    args = ap.parse_args()
    args.notifyd = os.path.join(args.build, "notifyd")
    args.bench = os.path.join(args.build, "bench", "notifyd-bench")
    for f in (args.notifyd, args.bench, args.redis):
        if not os.path.exists(f):
            raise SystemExit(f"missing {f} (cmake --build BUILD --target notifyd notifyd-bench; "
                             "apt-get install redis-server)")
    reps = args.reps or (1 if args.quick else 3)
    out = args.out or tempfile.mkdtemp(prefix="notifyd-cbench-")
    os.makedirs(out, exist_ok=True)
    steps = [l for l in loads(args)
             if not args.only or l[0] in args.only.split(",")]
    raw = {}
    t_start, la_start = time.time(), loadavg()
    work = tempfile.mkdtemp(prefix="notifyd-cbench-run-")
    try:
        for name, subs, load in steps:
            compare.log(f"== {name}")
            for rep in range(reps):
                order = ["single", "cluster"] if rep % 2 == 0 else ["cluster", "single"]
                for kind in order:
                    compare.log(f" -- {kind} (rep {rep + 1})")
                    r = (run_single if kind == "single" else run_cluster)(args, work, subs, load)
                    raw.setdefault(name, {}).setdefault(kind, []).append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed, la_end = time.time() - t_start, loadavg()

    md = [f"| load | figure | run | median | repetitions |", "|---|---|---|---:|---|"]
    for name, _, _ in steps:
        for label, src, field in FIGURES:
            xs = [r.get(field) for r in raw[name][src]]
            md.append(f"| {name} | {label} | {src} | {compare.fmt(compare.median(xs))} | "
                      + " / ".join(compare.fmt(x) for x in xs) + " |")
    rt = ["| load | ratio (within each repetition) | median | repetitions | goal |",
          "|---|---|---:|---|---|"]
    checks = []
    for name, subs, _ in steps:
        for label, (ns, nf), (ds, df), goal in RATIOS:
            xs = []
            for rn, rd in zip(raw[name][ns], raw[name][ds]):
                n, d = rn.get(nf), rd.get(df)
                xs.append(n / d if isinstance(n, (int, float)) and d else None)
            m = compare.median(xs)
            verdict = ""
            if goal is not None and m is not None and min(subs) > 1:  # fan-outs on both
                verdict = f"<= {goal}: {'met' if m <= goal else 'MISSED'}"
                checks.append(f"- {'PASS' if m <= goal else 'FAIL'} {name}: {label} "
                              f"{compare.fmt(m)} (goal <= {goal})")
            rt.append(f"| {name} | {label} | {compare.fmt(m)} | "
                      + " / ".join(compare.fmt(x) for x in xs) + f" | {verdict} |")
    losses = sum((r.get("loss") or 0) + (r.get("publish_errors") or 0)
                 for runs in raw.values() for rs in runs.values() for r in rs)
    checks.append(f"- {'PASS' if losses == 0 else 'FAIL'} zero loss and no failed publish "
                  f"(all runs): {losses:.0f}")
    las = [r["loadavg_before"][0] for runs in raw.values() for rs in runs.values() for r in rs]
    text = ("\n".join(md) + "\n\n" + "\n".join(rt) + "\n\nGoals (issue 11):\n" + "\n".join(checks)
            + f"\n\n{reps} repetition(s), {elapsed:.0f} s, {args.subs} subscribers per node; "
            f"load average (1 min) {la_start[0]:.2f} at the start, {la_end[0]:.2f} at the end, "
            f"{min(las):.2f}-{max(las):.2f} before the runs\n")
    print(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"reps": reps, "quick": args.quick, "subs": args.subs, "elapsed_s": elapsed,
                   "loadavg_start": la_start, "loadavg_end": la_end,
                   "uname": os.uname().release, "nproc": os.cpu_count(), "runs": raw}, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    compare.log(f"raw results in {out}/results.json")
    failed = [n for n, runs in raw.items() for rs in runs.values() for r in rs if r.get("rc")]
    if failed:
        compare.log("runs with errors (rc != 0):", sorted(set(failed)))
    return 1 if (failed or losses) else 0


if __name__ == "__main__":
    sys.exit(main())
