#!/usr/bin/python3
"""History benchmarks (issue 10; docs/BENCHMARKS.md, "History (issue 10)").

Runs notifyd with its [history] settings side by side with Nchan with its
message buffer on (where the two are comparable), a fresh server for every run,
in an order that rotates between repetitions, and prints medians and ratios
taken within each repetition:

  durable   publishes/s with 64 keep-alive publishers (notifyd-bench publish
            --keepalive --concurrency 64, as wrk -t1 -c64), no subscriber:
            store "memory"; "sqlite" with sync "commit" on the disk and on
            tmpfs; "sqlite" with sync "batch" on the disk; Nchan with
            nchan_message_buffer_length 100 and nchan_message_timeout 1d;
            memory and sqlite-commit again on 100 channels. Records the
            disk's flushes in the run and its fdatasync time just before.
  fanout    server CPU per delivery with history on (memory, size 100) and off
            (size 0), saturated and paced; Nchan with its buffer on and off.
  memory    RSS per kept notification after 100 channels x 1,000 notifications
            of a 200-byte body (size = 1000), against the same publishes with
            size = 0 and against the fresh server, also with one subscriber
            per channel; the SQLite file size and a start that loads it all
            back; Nchan with a buffer of 1,000.
  resume    10,000 WebSocket clients on 100 channels take a position, notifyd
            (sqlite, commit) is stopped with SIGTERM and started again, 10
            notifications per channel are published, then every client
            reconnects at once with `since`: wall time until all have their 10
            and notifyd's CPU seconds. notifyd only: Nchan keeps messages in
            memory only, so nothing survives its restart.

    bench/history.py --build build-rel --out /tmp/hbench          # ~12 minutes
    bench/history.py --build build-rel --quick --out /tmp/hbq     # under a minute
    bench/history.py --build build-rel --only resume --reps 5

The SQLite files go to a new directory under --disk-dir (default /var/tmp,
which must not be tmpfs) and, for the tmpfs row, under --tmpfs-dir (default
/dev/shm). Both are removed at the end. Only 127.0.0.1; only the processes
this script starts are stopped, by their pid.
"""

import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the side-by-side harness: nginx config, helpers)

NOTIFYD_CONF = """[server]
listen = "127.0.0.1"
port = {port}
echo = false
keepalive_timeout = 300
max_requests_per_connection = 1000000
[heartbeat]
interval = 30
timeout = 60
[limits]
max_connections = 20000
connection_rate = 0
max_connections_per_address = 0
publish_rate = 0
max_queued_bytes_per_client = 67108864
max_frame_bytes = 65536
max_body_bytes = 65536
shutdown_timeout = 10
[history]
{history}
[log]
level = "warn"
"""

# Nchan's buffer: its memory store is its only local one (Redis aside).
NCHAN_BUFFER = ("nchan_store_messages on; nchan_message_buffer_length {n}; "
                "nchan_message_timeout 1d;")


class Config:
    """One server setup: notifyd with a [history] section, or Nchan with or
    without its message buffer."""

    def __init__(self, name, kind, store="memory", size=100, sync="commit", fs="disk",
                 buffer=0, spread=1, subs=0):
        self.name, self.kind, self.store, self.size = name, kind, store, size
        self.sync, self.fs, self.buffer = sync, fs, buffer
        self.spread, self.subs = spread, subs  # publish channels, subscribers


def fs_type(path):
    """The file system type of `path` from /proc/mounts (longest mount prefix)."""
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


