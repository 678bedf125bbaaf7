"""The Redis engine's Lua scripts (src/cluster/redis_scripts.cpp) against a
real redis-server started by the test (redis_server.py): seqs contiguous
under one epoch, a new epoch (and the old stream gone) once the meta hash is
lost, exact trimming, idempotent repeats, reads after a seq and of the tail,
first_kept after trimming, the top check and the node heartbeat. The scripts
are taken from the C++ source, so what runs here is what notifyd sends.

Exits with 77 (CTest: skipped) when redis-server is not installed.
"""
import os
import re
import sys
import unittest

from redis_server import REDIS_SERVER, RedisError, RedisServer

SKIPPED = 77
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "cluster",
                      "redis_scripts.cpp")
DAY_MS = 86400 * 1000
META_TTL_MS = 30 * DAY_MS


def load_scripts():
    with open(SOURCE) as f:
        text = f.read()
    found = dict(re.findall(r'const char k(\w+)Source\[\] = R"lua\((.*?)\)lua";', text, re.S))
    for name in ("Publish", "Read", "RecordDelivered", "Tops", "Heartbeat"):
        if name not in found:
            raise AssertionError(f"k{name}Source not found in {SOURCE}")
    return found


SCRIPTS = load_scripts()


class ScriptsTest(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = RedisServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.r = self.server.client()
        self.assertEqual(self.r.command("FLUSHALL"), b"OK")
        self.r.command("CONFIG", "SET", "maxmemory", "0")

    def tearDown(self):
        self.r.close()

    # --- the scripts, called as the engine calls them ---------------------------------

    def eval(self, name, keys, args, client=None):
        return (client or self.r).command("EVAL", SCRIPTS[name], len(keys), *keys, *args)

    def publish(self, channel, payload, candidate="Candidate0001", size=3, key=None,
                history_ttl=DAY_MS, key_ttl=300000):
        keys = [f"p:{{{channel}}}:m", f"p:{{{channel}}}:x"]
        if key is not None:
            keys.append(f"p:{{{channel}}}:i:{key}")
        return self.eval("Publish", keys, [candidate, payload, size, history_ttl, META_TTL_MS,
                                           f"p:{{{channel}}}:p", key_ttl])

    def read(self, channel, since=0, count=100, mode="after", candidate="Candidate0009"):
        return self.eval("Read", [f"p:{{{channel}}}:m", f"p:{{{channel}}}:x"],
                         [candidate, since, count, mode, META_TTL_MS])

    def publish_ok(self, channel, payload, **kw):
        reply = self.publish(channel, payload, **kw)
        self.assertIsInstance(reply, list, reply)
        return reply

    # --- publish -------------------------------------------------------------------------

    def test_seqs_are_contiguous_under_the_first_candidate(self):
        replies = [self.publish_ok("news", f"m{i}", candidate=f"Candidate000{i}")
                   for i in range(1, 6)]
        self.assertEqual([r[0] for r in replies], [1, 2, 3, 4, 5])
        self.assertEqual({r[1] for r in replies}, {b"Candidate0001"})
        self.assertEqual([r[2:4] for r in replies], [[0, 0]] * 5)
        self.assertEqual(self.r.command("HGETALL", "p:{news}:m"),
                         [b"e", b"Candidate0001", b"s", b"5"])

    def test_the_message_carries_seq_and_epoch_and_publish_counts_receivers(self):
        sub = self.server.client()
        try:
            sub.command("SUBSCRIBE", "p:{news}:p")
            reply = self.publish_ok("news", "hello: world")
            self.assertEqual(reply[4], 1)
            self.assertEqual(sub.reply(), [b"message", b"p:{news}:p",
                                           b"1:Candidate0001:hello: world"])
        finally:
            sub.close()
        self.assertEqual(self.publish_ok("other", "x")[4], 0)

    def test_the_stream_keeps_exactly_size_entries_with_seq_ids(self):
        for i in range(1, 8):
            self.publish_ok("news", f"m{i}", size=3)
        self.assertEqual(self.r.command("XLEN", "p:{news}:x"), 3)
        entries = self.r.command("XRANGE", "p:{news}:x", "-", "+")
        self.assertEqual([e[0] for e in entries], [b"5-0", b"6-0", b"7-0"])
        self.assertEqual(entries[0][1], [b"d", b"m5"])

    def test_ttls_are_set_on_stream_and_meta(self):
        self.publish_ok("news", "m", history_ttl=60000)
        self.assertTrue(0 < self.r.command("PTTL", "p:{news}:x") <= 60000)
        self.assertTrue(60000 < self.r.command("PTTL", "p:{news}:m") <= META_TTL_MS)

    def test_size_zero_keeps_no_stream_but_counts_and_publishes(self):
        sub = self.server.client()
        try:
            sub.command("SUBSCRIBE", "p:{news}:p")
            self.publish_ok("news", "m1", size=3)
            sub.reply()
            reply = self.publish_ok("news", "m2", size=0)
            self.assertEqual(reply[0], 2)
            self.assertEqual(sub.reply()[2], b"2:Candidate0001:m2")
        finally:
            sub.close()
        self.assertEqual(self.r.command("EXISTS", "p:{news}:x"), 0)
        self.assertEqual(self.read("news")[2:], [0, []])

    def test_a_lost_meta_hash_begins_a_new_epoch_and_drops_the_old_stream(self):
        for i in range(1, 4):
            self.publish_ok("news", f"m{i}")
        self.r.command("DEL", "p:{news}:m")  # Evicted, or expired: the stream survived.
        reply = self.publish_ok("news", "new", candidate="Candidate0002")
        self.assertEqual(reply[:2], [1, b"Candidate0002"])
        entries = self.r.command("XRANGE", "p:{news}:x", "-", "+")
        self.assertEqual(entries, [[b"1-0", [b"d", b"new"]]])

    def test_after_flushall_a_new_epoch(self):
        self.publish_ok("news", "m1")
        self.r.command("FLUSHALL")
        self.assertEqual(self.publish_ok("news", "m", candidate="Candidate0003")[:2],
                         [1, b"Candidate0003"])

    def test_an_idempotency_key_repeat_is_answered_with_the_first_reply(self):
        first = self.publish_ok("news", "m1", key="k1")
        self.assertEqual(first[:4], [1, b"Candidate0001", 0, 0])
        self.assertTrue(0 < self.r.command("PTTL", "p:{news}:i:k1") <= 300000)
        sub = self.server.client()
        try:
            sub.command("SUBSCRIBE", "p:{news}:p")
            repeat = self.publish_ok("news", "other body", key="k1")
            self.assertEqual(repeat, [1, b"Candidate0001", 1, 0, 0])
            self.eval("RecordDelivered", ["p:{news}:i:k1"], [12])
            self.assertEqual(self.publish_ok("news", "again", key="k1")[:4],
                             [1, b"Candidate0001", 1, 12])
            # Nothing was published by the repeats: the next message is seq 2.
            self.assertEqual(self.publish_ok("news", "m2")[0], 2)
            self.assertEqual(sub.reply()[2], b"2:Candidate0001:m2")
        finally:
            sub.close()
        self.assertEqual(self.publish_ok("news", "m3", key="k2")[:3], [3, b"Candidate0001", 0])

    def test_recording_delivered_for_a_key_gone_does_not_create_it(self):
        self.eval("RecordDelivered", ["p:{news}:i:gone"], [3])
        self.assertEqual(self.r.command("EXISTS", "p:{news}:i:gone"), 0)

    def test_out_of_memory_is_an_error_reply_and_changes_nothing(self):
        self.publish_ok("news", "m1")
        self.r.command("CONFIG", "SET", "maxmemory", "1")
        reply = self.publish("news", "m2")
        self.r.command("CONFIG", "SET", "maxmemory", "0")
        self.assertIsInstance(reply, RedisError)
        self.assertIn("OOM", reply.text)
        self.assertEqual(self.r.command("HGET", "p:{news}:m", "s"), b"1")

    # --- read ---------------------------------------------------------------------------------

    def test_read_gives_the_entries_after_since(self):
        for i in range(1, 6):
            self.publish_ok("news", f"m{i}", size=3)
        self.assertEqual(self.read("news", since=3),
                         [b"Candidate0001", 5, 3, [4, b"m4", 5, b"m5"]])
        self.assertEqual(self.read("news", since=0)[3], [3, b"m3", 4, b"m4", 5, b"m5"])
        self.assertEqual(self.read("news", since=0, count=1)[3], [3, b"m3"])
        self.assertEqual(self.read("news", since=5)[3], [])
        self.assertEqual(self.read("news", since=9)[3], [])

    def test_a_tail_read_gives_the_last_entries_oldest_first(self):
        for i in range(1, 6):
            self.publish_ok("news", f"m{i}", size=3)
        self.assertEqual(self.read("news", count=2, mode="tail"),
                         [b"Candidate0001", 5, 3, [4, b"m4", 5, b"m5"]])
        self.assertEqual(self.read("news", count=0, mode="tail")[3], [])

    def test_first_kept_follows_the_trimming(self):
        for i in range(1, 8):
            self.publish_ok("news", f"m{i}", size=3)
        self.assertEqual(self.read("news")[1:3], [7, 5])

    def test_a_read_of_a_new_channel_sets_its_epoch_at_seq_zero(self):
        self.assertEqual(self.read("fresh", candidate="Candidate0007"),
                         [b"Candidate0007", 0, 0, []])
        self.assertTrue(self.r.command("PTTL", "p:{fresh}:m") > 0)
        self.assertEqual(self.publish_ok("fresh", "m1", candidate="Candidate0008")[:2],
                         [1, b"Candidate0007"])

    def test_an_expired_stream_keeps_the_top_and_keeps_nothing(self):
        for i in range(1, 4):
            self.publish_ok("news", f"m{i}")
        self.r.command("DEL", "p:{news}:x")
        self.assertEqual(self.read("news"), [b"Candidate0001", 3, 0, []])

    def test_a_stream_left_from_a_lost_epoch_is_not_read(self):
        for i in range(1, 4):
            self.publish_ok("news", f"m{i}")
        self.r.command("DEL", "p:{news}:m")
        self.assertEqual(self.read("news", candidate="Candidate0005"),
                         [b"Candidate0005", 0, 0, []])

    # --- the top check and the heartbeat ---------------------------------------------------

    def test_tops_gives_epoch_and_seq_per_meta_key(self):
        self.publish_ok("a", "m1")
        self.publish_ok("a", "m2")
        self.r.command("PEXPIRE", "p:{a}:m", 1000)
        reply = self.eval("Tops", ["p:{a}:m", "p:{missing}:m"], [META_TTL_MS])
        self.assertEqual(reply, [b"Candidate0001", 2, b"", 0])
        self.assertTrue(self.r.command("PTTL", "p:{a}:m") > 1000)  # Kept alive.
        self.assertEqual(self.r.command("EXISTS", "p:{missing}:m"), 0)

    def heartbeat(self, node, pairs, expiry=10000):
        args = [node, expiry, "p:counts:"]
        for channel, count in pairs:
            args += [channel, count]
        return self.eval("Heartbeat", ["p:nodes", f"p:counts:{node}"], args)

    def test_the_heartbeat_lists_live_nodes_and_the_others_counts(self):
        self.assertEqual(self.heartbeat("A", [("news", 3), ("b", 1)]), [1])
        reply = self.heartbeat("B", [("news", 2)])
        self.assertEqual(reply[0], 2)
        self.assertEqual(reply[1], b"A")
        counts = reply[2]
        self.assertEqual(dict(zip(counts[::2], counts[1::2])), {b"news": b"3", b"b": b"1"})
        # A's next heartbeat replaces its counts (b gone) and sees B's.
        reply = self.heartbeat("A", [("news", 4)])
        self.assertEqual(reply, [2, b"B", [b"news", b"2"]])
        self.assertEqual(self.r.command("HGETALL", "p:counts:A"), [b"news", b"4"])
        self.assertTrue(0 < self.r.command("PTTL", "p:counts:A") <= 10000)

    def test_a_silent_node_is_dropped(self):
        seconds, micros = self.r.command("TIME")
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        self.r.command("ZADD", "p:nodes", now_ms - 20000, "old")
        self.assertEqual(self.heartbeat("A", []), [1])
        self.assertEqual(self.r.command("ZRANGE", "p:nodes", 0, -1), [b"A"])
        self.assertEqual(self.r.command("EXISTS", "p:counts:A"), 0)  # No channels: no hash.

    def test_many_counts_fit_in_one_heartbeat(self):
        pairs = [(f"c{i}", i + 1) for i in range(1500)]
        self.assertEqual(self.heartbeat("A", pairs), [1])
        self.assertEqual(self.r.command("HLEN", "p:counts:A"), 1500)
        self.assertEqual(self.r.command("HGET", "p:counts:A", "c1499"), b"1500")


if __name__ == "__main__":
    if not REDIS_SERVER:
        print("SKIPPED: redis-server is not installed (apt-get install redis-server); "
              "the script test needs a real Redis", file=sys.stderr)
        sys.exit(SKIPPED)
    unittest.main()
