"""History and gap-free resume against the real notifyd (PROTOCOL.md Part 2):
positions on every notification, resume over WebSocket (also racing with
publishes), polling, idempotent publish, both stores, restarts, a corrupt
database and a full disk."""

import asyncio
import http.client
import json
import os
import resource
import signal
import threading
import unittest

from harness import Daemon, DaemonTestCase, wait_until

NO_LIMITS = {"connection_rate": 0, "publish_rate": 0}


def publish(d, channel, body="x", headers=None):
    status, h, reply = d.http_json("POST", f"/api/notify/{channel}", body=body,
                                   headers=headers)
    return status, h, reply


def publish_ok(d, channel, body="x", headers=None):
    status, _h, reply = publish(d, channel, body, headers)
    if status != 200:
        raise AssertionError(f"publish -> {status} {reply}")
    return reply


def messages(d, channel, query=""):
    status, _h, page = d.http_json("GET", f"/api/channels/{channel}/messages{query}")
    if status != 200:
        raise AssertionError(f"messages -> {status} {page}")
    return page


def all_kept(d, channel):
    """Every kept notification, by paging with `since` (bounded)."""
    page = messages(d, channel, "?limit=1000")
    out = list(page["messages"])
    for _ in range(1000):
        if not page["more"]:
            return out
        page = messages(d, channel, f"?since={out[-1]['id']}&limit=1000")
        out += page["messages"]
    raise AssertionError("paging did not end")


async def subscribe(d, channel, since=None):
    c = await d.ws()
    req = {"type": "subscribe", "channel": channel}
    if since is not None:
        req["since"] = {"epoch": since[0], "seq": since[1]}
    reply = await c.request(req)
    return c, reply


async def notifications(c, n, timeout=10.0):
    out = []
    for _ in range(n):
        out.append(await c.recv_until("notification", timeout))
    return out


