"""A real redis-server for the cluster tests, started by the test on a free
loopback port (never 6379, where Debian's own may listen), with no
persistence, so a restart loses everything; a minimal RESP client; and a TCP
proxy that can freeze one connection silently (a wedged subscription)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_available():
    return os.access(REDIS_SERVER, os.X_OK)


def free_port():
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RespError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"bad RESP line {line!r}")


def resp(port, *args, timeout=5.0):
    """Runs one command on a fresh connection; returns the reply (an error
    reply is returned as a RespError instance, not raised)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(_encode(args))
        with s.makefile("rb") as f:
            return _read_reply(f)


class RedisServer:
    """redis-server as a child process; kill() is kill -9, start() again
    reuses the port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="notifyd-redis-")
        self.proc = None

    def start(self, timeout=10.0):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
             "--protected-mode", "yes", "--enable-debug-command", "local"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if resp(self.port, "PING", timeout=1) == "PONG":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server not answering PING: {self.log()}")
            time.sleep(0.02)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class FreezingProxy:
    """Forwards 127.0.0.1:port to Redis. freeze_subscribers() stops passing
    Redis's bytes to every connection that has sent SUBSCRIBE, without
    closing anything: to notifyd the subscription looks alive and is silent."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.frozen = set()          # ids of connections frozen now
        self.subscribers = set()     # ids of connections that sent SUBSCRIBE
        self.freeze_new = False
        self.lock = threading.Lock()
        self.closed = False
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze_subscribers(self):
        with self.lock:
            self.frozen |= self.subscribers

    def _accept(self):
        next_id = 0
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.redis_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            next_id += 1
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(next_id, client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(next_id, upstream, client, False),
                             daemon=True).start()

    def _pump(self, cid, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and b"SUBSCRIBE" in data.upper():
                    with self.lock:
                        self.subscribers.add(cid)
                if not from_client:
                    with self.lock:
                        frozen = cid in self.frozen
                    if frozen:
                        continue  # swallowed: the subscription is wedged
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
