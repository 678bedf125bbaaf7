"""Bad input never takes the daemon down (WebSocket frames, JSON, raw HTTP)."""

import asyncio
import json
import socket
import struct
import unittest

from harness import DaemonTestCase, RawWs, parse_http_response


class RobustnessCase(DaemonTestCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        # A bystander that must keep working through every abuse.
        self.bystander = await self.d.ws()
        await self.bystander.request({"type": "subscribe", "channel": "bystander"})

    async def assert_still_serving(self):
        self.assertTrue(self.d.running(), self.d.stderr_text())
        r = await self.bystander.request({"type": "ping", "id": "bystander"})
        self.assertEqual((r.get("type"), r.get("id")), ("pong", "bystander"), r)
        s, _h, pub = await self.d.ahttp_json("POST", "/api/notify/bystander", {"title": "still"})
        self.assertEqual(s, 200, pub)
        self.assertEqual(pub["delivered"], 1, pub)
        n = await self.bystander.recv_until("notification")
        self.assertEqual(n["title"], "still")
        fresh = await self.d.ws()
        self.assertEqual(fresh.welcome["type"], "welcome")
        await fresh.close()
        s, _h, body = await self.d.ahttp("GET", "/health")
        self.assertEqual((s, body), (200, b"OK"))

    async def expect_close_or_eof(self, raw, timeout=5):
        """Read until a close frame or EOF; return the close code (None on plain EOF)."""
        try:
            code, _reason, _seen = await raw.wait_close_frame(timeout)
            return code
        except EOFError:
            return None


class WebSocketAbuseTest(RobustnessCase):
    async def test_invalid_utf8_text_frame(self):
        raw = await self.d.raw_ws()
        await raw.recv_json()
        await raw.send_frame(RawWs.OP_TEXT, b'{"type":"ping","x":"\xff\xfe"}')
        # PROTOCOL.md: error invalid_json, connection stays open. RFC 6455 8.1
        # requires failing the connection with 1007. Either is acceptable;
        # a crash, another close code, or silence is not.
        fin, op, payload = await raw.recv_frame(5)
        while op in (RawWs.OP_PING, RawWs.OP_PONG):
            fin, op, payload = await raw.recv_frame(5)
        if op == RawWs.OP_TEXT:
            err = json.loads(payload)
            self.assertEqual((err.get("type"), err.get("code")), ("error", "invalid_json"), err)
            self.assertTrue(err["error"].startswith("Invalid message format"), err)
            r = await raw.request({"type": "ping"})
            self.assertEqual(r.get("type"), "pong")
        else:
            self.assertEqual(op, RawWs.OP_CLOSE, payload)
            self.assertEqual(raw.closed_by_server[0], 1007, raw.closed_by_server)
        await self.assert_still_serving()

    async def test_binary_frame_on_raw_client(self):
        raw = await self.d.raw_ws()
        await raw.recv_json()
        await raw.send_frame(RawWs.OP_BINARY, b"\x00\x01\x02garbage\xff")
        err = await raw.recv_json()
        self.assertEqual((err.get("type"), err.get("code")), ("error", "invalid_message"), err)
        r = await raw.request({"type": "ping"})
        self.assertEqual(r.get("type"), "pong")
        await self.assert_still_serving()

    async def test_fragmented_message_is_reassembled(self):
        raw = await self.d.raw_ws()
        await raw.recv_json()
        await raw.send_frame(RawWs.OP_TEXT, b'{"type":"pi', fin=False)
        await raw.send_frame(RawWs.OP_CONT, b'ng","id":', fin=False)
        await raw.send_frame(RawWs.OP_PING, b"interleaved")  # control frame in between
        await raw.send_frame(RawWs.OP_CONT, b'"frag"}', fin=True)
        r = await raw.recv_json()
        self.assertEqual((r.get("type"), r.get("id")), ("pong", "frag"), r)
        await self.assert_still_serving()

    async def test_protocol_violations_close_only_that_client(self):
        violations = [
            ("reserved opcode 3", lambda r: r.send_frame(3, b"x")),
            ("reserved opcode 0xB", lambda r: r.send_frame(0xB, b"x")),
            ("RSV1 without extension", lambda r: r.send_frame(RawWs.OP_TEXT, b"{}", rsv=4)),
            ("unmasked client frame", lambda r: r.send_frame(RawWs.OP_TEXT, b"{}", mask=False)),
            ("continuation without start", lambda r: r.send_frame(RawWs.OP_CONT, b"x")),
            ("control frame > 125 bytes", lambda r: r.send_frame(RawWs.OP_PING, b"p" * 200)),
            ("fragmented control frame", lambda r: r.send_frame(RawWs.OP_PING, b"p", fin=False)),
            ("close with invalid code", lambda r: r.send_frame(RawWs.OP_CLOSE,
                                                               struct.pack("!H", 999))),
        ]
        for name, send in violations:
            with self.subTest(violation=name):
                raw = await self.d.raw_ws()
                await raw.recv_json()
                await send(raw)
                code = await self.expect_close_or_eof(raw)
                await raw.close()
                self.assertIn(code, (None, 1002, 1003, 1007), f"{name}: close code {code}")
        await self.assert_still_serving()

    async def test_garbage_bytes_after_handshake(self):
        raw = await self.d.raw_ws()
        await raw.recv_json()
        raw.writer.write(bytes(range(256)) * 8)
        await raw.writer.drain()
        await self.expect_close_or_eof(raw)
        await raw.close()
        await self.assert_still_serving()

    async def test_deeply_nested_json(self):
        c = await self.d.ws()
        for frame in ("[" * 60000, "[" * 30000 + "]" * 30000,
                      '{"a":' * 10000 + "1" + "}" * 10000,
                      '{"type":"subscribe","channel":' + "[" * 20000 + "]" * 20000 + "}"):
            await c.send(frame)
            r = await c.recv_until("error")
            self.assertIn(r.get("code"), ("invalid_json", "invalid_message"), r)
            p = await c.request({"type": "ping"})
            self.assertEqual(p.get("type"), "pong")
        await self.assert_still_serving()

    async def test_many_errors_in_a_row(self):
        c = await self.d.ws()
        frames = ["{", "[]", '{"type":1}', '{"type":"subscribe","channel":"a b"}', "\u0000",
                  '{"type":"set_name","name":""}'] * 20
        for f in frames:
            await c.send(f)
        r = await c.request({"type": "ping", "id": "end"})
        # Every bad frame gets exactly one error reply; the pong comes after them.
        errors = 0
        while r.get("type") == "error":
            errors += 1
            r = await c.recv_json()
        self.assertEqual((r.get("type"), r.get("id")), ("pong", "end"), r)
        self.assertEqual(errors, len(frames), "not exactly one error reply per bad frame")
        await self.assert_still_serving()


class HttpAbuseTest(RobustnessCase):
    def send_raw(self, data, timeout=6):
        """Response bytes (maybe empty) for a raw request; the server must close."""
        try:
            return self.d.raw_http(data, timeout=timeout)
        except ConnectionError:
            return b""

    async def test_malformed_requests(self):
        requests = [
            b"GARBAGE\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nthis header has no colon\r\n\r\n",
            b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
            b"POST /api/notify/news HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"POST /api/notify/news HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100000 + b"\r\n\r\n",
            b"GET /" + b"p" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n",
        ]
        for req in requests:
            with self.subTest(request=req[:70]):
                resp = await asyncio.to_thread(self.send_raw, req)
                self.assertTrue(self.d.running(), self.d.stderr_text())
                if resp:
                    status, _h, _b = parse_http_response(resp)
                    self.assertGreaterEqual(status, 400, (req[:80], resp[:300]))
        await self.assert_still_serving()

    async def test_half_sent_requests_and_dropped_connections(self):
        socks = []
        try:
            for data in (b"", b"GET /heal", b"POST /api/notify/news HTTP/1.1\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"title\":"):
                s = socket.create_connection((self.d.host, self.d.port), timeout=5)
                if data:
                    s.sendall(data)
                socks.append(s)
            # While they hang, the daemon serves others.
            await self.assert_still_serving()
        finally:
            for s in socks:
                s.close()
        await self.assert_still_serving()

    async def test_deep_json_http_body(self):
        for body in (b"[" * 60000, b'{"data":' * 7000 + b"{}" + b"}" * 7000):
            s, _h, obj = await self.d.ahttp_json("POST", "/api/notify/news", body=body,
                                                 headers={"Content-Type": "application/json"})
            self.assertIn(s, (200, 400, 413), obj)
        await self.assert_still_serving()


if __name__ == "__main__":
    unittest.main()
