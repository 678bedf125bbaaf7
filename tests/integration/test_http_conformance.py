"""HTTP/1.1 conformance of notifyd (RFC 9110, RFC 9112), through the real binary.

Every case writes raw bytes to a plain TCP socket on 127.0.0.1 and reads the
answers with a small response reader (HttpConn below) that takes the status
line, the header fields and a Content-Length (or chunked) body off the stream,
knowing that responses to HEAD, 1xx, 204 and 304 have no body. So several
responses on one connection are read in order, and the bytes on the wire are
checked rather than what a client library makes of them.
integration.http_conformance_tls runs every case again over TLS
(NOTIFYD_TEST_TLS=1: each daemon gets a [tls] listener and the connections go
there).

What test_http.py (the API) and test_wire.py (WebSocket framing, handshake
refusals, 431, the 5 s request timeout) already cover is not repeated here.
The groups:

- partial requests: a head split byte by byte, a body in pieces, a pause
- header syntax: whitespace before the colon, obs-fold, invalid bytes, no colon
- request line: extra spaces, unknown and lower-case methods, versions
- framing: Content-Length checks, Transfer-Encoding, chunked bodies
- Host: required and single in HTTP/1.1, absolute-form, 414
- versions: HTTP/1.0 with and without keep-alive, 505, Upgrade in 1.0
- Expect: 100-continue answered at once, or the final status instead
- keep-alive: reuse, Connection: close, idle timeout, requests per connection
- pipelining: responses in order, a bad request after good ones
- list headers on several lines combined (Connection, Upgrade); HEAD
- every error response is JSON with CORS headers and a Date header

Each daemon here is shared by the cases of one class (started once, restarted
if a case killed it, and it must exit with status 0 at the end). The config
text is written out in full below, because the keep-alive settings
(`keepalive_timeout`, `max_requests_per_connection` in [server]) are newer
than the harness's defaults. Every request carries `Host: 127.0.0.1` and no
`Origin`, so loopback trust applies without tokens.
"""

import email.utils
import json
import re
import time
import unittest

from harness import (CORS_HEADERS, CORS_METHODS, BufferedSocket, Daemon, ServerClosed,
                     encode_client_frame, new_websocket_key, tls_config_text, websocket_accept)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 1024
READ_TIMEOUT = 3.0      # for a response that must come
PROMPT_TIMEOUT = 2.0    # for a response sent before the body, which never comes
KEEPALIVE_TIMEOUT_S = 0.5
MAX_REQUESTS = 3
ADMIN_TOKEN = "conformance-admin-token-0123456789"

BASE_CONFIG = f"""\
[server]
listen = "{HOST}"
port = 0

[limits]
max_body_bytes = {MAX_BODY_BYTES}
connection_rate = 0
publish_rate = 0

[log]
level = "info"
"""

KEEPALIVE_CONFIG = BASE_CONFIG.replace(
    "port = 0\n",
    f"port = 0\nkeepalive_timeout = {KEEPALIVE_TIMEOUT_S}\n"
    f"max_requests_per_connection = {MAX_REQUESTS}\n")

TOKEN_CONFIG = BASE_CONFIG + f'\n[auth]\n\n[[auth.admin]]\ntoken = "{ADMIN_TOKEN}"\n'

IMF_FIXDATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                            r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                            r"\d{4} \d{2}:\d{2}:\d{2} GMT$")
STATUS_LINE_RE = re.compile(r"^HTTP/(\d)\.(\d) (\d{3}) ?(.*)$")
MAX_RESPONSE_HEAD = 65536

WS_UPGRADE = (("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Version", "13"))


# ---- requests ---------------------------------------------------------------

def request_bytes(method="GET", target="/health", headers=(), body=b"", version="HTTP/1.1",
                  host=HOST):
    """One request; Host first unless host is None. A body gets a Content-Length
    unless the headers already frame it (Content-Length or Transfer-Encoding)."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers]
    framed = any(n.lower() in ("content-length", "transfer-encoding") for n, _v in headers)
    if body and not framed:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def publish_body(title, body="sent by test_http_conformance"):
    return json.dumps({"title": title, "body": body}).encode()


def publish_bytes(channel, title, headers=(), version="HTTP/1.1"):
    """A JSON publish to /api/notify/<channel> with a Content-Length body."""
    return request_bytes("POST", f"/api/notify/{channel}", version=version,
                         headers=(("Content-Type", "application/json"),) + tuple(headers),
                         body=publish_body(title))


def chunked(data, sizes):
    """data as a chunked body: chunks of the given sizes (the rest last), then 0."""
    out, pos = [], 0
    for n in list(sizes) + [len(data)]:
        piece = data[pos:pos + n]
        pos += len(piece)
        if piece:
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    return b"".join(out) + b"0\r\n\r\n"


def chunked_publish_head(channel, extra=()):
    return request_bytes("POST", f"/api/notify/{channel}",
                         headers=(("Content-Type", "application/json"),
                                  ("Transfer-Encoding", "chunked")) + tuple(extra))


# ---- responses --------------------------------------------------------------

class Response:
    """One parsed response: version "1.1", status, reason, fields in order, body."""

    def __init__(self, version, status, reason, fields, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.fields = fields
        self.body = body

    def get(self, name, default=None):
        """The field's value; several lines of it joined with ", " (RFC 9110 §5.3)."""
        values = [v for n, v in self.fields if n.lower() == name.lower()]
        return ", ".join(values) if values else default

    def count(self, name):
        return sum(1 for n, _v in self.fields if n.lower() == name.lower())

    def tokens(self, name):
        """The lower-cased members of a list field such as Connection."""
        return [t.strip().lower() for t in (self.get(name) or "").split(",") if t.strip()]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"body is not JSON: {self!r}") from None

    def __repr__(self):
        head = "; ".join(f"{n}: {v}" for n, v in self.fields)
        return f"<HTTP/{self.version} {self.status} {self.reason} [{head}] {self.body[:300]!r}>"


