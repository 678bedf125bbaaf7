"""Access tokens against the real notifyd: literal and from files
($CREDENTIALS_DIRECTORY), 401/403 on the HTTP API, the subscribe token on /ws
(?token= and Authorization), token changes on SIGHUP without dropping a
client, and no token text in the daemon's stderr or --check-config output.
Without tokens, the browser-safety rules of loopback trust: a loopback Host
(or one in allowed_hosts) and no foreign Origin (unless in allowed_origins)."""

import asyncio
import os
import re
import secrets
import signal
import unittest

import websockets.exceptions

from harness import Daemon, DaemonTestCase, render_config

# Fresh tokens per run, so a match in the log cannot be a coincidence.
SUB = "sub-" + secrets.token_hex(16)
PUB = "pub-" + secrets.token_hex(16)      # backups-* and alerts only
PUB_ALL = "all-" + secrets.token_hex(16)  # every channel
ADMIN = "adm-" + secrets.token_hex(16)
WRONG = "wrong-" + secrets.token_hex(16)
ALL_TOKENS = (SUB, PUB, PUB_ALL, ADMIN, WRONG)


def auth_text(subscribe=None, publish=(), admin=(), level="info"):
    """Config text: the harness base plus [auth]. publish is a list of
    (key, value, channels) with key "token" or "token_file"; admin a list of
    (key, value)."""
    text = render_config({"log": {"level": level}, "limits": {"publish_rate": 0}})
    text += "\n[auth]\n"
    if subscribe:
        text += f'{subscribe[0]} = "{subscribe[1]}"\n'
    for key, value, channels in publish:
        text += f'\n[[auth.publish]]\n{key} = "{value}"\n'
        if channels:
            text += "channels = [" + ", ".join(f'"{c}"' for c in channels) + "]\n"
    for key, value in admin:
        text += f'\n[[auth.admin]]\n{key} = "{value}"\n'
    return text


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class AuthTestBase(unittest.IsolatedAsyncioTestCase):
    """Starts a daemon per test from config_text() and checks at the end that
    it is still running, exits 0 on SIGTERM and never wrote a token."""

    env = None

    def config_text(self):
        return auth_text(publish=[("token", PUB, ["backups-*", "alerts"]),
                                  ("token", PUB_ALL, None)],
                         admin=[("token", ADMIN)])

    async def asyncSetUp(self):
        asyncio.get_running_loop().slow_callback_duration = 30
        self.d = Daemon(config_text=self.config_text(), env=self.env, start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    async def asyncTearDown(self):
        await self.d.close_clients()
        self.assertTrue(self.d.running(), self.d.stderr_text())
        self.assertEqual(self.d.stop(), 0, self.d.stderr_text())
        self.assert_no_token(self.d.stderr_text() + self.d.stdout_text())

    def assert_no_token(self, text):
        for token in ALL_TOKENS + getattr(self, "extra_tokens", ()):
            self.assertNotIn(token, text, "a token was written out")
            self.assertNotIn(token[4:], text, "part of a token was written out")

    async def publish(self, channel, token=None, title="t"):
        headers = bearer(token) if token else None
        return await self.d.ahttp_json("POST", f"/api/notify/{channel}", {"title": title},
                                       headers=headers)


class HttpTokenTest(AuthTestBase):
    async def test_missing_and_wrong_token_are_401(self):
        for headers in (None, bearer(WRONG), {"Authorization": f"Basic {ADMIN}"}):
            s, h, body = await self.d.ahttp_json("POST", "/api/notify/news", {"title": "x"},
                                                 headers=headers)
            self.assertEqual(s, 401, body)
            self.assertEqual(body["error"], "Unauthorized", body)
            self.assertTrue(h.get("WWW-Authenticate", "").startswith("Bearer"), dict(h))
            self.assertEqual(h.get("Access-Control-Allow-Origin"), "*")
            s, h, body = await self.d.ahttp_json("GET", "/api/stats", headers=headers)
            self.assertEqual(s, 401, body)
        s, _h, body = await self.d.ahttp_json("GET", "/api/stats", headers=bearer(WRONG))
        self.assertEqual(body.get("error"), "Unauthorized")
        self.assertNotIn(WRONG, str(body))

    async def test_publish_token_within_and_outside_its_channels(self):
        c = await self.d.ws()
        for ch in ("backups-nightly", "alerts", "news"):
            await c.request({"type": "subscribe", "channel": ch})
        s, _h, r = await self.publish("backups-nightly", PUB, "ok")
        self.assertEqual((s, r.get("delivered")), (200, 1), r)
        n = await c.recv_until("notification")
        self.assertEqual((n["channel"], n["title"]), ("backups-nightly", "ok"))
        s, _h, r = await self.publish("news", PUB)
        self.assertEqual(s, 403, r)
        self.assertEqual(r["error"], "Forbidden")
        s, _h, r = await self.publish("news", PUB_ALL, "all")
        self.assertEqual(s, 200, r)
        s, _h, r = await self.publish("news", ADMIN, "admin")
        self.assertEqual(s, 200, r)
        titles = [(await c.recv_until("notification"))["title"] for _ in range(2)]
        self.assertEqual(titles, ["all", "admin"])

    async def test_reading_needs_an_admin_token(self):
        for path in ("/api/stats", "/api/channels", "/api/clients"):
            for token in (PUB, PUB_ALL):
                s, _h, r = await self.d.ahttp_json("GET", path, headers=bearer(token))
                self.assertEqual((s, r.get("error")), (403, "Forbidden"), (path, r))
            s, _h, r = await self.d.ahttp_json("GET", path, headers=bearer(ADMIN))
            self.assertEqual(s, 200, (path, r))
        await self.publish("news")                 # 401
        await self.publish("news", PUB)            # 403
        s, _h, stats = await self.d.ahttp_json("GET", "/api/stats", headers=bearer(ADMIN))
        refused = stats.get("refused", stats)
        self.assertEqual(refused.get("authFailures"), 1, stats)
        self.assertEqual(refused.get("forbidden"), 7, stats)

    async def test_health_and_options_stay_open(self):
        s, _h, body = await self.d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))
        s, _h, _b = await self.d.ahttp("OPTIONS", "/api/notify/news")
        self.assertEqual(s, 200)


    async def test_tokens_work_from_any_origin_and_host(self):
        headers = dict(bearer(ADMIN), Host="evil.example", Origin="http://evil.example")
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/news", {"title": "x"},
                                           headers=headers)
        self.assertEqual(s, 200, r)
        s, _h, r = await self.d.ahttp_json("GET", "/api/clients", headers=headers)
        self.assertEqual(s, 200, r)
        headers["Origin"] = "null"
        s, _h, r = await self.d.ahttp_json("GET", "/api/stats", headers=headers)
        self.assertEqual(s, 200, r)


