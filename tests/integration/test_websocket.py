"""WebSocket protocol of /ws and /ws/echo against the real notifyd (PROTOCOL.md)."""

import time
import unittest

import websockets.exceptions

from harness import without_position
from harness import UUID4_RE, DaemonTestCase, RawWs, async_wait_until


class WelcomeTest(DaemonTestCase):
    async def test_welcome_on_connect(self):
        c = await self.d.ws("/ws")
        w = c.welcome
        self.assertEqual(w.get("type"), "welcome", w)
        self.assertEqual(w.get("message"), "Connected to notification server", w)
        self.assertIsInstance(w.get("clientId"), str, w)
        self.assertRegex(w["clientId"], UUID4_RE)

    async def test_client_ids_are_distinct(self):
        ids = set()
        for _ in range(5):
            c = await self.d.ws("/ws")
            ids.add(c.client_id)
        self.assertEqual(len(ids), 5, ids)


class RequestsTest(DaemonTestCase):
    async def test_subscribe_counts_subscribers(self):
        a = await self.d.ws()
        b = await self.d.ws()
        r = await a.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(without_position(r), {"type": "subscribed", "channel": "news", "subscriberCount": 1})
        r = await b.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(without_position(r), {"type": "subscribed", "channel": "news", "subscriberCount": 2})
        # Subscribing twice: same reply, count unchanged.
        r = await a.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(without_position(r), {"type": "subscribed", "channel": "news", "subscriberCount": 2})
        # Another channel is counted on its own.
        r = await b.request({"type": "subscribe", "channel": "sports"})
        self.assertEqual(without_position(r), {"type": "subscribed", "channel": "sports", "subscriberCount": 1})

    async def test_unsubscribe(self):
        a = await self.d.ws()
        b = await self.d.ws()
        await a.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "news"})
        r = await a.request({"type": "unsubscribe", "channel": "news"})
        self.assertEqual(r, {"type": "unsubscribed", "channel": "news"})
        # The count went down: a re-subscribe by a makes it 2 again, not 3.
        r = await a.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(r["subscriberCount"], 2, r)

    async def test_unsubscribe_when_not_subscribed(self):
        a = await self.d.ws()
        r = await a.request({"type": "unsubscribe", "channel": "never-subscribed"})
        self.assertEqual(r, {"type": "unsubscribed", "channel": "never-subscribed"})
        b = await self.d.ws()
        await b.request({"type": "subscribe", "channel": "news"})
        r = await a.request({"type": "unsubscribe", "channel": "news"})
        self.assertEqual(r, {"type": "unsubscribed", "channel": "news"})
        r = await b.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(r["subscriberCount"], 1, r)

    async def test_set_name(self):
        a = await self.d.ws()
        r = await a.request({"type": "set_name", "name": "Alice"})
        self.assertEqual(r, {"type": "name_set", "name": "Alice"})
        r = await a.request({"type": "set_name", "name": "Jürgen 🔔"})
        self.assertEqual(r, {"type": "name_set", "name": "Jürgen 🔔"})

    async def test_list_subscriptions_in_order(self):
        a = await self.d.ws()
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r, {"type": "subscriptions", "channels": []})
        for ch in ("zeta", "alpha", "mid"):
            await a.request({"type": "subscribe", "channel": ch})
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r, {"type": "subscriptions", "channels": ["zeta", "alpha", "mid"]})
        await a.request({"type": "unsubscribe", "channel": "alpha"})
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r, {"type": "subscriptions", "channels": ["zeta", "mid"]})

    async def test_ping_pong(self):
        a = await self.d.ws()
        before = int(time.time() * 1000)
        r = await a.request({"type": "ping"})
        after = int(time.time() * 1000)
        self.assertEqual(r.get("type"), "pong", r)
        ts = r.get("timestamp")
        self.assertTrue(isinstance(ts, int) and not isinstance(ts, bool), r)
        self.assertGreaterEqual(ts, before - 2000, r)
        self.assertLessEqual(ts, after + 2000, r)

    async def test_client_pong_gets_no_reply(self):
        a = await self.d.ws()
        await a.send_json({"type": "pong"})
        # The next message must be the reply to the following ping, nothing for the pong.
        r = await a.request({"type": "ping", "id": "after-pong"})
        self.assertEqual(r.get("type"), "pong", r)
        self.assertEqual(r.get("id"), "after-pong", r)