class HttpConn(BufferedSocket):
    """A connection to the daemon (TCP_NODELAY on) that reads responses one
    after the other off the stream. Every read is bounded."""

    def __init__(self, daemon, timeout=READ_TIMEOUT):
        super().__init__(daemon, timeout, nodelay=True)

    def send_in_pieces(self, data, piece=1, pause=0.002):
        """Sends data `piece` bytes at a time, pausing between writes so that the
        server sees them as separate reads."""
        for i in range(0, len(data), piece):
            if i:
                time.sleep(pause)
            self.send(data[i:i + piece])

    def _line(self, deadline, what):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_RESPONSE_HEAD:
                raise AssertionError(f"no CRLF in {bytes(self.buf[:300])!r}")
            self.fill(deadline, what)
        end = self.buf.index(b"\r\n")
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def read_response(self, method="GET", timeout=READ_TIMEOUT):
        """The next response on the stream (a 1xx one too). `method` is the
        request's: a response to HEAD has no body whatever its headers say."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_RESPONSE_HEAD:
                raise AssertionError(f"response head over {MAX_RESPONSE_HEAD} bytes")
            self.fill(deadline, "a response head")
        end = self.buf.index(b"\r\n\r\n")
        lines = bytes(self.buf[:end]).decode("iso-8859-1").split("\r\n")
        del self.buf[:end + 4]
        m = STATUS_LINE_RE.match(lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r}")
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise AssertionError(f"malformed response field {line!r} in {lines!r}")
            fields.append((name, value.strip(" \t")))
        status = int(m.group(3))
        resp = Response(f"{m.group(1)}.{m.group(2)}", status, m.group(4), fields, b"")
        if status < 200 or status in (204, 304) or method == "HEAD":
            return resp
        if "chunked" in resp.tokens("Transfer-Encoding"):
            resp.body = self._read_chunked(deadline)
        elif resp.get("Content-Length") is not None:
            length = resp.get("Content-Length")
            if not length.isdigit():
                raise AssertionError(f"bad Content-Length in {resp!r}")
            resp.body = self.take(int(length), deadline, f"a {length}-byte body")
        else:
            resp.body = self.read_until_close(max(0.0, deadline - time.monotonic()))
        return resp

    def _read_chunked(self, deadline):
        body = b""
        while True:
            size = int(self._line(deadline, "a chunk size").split(b";")[0], 16)
            if size == 0:
                while self._line(deadline, "a trailer line"):
                    pass
                return body
            body += self.take(size, deadline, "chunk data")
            if self.take(2, deadline, "a chunk's CRLF") != b"\r\n":
                raise AssertionError("chunk data not followed by CRLF")

    def read_until_close(self, timeout=READ_TIMEOUT):
        """Reads until the server closes (FIN or RST); returns what was still
        unread. Fails when it stays open for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.fill(deadline, "the server to close the connection")
            except ServerClosed:
                out = bytes(self.buf)
                self.buf.clear()
                return out