class TokenFileTest(AuthTestBase):
    """token_file, relative to $CREDENTIALS_DIRECTORY and absolute."""

    def config_text(self):
        self.creds = os.path.join(self.tmp, "credentials")
        return auth_text(publish=[("token_file", "publish", ["alerts"])],
                         admin=[("token_file", os.path.join(self.tmp, "admin.token"))])

    async def asyncSetUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="notifyd-creds-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.tmp, ignore_errors=True))
        os.makedirs(os.path.join(self.tmp, "credentials"))
        with open(os.path.join(self.tmp, "credentials", "publish"), "w") as f:
            f.write(PUB + "\n")
        with open(os.path.join(self.tmp, "admin.token"), "w") as f:
            f.write(f"  {ADMIN}\n\n")
        self.env = {"CREDENTIALS_DIRECTORY": os.path.join(self.tmp, "credentials")}
        await super().asyncSetUp()

    async def test_tokens_from_files(self):
        s, _h, r = await self.publish("alerts", PUB)
        self.assertEqual(s, 200, r)
        s, _h, r = await self.publish("news", PUB)
        self.assertEqual(s, 403, r)
        s, _h, r = await self.d.ahttp_json("GET", "/api/stats", headers=bearer(ADMIN))
        self.assertEqual(s, 200, r)

    async def test_check_config_names_files_not_tokens(self):
        cp = self.d.run_cli(["--check-config", "--config", self.d.config_path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn('token_file = "publish"', cp.stdout)
        self.assertIn("[[auth.admin]]", cp.stdout)
        self.assert_no_token(cp.stdout + cp.stderr)

    async def test_changed_token_file_applies_on_sighup(self):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": "alerts"})
        new = "new-" + secrets.token_hex(16)
        self.extra_tokens = (new,)
        with open(os.path.join(self.creds, "publish"), "w") as f:
            f.write(new)
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        s, _h, r = await self.publish("alerts", PUB)
        self.assertEqual(s, 401, r)
        s, _h, r = await self.publish("alerts", new, "after")
        self.assertEqual((s, r.get("delivered")), (200, 1), r)
        self.assertEqual((await c.recv_until("notification"))["title"], "after")

    async def test_unreadable_token_file_on_reload_keeps_the_old_tokens(self):
        os.unlink(os.path.join(self.creds, "publish"))
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        m = self.d.wait_stderr(re.escape(self.d.config_path) + r":\d+: auth\.publish\[1\]"
                               r"\.token_file: cannot read", start=err0)
        self.assertTrue(m)
        s, _h, r = await self.publish("alerts", PUB)
        self.assertEqual(s, 200, r)


class BrowserSafetyTest(DaemonTestCase):
    """No tokens: what a web page open on this machine may and may not do."""

    def send(self, method, path, headers, body=None):
        return self.d.http_json(method, path, body=body, headers=headers)

    async def expect_403(self, method, path, headers, mentions, body=None):
        s, h, r = await asyncio.to_thread(self.send, method, path, headers, body)
        self.assertEqual((s, r and r.get("error")), (403, "Forbidden"), (path, headers, r))
        self.assertIn(mentions, r.get("details", ""), r)
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "*")

    async def test_dns_rebinding_host_is_refused(self):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": "news"})
        port = self.d.port
        for host in ("evil.example", f"evil.example:{port}", f"localhost.evil.example:{port}"):
            # A text/plain POST: a page sends it without a preflight.
            await self.expect_403("POST", "/api/notify/news",
                                  {"Host": host, "Content-Type": "text/plain"},
                                  "allowed_hosts", body=b"pwned")
            for path in ("/api/clients", "/api/channels", "/api/stats"):
                await self.expect_403("GET", path, {"Host": host}, "allowed_hosts")
        s, _h, body = await self.d.ahttp("GET", "/health", headers={"Host": "evil.example"})
        self.assertEqual((s, body), (200, b"OK"))
        # Nothing was published: the next notification is the marker.
        s, _h, _r = await self.d.ahttp_json("POST", "/api/notify/news", {"title": "marker"})
        self.assertEqual(s, 200)
        self.assertEqual((await c.recv_until("notification"))["title"], "marker")

    async def test_loopback_hosts_are_trusted(self):
        port = self.d.port
        for host in ("localhost", f"LocalHost:{port}", f"127.0.0.1:{port}", "[::1]",
                     f"[::1]:{port}"):
            s, _h, r = await self.d.ahttp_json("GET", "/api/stats", headers={"Host": host})
            self.assertEqual(s, 200, (host, r))

    async def test_foreign_origin_is_refused(self):
        port = self.d.port
        for origin in ("http://evil.example", "null", f"https://127.0.0.1:{port}",
                       f"http://localhost:{port + 1 if port < 65535 else 1}"):
            await self.expect_403("POST", "/api/notify/news",
                                  {"Origin": origin, "Content-Type": "text/plain"},
                                  "allowed_origins", body=b"pwned")
            await self.expect_403("GET", "/api/clients", {"Origin": origin}, "allowed_origins")
        # The same origin (a page served from this very host and port) passes.
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/news", {"title": "same"},
                                           headers={"Origin": f"http://127.0.0.1:{port}"})
        self.assertEqual(s, 200, r)

    async def test_websocket_is_not_privileged(self):
        c = await self.d.ws(origin="http://evil.example")
        self.assertEqual(c.welcome["type"], "welcome")

    async def test_allowed_hosts_and_origins_apply_on_reload(self):
        headers = {"Host": "notify.test", "Origin": "https://app.test"}
        await self.expect_403("GET", "/api/stats", headers, "allowed_hosts")
        self.d.write_config({"server": {"allowed_hosts": ["notify.test"]}})
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        await self.expect_403("GET", "/api/stats", headers, "allowed_origins")
        self.d.write_config({"server": {"allowed_hosts": ["notify.test"],
                                        "allowed_origins": ["https://app.test"]}})
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        s, _h, r = await self.d.ahttp_json("GET", "/api/stats", headers=headers)
        self.assertEqual(s, 200, r)


