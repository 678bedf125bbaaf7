"""kill -9 while publishers run (PROTOCOL.md Part 2, [history] sync): in
commit mode every acknowledged notification survives, contiguous, under the
same epoch, content intact; in batch mode the next start is a new epoch and
old positions are not recovered, never a hole or a reused seq in one epoch."""

import asyncio
import http.client
import json
import os
import random
import signal
import sqlite3
import threading
import time
import unittest

from harness import Daemon

PUBLISHERS = 4
CHANNELS = ("dur-a", "dur-b")


class Publishers:
    """Keep-alive publishers that run until the daemon dies; they record every
    acknowledged (channel, seq, epoch, body)."""

    def __init__(self, d):
        self.d = d
        self.acked = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(PUBLISHERS)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(30)
            if t.is_alive():
                raise AssertionError("a publisher did not stop within 30 s")

    def run(self, n):
        conn = http.client.HTTPConnection(self.d.host, self.d.port, timeout=10)
        try:
            for i in range(1_000_000):  # bounded; the kill ends it long before
                channel = CHANNELS[i % len(CHANNELS)]
                body = f"p{n}-{i}-" + "x" * (i % 50)
                try:
                    conn.request("POST", f"/api/notify/{channel}", body=body)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    return
                if resp.status != 200:
                    raise AssertionError(f"publish -> {resp.status} {data!r}")
                reply = json.loads(data)
                with self.lock:
                    self.acked.append((channel, reply["seq"], reply["epoch"], body))
        finally:
            conn.close()


def kept(d, channel):
    """Every kept notification of `channel`, by paging (bounded)."""
    out = []
    query = "?limit=1000"
    for _ in range(10_000):
        status, _h, page = d.http_json("GET", f"/api/channels/{channel}/messages{query}")
        if status != 200:
            raise AssertionError(f"messages -> {status} {page}")
        out += page["messages"]
        if not page["more"]:
            return page, out
        query = f"?since={out[-1]['id']}&limit=1000"
    raise AssertionError("paging did not end")


class KillTest(unittest.IsolatedAsyncioTestCase):
    def daemon(self, sync):
        d = Daemon(start=False)
        self.addCleanup(d.cleanup)
        self.db = os.path.join(d.tmpdir, "history.db")
        d.write_config({
            "limits": {"publish_rate": 0, "connection_rate": 0},
            "history": {"store": "sqlite", "path": self.db, "sync": sync, "size": 100000,
                        "recover_max": 100000},
        })
        d.start()
        return d

    def kill_while_publishing(self, d):
        seed = random.randrange(1 << 30)
        delay = random.Random(seed).uniform(0.4, 1.2)
        pubs = Publishers(d)
        pubs.start()
        # At least some publishes are acknowledged before the kill.
        deadline = time.monotonic() + 20
        while len(pubs.acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        d.signal(signal.SIGKILL)
        self.assertEqual(d.wait_exit(10), -signal.SIGKILL)
        pubs.join()
        self.assertGreater(len(pubs.acked), 20, f"seed {seed}")
        return pubs.acked, seed

    def test_commit_mode_keeps_every_acknowledged_notification(self):
        d = self.daemon("commit")
        acked, seed = self.kill_while_publishing(d)
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        d.start()
        for channel in CHANNELS:
            mine = sorted((seq, epoch, body) for ch, seq, epoch, body in acked if ch == channel)
            page, stored = kept(d, channel)
            epochs = {epoch for _seq, epoch, _body in mine}
            self.assertEqual(len(epochs), 1, f"seed {seed}")
            epoch = epochs.pop()
            self.assertEqual(page["epoch"], epoch, f"seed {seed}: the epoch changed")
            seqs = [m["seq"] for m in stored]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)),
                             f"seed {seed}: not contiguous from 1")
            self.assertEqual(page["seq"], len(seqs))
            by_seq = {m["seq"]: m for m in stored}
            for seq, ep, body in mine:
                self.assertIn(seq, by_seq, f"seed {seed}: acknowledged {channel} {seq} lost")
                self.assertEqual((by_seq[seq]["body"], by_seq[seq]["epoch"]), (body, ep))
            # The stream goes on from there.
            status, _h, reply = d.http_json("POST", f"/api/notify/{channel}", body="after")
            self.assertEqual((status, reply["seq"], reply["epoch"]), (200, len(seqs) + 1, epoch))
        self.assertEqual(d.stop(), 0)

    async def test_batch_mode_starts_a_new_epoch_after_a_crash(self):
        d = self.daemon("batch")
        acked, seed = self.kill_while_publishing(d)
        d.start()
        d.wait_stderr(r"new epoch")
        for channel in CHANNELS:
            mine = [(seq, epoch) for ch, seq, epoch, _b in acked if ch == channel]
            old_epoch = mine[0][1]
            last = max(seq for seq, _e in mine)
            c = await d.ws()
            reply = await c.request({"type": "subscribe", "channel": channel,
                                     "since": {"epoch": old_epoch, "seq": last}})
            self.assertEqual((reply["recovered"], reply["missed"]), (False, 0), f"seed {seed}")
            self.assertNotEqual(reply["epoch"], old_epoch, f"seed {seed}")
            self.assertEqual(reply["seq"], 0, f"seed {seed}: old entries under a new epoch")
            status, _h, pub = d.http_json("POST", f"/api/notify/{channel}", body="after")
            self.assertEqual((status, pub["seq"], pub["epoch"]), (200, 1, reply["epoch"]))
            n = await c.recv_until("notification")
            self.assertEqual(n["id"], pub["id"])
            await c.close()
        self.assertEqual(d.stop(), 0)

    async def test_batch_mode_clean_stop_keeps_the_epoch(self):
        d = self.daemon("batch")
        replies = []
        for i in range(50):
            status, _h, r = d.http_json("POST", "/api/notify/dur-a", body=f"b{i}")
            self.assertEqual(status, 200)
            replies.append(r)
        self.assertEqual(d.stop(), 0)
        d.start()
        page, stored = kept(d, "dur-a")
        self.assertEqual(page["epoch"], replies[0]["epoch"])
        self.assertEqual([m["body"] for m in stored], [f"b{i}" for i in range(50)])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