class Subscriber:
    """A WebSocket subscriber of one channel on a raw socket, to see what a
    publish delivered."""

    def __init__(self, daemon, channel):
        self.conn = HttpConn(daemon)
        try:
            key = new_websocket_key()
            self.conn.send(request_bytes("GET", "/ws", WS_UPGRADE + (("Sec-WebSocket-Key", key),)))
            resp = self.conn.read_response()
            if resp.status != 101 or resp.get("Sec-WebSocket-Accept") != websocket_accept(key):
                raise AssertionError(f"subscriber handshake refused: {resp!r}")
            welcome = self.recv_json()
            if welcome.get("type") != "welcome":
                raise AssertionError(f"first message is not the welcome: {welcome!r}")
            self.conn.send(encode_client_frame(0x1, json.dumps({"type": "subscribe",
                                                                 "channel": channel})))
            reply = self.recv_json()
            if reply.get("type") != "subscribed":
                raise AssertionError(f"subscribe refused: {reply!r}")
        except BaseException:
            self.conn.close()
            raise

    def recv_json(self, timeout=READ_TIMEOUT):
        """The next text message as a dict; ping and pong frames are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            b0, b1 = self.conn.take(2, deadline, "a frame header")
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self.conn.take(2, deadline, "a frame length"), "big")
            elif n == 127:
                n = int.from_bytes(self.conn.take(8, deadline, "a frame length"), "big")
            payload = self.conn.take(n, deadline, "a frame payload")
            opcode = b0 & 0x0F
            if opcode in (0x9, 0xA):
                continue
            if opcode != 0x1:
                raise AssertionError(f"expected a text frame, got opcode {opcode}: {payload!r}")
            return json.loads(payload)

    def notification(self, timeout=READ_TIMEOUT):
        msg = self.recv_json(timeout)
        if msg.get("type") != "notification":
            raise AssertionError(f"expected a notification, got {msg!r}")
        return msg

    def close(self):
        self.conn.close()


# ---- the cases' base class --------------------------------------------------

class ConformanceCase(unittest.TestCase):
    """One daemon per class, started from config_text; connections opened with
    connect() are closed after each case."""

    config_text = BASE_CONFIG

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(config_text=cls.config_text + tls_config_text())

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop() if cls.d.running() else cls.d.proc.returncode
        stderr = cls.d.stderr_text()
        cls.d.cleanup()
        if code != 0:
            raise AssertionError(f"notifyd exit status {code}; stderr:\n{stderr}")

    def setUp(self):
        if not self.d.running():  # an earlier case killed it; that case failed already
            self.d.start()
        self._conns = []

    def tearDown(self):
        for c in self._conns:
            c.close()
        if not self.d.running():
            self.fail(f"notifyd died during the case with status {self.d.proc.returncode}; "
                      f"stderr:\n{self.d.stderr_text()}")

    def connect(self):
        conn = HttpConn(self.d)
        self._conns.append(conn)
        return conn

    def subscribe(self, channel):
        sub = Subscriber(self.d, channel)
        self._conns.append(sub.conn)
        return sub

    def channel(self):
        """A channel name of this case alone."""
        return "conf-" + self.id().rsplit(".", 1)[-1].replace("_", "-")

    def exchange(self, raw, method="GET", timeout=READ_TIMEOUT):
        """Sends raw on a new connection and reads one response."""
        conn = self.connect()
        conn.send(raw)
        return conn.read_response(method, timeout)

    def assert_closed(self, conn, what=""):
        rest = conn.read_until_close()
        self.assertEqual(rest, b"", f"{what}: bytes after the last response")

    def assert_refused_and_closed(self, raw, status):
        """raw on a new connection gets a JSON error with `status`, then the
        server closes the connection."""
        conn = self.connect()
        conn.send(raw)
        self.assert_json_error(conn.read_response(), status)
        self.assert_closed(conn, f"after the {status}")

    def assert_open_and_serving(self, conn):
        """A further request on conn is answered: the connection was kept."""
        conn.send(request_bytes("GET", "/health"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)
        return resp

    def assert_json_error(self, resp, status):
        """resp is an error with the given status (or one of a set of them), a
        JSON body {"error": "..."} and the CORS headers."""
        allowed = status if isinstance(status, (set, frozenset, tuple)) else {status}
        self.assertIn(resp.status, allowed, resp)
        self.assertTrue((resp.get("Content-Type") or "").startswith("application/json"), resp)
        obj = resp.json()
        self.assertIsInstance(obj, dict, resp)
        self.assertIsInstance(obj.get("error"), str, resp)
        self.assertTrue(obj["error"], resp)
        self.assert_cors(resp)
        return obj

    def assert_cors(self, resp):
        self.assertEqual(resp.get("Access-Control-Allow-Origin"), "*", resp)
        self.assertEqual(resp.get("Access-Control-Allow-Methods"), CORS_METHODS, resp)
        self.assertEqual(resp.get("Access-Control-Allow-Headers"), CORS_HEADERS, resp)

    def assert_date(self, resp):
        date = resp.get("Date")
        self.assertIsNotNone(date, f"no Date header: {resp!r}")
        self.assertEqual(resp.count("Date"), 1, resp)
        self.assertRegex(date, IMF_FIXDATE_RE)
        skew = abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
        self.assertLess(skew, 60, f"Date {date!r} is {skew:.0f} s off")

    def assert_published(self, resp, sub, title):
        """resp accepted a publish that sub received with this title."""
        self.assertEqual(resp.status, 200, resp)
        obj = resp.json()
        self.assertEqual((obj.get("success"), obj.get("delivered")), (True, 1), resp)
        n = sub.notification()
        self.assertEqual((n.get("title"), n.get("id")), (title, obj.get("id")), n)
        return n


# ---- partial requests -------------------------------------------------------

class PartialRequestTest(ConformanceCase):
    def test_head_split_byte_by_byte(self):
        """RFC 9112 §2.1: a head arriving one byte per read is parsed the same."""
        conn = self.connect()
        conn.send_in_pieces(request_bytes("GET", "/health", (("Accept", "*/*"),)))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_body_split_across_writes(self):
        """RFC 9112 §6.2: a Content-Length body in several pieces is read whole."""
        sub = self.subscribe(self.channel())
        raw = publish_bytes(self.channel(), "split body")
        head_end = raw.index(b"\r\n\r\n") + 4
        conn = self.connect()
        conn.send(raw[:head_end])
        conn.send_in_pieces(raw[head_end:], piece=7, pause=0.01)
        self.assert_published(conn.read_response(), sub, "split body")

    def test_request_completed_after_a_pause(self):
        """RFC 9112 §2.1: a request finished 300 ms after it began is answered."""
        raw = request_bytes("GET", "/health", (("User-Agent", "conformance"),))
        conn = self.connect()
        conn.send(raw[:20])
        time.sleep(0.3)  # the pause is the case itself
        conn.send(raw[20:])
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_blank_line_split_between_cr_and_lf(self):
        """RFC 9112 §2.1: the head's end split between CR and LF still ends it."""
        raw = request_bytes("GET", "/health")
        conn = self.connect()
        conn.send(raw[:-1])
        time.sleep(0.05)
        conn.send(raw[-1:])
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_empty_line_before_request_line_is_ignored(self):
        """RFC 9112 §2.2: at least one empty line before the request line is ignored."""
        resp = self.exchange(b"\r\n" + request_bytes("GET", "/health"))
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)


# ---- header syntax ----------------------------------------------------------

