"""notifyd-cli for cron jobs (issue 12): `run` (publish when a command fails,
or always; check in on success; exit with the command's status) and the spool
(`publish` and `run` keep what the server cannot take now; `flush`, and every
later publish or run that reaches the server, deliver it oldest first, once).
Needs NOTIFYD_BIN and NOTIFYD_CLI_BIN (see harness.py).

Most tests run against the real daemon; FakeCheckinTest uses a stand-in HTTP
server (test_cli_history.FakeHttpServer) to pin the check-in request exactly,
whether or not the daemon under test knows check-ins yet."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import DaemonTestCase, cli_bin
from test_cli import SPOOL_ROOT, cli_env, free_port, run_cli
from test_cli_history import CliProcess, FakeHttpServer

HOSTNAME = socket.gethostname()
KEY = "0123456789abcdef0123456789abcdef"


def spooled(spool):
    """Names of the notifications waiting in `spool`, oldest first."""
    if not os.path.isdir(spool):
        return []
    return sorted(n for n in os.listdir(spool) if n.endswith(".json") and not n.startswith("."))


def write_record(spool, name, url, *, channel="cron", title=None, body="b", key=KEY):
    """A spool file as notifyd-cli writes it (format 1)."""
    os.makedirs(spool, mode=0o700, exist_ok=True)
    record = {"format": 1, "url": url, "channel": channel, "body": body,
              "idempotency_key": key, "created": "2026-11-25T02:30:01.123Z", "attempts": 1}
    if title is not None:
        record["title"] = title
    with open(os.path.join(spool, name), "w", encoding="utf-8") as f:
        json.dump(record, f)
    return os.path.join(spool, name)


class CronCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.spool = tempfile.mkdtemp(dir=SPOOL_ROOT)

    def url(self, port=None):
        return f"http://{self.d.host}:{port or self.d.port}"

    def env(self, url=None, **extra):
        return cli_env(NOTIFYD_URL=url or self.url(), NOTIFYD_SPOOL=self.spool, **extra)

    async def cli(self, *args, url=None, timeout=30, **extra):
        """notifyd-cli ARGS against this daemon and this test's spool, to its end."""
        return await asyncio.to_thread(run_cli, list(args), env=self.env(url, **extra),
                                       timeout=timeout)

    async def subscriber(self, *channels):
        c = await self.d.ws()
        for channel in channels:
            await c.request({"type": "subscribe", "channel": channel})
        return c

    async def notifications(self, c, count):
        return [await c.recv_until("notification") for _ in range(count)]

    async def expect_only(self, c, channel, titles):
        """The next notifications on c are `titles`, and nothing else comes
        before a marker published now."""
        got = await self.notifications(c, len(titles))
        self.assertEqual([n["title"] for n in got], titles)
        status, _h, _b = await self.d.ahttp_json("POST", f"/api/notify/{channel}",
                                                 {"title": "marker"})
        self.assertEqual(status, 200)
        self.assertEqual((await c.recv_until("notification"))["title"], "marker")
        return got

    def history(self, channel):
        status, _h, page = self.d.http_json("GET", f"/api/channels/{channel}/messages?since=all")
        self.assertEqual(status, 200, page)
        return page["messages"]


