"""GET /metrics against the real notifyd (docs/PROTOCOL.md, "Metrics"): the
Prometheus text exposition moves with traffic (a WebSocket subscriber, an
event stream, publishes, resumes, refusals), the SQLite store's commit
latency lands in its histogram, the process_* figures are this process's,
access is that of /api/stats (loopback trust without tokens, an admin token
with them; /health stays open), `promtool check metrics` (Debian's
prometheus package) accepts the output when it is installed, and the Grafana
dashboard in docs/ queries only metrics that exist, in PromQL that promtool
accepts."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

from harness import BufferedSocket, Daemon, DaemonTestCase, render_config, wait_until

NO_LIMITS = {"connection_rate": 0, "publish_rate": 0}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ADMIN = "adm-" + os.urandom(16).hex()
PUB = "pub-" + os.urandom(16).hex()

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                         "grafana-dashboard.json")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_exposition(text):
    """{(name, ((label, value), ...)): float} from the text format, checking
    that every sample's family was announced by # HELP and # TYPE."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and types.get(family) != "histogram":
            raise AssertionError(f"sample before its # TYPE: {line!r}")
        pairs = tuple(LABEL_RE.findall(labels))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples, name, **labels):
    key = (name, tuple(labels.items()))
    if key not in samples:
        raise AssertionError(f"no sample {key} in {sorted(samples)[:60]}")
    return samples[key]


def open_event_stream(d, channel):
    """An accepted event stream (GET /api/events/{channel}) on a plain socket."""
    s = BufferedSocket(d)
    s.send(f"GET /api/events/{channel} HTTP/1.1\r\nHost: {d.host}:{d.port}\r\n"
           "Accept: text/event-stream\r\n\r\n".encode())
    deadline = time.monotonic() + 5
    while b"\r\n\r\n" not in s.buf:
        s.fill(deadline, "the event stream's head")
    assert s.buf.startswith(b"HTTP/1.1 200"), bytes(s.buf[:200])
    return s


class MetricsTestBase(DaemonTestCase):
    config = {"limits": NO_LIMITS}

    def scrape(self, headers=None):
        status, h, body = self.d.http("GET", "/metrics", headers=headers)
        self.assertEqual(status, 200, body[:500])
        self.assertEqual(h.get("Content-Type"), CONTENT_TYPE)
        return body.decode("utf-8")

    def promtool_check(self, text):
        """Runs `promtool check metrics` on text when promtool is installed;
        False when it is not."""
        promtool = shutil.which("promtool")
        if promtool is None:
            return False
        cp = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                            capture_output=True, timeout=30)
        self.assertEqual(cp.returncode, 0, f"promtool: {cp.stdout}{cp.stderr}\n{text}")
        self.assertEqual(cp.stdout + cp.stderr, "", "promtool has lint remarks")
        return True

    def publish(self, channel, title="t"):
        status, _h, reply = self.d.http_json("POST", f"/api/notify/{channel}", {"title": title})
        self.assertEqual(status, 200, reply)
        return reply


