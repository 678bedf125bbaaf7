"""Check-ins (PROTOCOL.md Part 2 "Check-ins") through the real notifyd: the
HTTP routes, "late" and "back" notifications to a WebSocket subscriber,
access, and persistence across a restart with the SQLite store."""

import os
import unittest

from harness import Daemon, DaemonTestCase, wait_until

NO_LIMITS = {"connection_rate": 0, "publish_rate": 0}


class CheckinTest(DaemonTestCase):
    config = {"limits": NO_LIMITS}

    def checkin(self, name, query="", payload=None):
        if payload is None:
            return self.d.http_json("POST", f"/api/checkin/{name}{query}", body=b"")
        return self.d.http_json("POST", f"/api/checkin/{name}{query}", payload)

    async def test_register_list_and_delete(self):
        status, _h, c = self.checkin("backup")
        self.assertEqual(status, 200, c)
        self.assertEqual({k: c[k] for k in ("name", "channel", "every", "grace", "state")},
                         {"name": "backup", "channel": "checkins", "every": 86400,
                          "grace": 3600, "state": "up"})
        self.assertRegex(c["last"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        status, _h, c = self.checkin("backup", "?every=60&grace=5", None)
        self.assertEqual((status, c["every"], c["grace"]), (200, 60, 5))
        status, _h, c = self.checkin("backup", "", {"channel": "ops", "every": 120})
        self.assertEqual((c["every"], c["grace"], c["channel"]), (120, 5, "ops"))
        _s, _h, listing = self.d.http_json("GET", "/api/checkins")
        self.assertEqual(listing["total"], 1)
        self.assertEqual(listing["checkins"][0]["name"], "backup")
        status, _h, _b = self.d.http("DELETE", "/api/checkin/backup")
        self.assertEqual(status, 204)
        status, _h, _b = self.d.http("DELETE", "/api/checkin/backup")
        self.assertEqual(status, 404)

    async def test_bad_input_is_400(self):
        for query, payload in (("?every=0", None), ("?every=x", None), ("?grace=-1", None),
                               ("?channel=b%20d", None), ("", {"every": "60"}),
                               ("", {"channel": 5}), ("", {"grace": 31536001})):
            status, _h, body = self.checkin("job", query, payload)
            self.assertEqual(status, 400, (query, payload, body))
        status, _h, _b = self.checkin("b%20d")
        self.assertEqual(status, 400)

    async def test_late_once_then_back(self):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": "checkins"})
        status, _h, _c = self.checkin("nightly", "?every=1&grace=0")
        self.assertEqual(status, 200)
        late = await c.recv_until("notification", timeout=10)
        self.assertEqual(late["title"], "nightly is late")
        self.assertEqual((late["data"]["checkin"], late["data"]["status"]), ("nightly", "late"))
        _s, _h, listing = self.d.http_json("GET", "/api/checkins")
        self.assertEqual(listing["checkins"][0]["state"], "late")
        # Once per lateness: the next notification is "back", after a check-in.
        self.checkin("nightly", "?every=3600")
        back = await c.recv_until("notification", timeout=10)
        self.assertEqual((back["title"], back["data"]["status"]), ("nightly is back", "back"))
        self.assertEqual(back["seq"], late["seq"] + 1)

    async def test_metrics_count_them_by_state(self):
        self.checkin("on-time", "?every=3600")
        self.checkin("overdue", "?every=1&grace=0")

        def sample(state):
            _s, _h, body = self.d.http("GET", "/metrics")
            for line in body.decode().splitlines():
                if line.startswith(f'notifyd_checkins{{state="{state}"}} '):
                    return int(float(line.split()[1]))
            return None

        wait_until(lambda: sample("late") == 1, timeout=10, what="one late check-in in /metrics")
        self.assertEqual(sample("up"), 1)


class CheckinAccessTest(unittest.TestCase):
    PUBLISH = "publish-token-0123456789abcdef"
    ADMIN = "admin-token-0123456789abcdefgh"

    def test_tokens(self):
        d = Daemon(config_text=f"""
[server]
listen = "127.0.0.1"
port = 0
[limits]
connection_rate = 0
publish_rate = 0
[[auth.publish]]
token = "{self.PUBLISH}"
channels = ["jobs-*"]
[[auth.admin]]
token = "{self.ADMIN}"
""")
        self.addCleanup(d.cleanup)
        bearer = lambda t: {"Authorization": f"Bearer {t}"}
        status, _h, _b = d.http("POST", "/api/checkin/backup?channel=jobs-x", b"")
        self.assertEqual(status, 401)
        status, _h, _b = d.http("POST", "/api/checkin/backup?channel=jobs-x", b"",
                                bearer(self.PUBLISH))
        self.assertEqual(status, 200)
        status, _h, _b = d.http("POST", "/api/checkin/backup?channel=other", b"",
                                bearer(self.PUBLISH))
        self.assertEqual(status, 403)
        status, _h, _b = d.http("GET", "/api/checkins", headers=bearer(self.PUBLISH))
        self.assertEqual(status, 403)
        status, _h, _b = d.http("GET", "/api/checkins", headers=bearer(self.ADMIN))
        self.assertEqual(status, 200)
        status, _h, _b = d.http("DELETE", "/api/checkin/backup", headers=bearer(self.PUBLISH))
        self.assertEqual(status, 403)
        self.assertEqual(d.stop(), 0)


class CheckinPersistenceTest(unittest.TestCase):
    def test_checkins_survive_a_restart_with_sqlite(self):
        d = Daemon(start=False)
        self.addCleanup(d.cleanup)
        d.write_config({"history": {"store": "sqlite",
                                    "path": os.path.join(d.tmpdir, "history.db")}})
        d.start()
        status, _h, before = d.http_json("POST", "/api/checkin/backup?every=600&channel=ops",
                                         body=b"")
        self.assertEqual(status, 200)
        self.assertEqual(d.stop(), 0)
        d.start()
        _s, _h, listing = d.http_json("GET", "/api/checkins")
        self.assertEqual(listing["checkins"], [before])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