class RunTest(CronCase):
    async def test_a_failing_command_publishes_its_status_and_last_lines(self):
        c = await self.subscriber("cron")
        script = 'for i in $(seq 1 30); do echo "line $i"; done; echo oops >&2; exit 3'
        r = await self.cli("run", "--", "sh", "-c", script)
        self.assertEqual(r.returncode, 3, r)
        # Passed through as it came, for cron's mail.
        self.assertEqual(r.stdout, "".join(f"line {i}\n" for i in range(1, 31)))
        self.assertEqual(r.stderr, "oops\n")
        n = await c.recv_until("notification")
        self.assertEqual((n["channel"], n["title"]), ("cron", "sh failed (exit 3)"))
        self.assertEqual(n["body"], "\n".join([f"line {i}" for i in range(12, 31)] + ["oops"]))
        data = n["data"]
        self.assertEqual({k: data[k] for k in ("command", "exit", "host", "output_lines")},
                         {"command": f"sh -c '{script}'", "exit": 3, "host": HOSTNAME,
                          "output_lines": 31})
        self.assertIsInstance(data["duration_s"], float)
        self.assertTrue(0 <= data["duration_s"] < 30, data)
        self.assertNotIn("signal", data)
        self.assertEqual(spooled(self.spool), [])

    async def test_success_publishes_only_with_always(self):
        c = await self.subscriber("cron", "jobs")
        r = await self.cli("run", "true")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertEqual(self.history("cron"), [])
        r = await self.cli("run", "--always", "--channel", "jobs", "--title", "nightly backup",
                           "echo", "done")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "done\n", ""))
        [n] = await self.expect_only(c, "jobs", ["nightly backup succeeded"])
        self.assertEqual((n["channel"], n["body"], n["data"]["exit"], n["data"]["command"]),
                         ("jobs", "done", 0, "echo done"))

    async def test_exit_statuses_pass_through_as_a_shell_reports_them(self):
        c = await self.subscriber("cron")
        not_executable = os.path.join(self.spool, "job.sh")
        with open(not_executable, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        cases = [(["sh", "-c", "exit 42"], 42, "sh failed (exit 42)"),
                 (["sh", "-c", "kill -KILL $$"], 137, "sh failed (killed by SIGKILL)"),
                 (["no-such-command-here"], 127,
                  "no-such-command-here could not be started (exit 127)"),
                 ([not_executable], 126, "job.sh could not be started (exit 126)")]
        for argv, code, title in cases:
            r = await self.cli("run", *argv)
            self.assertEqual(r.returncode, code, (argv, r))
            n = await c.recv_until("notification")
            self.assertEqual((n["title"], n["data"]["exit"]), (title, code))
        self.assertEqual(n["body"], f"cannot run {not_executable}: Permission denied")
        r = await self.cli("run", "no-such-command-here")
        self.assertEqual(r.stderr, "notifyd-cli: cannot run no-such-command-here: "
                                   "No such file or directory\n")
        await c.recv_until("notification")
        r = await self.cli("run", "sh", "-c", "kill -KILL $$")
        n = await c.recv_until("notification")
        self.assertEqual(n["data"]["signal"], "SIGKILL")

    async def test_the_status_survives_an_inherited_ignored_sigchld(self):
        # Whoever starts notifyd-cli may leave SIGCHLD ignored, in which case
        # the kernel reaps children by itself unless notifyd-cli undoes it.
        def ignore_sigchld():
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)

        p = await asyncio.to_thread(
            subprocess.run, [cli_bin(), "run", "--always", "sh", "-c", "exit 4"],
            env=self.env(), capture_output=True, text=True, timeout=30,
            preexec_fn=ignore_sigchld)
        self.assertEqual(p.returncode, 4, p)
        self.assertEqual([m["title"] for m in self.history("cron")], ["sh failed (exit 4)"])

    async def test_sigterm_is_passed_on_and_the_end_is_reported(self):
        c = await self.subscriber("cron")
        script = ("trap 'echo got-term; kill $!; exit 7' TERM; echo ready; "
                  "sleep 60 & wait")
        p = CliProcess(["run", "sh", "-c", script], self.env())
        self.addCleanup(p.cleanup)
        await p.expect_out("ready")
        self.assertEqual(await p.stop(signal.SIGTERM, timeout=20), 7)
        self.assertEqual(p.out.lines, ["ready", "got-term"])
        n = await c.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("sh failed (exit 7)", "ready\ngot-term"))

    async def test_options_before_the_command_only(self):
        r = await self.cli("run", "--channel", "bad name", "true")
        self.assertEqual(r.returncode, 2, r)
        r = await self.cli("run")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("run needs a COMMAND", r.stderr)
        r = await self.cli("run", "--every", "60", "true")
        self.assertEqual(r.returncode, 2, r)
        # The command's own options are its own, "--help" included.
        r = await self.cli("run", "sh", "-c", 'echo "$@"', "sh", "--always", "--help")
        self.assertEqual((r.returncode, r.stdout), (0, "--always --help\n"), r)

    async def test_checkin_on_success_never_fails_the_job(self):
        r = await self.cli("run", "--checkin", "backup", "--every", "3600", "true")
        self.assertEqual(r.returncode, 0, r)
        status, _h, listing = self.d.http_json("GET", "/api/checkins")
        if status == 404:  # a daemon without check-ins yet: said so, job status kept
            self.assertEqual(r.stderr, "notifyd-cli: check-in backup not sent: the server does "
                                       "not know check-ins (404; it is older than notifyd-cli); "
                                       "the job's exit status is kept\n")
            return
        self.assertEqual(r.stderr, "")
        [entry] = [e for e in listing["checkins"] if e["name"] == "backup"]
        self.assertEqual((entry["every"], entry["state"]), (3600, "up"))