class TrafficTest(MetricsTestBase):
    async def test_values_move_with_traffic(self):
        before = parse_exposition(self.scrape())
        c = await self.d.ws()
        first = await c.request({"type": "subscribe", "channel": "news"})
        stream = open_event_stream(self.d, "news")
        self.addCleanup(stream.close)
        for i in range(3):
            self.assertEqual(self.publish("news", f"n{i}")["delivered"], 2)
        for _ in range(3):
            await c.recv_until("notification")
        # One resume that is recovered, one that is not (an epoch never seen).
        c2 = await self.d.ws()
        r = await c2.request({"type": "subscribe", "channel": "news",
                              "since": {"epoch": first["epoch"], "seq": 1}})
        self.assertEqual((r["recovered"], r["missed"]), (True, 2), r)
        r = await c2.request({"type": "subscribe", "channel": "other",
                              "since": {"epoch": "NeverSeenEpoch1", "seq": 4}})
        self.assertFalse(r["recovered"], r)
        # Two refusals: a foreign Host (403) and an invalid channel name (400).
        s, _h, _b = self.d.http("GET", "/api/stats", headers={"Host": "evil.example"})
        self.assertEqual(s, 403)
        s, _h, _b = self.d.http("POST", "/api/notify/bad%20name", body="x")
        self.assertEqual(s, 400)

        after = parse_exposition(self.scrape())

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(value(after, "notifyd_connections", kind="websocket"), 2)
        self.assertEqual(value(after, "notifyd_connections", kind="sse"), 1)
        self.assertEqual(value(after, "notifyd_connections", kind="echo"), 0)
        self.assertEqual(value(after, "notifyd_channels"), 2)
        self.assertEqual(delta("notifyd_subscriber_connections_opened_total"), 3)
        self.assertEqual(delta("notifyd_publishes_total"), 3)
        self.assertEqual(delta("notifyd_deliveries_total"), 3 * 2 + 2)  # and the replay
        self.assertEqual(delta("notifyd_resumes_total", outcome="recovered"), 1)
        self.assertEqual(delta("notifyd_resumes_total", outcome="not_recovered"), 1)
        self.assertEqual(delta("notifyd_refusals_total", reason="forbidden"), 1)
        self.assertEqual(delta("notifyd_refusals_total", reason="invalid_channel"), 1)
        self.assertEqual(delta("notifyd_refusals_total", reason="unauthorized"), 0)
        self.assertEqual(value(after, "notifyd_history_notifications"), 3)
        self.assertEqual(value(after, "notifyd_broker_up", broker="local"), 1)
        self.assertEqual(value(after, "notifyd_history_store_ok", store="memory"), 1)
        # Memory history commits nothing: the histogram is there, empty.
        self.assertEqual(value(after, "notifyd_history_commit_duration_seconds_count"), 0)
        # No label ever carries a channel name.
        for (_name, labels) in after:
            for label, text in labels:
                self.assertNotEqual(label, "channel")
                self.assertNotIn(text, ("news", "other"))

        stream.close()
        await c2.close()
        wait_until(lambda: value(parse_exposition(self.scrape()), "notifyd_connections",
                                 kind="sse") == 0, timeout=5, what="the closed stream's gauge")
        self.assertEqual(value(parse_exposition(self.scrape()), "notifyd_connections",
                               kind="websocket"), 1)

    def test_build_info_and_process_figures(self):
        _s, _h, stats = self.d.http_json("GET", "/api/stats")
        samples = parse_exposition(self.scrape())
        self.assertEqual(value(samples, "notifyd_build_info", version=stats["version"]), 1)
        now = time.time()
        start = value(samples, "process_start_time_seconds")
        self.assertLess(abs(start - (now - stats["uptimeSeconds"])), 5, (start, now, stats))
        with open(f"/proc/{self.d.pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
        rss = value(samples, "process_resident_memory_bytes")
        self.assertGreater(rss, 0)
        self.assertLess(abs(rss - rss_pages * os.sysconf("SC_PAGESIZE")), 16 << 20)
        fds = len(os.listdir(f"/proc/{self.d.pid}/fd"))
        self.assertLessEqual(abs(value(samples, "process_open_fds") - fds), 2)
        self.assertGreater(value(samples, "process_max_fds"), fds)
        self.assertGreaterEqual(value(samples, "process_cpu_seconds_total"), 0)
        self.assertGreater(value(samples, "process_virtual_memory_bytes"), rss)

    def test_promtool_accepts_the_output(self):
        self.publish("news")
        if not self.promtool_check(self.scrape()):
            self.skipTest("promtool is not installed (Debian package prometheus; "
                          "packaging/install-build-deps installs it)")


class DashboardTest(MetricsTestBase):
    def test_the_dashboard_queries_these_metrics(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dashboard = json.load(f)
        panels = dashboard["panels"]
        ids = [p["id"] for p in panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 10)
        names = {name for (name, _labels) in parse_exposition(self.scrape())}
        for expr in exprs:
            used = re.findall(r"\b(?:notifyd|process)_[a-z_]+", expr)
            self.assertTrue(used, expr)
            for metric in used:
                self.assertIn(metric, names, expr)
        promtool = shutil.which("promtool")
        if promtool is None:
            return  # the PromQL check needs promtool (test_promtool_accepts_the_output says so)
        # The queries as recording rules, Grafana's variables given values.
        rules = [{"record": f"dashboard:query_{i}",
                  "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".*")}
                 for i, e in enumerate(exprs)]
        path = os.path.join(self.d.tmpdir, "dashboard-rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)  # JSON is YAML
        cp = subprocess.run([promtool, "check", "rules", path], text=True, capture_output=True,
                            timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)


class SqliteHistogramTest(MetricsTestBase):
    def setUp(self):
        # The database goes in the daemon's own temporary directory.
        self.d = Daemon(start=False)
        self.addCleanup(self.d.cleanup)
        self.db = os.path.join(self.d.tmpdir, "history.db")
        self.d.write_config({"limits": NO_LIMITS,
                             "history": {"store": "sqlite", "sync": "commit", "path": self.db}})
        self.d.start()

    def test_commit_latency_and_the_store(self):
        for i in range(5):
            self.publish("news", f"n{i}")
        text = self.scrape()
        samples = parse_exposition(text)
        count = value(samples, "notifyd_history_commit_duration_seconds_count")
        self.assertEqual(count, 5)
        self.assertEqual(value(samples, "notifyd_history_commit_duration_seconds_bucket",
                               le="+Inf"), count)
        self.assertGreater(value(samples, "notifyd_history_commit_duration_seconds_sum"), 0)
        buckets = sorted((float(labels[0][1]), v) for (name, labels), v in samples.items()
                         if name == "notifyd_history_commit_duration_seconds_bucket")
        self.assertEqual([v for _le, v in buckets], sorted(v for _le, v in buckets),
                         "buckets are cumulative")
        self.assertEqual(value(samples, "notifyd_history_store_ok", store="sqlite"), 1)
        self.assertEqual(value(samples, "notifyd_history_notifications"), 5)
        self.assertEqual(value(samples, "notifyd_history_pending_notifications"), 0)
        self.assertGreater(value(samples, "notifyd_history_file_size_bytes"), 0)
        self.promtool_check(text)  # with observations in the histogram, when installed


class LoopbackAccessTest(MetricsTestBase):
    def test_host_and_origin_rules_of_api_stats(self):
        port = self.d.port
        for headers in ({"Host": "evil.example"}, {"Host": f"evil.example:{port}"},
                        {"Origin": "http://evil.example"}, {"Origin": "null"}):
            s, h, body = self.d.http("GET", "/metrics", headers=headers)
            self.assertEqual(s, 403, (headers, body))
            self.assertEqual(h.get("Content-Type"), "application/json")
        for host in ("localhost", f"127.0.0.1:{port}", f"[::1]:{port}"):
            self.scrape({"Host": host})
        self.scrape({"Origin": f"http://127.0.0.1:{port}"})
        s, _h, body = self.d.http("GET", "/health", headers={"Host": "evil.example"})
        self.assertEqual((s, body), (200, b"OK"))


class TokenAccessTest(unittest.TestCase):
    def setUp(self):
        text = render_config({"limits": {"publish_rate": 0}})
        text += f'\n[auth]\n[[auth.publish]]\ntoken = "{PUB}"\n\n[[auth.admin]]\ntoken = "{ADMIN}"\n'
        self.d = Daemon(config_text=text, start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def tearDown(self):
        self.assertTrue(self.d.running(), self.d.stderr_text())
        self.assertEqual(self.d.stop(), 0, self.d.stderr_text())

    def test_an_admin_token_is_needed(self):
        s, h, _b = self.d.http("GET", "/metrics")
        self.assertEqual(s, 401)
        self.assertTrue(h.get("WWW-Authenticate", "").startswith("Bearer"))
        s, _h, _b = self.d.http("GET", "/metrics", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(s, 401)
        s, _h, _b = self.d.http("GET", "/metrics", headers={"Authorization": f"Bearer {PUB}"})
        self.assertEqual(s, 403)
        # With a token, from any Host and Origin, as for /api/stats.
        s, h, body = self.d.http("GET", "/metrics",
                                 headers={"Authorization": f"Bearer {ADMIN}",
                                          "Host": "metrics.example", "Origin": "null"})
        self.assertEqual(s, 200, body[:300])
        samples = parse_exposition(body.decode())
        self.assertEqual(value(samples, "notifyd_refusals_total", reason="unauthorized"), 2)
        self.assertEqual(value(samples, "notifyd_refusals_total", reason="forbidden"), 1)
        s, _h, body = self.d.http("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))


if __name__ == "__main__":
    unittest.main()
