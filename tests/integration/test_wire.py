"""Wire-level behaviour of notifyd's HTTP/1.1 + WebSocket transport.

Everything here talks to the real binary over raw TCP on 127.0.0.1, with
WebSocket frames built and parsed by hand (helpers below), so the bytes on the
wire are checked rather than what a client library makes of them:

- the upgrade request and the first frame in one write; many frames in one write
- fragmented messages with a ping between the fragments
- the close handshake (code echoed, then TCP closed; empty close answered empty)
- protocol violations (1002), invalid UTF-8 (1007), oversized frames (1009,
  as soon as the header announces them)
- handshake refusals (426, 400, 404) and HTTP errors (431, 400, 505, 413 before
  the body) with JSON bodies; the 5 s request timeout; no pipelining (one
  response, then EOF); HEAD answered like GET without the body
- delivery to 200 subscribers with io_uring batching and with plain sendmsg
  (NOTIFYD_IO_URING=0)
"""

import asyncio
import json
import os
import resource
import socket
import struct
import time
import unittest

from harness import without_position
from harness import BufferedSocket, Daemon, DaemonTestCase, parse_http_response
from harness import encode_client_frame as encode_frame
from harness import new_websocket_key as new_key
from harness import websocket_accept as accept_for

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

MAX_FRAME_BYTES = 1024
MAX_BODY_BYTES = 1000
WIRE_CONFIG = {"limits": {"max_frame_bytes": MAX_FRAME_BYTES,
                          "max_body_bytes": MAX_BODY_BYTES,
                          "connection_rate": 0}}


# ---- hand-made WebSocket / HTTP helpers ------------------------------------

def upgrade_request(path="/ws", key=None, method="GET", version="13", host="127.0.0.1",
                    omit=()):
    """Bytes of a WebSocket upgrade request; header names in ``omit`` are left out."""
    headers = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key or new_key()), ("Sec-WebSocket-Version", version)]
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers if k not in omit]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def text_frame(obj, **kw):
    return encode_frame(OP_TEXT, json.dumps(obj), **kw)


def close_payload(code=None, reason=b""):
    return b"" if code is None else struct.pack("!H", code) + reason


def parse_close(payload):
    """(code, reason bytes) of a close frame payload; (None, b"") when empty."""
    if not payload:
        return None, b""
    if len(payload) < 2:
        raise AssertionError(f"close payload of 1 byte: {payload!r}")
    return struct.unpack("!H", payload[:2])[0], payload[2:]


