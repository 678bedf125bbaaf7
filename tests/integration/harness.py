"""Shared helpers for the notifyd integration tests.

Every test runs the REAL daemon binary (``$NOTIFYD_BIN``) on 127.0.0.1 with an
ephemeral port, a temporary TOML config and a fake systemd ``NOTIFY_SOCKET``.
Only the standard library and Debian's python3-websockets 10.4 (asyncio API)
are used. Run a test file with ``/usr/bin/python3 tests/integration/test_x.py``.

Environment
-----------
``NOTIFYD_BIN``      path of the notifyd binary (required; tests fail without it)
``NOTIFYD_CLI_BIN``  path of notifyd-cli (only for test_cli.py; see ``cli_bin()``)
``NOTIFYD_KEEP_TMP`` if set, temporary directories are kept for inspection

The Daemon class
----------------
    d = Daemon({"limits": {"max_body_bytes": 1024}})   # starts, waits for READY
    d = Daemon(config, start=False); d.start()          # two steps
    d = Daemon(config_text="[server]\\nbogus = 1\\n", start=False)

``config`` maps section -> {key: value}; the values are written as TOML over the
base ``{"server": {"listen": "127.0.0.1", "port": 0}, "log": {"level": "info"}}``.
``config_text`` writes the given text verbatim instead. ``args=[...]`` adds
command-line arguments after ``--config FILE``; ``env={...}`` adds environment
variables (applied after JOURNAL_STREAM, LISTEN_*, WATCHDOG_*, PORT are removed
and NOTIFY_SOCKET is set), e.g. ``env={"WATCHDOG_USEC": "400000"}``.

Attributes: ``host`` ("127.0.0.1"), ``port`` (learned from the stderr line
``listening on <addr>:<port>``), ``pid``, ``proc`` (subprocess.Popen),
``config_path``, ``tmpdir``, ``notify_path``.

Process control (all bounded; they raise AssertionError with the stderr text):
    d.start(timeout=10)        start ``$NOTIFYD_BIN --config <file>``, wait for
                               READY=1 on the notify socket and the listening line
    d.running() -> bool
    d.signal(sig)              send a signal to the daemon's own PID
    d.wait_exit(timeout=10) -> exit code (negative = killed by that signal)
    d.stop(timeout=10, sig=SIGTERM) -> exit code; SIGKILL (own PID) only as a
                               last resort, and then it raises
    d.cleanup()                stop if running, close the notify socket, remove
                               the temp dir (registered with atexit as well)
    d.write_config(config=None, config_text=None)   rewrite the config file
    d.run_cli(args, timeout=10) -> subprocess.CompletedProcess of
                               ``$NOTIFYD_BIN <args>`` (stdout/stderr as text)

Logs and sd_notify:
    d.stderr_text() -> str     everything the daemon wrote to stderr (ANSI stripped)
    d.stdout_text() -> str
    d.wait_stderr(regex, timeout=10, start=0) -> re.Match  (searches from char start)
    d.notify_messages() -> [str]   every datagram, e.g. "READY=1\\nSTATUS=..."
    d.notify_records() -> [(pid_or_None, str)]  with the sender PID (SO_PASSCRED)
    d.wait_notify(pred, timeout=10, start=0) -> index of the first datagram at
                               position >= start that matches. ``pred`` is either
                               a string (one of the datagram's lines equals it,
                               e.g. "READY=1") or a callable(text) -> bool.

HTTP (a new connection per request, closed after its response):
    d.http(method, path, body=None, headers=None, timeout=5)
        -> (status, headers, body_bytes); headers is an http.client.HTTPMessage
           (case-insensitive .get()); str bodies are sent UTF-8 encoded
    d.http_json(method, path, payload=NOBODY, body=None, headers=None)
        -> (status, headers, obj); ``payload`` is JSON-encoded and sent with
           Content-Type application/json; obj is the parsed response (None if
           the body is empty); a non-JSON body raises AssertionError
    d.raw_http(data_bytes, timeout=5) -> bytes   raw request on a plain socket,
           reads until the server closes; parse with parse_http_response()
    await d.ahttp(...), await d.ahttp_json(...)  the same, run in a thread

WebSocket (asyncio; use inside unittest.IsolatedAsyncioTestCase):
    c = await d.ws("/ws")               websockets client, welcome read into
                                        c.welcome / c.client_id
    c = await d.ws("/ws/echo", welcome=False)
    await c.send_json(obj); await c.send(str_or_bytes)
    await c.recv(timeout=5) -> str|bytes
    await c.recv_json(timeout=5) -> dict
    await c.recv_until(type, timeout=5) -> dict   (other messages go to c.skipped)
    await c.request(obj, timeout=5) -> dict   send, return the next direct reply;
                                        notifications, heartbeat pings and
                                        server_shutdown arriving meanwhile are
                                        held in c.pending and come first from
                                        recv_json/recv_until/wait_closed
    await c.wait_closed(timeout=5) -> (code, reason, [messages before close])
    await c.close()
    r = await d.raw_ws("/ws")           RawWs: hand-made handshake on a plain
                                        socket; never answers pings by itself
    await r.send_frame(opcode, payload, fin=True, mask=True, rsv=0)
    await r.send_text(s); await r.send_json(obj)
    await r.recv_frame(timeout=5) -> (fin, opcode, payload_bytes); EOFError when
                                        the server drops the TCP connection
    await r.recv_json(timeout=5) -> dict (skips protocol ping/pong frames)
    await r.request(obj, timeout=5) -> dict   next direct reply (others -> r.skipped)
    await r.wait_close_frame(timeout=5, answer_pings=False)
        -> (code, reason, [(opcode, payload) seen before the close frame])
    r.closed_by_server -> (code, reason) or None; r.abort() drops the TCP
                                        connection without a close frame
    await r.close()                     close handshake (bounded), then TCP close
    await d.close_clients()             close every ws/raw client opened via d

Plain sockets (blocking, every read bounded by a deadline):
    b = BufferedSocket(d, timeout=5, nodelay=False)   connected to d; b.buf
    b.send(data); b.fill(deadline, what) appends what arrives next to b.buf
    b.take(n, deadline, what) -> the next n bytes; ServerClosed (an
                                        AssertionError and an EOFError) when the
                                        server closes the connection first

Module helpers: wait_until(fn, timeout, interval, what), await async_wait_until(...),
parse_http_response(bytes) -> (status, {lower-name: value}, body), cli_bin(),
notifyd_bin(), NOBODY, UUID4_RE, ISO_MS_Z_RE, CORS_METHODS, CORS_HEADERS,
DaemonTestCase (unittest.IsolatedAsyncioTestCase: ``self.d`` is a started
Daemon built from the class attribute ``config``; its clients are closed and it
is stopped after each test, which must then exit with status 0).

Note: the daemon is started with PR_SET_PDEATHSIG so it dies with the test
process; call ``start()`` from the main thread (not from asyncio.to_thread),
otherwise it dies when that worker thread ends.
"""

