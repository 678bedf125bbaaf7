"""Two real notifyd nodes sharing a real redis-server (PROTOCOL.md Part 2
"Scale-out"; the recipe of HISTORY-CLUSTER.md section E): cross-node delivery
in seq order, exactly once; resume on the other node; subscriber counts of
every node; and the faults: the pub/sub connection killed, a subscription
silently wedged, Redis killed and restarted empty, Redis slow, a node killed.

Skipped (exit status 77), not passed, where redis-server is not installed."""

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import websockets

from harness import Daemon, WsClient, wait_until
from redis_harness import FreezingProxy, RedisServer, free_port, redis_available, resp

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLUSTER_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                           "CLUSTER.md")

NO_LIMITS = {"connection_rate": 0, "publish_rate": 0}


def node_config(redis_address, prefix, timeout=1.0):
    return {
        "limits": NO_LIMITS,
        "cluster": {"broker": "redis", "redis": redis_address, "prefix": prefix,
                    "timeout": timeout},
    }


def stats(d):
    status, _h, body = d.http_json("GET", "/api/stats")
    assert status == 200, (status, body)
    return body


def cluster_state(d):
    try:
        return stats(d)["cluster"]
    except OSError:
        return {}


def publish(d, channel, title="x", headers=None, timeout=5.0):
    return d.http_json("POST", f"/api/notify/{channel}", {"title": title}, headers=headers,
                       timeout=timeout)


def publish_ok(d, channel, title="x", headers=None):
    status, _h, reply = publish(d, channel, title, headers)
    if status != 200:
        raise AssertionError(f"publish -> {status} {reply}")
    return reply