class ResumeTest(DaemonTestCase):
    config = {"limits": NO_LIMITS, "history": {"size": 1000, "recover_max": 1000}}

    async def test_positions_on_every_notification_and_reply(self):
        c, sub = await subscribe(self.d, "news")
        self.assertEqual((sub["seq"], "recovered" in sub), (0, False))
        first = publish_ok(self.d, "news", "a")
        second = publish_ok(self.d, "news", "b")
        self.assertEqual((first["seq"], second["seq"]), (1, 2))
        self.assertEqual(first["epoch"], sub["epoch"])
        self.assertEqual(second["id"], f"{sub['epoch']}:2")
        got = await notifications(c, 2)
        self.assertEqual([(n["seq"], n["epoch"], n["id"]) for n in got],
                         [(1, sub["epoch"], first["id"]), (2, sub["epoch"], second["id"])])

    async def test_resume_replays_the_missed_in_order_before_live(self):
        c, sub = await subscribe(self.d, "news")
        epoch = sub["epoch"]
        for i in range(3):
            publish_ok(self.d, "news", f"n{i + 1}")
        seen = await notifications(c, 3)
        await c.close()
        for i in range(3, 6):
            publish_ok(self.d, "news", f"n{i + 1}")
        c2, reply = await subscribe(self.d, "news", (epoch, seen[-1]["seq"]))
        self.assertEqual((reply["recovered"], reply["missed"], reply["seq"], reply["epoch"]),
                         (True, 3, 6, epoch))
        publish_ok(self.d, "news", "n7")
        got = await notifications(c2, 4)
        self.assertEqual([n["seq"] for n in got], [4, 5, 6, 7])
        self.assertEqual([n["body"] for n in got], ["n4", "n5", "n6", "n7"])

    async def test_not_recovered_replays_nothing_but_subscribes(self):
        publish_ok(self.d, "news")
        for since in (("Unknown0epoch", 1), (publish_ok(self.d, "news")["epoch"], 99)):
            with self.subTest(since=since):
                c, reply = await subscribe(self.d, "news", since)
                self.assertEqual((reply["recovered"], reply["missed"]), (False, 0))
                live = publish_ok(self.d, "news", "live")
                n = await c.recv_until("notification")
                self.assertEqual(n["id"], live["id"])
                await c.close()

    async def test_invalid_since_keeps_the_connection(self):
        c = await self.d.ws()
        for since in ("E:1", {"seq": 1}, {"epoch": "AbCdEfGh1234", "seq": -1},
                      {"epoch": "AbCdEfGh1234", "seq": "3"}):
            reply = await c.request({"type": "subscribe", "channel": "news", "since": since})
            self.assertEqual((reply["type"], reply["code"]), ("error", "invalid_since"), since)
        reply = await c.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(reply["type"], "subscribed")

    async def test_resume_racing_with_publishes_is_exactly_once(self):
        # A publisher runs flat out on a keep-alive connection while clients
        # resume from positions a watcher saw; each must see a contiguous run
        # to the end, with nothing twice.
        total = 400
        watcher, sub = await subscribe(self.d, "race")
        epoch = sub["epoch"]
        done = threading.Event()
        errors = []

        def publisher():
            conn = http.client.HTTPConnection(self.d.host, self.d.port, timeout=10)
            try:
                for i in range(total):
                    conn.request("POST", "/api/notify/race", body=f"r{i + 1}")
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        errors.append(resp.status)
            finally:
                conn.close()
                done.set()

        thread = threading.Thread(target=publisher)
        thread.start()
        try:
            resumed = []
            seen = 0
            for _ in range(6):
                batch = await notifications(watcher, 40)
                seen = batch[-1]["seq"]
                c, reply = await subscribe(self.d, "race", (epoch, seen))
                self.assertTrue(reply["recovered"], reply)
                resumed.append((seen, c))
        finally:
            await asyncio.to_thread(thread.join, 30)
        self.assertEqual(errors, [])
        self.assertTrue(done.is_set())
        for start, c in resumed:
            got = await notifications(c, total - start, timeout=20)
            self.assertEqual([n["seq"] for n in got], list(range(start + 1, total + 1)),
                             f"resumed from {start}")

    async def test_polling_pages_and_says_when_it_cannot_reach_back(self):
        for i in range(5):
            reply = publish_ok(self.d, "poll", f"p{i + 1}")
        epoch = reply["epoch"]
        page = messages(self.d, "poll", f"?since={epoch}:1&limit=2")
        self.assertEqual((page["epoch"], page["seq"], page["recovered"], page["more"]),
                         (epoch, 5, True, True))
        self.assertEqual([m["body"] for m in page["messages"]], ["p2", "p3"])
        self.assertEqual([m["seq"] for m in all_kept(self.d, "poll")], [1, 2, 3, 4, 5])
        self.assertFalse(messages(self.d, "poll", "?since=Unknown0epoch:3")["recovered"])
        for bad in ("?since=3", "?limit=0", "?limit=5000", "?since=E:1"):
            status, _h, body = self.d.http_json("GET", f"/api/channels/poll/messages{bad}")
            self.assertEqual(status, 400, (bad, body))

    async def test_idempotency_key_publishes_once(self):
        c, _sub = await subscribe(self.d, "jobs")
        key = {"Idempotency-Key": "backup-2026-12-02"}
        s1, h1, r1 = publish(self.d, "jobs", "done", key)
        s2, h2, r2 = publish(self.d, "jobs", "something else", key)
        self.assertEqual((s1, s2), (200, 200))
        self.assertEqual(r1, r2)
        self.assertIsNone(h1.get("Idempotent-Replayed"))
        self.assertEqual(h2.get("Idempotent-Replayed"), "true")
        other = publish_ok(self.d, "jobs", "next")
        got = await notifications(c, 2)
        self.assertEqual([n["id"] for n in got], [r1["id"], other["id"]])
        status, _h, _b = publish(self.d, "jobs", "x", {"Idempotency-Key": "k" * 129})
        self.assertEqual(status, 400)

    async def test_stats_show_the_history(self):
        publish_ok(self.d, "news", "a")
        _s, _h, stats = self.d.http_json("GET", "/api/stats")
        h = stats["history"]
        self.assertEqual((h["store"], h["state"], h["kept"]), ("memory", "ok", 1))
        self.assertGreater(h["keptBytes"], 0)
        self.assertIn("sseStreams", stats)


class MemoryRestartTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_restart_with_memory_history_is_a_new_epoch(self):
        d = Daemon({"limits": NO_LIMITS})
        self.addCleanup(d.cleanup)
        old = publish_ok(d, "news")
        self.assertEqual(d.stop(), 0)
        d.start()
        c, reply = await subscribe(d, "news", (old["epoch"], old["seq"]))
        self.assertEqual((reply["recovered"], reply["seq"]), (False, 0))
        self.assertNotEqual(reply["epoch"], old["epoch"])
        await c.close()


