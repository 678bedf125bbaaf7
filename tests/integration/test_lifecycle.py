"""Start, readiness, signals (TERM, INT, HUP), config errors, against the real notifyd."""

import asyncio
import json
import os
import re
import signal
import time
import unittest

from harness import Daemon, DaemonTestCase


class ReadyTest(DaemonTestCase):
    async def test_ready_then_serving(self):
        recs = self.d.notify_records()
        ready = [i for i, (_pid, t) in enumerate(recs) if "READY=1" in t.split("\n")]
        self.assertTrue(ready, recs)
        pid, _text = recs[ready[0]]
        if pid is not None:
            self.assertEqual(pid, self.d.pid, "READY=1 must come from the main process")
        # After READY=1, WebSocket and HTTP work at once.
        c = await self.d.ws()
        self.assertEqual(c.welcome["type"], "welcome")
        s, _h, body = await self.d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))
        # No STOPPING while running.
        self.assertFalse(any("STOPPING=1" in t.split("\n") for t in self.d.notify_messages()))


class WatchdogTest(unittest.TestCase):
    def test_watchdog_pings_when_enabled(self):
        # systemd passes WATCHDOG_USEC; the daemon must send WATCHDOG=1 well
        # within that period, repeatedly.
        d = Daemon({}, env={"WATCHDOG_USEC": "400000"}, start=False)
        self.addCleanup(d.cleanup)
        d.start()
        i = d.wait_notify("WATCHDOG=1", timeout=2)
        j = d.wait_notify("WATCHDOG=1", timeout=2, start=i + 1)
        d.wait_notify("WATCHDOG=1", timeout=2, start=j + 1)
        self.assertEqual(d.stop(), 0, d.stderr_text())


class ShutdownTest(DaemonTestCase):
    async def _shutdown_with_clients(self, sig, n):
        clients = [await self.d.ws() for _ in range(n)]
        for i, c in enumerate(clients):
            await c.request({"type": "subscribe", "channel": f"ch{i % 3}"})
        notify_start = len(self.d.notify_messages())
        t0 = time.monotonic()
        self.d.signal(sig)
        results = await asyncio.gather(*(c.wait_closed(timeout=10) for c in clients))
        for i, (code, reason, msgs) in enumerate(results):
            objs = [json.loads(m) for m in msgs]
            objs = [o for o in objs if o.get("type") != "ping"]  # heartbeat noise
            self.assertTrue(objs, f"client {i} got no server_shutdown before close {code}")
            self.assertEqual(objs[-1], {"type": "server_shutdown",
                                        "message": "Server is shutting down"},
                             f"client {i}: {objs}")
            self.assertEqual(code, 1001, f"client {i}: close {code} {reason!r}")
        self.d.wait_notify("STOPPING=1", timeout=10, start=notify_start)
        code = await asyncio.to_thread(self.d.wait_exit, 10)
        self.assertEqual(code, 0, self.d.stderr_text())
        self.assertLess(time.monotonic() - t0, 10)

    async def test_sigterm_with_ten_clients(self):
        await self._shutdown_with_clients(signal.SIGTERM, 10)

    async def test_sigint(self):
        await self._shutdown_with_clients(signal.SIGINT, 1)

    async def test_sigterm_without_clients(self):
        n0 = len(self.d.notify_messages())
        self.assertEqual(self.d.stop(timeout=10), 0, self.d.stderr_text())
        self.d.wait_notify("STOPPING=1", timeout=2, start=n0)

    async def test_sigterm_with_silent_raw_client(self):
        # A client that never answers the close handshake must not hold the
        # daemon beyond shutdown_timeout.
        d = self.d
        d.write_config({"limits": {"shutdown_timeout": 1}})
        d.stop()
        d.start()
        raw = await d.raw_ws()
        await raw.recv_json()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        msg = await raw.recv_json(5)
        self.assertEqual(msg.get("type"), "server_shutdown", msg)
        code = await asyncio.to_thread(d.wait_exit, 10)
        self.assertEqual(code, 0, d.stderr_text())
        self.assertLess(time.monotonic() - t0, 3.5,
                        "shutdown_timeout = 1 was not honoured")