class HeaderSyntaxTest(ConformanceCase):
    def check_400(self, field_line):
        self.assert_refused_and_closed(
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + field_line + b"\r\n\r\n", 400)

    def test_whitespace_before_colon_is_400(self):
        """RFC 9112 §5.1: whitespace between field name and colon gets 400."""
        self.check_400(b"X-Test : value")

    def test_obs_fold_is_400(self):
        """RFC 9112 §5.2: a folded field line (obs-fold) is rejected with 400."""
        self.check_400(b"X-Test: first\r\n  continued")

    def test_whitespace_before_first_field_is_400(self):
        """RFC 9112 §2.2: whitespace between the request line and the first field is refused."""
        conn = self.connect()
        conn.send(b"GET /health HTTP/1.1\r\n Host: 127.0.0.1\r\n\r\n")
        self.assert_json_error(conn.read_response(), 400)

    def test_invalid_character_in_field_name_is_400(self):
        """RFC 9110 §5.1: a field name is a token; '(' is not a tchar."""
        self.check_400(b"X(Test): value")

    def test_control_character_in_field_value_is_400(self):
        """RFC 9110 §5.5: NUL in a field value is invalid."""
        self.check_400(b"X-Test: a\x00b")

    def test_empty_field_name_is_400(self):
        """RFC 9110 §5.1: a field line needs a non-empty name before the colon."""
        self.check_400(b": value")

    def test_field_line_without_colon_is_400(self):
        """RFC 9112 §5: a field line without a colon is malformed."""
        self.check_400(b"X-Test value")

    def test_field_names_are_case_insensitive(self):
        """RFC 9110 §5.1: hOsT and content-LENGTH are Host and Content-Length."""
        sub = self.subscribe(self.channel())
        body = publish_body("any case")
        raw = (f"POST /api/notify/{self.channel()} HTTP/1.1\r\nhOsT: 127.0.0.1\r\n"
               f"content-TYPE: application/json\r\ncontent-LENGTH: {len(body)}\r\n\r\n"
               ).encode() + body
        self.assert_published(self.exchange(raw), sub, "any case")

    def test_whitespace_around_field_value_is_ignored(self):
        """RFC 9112 §5.1: OWS around a value is not part of it (Connection:\\t close \\t)."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/health", (("Connection", "\t close \t"),)))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("close", resp.tokens("Connection"), resp)
        self.assert_closed(conn)


# ---- request line -----------------------------------------------------------

class RequestLineTest(ConformanceCase):
    def test_extra_space_in_request_line_is_400(self):
        """RFC 9112 §3: method, target and version are separated by exactly one SP."""
        self.assert_json_error(self.exchange(b"GET  /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                               400)

    def test_lowercase_method_is_an_unknown_method(self):
        """RFC 9110 §9.1: methods are case-sensitive; "get" is a valid token but not GET."""
        resp = self.exchange(request_bytes("get", "/health"))
        self.assert_json_error(resp, {404, 405, 501})

    def test_unknown_method_is_refused(self):
        """RFC 9110 §15.5.6/§15.6.2: an unknown method gets 405 (with Allow) or 501."""
        resp = self.exchange(request_bytes("BREW", "/health"))
        self.assert_json_error(resp, {405, 501})
        if resp.status == 405:
            self.assertIn("GET", resp.get("Allow", ""), resp)

    def test_missing_version_is_400(self):
        """RFC 9112 §3: the request line needs an HTTP-version (no HTTP/0.9)."""
        self.assert_json_error(self.exchange(b"GET /health\r\nHost: 127.0.0.1\r\n\r\n"), 400)

    def test_lowercase_version_is_400(self):
        """RFC 9112 §2.3: HTTP-name is case-sensitive "HTTP"."""
        self.assert_json_error(self.exchange(request_bytes(version="http/1.1")), 400)

    def test_target_without_leading_slash_is_400(self):
        """RFC 9112 §3.2: an origin-form target starts with "/"."""
        self.assert_json_error(self.exchange(request_bytes(target="health")), 400)

    def test_control_byte_in_target_is_400(self):
        """RFC 9112 §3.2 (RFC 3986): a target with a raw control byte is invalid."""
        raw = b"GET /hea\x01lth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        self.assert_json_error(self.exchange(raw), 400)

    def test_connect_authority_form_is_refused(self):
        """RFC 9110 §9.3.6: notifyd is no proxy; CONNECT gets 400, 405 or 501."""
        resp = self.exchange(request_bytes("CONNECT", "127.0.0.1:80"))
        self.assert_json_error(resp, {400, 405, 501})


# ---- message framing --------------------------------------------------------

class FramingTest(ConformanceCase):
    def test_invalid_content_length_on_get_is_400(self):
        """RFC 9112 §6.3: an invalid Content-Length (abc) is refused on every method."""
        self.assert_refused_and_closed(
            request_bytes("GET", "/health", (("Content-Length", "abc"),)), 400)

    def test_negative_content_length_is_400(self):
        """RFC 9112 §6.3: Content-Length is 1*DIGIT; -1 is invalid."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Content-Length", "-1"),)) + b"{}"
        self.assert_json_error(self.exchange(raw), 400)

    def test_differing_content_lengths_are_400(self):
        """RFC 9112 §6.3: two different Content-Length values are an unrecoverable error."""
        body = publish_body("x")
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Content-Length", str(len(body))),
                             ("Content-Length", str(len(body) + 1)))) + body
        self.assert_refused_and_closed(raw, 400)

    def test_identical_content_lengths_are_accepted(self):
        """RFC 9110 §8.6: repeated identical Content-Length values may be taken as one."""
        sub = self.subscribe(self.channel())
        body = publish_body("same length twice")
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Content-Type", "application/json"),
                             ("Content-Length", str(len(body))),
                             ("Content-Length", str(len(body))))) + body
        self.assert_published(self.exchange(raw), sub, "same length twice")

    def test_content_length_with_transfer_encoding_is_400_and_closed(self):
        """RFC 9112 §6.1: CL with TE may be refused; the connection is closed after it."""
        body = chunked(publish_body("both"), [5])
        raw = chunked_publish_head(self.channel(), (("Content-Length", str(len(body))),)) + body
        self.assert_refused_and_closed(raw, 400)

    def test_unknown_transfer_coding_is_501(self):
        """RFC 9112 §6.1: a transfer coding the server does not understand gets 501."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Transfer-Encoding", "gzip, chunked"),)) + b"0\r\n\r\n"
        self.assert_json_error(self.exchange(raw), 501)

    def test_only_coding_not_chunked_is_400_and_closed(self):
        """RFC 9112 §6.3: a request whose final coding is not chunked gets 400 (a MUST
        that wins over §6.1's SHOULD of 501), then close."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Transfer-Encoding", "gzip"),)) + b"\x1f\x8b"
        self.assert_refused_and_closed(raw, 400)

    def test_chunked_not_last_is_400_and_closed(self):
        """RFC 9112 §6.3: chunked not the final request coding gets 400, then close."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Transfer-Encoding", "chunked, gzip"),)) + b"0\r\n\r\n"
        self.assert_refused_and_closed(raw, 400)

    def test_chunked_publish_is_delivered(self):
        """RFC 9112 §7.1: a server reads a chunked request body."""
        sub = self.subscribe(self.channel())
        raw = chunked_publish_head(self.channel()) + chunked(publish_body("chunked"), [1, 10, 16])
        self.assert_published(self.exchange(raw), sub, "chunked")

    def test_chunk_extensions_and_trailers(self):
        """RFC 9112 §7.1.1, §7.1.2: chunk extensions and trailer fields are passed over."""
        sub = self.subscribe(self.channel())
        data = publish_body("extended")
        body = (b"%X;name=value\r\n%s\r\n" % (10, data[:10])
                + b"%x ; quoted=\"a;b\"\r\n%s\r\n" % (len(data) - 10, data[10:])
                + b"0;last\r\nX-Checksum: none\r\nX-Other: 1\r\n\r\n")
        self.assert_published(self.exchange(chunked_publish_head(self.channel()) + body),
                              sub, "extended")

    def test_bad_chunk_size_is_400(self):
        """RFC 9112 §7.1: chunk-size is hex digits; "zz" is malformed."""
        raw = chunked_publish_head(self.channel()) + b"zz\r\nabc\r\n0\r\n\r\n"
        self.assert_refused_and_closed(raw, 400)

    def test_chunk_data_without_crlf_is_400(self):
        """RFC 9112 §7.1: chunk-data is followed by CRLF; other bytes there are malformed."""
        raw = chunked_publish_head(self.channel()) + b"2\r\n{}XX0\r\n\r\n"
        self.assert_json_error(self.exchange(raw), 400)

    def test_chunk_size_overflow_is_refused(self):
        """RFC 9112 §7.1: a chunk size beyond any integer is refused (400 or 413)."""
        raw = chunked_publish_head(self.channel()) + b"1" + b"0" * 20 + b"\r\nabc"
        self.assert_json_error(self.exchange(raw), {400, 413})

    def test_chunked_body_over_limit_is_413(self):
        """RFC 9110 §15.5.14: a chunked body over max_body_bytes gets 413."""
        data = b"x" * (MAX_BODY_BYTES + 200)
        raw = chunked_publish_head(self.channel()) + chunked(data, [400, 400, 400])
        self.assert_json_error(self.exchange(raw), 413)

    def test_transfer_encoding_in_http10_is_refused(self):
        """RFC 9112 §6.1: TE in an HTTP/1.0 request means faulty framing: 400, then close."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Transfer-Encoding", "chunked"),), version="HTTP/1.0")
        self.assert_refused_and_closed(raw + chunked(publish_body("1.0 chunked"), []), 400)