class RequestIdTest(DaemonTestCase):
    async def test_id_echoed_in_replies(self):
        a = await self.d.ws()
        cases = [
            ({"type": "subscribe", "channel": "news", "id": "s-1"}, "subscribed"),
            ({"type": "unsubscribe", "channel": "news", "id": 7}, "unsubscribed"),
            ({"type": "set_name", "name": "x", "id": "n"}, "name_set"),
            ({"type": "list_subscriptions", "id": 12345}, "subscriptions"),
            ({"type": "ping", "id": "p"}, "pong"),
            ({"type": "ping", "id": 2.5}, "pong"),
        ]
        for req, rtype in cases:
            r = await a.request(req)
            self.assertEqual(r.get("type"), rtype, (req, r))
            self.assertEqual(r.get("id"), req["id"], (req, r))
            self.assertIs(type(r.get("id")), type(req["id"]), (req, r))

    async def test_id_echoed_in_errors(self):
        a = await self.d.ws()
        cases = [
            ({"type": "nope", "id": "e1"}, "unknown_type"),
            ({"type": "subscribe", "id": 42}, "channel_required"),
            ({"type": "subscribe", "channel": "a b", "id": "e3"}, "invalid_channel"),
            ({"type": "set_name", "id": "e4"}, "name_required"),
        ]
        for req, code in cases:
            r = await a.request(req)
            self.assertEqual(r.get("type"), "error", (req, r))
            self.assertEqual(r.get("code"), code, (req, r))
            self.assertEqual(r.get("id"), req["id"], (req, r))

    async def test_no_id_when_request_has_none(self):
        a = await self.d.ws()
        r = await a.request({"type": "ping"})
        self.assertNotIn("id", r)
        r = await a.request({"type": "nope"})
        self.assertNotIn("id", r)


class ErrorsTest(DaemonTestCase):
    config = {"limits": {"max_subscriptions_per_client": 3}}

    async def assert_error(self, client, frame, code, text_prefix=None, exact=None):
        if isinstance(frame, (dict, list)):
            await client.send_json(frame)
        else:
            await client.send(frame)
        r = await client.recv_until("error")
        self.assertEqual(r.get("code"), code, (frame, r))
        self.assertIsInstance(r.get("error"), str, r)
        if text_prefix is not None:
            self.assertTrue(r["error"].startswith(text_prefix), (frame, r))
        if exact is not None:
            self.assertEqual(r["error"], exact, (frame, r))
        # The connection stays open and usable.
        p = await client.request({"type": "ping"})
        self.assertEqual(p.get("type"), "pong", (frame, p))
        return r

    async def test_invalid_json(self):
        a = await self.d.ws()
        for frame in ("{not json", "", "   ", "{\"type\":\"ping\"", "nul", "{'type':'ping'}"):
            await self.assert_error(a, frame, "invalid_json", "Invalid message format")

    async def test_not_an_object(self):
        a = await self.d.ws()
        for frame in ('["subscribe","news"]', "42", '"ping"', "null", "true"):
            await self.assert_error(a, frame, "invalid_message", "Invalid message format")

    async def test_wrong_field_type(self):
        a = await self.d.ws()
        for frame in ({"type": "subscribe", "channel": 5},
                      {"type": "subscribe", "channel": ["news"]},
                      {"type": "unsubscribe", "channel": {"x": 1}},
                      {"type": "set_name", "name": 5}):
            await self.assert_error(a, frame, "invalid_message", "Invalid message format")

    async def test_binary_frame(self):
        a = await self.d.ws()
        await self.assert_error(a, b'{"type":"ping"}', "invalid_message", "Invalid message format")
        await self.assert_error(a, b"\x00\xff\xfe", "invalid_message", "Invalid message format")

    async def test_unknown_type(self):
        a = await self.d.ws()
        await self.assert_error(a, {"type": "x"}, "unknown_type",
                                exact="Unknown message type: x")
        await self.assert_error(a, {"type": "notification", "channel": "news"}, "unknown_type",
                                exact="Unknown message type: notification")

    async def test_missing_type(self):
        a = await self.d.ws()
        await self.assert_error(a, {}, "unknown_type", "Unknown message type")
        await self.assert_error(a, {"channel": "news"}, "unknown_type", "Unknown message type")

    async def test_channel_required(self):
        a = await self.d.ws()
        for frame in ({"type": "subscribe"}, {"type": "subscribe", "channel": ""},
                      {"type": "unsubscribe"}, {"type": "unsubscribe", "channel": ""}):
            await self.assert_error(a, frame, "channel_required", exact="Channel name required")

    async def test_invalid_channel(self):
        a = await self.d.ws()
        for name in ("a b", "x" * 129, "news/eu", "ümlaut", "tab\there", "semi;colon"):
            r = await self.assert_error(a, {"type": "subscribe", "channel": name},
                                        "invalid_channel", "Invalid channel name")
            self.assertEqual(r["type"], "error")
        # Nothing was subscribed by the refused requests.
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r["channels"], [])

    async def test_valid_channel_names(self):
        a = await self.d.ws()
        for name in ("x" * 128, "A-Z_a-z.0-9:user@host", "1"):
            r = await a.request({"type": "subscribe", "channel": name})
            self.assertEqual(without_position(r), {"type": "subscribed", "channel": name, "subscriberCount": 1})

    async def test_name_required(self):
        a = await self.d.ws()
        for frame in ({"type": "set_name"}, {"type": "set_name", "name": ""}):
            await self.assert_error(a, frame, "name_required", exact="Name required")

    async def test_name_too_long(self):
        a = await self.d.ws()
        await a.send_json({"type": "set_name", "name": "n" * 129})
        r = await a.recv_until("error")
        self.assertIsInstance(r.get("code"), str, r)
        r = await a.request({"type": "set_name", "name": "n" * 128})
        self.assertEqual(r, {"type": "name_set", "name": "n" * 128})

    async def test_subscription_limit(self):
        a = await self.d.ws()
        for ch in ("c1", "c2", "c3"):
            r = await a.request({"type": "subscribe", "channel": ch})
            self.assertEqual(r.get("type"), "subscribed", r)
        r = await self.assert_error(a, {"type": "subscribe", "channel": "c4", "id": "over"},
                                    "limit_exceeded")
        self.assertEqual(r.get("id"), "over", r)
        # Re-subscribing an existing channel is not a new subscription.
        r = await a.request({"type": "subscribe", "channel": "c2"})
        self.assertEqual(r.get("type"), "subscribed", r)
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r["channels"], ["c1", "c2", "c3"])
        # After an unsubscribe there is room again.
        await a.request({"type": "unsubscribe", "channel": "c1"})
        r = await a.request({"type": "subscribe", "channel": "c4"})
        self.assertEqual(r.get("type"), "subscribed", r)
        r = await a.request({"type": "list_subscriptions"})
        self.assertEqual(r["channels"], ["c2", "c3", "c4"])
        # The limit is per client: another client may subscribe to 3 as well.
        b = await self.d.ws()
        for ch in ("c5", "c6", "c7"):
            r = await b.request({"type": "subscribe", "channel": ch})
            self.assertEqual(r.get("type"), "subscribed", r)


