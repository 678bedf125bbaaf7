"""Nothing lost, nothing leaked: many notifications to many subscribers, a
client that stops reading, connection churn, and clients sending garbage,
all against the real daemon."""

import asyncio
import json
import os
import random
import threading
import unittest

from harness import Daemon, async_wait_until

# Sanitizer builds keep freed memory in quarantine: RSS says nothing there.
SANITIZED = os.environ.get("NOTIFYD_SANITIZED") == "1"

# Rate limits off: these tests open many connections and publish fast from
# one address on purpose.
NO_RATE_LIMITS = {"connection_rate": 0, "publish_rate": 0}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def publish_many(d, channel, count, size=0, errors=None):
    """Publishes `count` notifications to `channel` in order, body "<i>:<pad>"."""
    pad = "x" * size
    for i in range(count):
        status, _, body = d.http_json("POST", f"/api/notify/{channel}",
                                      {"title": channel, "body": f"{i}:{pad}"})
        if status != 200:
            if errors is not None:
                errors.append((channel, i, status, body))
            return


class LoadTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        # unittest runs the loop in debug mode, which slows these tests tenfold.
        asyncio.get_running_loop().set_debug(False)

    def tearDown(self):
        if getattr(self, "d", None):
            self.d.cleanup()

    async def test_10000_notifications_50_subscribers_exactly_once_in_order(self):
        self.d = Daemon({"limits": NO_RATE_LIMITS})
        channels = [f"ch{i}" for i in range(5)]
        per_channel = 2000
        clients = []
        for i in range(50):
            c = await self.d.ws("/ws", max_queue=None)
            mine = [channels[i % 5], channels[(i + 1) % 5]]
            for ch in mine:
                self.assertEqual((await c.request({"type": "subscribe", "channel": ch}))["type"],
                                 "subscribed")
            clients.append((c, mine))

        errors = []
        publishers = [threading.Thread(target=publish_many, args=(self.d, ch, per_channel),
                                       kwargs={"errors": errors}) for ch in channels]
        for t in publishers:
            t.start()

        async def collect(c, mine):
            seen = {ch: [] for ch in mine}
            for _ in range(per_channel * len(mine)):
                msg = await c.recv_until("notification", timeout=60)
                seen[msg["channel"]].append(int(msg["body"].split(":")[0]))
            return seen

        results = await asyncio.gather(*(collect(c, mine) for c, mine in clients))
        for t in publishers:
            await asyncio.to_thread(t.join, 60)
        self.assertEqual(errors, [])
        for (c, mine), seen in zip(clients, results):
            for ch in mine:
                self.assertEqual(seen[ch], list(range(per_channel)), f"{c.client_id} on {ch}")
        _, _, stats = self.d.http_json("GET", "/api/stats")
        self.assertEqual(stats["published"], per_channel * 5)
        self.assertEqual(stats["delivered"], per_channel * 5 * 20)
        await self.d.close_clients()
        self.assertEqual(self.d.stop(), 0)

    async def test_client_that_stops_reading_is_dropped_and_memory_stays_bounded(self):
        cap = 1 << 20
        self.d = Daemon({"limits": dict(NO_RATE_LIMITS, max_queued_bytes_per_client=cap)})
        stalled = await self.d.raw_ws("/ws")
        self.assertEqual((await stalled.recv_json())["type"], "welcome")
        self.assertEqual((await stalled.request({"type": "subscribe", "channel": "flood"}))["type"],
                         "subscribed")
        good = await self.d.ws("/ws", max_queue=None)
        await good.request({"type": "subscribe", "channel": "flood"})
        base = rss_kib(self.d.pid)

        count, size = 1600, 32 * 1024  # about 50 MB in all
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], rss_kib(self.d.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        errors = []
        publisher = threading.Thread(target=publish_many, args=(self.d, "flood", count, size),
                                     kwargs={"errors": errors})
        publisher.start()
        try:
            for i in range(count):
                msg = await good.recv_until("notification", timeout=30)
                self.assertEqual(int(msg["body"].split(":")[0]), i)
        finally:
            await asyncio.to_thread(publisher.join, 60)
            done.set()
            await asyncio.to_thread(sampler.join, 10)
        self.assertEqual(errors, [])

        # The stalled client was dropped, counted and logged with its id.
        _, _, stats = self.d.http_json("GET", "/api/stats")
        self.assertEqual(stats["refused"]["slowClientsDropped"], 1)
        self.assertRegex(self.d.stderr_text(), r"dropped: more than \d+ bytes queued")
        # It is closed (1008) or, if the close cannot get through, cut off.
        await async_wait_until(
            lambda: self.d.http_json("GET", "/api/stats")[2]["connections"] == 1,
            timeout=10, what="the stalled client is disconnected")
        # Bounded: the 50 MB never piled up in the server.
        growth_mib = (peak[0] - base) / 1024
        if not SANITIZED:
            self.assertLess(growth_mib, 24, f"RSS grew by {growth_mib:.1f} MiB")
        stalled.abort()
        await self.d.close_clients()
        self.assertEqual(self.d.stop(), 0)

    async def test_connection_churn_does_not_leak(self):
        self.d = Daemon({"limits": NO_RATE_LIMITS})
        rounds, per_round = 20, 1000
        rss = []
        for r in range(rounds):
            for start in range(0, per_round, 100):
                batch = await asyncio.gather(*(self.d.ws("/ws") for _ in range(100)))
                await asyncio.gather(*(c.request({"type": "subscribe",
                                                  "channel": f"c{(start + k) % 50}"})
                                       for k, c in enumerate(batch)))
                # Half close cleanly, half drop the TCP connection.
                for k, c in enumerate(batch):
                    if k % 2:
                        c.conn.transport.abort()
                await asyncio.gather(*(c.close() for k, c in enumerate(batch) if k % 2 == 0))
                self.d._clients.clear()

            def idle():
                _, _, s = self.d.http_json("GET", "/api/stats")
                return s["connections"] == 0 and s["channels"] == 0
            await async_wait_until(idle, timeout=30, what="all clients gone")
            rss.append(rss_kib(self.d.pid))
        ratio = rss[-1] / rss[1]
        if not SANITIZED:
            self.assertLess(ratio, 1.10, f"RSS per round (KiB): {rss}")
        self.assertEqual(self.d.stop(), 0)

    async def test_garbage_senders_do_not_disturb_a_good_client(self):
        self.d = Daemon({"limits": NO_RATE_LIMITS})
        good = await self.d.ws("/ws", max_queue=None)
        await good.request({"type": "subscribe", "channel": "news"})
        rng = random.Random(4)
        stop = asyncio.Event()

        async def garbage(i):
            r = await self.d.raw_ws("/ws")
            sent = 0
            while not stop.is_set() and sent < 200:
                kind = rng.randrange(4)
                try:
                    if kind == 0:
                        await r.send_frame(0x1, bytes(rng.randrange(256) for _ in range(50)))
                    elif kind == 1:
                        await r.send_frame(0x2, os.urandom(100))
                    elif kind == 2:
                        await r.send_text('{"type":' + "[" * 200)
                    else:
                        await r.send_text(json.dumps({"type": "subscribe", "channel": 5}))
                except (ConnectionError, EOFError):
                    return  # the server closed this one (e.g. 1007): fine
                sent += 1
                await asyncio.sleep(0)

        senders = [asyncio.create_task(garbage(i)) for i in range(100)]
        errors = []
        publisher = threading.Thread(target=publish_many, args=(self.d, "news", 500),
                                     kwargs={"errors": errors})
        publisher.start()
        for i in range(500):
            msg = await good.recv_until("notification", timeout=30)
            self.assertEqual(int(msg["body"].split(":")[0]), i)
        stop.set()
        await asyncio.gather(*senders, return_exceptions=True)
        await asyncio.to_thread(publisher.join, 60)
        self.assertEqual(errors, [])
        self.assertTrue(self.d.running())
        for c in self.d._clients:
            if hasattr(c, "abort"):
                c.abort()
        await good.close()
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