class SqliteTest(unittest.IsolatedAsyncioTestCase):
    """The sqlite store: restarts keep epochs, a bad file is moved aside, a
    full disk answers 503 while live traffic goes on."""

    def daemon(self, sync="commit", preexec=None, start=True):
        d = Daemon(start=False, preexec=preexec)
        self.addCleanup(d.cleanup)
        self.db = os.path.join(d.tmpdir, "state", "history.db")
        os.makedirs(os.path.dirname(self.db), exist_ok=True)
        d.write_config({"limits": NO_LIMITS,
                        "history": {"store": "sqlite", "path": self.db, "sync": sync}})
        if start:
            d.start()
        return d

    async def check_sigterm_keeps_the_epoch(self, sync):
        d = self.daemon(sync)
        first = [publish_ok(d, "news", f"n{i}") for i in range(5)]
        replied = publish_ok(d, "news", "k", {"Idempotency-Key": "job-1"})
        self.assertEqual(d.stop(), 0)
        d.start()
        c, reply = await subscribe(d, "news", (first[0]["epoch"], 2))
        self.assertEqual((reply["recovered"], reply["missed"], reply["epoch"]),
                         (True, 4, first[0]["epoch"]))
        got = await notifications(c, 4)
        self.assertEqual([n["body"] for n in got], ["n2", "n3", "n4", "k"])
        status, headers, again = publish(d, "news", "k", {"Idempotency-Key": "job-1"})
        self.assertEqual((status, again["seq"], headers.get("Idempotent-Replayed")),
                         (200, replied["seq"], "true"))
        self.assertEqual(publish_ok(d, "news")["seq"], 7)
        await c.close()

    async def test_sigterm_and_restart_keep_the_epoch_in_commit_mode(self):
        await self.check_sigterm_keeps_the_epoch("commit")

    async def test_sigterm_and_restart_keep_the_epoch_in_batch_mode(self):
        await self.check_sigterm_keeps_the_epoch("batch")

    async def test_a_corrupt_database_is_moved_aside(self):
        d = self.daemon(start=False)
        with open(self.db, "wb") as f:
            f.write(b"this is not a database" * 100)
        d.start()
        aside = [n for n in os.listdir(os.path.dirname(self.db)) if ".corrupt-" in n]
        self.assertEqual(len(aside), 1, os.listdir(os.path.dirname(self.db)))
        d.wait_stderr(r"history\.db")
        self.assertEqual(publish_ok(d, "news")["seq"], 1)
        self.assertEqual(d.stop(), 0)

    async def test_an_unusable_path_refuses_publishes_but_serves(self):
        d = Daemon(start=False)
        self.addCleanup(d.cleanup)
        d.write_config({"history": {"store": "sqlite",
                                    "path": "/proc/notifyd-nowhere/history.db"}})
        d.start()
        d.wait_stderr(r"cannot open /proc/notifyd-nowhere/history\.db")
        status, _h, body = publish(d, "news")
        self.assertEqual(status, 503, body)
        self.assertIn("cannot open", body["details"])
        status, _h, _b = d.http("GET", "/health")
        self.assertEqual(status, 200)
        c, reply = await subscribe(d, "news")
        self.assertEqual(reply["type"], "subscribed")
        await c.close()
        self.assertEqual(d.stop(), 0)

    async def test_a_full_disk_answers_503_and_live_traffic_goes_on(self):
        limit = 256 * 1024

        def small_disk():
            # Writes past `limit` bytes in any file fail with EFBIG, as on a
            # full disk; SIGXFSZ would kill the process instead.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        d = self.daemon(preexec=small_disk)
        watcher, _sub = await subscribe(d, "live")
        body = "x" * 2000
        statuses = []
        for _ in range(400):
            status, _h, reply = publish(d, "news", body)
            statuses.append(status)
            if status == 503:
                break
        self.assertEqual(statuses[-1], 503, "the file never reached its limit")
        # EFBIG reads as an I/O error; ENOSPC on a real disk as "full".
        self.assertRegex(reply["details"], r"history store cannot write: .*(full|I/O error)")
        self.assertTrue(all(s == 200 for s in statuses[:-1]), statuses)
        d.wait_stderr(r"(full|I/O error)")
        # Live traffic: WebSocket sessions and health go on.
        status, _h, _b = d.http("GET", "/health")
        self.assertEqual(status, 200)
        reply = await watcher.request({"type": "ping", "id": 1})
        self.assertEqual(reply["type"], "pong")
        _s, _h, stats = d.http_json("GET", "/api/stats")
        self.assertGreaterEqual(stats["history"]["storeFailures"], 1)
        await watcher.close()
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
