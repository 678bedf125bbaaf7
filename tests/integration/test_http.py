"""HTTP API against the real notifyd (PROTOCOL.md, section HTTP)."""

import asyncio
import datetime
import json
import time
import unittest
import urllib.parse

from harness import (CORS_HEADERS, CORS_METHODS, ISO_MS_Z_RE, UUID4_RE, DaemonTestCase,
                     parse_http_response)


def parse_iso(ts):
    """datetime of an ISO-8601 timestamp ('Z' accepted); raises on garbage."""
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


class HttpCase(DaemonTestCase):
    def assert_cors(self, headers, what, origin="*"):
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), origin, what)
        self.assertEqual(headers.get("Access-Control-Allow-Methods"), CORS_METHODS, what)
        self.assertEqual(headers.get("Access-Control-Allow-Headers"), CORS_HEADERS, what)

    def assert_json_type(self, headers, what):
        ctype = headers.get("Content-Type") or ""
        self.assertTrue(ctype.startswith("application/json"), f"{what}: Content-Type {ctype!r}")

    def assert_json_error(self, method, path, status, body=None, headers=None, payload=None):
        kw = {"payload": payload} if payload is not None else {}
        s, h, obj = self.d.http_json(method, path, body=body, headers=headers, **kw)
        what = f"{method} {path} body={body!r} payload={payload!r}"
        self.assertEqual(s, status, f"{what} -> {obj!r}")
        self.assertIsInstance(obj, dict, what)
        self.assertIsInstance(obj.get("error"), str, f"{what} -> {obj!r}")
        self.assert_json_type(h, what)
        self.assert_cors(h, what)
        return h, obj


