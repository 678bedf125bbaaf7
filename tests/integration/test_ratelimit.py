"""Rate limits against the real notifyd: publishes per token or client address
(429 with Retry-After after the burst), reload of the limits, new WebSocket
connections per second per address (429 before the upgrade), and the client
address behind a trusted proxy.

These tests talk from loopback, which is a trusted proxy by default: a
trusted proxy speaking for itself is never throttled per address. So the
tests of per-address limits trust no proxy (trusted_proxies = []), and the
proxy tests send X-Forwarded-For."""

import asyncio
import secrets
import signal
import time
import unittest

import websockets.exceptions

from harness import Daemon, DaemonTestCase, render_config

TOKEN_A = "pa-" + secrets.token_hex(16)
TOKEN_B = "pb-" + secrets.token_hex(16)
ADMIN = "ad-" + secrets.token_hex(16)


def refused_of(stats):
    return stats.get("refused", stats)


NO_PROXIES = {"trusted_proxies": []}


class PublishRateTest(DaemonTestCase):
    config = {"server": NO_PROXIES, "limits": {"publish_rate": 1, "publish_burst": 5}}

    def publish(self, title="t", headers=None):
        return self.d.http_json("POST", "/api/notify/news", {"title": title}, headers=headers)

    async def test_burst_then_429_with_retry_after(self):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": "news"})

        def burst():
            return [self.publish(f"n{i}") for i in range(8)]

        results = await asyncio.to_thread(burst)
        statuses = [s for s, _h, _b in results]
        # The burst passes, then 429 (one more may slip through as a token refills).
        self.assertEqual(statuses[:5], [200] * 5, statuses)
        self.assertEqual(statuses[-1], 429, statuses)
        s, h, body = results[-1]
        self.assertEqual(body["error"], "Too many requests", body)
        self.assertIn("details", body)
        retry = h.get("Retry-After")
        self.assertIsNotNone(retry, dict(h))
        self.assertRegex(retry, r"^[1-9][0-9]*$")
        self.assertEqual(h.get("Content-Type"), "application/json")
        self.assertEqual(h.get("Access-Control-Allow-Origin"), "*")

        delivered = [n["title"] for n in
                     [await c.recv_until("notification") for _ in range(statuses.count(200))]]
        self.assertEqual(delivered[:5], [f"n{i}" for i in range(5)])

        s, _h, stats = await self.d.ahttp_json("GET", "/api/stats")
        self.assertEqual(s, 200)  # reads are not rate limited
        self.assertEqual(refused_of(stats).get("publishesRateLimited"), statuses.count(429), stats)

        # After Retry-After seconds a publish goes through again.
        await asyncio.sleep(int(retry) + 0.05)
        s, _h, body = await asyncio.to_thread(self.publish, "later")
        self.assertEqual(s, 200, body)
        self.assertEqual((await c.recv_until("notification"))["title"], "later")

    async def test_reload_changes_the_rate(self):
        results = await asyncio.to_thread(lambda: [self.publish() for _ in range(7)])
        self.assertEqual(results[-1][0], 429)
        self.d.write_config({"server": NO_PROXIES, "limits": {"publish_rate": 0}})
        err0 = len(self.d.stderr_text())
        self.d.signal(signal.SIGHUP)
        self.d.wait_stderr("configuration reloaded", start=err0)
        results = await asyncio.to_thread(lambda: [self.publish() for _ in range(50)])
        self.assertEqual({s for s, _h, _b in results}, {200})


class PublishRatePerTokenTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        asyncio.get_running_loop().slow_callback_duration = 30

    async def test_each_token_has_its_own_bucket(self):
        text = render_config({"limits": {"publish_rate": 0.5, "publish_burst": 2}})
        text += (f'\n[[auth.publish]]\ntoken = "{TOKEN_A}"\n'
                 f'\n[[auth.publish]]\ntoken = "{TOKEN_B}"\n'
                 f'\n[[auth.admin]]\ntoken = "{ADMIN}"\n')
        d = Daemon(config_text=text, start=False)
        self.addCleanup(d.cleanup)
        d.start()

        def publish(token):
            return d.http_json("POST", "/api/notify/news", {"title": "t"},
                               headers={"Authorization": f"Bearer {token}"})[:2]

        def run():
            return ([publish(TOKEN_A)[0] for _ in range(3)],
                    publish(TOKEN_A)[1].get("Retry-After"),
                    [publish(TOKEN_B)[0] for _ in range(2)],
                    publish("wrong-" + TOKEN_A)[0])

        a, retry, b, wrong = await asyncio.to_thread(run)
        self.assertEqual(a, [200, 200, 429])
        self.assertIn(retry, ("1", "2"))  # 0.5 per second: at most 2 s
        self.assertEqual(b, [200, 200], "token B must not share token A's bucket")
        self.assertEqual(wrong, 401)
        s, _h, stats = await d.ahttp_json("GET", "/api/stats",
                                          headers={"Authorization": f"Bearer {ADMIN}"})
        self.assertEqual(s, 200, stats)
        self.assertEqual(refused_of(stats).get("publishesRateLimited"), 2, stats)
        self.assertEqual(d.stop(), 0, d.stderr_text())
        for token in (TOKEN_A, TOKEN_B, ADMIN):
            self.assertNotIn(token, d.stderr_text())


class ConnectionRateTest(DaemonTestCase):
    config = {"server": NO_PROXIES, "limits": {"connection_rate": 1, "connection_burst": 3}}

    async def test_new_connections_over_the_rate_get_429(self):
        clients = [await self.d.ws() for _ in range(3)]
        t0 = time.monotonic()
        try:
            extra = await self.d.ws()
        except websockets.exceptions.InvalidStatusCode as e:
            status, headers = e.status_code, e.headers
        else:
            # Accepted: only right when a token had time to refill (1/s).
            elapsed = time.monotonic() - t0
            await extra.close()
            if elapsed >= 0.9:
                self.skipTest(f"the machine took {elapsed:.2f}s to open one connection")
            self.fail(f"a 4th connection within {elapsed:.2f}s was accepted over a burst of 3")
        self.assertEqual(status, 429)
        retry = headers.get("Retry-After")
        self.assertIsNotNone(retry, dict(headers))
        self.assertRegex(retry, r"^[1-9][0-9]*$")
        # The open clients are unaffected.
        for c in clients:
            r = await c.request({"type": "ping"})
            self.assertEqual(r["type"], "pong")
        s, _h, stats = await self.d.ahttp_json("GET", "/api/stats")
        self.assertEqual(refused_of(stats).get("connectionsRateLimited"), 1, stats)
        # HTTP requests are not connections in this sense.
        s, _h, _b = await self.d.ahttp("GET", "/health")
        self.assertEqual(s, 200)
        await asyncio.sleep(int(retry) + 0.05)
        c = await self.d.ws()
        self.assertEqual(c.welcome["type"], "welcome")


class PublishRateBehindAProxyTest(DaemonTestCase):
    """The default trusted_proxies (loopback): the local peer is a proxy."""
    config = {"limits": {"publish_rate": 1, "publish_burst": 3}}

    def publish(self, forwarded_for=None):
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
        return self.d.http_json("POST", "/api/notify/news", {"title": "t"}, headers=headers)[0]

    async def test_limit_per_forwarded_client_and_none_for_the_proxy(self):
        def run():
            return ([self.publish() for _ in range(10)],
                    [self.publish("127.0.0.7") for _ in range(5)],
                    self.publish("127.0.0.8"),
                    [self.publish("unknown") for _ in range(5)])

        own, first, second, garbage = await asyncio.to_thread(run)
        self.assertEqual(own, [200] * 10, "the proxy's own requests must not be throttled")
        self.assertEqual(first[:3], [200] * 3, first)
        self.assertEqual(first[-1], 429, first)
        self.assertEqual(second, 200, "another forwarded client has its own bucket")
        # An unusable header falls back to the peer, which is then limited.
        self.assertEqual(garbage[:3], [200] * 3, garbage)
        self.assertEqual(garbage[-1], 429, garbage)

    async def test_forwarded_remote_client_is_not_loopback(self):
        s = await asyncio.to_thread(self.publish, "198.51.100.20")
        self.assertEqual(s, 403)


if __name__ == "__main__":
    unittest.main()