# ---- Host and the request target --------------------------------------------

class HostTest(ConformanceCase):
    def test_missing_host_is_400(self):
        """RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400."""
        self.assert_json_error(self.exchange(request_bytes(host=None)), 400)

    def test_duplicate_host_is_400(self):
        """RFC 9112 §3.2: an HTTP/1.1 request with more than one Host gets 400."""
        raw = request_bytes(headers=(("Host", HOST),))
        self.assert_json_error(self.exchange(raw), 400)

    def test_invalid_host_is_400(self):
        """RFC 9112 §3.2: a Host field with an invalid value gets 400."""
        self.assert_json_error(self.exchange(request_bytes(host="bad host/")), 400)

    def test_http10_without_host_is_served(self):
        """RFC 9112 §3.2: Host is required of HTTP/1.1 requests only."""
        resp = self.exchange(request_bytes(version="HTTP/1.0", host=None))
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_absolute_form_is_accepted(self):
        """RFC 9112 §3.2.2: a server accepts the absolute-form of a target."""
        resp = self.exchange(request_bytes(target=f"http://{HOST}:{self.d.port}/health"))
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_absolute_form_authority_replaces_host(self):
        """RFC 9112 §3.2.2: the target's authority wins over Host (here a loopback one)."""
        raw = request_bytes(target=f"http://{HOST}:{self.d.port}/api/stats",
                            host="elsewhere.example")
        resp = self.exchange(raw)
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("connections", resp.json(), resp)

    def test_overlong_target_is_414(self):
        """RFC 9110 §15.5.15: a 9,000-byte target gets 414 URI Too Long."""
        raw = request_bytes(target="/health?pad=" + "a" * (9000 - len("/health?pad=")))
        self.assert_json_error(self.exchange(raw), 414)


