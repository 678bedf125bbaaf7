#!/usr/bin/python3
"""notifyd vs Nchan, side by side on this machine (docs/BENCHMARKS.md).

Starts notifyd and Nchan (Debian nginx-light + libnginx-mod-nchan) on loopback
ports under a temporary directory, runs every scenario of notifyd-bench against
each in alternation (a fresh server for every run), and prints every figure for
both with the ratio notifyd/Nchan (medians of --reps repetitions). Writes
results.json (every raw run), results.md (the table) and fanout.dat (the plot
data) into --out. With wrk installed, the keep-alive publish row without
subscribers is measured a second time with `wrk -t1 -c16` (bench/wrk-publish.lua)
on the same server, as a cross-check of notifyd-bench's own client.

    bench/compare.py --build build            # full run, ~12 minutes
    bench/compare.py --build build --quick    # ~1.5 minutes, for CI
    bench/compare.py --build build --tls      # the TLS rows instead, ~10 minutes

With --tls both servers get a second, TLS listener with the same certificate
(ECDSA P-256, made here with the openssl command) and the subscribers of every
scenario connect there (notifyd-bench --tls-port); publishes stay on the plain
port, as a backend's would inside the machine.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

NOTIFYD_CONF = """[server]
listen = "127.0.0.1"
port = {port}
echo = false
# the same keep-alive settings as nginx's below
keepalive_timeout = 300
max_requests_per_connection = 1000000
[heartbeat]
interval = 30
timeout = 60
[limits]
max_connections = 100000
connection_rate = 0
publish_rate = 0
max_queued_bytes_per_client = 67108864
max_frame_bytes = 65536
max_body_bytes = 65536
[log]
level = "warn"
"""

NOTIFYD_TLS_CONF = """[tls]
port = {tls_port}
certificate = "{cert}"
key = "{key}"
"""

# One nginx worker: notifyd runs one event loop, so both servers get one core
# for their work and the load generator the other. worker_connections is above
# the fd limit because Nchan uses more nginx connection slots than sockets
# (with 20000 it refused ~250 of 19,000 subscribers: "worker_connections are
# not enough"); the open-files limit stays 20000, as for notifyd. Nchan keeps no message
# history (notifyd has none) and new subscribers start at the next message.
# Publishers keep their connections: keepalive_requests high enough that nginx
# never closes one during a run (its default, 1000, would add a reconnect);
# notifyd gets the same two settings.
# nchan_shared_memory_size: Nchan takes shared memory for every published
# message for a while, also with nchan_store_messages off (about 500 bytes
# each); with its default of 128M it answered 500 to every publish after
# 260,576 in a 5-second keep-alive run, which capped its publishes/s at
# 52,112 in earlier tables. 1G is never filled in these runs, and costs
# nothing until used.
NGINX_CONF = """load_module {module};
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process {master};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 40000; multi_accept on; }}
http {{
  access_log off;
  nchan_shared_memory_size 1024M;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
{tls}    location ~ ^/sub/([\\w.:@-]+)$ {{
      nchan_subscriber websocket;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }}
    location ~ ^/pub/([\\w.:@-]+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
      nchan_store_messages off;
    }}
  }}
}}
"""

# nginx's TLS as its documentation and Mozilla's "intermediate" profile set
# it up, with what matches notifyd: TLS 1.2 and 1.3, OpenSSL's ciphers,
# resumption by tickets with no per-session cache (notifyd keeps none
# either), HTTP/1.1 only. nginx releases OpenSSL's buffers of idle
# connections itself (SSL_MODE_RELEASE_BUFFERS), as notifyd does.
NGINX_TLS = """    listen 127.0.0.1:{tls_port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets on;
"""

NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"


def make_certificate(workdir):
    """A self-signed ECDSA P-256 certificate for localhost (the kind certbot
    issues by default since 2.0); returns (cert, key) paths."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_port(port, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def port_free(port):
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Server:
    """A notifyd or Nchan process we started (and stop: only by its pid)."""

    def __init__(self, kind, args, workdir, port, wrapper=None, tls=None):
        self.kind, self.args, self.dir, self.port = kind, args, workdir, port
        self.wrapper = wrapper or []
        self.proc = None
        # tls: (cert, key) to serve TLS on port + 1 as well
        self.tls = tls
        self.tls_port = port + 1 if tls else 0

    def start(self):
        if not port_free(self.port):
            raise SystemExit(f"port {self.port} is busy: pick others with --port-base")
        d = os.path.join(self.dir, self.kind)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        logf = open(os.path.join(d, "server.log"), "ab")
        if self.kind == "notifyd":
            conf = os.path.join(d, "notifyd.toml")
            with open(conf, "w") as f:
                f.write(NOTIFYD_CONF.format(port=self.port))
                if self.tls:
                    f.write(NOTIFYD_TLS_CONF.format(tls_port=self.tls_port, cert=self.tls[0],
                                                    key=self.tls[1]))
            cmd = [self.args.notifyd, "--config", conf]
        elif self.kind == "floor":
            cmd = [self.args.floor, str(self.port)]
        else:
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                tls = NGINX_TLS.format(tls_port=self.tls_port, cert=self.tls[0],
                                       key=self.tls[1]) if self.tls else ""
                f.write(NGINX_CONF.format(module=NCHAN_MODULE, dir=d, port=self.port,
                                          master="off" if self.wrapper else "on", tls=tls))
            cmd = [self.args.nginx, "-p", d, "-c", conf]
        self.proc = subprocess.Popen(self.wrapper + cmd, stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not all(wait_port(p, 120 if self.wrapper else 15)
                   for p in (self.port, self.tls_port) if p):
            self.stop()
            raise SystemExit(f"{self.kind} did not start; see {d}/server.log")
        time.sleep(0.3 if not self.wrapper else 2)
        return self.proc.pid

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nginx master stops its workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        # Let the kernel retire the sockets of the last run (bounded).
        for _ in range(100):
            if port_free(self.port):
                break
            time.sleep(0.1)


def run_bench(args, kind, port, pid, scenario, extra, tls_port=0):
    if tls_port:
        extra = ["--tls-port", str(tls_port)] + extra
    cmd = [args.bench, "--target", kind, "--port", str(port), "--pid", str(pid), scenario] + extra
    log("  $", " ".join(cmd[0:1] + ["--target", kind, "..."] + [scenario] + extra))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    for line in p.stderr.splitlines():
        log("   ", line)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit(f"notifyd-bench printed no result (rc {p.returncode})")
    return json.loads(lines[-1])


def run_wrk(args, kind, port, seconds):
    """wrk -t1 -c16 with bench/wrk-publish.lua on the same server, no subscribers:
    a second client for the keep-alive row. publishes/s, or None on errors."""
    path = "/pub/pub0" if kind == "nchan" else "/api/notify/pub0"
    cmd = [args.wrk, "-t1", "-c16", f"-d{seconds}s", "-s", os.path.join(HERE, "wrk-publish.lua"),
           f"http://127.0.0.1:{port}{path}"]
    log("  $ wrk", " ".join(cmd[1:]))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=int(seconds) + 60)
    rate = [l.split()[1] for l in p.stdout.splitlines() if l.startswith("Requests/sec:")]
    errors = [l for l in p.stdout.splitlines()
              if l.startswith("Non-2xx") or (l.startswith("errors:") and l != "errors: connect 0 "
                                             "read 0 write 0 status 0 timeout 0")]
    if p.returncode != 0 or not rate or errors:
        log("    wrk failed:", p.stdout.strip().replace("\n", " | "))
        return None
    return float(rate[0])


def plan(quick):
    """(key, scenario, args, figures) -- figures: [(field, label, better)]"""
    lat = [("lat_p50_ms", "p50 latency ms", "low"), ("lat_p99_ms", "p99 latency ms", "low"),
           ("lat_max_ms", "max latency ms", "low")]
    cpu = [("cpu_s_per_M", "server CPU s per 1M deliveries", "low"),
           ("cpu_ksoftirqd_s_per_M", "server + ksoftirqd CPU s per 1M deliveries", "low")]
    loss = [("loss", "lost notifications", "low")]
    fan = [(1000, 20, 3)] if quick else [(100, 20, 10), (1000, 20, 10), (5000, 10, 10),
                                         (10000, 5, 10)]
    idle = [2000] if quick else [10000, 19000]
    p = []
    for n in idle:
        p.append((f"idle {n}", "idle", ["--conns", str(n), "--channels", "100"],
                  [("rss_per_conn_kb", "server RSS per connection KB", "low"),
                   ("establish_s", "time to establish s", "low"),
                   ("cpu_per_conn_us", "server CPU us per connection established", "low")]))
    for s, r, d in fan:
        p.append((f"fanout {s}x{r}/s", "fanout",
                  ["--subs", str(s), "--rate", str(r), "--duration", str(d)],
                  cpu + lat + [("deliveries_per_s", "deliveries/s", "high")] + loss))
    ss, sp = (1000, 50) if quick else (10000, 100)
    p.append((f"saturate {ss}x{sp}", "fanout",
              ["--subs", str(ss), "--saturate", "--publishes", str(sp)],
              [("deliveries_per_s", "deliveries/s", "high")] + cpu +
              [("lat_p99_ms", "p99 latency ms", "low")] + loss))
    dur = "2" if quick else "5"
    pub = [("publishes_per_s", "publishes/s", "high"),
           ("cpu_us_per_publish", "server CPU us per publish", "low"),
           ("cpu_ksoftirqd_us_per_publish", "server + ksoftirqd CPU us per publish", "low")]
    # 16 persistent connections on one thread, as wrk -t1 -c16 (issue 9), then
    # the old rows: 4 threads, a new connection per publish.
    for s in (0, 100):
        wrk = [("wrk_publishes_per_s", "publishes/s, wrk -t1 -c16 (cross-check)", "high")]
        p.append((f"publish keep-alive {s} subs", "publish",
                  ["--subs", str(s), "--duration", dur, "--concurrency", "16", "--keepalive"],
                  pub + (wrk if s == 0 else []) + loss))
    for s in (0, 100):
        p.append((f"publish close {s} subs", "publish",
                  ["--subs", str(s), "--duration", dur, "--concurrency", "4"], pub + loss))
    rounds, conns = (3, 1000) if quick else (6, 2000)
    p.append((f"churn {rounds}x{conns}", "churn",
              ["--rounds", str(rounds), "--conns", str(conns), "--channels", "100"],
              [("rss_growth_pct", "RSS growth last round vs round 2 %", "low"),
               ("rss_last_kb", "RSS after last round KB", "low"),
               ("failed", "failed connections", "low")]))
    return p


def plan_tls(quick):
    """The TLS rows (issue 13): every subscriber over TLS. Handshakes/s are
    those of the idle row: N clients, 200 handshakes in flight, each a full
    TLS handshake and then the WebSocket upgrade."""
    cpu = [("cpu_s_per_M", "server CPU s per 1M deliveries", "low"),
           ("cpu_ksoftirqd_s_per_M", "server + ksoftirqd CPU s per 1M deliveries", "low")]
    lat = [("lat_p50_ms", "p50 latency ms", "low"), ("lat_p99_ms", "p99 latency ms", "low")]
    loss = [("loss", "lost notifications", "low")]
    n = 1000 if quick else 10000
    p = [(f"tls idle {n}", "idle", ["--conns", str(n), "--channels", "100"],
          [("rss_per_conn_kb", "server RSS per connection KB", "low"),
           ("conns_per_s", "TLS handshakes + upgrades per s", "high"),
           ("cpu_per_conn_us", "server CPU us per connection established", "low")])]
    p.append((f"tls fanout {n}x5/s", "fanout",
              ["--subs", str(n), "--rate", "5", "--duration", "3" if quick else "10"],
              cpu + lat + [("deliveries_per_s", "deliveries/s", "high")] + loss))
    p.append((f"tls saturate {n}x100", "fanout",
              ["--subs", str(n), "--saturate", "--publishes", "20" if quick else "100"],
              [("deliveries_per_s", "deliveries/s", "high")] + cpu +
              [("lat_p99_ms", "p99 latency ms", "low")] + loss))
    return p


def median(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"),
                    help="CMake build dir holding notifyd and bench/notifyd-bench")
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (<2 min)")
    ap.add_argument("--tls", action="store_true",
                    help="the TLS rows: subscribers over TLS to both servers")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    ap.add_argument("--only", default="", help="comma-separated scenario key prefixes")
    ap.add_argument("--out", default=None, help="results directory (default: a new temp dir)")
    ap.add_argument("--port-base", type=int, default=18500)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/http_floor.c (built with cc) in the keep-alive row without "
                         "subscribers: "
                         "the least a keep-alive HTTP server can spend per request here")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "",
                    help="wrk binary for the cross-check of the keep-alive row, '' to skip "
                         "(default: wrk on PATH)")
    args = ap.parse_args()
    args.notifyd = os.path.join(args.build, "notifyd")
    args.bench = os.path.join(args.build, "bench", "notifyd-bench")
    for f in (args.notifyd, args.bench, args.nginx, NCHAN_MODULE):
        if not os.path.exists(f):
            raise SystemExit(f"missing {f} (build: cmake --build BUILD --target notifyd "
                             "notifyd-bench; Nchan: apt-get install nginx-light libnginx-mod-nchan)")
    reps = args.reps or (1 if args.quick else 3)
    out = args.out or tempfile.mkdtemp(prefix="notifyd-bench-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="notifyd-bench-run-")
    tls = make_certificate(work) if args.tls else None
    servers = {"notifyd": Server("notifyd", args, work, args.port_base, tls=tls),
               "nchan": Server("nchan", args, work, args.port_base + 100, tls=tls)}
    if args.floor:
        args.floor = os.path.join(work, "http_floor")
        subprocess.run(["cc", "-O2", os.path.join(HERE, "http_floor.c"), "-o", args.floor],
                       check=True)
        servers["floor"] = Server("floor", args, work, args.port_base + 200)
    steps = [s for s in (plan_tls(args.quick) if args.tls else plan(args.quick))
             if not args.only or any(s[0].startswith(o) for o in args.only.split(","))]
    raw = {}
    t_start = time.time()
    try:
        for key, scen, extra, _ in steps:
            log(f"== {key}")
            for rep in range(reps):
                # Alternate who goes first so that slow drifts of the machine cancel out.
                order = ["notifyd", "nchan"] if rep % 2 == 0 else ["nchan", "notifyd"]
                if "floor" in servers and key == "publish keep-alive 0 subs":
                    order.insert(1, "floor")
                for kind in order:
                    srv = servers[kind]
                    pid = srv.start()
                    try:
                        r = run_bench(args, "notifyd" if kind == "floor" else kind, srv.port, pid,
                                      scen, extra, srv.tls_port)
                        if args.wrk and key == "publish keep-alive 0 subs":
                            r["wrk_publishes_per_s"] = run_wrk(args, kind, srv.port,
                                                               extra[extra.index("--duration") + 1])
                    finally:
                        srv.stop()
                    raw.setdefault(key, {}).setdefault(kind, []).append(r)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - t_start

    # ---- the table ----------------------------------------------------------
    rows = []
    for key, scen, extra, figs in steps:
        for field, label, better in figs:
            n = median([r.get(field) for r in raw[key]["notifyd"]])
            c = median([r.get(field) for r in raw[key]["nchan"]])
            ratio = (n / c) if (n is not None and c not in (None, 0)) else None
            rows.append((key, label, n, c, ratio, better))
    md = ["| scenario | figure | notifyd | Nchan | notifyd/Nchan |", "|---|---|---:|---:|---:|"]
    for key, label, n, c, ratio, better in rows:
        md.append(f"| {key} | {label} | {fmt(n)} | {fmt(c)} | {fmt(ratio) if ratio is not None else '-'} |")
    for key in raw:
        if "floor" in raw[key]:
            fr = raw[key]["floor"]
            md.append(f"\nfloor ({key}, bench/http_floor.c): "
                      f"{fmt(median([r.get('publishes_per_s') for r in fr]))} publishes/s, "
                      f"{fmt(median([r.get('cpu_us_per_publish') for r in fr]))} us server CPU "
                      "per publish")
    table = "\n".join(md)
    print(table)

    # ---- targets of issues 5 and 9 (only where the run measured them) ------
    def get(key, field, kind):
        return median([r.get(field) for r in raw.get(key, {}).get(kind, [])]) if key in raw else None

    checks = []

    def check(name, n, c, ok):
        if n is None or c is None:
            return
        checks.append(f"- {'PASS' if ok(n, c) else 'FAIL'} {name}: notifyd {fmt(n)}, Nchan {fmt(c)}"
                      + (f", ratio {fmt(n / c)}" if c else ""))

    # Issue 13: over TLS.
    for name, key, field, factor in (
            ("CPU per delivery at 10,000 subscribers", "tls fanout 10000x5/s", "cpu_s_per_M", 0.6),
            ("same, counting ksoftirqd", "tls fanout 10000x5/s", "cpu_ksoftirqd_s_per_M", 0.6),
            ("CPU per delivery, saturation at 10,000 subscribers", "tls saturate 10000x100",
             "cpu_s_per_M", 0.6),
            ("RSS per idle client at 10,000", "tls idle 10000", "rss_per_conn_kb", 0.5)):
        check(f"TLS: {name} <= {factor}x Nchan", get(key, field, "notifyd"), get(key, field, "nchan"),
              lambda n, c, f=factor: n <= f * c)
    check("CPU per delivery at 10,000 subscribers <= 0.5x Nchan",
          get("fanout 10000x5/s", "cpu_s_per_M", "notifyd"),
          get("fanout 10000x5/s", "cpu_s_per_M", "nchan"), lambda n, c: n <= 0.5 * c)
    check("same, counting ksoftirqd (softirq work no process is billed for)",
          get("fanout 10000x5/s", "cpu_ksoftirqd_s_per_M", "notifyd"),
          get("fanout 10000x5/s", "cpu_ksoftirqd_s_per_M", "nchan"), lambda n, c: n <= 0.5 * c)
    check("CPU per delivery, saturation at 10,000 subscribers <= 0.5x Nchan",
          get("saturate 10000x100", "cpu_s_per_M", "notifyd"),
          get("saturate 10000x100", "cpu_s_per_M", "nchan"), lambda n, c: n <= 0.5 * c)
    for n_ in (10000, 19000):
        check(f"RSS per idle connection at {n_} <= 0.6x Nchan",
              get(f"idle {n_}", "rss_per_conn_kb", "notifyd"),
              get(f"idle {n_}", "rss_per_conn_kb", "nchan"), lambda n, c: n <= 0.6 * c)
    check("p99 latency at 1,000 subscribers x 20/s no worse than Nchan",
          get("fanout 1000x20/s", "lat_p99_ms", "notifyd"),
          get("fanout 1000x20/s", "lat_p99_ms", "nchan"), lambda n, c: n <= c)
    for s in (0, 100):
        check(f"publishes/s with keep-alive, {s} subs: notifyd >= 1.5x Nchan",
              get(f"publish keep-alive {s} subs", "publishes_per_s", "notifyd"),
              get(f"publish keep-alive {s} subs", "publishes_per_s", "nchan"),
              lambda n, c: n >= 1.5 * c)
    total_loss = {k: sum((r.get("loss") or 0) + (r.get("publish_errors") or 0)
                         for runs in raw.values() for r in runs.get(k, []))
                  for k in ("notifyd", "nchan")}
    checks.append(f"- {'PASS' if total_loss['notifyd'] == 0 else 'FAIL'} zero loss: notifyd lost "
                  f"{total_loss['notifyd']}, Nchan lost {total_loss['nchan']} (all runs)")
    floor_rate = get("publish keep-alive 0 subs", "publishes_per_s", "floor")
    nchan_rate = get("publish keep-alive 0 subs", "publishes_per_s", "nchan")
    if floor_rate and nchan_rate:
        checks.append(f"- NOTE the floor (bench/http_floor.c) reached {fmt(floor_rate / nchan_rate)}x "
                      "Nchan's keep-alive publishes/s without subscribers: no server that answers "
                      "each request with a send of its own goes above that here")
    # A run where the peer failed compares nothing: say so next to the targets.
    peer_failed = sorted({k for k in raw for r in raw[k].get("nchan", []) if r.get("rc")})
    if peer_failed:
        checks.append("- WARNING Nchan runs with errors (their figures are not comparable): " +
                      ", ".join(peer_failed))
    for key in raw:
        if key.startswith("churn"):
            n = get(key, "rss_growth_pct", "notifyd")
            c = get(key, "rss_growth_pct", "nchan")
            if n is not None:
                checks.append(f"- {'PASS' if abs(n) <= 5 else 'FAIL'} churn RSS within 5 % of round 2: "
                              f"notifyd {fmt(n)} %, Nchan {fmt(c)} %")
    print("\nTargets (issues 5, 9 and 13):")
    print("\n".join(checks))
    print(f"\n{reps} repetition(s), {elapsed:.0f} s; raw results in {out}/results.json")

    # ---- files ----------------------------------------------------------------
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"reps": reps, "quick": args.quick, "elapsed_s": elapsed,
                   "uname": os.uname().release, "nproc": os.cpu_count(), "runs": raw}, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table + "\n\nTargets (issues 5, 9 and 13):\n" + "\n".join(checks) + "\n")
    with open(os.path.join(out, "fanout.dat"), "w") as f:
        f.write("# subs  notifyd: p50 p99 max cpu_s_per_M   nchan: p50 p99 max cpu_s_per_M\n")
        for key, scen, extra, _ in steps:
            if not key.startswith("fanout"):
                continue
            subs = extra[extra.index("--subs") + 1]
            vals = []
            for kind in ("notifyd", "nchan"):
                for fld in ("lat_p50_ms", "lat_p99_ms", "lat_max_ms", "cpu_s_per_M"):
                    vals.append(get(key, fld, kind))
            f.write(subs + " " + " ".join(fmt(v).replace(",", "") for v in vals) + "\n")
    failed = [k for k in raw for r in raw[k].get("notifyd", []) if r.get("rc")]
    if failed:
        log("runs with errors (rc != 0):", sorted(set(failed)))
    return 1 if (failed or total_loss["notifyd"]) else 0


if __name__ == "__main__":
    sys.exit(main())
