"""notifyd-cli against the real notifyd: the interactive client simulator (the
seed's bin/client.dart) driven through a stdin pipe, and `notifyd-cli publish`
with its exit codes. Needs NOTIFYD_BIN and NOTIFYD_CLI_BIN (see harness.py)."""

import asyncio
import atexit
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import websockets

from harness import UUID4_RE, DaemonTestCase, cli_bin

CLI_ENV_VARS = ("WS_URL", "NOTIFYD_URL", "NOTIFYD_TOKEN", "NOTIFYD_SPOOL")
# What publish and run keep when the server cannot take it goes here, never
# to the spool of whoever runs the tests.
SPOOL_ROOT = tempfile.mkdtemp(prefix="notifyd-cli-spool-")
atexit.register(shutil.rmtree, SPOOL_ROOT, ignore_errors=True)
BOX_TOP = "╔" + "═" * 42
BOX_BOTTOM = "╚" + "═" * 42


def cli_env(**extra):
    """The test's environment without any notifyd-cli setting, plus extra;
    NOTIFYD_SPOOL is a scratch directory of the test run unless given."""
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    env["NOTIFYD_SPOOL"] = os.path.join(SPOOL_ROOT, "default")
    env.update(extra)
    return env


def run_cli(args, *, env=None, stdin_text=None, timeout=20):
    """Run notifyd-cli to completion (bounded); returns CompletedProcess."""
    try:
        return subprocess.run([cli_bin()] + list(args), input=stdin_text or "",
                              capture_output=True, text=True, encoding="utf-8",
                              env=env or cli_env(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"notifyd-cli {args} did not finish within {timeout}s") from e


def find_line(lines, start, pattern):
    """Index of the first line at or after `start` that equals `pattern`
    (str) or matches it (compiled regex, searched); None when none does."""
    for i in range(start, len(lines)):
        line = lines[i]
        if pattern.search(line) if hasattr(pattern, "search") else line == pattern:
            return i
    return None


def free_port():
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliSession:
    """notifyd-cli in interactive mode: stdin is a pipe we write commands to,
    stdout is read line by line on a thread."""

    def __init__(self, ws_url, extra_env=None):
        env = cli_env(WS_URL=ws_url, **(extra_env or {}))
        self.proc = subprocess.Popen([cli_bin()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                     env=env, bufsize=1)
        self.lines = []
        self._queue = queue.Queue()
        self._pos = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain(self, timeout):
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return True
        if item is None:
            self._queue.put(None)  # keep the end marker for later waits
            return False
        self.lines.append(item)
        return True

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def expect(self, pattern, timeout=5.0):
        """The first line from the cursor on that equals `pattern` (str) or
        matches it (compiled regex); moves the cursor past it."""
        deadline = time.monotonic() + timeout
        ended = False
        while True:
            i = find_line(self.lines, self._pos, pattern)
            if i is not None:
                self._pos = i + 1
                return self.lines[i]
            left = deadline - time.monotonic()
            if ended or left <= 0:
                raise AssertionError(f"no line {pattern!r} within {timeout}s; output:\n"
                                     + "\n".join(self.lines) + "\nstderr:\n" + self.stderr())
            ended = not self._drain(min(left, 0.1))

    def wait_exit(self, timeout=10.0):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"notifyd-cli did not exit within {timeout}s; output:\n"
                                 + "\n".join(self.lines)) from None
        self._reader.join(5)
        while self._drain(0):
            pass
        return code

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def output_since(self, start):
        return self.lines[start:]

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()  # our own child only
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class CliCase(DaemonTestCase):
    def session(self):
        s = CliSession(self.d.ws_url("/ws"))
        self.addCleanup(s.cleanup)
        return s

    def http_url(self):
        return f"http://{self.d.host}:{self.d.port}"

    async def publish(self, *args, stdin_text=None, **env):
        """`notifyd-cli publish ARGS` against this daemon (NOTIFYD_URL) in a thread."""
        env.setdefault("NOTIFYD_URL", self.http_url())
        return await asyncio.to_thread(run_cli, ["publish"] + list(args), env=cli_env(**env),
                                       stdin_text=stdin_text)

    def assert_published(self, result, delivered):
        self.assertEqual(result.returncode, 0, f"stdout={result.stdout!r} stderr={result.stderr!r}")
        answer = json.loads(result.stdout)
        self.assertIs(answer.get("success"), True, answer)
        self.assertEqual(answer.get("delivered"), delivered, answer)
        self.assertEqual(result.stderr, "")
        return answer


class InteractiveTest(CliCase):
    async def connected_session(self):
        s = self.session()
        line = await asyncio.to_thread(s.expect, re.compile(r"^✓ Connected as "))
        self.assertRegex(line.removeprefix("✓ Connected as "), UUID4_RE)
        return s

    async def expect(self, s, pattern, timeout=5.0):
        return await asyncio.to_thread(s.expect, pattern, timeout)

    async def test_session_as_the_seed_prints_it(self):
        s = await self.connected_session()
        self.assertEqual(s.lines[:10], [
            f"Connecting to {self.d.ws_url('/ws')}...",
            "Connected! Commands:",
            "  sub <channel>   - Subscribe to channel",
            "  unsub <channel> - Unsubscribe from channel",
            "  name <name>     - Set your name",
            "  list            - List subscriptions",
            "  ping            - Send ping",
            "  help            - Show commands",
            "  quit            - Exit",
            ""])
        s.send("sub news")
        await self.expect(s, '→ Subscribing to "news"...')
        await self.expect(s, '✓ Subscribed to "news" (1 subscribers)')
        s.send("name Alice")
        await self.expect(s, '→ Setting name to "Alice"...')
        await self.expect(s, '✓ Name set to "Alice"')
        s.send("list")
        await self.expect(s, "→ Requesting subscriptions...")
        await self.expect(s, "✓ Your subscriptions: news")
        s.send("ping")
        await self.expect(s, "→ Ping sent")
        await self.expect(s, "✓ Pong received")

        _st, _h, clients = await self.d.ahttp_json("GET", "/api/clients")
        self.assertEqual([(c["name"], c["subscriptions"]) for c in clients["clients"]],
                         [("Alice", ["news"])], clients)

        result = await self.publish("news", "--title", "Breaking", "--data", '{"k": [1, "x"]}',
                                    "Big news!")
        self.assert_published(result, delivered=1)
        await self.expect(s, BOX_TOP)
        self.assertEqual(s.lines[s._pos - 2], "", "blank line before the box")
        await self.expect(s, "║ 🔔 NOTIFICATION [news]")
        await self.expect(s, "║ Title: Breaking")
        await self.expect(s, "║ Body: Big news!")
        await self.expect(s, '║ Data: {"k":[1,"x"]}')
        await self.expect(s, BOX_BOTTOM)

        # Without data there is no Data line; the default title is the server's.
        result = await self.publish("news", "plain")
        self.assert_published(result, delivered=1)
        start = len(s.lines)
        await self.expect(s, BOX_BOTTOM)
        box = s.output_since(start)
        self.assertIn("║ Title: Notification", box)
        self.assertIn("║ Body: plain", box)
        self.assertFalse([l for l in box if l.startswith("║ Data:")], box)

        s.send("unsub news")
        await self.expect(s, '→ Unsubscribing from "news"...')
        await self.expect(s, '✓ Unsubscribed from "news"')
        s.send("LIST")
        await self.expect(s, "✓ Your subscriptions: (none)")
        s.send("quit")
        await self.expect(s, "Goodbye!")
        self.assertEqual(await asyncio.to_thread(s.wait_exit), 0)
        self.assertNotIn("Connection closed", s.lines)

    async def test_usage_unknown_commands_and_errors(self):
        s = await self.connected_session()
        for cmd, answer in [("sub", "Usage: sub <channel>"),
                            ("unsub", "Usage: unsub <channel>"),
                            ("name", "Usage: name <your-name>"),
                            ("help", "Commands: sub, unsub, name, list, ping, quit"),
                            ("frobnicate now", 'Unknown command: frobnicate (type "help" for commands)')]:
            s.send(cmd)
            await self.expect(s, answer)
        s.send("sub bad name!")
        await self.expect(s, '→ Subscribing to "bad name!"...')
        await self.expect(s, re.compile(r"^✗ Error: Invalid channel name"))
        s.send("exit")
        await self.expect(s, "Goodbye!")
        self.assertEqual(await asyncio.to_thread(s.wait_exit), 0)

    async def test_eof_waits_for_replies_then_closes(self):
        s = self.session()
        s.send("sub news")
        s.send("list")
        s.close_stdin()  # probably before the connection is even open
        await self.expect(s, '✓ Subscribed to "news" (1 subscribers)')
        await self.expect(s, "✓ Your subscriptions: news")
        await self.expect(s, "Connection closed")
        self.assertEqual(await asyncio.to_thread(s.wait_exit), 0)

    async def test_server_shutdown(self):
        s = await self.connected_session()
        self.assertEqual(await asyncio.to_thread(self.d.stop), 0, self.d.stderr_text())
        await self.expect(s, "⚠ Server is shutting down: Server is shutting down")
        await self.expect(s, "Connection closed")
        self.assertEqual(await asyncio.to_thread(s.wait_exit), 0)


class InteractiveHeartbeatTest(CliCase):
    config = {"heartbeat": {"interval": 0.2, "timeout": 0.6}}

    async def test_survives_many_heartbeat_timeouts(self):
        s = self.session()
        await asyncio.to_thread(s.expect, re.compile(r"^✓ Connected as "))
        await asyncio.sleep(2.4)  # four timeouts: only answering keeps it open
        s.send("ping")
        await asyncio.to_thread(s.expect, "✓ Pong received")
        self.assertIsNone(s.proc.poll())
        # The heartbeat pings and our pongs print nothing.
        self.assertFalse([l for l in s.lines if l.startswith("←")], s.lines)
        s.send("quit")
        self.assertEqual(await asyncio.to_thread(s.wait_exit), 0)


class InteractiveFakeServerTest(unittest.IsolatedAsyncioTestCase):
    """Exact frames from a stand-in server on 127.0.0.1, for what the real
    daemon cannot be made to send."""

    async def test_answers_heartbeat_ping_with_pong_and_prints_odd_messages(self):
        got = asyncio.get_running_loop().create_future()

        async def handler(ws, _path):
            await ws.send(json.dumps({"type": "welcome", "clientId": "c-1", "message": "hi"}))
            await ws.send(json.dumps({"type": "ping", "timestamp": 1}))
            got.set_result(await asyncio.wait_for(ws.recv(), 5))
            for frame in ['{"type":"subscribed","channel":5,"subscriberCount":"x"}',
                          '{"type":"brand_new","x":1}', "not json",
                          '{"type":"notification","channel":"c","title":"t\\u001b[2J","body":"b"}']:
                await ws.send(frame)
            await ws.close(1001)

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            s = CliSession(f"ws://127.0.0.1:{port}/ws")
            self.addCleanup(s.cleanup)
            self.assertEqual(json.loads(await asyncio.wait_for(got, 10)), {"type": "pong"})
            code = await asyncio.to_thread(s.wait_exit)
        self.assertEqual(code, 0)
        out = s.lines[10:]
        self.assertEqual(out[0], "✓ Connected as c-1")
        self.assertIn('✓ Subscribed to "null" (null subscribers)', out)
        self.assertIn('← {"type":"brand_new","x":1}', out)
        self.assertIn("← not json", out)
        self.assertIn("║ Title: t\ufffd[2J", out)  # no raw ESC reaches the terminal
        self.assertEqual(out[-1], "Connection closed")


class InteractiveConnectFailureTest(unittest.TestCase):
    def test_nothing_listening(self):
        port = free_port()
        r = run_cli([], env=cli_env(WS_URL=f"ws://127.0.0.1:{port}/ws"))
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout.splitlines()[0], f"Connecting to ws://127.0.0.1:{port}/ws...")
        self.assertEqual(r.stdout.splitlines()[-1], "Error: Connection refused")

    def test_not_a_websocket_url(self):
        r = run_cli([], env=cli_env(WS_URL="http://127.0.0.1:1/ws"))
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout.splitlines()[-1],
                         'Error: WS_URL must be a ws:// or wss:// URL, got "http://127.0.0.1:1/ws"')