# ---- versions -----------------------------------------------------------------

class VersionTest(ConformanceCase):
    def test_http10_answered_then_closed(self):
        """RFC 9112 §9.3: HTTP/1.0 without keep-alive is answered (as 1.1) and closed."""
        conn = self.connect()
        conn.send(request_bytes(version="HTTP/1.0"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body, resp.version), (200, b"OK", "1.1"), resp)
        self.assert_closed(conn)

    def test_http10_keep_alive_is_honoured(self):
        """RFC 9112 §9.3, Appendix C.2.2: HTTP/1.0 keep-alive gets Connection: keep-alive."""
        conn = self.connect()
        for _ in range(2):
            conn.send(request_bytes(version="HTTP/1.0", headers=(("Connection", "keep-alive"),)))
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)
            self.assertIn("keep-alive", resp.tokens("Connection"), resp)

    def test_http2_is_505(self):
        """RFC 9110 §15.6.6: a major version other than 1 gets 505."""
        self.assert_json_error(self.exchange(request_bytes(version="HTTP/2.0")), 505)

    def test_higher_minor_version_is_served_as_11(self):
        """RFC 9110 §2.5: HTTP/1.2 is processed as the highest 1.x minor (1.1)."""
        resp = self.exchange(request_bytes(version="HTTP/1.2"))
        self.assertEqual((resp.status, resp.body, resp.version), (200, b"OK", "1.1"), resp)

    def test_http10_upgrade_is_ignored(self):
        """RFC 9110 §7.8: Upgrade in HTTP/1.0 is ignored: /ws answers a plain 4xx."""
        raw = request_bytes("GET", "/ws", WS_UPGRADE + (("Sec-WebSocket-Key",
                                                         new_websocket_key()),),
                            version="HTTP/1.0")
        conn = self.connect()
        conn.send(raw)
        resp = conn.read_response()
        self.assertNotEqual(resp.status, 101, resp)
        self.assert_json_error(resp, frozenset(range(400, 500)))
        self.assert_closed(conn)

    def test_unknown_upgrade_protocol_is_ignored(self):
        """RFC 9110 §7.8: a server may ignore Upgrade: an h2c offer gets the plain answer."""
        h2c = (("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
               ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"))
        resp = self.exchange(request_bytes(headers=h2c))
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)


# ---- Expect -----------------------------------------------------------------

class ExpectTest(ConformanceCase):
    def test_100_continue_then_200(self):
        """RFC 9110 §10.1.1: 100 Continue at once, the final status after the body."""
        sub = self.subscribe(self.channel())
        raw = publish_bytes(self.channel(), "continued", (("Expect", "100-continue"),))
        head_end = raw.index(b"\r\n\r\n") + 4
        conn = self.connect()
        conn.send(raw[:head_end])
        interim = conn.read_response(timeout=PROMPT_TIMEOUT)
        self.assertEqual((interim.status, interim.version), (100, "1.1"), interim)
        conn.send(raw[head_end:])
        self.assert_published(conn.read_response(), sub, "continued")

    def test_100_continue_over_limit_is_413_without_100(self):
        """RFC 9110 §10.1.1: when the head decides it, the final status comes instead of 100."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Content-Length", str(MAX_BODY_BYTES + 1)),
                             ("Expect", "100-continue")))
        conn = self.connect()
        conn.send(raw)
        self.assert_json_error(conn.read_response(timeout=PROMPT_TIMEOUT), 413)

    def test_unknown_expectation_is_417(self):
        """RFC 9110 §10.1.1: an expectation other than 100-continue may get 417."""
        resp = self.exchange(request_bytes(headers=(("Expect", "teapot"),)))
        self.assert_json_error(resp, 417)

    def test_body_sent_without_waiting_for_100(self):
        """RFC 9110 §10.1.1: a client may send the body at once; one final response follows."""
        sub = self.subscribe(self.channel())
        conn = self.connect()
        conn.send(publish_bytes(self.channel(), "eager", (("Expect", "100-continue"),)))
        resp = conn.read_response()
        if resp.status == 100:
            resp = conn.read_response()
        self.assert_published(resp, sub, "eager")
        self.assert_open_and_serving(conn)  # and no stray 100 before its response

    def test_expect_in_http10_is_ignored(self):
        """RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored: no 100."""
        sub = self.subscribe(self.channel())
        conn = self.connect()
        conn.send(publish_bytes(self.channel(), "old client", (("Expect", "100-continue"),),
                                version="HTTP/1.0"))
        self.assert_published(conn.read_response(), sub, "old client")


class ExpectWithTokensTest(ConformanceCase):
    config_text = TOKEN_CONFIG

    def test_100_continue_without_token_is_401_without_100(self):
        """RFC 9110 §10.1.1: a publish lacking the token gets 401 at once, never 100."""
        raw = request_bytes("POST", f"/api/notify/{self.channel()}",
                            (("Content-Type", "application/json"), ("Content-Length", "20"),
                             ("Expect", "100-continue")))
        conn = self.connect()
        conn.send(raw)  # and never the body
        self.assert_json_error(conn.read_response(timeout=PROMPT_TIMEOUT), 401)

    def test_100_continue_with_token_gets_100(self):
        """RFC 9110 §10.1.1: with a valid token the same publish gets 100, then 200."""
        raw = publish_bytes(self.channel(), "with token",
                            (("Authorization", f"Bearer {ADMIN_TOKEN}"),
                             ("Expect", "100-continue")))
        head_end = raw.index(b"\r\n\r\n") + 4
        conn = self.connect()
        conn.send(raw[:head_end])
        interim = conn.read_response(timeout=PROMPT_TIMEOUT)
        self.assertEqual(interim.status, 100, interim)
        conn.send(raw[head_end:])
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json().get("success"), True, resp)


# ---- persistent connections ---------------------------------------------------

class KeepAliveTest(ConformanceCase):
    def test_two_requests_on_one_connection(self):
        """RFC 9112 §9.3: an HTTP/1.1 connection persists; both requests are answered."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/health"))
        first = conn.read_response()
        self.assertEqual((first.status, first.body), (200, b"OK"), first)
        self.assertNotIn("close", first.tokens("Connection"), first)
        conn.send(request_bytes("GET", "/api/stats"))
        second = conn.read_response()
        self.assertEqual(second.status, 200, second)
        self.assertIn("connections", second.json(), second)

    def test_connection_close_closes_after_response(self):
        """RFC 9112 §9.6: after a request with Connection: close, the server closes."""
        conn = self.connect()
        conn.send(request_bytes(headers=(("Connection", "close"),)))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("close", resp.tokens("Connection"), resp)
        self.assert_closed(conn)

    def test_request_after_close_is_not_answered(self):
        """RFC 9112 §9.6: a request pipelined after Connection: close is not processed."""
        conn = self.connect()
        conn.send(request_bytes(headers=(("Connection", "close"),))
                  + request_bytes("GET", "/api/stats"))
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)
        self.assert_closed(conn, "a request after Connection: close was answered")

    def test_api_error_keeps_the_connection(self):
        """RFC 9112 §9.3: a well-framed request answered 404 leaves the connection usable."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/nope"))
        self.assert_json_error(conn.read_response(), 404)
        self.assert_open_and_serving(conn)

    def test_head_then_get_on_one_connection(self):
        """RFC 9110 §9.3.2: HEAD gets GET's Content-Length, no body; the next response parses."""
        conn = self.connect()
        conn.send(request_bytes("HEAD", "/health"))
        head = conn.read_response("HEAD")
        self.assertEqual((head.status, head.get("Content-Length")), (200, "2"), head)
        self.assert_open_and_serving(conn)

    def test_connection_tokens_on_two_lines_are_combined(self):
        """RFC 9110 §5.3: Connection: keep-alive plus Connection: close means close."""
        conn = self.connect()
        conn.send(request_bytes(headers=(("Connection", "keep-alive"), ("Connection", "close"))))
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assert_closed(conn)