class Wire(BufferedSocket):
    """A plain blocking TCP connection with a read buffer; every read is bounded."""

    def read_head(self, timeout=5.0):
        """(status, {lower name: value}, head text) of the next HTTP response head."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self.fill(deadline, "an HTTP response head")
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end])
        del self.buf[:end]
        status, headers, _ = parse_http_response(head)
        return status, headers, head.decode("iso-8859-1")

    def upgrade(self, path="/ws", first=b"", timeout=5.0):
        """Send the upgrade request and ``first`` in ONE write; check the 101 response."""
        key = new_key()
        self.send(upgrade_request(path, key) + first)
        status, headers, head = self.read_head(timeout)
        if status != 101:
            raise AssertionError(f"handshake refused: {head!r}")
        if headers.get("sec-websocket-accept") != accept_for(key):
            raise AssertionError(f"bad Sec-WebSocket-Accept in {head!r}")
        if headers.get("upgrade", "").lower() != "websocket":
            raise AssertionError(f"no Upgrade: websocket in {head!r}")
        return headers

    def recv_frame(self, timeout=5.0):
        """(fin, rsv, opcode, payload) of the next server frame (which must be unmasked)."""
        deadline = time.monotonic() + timeout
        b0, b1 = self.take(2, deadline, "a frame header")
        if b1 & 0x80:
            raise AssertionError(f"server frame is masked: {bytes([b0, b1])!r}")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.take(2, deadline, "a 16-bit length"))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.take(8, deadline, "a 64-bit length"))
        payload = self.take(n, deadline, f"a {n}-byte payload")
        return bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, payload

    def recv_json(self, timeout=5.0):
        """The next frame, which must be a whole unfragmented text frame holding a JSON object."""
        fin, rsv, op, payload = self.recv_frame(timeout)
        if (fin, rsv, op) != (True, 0, OP_TEXT):
            raise AssertionError(f"expected a text frame, got fin={fin} rsv={rsv} opcode={op} "
                                 f"{payload[:300]!r}")
        obj = json.loads(payload)
        if not isinstance(obj, dict):
            raise AssertionError(f"not a JSON object: {payload[:300]!r}")
        return obj

    def recv_close(self, timeout=5.0):
        """The next frame must be a close frame: its (code, reason, raw payload)."""
        fin, rsv, op, payload = self.recv_frame(timeout)
        if (fin, rsv, op) != (True, 0, OP_CLOSE):
            raise AssertionError(f"expected a close frame, got fin={fin} rsv={rsv} opcode={op} "
                                 f"{payload[:300]!r}")
        code, reason = parse_close(payload)
        return code, reason, payload

    def wait_eof(self, timeout=5.0):
        """Read until the server closes TCP (recv returns b""); returns the bytes read
        meanwhile (including any still buffered). Fails on timeout or reset."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close within {timeout}s; "
                                     f"got {bytes(self.buf[:300])!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                raise AssertionError(f"connection reset instead of a clean close; "
                                     f"got {bytes(self.buf[:300])!r}") from None
            if not chunk:
                out = bytes(self.buf)
                self.buf.clear()
                return out
            self.buf += chunk


def ws_client(daemon, path="/ws"):
    """A Wire after the handshake with the welcome message read."""
    w = Wire(daemon)
    try:
        w.upgrade(path)
        welcome = w.recv_json()
        if welcome.get("type") != "welcome":
            raise AssertionError(f"first message is not the welcome: {welcome!r}")
    except BaseException:
        w.close()
        raise
    return w


class WireCase(DaemonTestCase):
    config = WIRE_CONFIG

    def assert_json_error(self, raw, status, what):
        """raw is a whole HTTP response: check status, JSON error body, CORS, lengths."""
        got, headers, body = parse_http_response(raw)
        self.assertEqual(got, status, (what, raw[:500]))
        self.assertEqual(headers.get("content-length"), str(len(body)), (what, raw[:500]))
        self.assertTrue(headers.get("content-type", "").startswith("application/json"),
                        (what, raw[:500]))
        self.assertEqual(headers.get("access-control-allow-origin"), "*", (what, raw[:500]))
        obj = json.loads(body)
        self.assertIsInstance(obj, dict, (what, body))
        self.assertIsInstance(obj.get("error"), str, (what, body))
        self.assertTrue(obj["error"], (what, body))
        return headers, obj


# ---- WebSocket framing ------------------------------------------------------

class FramingTest(WireCase):
    def test_upgrade_and_first_frame_in_one_write(self):
        with Wire(self.d) as w:
            w.upgrade(first=text_frame({"type": "subscribe", "channel": "news", "id": 1}))
            welcome = w.recv_json()
            self.assertEqual(welcome.get("type"), "welcome", welcome)
            r = w.recv_json()
            self.assertEqual(without_position(r), {"type": "subscribed", "channel": "news", "subscriberCount": 1,
                                 "id": 1})

    def test_ten_subscribes_in_one_write(self):
        with ws_client(self.d) as w:
            w.send(b"".join(text_frame({"type": "subscribe", "channel": f"ch{i}", "id": i})
                            for i in range(10)))
            replies = [w.recv_json() for _ in range(10)]
            self.assertEqual(without_position(replies), [{"type": "subscribed", "channel": f"ch{i}",
                                        "subscriberCount": 1, "id": i} for i in range(10)])

    def test_fragmented_message_with_ping_between_fragments(self):
        with ws_client(self.d) as w:
            text = json.dumps({"type": "subscribe", "channel": "frag", "id": "f"}).encode()
            a, b, c = text[:7], text[7:20], text[20:]
            w.send(encode_frame(OP_TEXT, a, fin=False))
            w.send(encode_frame(OP_PING, b"abc"))
            w.send(encode_frame(OP_CONT, b, fin=False))
            w.send(encode_frame(OP_CONT, c, fin=True))
            self.assertEqual(w.recv_frame(), (True, 0, OP_PONG, b"abc"))
            r = w.recv_json()
            self.assertEqual(without_position(r), {"type": "subscribed", "channel": "frag", "subscriberCount": 1,
                                 "id": "f"})