async def notifications(client, n, timeout=10.0):
    """The next n notifications (skipping nothing else silently: a resync
    fails the caller's assertions by type)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"got {len(out)} of {n} notifications: {out[-5:]!r}")
        msg = await client.recv_json(left)
        if msg.get("type") == "ping" and "id" not in msg:
            continue
        out.append(msg)
    return out


class ClusterTestCase(unittest.IsolatedAsyncioTestCase):
    """Redis and two nodes, A and B, with a prefix of their own."""

    timeout = 1.0
    through_proxy = False
    node_env = None

    async def asyncSetUp(self):
        asyncio.get_running_loop().slow_callback_duration = 30

    def setUp(self):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        self.proxy = None
        address = f"127.0.0.1:{self.redis.port}"
        if self.through_proxy:
            self.proxy = FreezingProxy(self.redis.port)
            self.addCleanup(self.proxy.close)
            address = f"127.0.0.1:{self.proxy.port}"
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.config = node_config(address, self.prefix, self.timeout)
        self.a = self.node()
        self.b = self.node()
        self.wait_cluster_up([self.a, self.b], nodes=2)

    def node(self):
        d = Daemon(self.config, env=self.node_env, start=False)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def wait_cluster_up(self, nodes_list, nodes=None, timeout=15.0):
        def up():
            for d in nodes_list:
                c = cluster_state(d)
                if c.get("state") != "up":
                    return False
                if nodes is not None and c.get("nodes") != nodes:
                    return False
            return True
        wait_until(up, timeout=timeout, what=f"cluster up on every node (nodes={nodes})")

    async def asyncTearDown(self):
        for d in (self.a, self.b):
            await d.close_clients()

    def tearDown(self):
        for d in (self.a, self.b):
            if d.exited_unexpectedly():
                self.fail(f"notifyd died with status {d.proc.returncode}:\n{d.stderr_text()}")
            if d.running():
                self.assertEqual(d.stop(timeout=10), 0, d.stderr_text())

    async def subscribe(self, d, channel, since=None, expect_reply=True):
        client = await d.ws()
        req = {"type": "subscribe", "channel": channel}
        if since is not None:
            req["since"] = since
        reply = await client.request(req, timeout=10)
        if expect_reply:
            self.assertEqual(reply.get("type"), "subscribed", reply)
        return client, reply


class CrossNode(ClusterTestCase):
    async def test_publish_on_one_node_reaches_the_other_in_order_and_resumes_there(self):
        client, sub = await self.subscribe(self.a, "news")
        epoch = sub["epoch"]
        self.assertEqual(sub["seq"], 0)
        replies = [publish_ok(self.b, "news", f"n{i}") for i in range(1, 4)]
        self.assertEqual([r["seq"] for r in replies], [1, 2, 3])
        self.assertTrue(all(r["epoch"] == epoch for r in replies))
        # Received by the nodes that follow the channel: A alone.
        self.assertTrue(all(r["nodes"] == 1 for r in replies), replies)
        got = await notifications(client, 3)
        self.assertEqual([(m["type"], m["seq"], m["epoch"], m["title"]) for m in got],
                         [("notification", i, epoch, f"n{i}") for i in range(1, 4)])
        self.assertEqual(got[0]["id"], f"{epoch}:1")
        await client.close()
        publish_ok(self.b, "news", "n4")
        publish_ok(self.a, "news", "n5")
        # Resume on the other node, which never followed the channel before.
        again, sub2 = await self.subscribe(self.b, "news", {"epoch": epoch, "seq": 3})
        self.assertTrue(sub2["recovered"], sub2)
        self.assertEqual((sub2["missed"], sub2["seq"], sub2["epoch"]), (2, 5, epoch))
        missed = await notifications(again, 2)
        self.assertEqual([m["title"] for m in missed], ["n4", "n5"])
        # Polling reads the same stream on either node.
        for d in (self.a, self.b):
            status, _h, page = d.http_json("GET", f"/api/channels/news/messages?since={epoch}:3")
            self.assertEqual(status, 200, page)
            self.assertEqual([m["seq"] for m in page["messages"]], [4, 5])
            self.assertTrue(page["recovered"])

    async def test_publishers_on_both_nodes_every_subscriber_sees_one_contiguous_run(self):
        subs = [(await self.subscribe(d, "race"))[0] for d in (self.a, self.b, self.a, self.b)]
        n = 150

        def publisher(d, tag):
            for i in range(n):
                publish_ok(d, "race", f"{tag}{i}")

        await asyncio.gather(asyncio.to_thread(publisher, self.a, "a"),
                             asyncio.to_thread(publisher, self.b, "b"))
        runs = []
        for client in subs:
            got = await notifications(client, 2 * n, timeout=20)
            self.assertEqual([m["seq"] for m in got], list(range(1, 2 * n + 1)))
            runs.append([m["title"] for m in got])
        # Every node delivered the same notification at each seq.
        for run in runs[1:]:
            self.assertEqual(run, runs[0])
        for tag in "ab":
            mine = [t for t in runs[0] if t[0] == tag]
            self.assertEqual(mine, [f"{tag}{i}" for i in range(n)])  # each publisher's order

    async def test_channels_count_subscribers_of_every_node(self):
        await self.subscribe(self.a, "count")
        await self.subscribe(self.b, "count")
        await self.subscribe(self.b, "count")

        def counted(d):
            status, _h, body = d.http_json("GET", "/api/channels")
            return status == 200 and {"name": "count", "subscribers": 3} in body.get("channels",
                                                                                      [])
        for d in (self.a, self.b):
            wait_until(lambda: counted(d), timeout=10, what="3 subscribers counted on " + str(d.port))

    async def test_a_node_that_stops_cleanly_leaves_the_count_at_once(self):
        self.assertEqual(self.a.stop(timeout=10), 0, self.a.stderr_text())
        started = time.monotonic()
        # Sooner than the 10 s after which a node that said nothing expires.
        wait_until(lambda: cluster_state(self.b).get("nodes") == 1, timeout=6,
                   what="node A off the node list")
        self.assertLess(time.monotonic() - started, 6)

    async def test_idempotency_key_holds_across_nodes(self):
        first = publish_ok(self.a, "keys", "once", headers={"Idempotency-Key": "k-1"})
        status, h, again = publish(self.b, "keys", "twice", headers={"Idempotency-Key": "k-1"})
        self.assertEqual(status, 200, again)
        self.assertEqual(h.get("Idempotent-Replayed"), "true")
        self.assertEqual((again["seq"], again["epoch"]), (first["seq"], first["epoch"]))
        status, _h, page = self.b.http_json("GET", "/api/channels/keys/messages")
        self.assertEqual([m["title"] for m in page["messages"]], ["once"])

    async def test_sse_on_one_node_sees_publishes_on_the_other(self):
        client, sub = await self.subscribe(self.a, "sse")  # the channel's epoch
        publish_ok(self.b, "sse", "one")
        reader, writer = await asyncio.open_connection("127.0.0.1", self.a.port)
        writer.write(f"GET /api/events/sse?since={sub['epoch']}:0 HTTP/1.1\r\n"
                     f"Host: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        publish_ok(self.b, "sse", "two")
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"event: notification") < 2:
            self.assertLess(time.monotonic(), deadline, data)
            data += await asyncio.wait_for(reader.read(65536), 10)
        self.assertIn(f"id: {sub['epoch']}:1".encode(), data)
        self.assertIn(f"id: {sub['epoch']}:2".encode(), data)
        writer.close()


class PubSubKilled(ClusterTestCase):
    async def test_killed_subscriptions_leave_no_gap(self):
        client_a, _ = await self.subscribe(self.a, "k")
        client_b, _ = await self.subscribe(self.b, "k")
        n = 300
        killed = []

        def publisher():
            for i in range(1, n + 1):
                if i in (50, 150, 250):
                    killed.append(resp(self.redis.port, "CLIENT", "KILL", "TYPE", "pubsub"))
                publish_ok(self.a if i % 2 else self.b, "k", f"m{i}")

        await asyncio.to_thread(publisher)
        self.assertTrue(all(isinstance(k, int) and k >= 1 for k in killed), killed)
        for client in (client_a, client_b):
            got = await notifications(client, n, timeout=20)
            self.assertEqual([m.get("seq") for m in got], list(range(1, n + 1)))
        for d in (self.a, self.b):
            self.assertGreaterEqual(stats(d)["cluster"].get("pubsubReconnects", 0), 3)


class WedgedSubscription(ClusterTestCase):
    through_proxy = True

    async def test_a_silent_subscription_is_found_and_repaired(self):
        client, _ = await self.subscribe(self.a, "w")
        publish_ok(self.b, "w", "before")
        self.assertEqual((await notifications(client, 1))[0]["seq"], 1)
        self.proxy.freeze_subscribers()
        started = time.monotonic()
        for i in range(2, 6):
            publish_ok(self.b, "w", f"during{i}")  # still 200: Redis took them
        got = await notifications(client, 4, timeout=20)
        self.assertEqual([m["seq"] for m in got], [2, 3, 4, 5])
        self.assertLess(time.monotonic() - started, 15, "repaired within seconds")
        self.a.wait_stderr(r"(?i)probe", timeout=5)


class RedisLost(ClusterTestCase):
    timeout = 0.5

    async def test_redis_killed_then_back_empty(self):
        client, sub = await self.subscribe(self.a, "lost")
        old_epoch = sub["epoch"]
        publish_ok(self.b, "lost", "kept")
        await notifications(client, 1)
        self.redis.kill()
        for d in (self.a, self.b):
            wait_until(lambda: cluster_state(d).get("state") == "down", timeout=5,
                       what="cluster down")
        started = time.monotonic()
        status, _h, body = publish(self.b, "lost", "nowhere")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"], "Broker unavailable")
        status, _h, text = self.a.http("GET", "/health")
        self.assertEqual(status, 503)
        self.assertIn(b"Broker unavailable", text)
        self.a.wait_notify(lambda m: "STATUS=" in m and "Redis" in m, timeout=5)
        # A resume needs Redis; a plain subscribe waits for it.
        c2 = await self.b.ws()
        err = await c2.request({"type": "subscribe", "channel": "other",
                                "since": {"epoch": old_epoch, "seq": 1}})
        self.assertEqual((err["type"], err["code"]), ("error", "broker_unavailable"), err)

        self.redis.start()
        self.wait_cluster_up([self.a, self.b])
        reply = publish_ok(self.b, "lost", "fresh")
        self.assertEqual(reply["seq"], 1)
        self.assertNotEqual(reply["epoch"], old_epoch)
        msgs = await notifications(client, 2, timeout=15)
        self.assertEqual(msgs[0]["type"], "resync", msgs)
        self.assertEqual(msgs[0]["reason"], "epoch_changed")
        self.assertEqual(msgs[0]["epoch"], reply["epoch"])
        self.assertEqual((msgs[1]["seq"], msgs[1]["epoch"], msgs[1]["title"]),
                         (1, reply["epoch"], "fresh"))
        old, sub2 = await self.subscribe(self.b, "lost", {"epoch": old_epoch, "seq": 1})
        self.assertFalse(sub2["recovered"])
        self.assertEqual(sub2["epoch"], reply["epoch"])
        status, _h, _t = self.a.http("GET", "/health")
        self.assertEqual(status, 200)


class RedisSlow(ClusterTestCase):
    timeout = 0.3
    node_env = {"WATCHDOG_USEC": "400000"}  # WATCHDOG=1 every 200 ms from the loop

    async def test_a_slow_redis_never_stalls_the_loop(self):
        client, _ = await self.subscribe(self.a, "slow")
        echo = await self.a.ws()
        sleeper = asyncio.create_task(asyncio.to_thread(
            resp, self.redis.port, "DEBUG", "SLEEP", "2", timeout=10))
        await asyncio.sleep(0.1)  # let the sleep start
        watchdog_before = sum(m == "WATCHDOG=1" for m in self.a.notify_messages())
        started = time.monotonic()
        status, _h, body = await asyncio.to_thread(publish, self.a, "slow", "late")
        self.assertEqual(status, 503, body)
        self.assertLess(time.monotonic() - started, 1.5)
        # Meanwhile the loop answers at once.
        for i in range(5):
            t0 = time.monotonic()
            pong = await echo.request({"type": "ping", "id": i})
            self.assertEqual(pong["type"], "pong")
            self.assertLess(time.monotonic() - t0, 0.25)
        await sleeper
        # The watchdog was fed from the loop all through Redis's sleep.
        fed = sum(m == "WATCHDOG=1" for m in self.a.notify_messages()) - watchdog_before
        self.assertGreaterEqual(fed, 5, "WATCHDOG=1 while Redis slept (1.9 s)")
        self.wait_cluster_up([self.a, self.b])
        reply = publish_ok(self.a, "slow", "after")
        # The publish answered 503 may still have run in Redis once it woke
        # (a timeout says "may have"): then it comes first, one seq before.
        got = await notifications(client, 1, timeout=10)
        if got[0]["title"] == "late":
            self.assertEqual(got[0]["seq"], reply["seq"] - 1)
            got = await notifications(client, 1, timeout=10)
        self.assertEqual((got[0]["title"], got[0]["seq"]), ("after", reply["seq"]))


class NodeKilled(ClusterTestCase):
    async def test_clients_of_a_killed_node_resume_on_the_other(self):
        client, sub = await self.subscribe(self.a, "fail")
        for i in range(1, 4):
            publish_ok(self.b, "fail", f"m{i}")
        got = await notifications(client, 3)
        last = got[-1]
        self.a.signal(signal.SIGKILL)
        self.a.wait_exit(10)
        publish_ok(self.b, "fail", "m4")
        publish_ok(self.b, "fail", "m5")
        again, sub2 = await self.subscribe(self.b, "fail",
                                           {"epoch": last["epoch"], "seq": last["seq"]})
        self.assertTrue(sub2["recovered"], sub2)
        missed = await notifications(again, 2)
        self.assertEqual([m["title"] for m in missed], ["m4", "m5"])
        wait_until(lambda: cluster_state(self.b).get("nodes") == 1, timeout=20,
                   what="the dead node no longer counted")


def nginx_recipe():
    """The nginx configuration docs/CLUSTER.md gives, as written there."""
    with open(CLUSTER_DOC, encoding="utf-8") as f:
        doc = f.read()
    m = re.search(r"<!-- nginx-recipe: begin -->\s*```nginx\n(.*?)```\s*<!-- nginx-recipe: end -->",
                  doc, re.S)
    assert m, "docs/CLUSTER.md lost its nginx recipe markers"
    return m.group(1)


@unittest.skipUnless(os.access(NGINX, os.X_OK), "nginx is not installed")
class BehindNginx(ClusterTestCase):
    """docs/CLUSTER.md's recipe: two nodes behind its nginx configuration."""

    def setUp(self):
        super().setUp()
        self.nginx_dir = tempfile.mkdtemp(prefix="notifyd-nginx-")
        self.addCleanup(shutil.rmtree, self.nginx_dir, True)
        self.port = free_port()
        recipe = nginx_recipe()
        for old, new in (("127.0.0.1:8081", f"127.0.0.1:{self.a.port}"),
                         ("127.0.0.1:8082", f"127.0.0.1:{self.b.port}"),
                         ("listen 80;", f"listen 127.0.0.1:{self.port};")):
            self.assertIn(old, recipe)
            recipe = recipe.replace(old, new)
        t = self.nginx_dir
        conf = os.path.join(t, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
pid {t}/nginx.pid;
error_log {t}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
{recipe}
}}
""")
        self.nginx = subprocess.Popen([NGINX, "-p", t, "-c", conf, "-g", "daemon off;"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_nginx)

        def listening():
            if self.nginx.poll() is not None:
                raise AssertionError(f"nginx exited: {self.nginx_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, timeout=10, what="nginx listening")

    def nginx_log(self):
        try:
            with open(os.path.join(self.nginx_dir, "error.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop_nginx(self):
        if self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(5)

    def via_nginx(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body,
                         headers={"Content-Type": "application/json"} if body else {})
            r = conn.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data.startswith(b"{") else data
        finally:
            conn.close()

    async def ws_via_nginx(self):
        conn = await websockets.connect(f"ws://127.0.0.1:{self.port}/ws", compression=None,
                                        ping_interval=None, close_timeout=2, open_timeout=10)
        client = WsClient(conn)
        self.addAsyncCleanup(client.close)
        client.welcome = await client.recv_json(10)
        return client

    async def test_the_documented_recipe_balances_and_survives_a_node(self):
        client = await self.ws_via_nginx()
        sub = await client.request({"type": "subscribe", "channel": "lb"}, timeout=10)
        self.assertEqual(sub["type"], "subscribed", sub)
        for i in range(1, 11):
            status, reply = await asyncio.to_thread(
                self.via_nginx, "POST", "/api/notify/lb", json.dumps({"title": f"m{i}"}))
            self.assertEqual(status, 200, reply)
            self.assertEqual((reply["seq"], reply["nodes"]), (i, 1))  # the subscriber's node
        got = await notifications(client, 10)
        self.assertEqual([m["seq"] for m in got], list(range(1, 11)))
        # Both nodes took publishes: nginx spread them.
        for d in (self.a, self.b):
            self.assertGreater(stats(d)["published"], 0)
        # One node dies; nginx sends everything to the other, and the client
        # resumes there.
        await client.close()
        self.a.signal(signal.SIGKILL)
        self.a.wait_exit(10)
        for i in range(11, 14):
            status, reply = await asyncio.to_thread(
                self.via_nginx, "POST", "/api/notify/lb", json.dumps({"title": f"m{i}"}))
            self.assertEqual(status, 200, reply)
        again = await self.ws_via_nginx()
        sub2 = await again.request({"type": "subscribe", "channel": "lb",
                                    "since": {"epoch": got[-1]["epoch"], "seq": 10}}, timeout=10)
        self.assertTrue(sub2.get("recovered"), sub2)
        missed = await notifications(again, 3)
        self.assertEqual([m["title"] for m in missed], ["m11", "m12", "m13"])
        status, page = await asyncio.to_thread(self.via_nginx, "GET",
                                               "/api/channels/lb/messages?since=all")
        self.assertEqual((status, len(page["messages"])), (200, 13))


if __name__ == "__main__":
    if not redis_available():
        print("redis-server is not installed: skipped", file=sys.stderr)
        sys.exit(77)
    unittest.main()