class KeepAliveLimitsTest(ConformanceCase):
    config_text = KEEPALIVE_CONFIG

    def test_idle_connection_closed_after_timeout(self):
        """RFC 9112 §9.5: an idle persistent connection is closed after keepalive_timeout."""
        conn = self.connect()
        conn.send(request_bytes())
        resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn("close", resp.tokens("Connection"), resp)
        start = time.monotonic()
        self.assertEqual(conn.read_until_close(timeout=KEEPALIVE_TIMEOUT_S + 2.5), b"")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, KEEPALIVE_TIMEOUT_S * 0.6, f"closed after {elapsed:.2f}s")

    def test_request_in_progress_outlives_idle_timeout(self):
        """RFC 9112 §9.5: the idle timeout applies between requests, not inside one."""
        raw = request_bytes()
        conn = self.connect()
        conn.send(raw[:10])
        time.sleep(KEEPALIVE_TIMEOUT_S + 0.3)  # longer than the idle timeout, by design
        conn.send(raw[10:])
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_last_allowed_request_gets_connection_close(self):
        """RFC 9112 §9.6: the response to the last allowed request says close; then EOF."""
        conn = self.connect()
        for i in range(MAX_REQUESTS):
            conn.send(request_bytes())
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, (i, resp))
            last = i == MAX_REQUESTS - 1
            self.assertEqual("close" in resp.tokens("Connection"), last, (i, resp))
        self.assert_closed(conn)

    def test_pipelined_past_the_cap(self):
        """RFC 9112 §9.6: requests pipelined past max_requests_per_connection get no answer."""
        conn = self.connect()
        conn.send(request_bytes() * (MAX_REQUESTS + 1))
        for i in range(MAX_REQUESTS):
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, (i, resp))
        self.assertIn("close", resp.tokens("Connection"), resp)
        self.assert_closed(conn, "a request past the cap was answered")


class IdleConnectionCapTest(ConformanceCase):
    config_text = BASE_CONFIG.replace("[limits]\n", "[limits]\nmax_connections = 2\n")

    def test_keep_alive_ends_past_the_connection_limit(self):
        """RFC 9112 §9.6: past limits.max_connections open HTTP connections, a response
        closes its connection, so idle ones cannot take every descriptor."""
        kept = []
        for i in range(2):
            conn = self.connect()
            conn.send(request_bytes())
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, (i, resp))
            self.assertNotIn("close", resp.tokens("Connection"), (i, resp))
            kept.append(conn)
        third = self.connect()
        third.send(request_bytes())
        resp = third.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("close", resp.tokens("Connection"), resp)
        self.assert_closed(third)


# ---- pipelining ---------------------------------------------------------------

