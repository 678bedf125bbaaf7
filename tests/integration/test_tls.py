"""TLS served by notifyd itself ([tls]): handshakes (TLS 1.2 and 1.3 only,
ALPN http/1.1), everything the plain port serves (curl over https, wss
subscribe with an https publish), large deliveries that fill the socket,
certificate rotation by SIGHUP under load, a broken renewal refused, a
handshake that stalls (bounded by the request deadline), garbage instead of a
ClientHello, bad certificates refused by --check-config and at start,
socket activation of both listeners, and notifyd-cli over https:// and wss://
(publish, history, tail, the interactive client). Certificates are made by the openssl
command line in a temporary directory (harness.TlsFiles)."""

import asyncio
import http.client
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest

import websockets

from harness import Daemon, TlsFiles, cli_bin, free_port, wait_until
from test_cli import cli_env, run_cli
from test_cli_history import CliProcess

HOST = "127.0.0.1"


def tls_config(files, port=None, cert=None, key=None, extra=None):
    config = {"tls": {"port": port or free_port(), "certificate": cert or files.leaf,
                      "key": key or files.leaf_key},
              "limits": {"connection_rate": 0, "publish_rate": 0}}
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    return config


def https(d, method, path, body=None, ctx=None, timeout=5.0, host="localhost"):
    conn = http.client.HTTPSConnection(host, d.tls_port, timeout=timeout,
                                       context=ctx or TlsFiles.get().client_context())
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def publish(d, channel, title, **kw):
    return https(d, "POST", f"/api/notify/{channel}", json.dumps({"title": title}), **kw)