class FakeCheckinTest(unittest.TestCase):
    def server(self, script):
        s = FakeHttpServer(script)
        self.addCleanup(s.close)
        return s

    def run_job(self, server, *args):
        spool = tempfile.mkdtemp(dir=SPOOL_ROOT)
        return run_cli(["run"] + list(args), env=cli_env(NOTIFYD_URL=server.url,
                                                         NOTIFYD_SPOOL=spool))

    def test_checks_in_on_success_only(self):
        s = self.server([(200, {}, '{"name":"backup"}')])
        r = self.run_job(s, "--checkin", "backup", "--every", "3600", "--grace", "0600", "true")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        [q] = s.requests
        self.assertEqual((q["method"], q["path"]), ("POST", "/api/checkin/backup"))
        self.assertEqual(json.loads(q["body"]), {"every": 3600, "grace": 600})
        # A failure publishes and does not check in.
        s = self.server([(200, {}, '{"success":true}')])
        r = self.run_job(s, "--checkin", "backup", "false")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual([q["path"] for q in s.requests], ["/api/notify/cron"])

    def test_a_refused_or_unknown_checkin_keeps_the_exit_status(self):
        s = self.server([(404, {}, '{"error":"Not found"}')])
        r = self.run_job(s, "--checkin", "backup", "true")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("does not know check-ins", r.stderr)
        s = self.server([(403, {}, '{"error":"Forbidden"}')])
        r = self.run_job(s, "--checkin", "backup", "true")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stderr, 'notifyd-cli: check-in backup refused: 403 '
                                   '{"error":"Forbidden"}\n')


