"""WebSocket conformance of notifyd's /ws/echo, in the manner of the Autobahn TestSuite.

A clean-room harness: the cases follow the shape of the Autobahn TestSuite's
categories 1-7 and 10 (framing, ping/pong, reserved bits, opcodes,
fragmentation, UTF-8, close handling, a 64 KiB message in small frames) and
its way of judging them, written here from RFC 6455 and the suite's published
case descriptions. Every case runs on its own TCP connection to the real
binary, with the bytes built by hand on a raw socket; integration.ws_conformance_tls
runs every case again over TLS (NOTIFYD_TEST_TLS=1: the harness's raw_connect).

How a case is judged (as Autobahn does):
- the events the client sees (messages, pongs, and "timeout" markers for a wait
  that passed with the connection still open) must equal one of the case's
  expected lists; the first that matches gives the outcome, OK or NON-STRICT;
- the close: the right side must start it (we do for good traffic and for the
  close cases; the server must fail the connection on a violation), the
  server's close code (if it sent one) must be one the case allows, and where
  the case requires it the close handshake must be clean (close frames both
  ways, then the server ends TCP);
- "INFORMATIONAL" cases (the RFC leaves the behaviour open) never fail.
Anything else is FAILED, and a FAILED case fails the test.

The echo endpoint answers every message with "Echo: " + the message, same
opcode, and greets with the text "Connected!", which the client reads first.
Waits that Autobahn makes 1 s long are WAIT_S here, so the run takes seconds.
"""

import ssl
import struct
import sys
import time
import unittest

from harness import Daemon
from harness import encode_client_frame as frame
from harness import new_websocket_key, raw_connect, readable, tls_config, websocket_accept

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

OK, NON_STRICT, INFORMATIONAL, FAILED = "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"
OUTCOMES = (OK, NON_STRICT, INFORMATIONAL, FAILED)

WAIT_S = 0.25          # Autobahn's "continue later" pauses
CLOSE_TIMEOUT_S = 3.0  # how long the server gets to answer, close or end TCP
MAX_FRAME_BYTES = 131072
CONFIG = {"limits": {"max_frame_bytes": MAX_FRAME_BYTES, "connection_rate": 0},
          "server": {"echo": True}, **tls_config()}

ECHO_PREFIX = b"Echo: "
GREETING = b"Connected!"
KOSME = "κόσμε".encode()


# ---- the client side of one case --------------------------------------------