def handshake(port, ctx, host="localhost", timeout=5.0):
    """(version, alpn, peer certificate's serial) of one TLS handshake."""
    with socket.create_connection((HOST, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.version(), s.selected_alpn_protocol(), s.getpeercert()["serialNumber"]


def serial_of(pem):
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-serial"], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].upper()


def read_until_eof(sock, timeout):
    """Bytes until the server ends the connection; AssertionError past `timeout`."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server did not close within {timeout}s")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


async def wss(d, path="/ws", ctx=None):
    conn = await asyncio.wait_for(websockets.connect(
        f"wss://localhost:{d.tls_port}{path}", ssl=ctx or TlsFiles.get().client_context(),
        compression=None, ping_interval=None, max_size=2 ** 24, close_timeout=2), 5)
    welcome = json.loads(await asyncio.wait_for(conn.recv(), 5))
    assert welcome["type"] == "welcome", welcome
    return conn


async def request(conn, obj):
    await conn.send(json.dumps(obj))
    while True:
        msg = json.loads(await asyncio.wait_for(conn.recv(), 5))
        if msg["type"] not in ("notification", "heartbeat"):
            return msg


async def next_notification(conn, timeout=10):
    while True:
        msg = json.loads(await asyncio.wait_for(conn.recv(), timeout))
        if msg["type"] == "notification":
            return msg


class TlsServingTest(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = TlsFiles.get()
        cls.d = Daemon(tls_config(cls.files, extra={"limits": {"max_body_bytes": 1048576}}))

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.cleanup()
        assert code == 0, cls.d.stderr_text()

    def test_the_log_says_which_path_encrypts(self):
        # Kernel TLS needs the "tls" upper layer protocol (module tls); it
        # is listed once loaded (notifyd's check may load it).
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            kernel_tls = "tls" in f.read().split()
        if kernel_tls:
            self.assertIn("TLS: records sealed by the kernel (kTLS)", self.d.stderr_text())
        else:
            self.assertRegex(self.d.stderr_text(),
                             r"TLS: records sealed in userspace \(kernel TLS unavailable: \w.*\)")
        self.assertIn(f"serving TLS on 127.0.0.1:{self.d.tls_port}", self.d.stderr_text())

    async def test_every_tls12_suite_delivers(self):
        # AES-GCM and ChaCha20-Poly1305 are sealed by notifyd's own record
        # layer (or the kernel) after the handshake, CBC by OpenSSL: each
        # gets a subscription's deliveries, large ones too, and echoes.
        for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
                      "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256"):
            with self.subTest(suite=suite):
                ctx = self.files.client_context()
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers(suite)
                conn = await wss(self.d, ctx=ctx)
                try:
                    negotiated = conn.transport.get_extra_info("ssl_object").cipher()[0]
                    self.assertIn(negotiated, suite.split(":"))
                    await request(conn, {"type": "subscribe", "channel": "suites"})
                    for size in (10, 20000, 70000):
                        title = f"{negotiated} {size}"
                        body = json.dumps({"title": title, "body": "z" * size})
                        status, _ = await asyncio.to_thread(
                            https, self.d, "POST", "/api/notify/suites", body)
                        self.assertEqual(status, 200)
                        msg = await next_notification(conn)
                        self.assertEqual((msg["title"], len(msg["body"])), (title, size))
                finally:
                    await conn.close()

    def test_tls13_and_tls12_with_alpn(self):
        version, alpn, _ = handshake(self.d.tls_port, self.files.client_context())
        self.assertEqual((version, alpn), ("TLSv1.3", "http/1.1"))
        ctx = self.files.client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        version, alpn, _ = handshake(self.d.tls_port, ctx, host="127.0.0.1")
        self.assertEqual((version, alpn), ("TLSv1.2", "http/1.1"))
        # No ALPN at all is fine too (old clients).
        version, alpn, _ = handshake(self.d.tls_port, self.files.client_context(alpn=()))
        self.assertEqual((version, alpn), ("TLSv1.3", None))

    def test_alpn_without_http11_is_refused(self):
        with self.assertRaisesRegex(ssl.SSLError, "NO_APPLICATION_PROTOCOL|no application"):
            handshake(self.d.tls_port, self.files.client_context(alpn=("h2",)))
        self.assertEqual(https(self.d, "GET", "/health"), (200, b"OK"))

    def test_tls11_is_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the client offers TLS 1.1 at all
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises(ssl.SSLError) as caught:
            handshake(self.d.tls_port, ctx)
        self.assertRegex(str(caught.exception), "PROTOCOL_VERSION|protocol version|UNSUPPORTED")

    def test_untrusted_certificate_fails_verification(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            handshake(self.d.tls_port, ssl.create_default_context())

    def test_curl_over_https(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        url = f"https://localhost:{self.d.tls_port}"
        r = subprocess.run(["curl", "-sS", "--cacert", self.files.ca, "-w", "\n%{http_version}",
                            f"{url}/health"], capture_output=True, text=True, timeout=10)
        self.assertEqual((r.returncode, r.stdout), (0, "OK\n1.1"), r.stderr)
        r = subprocess.run(["curl", "-sS", "--cacert", self.files.ca, "-d", '{"title":"curl"}',
                            "-H", "Content-Type: application/json", f"{url}/api/notify/curl"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["channel"], "curl")
        # Keep-alive: several requests on one TLS connection.
        r = subprocess.run(["curl", "-sS", "--cacert", self.files.ca, f"{url}/health",
                            f"{url}/health", f"{url}/health"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual((r.returncode, r.stdout), (0, "OKOKOK"), r.stderr)

    async def test_wss_subscribe_and_https_publish(self):
        conn = await wss(self.d)
        try:
            reply = await request(conn, {"type": "subscribe", "channel": "news"})
            self.assertEqual(reply["type"], "subscribed")
            status, body = await asyncio.to_thread(publish, self.d, "news", "over tls")
            self.assertEqual(status, 200, body)
            self.assertEqual((await next_notification(conn))["title"], "over tls")
            # The plain port serves the same hub.
            status, _, _ = self.d.http_json("POST", "/api/notify/news", {"title": "plain"})
            self.assertEqual(status, 200)
            self.assertEqual((await next_notification(conn))["title"], "plain")
        finally:
            await conn.close()

    async def test_echo_over_wss(self):
        conn = await asyncio.wait_for(websockets.connect(
            f"wss://localhost:{self.d.tls_port}/ws/echo", ssl=self.files.client_context(),
            compression=None), 5)
        try:
            self.assertEqual(await asyncio.wait_for(conn.recv(), 5), "Connected!")
            await conn.send("x" * 60000)
            self.assertEqual(await asyncio.wait_for(conn.recv(), 5), "Echo: " + "x" * 60000)
        finally:
            await conn.close()

    async def test_large_deliveries_to_a_slow_reader_arrive_whole(self):
        # 40 notifications of ~200 KB: more than the socket takes at once, so
        # ciphertext is sent in parts and waits for the socket.
        conn = await wss(self.d)
        try:
            await request(conn, {"type": "subscribe", "channel": "big"})
            text = "y" * 200000
            for i in range(40):
                body = json.dumps({"title": f"n{i}", "body": text})
                status, _ = await asyncio.to_thread(https, self.d, "POST", "/api/notify/big", body)
                self.assertEqual(status, 200)
            for i in range(40):
                msg = await next_notification(conn)
                self.assertEqual((msg["title"], msg["body"]), (f"n{i}", text))
        finally:
            await conn.close()

    def test_garbage_instead_of_a_client_hello_closes(self):
        for garbage in (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 4,
                        b"\x16\x03\x01\x00\x05hello"):
            with socket.create_connection((HOST, self.d.tls_port), timeout=5) as s:
                s.sendall(garbage)
                data = read_until_eof(s, 5)
                # At most a TLS alert record, never an HTTP answer.
                self.assertFalse(data.startswith(b"HTTP/"), data[:100])
                if data:
                    self.assertEqual(data[0], 0x15, data[:20])  # alert
        self.assertEqual(https(self.d, "GET", "/health"), (200, b"OK"))

    def test_a_stalled_handshake_is_closed_at_the_request_deadline(self):
        hello = self._client_hello()
        socks = []
        try:
            start = time.monotonic()
            for part in (b"", hello[:20]):  # nothing, then half a ClientHello
                s = socket.create_connection((HOST, self.d.tls_port), timeout=5)
                socks.append(s)
                if part:
                    s.sendall(part)
            # The others are served meanwhile.
            self.assertEqual(https(self.d, "GET", "/health"), (200, b"OK"))
            for s in socks:
                read_until_eof(s, 9)
            elapsed = time.monotonic() - start
            self.assertGreater(elapsed, 4.0)  # kRequestTimeoutMs = 5 s, minus a sweep tick
            self.assertLess(elapsed, 9.0)
        finally:
            for s in socks:
                s.close()

    def _client_hello(self):
        """The first bytes a real client sends, captured through memory BIOs."""
        ctx = self.files.client_context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        return outgoing.read()

    def test_a_peer_that_resets_mid_stream_is_forgotten(self):
        for _ in range(20):
            raw = socket.create_connection((HOST, self.d.tls_port), timeout=5)
            s = self.files.client_context().wrap_socket(raw, server_hostname="localhost")
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            raw_sock = socket.socket(fileno=s.detach())
            raw_sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            raw_sock.close()  # RST, no close_notify
        self.assertEqual(https(self.d, "GET", "/health"), (200, b"OK"))
        wait_until(lambda: json.loads(https(self.d, "GET", "/api/stats")[1])["connections"] == 0,
                   what="no session left open")


class TlsCliTest(unittest.IsolatedAsyncioTestCase):
    """notifyd-cli publish and history over https://, tail and the
    interactive client over wss://."""

    @classmethod
    def setUpClass(cls):
        cls.files = TlsFiles.get()
        cls.d = Daemon(tls_config(cls.files))

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def cli(self, *args):
        env = {k: v for k, v in __import__("os").environ.items()
               if k not in ("NOTIFYD_URL", "WS_URL", "NOTIFYD_TOKEN")}
        env["NOTIFYD_SPOOL"] = self.d.tmpdir + "/spool"
        return subprocess.run([cli_bin()] + list(args), capture_output=True, text=True,
                              env=env, timeout=60)

    async def test_publish_and_history_over_https(self):
        conn = await wss(self.d)
        try:
            await request(conn, {"type": "subscribe", "channel": "cli"})
            url = f"https://localhost:{self.d.tls_port}"
            r = await asyncio.to_thread(self.cli, "--ca", self.files.ca, "publish", "cli", "hi",
                                        "--url", url)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual((await next_notification(conn))["body"], "hi")
            r = await asyncio.to_thread(self.cli, "history", "cli", "--url", url, "--ca",
                                        self.files.ca)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout.splitlines()[0])["body"], "hi")
        finally:
            await conn.close()

    def test_a_certificate_that_does_not_verify_is_said_plainly(self):
        # The system store does not hold the test CA.
        r = self.cli("publish", "cli", "x", "--no-spool", "--url",
                     f"https://localhost:{self.d.tls_port}")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"the certificate of localhost:{self.d.tls_port} does not verify: unable "
                      "to get local issuer certificate (give its CA with --ca FILE)", r.stderr)

    async def test_tail_over_wss(self):
        url = f"https://localhost:{self.d.tls_port}"  # sub and tail make it wss://.../ws
        tail = CliProcess(["--ca", self.files.ca, "tail", "wss-news", "--url", url], cli_env())
        self.addCleanup(tail.cleanup)
        await tail.expect_err(re.compile(r"^notifyd-cli: subscribed to wss-news at "))
        r = await asyncio.to_thread(self.cli, "--ca", self.files.ca, "publish", "wss-news",
                                    "over tls", "--url", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = await tail.expect_out(re.compile(r"^\{"))
        self.assertEqual(json.loads(line)["body"], "over tls")
        self.assertEqual(await tail.stop(signal.SIGINT), 0)

    def test_interactive_client_over_wss(self):
        ws_url = f"wss://localhost:{self.d.tls_port}/ws"
        r = run_cli(["--ca", self.files.ca], env=cli_env(WS_URL=ws_url),
                    stdin_text="sub wss-chat\n")
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], f"Connecting to {ws_url}...")
        self.assertIn('✓ Subscribed to "wss-chat" (1 subscribers)', lines)
        self.assertEqual(lines[-1], "Connection closed")

    async def test_wss_certificate_that_does_not_verify_is_said_plainly(self):
        said = (f"the certificate of localhost:{self.d.tls_port} does not verify: unable to get "
                "local issuer certificate (give its CA with --ca FILE)")
        ws_url = f"wss://localhost:{self.d.tls_port}/ws"
        r = await asyncio.to_thread(run_cli, [], env=cli_env(WS_URL=ws_url))
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout.splitlines()[-1], "Error: " + said)
        # tail stops rather than retry: the certificate will not verify later either.
        tail = CliProcess(["tail", "news"], cli_env(WS_URL=ws_url))
        self.addCleanup(tail.cleanup)
        await tail.expect_err(f"notifyd-cli: cannot connect to {ws_url}: {said}")
        self.assertEqual(await tail.wait(), 1)