class Srv:
    """A notifyd or nginx process this script started; stopped only by its pid."""

    def __init__(self, args, cfg, workdir, port):
        self.args, self.cfg, self.port = args, cfg, port
        self.dir = os.path.join(workdir, cfg.name.replace(" ", "_").replace("/", "_"))
        self.proc = None
        self.db = None
        if cfg.kind == "notifyd" and cfg.store == "sqlite":
            base = args.tmpfs_root if cfg.fs == "tmpfs" else args.disk_root
            d = tempfile.mkdtemp(prefix="db-", dir=base)
            self.db = os.path.join(d, "history.db")

    def start(self):
        """Starts the server; returns (pid, seconds until the port answered)."""
        if not compare.port_free(self.port):
            raise SystemExit(f"port {self.port} is busy: pick others with --port-base")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        logf = open(os.path.join(self.dir, "server.log"), "ab")
        c = self.cfg
        if c.kind == "notifyd":
            hist = [f'store = "{c.store}"', f"size = {c.size}", f'sync = "{c.sync}"']
            if self.db:
                hist.append(f'path = "{self.db}"')
            conf = os.path.join(self.dir, "notifyd.toml")
            with open(conf, "w") as f:
                f.write(NOTIFYD_CONF.format(port=self.port, history="\n".join(hist)))
            cmd = [self.args.notifyd, "--config", conf]
        else:
            conf = os.path.join(self.dir, "nginx.conf")
            text = compare.NGINX_CONF.format(module=compare.NCHAN_MODULE, dir=self.dir,
                                             port=self.port, master="on")
            if c.buffer:
                text = text.replace("nchan_store_messages off;", NCHAN_BUFFER.format(n=c.buffer))
                text = text.replace("access_log off;",
                                    "access_log off;\n  nchan_shared_memory_size 512M;")
            # Nchan's own count of its shared memory in use (the message store).
            text = text.replace("    location ~ ^/sub/",
                                "    location = /nchan_status { nchan_stub_status; }\n"
                                "    location ~ ^/sub/")
            with open(conf, "w") as f:
                f.write(text)
            cmd = [self.args.nginx, "-p", self.dir, "-c", conf]
        t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if not compare.wait_port(self.port, 60):
            self.stop()
            raise SystemExit(f"{c.name} did not start; see {self.dir}/server.log")
        up = time.time() - t0
        time.sleep(0.3)
        return self.proc.pid, up

    def stop(self):
        """SIGTERM (nginx's master stops its workers), at most 30 s; returns the
        seconds the process took to exit."""
        if not self.proc:
            return 0.0
        t0 = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        took = time.time() - t0
        self.proc = None
        for _ in range(100):  # bounded: let the kernel retire the port
            if compare.port_free(self.port):
                break
            time.sleep(0.1)
        return took

    def db_bytes(self, suffixes=("", "-wal", "-shm")):
        """The SQLite file with its -wal and -shm, in bytes (0 without one)."""
        if not self.db:
            return 0
        return sum(os.path.getsize(self.db + s) for s in suffixes
                   if os.path.exists(self.db + s))

    def cleanup(self):
        if self.db:
            shutil.rmtree(os.path.dirname(self.db), ignore_errors=True)


def rss_kb(pid):
    """VmRSS of pid and its descendants (nginx master + worker)."""
    total, todo = 0.0, [pid]
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    s = f.read()
                kids.setdefault(int(s[s.rfind(")") + 2:].split()[1]), []).append(int(e))
            except OSError:
                pass
    seen = 0
    while todo and seen < 4096:
        p = todo.pop()
        seen += 1
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += float(line.split()[1])
        except OSError:
            pass
        todo.extend(kids.get(p, []))
    return total


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    v = s[s.rfind(")") + 2:].split()
    return (float(v[11]) + float(v[12])) / os.sysconf("SC_CLK_TCK")