class ReloadTest(DaemonTestCase):
    config = {"limits": {"max_subscriptions_per_client": 5}}

    async def test_sighup_reload_and_invalid_reload(self):
        d = self.d
        c = await d.ws()
        await c.request({"type": "subscribe", "channel": "news"})
        s, h, _b = await d.ahttp("GET", "/health")
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "*")

        # 1. Valid new config.
        d.write_config({"server": {"cors_origin": "https://example.test"},
                        "limits": {"max_subscriptions_per_client": 2}})
        n0 = len(d.notify_messages())
        d.signal(signal.SIGHUP)
        i = d.wait_notify("RELOADING=1", timeout=10, start=n0)
        d.wait_notify("READY=1", timeout=10, start=i + 1)
        s, h, _b = await d.ahttp("GET", "/api/stats")
        self.assertEqual(s, 200)
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "https://example.test")
        # The connected client is still there and still receives.
        r = await c.request({"type": "ping", "id": "after-reload"})
        self.assertEqual((r.get("type"), r.get("id")), ("pong", "after-reload"), r)
        s, _h, pub = await d.ahttp_json("POST", "/api/notify/news", {"title": "after reload"})
        self.assertEqual((s, pub.get("delivered")), (200, 1), pub)
        n = await c.recv_until("notification")
        self.assertEqual(n["title"], "after reload")
        self.assertEqual(n["id"], pub["id"])
        # The new subscription limit applies to a new client.
        c2 = await d.ws()
        for ch in ("a", "b"):
            r = await c2.request({"type": "subscribe", "channel": ch})
            self.assertEqual(r.get("type"), "subscribed", r)
        r = await c2.request({"type": "subscribe", "channel": "c"})
        self.assertEqual((r.get("type"), r.get("code")), ("error", "limit_exceeded"), r)

        # 2. Invalid config: keep running with the old one.
        err0 = len(d.stderr_text())
        n1 = len(d.notify_messages())
        d.write_config(config_text=('[server]\nlisten = "127.0.0.1"\nport = 0\n'
                                    'cors_origin = "https://bad.test"\nno_such_key = 1\n'))
        d.signal(signal.SIGHUP)
        m = d.wait_stderr(re.escape(d.config_path) + r":\d+:", timeout=10, start=err0)
        self.assertTrue(m)
        self.assertTrue(d.running(), d.stderr_text())
        s, h, body = await d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "https://example.test",
                         "a rejected reload must keep the old config")
        # If the daemon announced a reload, it must announce READY again.
        later = d.notify_messages()[n1:]
        if any("RELOADING=1" in t.split("\n") for t in later):
            j = d.wait_notify("RELOADING=1", timeout=1, start=n1)
            d.wait_notify("READY=1", timeout=10, start=j + 1)
        r = await c.request({"type": "ping", "id": "after-bad-reload"})
        self.assertEqual(r.get("id"), "after-bad-reload", r)
        s, _h, pub = await d.ahttp_json("POST", "/api/notify/news", {"title": "still here"})
        self.assertEqual((s, pub.get("delivered")), (200, 1), pub)
        n = await c.recv_until("notification")
        self.assertEqual(n["title"], "still here")


class ConfigErrorTest(unittest.TestCase):
    def test_unknown_key_at_start(self):
        text = '[server]\nlisten = "127.0.0.1"\nport = 0\nbogus_key = 1\n'
        d = Daemon(config_text=text, start=False)
        self.addCleanup(d.cleanup)
        with self.assertRaises(AssertionError) as ctx:
            d.start(timeout=10)
        self.assertIn("exited early", str(ctx.exception))
        self.assertEqual(d.proc.returncode, 1, d.stderr_text())
        self.assertIn(f"{d.config_path}:4:", d.stderr_text())
        self.assertFalse(any("READY=1" in t.split("\n") for t in d.notify_messages()))

    def test_unknown_section_at_start(self):
        text = '[server]\nlisten = "127.0.0.1"\nport = 0\n\n[nonsense]\nx = 1\n'
        d = Daemon(config_text=text, start=False)
        self.addCleanup(d.cleanup)
        with self.assertRaises(AssertionError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 1, d.stderr_text())
        self.assertRegex(d.stderr_text(), re.escape(d.config_path) + r":[56]:")

    def test_toml_syntax_error_at_start(self):
        text = '[server]\nlisten = "127.0.0.1"\nport = = 0\n'
        d = Daemon(config_text=text, start=False)
        self.addCleanup(d.cleanup)
        with self.assertRaises(AssertionError):
            d.start(timeout=10)
        self.assertEqual(d.proc.returncode, 1, d.stderr_text())
        self.assertIn(f"{d.config_path}:3:", d.stderr_text())

    def test_missing_config_file(self):
        d = Daemon({}, start=False)
        self.addCleanup(d.cleanup)
        os.unlink(d.config_path)
        with self.assertRaises(AssertionError):
            d.start(timeout=10)
        self.assertNotEqual(d.proc.returncode, 0)
        self.assertIn(d.config_path, d.stderr_text())

    def test_check_config_good(self):
        d = Daemon({"server": {"cors_origin": "https://check.test"},
                    "heartbeat": {"interval": 0.5, "timeout": 2},
                    "limits": {"max_frame_bytes": 12345}}, start=False)
        self.addCleanup(d.cleanup)
        res = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(res.returncode, 0, res.stderr)
        out = res.stdout + res.stderr
        for key in ("listen", "port", "echo", "cors_origin", "interval", "timeout",
                    "max_connections", "max_frame_bytes", "max_body_bytes",
                    "max_subscriptions_per_client", "max_name_bytes", "shutdown_timeout",
                    "level"):
            self.assertIn(key, out, f"--check-config does not print {key}")
        self.assertIn("https://check.test", out)
        self.assertIn("12345", out)
        self.assertIn("127.0.0.1", out)
        self.assertEqual(d.notify_messages(), [], "--check-config must not notify systemd")

    def test_check_config_bad(self):
        text = '[server]\nlisten = "127.0.0.1"\n\n[limits]\nmax_frames = 5\n'
        d = Daemon(config_text=text, start=False)
        self.addCleanup(d.cleanup)
        res = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(f"{d.config_path}:5:", res.stdout + res.stderr)

    def test_check_config_timeout_not_above_interval(self):
        d = Daemon({"heartbeat": {"interval": 10, "timeout": 5}}, start=False)
        self.addCleanup(d.cleanup)
        res = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(d.config_path, res.stdout + res.stderr)

    def test_check_config_wrong_type(self):
        d = Daemon(config_text='[server]\nport = "eighty"\n', start=False)
        self.addCleanup(d.cleanup)
        res = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(f"{d.config_path}:2:", res.stdout + res.stderr)


if __name__ == "__main__":
    unittest.main()