import asyncio
import atexit
import base64
import collections
import ctypes
import fcntl
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal as _signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import websockets
import websockets.exceptions

__all__ = [
    "Daemon", "DaemonTestCase", "WsClient", "RawWs", "NOBODY", "UUID4_RE",
    "ISO_MS_Z_RE", "CORS_METHODS", "CORS_HEADERS", "wait_until", "BufferedSocket", "ServerClosed",
    "async_wait_until", "parse_http_response", "notifyd_bin", "cli_bin",
    "render_config", "free_port", "TlsFiles",
]

HOST = "127.0.0.1"
NOBODY = object()
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_MS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
def without_position(message):
    """`message` without the "epoch" and "seq" every subscribed reply and
    notification carries (PROTOCOL.md Part 2), after checking their types."""
    if isinstance(message, list):
        return [without_position(m) for m in message]
    out = dict(message)
    epoch = out.pop("epoch", None)
    seq = out.pop("seq", None)
    assert isinstance(epoch, str) and 8 <= len(epoch) <= 32, message
    assert isinstance(seq, int) and seq >= 0, message
    return out


CORS_HEADERS = "Content-Type, Authorization, Idempotency-Key, Last-Event-ID, Title"
LISTEN_RE = re.compile(r"listening on \S*:(\d+)")
TLS_LISTEN_RE = re.compile(r"serving TLS on \S*:(\d+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

BASE_CONFIG = {
    "server": {"listen": HOST, "port": 0},
    "log": {"level": "info"},
}

_live = set()  # strong refs: atexit cleans up every daemon not cleaned up yet


def notifyd_bin():
    """Path of the daemon under test; fails loudly when NOTIFYD_BIN is unset or wrong."""
    path = os.environ.get("NOTIFYD_BIN")
    if not path:
        raise AssertionError("NOTIFYD_BIN is not set (path of the notifyd binary)")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"NOTIFYD_BIN={path!r} is not an executable file")
    return path