class StartupErrorTest(unittest.TestCase):
    def test_missing_credentials_directory_stops_the_start(self):
        d = Daemon(config_text=auth_text(admin=[("token_file", "admin")]), start=False,
                   env={"CREDENTIALS_DIRECTORY": ""})
        self.addCleanup(d.cleanup)
        cp = d.run_cli(["--config", d.config_path])
        self.assertNotEqual(cp.returncode, 0)
        self.assertRegex(cp.stderr, re.escape(d.config_path) +
                         r":\d+: auth\.admin\[1\]\.token_file: relative path \"admin\" needs "
                         r"\$CREDENTIALS_DIRECTORY")

    def test_bad_literal_token_is_named_not_shown(self):
        bad = "short"
        d = Daemon(config_text=auth_text(admin=[("token", bad)]), start=False)
        self.addCleanup(d.cleanup)
        cp = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("auth.admin[1].token: too short", cp.stderr)
        self.assertNotIn('"short"', cp.stderr + cp.stdout)

    def test_check_config_redacts_literal_tokens(self):
        d = Daemon(config_text=auth_text(subscribe=("subscribe_token", SUB),
                                         publish=[("token", PUB, ["alerts"])],
                                         admin=[("token", ADMIN)]), start=False)
        self.addCleanup(d.cleanup)
        cp = d.run_cli(["--check-config", "--config", d.config_path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.count('token = "<redacted>"'), 3, cp.stdout)
        for token in ALL_TOKENS:
            self.assertNotIn(token, cp.stdout + cp.stderr)


class ReloadTokenTest(AuthTestBase):
    async def test_sighup_swaps_tokens_and_keeps_clients(self):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": "news"})
        new_admin = "adm2-" + secrets.token_hex(16)
        self.extra_tokens = (new_admin,)
        self.d.write_config(config_text=auth_text(admin=[("token", new_admin)]))
        n0 = len(self.d.notify_messages())
        self.d.signal(signal.SIGHUP)
        i = self.d.wait_notify("RELOADING=1", start=n0)
        self.d.wait_notify("READY=1", start=i + 1)
        s, _h, r = await self.publish("news", ADMIN)
        self.assertEqual(s, 401, r)
        s, _h, r = await self.publish("alerts", PUB)
        self.assertEqual(s, 401, r)
        s, _h, r = await self.publish("news", new_admin, "after reload")
        self.assertEqual((s, r.get("delivered")), (200, 1), r)
        n = await c.recv_until("notification")
        self.assertEqual(n["title"], "after reload")
        r = await c.request({"type": "ping", "id": 7})
        self.assertEqual(r.get("type"), "pong", r)

        # Back to no tokens: the loopback rule again, the client still there.
        self.d.write_config(config_text=auth_text())
        n1 = len(self.d.notify_messages())
        self.d.signal(signal.SIGHUP)
        i = self.d.wait_notify("RELOADING=1", start=n1)
        self.d.wait_notify("READY=1", start=i + 1)
        s, _h, r = await self.publish("news", None, "open again")
        self.assertEqual((s, r.get("delivered")), (200, 1), r)
        self.assertEqual((await c.recv_until("notification"))["title"], "open again")


class SubscribeTokenTest(AuthTestBase):
    def config_text(self):
        return auth_text(subscribe=("subscribe_token", SUB),
                         publish=[("token", PUB_ALL, None)], admin=[("token", ADMIN)],
                         level="debug")

    async def refused(self, path, **kwargs):
        """The HTTP status of a refused upgrade, or None when it was accepted."""
        try:
            await self.d.ws(path, **kwargs)
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
        return None

    async def require_wired(self):
        status = await self.refused("/ws")
        if status is None:
            self.skipTest("the transport does not call Api::AuthorizeSubscribe yet")
        return status

    async def test_ws_needs_the_token(self):
        self.assertEqual(await self.require_wired(), 401)
        self.assertEqual(await self.refused(f"/ws?token={WRONG}"), 401)
        self.assertEqual(await self.refused("/ws", extra_headers=bearer(WRONG)), 401)
        self.assertEqual(await self.refused(f"/ws?token={PUB_ALL}"), 403)
        c = await self.d.ws(f"/ws?token={SUB}")
        self.assertEqual(c.welcome["type"], "welcome")
        c2 = await self.d.ws("/ws", extra_headers=bearer(SUB))
        self.assertEqual(c2.welcome["type"], "welcome")
        c3 = await self.d.ws(f"/ws?token={ADMIN}")
        self.assertEqual(c3.welcome["type"], "welcome")
        s, _h, stats = await self.d.ahttp_json("GET", "/api/stats", headers=bearer(ADMIN))
        refused = stats.get("refused", stats)
        self.assertEqual(refused.get("authFailures"), 3, stats)  # require_wired + 2 wrong
        self.assertEqual(refused.get("forbidden"), 1, stats)

    async def test_refused_upgrade_has_a_json_body_and_challenge(self):
        await self.require_wired()
        raw = self.d.raw_http(
            f"GET /ws?token={WRONG} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.assertTrue(raw.startswith(b"HTTP/1.1 401"), raw[:200])
        head, _sep, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"www-authenticate: bearer", head.lower())
        self.assertIn(b'"error":"Unauthorized"', body)
        self.assertNotIn(WRONG.encode(), raw)

    async def test_token_changes_on_sighup_keep_subscribers(self):
        await self.require_wired()
        c = await self.d.ws(f"/ws?token={SUB}")
        await c.request({"type": "subscribe", "channel": "news"})
        new_sub = "sub2-" + secrets.token_hex(16)
        self.extra_tokens = (new_sub,)
        self.d.write_config(config_text=auth_text(subscribe=("subscribe_token", new_sub),
                                                  admin=[("token", ADMIN)], level="debug"))
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        self.assertEqual(await self.refused(f"/ws?token={SUB}"), 401)
        c2 = await self.d.ws(f"/ws?token={new_sub}")
        await c2.request({"type": "subscribe", "channel": "news"})
        s, _h, r = await self.publish("news", ADMIN, "both")
        self.assertEqual((s, r.get("delivered")), (200, 2), r)
        for client in (c, c2):
            self.assertEqual((await client.recv_until("notification"))["title"], "both")

    async def test_no_token_in_debug_log(self):
        # Every way a token can reach the daemon, at log level debug; the
        # teardown checks stderr for every token.
        await self.refused(f"/ws?token={WRONG}")
        await self.refused("/ws", extra_headers=bearer(WRONG))
        await self.refused(f"/ws?token={PUB_ALL}")
        await self.refused(f"/ws/nope?token={SUB}")  # refused before any token check: 404
        c = await self.d.ws(f"/ws?token={SUB}")
        await c.request({"type": "subscribe", "channel": "news"})
        await self.publish("news", WRONG)
        await self.publish("news", PUB_ALL)
        await self.d.ahttp_json("GET", f"/api/stats?token={ADMIN}")
        await self.d.ahttp("GET", f"/nope?token={SUB}", headers=bearer(SUB))
        await self.d.ahttp("GET", f"/ws?token={SUB}")  # plain GET: 426
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        self.assertIn("http", self.d.stderr_text())  # the log is not empty


if __name__ == "__main__":
    unittest.main()