class FrameSizeTest(DaemonTestCase):
    config = {"limits": {"max_frame_bytes": 4096}}

    async def test_frame_below_limit_is_served(self):
        a = await self.d.ws()
        frame = '{"type":"ping","id":"' + "p" * 3000 + '"}'
        await a.send(frame)
        r = await a.recv_json()
        self.assertEqual(r.get("type"), "pong", r)
        self.assertEqual(r.get("id"), "p" * 3000)

    async def test_oversized_frame_closes_1009(self):
        a = await self.d.ws()
        await a.send('{"type":"ping","id":"' + "p" * 5000 + '"}')
        code, _reason, msgs = await a.wait_closed(5)
        self.assertEqual(code, 1009, msgs)
        # The daemon is still serving others.
        b = await self.d.ws()
        r = await b.request({"type": "ping"})
        self.assertEqual(r.get("type"), "pong")

    async def test_oversized_binary_frame_closes_1009(self):
        a = await self.d.ws()
        await a.send(b"\x01" * 10000)
        code, _reason, msgs = await a.wait_closed(5)
        self.assertEqual(code, 1009, msgs)


class EchoTest(DaemonTestCase):
    async def test_echo(self):
        e = await self.d.ws("/ws/echo", welcome=False)
        self.assertEqual(await e.recv(), "Connected!")
        await e.send("hello")
        self.assertEqual(await e.recv(), "Echo: hello")
        await e.send('{"type":"ping"}')
        self.assertEqual(await e.recv(), 'Echo: {"type":"ping"}')
        await e.send("ünïcödé 🔔")
        self.assertEqual(await e.recv(), "Echo: ünïcödé 🔔")


class EchoDisabledTest(DaemonTestCase):
    config = {"server": {"echo": False}}

    async def test_echo_upgrade_refused(self):
        with self.assertRaises(websockets.exceptions.InvalidHandshake):
            await self.d.ws("/ws/echo", welcome=False)
        with self.assertRaises(AssertionError):
            r = await RawWs.connect(self.d.host, self.d.port, "/ws/echo")
            await r.close()
        # /ws still works.
        a = await self.d.ws()
        self.assertEqual(a.welcome["type"], "welcome")


class ConnectionLimitTest(DaemonTestCase):
    config = {"limits": {"max_connections": 2}}

    async def test_over_limit_gets_503(self):
        a = await self.d.ws()
        b = await self.d.ws()
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as ctx:
            await self.d.ws()
        self.assertEqual(ctx.exception.status_code, 503)
        # HTTP is still served, and the two clients still work.
        s, _h, body = await self.d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))
        for c in (a, b):
            r = await c.request({"type": "ping"})
            self.assertEqual(r.get("type"), "pong")
        # A freed slot can be used again (the close is processed asynchronously).
        await a.close()

        async def connects():
            try:
                return await self.d.ws()
            except websockets.exceptions.InvalidStatusCode as e:
                self.assertEqual(e.status_code, 503)
                return None

        c = await async_wait_until(connects, timeout=5, what="a slot after a client left")
        self.assertEqual(c.welcome["type"], "welcome")


class UnknownPathUpgradeTest(DaemonTestCase):
    async def test_upgrade_on_unknown_path_refused(self):
        for path in ("/nope", "/ws/other", "/api/channels"):
            with self.assertRaises(websockets.exceptions.InvalidHandshake, msg=path):
                await self.d.ws(path, welcome=False)


if __name__ == "__main__":
    unittest.main()