def cli_bin():
    """Path of notifyd-cli; fails loudly when NOTIFYD_CLI_BIN is unset or wrong."""
    path = os.environ.get("NOTIFYD_CLI_BIN")
    if not path:
        raise AssertionError("NOTIFYD_CLI_BIN is not set (path of notifyd-cli)")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"NOTIFYD_CLI_BIN={path!r} is not an executable file")
    return path


def wait_until(fn, timeout=10.0, interval=0.02, what="condition"):
    """Poll fn() until it returns a truthy value (returned) or raise after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


async def async_wait_until(fn, timeout=10.0, interval=0.02, what="condition"):
    """Like wait_until, fn may be a coroutine function; sleeps without blocking the loop."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def render_config(overrides=None):
    """TOML text of BASE_CONFIG updated with overrides ({section: {key: value}})."""
    sections = {k: dict(v) for k, v in BASE_CONFIG.items()}
    for sec, kv in (overrides or {}).items():
        sections.setdefault(sec, {}).update(kv)
    out = []
    for sec, kv in sections.items():
        out.append(f"[{sec}]")
        for k, v in kv.items():
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    return "\n".join(out)


def free_port():
    """A TCP port free on 127.0.0.1 now (for settings where 0 means "off")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# The conformance harnesses run a second time over TLS (CTest's
# integration.*_conformance_tls set NOTIFYD_TEST_TLS=1): their daemons get a
# [tls] listener (tls_config) and their raw connections go there
# (raw_connect), the bytes above the record layer unchanged.
TLS_MODE = os.environ.get("NOTIFYD_TEST_TLS") == "1"


def tls_config():
    """The [tls] settings of a TLS_MODE daemon, as a config dict; {} otherwise."""
    if not TLS_MODE:
        return {}
    files = TlsFiles.get()
    return {"tls": {"port": free_port(), "certificate": files.leaf, "key": files.leaf_key}}


def tls_config_text():
    """The same as TOML text, for tests that write their config in full."""
    tls = tls_config().get("tls")
    if not tls:
        return ""
    return (f'\n[tls]\nport = {tls["port"]}\ncertificate = "{tls["certificate"]}"\n'
            f'key = "{tls["key"]}"\n')


def raw_connect(daemon, timeout=5.0):
    """A blocking connection to the daemon: plain TCP to its port, or in
    TLS_MODE a TLS connection (verified, ALPN http/1.1) to its TLS port."""
    if not TLS_MODE:
        return socket.create_connection((daemon.host, daemon.port), timeout=timeout)
    sock = socket.create_connection((daemon.host, daemon.tls_port), timeout=timeout)
    try:
        return TlsFiles.get().client_context().wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def readable(sock, timeout):
    """Whether sock has bytes to read within timeout s. A TLS socket may hold
    decrypted bytes already taken off the kernel's socket, which select()
    does not see."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(select.select([sock], [], [], timeout)[0])


class TlsFiles:
    """Certificates made with the openssl command line, once per test process,
    in a temporary directory: a CA (ca), and leaf certificates for localhost
    and 127.0.0.1 signed by it, each with its own key: leaf (the usual one),
    renewed (another, for rotation), expired (valid until yesterday).
    Attributes are paths: ca, leaf, leaf_key, renewed, renewed_key, expired,
    expired_key."""

    _made = None

    @classmethod
    def get(cls):
        if cls._made is None:
            cls._made = cls()
        return cls._made

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="notifyd-tls-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.ca, self.ca_key = self._path("ca.pem"), self._path("ca.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                      "-subj", "/CN=notifyd test CA")
        ext = self._path("ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for serial, (name, days) in enumerate((("leaf", "2"), ("renewed", "3"), ("expired", "-1"))):
            key, csr, pem = self._path(name + ".key"), self._path(name + ".csr"), self._path(name + ".pem")
            self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", key, "-out", csr, "-subj", f"/CN=localhost {name}")
            self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                          "-set_serial", str(1001 + serial), "-out", pem,
                          "-days", days, "-extfile", ext)
            setattr(self, name, pem)
            setattr(self, name + "_key", key)

    def _path(self, name):
        return os.path.join(self.dir, name)

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(("openssl",) + args, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {r.stderr}")

    def client_context(self, alpn=("http/1.1",)):
        """An ssl client context trusting the test CA, offering `alpn`."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx


def parse_http_response(raw):
    """Split raw HTTP response bytes into (status, {lowercase name: value}, body)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete HTTP response head in {raw[:300]!r}")
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m.group(1)), headers, body