class CloseTest(WireCase):
    def test_close_code_is_echoed_then_tcp_closed(self):
        with ws_client(self.d) as w:
            w.send(encode_frame(OP_CLOSE, close_payload(4001, b"bye")))
            code, reason, payload = w.recv_close()
            self.assertEqual(code, 4001, payload)
            reason.decode("utf-8")  # a close reason must be UTF-8
            start = time.monotonic()
            rest = w.wait_eof(timeout=3)
            self.assertEqual(rest, b"", "bytes after the close frame")
            self.assertLess(time.monotonic() - start, 3)

    def test_empty_close_is_answered_with_empty_close(self):
        with ws_client(self.d) as w:
            w.send(encode_frame(OP_CLOSE, b""))
            code, _reason, payload = w.recv_close()
            self.assertEqual(payload, b"", f"close payload {payload!r} (code {code})")
            self.assertEqual(w.wait_eof(timeout=3), b"", "bytes after the close frame")


class ProtocolErrorTest(WireCase):
    VIOLATIONS = [
        ("unmasked frame", encode_frame(OP_TEXT, b'{"type":"ping"}', mask=False)),
        ("RSV1 set", encode_frame(OP_TEXT, b'{"type":"ping"}', rsv=4)),
        ("opcode 0x3", encode_frame(0x3, b"x")),
        ("ping with 126-byte payload", encode_frame(OP_PING, b"p" * 126)),
        ("continuation without a message", encode_frame(OP_CONT, b"x")),
    ]

    def violate(self, frame):
        """Send frame on a fresh connection; the server's close frame (code, payload)."""
        with ws_client(self.d) as w:
            w.send(frame)
            code, _reason, payload = w.recv_close()
            rest = w.wait_eof(timeout=4)
            return code, payload, rest

    async def test_protocol_errors_close_with_1002(self):
        bystander = await self.d.ws()
        r = await bystander.request({"type": "subscribe", "channel": "bystander"})
        self.assertEqual(r.get("type"), "subscribed", r)
        for name, frame in self.VIOLATIONS:
            with self.subTest(violation=name):
                code, payload, rest = await asyncio.to_thread(self.violate, frame)
                self.assertEqual(code, 1002, f"{name}: close payload {payload!r}")
                self.assertEqual(rest, b"", f"{name}: bytes after the close frame")
        # The daemon still serves: the bystander, a new client and HTTP.
        self.assertTrue(self.d.running(), self.d.stderr_text())
        r = await bystander.request({"type": "ping", "id": "still"})
        self.assertEqual((r.get("type"), r.get("id")), ("pong", "still"), r)
        s, _h, pub = await self.d.ahttp_json("POST", "/api/notify/bystander", {"title": "alive"})
        self.assertEqual(s, 200, pub)
        self.assertEqual(pub["delivered"], 1, pub)
        n = await bystander.recv_until("notification")
        self.assertEqual(n["title"], "alive", n)
        fresh = await self.d.ws()
        self.assertEqual(fresh.welcome.get("type"), "welcome", fresh.welcome)
        r = await fresh.request({"type": "subscribe", "channel": "bystander"})
        self.assertEqual(r.get("subscriberCount"), 2, r)
        s, _h, body = await self.d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))

    def test_invalid_utf8_text_closes_1007(self):
        with ws_client(self.d) as w:
            w.send(encode_frame(OP_TEXT, b'{"type":"ping","x":"\xff\xfe"}'))
            code, _reason, payload = w.recv_close()
            self.assertEqual(code, 1007, payload)
            self.assertEqual(w.wait_eof(timeout=4), b"")

    def test_oversized_frame_header_alone_closes_1009(self):
        with ws_client(self.d) as w:
            # Only the header (with its masking key) announcing 2000 > 1024
            # bytes; the payload is never sent.
            w.send(struct.pack("!BBH", 0x80 | OP_TEXT, 0x80 | 126, 2000) + os.urandom(4))
            code, _reason, payload = w.recv_close(timeout=5)
            self.assertEqual(code, 1009, payload)
            self.assertEqual(w.wait_eof(timeout=4), b"")


