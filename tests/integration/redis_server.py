"""A redis-server of the test's own, and a small RESP2 client for it.

RedisServer starts Debian's redis-server as a child on a unix socket in a
temporary directory (no TCP port to race for, nothing saved), waits until it
answers PING, and stops it by its PID. Redis is the client: blocking, one
connection, commands as argument lists, replies as Python values (bytes,
int, list, None, or a RedisError instance for an error reply, returned rather
than raised so a test can look at it). No module beyond the standard library.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = shutil.which("redis-server")


class RedisError:
    """An error reply ("-ERR ..."), as a value."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"RedisError({self.text!r})"


class Redis:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def command(self, *args):
        self.send(*args)
        return self.reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exactly(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError(f"not RESP: {line!r}")


class RedisServer:
    """redis-server on a unix socket; start() waits until it answers."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="notifyd-redis-")
        self.path = os.path.join(self.dir, "redis.sock")
        self.proc = None

    def start(self, timeout=5.0):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.path, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = Redis(self.path)
                try:
                    if r.command("PING") == b"PONG":
                        return self
                finally:
                    r.close()
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}: "
                                     f"{self.log()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"redis-server did not answer PING in {timeout}s")
            time.sleep(0.02)

    def client(self):
        return Redis(self.path)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