class PublishTest(HttpCase):
    async def test_publish_json_reaches_subscriber(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        payload = {"title": "Breaking", "body": "Big news!", "data": {"k": [1, 2], "u": "ü"}}
        before = datetime.datetime.now(datetime.timezone.utc)
        s, h, r = await self.d.ahttp_json("POST", "/api/notify/news", payload)
        after = datetime.datetime.now(datetime.timezone.utc)
        self.assertEqual(s, 200, r)
        self.assert_json_type(h, "publish")
        self.assert_cors(h, "publish")
        self.assertEqual(r.get("success"), True, r)
        self.assertEqual(r.get("channel"), "news", r)
        self.assertEqual(r.get("delivered"), 1, r)
        self.assertIsInstance(r.get("id"), str, r)
        self.assertTrue(r["id"], r)
        n = await sub.recv_until("notification")
        self.assertEqual(n["channel"], "news")
        self.assertEqual(n["title"], "Breaking")
        self.assertEqual(n["body"], "Big news!")
        self.assertEqual(n["data"], {"k": [1, 2], "u": "ü"})
        self.assertEqual(n["id"], r["id"])
        self.assertRegex(n["timestamp"], ISO_MS_Z_RE)
        ts = parse_iso(n["timestamp"])
        self.assertGreaterEqual(ts, before - datetime.timedelta(seconds=2))
        self.assertLessEqual(ts, after + datetime.timedelta(seconds=2))
        self.assertEqual(set(n), {"type", "channel", "timestamp", "title", "body", "data", "id",
                                  "seq", "epoch"})

    async def test_publish_defaults_and_no_data(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/news", {})
        self.assertEqual(s, 200, r)
        n = await sub.recv_until("notification")
        self.assertEqual(n["title"], "Notification")
        self.assertEqual(n["body"], "")
        self.assertNotIn("data", n)
        self.assertEqual(n["id"], r["id"])
        s, _h, r2 = await self.d.ahttp_json("POST", "/api/notify/news", {"body": "only body"})
        self.assertEqual(s, 200, r2)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Notification", "only body"))
        self.assertNotIn("data", n)
        self.assertNotEqual(r["id"], r2["id"])
        # An empty data object is still "sent"; unknown fields are ignored (as the seed does).
        s, _h, r3 = await self.d.ahttp_json("POST", "/api/notify/news",
                                            {"title": "t", "data": {}, "priority": 5})
        self.assertEqual(s, 200, r3)
        n = await sub.recv_until("notification")
        self.assertEqual(n.get("data"), {}, n)
        self.assertNotIn("priority", n)
        self.assertEqual(n["id"], r3["id"])

    async def test_publish_without_subscribers(self):
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/empty", {"title": "t"})
        self.assertEqual(s, 200, r)
        self.assertEqual(r.get("success"), True)
        self.assertEqual(r.get("channel"), "empty")
        self.assertEqual(r.get("delivered"), 0)
        self.assertIsInstance(r.get("id"), str)

    async def test_plain_text_body(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "backups"})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        # curl -d "backup finished" http://.../api/notify/backups
        s, h, r = await self.d.ahttp_json("POST", "/api/notify/backups",
                                          body=b"backup finished", headers=form)
        self.assertEqual(s, 200, r)
        self.assert_json_type(h, "plain publish")
        self.assertEqual(r.get("delivered"), 1, r)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Notification", "backup finished"))
        self.assertNotIn("data", n)
        self.assertEqual(n["id"], r["id"])
        # Title header.
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/backups", body=b"disk full",
                                           headers={**form, "Title": "Backup"})
        self.assertEqual(s, 200, r)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Backup", "disk full"))
        # ?title= query parameter, percent-encoded.
        q = urllib.parse.quote("Nightly backup ü")
        s, _h, r = await self.d.ahttp_json("POST", f"/api/notify/backups?title={q}",
                                           body="done in 5 min ✓".encode(), headers=form)
        self.assertEqual(s, 200, r)
        self.assertEqual(r.get("channel"), "backups", r)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Nightly backup ü", "done in 5 min ✓"))
        # No Content-Type at all, multi-line text.
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/backups",
                                           body=b"line 1\nline 2\n")
        self.assertEqual(s, 200, r)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Notification", "line 1\nline 2\n"))
        self.assertEqual(n["channel"], "backups")

    async def test_json_body_without_json_content_type(self):
        # A seed client that sends JSON without the header keeps working.
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        s, _h, r = await self.d.ahttp_json(
            "POST", "/api/notify/news", body=b'{"title":"T","body":"B","data":{"a":1}}',
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(s, 200, r)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"], n.get("data")), ("T", "B", {"a": 1}))

    def test_invalid_json_body(self):
        j = {"Content-Type": "application/json"}
        for body in (b"{not json", b"", b'{"title":"x"', b"[1,2]", b'"text"', b"42", b"null"):
            _h, obj = self.assert_json_error("POST", "/api/notify/news", 400, body=body,
                                             headers=j)
            self.assertEqual(obj["error"], "Invalid request body", (body, obj))
            self.assertIn("details", obj, (body, obj))
            self.assertIsInstance(obj["details"], str, (body, obj))

    def test_invalid_json_with_charset_content_type(self):
        _h, obj = self.assert_json_error(
            "POST", "/api/notify/news", 400, body=b"{oops",
            headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(obj["error"], "Invalid request body")

    def test_wrong_field_types(self):
        for payload in ({"title": 5}, {"data": "x"}, {"body": ["a"]}, {"data": [1]},
                        {"body": {"x": 1}}):
            _h, obj = self.assert_json_error("POST", "/api/notify/news", 400, payload=payload)
            self.assertEqual(obj["error"], "Invalid request body", (payload, obj))
            self.assertIsInstance(obj.get("details"), str, (payload, obj))

    async def test_rejected_publish_delivers_nothing(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        await sub.request({"type": "subscribe", "channel": "marker"})
        s, _h, _b = await self.d.ahttp("POST", "/api/notify/news", body=b'{"title":5}',
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(s, 400)
        s, _h, _b = await self.d.ahttp_json("POST", "/api/notify/marker", {"title": "m"})
        self.assertEqual(s, 200)
        n = await sub.recv_until("notification")
        self.assertEqual(n["channel"], "marker", f"a refused publish was delivered: {n}")

    def test_invalid_channel_name(self):
        for path in ("/api/notify/a%20b", "/api/notify/" + "x" * 129, "/api/notify/%C3%BC",
                     "/api/notify/a;b"):
            self.assert_json_error("POST", path, 400, payload={"title": "t"})
        for name in ("x" * 128, "A-Z_a-z.0-9:user@host"):
            s, _h, r = self.d.http_json("POST", "/api/notify/" + name, {"title": "t"})
            self.assertEqual(s, 200, (name, r))
            self.assertEqual(r["channel"], name)

    def test_not_found(self):
        for method, path in (("GET", "/nope"), ("GET", "/api/nope"), ("POST", "/api/notify"),
                             ("POST", "/api/notify/a/b"),
                             ("GET", "/api"), ("GET", "/healthz")):
            self.assert_json_error(method, path, 404, body=b"" if method == "POST" else None)

    def test_method_not_allowed(self):
        h, _obj = self.assert_json_error("GET", "/api/notify/x", 405)
        self.assertIn("POST", h.get("Allow", ""), dict(h))
        h, _obj = self.assert_json_error("DELETE", "/api/channels", 405)
        self.assertIn("GET", h.get("Allow", ""), dict(h))
        h, _obj = self.assert_json_error("POST", "/api/stats", 405, body=b"{}")
        self.assertIn("GET", h.get("Allow", ""), dict(h))
        h, _obj = self.assert_json_error("PUT", "/api/clients", 405, body=b"{}")
        self.assertIn("GET", h.get("Allow", ""), dict(h))

    def test_options_preflight(self):
        for path in ("/api/notify/news", "/api/channels", "/health", "/whatever/else", "/ws"):
            s, h, body = self.d.http("OPTIONS", path, headers={
                "Origin": "https://app.test", "Access-Control-Request-Method": "POST"})
            self.assertEqual(s, 200, path)
            self.assertEqual(body, b"", path)
            self.assert_cors(h, f"OPTIONS {path}")

    async def test_cors_on_every_response(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        requests = [
            ("GET", "/health", None, {}),
            ("GET", "/api/channels", None, {}),
            ("GET", "/api/stats", None, {}),
            ("GET", "/api/clients", None, {}),
            ("POST", "/api/notify/news", b'{"title":"x"}', {"Content-Type": "application/json"}),
            ("POST", "/api/notify/news", b"{bad", {"Content-Type": "application/json"}),
            ("POST", "/api/notify/a%20b", b"{}", {"Content-Type": "application/json"}),
            ("GET", "/nope", None, {}),
            ("GET", "/api/notify/x", None, {}),
            ("DELETE", "/api/channels", None, {}),
        ]
        for method, path, body, headers in requests:
            s, h, _b = await self.d.ahttp(method, path, body=body, headers=headers)
            self.assert_cors(h, f"{method} {path} -> {s}")

    def test_json_content_type(self):
        for method, path in (("GET", "/api/channels"), ("GET", "/api/stats"),
                             ("GET", "/api/clients")):
            s, h, body = self.d.http(method, path)
            self.assertEqual(s, 200, path)
            self.assert_json_type(h, path)
            json.loads(body)

    def test_health(self):
        s, h, body = self.d.http("GET", "/health")
        self.assertEqual(s, 200)
        self.assertEqual(body, b"OK")
        self.assert_cors(h, "/health")

    async def test_chunked_post_is_published(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        body = b'{"title":"chunked","body":"arrives whole"}'
        half = len(body) // 2
        raw = (b"POST /api/notify/news HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n"
               + b"%x\r\n" % half + body[:half] + b"\r\n"
               + b"%x\r\n" % (len(body) - half) + body[half:] + b"\r\n0\r\n\r\n")
        resp = self.d.raw_http(raw)
        status, headers, rbody = parse_http_response(resp)
        self.assertEqual(status, 200, resp[:500])
        self.assertEqual(headers.get("access-control-allow-origin"), "*", headers)
        self.assertEqual(json.loads(rbody)["delivered"], 1, rbody)
        n = await sub.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("chunked", "arrives whole"), n)


class ListingTest(HttpCase):
    async def channels(self):
        s, _h, obj = await self.d.ahttp_json("GET", "/api/channels")
        self.assertEqual(s, 200)
        return obj

    async def test_channels(self):
        obj = await self.channels()
        self.assertEqual(obj, {"channels": [], "total": 0})
        a = await self.d.ws()
        b = await self.d.ws()
        await a.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "sports"})
        obj = await self.channels()
        self.assertEqual(obj["total"], 2, obj)
        got = {c["name"]: c["subscribers"] for c in obj["channels"]}
        self.assertEqual(got, {"news": 2, "sports": 1}, obj)
        for c in obj["channels"]:
            self.assertEqual(set(c), {"name", "subscribers"}, c)
        # An emptied channel disappears.
        await b.request({"type": "unsubscribe", "channel": "sports"})
        obj = await self.channels()
        self.assertEqual(obj, {"channels": [{"name": "news", "subscribers": 2}], "total": 1})

    async def test_stats(self):
        s, h, obj = await self.d.ahttp_json("GET", "/api/stats")
        self.assertEqual(s, 200)
        self.assertEqual(obj["connections"], 0, obj)
        self.assertEqual(obj["channels"], 0, obj)
        a = await self.d.ws()
        b = await self.d.ws()
        await a.request({"type": "subscribe", "channel": "news"})
        await b.request({"type": "subscribe", "channel": "sports"})
        await b.request({"type": "subscribe", "channel": "news"})
        s, h, obj = await self.d.ahttp_json("GET", "/api/stats")
        self.assertEqual(s, 200)
        self.assertEqual(obj["connections"], 2, obj)
        self.assertEqual(obj["channels"], 2, obj)
        self.assertIsInstance(obj["timestamp"], str, obj)
        ts = parse_iso(obj["timestamp"])
        if ts.tzinfo is not None:
            now = datetime.datetime.now(datetime.timezone.utc)
            self.assertLess(abs((now - ts).total_seconds()), 60, obj)

    async def test_clients(self):
        s, _h, obj = await self.d.ahttp_json("GET", "/api/clients")
        self.assertEqual(s, 200)
        self.assertEqual(obj, {"clients": [], "total": 0})
        a = await self.d.ws()
        b = await self.d.ws()
        await a.request({"type": "subscribe", "channel": "zeta"})
        await a.request({"type": "subscribe", "channel": "alpha"})
        s, _h, obj = await self.d.ahttp_json("GET", "/api/clients")
        self.assertEqual(obj["total"], 2, obj)
        by_id = {c["id"]: c for c in obj["clients"]}
        self.assertEqual(set(by_id), {a.client_id, b.client_id}, obj)
        for c in obj["clients"]:
            self.assertEqual(set(c), {"id", "name", "connectedAt", "subscriptions"}, c)
            self.assertRegex(c["id"], UUID4_RE)
            self.assertIsNone(c["name"], c)
            parse_iso(c["connectedAt"])
        self.assertEqual(by_id[a.client_id]["subscriptions"], ["zeta", "alpha"])
        self.assertEqual(by_id[b.client_id]["subscriptions"], [])
        await b.request({"type": "set_name", "name": "Bob"})
        s, _h, obj = await self.d.ahttp_json("GET", "/api/clients")
        by_id = {c["id"]: c for c in obj["clients"]}
        self.assertEqual(by_id[b.client_id]["name"], "Bob")
        self.assertIsNone(by_id[a.client_id]["name"])


class BodyLimitTest(HttpCase):
    config = {"limits": {"max_body_bytes": 1024}}

    async def test_body_over_limit_is_413(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "news"})
        await sub.request({"type": "subscribe", "channel": "marker"})
        payload = {"title": "big", "body": "b" * 2000}
        await asyncio.to_thread(self.assert_json_error, "POST", "/api/notify/news", 413,
                                payload=payload)
        # Plain text too.
        s, h, body = await self.d.ahttp("POST", "/api/notify/news", body=b"x" * 2000)
        self.assertEqual(s, 413, body)
        # Below the limit works.
        s, _h, r = await self.d.ahttp_json("POST", "/api/notify/news", {"body": "b" * 900})
        self.assertEqual(s, 200, r)
        n = await sub.recv_until("notification")
        self.assertEqual(n["body"], "b" * 900, "an oversized body was delivered")


class CorsOriginTest(HttpCase):
    config = {"server": {"cors_origin": "https://app.example"}}

    def test_configured_origin(self):
        for method, path in (("GET", "/health"), ("GET", "/api/stats"), ("GET", "/nope"),
                             ("OPTIONS", "/api/notify/x")):
            s, h, _b = self.d.http(method, path)
            self.assert_cors(h, f"{method} {path} -> {s}", origin="https://app.example")


if __name__ == "__main__":
    unittest.main()