# ---- handshake and HTTP errors ----------------------------------------------

class HandshakeErrorTest(WireCase):
    def test_wrong_version_gets_426(self):
        raw = self.d.raw_http(upgrade_request(version="8"))
        headers, _obj = self.assert_json_error(raw, 426, "Sec-WebSocket-Version: 8")
        self.assertEqual(headers.get("sec-websocket-version"), "13", raw[:500])

    def test_missing_key_gets_400(self):
        raw = self.d.raw_http(upgrade_request(omit=("Sec-WebSocket-Key",)))
        self.assert_json_error(raw, 400, "no Sec-WebSocket-Key")

    def test_post_upgrade_gets_400(self):
        raw = self.d.raw_http(upgrade_request(method="POST"))
        self.assert_json_error(raw, 400, "POST upgrade")

    def test_unknown_path_gets_404(self):
        raw = self.d.raw_http(upgrade_request(path="/nope"))
        self.assert_json_error(raw, 404, "upgrade to /nope")


class HttpErrorTest(WireCase):
    def test_head_over_8k_gets_431(self):
        req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
        self.assert_json_error(self.d.raw_http(req), 431, "9 KB head")

    def test_garbage_gets_400(self):
        self.assert_json_error(self.d.raw_http(b"GARBAGE\r\n\r\n"), 400, "GARBAGE")

    def test_http2_version_gets_505(self):
        self.assert_json_error(self.d.raw_http(b"GET / HTTP/2.0\r\n\r\n"), 505, "HTTP/2.0")

    def test_oversized_content_length_gets_413_before_the_body(self):
        req = (b"POST /api/notify/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 5000\r\n\r\n")
        with Wire(self.d) as w:
            w.send(req)  # and never the body
            raw = w.wait_eof(timeout=5)
        self.assert_json_error(raw, 413, "Content-Length: 5000 without a body")

    def test_partial_head_times_out(self):
        start = time.monotonic()
        with Wire(self.d) as w:
            w.send(b"GET /heal")
            got = w.wait_eof(timeout=9)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 4.0, f"closed after {elapsed:.2f}s; got {got!r}")
        self.assertTrue(self.d.running(), self.d.stderr_text())

    def test_pipelined_requests_are_answered_in_order(self):
        req = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        raw = self.d.raw_http(req)
        self.assertEqual(raw.count(b"HTTP/1.1 200 OK"), 2, raw)
        first, second = raw.split(b"HTTP/1.1 200 OK")[1:]
        self.assertTrue(first.endswith(b"\r\n\r\nOK"), raw)
        self.assertIn(b"Connection: close", second, raw)
        self.assertNotIn(b"Connection: close", first, raw)
        self.assertIn(b"\"connectionsTotal\"", second, raw)

    def test_head_has_content_length_and_no_body(self):
        close = b"Connection: close\r\n"
        get = self.d.raw_http(b"GET /health HTTP/1.1\r\nHost: x\r\n" + close + b"\r\n")
        _status, get_headers, get_body = parse_http_response(get)
        raw = self.d.raw_http(b"HEAD /health HTTP/1.1\r\nHost: x\r\n" + close + b"\r\n")
        status, headers, body = parse_http_response(raw)
        self.assertEqual(status, 200, raw)  # HEAD is GET without the body
        self.assertEqual(headers.get("content-length"), str(len(get_body)), raw)
        self.assertEqual(body, b"", raw)