class PublishTest(CliCase):
    async def subscriber(self, channel):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": channel})
        return c

    async def test_publish_reaches_subscriber(self):
        c = await self.subscriber("news")
        r = await self.publish("news", "--title=Hi", "--data", '{"a":{"b":[true,null]}}', "Body")
        answer = self.assert_published(r, delivered=1)
        self.assertEqual(answer.get("channel"), "news")
        n = await c.recv_until("notification")
        self.assertEqual((n["channel"], n["title"], n["body"], n["data"]),
                         ("news", "Hi", "Body", {"a": {"b": [True, None]}}))

    async def test_body_from_stdin(self):
        c = await self.subscriber("backups")
        r = await self.publish("backups", stdin_text="backup finished\n")
        self.assert_published(r, delivered=1)
        n = await c.recv_until("notification")
        self.assertEqual((n["title"], n["body"]), ("Notification", "backup finished"))
        self.assertNotIn("data", n)
        r = await self.publish("backups", "--title", "T", "-", stdin_text="line 1\nline 2\n\n")
        self.assert_published(r, delivered=1)
        n = await c.recv_until("notification")
        self.assertEqual(n["body"], "line 1\nline 2")

    async def test_no_subscribers_is_still_success(self):
        self.assert_published(await self.publish("empty", "x"), delivered=0)

    async def test_base_url_from_ws_url_and_flag(self):
        ws_url = self.d.ws_url("/ws")
        self.assert_published(await self.publish("news", "x", NOTIFYD_URL="", WS_URL=ws_url),
                              delivered=0)
        dead = f"http://127.0.0.1:{free_port()}"
        self.assert_published(await self.publish("news", "--url", self.http_url(), "x",
                                                 NOTIFYD_URL=dead), delivered=0)

    async def test_refused_requests_exit_1(self):
        for channel in ["bad name!", "a" * 129]:
            r = await self.publish(channel, "x")
            self.assertEqual(r.returncode, 1, r)
            self.assertEqual(r.stdout, "")
            self.assertRegex(r.stderr, r'^notifyd-cli: server refused: 400 \{"error":')

    async def test_bad_data_exits_2(self):
        for data in ["[1,2]", "{bad", '"text"', ""]:
            r = await self.publish("news", "--data", data, "x")
            self.assertEqual(r.returncode, 2, (data, r))
            self.assertIn("--data is not", r.stderr)
            self.assertIn("Usage:", r.stderr)


