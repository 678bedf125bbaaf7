"""Running out of file descriptors: the accept loop backs off instead of
spinning, the log gets one warning rather than one line per attempt, and the
daemon serves again once descriptors are free."""

import os
import resource
import socket
import time
import unittest

from harness import Daemon, wait_until

FD_LIMIT = 64  # RLIMIT_NOFILE for the daemon: a few dozen connections fill it


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100.0


@unittest.skipIf(os.environ.get("NOTIFYD_SANITIZED") == "1",
                 "under ASan the daemon did not reach EMFILE with this limit; the plain build runs it")
class FdExhaustionTest(unittest.TestCase):
    def setUp(self):
        # The harness starts the daemon in a child; lower our soft limit for
        # the child only, by lowering it around start() and restoring it.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))
        try:
            self.d = Daemon({"limits": {"connection_rate": 0}})
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.d.cleanup()

    def test_accept_backs_off_and_recovers(self):
        # Open more TCP connections than the daemon has descriptors; the
        # kernel completes them all, the daemon can accept only some.
        for _ in range(FD_LIMIT + 40):
            self.socks.append(socket.create_connection(("127.0.0.1", self.d.port), timeout=5))
        self.d.wait_stderr(r"cannot accept connections", timeout=10)
        cpu_before = cpu_seconds(self.d.pid)
        wall_before = time.monotonic()
        # Bounded observation window while the backlog stays full.
        deadline = wall_before + 2.0
        while time.monotonic() < deadline:
            time.sleep(0.1)
        used = cpu_seconds(self.d.pid) - cpu_before
        elapsed = time.monotonic() - wall_before
        self.assertLess(used / elapsed, 0.25, "the accept loop spins")
        warnings = self.d.stderr_text().count("cannot accept connections")
        self.assertLessEqual(warnings, 2, self.d.stderr_text()[-2000:])

        # Free the descriptors: the daemon serves again.
        for s in self.socks:
            s.close()
        self.socks = []

        def healthy():
            try:
                status, _, body = self.d.http("GET", "/health", timeout=2)
                return status == 200 and body == b"OK"
            except OSError:
                return False
        wait_until(healthy, timeout=20, what="the daemon serves again")
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