def bench(args, srv, pid, scenario, extra, on_restart=None, timeout=600):
    """Runs notifyd-bench against srv; answers its "PHASE restart" with
    on_restart() (the new pid). Returns its JSON result."""
    kind = srv.cfg.kind
    cmd = [args.bench, "--target", kind, "--port", str(srv.port), "--pid", str(pid),
           scenario] + extra
    compare.log("  $", os.path.basename(args.bench), "--target", kind, scenario, *extra)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, "out")
    sel.register(p.stderr, selectors.EVENT_READ, "err")
    lines, end, open_ = [], time.time() + timeout, 2
    # Bounded by the deadline (and the two pipes' EOF).
    while open_ and time.time() < end:
        for key, _ in sel.select(timeout=1.0):
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                open_ -= 1
                continue
            if key.data == "err":
                compare.log("   ", line.rstrip())
            elif line.startswith("PHASE restart"):
                new_pid = on_restart() if on_restart else 0
                p.stdin.write(f"{new_pid}\n")
                p.stdin.flush()
            else:
                lines.append(line)
    if p.poll() is None:
        p.kill()
    p.wait(timeout=30)
    js = [l for l in lines if l.startswith("{")]
    if not js:
        raise SystemExit(f"notifyd-bench printed no result (rc {p.returncode})")
    return json.loads(js[-1])


def frame_bytes(port, channel):
    """Length of one kept notification as notifyd sends it (GET .../messages)."""
    url = f"http://127.0.0.1:{port}/api/channels/{channel}/messages?limit=1"
    req = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    with urllib.request.urlopen(req, timeout=10) as r:
        page = json.loads(r.read())
    msgs = page.get("messages") or []
    return len(json.dumps(msgs[0], separators=(",", ":")).encode()) if msgs else None


# ---- scenarios ------------------------------------------------------------------

def durable_configs():
    return [Config("memory", "notifyd", "memory"),
            Config("sqlite commit disk", "notifyd", "sqlite", sync="commit", fs="disk"),
            Config("sqlite commit tmpfs", "notifyd", "sqlite", sync="commit", fs="tmpfs"),
            Config("sqlite batch disk", "notifyd", "sqlite", sync="batch", fs="disk"),
            Config("nchan buffer 100", "nchan", buffer=100),
            Config("memory, 100 channels", "notifyd", "memory", spread=100),
            Config("sqlite commit disk, 100 channels", "notifyd", "sqlite", sync="commit",
                   fs="disk", spread=100)]


def disk_flushes(path):
    """Flush requests the block device under `path` completed so far (field 16
    of /sys/dev/block/M:m/stat; the whole disk when `path` is on a partition),
    or None (tmpfs, an old kernel)."""
    st = os.stat(path).st_dev
    base = f"/sys/dev/block/{os.major(st)}:{os.minor(st)}"
    for f in (base + "/stat", base + "/../stat"):
        try:
            with open(f) as fh:
                v = fh.read().split()
            if len(v) >= 16:
                return int(v[15])
        except OSError:
            pass
    return None


def fdatasync_ms(directory, n=50):
    """Median time of fdatasync after a 4 KiB write in `directory`, ms: what one
    group commit waits for on this disk right now."""
    fd, path = tempfile.mkstemp(prefix="fsync-", dir=directory)
    try:
        times = []
        for i in range(n):
            os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1e3)
        return compare.median(times)
    finally:
        os.close(fd)
        os.unlink(path)


def run_durable(args, srv, pid, cfg):
    if srv.db:
        srv.fsync_ms = fdatasync_ms(os.path.dirname(srv.db))
    f0 = disk_flushes(os.path.dirname(srv.db)) if srv.db else None
    r = bench(args, srv, pid, "publish",
              ["--subs", "0", "--keepalive", "--concurrency", "64", "--spread", str(cfg.spread),
               "--duration", "2" if args.quick else "5"])
    r["db_bytes"] = srv.db_bytes()
    r["fdatasync_ms"] = getattr(srv, "fsync_ms", None)
    f1 = disk_flushes(os.path.dirname(srv.db)) if srv.db else None
    if f0 is not None and f1 is not None and cfg.fs == "disk":
        # The disk's flushes in the run (other processes' too): about one per
        # group commit in commit mode.
        r["disk_flushes"] = f1 - f0
        r["publishes_per_flush"] = r["publish_ok"] / max(1, f1 - f0)
    return r