class PublishWithoutServerTest(unittest.TestCase):
    def test_nothing_listening_exits_1_without_the_spool(self):
        port = free_port()
        start = time.monotonic()
        r = run_cli(["publish", "--no-spool", "news", "x"],
                    env=cli_env(NOTIFYD_URL=f"http://127.0.0.1:{port}"))
        self.assertEqual(r.returncode, 1, r)
        # Three attempts, 0.5 s and 1 s apart, then one line.
        self.assertEqual(r.stderr, f"notifyd-cli: cannot connect to 127.0.0.1:{port}: "
                                   "Connection refused (tried 3 times)\n")
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        self.assertLess(time.monotonic() - start, 10)

    def test_nothing_listening_spools_and_exits_75(self):
        port = free_port()
        spool = tempfile.mkdtemp(dir=SPOOL_ROOT)
        r = run_cli(["publish", "news", "x"],
                    env=cli_env(NOTIFYD_URL=f"http://127.0.0.1:{port}", NOTIFYD_SPOOL=spool))
        self.assertEqual(r.returncode, 75, r)
        self.assertEqual(r.stdout, "")
        [name] = [n for n in os.listdir(spool) if n.endswith(".json")]
        self.assertEqual(r.stderr, f"notifyd-cli: cannot connect to 127.0.0.1:{port}: "
                                   f"Connection refused (tried 3 times); kept in {spool}/{name}, "
                                   "to be delivered by the next publish, run or flush\n")

    def test_usage_errors_exit_2(self):
        for args in [["publish"], ["publish", "news", "a", "b"], ["publish", "--bogus", "news"],
                     ["publish", "news", "--title"], ["frobnicate"]]:
            r = run_cli(args)
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertIn("Usage:", r.stderr, args)
            self.assertEqual(r.stdout, "", args)

    def test_bad_urls_exit_2(self):
        # https:// is spoken (tests/integration/test_tls.py).
        for url in ["ftp://x", "http://127.0.0.1:99999", "https://127.0.0.1:99999", "http://"]:
            r = run_cli(["publish", "--url", url, "news", "x"])
            self.assertEqual(r.returncode, 2, (url, r))
            self.assertIn("bad server URL", r.stderr)

    def test_help_and_version(self):
        r = run_cli(["--help"])
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("notifyd-cli publish CHANNEL", r.stdout)
        self.assertIn("10 s", r.stdout)
        r = run_cli(["--version"])
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"^notifyd-cli \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
