"""Delivery semantics: who receives, exactly once, in order; cleanup on disconnect."""

import asyncio
import unittest

from harness import DaemonTestCase, async_wait_until

N = 200


class DeliveryTest(DaemonTestCase):
    # These tests publish hundreds of notifications at once from one address.
    config = {"limits": {"publish_rate": 0}}
    async def publish(self, channel, payload):
        s, _h, r = await self.d.ahttp_json("POST", f"/api/notify/{channel}", payload)
        self.assertEqual(s, 200, r)
        return r

    async def drain_until_marker(self, client, marker_title):
        """Notifications received before the marker notification (exclusive)."""
        got = []
        for _ in range(N * 2 + 10):
            n = await client.recv_until("notification", timeout=10)
            if n["channel"] == "marker" and n["title"] == marker_title:
                return got
            got.append(n)
        self.fail("marker never arrived")

    async def test_ordered_exactly_once_only_to_subscribers(self):
        subs = [await self.d.ws() for _ in range(3)]
        other = await self.d.ws()
        for c in subs:
            await c.request({"type": "subscribe", "channel": "news"})
        for c in subs + [other]:
            await c.request({"type": "subscribe", "channel": "marker"})
        await other.request({"type": "subscribe", "channel": "sports"})

        def publish_all():
            out = []
            for i in range(N):
                s, _h, r = self.d.http_json("POST", "/api/notify/news",
                                            {"title": f"n{i}", "body": str(i), "data": {"i": i}})
                out.append((s, r))
            return out

        results = await asyncio.to_thread(publish_all)
        for i, (s, r) in enumerate(results):
            self.assertEqual(s, 200, (i, r))
            self.assertEqual(r["delivered"], 3, (i, r))
        ids = [r["id"] for _s, r in results]
        self.assertEqual(len(set(ids)), N, "notification ids are not unique within the channel")

        r = await self.publish("marker", {"title": "end"})
        self.assertEqual(r["delivered"], 4, r)
        for k, c in enumerate(subs):
            got = await self.drain_until_marker(c, "end")
            self.assertEqual(len(got), N, f"subscriber {k} got {len(got)} of {N}")
            self.assertEqual([n["data"]["i"] for n in got], list(range(N)),
                             f"subscriber {k}: wrong order or duplicates")
            self.assertEqual([n["id"] for n in got], ids, f"subscriber {k}: ids differ")
            self.assertTrue(all(n["channel"] == "news" for n in got))
        got = await self.drain_until_marker(other, "end")
        self.assertEqual(got, [], "a non-subscriber received notifications")

    async def test_unsubscribe_stops_delivery(self):
        a = await self.d.ws()
        b = await self.d.ws()
        for c in (a, b):
            await c.request({"type": "subscribe", "channel": "news"})
            await c.request({"type": "subscribe", "channel": "marker"})
        r = await self.publish("news", {"title": "first"})
        self.assertEqual(r["delivered"], 2)
        await a.request({"type": "unsubscribe", "channel": "news"})
        r = await self.publish("news", {"title": "second"})
        self.assertEqual(r["delivered"], 1)
        await self.publish("marker", {"title": "end"})
        got_a = await self.drain_until_marker(a, "end")
        got_b = await self.drain_until_marker(b, "end")
        self.assertEqual([n["title"] for n in got_a], ["first"])
        self.assertEqual([n["title"] for n in got_b], ["first", "second"])

    async def test_several_channels_per_client(self):
        a = await self.d.ws()
        for ch in ("news", "sports", "marker"):
            await a.request({"type": "subscribe", "channel": ch})
        await self.publish("news", {"title": "n"})
        await self.publish("weather", {"title": "w"})
        await self.publish("sports", {"title": "s"})
        await self.publish("marker", {"title": "end"})
        got = await self.drain_until_marker(a, "end")
        self.assertEqual([(n["channel"], n["title"]) for n in got],
                         [("news", "n"), ("sports", "s")])

    async def channel_subscribers(self):
        _s, _h, obj = await self.d.ahttp_json("GET", "/api/channels")
        return {c["name"]: c["subscribers"] for c in obj["channels"]}

    async def stats(self):
        _s, _h, obj = await self.d.ahttp_json("GET", "/api/stats")
        return obj

    async def test_disconnect_cleanup(self):
        a = await self.d.ws()
        b = await self.d.ws()
        await a.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "solo"})
        self.assertEqual(await self.channel_subscribers(), {"news": 2, "solo": 1})
        r = await self.publish("news", {"title": "x"})
        self.assertEqual(r["delivered"], 2)

        await b.close()

        async def cleaned():
            return (await self.channel_subscribers() == {"news": 1}
                    and (await self.stats())["connections"] == 1)

        await async_wait_until(cleaned, timeout=5, what="cleanup after a clean close")
        st = await self.stats()
        self.assertEqual(st["channels"], 1, st)
        r = await self.publish("news", {"title": "y"})
        self.assertEqual(r["delivered"], 1, r)
        _s, _h, clients = await self.d.ahttp_json("GET", "/api/clients")
        self.assertEqual([c["id"] for c in clients["clients"]], [a.client_id])

        await a.close()

        async def empty():
            st = await self.stats()
            return (await self.channel_subscribers() == {}
                    and st["connections"] == 0 and st["channels"] == 0)

        await async_wait_until(empty, timeout=5, what="no channels and no connections")
        r = await self.publish("news", {"title": "z"})
        self.assertEqual(r["delivered"], 0, r)

    async def test_abrupt_disconnect_cleanup(self):
        raw = await self.d.raw_ws()
        await raw.recv_json()
        r = await raw.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(r["type"], "subscribed", r)
        self.assertEqual(await self.channel_subscribers(), {"news": 1})
        raw.abort()  # TCP gone, no close frame

        async def cleaned():
            return (await self.channel_subscribers() == {}
                    and (await self.stats())["connections"] == 0)

        await async_wait_until(cleaned, timeout=5, what="cleanup after a dropped connection")
        r = await self.publish("news", {"title": "after"})
        self.assertEqual(r["delivered"], 0, r)


class IdAcrossRestartTest(DaemonTestCase):
    async def test_ids_differ_across_restarts(self):
        ids = []
        for _round in range(2):
            for _ in range(3):
                s, _h, r = await self.d.ahttp_json("POST", "/api/notify/news", {"title": "t"})
                self.assertEqual(s, 200, r)
                ids.append(r["id"])
            self.assertEqual(self.d.stop(), 0, self.d.stderr_text())
            self.d.start()
        self.assertEqual(len(set(ids)), len(ids), f"ids repeat across restarts: {ids}")


if __name__ == "__main__":
    unittest.main()