class _NotifyListener:
    """AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.records = []  # (pid or None, text)
        self.cond = threading.Condition()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self.thread.start()

    def _run(self):
        cred_size = struct.calcsize("3i")
        while not self._stop.is_set():
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(cred_size))
            except socket.timeout:
                continue
            except OSError:
                return
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:cred_size])[0]
            with self.cond:
                self.records.append((pid, data.decode("utf-8", "replace")))
                self.cond.notify_all()

    def close(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def _matches(pred, text):
    if callable(pred):
        return pred(text)
    return pred in text.split("\n")


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded before any fork
except OSError:
    _LIBC = None


def _set_pdeathsig():
    """In the child: die with SIGKILL when the test process goes away."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(_signal.SIGKILL))  # PR_SET_PDEATHSIG


class Daemon:
    """One notifyd process under test; see the module docstring."""

    def __init__(self, config=None, *, config_text=None, args=(), env=None,
                 start=True, timeout=10.0, listen_socket=None, preexec=None):
        self.host = HOST
        # Run in the child before exec, after the parent-death signal is set
        # (e.g. a resource limit for one test).
        self.preexec = preexec
        self.port = None
        self.proc = None
        self.args = list(args)
        # A listening socket the daemon inherits as fd 3 with LISTEN_FDS=1,
        # as systemd's socket activation passes it; a list of them: fds 3, 4..
        self.listen_socket = listen_socket
        self.tls_port = None  # learned from "serving TLS on <addr>:<port>"
        self.extra_env = dict(env or {})
        self.tmpdir = tempfile.mkdtemp(prefix="notifyd-it-")
        self.config_path = os.path.join(self.tmpdir, "notifyd.toml")
        self.notify_path = os.path.join(self.tmpdir, "notify.sock")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.stdout_path = os.path.join(self.tmpdir, "stdout.log")
        self._stopped_by_test = False
        self._clients = []
        self._notify = _NotifyListener(self.notify_path)
        self.write_config(config, config_text)
        _live.add(self)
        if start:
            try:
                self.start(timeout=timeout)
            except BaseException:
                self.cleanup()
                raise

    # ---- config ---------------------------------------------------------
    def write_config(self, config=None, config_text=None):
        """(Re)write the config file atomically (rename over the old file)."""
        text = config_text if config_text is not None else render_config(config)
        tmp = self.config_path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        self.config_text = text

    # ---- process ----------------------------------------------------------
    def _env(self):
        env = dict(os.environ)
        for k in ("JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                  "WATCHDOG_USEC", "WATCHDOG_PID", "NOTIFY_SOCKET", "PORT"):
            env.pop(k, None)
        env["NOTIFY_SOCKET"] = self.notify_path
        env.update(self.extra_env)
        return env

    def start(self, timeout=10.0):
        """Start the daemon; wait (bounded) for READY=1 and the listening line."""
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("daemon already running")
        notify_start = len(self.notify_messages())
        stderr_start = len(self.stderr_text())
        self._stopped_by_test = False
        argv = [notifyd_bin(), "--config", self.config_path] + self.args
        env = self._env()
        pass_fds = ()
        if self.listen_socket is not None:
            # The shell puts the sockets on fd 3 (4, ...) and sets LISTEN_PID
            # to its own PID, which exec hands on to notifyd.
            socks = self.listen_socket
            if not isinstance(socks, (list, tuple)):
                socks = [socks]
            # Copies above 9 first: a socket may itself be fd 3 or 4.
            pass_fds = tuple(fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 10) for s in socks)
            moves = " ".join(f"{3 + i}<&{fd}" for i, fd in enumerate(pass_fds))
            # bash: dash takes only single-digit descriptors.
            argv = ["/bin/bash", "-c",
                    f'exec {moves}; export LISTEN_PID=$$ LISTEN_FDS={len(pass_fds)}; '
                    'exec "$0" "$@"'] + argv
        with open(self.stderr_path, "ab") as err, open(self.stdout_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env, preexec_fn=self._preexec, pass_fds=pass_fds)
        for fd in pass_fds:
            os.close(fd)
        deadline = time.monotonic() + timeout
        ready = False
        port = None
        while True:
            if not ready:
                ready = any(_matches("READY=1", t)
                            for t in self.notify_messages()[notify_start:])
            if port is None:
                m = LISTEN_RE.search(self.stderr_text()[stderr_start:])
                if m:
                    port = int(m.group(1))
            if ready and port is not None:
                break
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"notifyd exited early with status {self.proc.returncode}; "
                    f"stderr:\n{self.stderr_text()}")
            if time.monotonic() >= deadline:
                missing = []
                if not ready:
                    missing.append("READY=1 on NOTIFY_SOCKET")
                if port is None:
                    missing.append("'listening on <addr>:<port>' on stderr")
                self._kill()
                raise AssertionError(
                    f"notifyd not ready within {timeout}s (missing: {', '.join(missing)}); "
                    f"notify: {self.notify_messages()!r}; stderr:\n{self.stderr_text()}")
            time.sleep(0.01)
        self.port = port
        m = TLS_LISTEN_RE.search(self.stderr_text()[stderr_start:])
        self.tls_port = int(m.group(1)) if m else None
        return self

    def _preexec(self):
        _set_pdeathsig()
        if self.preexec is not None:
            self.preexec()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Send sig to the daemon's own PID."""
        if not self.running():
            raise AssertionError(f"cannot send signal {sig}: daemon not running; "
                                 f"stderr:\n{self.stderr_text()}")
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=10.0):
        """Wait (bounded) for the process to exit; returns its exit code."""
        self._stopped_by_test = True
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"notifyd (pid {self.proc.pid}) did not exit within "
                                 f"{timeout}s; stderr:\n{self.stderr_text()}") from None

    def stop(self, timeout=10.0, sig=_signal.SIGTERM):
        """Send sig (SIGTERM), wait for exit, return the exit code.

        If the daemon does not exit in time it is killed with SIGKILL (its own
        PID only) and AssertionError is raised."""
        if self.proc is None:
            raise AssertionError("daemon was never started")
        self._stopped_by_test = True
        if self.proc.poll() is not None:
            return self.proc.returncode
        os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError(f"notifyd did not exit within {timeout}s after signal {sig}; "
                                 f"killed with SIGKILL; stderr:\n{self.stderr_text()}") from None

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, _signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def exited_unexpectedly(self):
        """True if the process ended although no test asked it to."""
        return (self.proc is not None and self.proc.poll() is not None
                and not self._stopped_by_test)

    def cleanup(self):
        """Stop the daemon if it still runs (SIGTERM, then SIGKILL), drop temp files."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, _signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self._kill()
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        if not os.environ.get("NOTIFYD_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        _live.discard(self)

    def run_cli(self, args, timeout=10.0):
        """Run ``$NOTIFYD_BIN <args>`` (e.g. --check-config) to completion."""
        try:
            return subprocess.run([notifyd_bin()] + list(args), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout,
                                  env=self._env(), preexec_fn=_set_pdeathsig)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"notifyd {args} did not finish within {timeout}s") from e

    # ---- logs and sd_notify -----------------------------------------------
    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return ANSI_RE.sub("", f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return ANSI_RE.sub("", f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return ""

    def wait_stderr(self, regex, timeout=10.0, start=0):
        rx = re.compile(regex)
        return wait_until(lambda: rx.search(self.stderr_text()[start:]), timeout,
                          what=f"stderr matching {regex!r}; stderr so far:\n{self.stderr_text()}")

    def notify_records(self):
        if self._notify is None:
            return []
        with self._notify.cond:
            return list(self._notify.records)

    def notify_messages(self):
        return [t for _pid, t in self.notify_records()]

    def wait_notify(self, pred, timeout=10.0, start=0):
        """Index of the first datagram at index >= start matching pred (bounded wait)."""
        deadline = time.monotonic() + timeout
        listener = self._notify
        with listener.cond:
            while True:
                for i in range(start, len(listener.records)):
                    if _matches(pred, listener.records[i][1]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no notify message matching {pred!r} within {timeout}s "
                        f"(from index {start}); got {[t for _p, t in listener.records]!r}; "
                        f"stderr:\n{self.stderr_text()}")
                listener.cond.wait(min(left, 0.2))

    # ---- HTTP -------------------------------------------------------------
    def http(self, method, path, body=None, headers=None, timeout=5.0):
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        finally:
            conn.close()

    def http_json(self, method, path, payload=NOBODY, body=None, headers=None, timeout=5.0):
        hdrs = dict(headers or {})
        if payload is not NOBODY:
            body = json.dumps(payload).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        status, rh, data = self.http(method, path, body=body, headers=hdrs, timeout=timeout)
        if not data:
            return status, rh, None
        try:
            return status, rh, json.loads(data)
        except ValueError:
            raise AssertionError(f"{method} {path} -> {status}: body is not JSON: {data[:500]!r}")

    async def ahttp(self, *args, **kwargs):
        return await asyncio.to_thread(self.http, *args, **kwargs)

    async def ahttp_json(self, *args, **kwargs):
        return await asyncio.to_thread(self.http_json, *args, **kwargs)

    def raw_http(self, data, timeout=5.0):
        """Send raw bytes on a new TCP connection; return all bytes until EOF (bounded)."""
        deadline = time.monotonic() + timeout
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"server did not close within {timeout}s; "
                                         f"got {b''.join(chunks)[:500]!r}")
                s.settimeout(left)
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    # ---- WebSocket --------------------------------------------------------
    def ws_url(self, path="/ws"):
        return f"ws://{self.host}:{self.port}{path}"

    async def ws(self, path="/ws", *, welcome=True, timeout=5.0, **kwargs):
        """Connect a websockets client; by default read the welcome message."""
        kwargs.setdefault("compression", None)
        kwargs.setdefault("ping_interval", None)   # the client sends nothing on its own
        kwargs.setdefault("close_timeout", 2)
        kwargs.setdefault("max_size", 2 ** 24)
        kwargs.setdefault("open_timeout", timeout)
        conn = await asyncio.wait_for(websockets.connect(self.ws_url(path), **kwargs), timeout)
        client = WsClient(conn)
        self._clients.append(client)
        if welcome:
            client.welcome = await client.recv_json(timeout)
            client.client_id = client.welcome.get("clientId")
        return client

    async def raw_ws(self, path="/ws", *, timeout=5.0):
        client = await RawWs.connect(self.host, self.port, path, timeout=timeout)
        self._clients.append(client)
        return client

    async def close_clients(self):
        clients, self._clients = self._clients, []
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:
                pass


class WsClient:
    """Thin wrapper around a websockets 10.4 client connection."""

    def __init__(self, conn):
        self.conn = conn
        self.welcome = None
        self.client_id = None
        self.skipped = []   # messages recv_until passed over (dropped from the stream)
        self.pending = collections.deque()  # passed over by request(); read first

    @staticmethod
    def is_reply(obj):
        """True for a direct reply to a request (not a notification/heartbeat/shutdown)."""
        t = obj.get("type")
        if t in ("notification", "server_shutdown"):
            return False
        return not (t == "ping" and "id" not in obj)

    async def send(self, data):
        await self.conn.send(data)

    async def send_json(self, obj):
        await self.conn.send(json.dumps(obj))

    async def recv(self, timeout=5.0):
        try:
            return await asyncio.wait_for(self.conn.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no WebSocket message within {timeout}s") from None

    async def recv_json(self, timeout=5.0):
        """Next message as a dict (messages held back by request() come first)."""
        if self.pending:
            return self.pending.popleft()
        return await self._recv_wire_json(timeout)

    async def recv_until(self, type_, timeout=5.0):
        """First message with "type" == type_; the others are appended to self.skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message of type {type_!r} within {timeout}s; "
                                     f"skipped: {self.skipped[-10:]!r}")
            obj = await self.recv_json(left)
            if obj.get("type") == type_:
                return obj
            self.skipped.append(obj)

    async def request(self, obj, timeout=5.0):
        """Send obj; return the next direct reply (see is_reply).

        Notifications, heartbeat pings and server_shutdown arriving meanwhile
        are kept in self.pending and returned by later recv_json/recv_until."""
        await self.send_json(obj)
        deadline = time.monotonic() + timeout
        held = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no reply to {obj!r} within {timeout}s; "
                                         f"meanwhile got {held[-10:]!r}")
                msg = await self._recv_wire_json(left)
                if self.is_reply(msg):
                    return msg
                held.append(msg)
        finally:
            self.pending.extend(held)

    async def _recv_wire_json(self, timeout):
        msg = await self.recv(timeout)
        if not isinstance(msg, str):
            raise AssertionError(f"expected a text frame, got binary {msg[:200]!r}")
        try:
            obj = json.loads(msg)
        except ValueError:
            raise AssertionError(f"message is not JSON: {msg[:500]!r}") from None
        if not isinstance(obj, dict):
            raise AssertionError(f"message is not a JSON object: {msg[:500]!r}")
        return obj

    async def wait_closed(self, timeout=5.0):
        """Read until the server closes; return (code, reason, messages before the close).

        The messages are raw texts (held-back ones from request() first, re-encoded)."""
        deadline = time.monotonic() + timeout
        msgs = [json.dumps(m) for m in self.pending]
        self.pending.clear()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection not closed within {timeout}s; got {msgs[-10:]!r}")
            try:
                msgs.append(await asyncio.wait_for(self.conn.recv(), left))
            except asyncio.TimeoutError:
                continue
            except websockets.exceptions.ConnectionClosed as e:
                return e.code, e.reason, msgs

    async def close(self):
        await self.conn.close()


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def new_websocket_key():
    return base64.b64encode(os.urandom(16)).decode()


