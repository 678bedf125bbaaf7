"""Server-sent events (GET /api/events/{channel}) and deferred publish replies,
against the real notifyd (PROTOCOL.md Part 2, "Server-sent events")."""

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BufferedSocket, Daemon, ServerClosed, wait_until

NO_RATE_LIMITS = {"connection_rate": 0, "publish_rate": 0}


class SseStream:
    """A raw event-stream client: sends the request, parses the head, then
    reads events one by one. Every read is bounded by a deadline."""

    def __init__(self, d, path, headers=None, method="GET", rcvbuf=None, timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((d.host, d.port))
        self.buf = b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {d.host}:{d.port}",
                 "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status = None
        self.headers = {}

    def close(self):
        self.sock.close()

    def _fill(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what}; buffered {self.buf[:300]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out waiting for {what}; "
                                 f"buffered {self.buf[:300]!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise ServerClosed(f"closed by the server while waiting for {what}; "
                               f"buffered {self.buf[:300]!r}")
        self.buf += chunk

    def read_head(self, timeout=5.0):
        """(status, {lower-case name: value}); a refusal's body goes to self.body."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline, "the response head")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if self.status != 200 and "content-length" in self.headers:
            n = int(self.headers["content-length"])
            while len(self.buf) < n:
                self._fill(deadline, "the response body")
            self.body, self.buf = self.buf[:n], self.buf[n:]
        return self.status, self.headers

    def block(self, timeout=5.0):
        """The next event block: {"id", "event", "data" (lines joined), "comments"}."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buf:
            self._fill(deadline, "an event")
        raw, _, self.buf = self.buf.partition(b"\n\n")
        ev = {"comments": [], "data_lines": 0}
        data = []
        for line in raw.decode("utf-8").split("\n"):
            if line.startswith(":"):
                ev["comments"].append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                ev[name] = value
        if data:
            ev["data"] = "\n".join(data)
            ev["data_lines"] = len(data)
        return ev

    def event(self, timeout=5.0):
        """The next block that is not a `: ping` comment."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.block(max(0.01, deadline - time.monotonic()))
            if ev["comments"] == ["ping"] and len(ev) == 2:
                continue
            return ev

    def notification(self, timeout=5.0):
        ev = self.event(timeout)
        assert ev.get("event") == "notification", ev
        return ev, json.loads(ev["data"])

    def wait_closed(self, timeout=10.0):
        """Reads (and drops) until the server closes the connection."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline, "the server to close the stream")
                self.buf = self.buf[-65536:]
        except ServerClosed:
            return


class SseTestCase(unittest.TestCase):
    config = None

    def setUp(self):
        self.d = Daemon(self.config, start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()
        if self.d.exited_unexpectedly():
            self.fail(f"notifyd died during the test with status {self.d.proc.returncode}; "
                      f"stderr:\n{self.d.stderr_text()}")
        if self.d.running():
            self.assertEqual(self.d.stop(timeout=10), 0, self.d.stderr_text())

    def open(self, path, headers=None, expect=200, **kw):
        s = SseStream(self.d, path, headers, **kw)
        self.streams.append(s)
        status, _ = s.read_head()
        self.assertEqual(status, expect, getattr(s, "body", b""))
        return s

    def publish(self, channel, title, body=""):
        status, _, reply = self.d.http_json("POST", f"/api/notify/{channel}",
                                            {"title": title, "body": body})
        self.assertEqual(status, 200, reply)
        return reply

    def subscribers(self, channel):
        _, _, obj = self.d.http_json("GET", "/api/channels")
        return {c["name"]: c["subscribers"] for c in obj["channels"]}.get(channel, 0)


class StreamTest(SseTestCase):
    config = {"limits": NO_RATE_LIMITS}

    def test_head_and_a_published_notification(self):
        s = self.open("/api/events/news")
        self.assertTrue(s.headers["content-type"].startswith("text/event-stream"), s.headers)
        self.assertEqual(s.headers.get("cache-control"), "no-store")
        # The body is delimited by the connection closing.
        self.assertNotIn("content-length", s.headers)
        self.assertNotIn("transfer-encoding", s.headers)
        reply = self.publish("news", "line one\nline two")
        self.assertEqual(reply["delivered"], 1)
        ev, note = s.notification()
        self.assertEqual(ev["id"], reply["id"])
        self.assertEqual(ev["id"], f"{reply['epoch']}:{reply['seq']}")
        self.assertEqual(ev["data_lines"], 1)  # JSON escapes the line break
        self.assertEqual(note["type"], "notification")
        self.assertEqual(note["channel"], "news")
        self.assertEqual(note["title"], "line one\nline two")
        self.assertEqual((note["id"], note["seq"], note["epoch"]),
                         (reply["id"], reply["seq"], reply["epoch"]))

    def test_counted_as_subscribers_and_in_delivered(self):
        a = self.open("/api/events/count")
        b = self.open("/api/events/count")
        self.assertEqual(self.subscribers("count"), 2)
        _, _, before = self.d.http_json("GET", "/api/stats")
        reply = self.publish("count", "two streams")
        self.assertEqual(reply["delivered"], 2)
        for s in (a, b):
            self.assertEqual(s.notification()[0]["id"], reply["id"])
        _, _, after = self.d.http_json("GET", "/api/stats")
        self.assertEqual(after["delivered"] - before["delivered"], 2)
        a.close()
        wait_until(lambda: self.subscribers("count") == 1, timeout=5,
                   what="the closed stream to leave the channel")

    def test_last_event_id_replays_exactly_the_missed_in_order(self):
        first = [self.publish("resume", f"n{i}") for i in range(1, 5)]
        epoch = first[0]["epoch"]
        self.assertEqual([r["seq"] for r in first], [1, 2, 3, 4])
        s = self.open("/api/events/resume", {"Last-Event-ID": first[1]["id"]})
        for r in first[2:]:
            ev, note = s.notification()
            self.assertEqual((ev["id"], note["title"]), (r["id"], f"n{r['seq']}"))
        # Then live ones, with nothing in between.
        live = self.publish("resume", "n5")
        self.assertEqual(live["epoch"], epoch)
        self.assertEqual(s.notification()[0]["id"], live["id"])

    def test_since_query_and_last_event_id_wins_over_it(self):
        pubs = [self.publish("since", f"n{i}") for i in range(1, 4)]
        epoch = pubs[0]["epoch"]
        s = self.open(f"/api/events/since?since={epoch}:1")
        self.assertEqual([s.notification()[0]["id"] for _ in range(2)],
                         [pubs[1]["id"], pubs[2]["id"]])
        t = self.open(f"/api/events/since?since={epoch}:0", {"Last-Event-ID": pubs[1]["id"]})
        self.assertEqual(t.notification()[0]["id"], pubs[2]["id"])
        live = self.publish("since", "n4")
        self.assertEqual(t.notification()[0]["id"], live["id"])
        self.assertEqual(s.notification()[0]["id"], live["id"])

    def test_unknown_epoch_or_future_seq_gets_resync_first(self):
        pubs = [self.publish("gone", f"n{i}") for i in range(1, 4)]
        epoch, top = pubs[0]["epoch"], 3
        for since in ("Unknown0epoch:2", f"{epoch}:99"):
            with self.subTest(since=since):
                s = self.open("/api/events/gone", {"Last-Event-ID": since})
                ev = s.event()
                self.assertEqual(ev["event"], "resync", ev)
                self.assertEqual(ev["id"], f"{epoch}:{top}")
                self.assertEqual(json.loads(ev["data"]),
                                 {"channel": "gone", "epoch": epoch, "seq": top})
                live = self.publish("gone", "after")
                top += 1
                self.assertEqual(s.notification()[0]["id"], live["id"])
                s.close()

    def test_head_gets_the_head_only_and_a_close(self):
        with BufferedSocket(self.d) as b:
            b.send(b"HEAD /api/events/news HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            deadline = time.monotonic() + 5
            with self.assertRaises(ServerClosed):
                while True:
                    b.fill(deadline, "the server to close after the head")
            head, sep, rest = bytes(b.buf).partition(b"\r\n\r\n")
            self.assertTrue(sep, b.buf)
            self.assertEqual(rest, b"")
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            self.assertIn(b"Content-Type: text/event-stream", head)
            self.assertNotIn(b"Content-Length", head)
        self.assertEqual(self.subscribers("news"), 0)

    def test_bad_channel_is_400_and_the_connection_stays_usable(self):
        with BufferedSocket(self.d) as b:
            b.send(b"GET /api/events/bad!name HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, headers, body = read_response(b)
            self.assertEqual(status, 400, body)
            self.assertIn("error", json.loads(body))
            status, _, body = read_response(b)
            self.assertEqual((status, body), (200, b"OK"))
        status, _, _ = self.d.http("GET", "/api/events/" + "x" * 129)
        self.assertEqual(status, 400)

    def test_curl_prints_events_as_they_come(self):
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("curl is not installed")
        proc = subprocess.Popen([curl, "-sN", "--max-time", "20",
                                 f"http://127.0.0.1:{self.d.port}/api/events/curl"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        def stop_curl():
            if proc.poll() is None:
                proc.terminate()
            proc.wait(5)
            proc.stdout.close()
        self.addCleanup(stop_curl)
        wait_until(lambda: self.subscribers("curl") == 1, timeout=10,
                   what="curl's stream to subscribe")
        reply = self.publish("curl", "via curl")
        out = b""
        deadline = time.monotonic() + 10
        while b"\n\n" not in out:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"curl printed {out!r}")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                self.assertTrue(chunk, f"curl ended; printed {out!r}")
                out += chunk
        lines = out.decode().split("\n")
        self.assertEqual(lines[:2], [f"id: {reply['id']}", "event: notification"])
        self.assertEqual(json.loads(lines[2][len("data: "):])["title"], "via curl")


class HeartbeatTest(SseTestCase):
    config = {"heartbeat": {"interval": 0.1, "timeout": 5}}

    def test_ping_comments_at_the_heartbeat_interval(self):
        s = self.open("/api/events/quiet")
        t0 = time.monotonic()
        for _ in range(3):
            self.assertEqual(s.block(timeout=3), {"comments": ["ping"], "data_lines": 0})
        self.assertLess(time.monotonic() - t0, 3)


class LimitsTest(SseTestCase):
    config = {"limits": {"max_connections": 1}}

    def test_max_connections_refuses_another_stream_with_503(self):
        s = self.open("/api/events/one")
        self.open("/api/events/one", expect=503)
        _, _, stats = self.d.http_json("GET", "/api/stats")
        self.assertEqual(stats["refused"]["connectionsOverLimit"], 1)
        self.assertEqual(self.subscribers("one"), 1)
        reply = self.publish("one", "still here")
        self.assertEqual(s.notification()[0]["id"], reply["id"])

    def test_a_stream_takes_a_slot_a_websocket_session_would(self):
        self.open("/api/events/one")
        with BufferedSocket(self.d) as b:
            b.send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            status, _, body = read_response(b)
            self.assertEqual(status, 503, body)


class SlowReaderTest(SseTestCase):
    config = {"limits": dict(NO_RATE_LIMITS, max_queued_bytes_per_client=65536)}

    def test_a_reader_that_does_not_read_is_dropped(self):
        self.open("/api/events/flood", rcvbuf=4096)
        conn = http.client.HTTPConnection(self.d.host, self.d.port, timeout=5)
        self.addCleanup(conn.close)
        pad = "x" * 32768
        dropped = 0
        # The kernel's buffers take a few MB before the server's queue grows.
        for i in range(400):
            conn.request("POST", "/api/notify/flood", json.dumps({"title": str(i), "body": pad}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            if i % 10 == 9:
                _, _, stats = self.d.http_json("GET", "/api/stats")
                dropped = stats["refused"]["slowClientsDropped"]
                if dropped:
                    break
        self.assertEqual(dropped, 1)
        self.assertRegex(self.d.stderr_text(), r"sse client \S+ on flood .* dropped")
        wait_until(lambda: self.subscribers("flood") == 0, timeout=5,
                   what="the dropped stream to leave the channel")


class ShutdownTest(SseTestCase):
    def test_sigterm_closes_streams_and_exits_0(self):
        streams = [self.open(f"/api/events/bye{i}") for i in range(3)]
        t0 = time.monotonic()
        self.d.signal(signal.SIGTERM)
        for s in streams:
            s.wait_closed(timeout=10)
        self.assertEqual(self.d.wait_exit(10), 0, self.d.stderr_text())
        self.assertLess(time.monotonic() - t0, 10)


class DeferredPublishTest(SseTestCase):
    """With sync = "commit" the publish reply waits for the commit; a request
    pipelined behind it on the same connection is answered after it."""

    def setUp(self):
        self.dbdir = tempfile.mkdtemp(prefix="notifyd-sse-db-")
        self.addCleanup(shutil.rmtree, self.dbdir, True)
        self.config = {"history": {"store": "sqlite", "sync": "commit",
                                   "path": os.path.join(self.dbdir, "history.db")}}
        super().setUp()

    def test_reply_after_commit_then_the_pipelined_request(self):
        s = self.open("/api/events/durable")
        body = json.dumps({"title": "kept"}).encode()
        with BufferedSocket(self.d) as b:
            b.send(b"POST /api/notify/durable HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body
                   + b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _, raw = read_response(b)
            self.assertEqual(status, 200, raw)
            reply = json.loads(raw)
            self.assertEqual(reply["seq"], 1)
            self.assertEqual(reply["delivered"], 1)
            status, _, raw = read_response(b)
            self.assertEqual((status, raw), (200, b"OK"))
        self.assertEqual(s.notification()[0]["id"], reply["id"])


def read_response(b, timeout=5.0):
    """One HTTP response with a Content-Length from a BufferedSocket."""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in b.buf:
        b.fill(deadline, "a response head")
    head, _, rest = bytes(b.buf).partition(b"\r\n\r\n")
    del b.buf[:len(head) + 4]
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b.take(int(headers.get("content-length", "0")), deadline, "a response body")
    return int(lines[0].split(" ")[1]), headers, body


if __name__ == "__main__":
    unittest.main()