def fanout_configs():
    return [Config("history off (size 0)", "notifyd", "memory", size=0),
            Config("history on (memory, size 100)", "notifyd", "memory", size=100),
            Config("nchan buffer 100", "nchan", buffer=100),
            Config("nchan no buffer", "nchan")]


def run_fanout(args, srv, pid, cfg):
    out = {}
    subs, pubs = ("1000", "50") if args.quick else ("10000", "100")
    r = bench(args, srv, pid, "fanout", ["--subs", subs, "--saturate", "--publishes", pubs])
    out.update({f"sat_{k}": v for k, v in r.items()})
    if not args.quick:
        srv.stop()
        pid, _ = srv.start()
        r = bench(args, srv, pid, "fanout", ["--subs", "10000", "--rate", "5", "--duration", "10"])
        out.update({f"paced_{k}": v for k, v in r.items()})
    out["loss"] = (out.get("sat_loss") or 0) + (out.get("paced_loss") or 0)
    out["rc"] = (out.get("sat_rc") or 0) or (out.get("paced_rc") or 0)
    return out


def memory_configs():
    return [Config("memory size 1000", "notifyd", "memory", size=1000),
            Config("memory size 0", "notifyd", "memory", size=0),
            Config("memory size 1000, 1 subscriber per channel", "notifyd", "memory", size=1000,
                   subs=100),
            Config("memory size 0, 1 subscriber per channel", "notifyd", "memory", size=0,
                   subs=100),
            Config("sqlite size 1000 (commit, disk)", "notifyd", "sqlite", size=1000,
                   sync="commit", fs="disk"),
            Config("nchan buffer 1000", "nchan", buffer=1000),
            Config("nchan no buffer", "nchan")]


def run_memory(args, srv, pid, cfg):
    channels, per = (100, 100) if args.quick else (100, 1000)
    base = rss_kb(pid)
    fresh = nchan_status(srv.port) if cfg.kind == "nchan" else {}
    r = bench(args, srv, pid, "publish",
              ["--subs", str(cfg.subs), "--keepalive", "--concurrency", "64", "--spread",
               str(channels), "--count", str(channels * per), "--payload", "200",
               "--duration", "300"])
    time.sleep(1.0)  # let the writer thread and the allocator settle
    r["rss_fresh_kb"] = base
    r["rss_kept_kb"] = rss_kb(pid)
    if cfg.kind == "nchan":
        after = nchan_status(srv.port)
        r["nchan_shm_fresh_kb"] = fresh.get("shm_kb")
        r["nchan_shm_kb"] = after.get("shm_kb")
        r["nchan_stored"] = after.get("stored")
        if r["nchan_shm_kb"] is not None and r["nchan_shm_fresh_kb"] is not None:
            r["nchan_shm_per_msg_b"] = ((r["nchan_shm_kb"] - r["nchan_shm_fresh_kb"]) * 1024
                                        / (channels * per))
    r["kept"] = channels * per if cfg.kind == "notifyd" and cfg.size else 0
    if cfg.kind == "nchan" and cfg.buffer:
        r["kept"] = channels * per
    r["db_bytes"] = srv.db_bytes()
    r["db_wal_bytes"] = srv.db_bytes(("-wal",))
    if cfg.kind == "notifyd" and cfg.size:
        r["frame_bytes"] = frame_bytes(srv.port, "pub0")
    if srv.db:
        srv.stop()  # a clean stop checkpoints the WAL into the file
        r["db_file_after_stop"] = srv.db_bytes()
        r["db_bytes_per_kept"] = r["db_file_after_stop"] / r["kept"] if r["kept"] else None
        # A start that loads all of it back.
        new_pid, r["start_kept_s"] = srv.start()
        r["start_kept_cpu_s"] = cpu_s(new_pid)
        r["rss_after_start_kb"] = rss_kb(new_pid)
    r["rss_growth_per_kept_b"] = ((r["rss_kept_kb"] - base) * 1024 / r["kept"]
                                  if r["kept"] else None)
    return r