def websocket_accept(key):
    """The Sec-WebSocket-Accept a server must answer `key` with (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_client_frame(opcode, payload=b"", fin=True, rsv=0, mask=True):
    """One client frame, masked with a random key unless mask=False."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class ServerClosed(AssertionError, EOFError):
    """The server closed the TCP connection (FIN or reset) where bytes were expected."""


class BufferedSocket:
    """A blocking connection to a Daemon (raw_connect: TLS in TLS_MODE) with a read buffer, for
    reading a byte stream piece by piece (HTTP responses, WebSocket frames).
    Every read is bounded by a deadline."""

    def __init__(self, daemon, timeout=5.0, nodelay=False):
        self.sock = raw_connect(daemon, timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, deadline, what):
        """Appends the next bytes received to buf; raises AssertionError at the
        deadline and ServerClosed when the server has closed the connection."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what}; buffered {bytes(self.buf[:300])!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out waiting for {what}; "
                                 f"buffered {bytes(self.buf[:300])!r}") from None
        except (ConnectionResetError, ssl.SSLError):  # TLS: a reset ends the record stream
            chunk = b""
        if not chunk:
            raise ServerClosed(f"connection closed by the server while waiting for {what}; "
                               f"buffered {bytes(self.buf[:300])!r}")
        self.buf += chunk

    def take(self, n, deadline, what):
        """The next n bytes (read as needed by the deadline)."""
        while len(self.buf) < n:
            self.fill(deadline, what)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class RawWs:
    """WebSocket client on a plain asyncio stream, framing by hand.

    It never answers pings on its own, and can send anything (invalid UTF-8,
    reserved opcodes, oversized frames)."""

    OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

    def __init__(self, reader, writer, response_head):
        self.reader = reader
        self.writer = writer
        self.response_head = response_head
        self.closed_by_server = None  # (code, reason) once a close frame arrived
        self.skipped = []

    @classmethod
    async def connect(cls, host, port, path="/ws", timeout=5.0, extra_headers=None):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = new_websocket_key()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        lines += list(extra_headers or [])
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
            writer.close()
            raise AssertionError(f"no handshake response from {path}: {e!r}") from None
        text = head.decode("iso-8859-1")
        if not text.startswith("HTTP/1.1 101"):
            writer.close()
            raise AssertionError(f"handshake refused: {text!r}")
        accept = websocket_accept(key)
        if accept.lower() not in text.lower():
            writer.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept in {text!r}")
        return cls(reader, writer, text)

    async def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.writer.write(encode_client_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))
        await self.writer.drain()

    async def send_text(self, text):
        await self.send_frame(self.OP_TEXT, text)

    async def send_json(self, obj):
        await self.send_frame(self.OP_TEXT, json.dumps(obj))

    async def recv_frame(self, timeout=5.0):
        """(fin, opcode, payload) of the next frame; raises EOFError on connection end."""
        try:
            return await asyncio.wait_for(self._read_frame(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no frame within {timeout}s") from None

    async def _read_frame(self):
        try:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            key = await self.reader.readexactly(4) if b1 & 0x80 else None
            payload = await self.reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            raise EOFError("connection closed by the server") from None
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        opcode = b0 & 0x0F
        if opcode == self.OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.closed_by_server = (code, payload[2:].decode("utf-8", "replace"))
        return bool(b0 & 0x80), opcode, payload

    async def recv_json(self, timeout=5.0):
        """Next text message as a dict, skipping protocol ping/pong frames."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no text message within {timeout}s")
            fin, op, payload = await self.recv_frame(left)
            if op in (self.OP_PING, self.OP_PONG):
                continue
            if op == self.OP_CLOSE:
                raise AssertionError(f"server closed the connection: {self.closed_by_server}")
            if op != self.OP_TEXT or not fin:
                raise AssertionError(f"unexpected frame fin={fin} opcode={op} {payload[:200]!r}")
            obj = json.loads(payload)
            if not isinstance(obj, dict):
                raise AssertionError(f"message is not a JSON object: {payload[:300]!r}")
            return obj

    async def request(self, obj, timeout=5.0):
        """Send obj; return the next direct reply (WsClient.is_reply); the
        messages passed over are appended to self.skipped."""
        await self.send_json(obj)
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.recv_json(max(0.0, deadline - time.monotonic()))
            if WsClient.is_reply(reply):
                return reply
            self.skipped.append(reply)

    async def wait_close_frame(self, timeout=5.0, answer_pings=False):
        """Read frames until a close frame; return (code, reason, [(opcode, payload)...]).

        Text messages and (unanswered, unless answer_pings) pings seen before
        the close are returned in the list."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close frame within {timeout}s; saw {seen[-10:]!r}")
            _fin, op, payload = await self.recv_frame(left)
            if op == self.OP_CLOSE:
                return self.closed_by_server[0], self.closed_by_server[1], seen
            if op == self.OP_PING and answer_pings:
                await self.send_frame(self.OP_PONG, payload)
            seen.append((op, payload))

    async def close(self, code=1000):
        try:
            if self.closed_by_server is None and not self.writer.is_closing():
                await self.send_frame(self.OP_CLOSE, struct.pack("!H", code))
                # Read (bounded) until the server's close or EOF.
                for _ in range(1000):
                    _fin, op, _p = await self.recv_frame(2)
                    if op == self.OP_CLOSE:
                        break
        except (EOFError, AssertionError, ConnectionError, OSError):
            pass
        finally:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2)
            except Exception:
                pass

    def abort(self):
        """Drop the TCP connection without a close frame."""
        self.writer.transport.abort()


class DaemonTestCase(unittest.IsolatedAsyncioTestCase):
    """Base class: self.d is a running Daemon built from the class attribute
    ``config``. After each test, clients are closed and the daemon is stopped
    with SIGTERM; it must still be running (unless the test stopped it) and
    exit with status 0."""

    config = None

    async def asyncSetUp(self):
        # Blocking helpers (process start/stop, HTTP) are fine in these tests;
        # keep asyncio's debug mode from reporting them as slow callbacks.
        asyncio.get_running_loop().slow_callback_duration = 30

    def setUp(self):
        self.d = Daemon(self.config, start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    async def asyncTearDown(self):
        await self.d.close_clients()

    def tearDown(self):
        if self.d.exited_unexpectedly():
            self.fail(f"notifyd died during the test with status {self.d.proc.returncode}; "
                      f"stderr:\n{self.d.stderr_text()}")
        if self.d.running():
            code = self.d.stop(timeout=10)
            self.assertEqual(code, 0, f"notifyd exit status after SIGTERM; "
                                      f"stderr:\n{self.d.stderr_text()}")


def _cleanup_all():
    for d in list(_live):
        try:
            d.cleanup()
        except Exception:
            pass


atexit.register(_cleanup_all)
