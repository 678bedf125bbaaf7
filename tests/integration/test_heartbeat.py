"""Heartbeat: app-level pings, protocol pings, and the 'Ping timeout' close."""

import asyncio
import json
import time
import unittest

import websockets.exceptions

from harness import DaemonTestCase, RawWs, async_wait_until

INTERVAL = 0.2
TIMEOUT = 0.6
STAY = 2.4  # four timeouts


class HeartbeatTest(DaemonTestCase):
    config = {"heartbeat": {"interval": INTERVAL, "timeout": TIMEOUT}}

    async def connections(self):
        _s, _h, body = await self.d.ahttp_json("GET", "/api/stats")
        return body["connections"]

    async def test_app_ping_message(self):
        a = await self.d.ws()
        before = int(time.time() * 1000)
        p = await a.recv_until("ping", timeout=3)
        after = int(time.time() * 1000)
        self.assertEqual(set(p), {"type", "timestamp"}, p)
        ts = p["timestamp"]
        self.assertTrue(isinstance(ts, int) and not isinstance(ts, bool), p)
        self.assertGreaterEqual(ts, before - 2000)
        self.assertLessEqual(ts, after + 2000)
        # They keep coming, about every interval.
        await a.recv_until("ping", timeout=3)
        await a.recv_until("ping", timeout=3)

    async def test_protocol_ping_frames(self):
        r = await self.d.raw_ws()
        welcome = await r.recv_json()
        self.assertEqual(welcome["type"], "welcome")
        deadline = time.monotonic() + 3
        got_ping = False
        while time.monotonic() < deadline and not got_ping:
            _fin, op, payload = await r.recv_frame(deadline - time.monotonic())
            if op == RawWs.OP_PING:
                got_ping = True
                await r.send_frame(RawWs.OP_PONG, payload)
            elif op == RawWs.OP_TEXT:
                await r.send_json({"type": "pong"})
            else:
                self.assertNotEqual(op, RawWs.OP_CLOSE, r.closed_by_server)
        self.assertTrue(got_ping, "no WebSocket protocol ping frame within 3 s")

    async def test_silent_client_closed_with_ping_timeout(self):
        t0 = time.monotonic()  # before the handshake: elapsed >= the server's view
        r = await self.d.raw_ws()
        welcome = await r.recv_json()
        self.assertEqual(welcome["type"], "welcome")
        self.assertEqual(await self.connections(), 1)
        code, reason, seen = await r.wait_close_frame(timeout=5, answer_pings=False)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 1000, seen)
        self.assertEqual(reason, "Ping timeout", seen)
        self.assertGreaterEqual(elapsed, TIMEOUT * 0.8,
                                f"closed after {elapsed:.2f}s, before the {TIMEOUT}s timeout")
        # App-level pings were sent before the close.
        texts = [json.loads(p) for op, p in seen if op == RawWs.OP_TEXT]
        self.assertTrue(any(t.get("type") == "ping" for t in texts), seen)
        await r.close()
        await async_wait_until(lambda: self._zero_connections(), timeout=5,
                               what="/api/stats connections == 0 after the timeout")

    async def _zero_connections(self):
        return await self.connections() == 0

    async def test_app_pongs_keep_client_alive(self):
        r = await self.d.raw_ws()
        await r.recv_json()
        deadline = time.monotonic() + STAY
        app_pings = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                _fin, op, payload = await r.recv_frame(left)
            except AssertionError:
                break  # no frame until the deadline
            self.assertNotEqual(op, RawWs.OP_CLOSE, f"closed: {r.closed_by_server}")
            if op == RawWs.OP_TEXT:
                msg = json.loads(payload)
                if msg.get("type") == "ping":
                    app_pings += 1
                    await r.send_json({"type": "pong"})
            # protocol pings are deliberately left unanswered
        self.assertGreaterEqual(app_pings, 4, "too few heartbeat pings")
        reply = await r.request({"type": "ping", "id": "alive"})
        self.assertEqual(reply.get("type"), "pong", reply)
        self.assertEqual(reply.get("id"), "alive")

    async def test_protocol_pongs_alone_keep_client_alive(self):
        r = await self.d.raw_ws()
        await r.recv_json()
        deadline = time.monotonic() + STAY
        pings = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                _fin, op, payload = await r.recv_frame(left)
            except AssertionError:
                break
            self.assertNotEqual(op, RawWs.OP_CLOSE, f"closed: {r.closed_by_server}")
            if op == RawWs.OP_PING:
                pings += 1
                await r.send_frame(RawWs.OP_PONG, payload)
            # app-level pings are deliberately left unanswered
        self.assertGreaterEqual(pings, 3, "too few protocol pings to keep the client alive")
        reply = await r.request({"type": "ping", "id": "alive"})
        self.assertEqual(reply.get("type"), "pong", reply)

    async def test_websockets_client_without_app_pongs_stays(self):
        # The websockets library answers protocol pings by itself; the test
        # never sends {"type":"pong"}: any frame counts as a sign of life.
        a = await self.d.ws()
        deadline = time.monotonic() + STAY
        app_pings = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await asyncio.wait_for(a.conn.recv(), left)
            except asyncio.TimeoutError:
                break
            except websockets.exceptions.ConnectionClosed as e:
                self.fail(f"closed after {STAY - left:.2f}s: {e.code} {e.reason!r}")
            if json.loads(msg).get("type") == "ping":
                app_pings += 1
        self.assertGreaterEqual(app_pings, 4)
        reply = await a.request({"type": "ping"})
        self.assertEqual(reply.get("type"), "pong", reply)


if __name__ == "__main__":
    unittest.main()