# ---- delivery in both send modes -------------------------------------------

SUBSCRIBERS = 200
PUBLISHES = 20


class _Daemon(Daemon):
    """Daemon whose environment never carries an inherited NOTIFYD_IO_URING."""

    def _env(self):
        env = super()._env()
        if "NOTIFYD_IO_URING" not in self.extra_env:
            env.pop("NOTIFYD_IO_URING", None)
        return env


class DeliveryCase(DaemonTestCase):
    config = {"limits": {"connection_rate": 0, "publish_rate": 0}}
    env = None
    subscribers = SUBSCRIBERS
    publishes = PUBLISHES

    def setUp(self):
        self.d = _Daemon(self.config, env=self.env, start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    async def check_delivery(self):
        subs = []
        for i in range(0, self.subscribers, 50):
            subs += await asyncio.gather(*(self.d.ws() for _ in range(50)))
        replies = await asyncio.gather(*(c.request({"type": "subscribe", "channel": "fan"})
                                         for c in subs))
        self.assertEqual(sorted(r["subscriberCount"] for r in replies),
                         list(range(1, self.subscribers + 1)))

        publishes = self.publishes

        def publish_all():
            out = []
            for i in range(publishes + 1):
                title = f"n{i}" if i < publishes else "end"
                out.append(self.d.http_json("POST", "/api/notify/fan",
                                            {"title": title, "data": {"i": i}}))
            return out

        results = await asyncio.to_thread(publish_all)
        for i, (s, _h, r) in enumerate(results):
            self.assertEqual(s, 200, (i, r))
            self.assertEqual(r["delivered"], self.subscribers, (i, r))
        ids = [r["id"] for _s, _h, r in results]

        async def collect(c):
            got = []
            for _ in range(self.publishes + 1):
                n = await c.recv_until("notification", timeout=10)
                got.append(n)
                if n["title"] == "end":
                    break
            return got

        received = await asyncio.gather(*(collect(c) for c in subs))
        expected = [f"n{i}" for i in range(self.publishes)] + ["end"]
        for k, got in enumerate(received):
            self.assertEqual([n["title"] for n in got], expected, f"subscriber {k}")
            self.assertEqual([n["id"] for n in got], ids, f"subscriber {k}")
            self.assertEqual([n["data"]["i"] for n in got], list(range(self.publishes + 1)))
            self.assertTrue(all(n["channel"] == "fan" for n in got), f"subscriber {k}")


class SendmsgDeliveryTest(DeliveryCase):
    env = {"NOTIFYD_IO_URING": "0"}

    async def test_delivery_with_sendmsg(self):
        m = self.d.wait_stderr(r"sending with (.*)")
        self.assertTrue(m.group(1).startswith("sendmsg"), m.group(0))
        await self.check_delivery()


class DefaultDeliveryTest(DeliveryCase):
    async def test_delivery_with_default_sender(self):
        m = self.d.wait_stderr(r"sending with (.*)")
        self.assertNotIn("io_uring disabled", m.group(1), m.group(0))
        await self.check_delivery()


class ChunkedFlushDeliveryTest(DeliveryCase):
    """More subscribers than one flush pass writes (1,024 per event-loop turn):
    a publish arriving mid-fan-out shares sends with the one before, and still
    every subscriber gets every notification once, in order."""
    subscribers = 1100
    publishes = 10

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the daemon inherits it
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        if want < 2 * self.subscribers + 64:
            self.skipTest(f"open-files limit {hard} is too low for {self.subscribers} clients")
        super().setUp()

    async def test_delivery_across_flush_passes(self):
        await self.check_delivery()


if __name__ == "__main__":
    unittest.main()