class TlsReloadTest(unittest.IsolatedAsyncioTestCase):
    """Rotation: the certificate files are replaced and SIGHUP sent."""

    def setUp(self):
        self.files = TlsFiles.get()
        self.cert = self.files.dir + f"/live-{id(self)}.pem"
        self.key = self.files.dir + f"/live-{id(self)}.key"
        self.install(self.files.leaf, self.files.leaf_key)
        self.d = Daemon(tls_config(self.files, cert=self.cert, key=self.key))

    def tearDown(self):
        self.d.cleanup()

    def install(self, cert, key):
        shutil.copyfile(cert, self.cert + ".new")
        shutil.copyfile(key, self.key + ".new")
        import os
        os.replace(self.cert + ".new", self.cert)
        os.replace(self.key + ".new", self.key)

    def reload(self, expect):
        start = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        return self.d.wait_stderr(expect, timeout=10, start=start)

    def served_serial(self):
        return handshake(self.d.tls_port, self.files.client_context())[2].upper()

    async def test_rotation_under_load_drops_nobody(self):
        self.assertEqual(self.served_serial(), serial_of(self.files.leaf))
        subscribers = [await wss(self.d) for _ in range(20)]
        for c in subscribers:
            await request(c, {"type": "subscribe", "channel": "load"})
        sent = 0
        stop = asyncio.Event()

        async def publisher():
            nonlocal sent
            while not stop.is_set() and sent < 2000:
                status, body = await asyncio.to_thread(publish, self.d, "load", f"m{sent}")
                self.assertEqual(status, 200, body)
                sent += 1

        task = asyncio.create_task(publisher())
        try:
            await asyncio.sleep(0.3)
            self.install(self.files.renewed, self.files.renewed_key)
            await asyncio.to_thread(self.reload, r"TLS: certificate loaded for new connections")
            # New connections see the new certificate at once.
            serial = await asyncio.to_thread(self.served_serial)
            self.assertEqual(serial, serial_of(self.files.renewed))
            await asyncio.sleep(0.3)
            self.install(self.files.leaf, self.files.leaf_key)
            await asyncio.to_thread(self.reload, r"TLS: certificate loaded for new connections")
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await task
        self.assertGreater(sent, 10)
        for c in subscribers:
            titles = [(await next_notification(c))["title"] for _ in range(sent)]
            self.assertEqual(titles, [f"m{i}" for i in range(sent)])
            await c.close()
        self.assertEqual(self.served_serial(), serial_of(self.files.leaf))
        self.assertEqual(self.d.stop(), 0)

    def test_a_broken_renewal_is_refused_and_the_old_certificate_stays(self):
        for cert, key, why in (
                (self.files.leaf_key, self.files.leaf_key, "not a PEM certificate chain"),
                (self.files.renewed, self.files.leaf_key, "not the key of the certificate"),
                (self.files.expired, self.files.expired_key, "the certificate expired on")):
            self.install(cert, key)
            m = self.reload(r"TLS: refused the certificate, new connections keep the one loaded "
                            r"before: (.*)")
            self.assertIn(why, m.group(1))
            self.assertIn(self.files.dir + "/live-", m.group(1))
            self.assertEqual(self.served_serial(), serial_of(self.files.leaf))
        # Fixed: the next reload takes it.
        self.install(self.files.renewed, self.files.renewed_key)
        self.reload(r"TLS: certificate loaded for new connections")
        self.assertEqual(self.served_serial(), serial_of(self.files.renewed))
        self.assertEqual(self.d.stop(), 0)