class SpoolTest(CronCase):
    async def test_daemon_down_spools_then_flush_delivers_once_in_order(self):
        port = self.d.port
        self.assertEqual(self.d.stop(), 0)
        codes = []
        for i in range(4):
            r = await self.cli("run", "--title", f"job{i}", "sh", "-c", f"echo {i}; exit 1{i}")
            codes.append(r.returncode)
            self.assertIn("; kept in " + self.spool, r.stderr)
        r = await self.cli("publish", "--title", "job4", "cron", "four")
        self.assertEqual((r.returncode, r.stdout), (75, ""), r)
        self.assertEqual(codes, [10, 11, 12, 13])  # the commands' own, spooled or not
        names = spooled(self.spool)
        self.assertEqual(len(names), 5)
        for name in names:
            self.assertEqual(os.stat(os.path.join(self.spool, name)).st_mode & 0o777, 0o600)
            with open(os.path.join(self.spool, name)) as f:
                record = json.load(f)
            self.assertEqual((record["url"], record["attempts"]), (self.url(port), 3))
            self.assertIn("Connection refused", record["last_error"])
        self.assertEqual(os.stat(self.spool).st_mode & 0o777, 0o700)

        self.d.write_config({"server": {"port": port}})
        self.d.start()
        c = await self.subscriber("cron")
        # Two flushes at once: they take turns, and each notification comes once.
        env = self.env()
        flushes = [subprocess.Popen([cli_bin(), "flush"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = []
        for p in flushes:
            out, err = await asyncio.to_thread(p.communicate, timeout=60)
            results.append((p.returncode, out, err))
        self.assertEqual([code for code, _o, _e in results], [0, 0], results)
        self.assertEqual(sorted(err for _c, _o, err in results),
                         ["", f"notifyd-cli: spool {self.spool}: delivered 5 notifications\n"])
        got = await self.expect_only(c, "cron", [f"job{i}" + (" failed (exit 1%d)" % i)
                                                 for i in range(4)] + ["job4"])
        self.assertEqual([n["body"] for n in got], ["0", "1", "2", "3", "four"])
        self.assertEqual(spooled(self.spool), [])
        r = await self.cli("flush")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    async def test_the_next_successful_publish_delivers_what_waits_after_its_own(self):
        dead = self.url(free_port())
        r = await self.cli("run", "--title", "early", "false", url=dead)
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(len(spooled(self.spool)), 1)
        # Meant for another server: left alone by a flush to this one.
        r = await self.cli("flush")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stderr, f"notifyd-cli: spool {self.spool}: 1 notification for "
                                   f"another server, to be flushed with --url {dead}\n")
        self.assertEqual(len(spooled(self.spool)), 1)
        # Rewritten for this server (as if it had been down for a moment).
        [name] = spooled(self.spool)
        path = os.path.join(self.spool, name)
        with open(path) as f:
            record = json.load(f)
        record["url"] = self.url()
        with open(path, "w") as f:
            json.dump(record, f)
        c = await self.subscriber("cron")
        r = await self.cli("run", "--always", "--title", "late", "true")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        await self.expect_only(c, "cron", ["late succeeded", "early failed (exit 1)"])
        self.assertEqual(spooled(self.spool), [])

    async def test_a_delivered_but_unremoved_file_is_not_delivered_twice(self):
        # As after a crash between the server's answer and the removal: the
        # key makes the server answer the repeat with its first reply.
        c = await self.subscriber("cron")
        status, _h, first = await self.d.ahttp_json(
            "POST", "/api/notify/cron", {"title": "once", "body": "b"},
            headers={"Idempotency-Key": KEY})
        self.assertEqual(status, 200, first)
        write_record(self.spool, "1764037801123456-00000001.json", self.url(), title="once")
        r = await self.cli("flush")
        self.assertEqual(r.returncode, 0, r)
        await self.expect_only(c, "cron", ["once"])
        self.assertEqual(spooled(self.spool), [])

    async def test_a_corrupt_file_is_moved_aside_and_reported(self):
        c = await self.subscriber("cron")
        bad = "1764037801123456-00000001.json"
        with open(os.path.join(self.spool, bad), "w") as f:
            f.write('{"format":1,"url":"http://127.0.0.1:1","chan')
        write_record(self.spool, "1764037801123457-00000002.json", self.url(), title="good")
        r = await self.cli("flush")
        self.assertEqual(r.returncode, 1, r)
        aside = os.path.join(self.spool, "corrupt", bad)
        self.assertEqual(r.stderr.splitlines(), [
            f"notifyd-cli: spool file {self.spool}/{bad} is corrupt (not valid JSON "
            f"(Missing a closing quotation mark in string. at offset 44)); moved to {aside}",
            f"notifyd-cli: spool {self.spool}: delivered 1 notification, "
            "1 corrupt file moved to corrupt/"])
        with open(aside) as f:
            self.assertEqual(f.read(), '{"format":1,"url":"http://127.0.0.1:1","chan')
        await self.expect_only(c, "cron", ["good"])
        r = await self.cli("flush")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)


class SpoolRefusedTest(CronCase):
    config = {"limits": {"max_body_bytes": 1024}}

    async def test_a_refusal_for_good_moves_the_file_to_failed(self):
        c = await self.subscriber("cron")
        big = "1764037801123456-00000001.json"
        write_record(self.spool, big, self.url(), title="too big", body="x" * 5000)
        write_record(self.spool, "1764037801123457-00000002.json", self.url(), title="fine",
                     key="another-key")
        r = await self.cli("flush")
        self.assertEqual(r.returncode, 1, r)
        failed = os.path.join(self.spool, "failed", big)
        lines = r.stderr.splitlines()
        self.assertRegex(lines[0], r'^notifyd-cli: spooled notification to cron "too big" '
                                   r'\(2026-11-25T02:30:01.123Z\) cannot be delivered: '
                                   r'server refused: 413 .*; moved to ' + re.escape(failed) + "$")
        with open(failed) as f:
            record = json.load(f)
        self.assertTrue(record["last_error"].startswith("server refused: 413"), record)
        self.assertEqual(record["attempts"], 2)
        await self.expect_only(c, "cron", ["fine"])
        self.assertEqual(spooled(self.spool), [])


class Spool503Test(CronCase):
    # A history store that cannot open its file: every publish answers 503.
    config = {"history": {"store": "sqlite", "path": "/proc/notifyd-nowhere/history.db"}}

    async def test_5xx_spools_and_stays_spooled(self):
        r = await self.cli("run", "sh", "-c", "echo broken; exit 5")
        self.assertEqual(r.returncode, 5, r)
        [name] = spooled(self.spool)
        self.assertEqual(r.stdout, "broken\n")
        self.assertRegex(r.stderr, r"^notifyd-cli: server refused: 503 .* \(tried 3 "
                                   r"times\); kept in " + re.escape(os.path.join(self.spool, name)))
        with open(os.path.join(self.spool, name)) as f:
            record = json.load(f)
        self.assertEqual((record["title"], record["body"], record["attempts"]),
                         ("sh failed (exit 5)", "broken", 3))
        r = await self.cli("publish", "cron", "x")
        self.assertEqual(r.returncode, 75, r)
        r = await self.cli("flush")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(f"notifyd-cli: spool {self.spool}: 2 left for later", r.stderr)
        self.assertEqual(len(spooled(self.spool)), 2)
        with open(os.path.join(self.spool, name)) as f:
            self.assertEqual(json.load(f)["attempts"], 6)


if __name__ == "__main__":
    unittest.main()