class Connection:
    """One raw client connection to /ws/echo; records what the server does.

    ``events`` holds ("message", payload, binary), ("ping", payload),
    ("pong", payload) and ("timeout", label) in arrival order; the close is
    kept apart: ``server_close`` is the server's close code (None for an
    empty close frame), ``close_sent_first`` tells who started the closing
    handshake, ``eof`` that the server ended TCP."""

    def __init__(self, daemon):
        self.sock = raw_connect(daemon, timeout=5)
        self.buf = bytearray()
        self.events = []
        self.errors = []
        self.fragments = None     # (opcode, [payloads]) of a server message in progress
        self.close_sent = False
        self.close_sent_first = False
        self.server_closed = False
        self.server_close = None
        self.eof = False
        self._handshake()

    def _handshake(self):
        key = new_websocket_key()
        self.sock.sendall((f"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in self.buf and self._fill(deadline):
            pass
        head, sep, rest = bytes(self.buf).partition(b"\r\n\r\n")
        text = head.decode("iso-8859-1")
        if not sep or not text.startswith("HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {text!r}")
        if websocket_accept(key).lower() not in text.lower():
            raise AssertionError(f"bad Sec-WebSocket-Accept in {text!r}")
        self.buf = bytearray(rest)
        self.pump_until(lambda: self.events, 5)
        if self.events != [("message", GREETING, False)]:
            raise AssertionError(f"expected the greeting, got {self.events!r}")
        self.events.clear()

    def close_socket(self):
        self.sock.close()

    @property
    def gone(self):
        """The server has closed or failed the connection."""
        return self.server_closed or self.eof

    def send(self, data, closes=False):
        """Sends raw bytes unless the server has closed or failed the connection;
        `closes`: they hold our close frame.

        What the server sent so far is read first: a server that fails the
        connection while unread bytes keep arriving may reset it, and a
        reset can discard the frames it sent before."""
        self.poll()
        if self.gone:
            return
        if closes:
            self.note_close_sent()
        self._write(data)

    def _write(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.eof = True

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(frame(opcode, payload, **kw), closes=opcode == OP_CLOSE)

    def note_close_sent(self):
        if not self.close_sent:
            self.close_sent = True
            self.close_sent_first = not self.server_closed

    # -- reading --
    def _fill(self, deadline):
        """Reads what is there by the deadline; False when nothing more can come."""
        left = deadline - time.monotonic()
        if self.eof or left <= 0:
            return False
        return readable(self.sock, left) and self._read()

    def poll(self):
        """Handles what has arrived already, without waiting."""
        for _ in range(10000):
            if self.eof or not readable(self.sock, 0) or not self._read():
                break
        for _ in range(10000):
            got = self._next_frame()
            if got is None:
                break
            self._on_frame(*got)

    def _read(self):
        """One recv(); False at the end of the connection."""
        try:
            chunk = self.sock.recv(262144)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _next_frame(self):
        """(b0, payload) of the next whole frame in the buffer, or None."""
        if len(self.buf) < 2:
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n in (126, 127):
            size = 2 if n == 126 else 8
            if len(self.buf) < 2 + size:
                return None
            (n,) = struct.unpack("!H" if size == 2 else "!Q", self.buf[2:2 + size])
            pos += size
        if b1 & 0x80:
            self.errors.append("the server sent a masked frame")
            pos += 4
        if len(self.buf) < pos + n:
            return None
        payload = bytes(self.buf[pos:pos + n])
        del self.buf[:pos + n]
        return b0, payload

    def _on_frame(self, b0, payload):
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            self.errors.append(f"the server set reserved bits: {b0:#x}")
        if opcode == OP_CLOSE:
            self._on_close(payload)
        elif opcode in (OP_PING, OP_PONG):
            self.events.append(("ping" if opcode == OP_PING else "pong", payload))
        elif opcode in (OP_TEXT, OP_BINARY) and self.fragments is None:
            self.fragments = (opcode, [payload])
        elif opcode == OP_CONT and self.fragments is not None:
            self.fragments[1].append(payload)
        else:
            self.errors.append(f"the server sent a bad frame sequence (opcode {opcode})")
        if self.fragments is not None and fin and opcode not in (OP_CLOSE, OP_PING, OP_PONG):
            op, parts = self.fragments
            self.fragments = None
            self.events.append(("message", b"".join(parts), op == OP_BINARY))

    def _on_close(self, payload):
        if self.server_closed:
            self.errors.append("the server sent two close frames")
            return
        self.server_closed = True
        if len(payload) == 1:
            self.errors.append("the server sent a close frame with a 1-byte payload")
        elif payload:
            self.server_close = struct.unpack("!H", payload[:2])[0]
        if not self.close_sent:  # answer the server's close, as a client must
            self.note_close_sent()
            self._write(frame(OP_CLOSE, payload[:2]))

    def pump_until(self, done, timeout):
        """Handles frames until done() or the connection ends or timeout passes."""
        deadline = time.monotonic() + timeout
        while not done():
            got = self._next_frame()
            if got is not None:
                self._on_frame(*got)
            elif not self._fill(deadline):
                return

    def wait(self, label, seconds=WAIT_S):
        """Autobahn's pause: a ("timeout", label) event if the connection survived it."""
        self.pump_until(lambda: self.gone, seconds)
        if not self.gone:
            self.events.append(("timeout", label))


# ---- cases ------------------------------------------------------------------

class Case:
    """One conformance case.

    steps: what the client does, in order: bytes to send, a callable(conn),
    ("wait", label) (Autobahn's pause that records a timeout event), or
    ("pause",) (a pause that records nothing). expected: {outcome: [events]}. closed_by_me: True when the
    client starts the closing handshake (after the expected events, unless a
    step sent a close already), False when the server must fail the
    connection. codes: the close codes the server may send. require_clean: the
    closing handshake must complete."""

    def __init__(self, cid, desc, steps, expected, closed_by_me=True, codes=(1000,),
                 require_clean=None, informational=False):
        self.cid, self.desc, self.steps = cid, desc, steps
        self.expected = expected
        self.closed_by_me = closed_by_me
        self.codes = codes
        self.require_clean = closed_by_me if require_clean is None else require_clean
        self.informational = informational

    @property
    def category(self):
        return int(self.cid.split(".")[0])


def echo(payload, binary=False):
    if isinstance(payload, str):
        payload = payload.encode()
    return ("message", ECHO_PREFIX + payload, binary)


def pong(payload=b""):
    return ("pong", payload.encode() if isinstance(payload, str) else payload)


def chops(data, size):
    """`data` as separate sends of `size` bytes (each its own write)."""
    return [lambda c, part=data[i:i + size]: c.send(part) for i in range(0, len(data), size)]


def good(cid, desc, steps, events, **kw):
    """Good traffic: the events come back, then the client closes with 1000."""
    return Case(cid, desc, steps, {OK: events}, **kw)


def bad(cid, desc, steps, before=(), codes=(1002,)):
    """A violation: the server fails the connection with one of `codes`.

    `before` is the answer to good frames sent ahead of the bad one; getting
    nothing at all is NON-STRICT, as Autobahn allows a server to fail the
    connection before answering earlier frames of the same write."""
    expected = {OK: list(before)}
    if before:
        expected[NON_STRICT] = []
    return Case(cid, desc, steps, expected, closed_by_me=False, codes=codes)


def close_frame(code=None, reason=b""):
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(OP_CLOSE, payload)


def framing_cases():
    cases = []
    sizes = [0, 125, 126, 127, 128, 65535, 65536]
    for cat, op, binary in ((1, OP_TEXT, False), (2, OP_BINARY, True)):
        fill = b"*" if not binary else b"\xfe"
        for i, n in enumerate(sizes, 1):
            cases.append(good(f"1.{cat}.{i}", f"{'binary' if binary else 'text'} of {n} bytes",
                              [frame(op, fill * n)], [echo(fill * n, binary)]))
        big = fill * 65536
        cases.append(good(f"1.{cat}.8", "65536 bytes sent in chops of 997",
                          chops(frame(op, big), 997), [echo(big, binary)]))
    return cases


def ping_cases():
    binary = bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF])
    pings = [b"payload-%d" % i for i in range(10)]
    return [
        good("2.1", "ping without payload", [frame(OP_PING)], [pong()]),
        good("2.2", "ping with a text payload", [frame(OP_PING, b"Hello, world!")],
             [pong("Hello, world!")]),
        good("2.3", "ping with a binary payload", [frame(OP_PING, binary)], [pong(binary)]),
        good("2.4", "ping with 125 bytes", [frame(OP_PING, b"\xfe" * 125)], [pong(b"\xfe" * 125)]),
        bad("2.5", "ping with 126 bytes", [frame(OP_PING, b"\xfe" * 126)]),
        good("2.6", "ping with 125 bytes in chops of 1", chops(frame(OP_PING, b"\xfe" * 125), 1),
             [pong(b"\xfe" * 125)]),
        good("2.7", "unsolicited pong without payload", [frame(OP_PONG)], []),
        good("2.8", "unsolicited pong with payload", [frame(OP_PONG, b"unsolicited")], []),
        good("2.9", "unsolicited pong, then a ping",
             [frame(OP_PONG, b"unsolicited") + frame(OP_PING, b"ping")], [pong("ping")]),
        Case("2.10", "10 pings in one write", [b"".join(frame(OP_PING, p) for p in pings)],
             {OK: [pong(p) for p in pings], NON_STRICT: [pong(pings[-1])]}),
        Case("2.11", "10 pings in chops of 1", chops(b"".join(frame(OP_PING, p) for p in pings), 1),
             {OK: [pong(p) for p in pings], NON_STRICT: [pong(pings[-1])]}),
    ]


def rsv_cases():
    hello = frame(OP_TEXT, b"Hello, world!")
    return [
        bad("3.1", "text with RSV = 1", [frame(OP_TEXT, b"Hello, world!", rsv=1)]),
        bad("3.2", "text, then text with RSV = 2, then ping",
            [hello + frame(OP_TEXT, b"Hello, world!", rsv=2) + frame(OP_PING)],
            [echo("Hello, world!")]),
        bad("3.3", "text, then (after its echo) text with RSV = 3, then ping",
            [hello, lambda c: c.pump_until(lambda: c.events, CLOSE_TIMEOUT_S),
             frame(OP_TEXT, b"Hello, world!", rsv=3) + frame(OP_PING)],
            [echo("Hello, world!")]),
        bad("3.4", "text, then text with RSV = 4, then ping, in chops of 1",
            chops(hello + frame(OP_TEXT, b"Hello, world!", rsv=4) + frame(OP_PING), 1),
            [echo("Hello, world!")]),
        bad("3.5", "binary with RSV = 5", [frame(OP_BINARY, b"\x00\xff\xfe\xfd", rsv=5)]),
        bad("3.6", "ping with RSV = 6", [frame(OP_PING, b"Hello, world!", rsv=6)]),
        bad("3.7", "close with RSV = 7", [frame(OP_CLOSE, struct.pack("!H", 1000), rsv=7)]),
    ]


def opcode_cases():
    cases = []
    hello = frame(OP_TEXT, b"Hello, world!")
    for group, opcodes in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
        kind = "non-control" if group == 1 else "control"
        a, b, c, d, e = opcodes
        cases += [
            bad(f"4.{group}.1", f"reserved {kind} opcode {a}", [frame(a)]),
            bad(f"4.{group}.2", f"reserved {kind} opcode {b} with payload", [frame(b, b"reserved")]),
            bad(f"4.{group}.3", f"text, reserved {kind} opcode {c}, ping",
                [hello + frame(c) + frame(OP_PING)], [echo("Hello, world!")]),
            bad(f"4.{group}.4", f"text, reserved {kind} opcode {d} with payload, ping",
                [hello + frame(d, b"reserved") + frame(OP_PING)], [echo("Hello, world!")]),
            bad(f"4.{group}.5", f"text, reserved {kind} opcode {e} with payload, ping, in chops",
                chops(hello + frame(e, b"reserved") + frame(OP_PING), 1),
                [echo("Hello, world!")]),
        ]
    return cases


def fragmentation_cases():
    f1, f2 = b"fragment1", b"fragment2"
    two = frame(OP_TEXT, f1, fin=False) + frame(OP_CONT, f2)
    with_ping = frame(OP_TEXT, f1, fin=False) + frame(OP_PING, b"ping") + frame(OP_CONT, f2)
    cont_first = frame(OP_CONT, f1) + frame(OP_TEXT, f2)
    cont_open = frame(OP_CONT, f1, fin=False) + frame(OP_TEXT, f2)
    interleaved = (frame(OP_TEXT, f1, fin=False) + frame(OP_CONT, f2) +
                   frame(OP_CONT, b"fragment3", fin=False) + frame(OP_TEXT, b"fragment4"))
    stray = lambda fin: (frame(OP_CONT, f1, fin=False) + frame(OP_TEXT, f2, fin=False) +
                         frame(OP_CONT, b"fragment3", fin=fin))
    five = [frame(OP_TEXT, b"fragment1", fin=False)] + [
        frame(OP_CONT, b"fragment%d" % i, fin=i == 5) for i in range(2, 6)]
    whole5 = b"".join(b"fragment%d" % i for i in range(1, 6))
    return [
        bad("5.1", "ping in 2 fragments", [frame(OP_PING, f1, fin=False) + frame(OP_CONT, f2)]),
        bad("5.2", "pong in 2 fragments", [frame(OP_PONG, f1, fin=False) + frame(OP_CONT, f2)]),
        good("5.3", "text in 2 fragments", [two], [echo(f1 + f2)]),
        good("5.4", "text in 2 fragments, frame by frame",
             [frame(OP_TEXT, f1, fin=False), frame(OP_CONT, f2)], [echo(f1 + f2)]),
        good("5.5", "text in 2 fragments, chops of 1", chops(two, 1), [echo(f1 + f2)]),
        good("5.6", "text in 2 fragments, ping between", [with_ping], [pong("ping"), echo(f1 + f2)]),
        good("5.7", "text in 2 fragments, ping between, chops of 1", chops(with_ping, 1),
             [pong("ping"), echo(f1 + f2)]),
        good("5.8", "text in 2 fragments, ping between, with pauses",
             [frame(OP_TEXT, f1, fin=False), ("pause",), frame(OP_PING, b"ping"), ("pause",),
              frame(OP_CONT, f2)], [pong("ping"), echo(f1 + f2)]),
        bad("5.9", "continuation (FIN) with nothing to continue, then text", [cont_first]),
        bad("5.10", "the same, frame by frame", [frame(OP_CONT, f1), frame(OP_TEXT, f2)]),
        bad("5.11", "the same, chops of 1", chops(cont_first, 1)),
        bad("5.12", "continuation (no FIN) with nothing to continue, then text", [cont_open]),
        bad("5.13", "the same, frame by frame", [frame(OP_CONT, f1, fin=False), frame(OP_TEXT, f2)]),
        bad("5.14", "the same, chops of 1", chops(cont_open, 1)),
        bad("5.15", "text in 2 fragments, then continuation, then text",
            [interleaved], [echo(f1 + f2)]),
        bad("5.16", "twice: continuation, text (no FIN), continuation", [stray(False) * 2]),
        bad("5.17", "twice: continuation, text (no FIN), continuation (FIN)", [stray(True) * 2]),
        bad("5.18", "text (no FIN), then text", [frame(OP_TEXT, f1, fin=False) + frame(OP_TEXT, f2)]),
        good("5.19", "text in 5 fragments, pings and pauses between",
             [five[0] + five[1] + frame(OP_PING, b"pongme 1!"), ("pause",), five[2] + five[3] +
              frame(OP_PING, b"pongme 2!"), ("pause",), five[4]],
             [pong("pongme 1!"), pong("pongme 2!"), echo(whole5)]),
        good("5.20", "the same, frame by frame",
             [five[0], five[1], frame(OP_PING, b"pongme 1!"), ("pause",), five[2], five[3],
              frame(OP_PING, b"pongme 2!"), ("pause",), five[4]],
             [pong("pongme 1!"), pong("pongme 2!"), echo(whole5)]),
    ]


# UTF-8 samples in the spirit of Markus Kuhn's decoder test, by Autobahn's
# 6.x sub-categories: (sub-category, [(bytes, valid)]).
def _utf8_groups():
    plane_nonchars = [chr(p * 0x10000 + 0xFFFE).encode() for p in range(1, 17)]
    plane_nonchars += [chr(p * 0x10000 + 0xFFFF).encode() for p in range(1, 17)]
    lonely = lambda lo, hi: b"".join(bytes([b, 0x20]) for b in range(lo, hi + 1))
    missing_last = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
                    b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
                    b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    surrogates = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                  b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    return [
        (5, [(KOSME, True)]),
        (6, [(KOSME[:i], _valid(KOSME[:i])) for i in range(1, len(KOSME) + 1)]),
        (7, [(b"\x00", True), (b"\xc2\x80", True), (b"\xe0\xa0\x80", True),
             (b"\xf0\x90\x80\x80", True)]),
        (8, [(b"\xf8\x88\x80\x80\x80", False), (b"\xfc\x84\x80\x80\x80\x80", False)]),
        (9, [(b"\x7f", True), (b"\xdf\xbf", True), (b"\xef\xbf\xbf", True),
             (b"\xf4\x8f\xbf\xbf", True)]),
        (10, [(b"\xf7\xbf\xbf\xbf", False), (b"\xfb\xbf\xbf\xbf\xbf", False),
              (b"\xfd\xbf\xbf\xbf\xbf\xbf", False)]),
        (11, [(b"\xed\x9f\xbf", True), (b"\xee\x80\x80", True), (b"\xef\xbf\xbd", True),
              (b"\xf4\x8f\xbf\xbf", True), (b"\xf4\x90\x80\x80", False)]),
        (12, [(b"\x80", False), (b"\xbf", False), (b"\x80\xbf", False), (b"\x80\xbf\x80", False),
              (b"\x80\xbf\x80\xbf", False), (b"\x80\xbf\x80\xbf\x80", False),
              (b"\x80\xbf\x80\xbf\x80\xbf", False), (bytes(range(0x80, 0xC0)), False)]),
        (13, [(lonely(0xC0, 0xDF), False), (lonely(0xE0, 0xEF), False),
              (lonely(0xF0, 0xF7), False), (lonely(0xF8, 0xFB), False),
              (lonely(0xFC, 0xFD), False)]),
        (14, [(s, False) for s in missing_last]),
        (15, [(b"".join(missing_last), False)]),
        (16, [(b"\xfe", False), (b"\xff", False), (b"\xfe\xfe\xff\xff", False)]),
        (17, [(s, False) for s in (b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                                   b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf")]),
        (18, [(s, False) for s in (b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                                   b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf")]),
        (19, [(s, False) for s in (b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                                   b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80")]),
        (20, [(s, False) for s in surrogates]),
        (21, [(hi + lo, False) for hi in (b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80",
                                          b"\xed\xaf\xbf") for lo in (b"\xed\xb0\x80", b"\xed\xbf\xbf")]),
        (22, [(b"\xef\xbf\xbe", True), (b"\xef\xbf\xbf", True)] +
             [(s, True) for s in plane_nonchars] +
             [(chr(cp).encode(), True) for cp in range(0xFDD0, 0xFDF0)]),
        (23, [(b"\xef\xbf\xbd", True), (b"\xef\xbb\xbf", True), (b"\x00\x00", True),
              (b"\xf4\x8f\xbf\xbe", True), (b"\xef\xbf\xb9", True), (b"\xef\xbf\xba", True),
              (b"\xef\xbf\xbb", True)]),
    ]


def _valid(data):
    try:
        data.decode("utf-8")  # Python's decoder is strict: no surrogates, no overlongs
        return True
    except UnicodeDecodeError:
        return False


def utf8_text_case(cid, desc, data, steps=None, valid=None):
    """A text message holding `data`: echoed when it is UTF-8 (`valid`, by
    default as Python's strict decoder sees it), else a 1007 failure."""
    steps = steps or [frame(OP_TEXT, data)]
    if valid is None:
        valid = _valid(data)
    if valid != _valid(data):
        raise AssertionError(f"case {cid}: the table and Python disagree on {data.hex()}")
    if valid:
        return good(cid, desc, steps, [echo(data)])
    return bad(cid, desc, steps, codes=(1007,))


def utf8_cases():
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    invalid = KOSME + b"\xed\xa0\x80" + b"edited"
    per_octet = lambda data: [b"".join(frame(OP_TEXT if i == 0 else OP_CONT, data[i:i + 1],
                                             fin=i == len(data) - 1) for i in range(len(data)))]
    by_char = [frame(OP_TEXT, "Hello-µ@".encode(), fin=False),
               frame(OP_CONT, "ßöäü".encode(), fin=False), frame(OP_CONT, "àá-UTF-8!!".encode())]
    cases = [
        good("6.1.1", "empty text", [frame(OP_TEXT)], [echo(b"")]),
        good("6.1.2", "empty text in 3 empty fragments",
             [frame(OP_TEXT, fin=False) + frame(OP_CONT, fin=False) + frame(OP_CONT)], [echo(b"")]),
        good("6.1.3", "text in 3 fragments, the outer two empty",
             [frame(OP_TEXT, fin=False) + frame(OP_CONT, b"middle", fin=False) + frame(OP_CONT)],
             [echo(b"middle")]),
        utf8_text_case("6.2.1", "valid UTF-8, one frame", hello),
        utf8_text_case("6.2.2", "valid UTF-8, fragmented on code points", hello, by_char),
        utf8_text_case("6.2.3", "valid UTF-8, one octet per frame", hello, per_octet(hello)),
        utf8_text_case("6.2.4", "κόσμε, one octet per frame", KOSME, per_octet(KOSME)),
        utf8_text_case("6.3.1", "invalid UTF-8, one frame", invalid),
        utf8_text_case("6.3.2", "invalid UTF-8, one octet per frame", invalid, per_octet(invalid)),
    ]
    cases += fail_fast_cases()
    for sub, samples in _utf8_groups():
        for i, (data, valid) in enumerate(samples, 1):
            cases.append(utf8_text_case(f"6.{sub}.{i}", f"UTF-8 sample {data.hex()}", data,
                                        valid=valid))
    return cases


def fail_fast_cases():
    """6.4.x: invalid UTF-8 must fail the connection when it arrives (OK), or at
    the latest when the message is complete (NON-STRICT)."""
    parts = [(KOSME, b"\xf4\x90\x80\x80", b"edited"), (KOSME + b"\xf4", b"\x90", b"\x80\x80edited")]
    cases = []
    for i, (p1, p2, p3) in enumerate(parts, 1):
        expected = {OK: [], NON_STRICT: [("timeout", "B")]}
        cases.append(Case(f"6.4.{i}", "invalid UTF-8 in the middle fragment of 3",
                          [frame(OP_TEXT, p1, fin=False), ("wait", "A"),
                           frame(OP_CONT, p2, fin=False), ("wait", "B"), frame(OP_CONT, p3)],
                          _with_first_wait(expected), closed_by_me=False, codes=(1007,)))
    for i, (p1, p2, p3) in enumerate(parts, 3):
        whole = frame(OP_TEXT, p1 + p2 + p3)
        cut1 = len(whole) - len(p2 + p3)
        cut2 = len(whole) - len(p3)
        expected = {OK: [], NON_STRICT: [("timeout", "B")]}
        cases.append(Case(f"6.4.{i}", "invalid UTF-8 in the middle of 3 chops of one frame",
                          [whole[:cut1], ("wait", "A"), whole[cut1:cut2], ("wait", "B"),
                           whole[cut2:]],
                          _with_first_wait(expected), closed_by_me=False, codes=(1007,)))
    return cases


def _with_first_wait(expected):
    return {k: [("timeout", "A")] + v for k, v in expected.items()}


def close_cases():
    hello = frame(OP_TEXT, b"Hello World!")
    valid_codes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    invalid_codes = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
    cases = [
        good("7.1.1", "text, then close", [hello, close_frame(1000)], [echo("Hello World!")]),
        good("7.1.2", "close twice", [close_frame(1000) + close_frame(1000)], []),
        good("7.1.3", "close, then ping", [close_frame(1000) + frame(OP_PING, b"Hello")], []),
        good("7.1.4", "close, then text", [close_frame(1000) + hello], []),
        good("7.1.5", "fragment, close, last fragment",
             [frame(OP_TEXT, b"fragment1", fin=False) + close_frame(1000) +
              frame(OP_CONT, b"fragment2")], []),
        good("7.1.6", "60000-byte text, then close, then ping",
             [frame(OP_TEXT, b"BAsd7&jh23" * 6000) + close_frame(1000) + frame(OP_PING)],
             [echo(b"BAsd7&jh23" * 6000)]),
        good("7.3.1", "close without payload", [close_frame()], [], codes=()),
        good("7.3.2", "close with a 1-byte payload", [frame(OP_CLOSE, b"\x03")], [],
             codes=(1002,), require_clean=False),
        good("7.3.3", "close with a code only", [close_frame(1000)], []),
        good("7.3.4", "close with a code and a reason", [close_frame(1000, b"Hello World!")], []),
        good("7.3.5", "close with a 123-byte reason", [close_frame(1000, b"*" * 123)], []),
        good("7.3.6", "close with a 124-byte reason (payload of 126)",
             [close_frame(1000, b"*" * 124)], [], codes=(1002,), require_clean=False),
        good("7.5.1", "close reason that is not UTF-8",
             [close_frame(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")],
             [], codes=(1002, 1007), require_clean=False),
    ]
    for i, code in enumerate(valid_codes, 1):
        cases.append(good(f"7.7.{i}", f"close with valid code {code}", [close_frame(code)], [],
                          codes=(1000, code)))
    for i, code in enumerate(invalid_codes, 1):
        cases.append(good(f"7.9.{i}", f"close with invalid code {code}", [close_frame(code)], [],
                          codes=(1002,), require_clean=False))
    for i, code in enumerate((5000, 65535), 1):
        cases.append(Case(f"7.13.{i}", f"close with code {code} (out of range)", [close_frame(code)],
                          {INFORMATIONAL: []}, codes=(1000, 1002, code), require_clean=False,
                          informational=True))
    return cases


def big_message_cases():
    data = b"*" * 65536
    steps = [b"".join(frame(OP_TEXT if i == 0 else OP_CONT, data[i:i + 1300],
                            fin=i + 1300 >= len(data)) for i in range(0, len(data), 1300))]
    return [good("10.1.1", "65536-byte text in frames of 1300 bytes", steps, [echo(data)])]


# ---- running and judging ------------------------------------------------------

def client_opcodes(data):
    """The opcodes of the whole client frames in `data` (the part before a cut is ignored)."""
    opcodes, pos = [], 0
    while pos + 2 <= len(data):
        n, head = data[pos + 1] & 0x7F, 2
        if n in (126, 127):
            size = 2 if n == 126 else 8
            n = int.from_bytes(data[pos + 2:pos + 2 + size], "big")
            head += size
        head += 4 if data[pos + 1] & 0x80 else 0
        opcodes.append(data[pos] & 0x0F)
        pos += head + n
    return opcodes


def run_steps(conn, case):
    for step in case.steps:
        if conn.gone:
            return
        if isinstance(step, (bytes, bytearray)):
            # A close the server must refuse (RSV bits set) does not start
            # the closing handshake, as in Autobahn.
            conn.send(step, closes=case.closed_by_me and OP_CLOSE in client_opcodes(step))
        elif isinstance(step, tuple) and step[0] == "wait":
            conn.wait(step[1])
        elif isinstance(step, tuple) and step[0] == "pause":
            conn.pump_until(lambda: conn.gone, WAIT_S)
        else:
            step(conn)


def run_case(daemon, case):
    """(outcome, detail) of one case."""
    conn = Connection(daemon)
    try:
        run_steps(conn, case)
        longest = max(len(v) for v in case.expected.values())
        if case.closed_by_me and not conn.close_sent:
            conn.pump_until(lambda: conn.gone or conn.events in case.expected.values() or
                            len(conn.events) > longest, CLOSE_TIMEOUT_S)
            if not conn.gone:
                conn.send_frame(OP_CLOSE, struct.pack("!H", 1000))
        conn.pump_until(lambda: conn.eof, CLOSE_TIMEOUT_S)
        return judge(case, conn)
    finally:
        conn.close_socket()


def judge(case, conn):
    behaviour = next((o for o, events in case.expected.items() if events == conn.events), None)
    if conn.errors:
        return FAILED, "; ".join(conn.errors)
    if behaviour is None:
        return FAILED, f"events {conn.events!r} differ from any expected {case.expected!r}"
    if not conn.gone:
        return FAILED, "the server neither closed nor failed the connection"
    if case.informational:
        return INFORMATIONAL, f"server close code {conn.server_close}"
    if conn.close_sent_first != case.closed_by_me:
        who = "the client" if conn.close_sent_first else "the server"
        return FAILED, f"the connection was closed by the wrong endpoint ({who})"
    if conn.server_closed and conn.server_close is not None and conn.server_close not in case.codes:
        return FAILED, f"close code {conn.server_close}, expected one of {case.codes}"
    if case.require_clean and not (conn.server_closed and conn.close_sent and conn.eof):
        return FAILED, "the closing handshake was not clean"
    if not conn.eof:
        return FAILED, "the server did not end the TCP connection after the close"
    return behaviour, ""


CATEGORIES = {
    1: ("Framing", framing_cases),
    2: ("Pings/Pongs", ping_cases),
    3: ("Reserved bits", rsv_cases),
    4: ("Opcodes", opcode_cases),
    5: ("Fragmentation", fragmentation_cases),
    6: ("UTF-8 handling", utf8_cases),
    7: ("Close handling", close_cases),
    10: ("Miscellaneous", big_message_cases),
}


class WsConformanceTest(unittest.TestCase):
    """One test per category, against one daemon; prints a table per category."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(CONFIG)
        cls.totals = {o: 0 for o in OUTCOMES}

    @classmethod
    def tearDownClass(cls):
        try:
            print(f"\nAll categories: {cls.totals}", file=sys.stderr)
            if cls.d.exited_unexpectedly():
                raise AssertionError(f"notifyd died: {cls.d.stderr_text()}")
            code = cls.d.stop(timeout=10)
            if code != 0:
                raise AssertionError(f"notifyd exit status {code}: {cls.d.stderr_text()}")
        finally:
            cls.d.cleanup()

    def run_category(self, number):
        name, make = CATEGORIES[number]
        counts = {o: 0 for o in OUTCOMES}
        failures = []
        for case in make():
            self.assertEqual(case.category, number, case.cid)
            outcome, detail = run_case(self.d, case)
            counts[outcome] += 1
            self.totals[outcome] += 1
            if outcome != OK:
                print(f"  {case.cid:8} {outcome:13} {case.desc}: {detail}", file=sys.stderr)
            if outcome == FAILED:
                failures.append(f"{case.cid} ({case.desc}): {detail}")
        row = "  ".join(f"{o} {counts[o]:3}" for o in OUTCOMES)
        print(f"\n{number:>2} {name:15} {sum(counts.values()):4} cases: {row}", file=sys.stderr)
        self.assertFalse(failures, "\n".join(failures))

    def test_01_framing(self):
        self.run_category(1)

    def test_02_ping_pong(self):
        self.run_category(2)

    def test_03_reserved_bits(self):
        self.run_category(3)

    def test_04_opcodes(self):
        self.run_category(4)

    def test_05_fragmentation(self):
        self.run_category(5)

    def test_06_utf8(self):
        self.run_category(6)

    def test_07_close(self):
        self.run_category(7)

    def test_10_misc(self):
        self.run_category(10)


if __name__ == "__main__":
    unittest.main()