def nchan_status(port):
    """Nchan's shared memory in use (KB) and its stored messages, from
    nchan_stub_status."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/nchan_status",
                                 headers={"Host": "127.0.0.1"})
    out = {}
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            k, _, v = line.partition(":")
            if k == "shared memory used":
                out["shm_kb"] = float(v.strip().rstrip("K"))
            elif k == "stored messages":
                out["stored"] = int(v.strip())
    return out


def resume_configs():
    return [Config("sqlite commit disk", "notifyd", "sqlite", size=100, sync="commit", fs="disk")]


def run_resume(args, srv, pid, cfg):
    subs = "1000" if args.quick else "10000"
    info = {}

    def restart():
        info["stop_s"] = srv.stop()
        info["db_bytes_at_stop"] = srv.db_bytes()
        new_pid, up = srv.start()
        info["start_s"] = up
        info["start_cpu_s"] = cpu_s(new_pid)
        return new_pid

    r = bench(args, srv, pid, "resume",
              ["--subs", subs, "--channels", "100", "--missed", "10", "--concurrency", "64"],
              on_restart=restart)
    r.update(info)
    return r


def memory_rows(runs):
    """Bytes of RSS per kept notification: (RSS with the buffer − RSS after the
    same publishes with nothing kept) / kept, per repetition, then the median."""
    rows = []
    for kept, none, label in (("memory size 1000", "memory size 0", "notifyd memory"),
                              ("memory size 1000, 1 subscriber per channel",
                               "memory size 0, 1 subscriber per channel",
                               "notifyd memory, 1 subscriber per channel"),
                              ("sqlite size 1000 (commit, disk)", "memory size 0",
                               "notifyd sqlite"),
                              ("nchan buffer 1000", "nchan no buffer", "Nchan")):
        if kept not in runs or none not in runs:
            continue
        per = [(a["rss_kept_kb"] - b["rss_kept_kb"]) * 1024 / a["kept"]
               for a, b in zip(runs[kept], runs[none]) if a.get("kept")]
        m = compare.median(per)
        rows.append(f"| {label}: (RSS kept − RSS of {none}) per kept notification, bytes | "
                    f"{compare.fmt(m)} (runs: {', '.join(compare.fmt(x) for x in per)}) |")
    return rows


# What each scenario prints: (field, label), and the fields whose ratio to the
# scenario's first configuration is taken within each repetition.
SCENARIOS = {
    "durable": (durable_configs, run_durable, [
        ("publishes_per_s", "publishes/s"),
        ("cpu_us_per_publish", "server CPU µs per publish"),
        ("publish_errors", "failed publishes"),
        ("db_bytes", "SQLite file + WAL bytes after the run"),
        ("disk_flushes", "disk flush requests in the run (the whole disk)"),
        ("publishes_per_flush", "publishes per disk flush"),
        ("fdatasync_ms", "fdatasync of 4 KiB in the database's directory just before, ms"),
        ("loadavg1", "load average (1 min) at the start")],
        ["publishes_per_s", "cpu_us_per_publish"]),
    "fanout": (fanout_configs, run_fanout, [
        ("sat_cpu_s_per_M", "saturated: server CPU s per 1M deliveries"),
        ("sat_cpu_ksoftirqd_s_per_M", "saturated: server + ksoftirqd CPU s per 1M"),
        ("sat_deliveries_per_s", "saturated: deliveries/s"),
        ("paced_cpu_s_per_M", "paced 10000x5/s: server CPU s per 1M deliveries"),
        ("paced_cpu_ksoftirqd_s_per_M", "paced: server + ksoftirqd CPU s per 1M"),
        ("paced_lat_p99_ms", "paced: p99 latency ms"),
        ("loss", "lost notifications")],
        ["sat_cpu_s_per_M", "sat_cpu_ksoftirqd_s_per_M", "paced_cpu_s_per_M",
         "paced_cpu_ksoftirqd_s_per_M"]),
    "memory": (memory_configs, run_memory, [
        ("publishes_per_s", "publishes/s while filling"),
        ("rss_fresh_kb", "RSS fresh KB"),
        ("rss_kept_kb", "RSS after the publishes KB"),
        ("rss_growth_per_kept_b", "(RSS after − fresh) per kept notification, bytes"),
        ("nchan_shm_fresh_kb", "Nchan shared memory used, fresh KB (nchan_stub_status)"),
        ("nchan_shm_kb", "Nchan shared memory used after the publishes KB"),
        ("nchan_stored", "Nchan stored messages after the publishes (nchan_stub_status)"),
        ("nchan_shm_per_msg_b", "Nchan (shared memory after − fresh) per publish, bytes"),
        ("db_bytes", "SQLite file + WAL bytes"),
        ("db_wal_bytes", "of which WAL"),
        ("db_file_after_stop", "SQLite file after a clean stop (WAL checkpointed)"),
        ("db_bytes_per_kept", "SQLite file bytes per kept notification"),
        ("start_kept_s", "start with all of it kept: seconds until listening"),
        ("start_kept_cpu_s", "CPU s of that start"),
        ("rss_after_start_kb", "RSS after that start KB"),
        ("frame_bytes", "one kept notification as sent, bytes")],
        []),
    "resume": (resume_configs, run_resume, [
        ("resume_wall_s", "wall time until every client has its 10, s"),
        ("subscribed_s", "time until every client is subscribed again, s"),
        ("server_cpu_s", "notifyd CPU s for the resume"),
        ("cpu_us_per_client", "notifyd CPU µs per resumed client"),
        ("loadgen_resume_cpu_s", "the clients' CPU s for the resume (2 worker processes)"),
        ("recovered", "clients recovered:true with missed 10"),
        ("resumed_done", "clients that got exactly their 10"),
        ("stop_s", "SIGTERM to exit, s"),
        ("start_s", "start to listening (history loaded), s"),
        ("start_cpu_s", "CPU s of that start"),
        ("missed_publish_s", "publishing the 1,000 missed (64 keep-alive), s"),
        ("db_bytes_at_stop", "SQLite file + WAL bytes at the stop")],
        []),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    ap.add_argument("--only", default="", help="comma-separated: durable,fanout,memory,resume")
    ap.add_argument("--out", default=None, help="results directory (default: a new temp dir)")
    ap.add_argument("--port-base", type=int, default=18800)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--disk-dir", default="/var/tmp", help="parent of the SQLite files")
    ap.add_argument("--tmpfs-dir", default="/dev/shm", help="parent for the tmpfs row")
    ap.add_argument("--no-nchan", action="store_true", help="notifyd rows only")
    args = ap.parse_args()
    args.notifyd = os.path.join(args.build, "notifyd")
    args.bench = os.path.join(args.build, "bench", "notifyd-bench")
    for f in (args.notifyd, args.bench) + (() if args.no_nchan else
                                            (args.nginx, compare.NCHAN_MODULE)):
        if not os.path.exists(f):
            raise SystemExit(f"missing {f} (cmake --build BUILD --target notifyd notifyd-bench; "
                             "apt-get install nginx-light libnginx-mod-nchan)")
    disk_fs, tmpfs_fs = fs_type(os.path.realpath(args.disk_dir)), fs_type(args.tmpfs_dir)
    if disk_fs == "tmpfs":
        raise SystemExit(f"--disk-dir {args.disk_dir} is on tmpfs: pick a directory on a disk")
    reps = args.reps or (1 if args.quick else 3)
    out = args.out or tempfile.mkdtemp(prefix="notifyd-hbench-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="notifyd-hbench-run-")
    args.disk_root = tempfile.mkdtemp(prefix="notifyd-hbench-db-", dir=args.disk_dir)
    args.tmpfs_root = tempfile.mkdtemp(prefix="notifyd-hbench-db-", dir=args.tmpfs_dir)
    compare.log(f"SQLite on {args.disk_root} ({disk_fs}) and {args.tmpfs_root} ({tmpfs_fs})")
    only = [o for o in args.only.split(",") if o]
    raw, t_start = {}, time.time()
    port = args.port_base
    try:
        for scen, (configs, run, _, _) in SCENARIOS.items():
            if only and scen not in only:
                continue
            cfgs = [c for c in configs() if not (args.no_nchan and c.kind == "nchan")]
            compare.log(f"== {scen}")
            for rep in range(reps):
                # Rotate the order so that slow drifts of the machine spread evenly.
                order = cfgs[rep % len(cfgs):] + cfgs[:rep % len(cfgs)]
                for cfg in order:
                    port += 1
                    srv = Srv(args, cfg, work, port)
                    compare.log(f" -- {cfg.name} (rep {rep + 1})")
                    load = os.getloadavg()[0]
                    try:
                        pid, _ = srv.start()
                        r = run(args, srv, pid, cfg)
                    finally:
                        srv.stop()
                        srv.cleanup()
                    r["rep"] = rep
                    r["loadavg1"] = load
                    raw.setdefault(scen, {}).setdefault(cfg.name, []).append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.disk_root, ignore_errors=True)
        shutil.rmtree(args.tmpfs_root, ignore_errors=True)
    elapsed = time.time() - t_start

    # ---- tables: medians, and ratios within a repetition ----------------------------
    md = []
    for scen, (configs, _, figs, ratio_fields) in SCENARIOS.items():
        if scen not in raw:
            continue
        names = [c.name for c in configs() if c.name in raw[scen]]
        ref = names[0]
        md.append(f"\n### {scen}\n")
        md.append("| figure | " + " | ".join(names) + " |")
        md.append("|---|" + "---:|" * len(names))
        for field, label in figs:
            vals = [compare.median([r.get(field) for r in raw[scen][n]]) for n in names]
            if all(v is None for v in vals):
                continue
            md.append(f"| {label} | " + " | ".join(compare.fmt(v) for v in vals) + " |")
        labels = dict(figs)
        for field in ratio_fields:
            label = labels[field]
            cells = []
            for n in names:
                ratios = []
                for a, b in zip(raw[scen][n], raw[scen][ref]):
                    x, y = a.get(field), b.get(field)
                    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
                        ratios.append(x / y)
                m = compare.median(ratios)
                cells.append(compare.fmt(m) if m is not None else "-")
            md.append(f"| {label}, ratio to {ref} (median of per-repetition ratios) | "
                      + " | ".join(cells) + " |")
        if scen == "memory":
            md.extend(memory_rows(raw[scen]))
        md.append("")
        md.append(f"Per repetition ({figs[0][1]}): " + "; ".join(
            f"{n}: " + ", ".join(compare.fmt(r.get(figs[0][0])) for r in raw[scen][n])
            for n in names))
    table = "\n".join(md)
    print(table)
    print(f"\n{reps} repetition(s), {elapsed:.0f} s; SQLite on {disk_fs} and {tmpfs_fs}; "
          f"raw results in {out}/results.json")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"reps": reps, "quick": args.quick, "elapsed_s": elapsed,
                   "uname": os.uname().release, "nproc": os.cpu_count(),
                   "disk_fs": disk_fs, "tmpfs_fs": tmpfs_fs, "runs": raw}, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table + "\n")
    failed = sorted({f"{s}/{n}" for s in raw for n in raw[s] for r in raw[s][n]
                     if not n.startswith("nchan") and (r.get("rc") or r.get("loss"))})
    if failed:
        compare.log("notifyd runs with errors or loss:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