class PipeliningTest(ConformanceCase):
    def test_three_requests_in_one_send(self):
        """RFC 9112 §9.3.2: pipelined requests get their responses in order."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/health") + request_bytes("GET", "/nope")
                  + request_bytes("GET", "/api/channels"))
        first, second, third = (conn.read_response() for _ in range(3))
        self.assertEqual((first.status, first.body), (200, b"OK"), first)
        self.assert_json_error(second, 404)
        self.assertEqual(third.status, 200, third)
        self.assertIn("channels", third.json(), third)

    def test_pipelined_publish_then_get(self):
        """RFC 9112 §9.3.2: a publish's body ends where the next request begins."""
        sub = self.subscribe(self.channel())
        conn = self.connect()
        conn.send(publish_bytes(self.channel(), "pipelined") + request_bytes("GET", "/health"))
        self.assert_published(conn.read_response(), sub, "pipelined")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_pipelined_chunked_publish_then_get(self):
        """RFC 9112 §7.1: a chunked body ends at its last chunk; the next request follows."""
        sub = self.subscribe(self.channel())
        conn = self.connect()
        conn.send(chunked_publish_head(self.channel())
                  + chunked(publish_body("chunked, pipelined"), [8])
                  + request_bytes("GET", "/health"))
        self.assert_published(conn.read_response(), sub, "chunked, pipelined")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)

    def test_bad_request_after_good_one(self):
        """RFC 9112 §9.3.2: a good request is answered, then the bad one's 400, then close."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/health") + b"GET  /health HTTP/1.1\r\n\r\n"
                  + request_bytes("GET", "/api/stats"))
        good = conn.read_response()
        self.assertEqual((good.status, good.body), (200, b"OK"), good)
        self.assert_json_error(conn.read_response(), 400)
        self.assert_closed(conn, "a request after a malformed one was answered")

    def test_pipelined_head_then_get(self):
        """RFC 9110 §9.3.2: HEAD's response has no body, so the GET after it parses."""
        conn = self.connect()
        conn.send(request_bytes("HEAD", "/health") + request_bytes("GET", "/health"))
        head = conn.read_response("HEAD")
        self.assertEqual((head.status, head.get("Content-Length")), (200, "2"), head)
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"OK"), resp)


# ---- list headers and the WebSocket upgrade -----------------------------------

class UpgradeTest(ConformanceCase):
    def upgrade(self, conn, headers):
        key = new_websocket_key()
        conn.send(request_bytes("GET", "/ws", tuple(headers) + (("Sec-WebSocket-Key", key),
                                                                ("Sec-WebSocket-Version", "13"))))
        resp = conn.read_response()
        self.assertEqual(resp.status, 101, resp)
        self.assertEqual(resp.get("Sec-WebSocket-Accept"), websocket_accept(key), resp)
        return resp

    def test_connection_lines_combined_for_upgrade(self):
        """RFC 9110 §5.3: Connection: keep-alive and Connection: Upgrade lines form one list."""
        conn = self.connect()
        self.upgrade(conn, (("Connection", "keep-alive"), ("Connection", "Upgrade"),
                            ("Upgrade", "websocket")))

    def test_upgrade_lines_combined(self):
        """RFC 9110 §5.3: Upgrade: h2c and Upgrade: websocket lines form one list."""
        conn = self.connect()
        self.upgrade(conn, (("Connection", "Upgrade"), ("Upgrade", "h2c"),
                            ("Upgrade", "websocket")))

    def test_upgrade_after_a_request_on_the_same_connection(self):
        """RFC 9112 §9.3, RFC 6455 §4.1: a kept-alive connection can still be upgraded."""
        conn = self.connect()
        conn.send(request_bytes("GET", "/health"))
        first = conn.read_response()
        self.assertEqual(first.status, 200, first)
        self.upgrade(conn, WS_UPGRADE[:2])


# ---- error responses ----------------------------------------------------------

class ErrorResponseTest(ConformanceCase):
    BAD_REQUESTS = [
        ("malformed request line", b"GARBAGE\r\n\r\n"),
        ("obs-fold", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\r\n b\r\n\r\n"),
        ("unknown path", request_bytes("GET", "/nope")),
        ("wrong method", request_bytes("DELETE", "/health")),
        ("HTTP/2.0", request_bytes(version="HTTP/2.0")),
        ("9,000-byte target", request_bytes(target="/" + "a" * 8999)),
        ("body over the limit", request_bytes("POST", "/api/notify/x",
                                              (("Content-Length", "5000"),))),
        ("unknown transfer coding", request_bytes("POST", "/api/notify/x",
                                                  (("Transfer-Encoding", "gzip"),))),
        ("unknown expectation", request_bytes(headers=(("Expect", "teapot"),))),
    ]

    def test_error_responses_are_json_with_cors_and_date(self):
        """RFC 9110 §6.6.1: every error (parser's or API's) is JSON with CORS and a Date."""
        for what, raw in self.BAD_REQUESTS:
            with self.subTest(what):
                resp = self.exchange(raw)
                self.assertGreaterEqual(resp.status, 400, resp)
                self.assert_json_error(resp, resp.status)
                self.assert_date(resp)

    def test_success_response_has_date(self):
        """RFC 9110 §6.6.1: an origin server with a clock sends Date in 2xx responses."""
        resp = self.exchange(request_bytes())
        self.assertEqual(resp.status, 200, resp)
        self.assert_date(resp)
        self.assert_cors(resp)


if __name__ == "__main__":
    unittest.main()