class TlsConfigTest(unittest.TestCase):
    def setUp(self):
        self.files = TlsFiles.get()

    def check(self, cert, key):
        d = Daemon(tls_config(self.files, cert=cert, key=key), start=False)
        try:
            return d.run_cli(["--config", d.config_path, "--check-config"])
        finally:
            d.cleanup()

    def test_check_config_accepts_a_good_pair(self):
        r = self.check(self.files.leaf, self.files.leaf_key)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("TLS certificate /CN=localhost leaf, valid until", r.stderr)

    def test_check_config_refuses_bad_files(self):
        cases = (
            (self.files.expired, self.files.expired_key, "the certificate expired on"),
            (self.files.leaf, self.files.renewed_key, "not the key of the certificate"),
            (self.files.leaf_key, self.files.leaf_key, "not a PEM certificate chain"),
            (self.files.leaf, self.files.leaf, "not a PEM private key"),
            (self.files.dir + "/missing.pem", self.files.leaf_key, "cannot read: No such file"),
        )
        for cert, key, why in cases:
            r = self.check(cert, key)
            self.assertEqual(r.returncode, 1, (cert, key, r.stdout))
            self.assertIn(why, r.stderr)

    def test_start_with_an_expired_certificate_fails(self):
        d = Daemon(tls_config(self.files, cert=self.files.expired, key=self.files.expired_key),
                   start=False)
        try:
            with self.assertRaises(AssertionError):
                d.start(timeout=5)
            self.assertIn("the certificate expired on", d.stderr_text())
        finally:
            d.cleanup()

    def test_relative_names_come_from_the_credentials_directory(self):
        d = Daemon(tls_config(self.files, cert="leaf.pem", key="leaf.key"),
                   env={"CREDENTIALS_DIRECTORY": self.files.dir})
        try:
            self.assertEqual(https(d, "GET", "/health"), (200, b"OK"))
            self.assertEqual(d.stop(), 0)
        finally:
            d.cleanup()


class TlsSocketActivationTest(unittest.TestCase):
    def test_both_listeners_are_passed(self):
        files = TlsFiles.get()
        socks = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            s.listen(16)
            socks.append(s)
        plain_port, tls_port = (s.getsockname()[1] for s in socks)
        # The TLS socket is told apart by tls.port; pass it first to show
        # that the order does not matter.
        d = Daemon(tls_config(files, port=tls_port, extra={"server": {"port": 1}}),
                   listen_socket=[socks[1], socks[0]])
        try:
            self.assertEqual((d.port, d.tls_port), (plain_port, tls_port))
            self.assertIn("socket-activated", d.stderr_text())
            self.assertEqual(https(d, "GET", "/health"), (200, b"OK"))
            self.assertEqual(d.http("GET", "/health")[0], 200)
            self.assertEqual(d.stop(), 0)
        finally:
            d.cleanup()
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
