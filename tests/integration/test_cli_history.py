"""notifyd-cli's side of issue 10 (PROTOCOL.md Part 2): publish with an
Idempotency-Key and bounded retries, `history`, and `sub`/`tail`, which
resume after a lost connection. Needs NOTIFYD_BIN and NOTIFYD_CLI_BIN (see
harness.py).

Two kinds of test classes:
- Daemon*: notifyd-cli against the real notifyd. They need the server side of
  Part 2 (positions, the history store and its [history] config section,
  subscribe "since", the messages route, Idempotency-Key).
- Fake*: notifyd-cli against stand-ins on 127.0.0.1 (a websockets server, an
  http.server) that send exact Part 2 frames and answers, for what the real
  daemon cannot be made to do on cue: a resync push, a 503 and then a lost
  answer, pages of two. They pin the client's wire behaviour.

Dropped connections go through CuttableProxy, a TCP relay between
notifyd-cli and notifyd: cut() drops every relayed connection and refuses
new ones until restore(), so notifyd-cli is kept away while notifications
are published, without restarting anything."""

import asyncio
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest

import websockets
import websockets.exceptions

from harness import HOST, Daemon, DaemonTestCase, cli_bin
from test_cli import cli_env, find_line, free_port, run_cli
EPOCH_RE = r"[A-Za-z0-9]{8,32}"
E1, E2, E3 = "EpochOne1", "EpochTwo2", "EpochThree3"


def compact(obj):
    """JSON as notifyd and the fakes send it: no spaces, UTF-8 as is."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class _Lines:
    """Lines of one pipe, read on a thread; expect() moves a cursor over them."""

    def __init__(self, pipe):
        self.lines = []
        self._pos = 0
        self._ended = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe):
        for line in pipe:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def expect(self, pattern, timeout=10.0):
        """The first line from the cursor on that equals `pattern` (str) or
        matches it (compiled regex, searched); moves the cursor past it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                i = find_line(self.lines, self._pos, pattern)
                if i is not None:
                    self._pos = i + 1
                    return self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    raise AssertionError(f"no line {pattern!r} within {timeout}s; lines:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(left, 0.5))

    def join(self, timeout=5.0):
        self._thread.join(timeout)


class CliProcess:
    """A notifyd-cli that runs until stopped (sub, tail)."""

    def __init__(self, args, env):
        self.args = args
        self.proc = subprocess.Popen([cli_bin()] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     encoding="utf-8", env=env, bufsize=1)
        self.out = _Lines(self.proc.stdout)
        self.err = _Lines(self.proc.stderr)

    async def expect_out(self, pattern, timeout=10.0):
        return await asyncio.to_thread(self.out.expect, pattern, timeout)

    async def expect_err(self, pattern, timeout=10.0):
        return await asyncio.to_thread(self.err.expect, pattern, timeout)

    async def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig to our own child; return its exit code (bounded)."""
        self.proc.send_signal(sig)
        return await self.wait(timeout)

    async def wait(self, timeout=10.0):
        try:
            code = await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"notifyd-cli {self.args} did not exit within {timeout}s; "
                                 "stderr:\n" + "\n".join(self.err.lines)) from None
        self.out.join()
        self.err.join()
        return code

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()  # our own child only
            self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class CuttableProxy:
    """Relays TCP connections from 127.0.0.1:port to 127.0.0.1:upstream_port."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.refusing = False
        self.relayed = 0
        self.transports = set()
        self.server = None
        self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def cut(self):
        """Drops every relayed connection; refuses new ones until restore()."""
        self.refusing = True
        for t in list(self.transports):
            t.abort()
        self.transports.clear()

    def restore(self, upstream_port=None):
        if upstream_port is not None:
            self.upstream_port = upstream_port
        self.refusing = False

    async def stop(self):
        self.server.close()
        self.cut()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.relayed += 1
        self.transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
            self.transports.discard(writer.transport)


# --- against the real daemon ----------------------------------------------------


class DaemonCase(DaemonTestCase):
    def http_url(self, port=None):
        return f"http://{HOST}:{port or self.d.port}"

    async def publish(self, channel, title, body="b"):
        status, _h, answer = await self.d.ahttp_json("POST", f"/api/notify/{channel}",
                                                     {"title": title, "body": body})
        self.assertEqual(status, 200, answer)
        return answer

    def cli(self, *args, port=None):
        p = CliProcess(list(args), cli_env(NOTIFYD_URL=self.http_url(port)))
        self.addCleanup(p.cleanup)
        return p

    async def proxy(self):
        proxy = await CuttableProxy(self.d.port).start()
        self.addAsyncCleanup(proxy.stop)
        return proxy

    async def subscriber(self, channel):
        c = await self.d.ws()
        await c.request({"type": "subscribe", "channel": channel})
        return c

    async def expect_resumed(self, cli, first_seq, *titles, **fields):
        """The "resumed news" line, then the replayed notifications in order."""
        n = len(titles)
        await cli.expect_err(f"notifyd-cli: resumed news: recovered {n} missed notification"
                             + ("" if n == 1 else "s"))
        for i, title in enumerate(titles):
            await self.expect_json_line(cli, title=title, seq=first_seq + i, **fields)

    async def expect_json_line(self, cli, **fields):
        """The next stdout line, parsed; checks the given fields."""
        line = await cli.expect_out(re.compile(r"^\{"))
        obj = json.loads(line)
        for key, value in fields.items():
            self.assertEqual(obj.get(key), value, line)
        return obj


class DaemonPublishTest(DaemonCase):
    async def test_publish_prints_the_position(self):
        r = await asyncio.to_thread(run_cli, ["publish", "news", "--title", "T", "x"],
                                    env=cli_env(NOTIFYD_URL=self.http_url()))
        self.assertEqual(r.returncode, 0, r)
        answer = json.loads(r.stdout)
        self.assertIsInstance(answer.get("seq"), int, answer)
        self.assertRegex(answer.get("epoch", ""), f"^{EPOCH_RE}$")
        self.assertEqual(answer.get("id"), f"{answer['epoch']}:{answer['seq']}")
        self.assertEqual(r.stderr, "")

    async def test_a_repeated_key_delivers_once(self):
        c = await self.subscriber("news")
        args = ["publish", "news", "--idempotency-key", "nightly-backup-2026-11-25", "done"]
        env = cli_env(NOTIFYD_URL=self.http_url())
        first = await asyncio.to_thread(run_cli, args, env=env)
        second = await asyncio.to_thread(run_cli, args, env=env)
        self.assertEqual(first.returncode, 0, first)
        self.assertEqual(second.returncode, 0, second)
        self.assertEqual(first.stderr, "")
        self.assertRegex(second.stderr, r"had this Idempotency-Key already")
        a, b = json.loads(first.stdout), json.loads(second.stdout)
        self.assertEqual((a["seq"], a["epoch"], a["id"], a["delivered"]),
                         (b["seq"], b["epoch"], b["id"], b["delivered"]))
        # One notification reached the subscriber: the next one is a new key's.
        n = await c.recv_until("notification")
        self.assertEqual(n["id"], a["id"])
        third = await asyncio.to_thread(run_cli, ["publish", "news", "other"], env=env)
        self.assertEqual(third.returncode, 0, third)
        n = await c.recv_until("notification")
        self.assertEqual(n["body"], "other")
        self.assertEqual(n["seq"], a["seq"] + 1)


class DaemonHistoryTest(DaemonCase):
    async def history(self, *args):
        return await asyncio.to_thread(run_cli, ["history"] + list(args),
                                       env=cli_env(NOTIFYD_URL=self.http_url()))

    async def test_prints_kept_notifications_as_json_lines(self):
        c = await self.subscriber("news")
        answers = [await self.publish("news", f"n{i}") for i in range(1, 4)]
        pushed = [await c.recv_until("notification") for _ in answers]
        r = await self.history("news")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        # Each line is the notification object exactly as pushed.
        self.assertEqual([json.loads(line) for line in lines], pushed)
        self.assertEqual(lines, [compact(n) for n in pushed])
        e = answers[0]["epoch"]
        r = await self.history("news", "--since", f"{e}:{answers[0]['seq']}")
        self.assertEqual([json.loads(line)["title"] for line in r.stdout.splitlines()],
                         ["n2", "n3"])
        r = await self.history("news", "--limit", "2")
        self.assertEqual([json.loads(line)["title"] for line in r.stdout.splitlines()],
                         ["n1", "n2"])
        r = await self.history("empty")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    async def test_usage_and_refusals(self):
        for args in [[], ["a", "b"], ["bad name!"], ["news", "--since", "nope"],
                     ["news", "--limit", "0"], ["news", "--limit", "x"]]:
            r = await self.history(*args)
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertIn("Usage:", r.stderr)
            self.assertEqual(r.stdout, "")


class DaemonHistoryPagingTest(DaemonCase):
    config = {"history": {"size": 300}}

    async def test_pages_through_everything_kept(self):
        for i in range(1, 251):
            await self.publish("news", f"n{i}")
        r = await asyncio.to_thread(run_cli, ["history", "news"],
                                    env=cli_env(NOTIFYD_URL=self.http_url()))
        self.assertEqual(r.returncode, 0, r)
        seqs = [json.loads(line)["seq"] for line in r.stdout.splitlines()]
        self.assertEqual(seqs, list(range(1, 251)))
        r = await asyncio.to_thread(run_cli, ["history", "news", "--limit", "120"],
                                    env=cli_env(NOTIFYD_URL=self.http_url()))
        self.assertEqual(len(r.stdout.splitlines()), 120)


class DaemonHistoryTooShortTest(DaemonCase):
    config = {"history": {"size": 3}}

    async def test_says_when_history_does_not_reach_back(self):
        answers = [await self.publish("news", f"n{i}") for i in range(1, 6)]
        since = f"{answers[0]['epoch']}:1"
        r = await asyncio.to_thread(run_cli, ["history", "news", "--since", since],
                                    env=cli_env(NOTIFYD_URL=self.http_url()))
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual([json.loads(line)["seq"] for line in r.stdout.splitlines()], [3, 4, 5])
        self.assertEqual(r.stderr.splitlines()[-1],
                         f"notifyd-cli: history does not reach back to {since}; "
                         "showing what is kept")


class DaemonTailTest(DaemonCase):
    async def test_prints_each_notification_as_one_json_line(self):
        c = await self.subscriber("news")
        tail = self.cli("tail", "news")
        await tail.expect_err(re.compile(f"^notifyd-cli: subscribed to news at {EPOCH_RE}:0$"))
        await self.publish("news", "one", "two\nlines")
        pushed = await c.recv_until("notification")
        line = await tail.expect_out(re.compile(r"^\{"))
        self.assertEqual(line, compact(pushed))
        self.assertEqual(await tail.stop(signal.SIGINT), 0)
        self.assertEqual(tail.out.lines, [line])

    async def test_since_replays_what_came_after(self):
        answers = [await self.publish("news", f"n{i}") for i in range(1, 4)]
        e = answers[0]["epoch"]
        tail = self.cli("tail", "news", "--since", f"{e}:1")
        await self.expect_resumed(tail, 2, "n2", "n3")
        await self.publish("news", "n4")
        await self.expect_json_line(tail, title="n4", seq=4)
        self.assertEqual(await tail.stop(), 0)

    async def test_resumes_after_a_dropped_connection(self):
        proxy = await self.proxy()
        tail = self.cli("tail", "news", port=proxy.port)
        await tail.expect_err(re.compile(r"^notifyd-cli: subscribed to news at "))
        await self.publish("news", "n1")
        await self.expect_json_line(tail, title="n1")
        proxy.cut()
        await tail.expect_err(re.compile(r"reconnecting in \d+\.\d s$"))
        await self.publish("news", "n2")
        await self.publish("news", "n3")
        proxy.restore()
        await self.expect_resumed(tail, 2, "n2", "n3")
        await self.publish("news", "n4")
        await self.expect_json_line(tail, title="n4", seq=4)
        self.assertEqual(await tail.stop(), 0)
        self.assertEqual(len(tail.out.lines), 4, tail.out.lines)  # nothing twice

    async def test_after_a_restart_with_memory_history_it_cannot_resume(self):
        proxy = await self.proxy()
        tail = self.cli("tail", "news", port=proxy.port)
        await tail.expect_err(re.compile(r"^notifyd-cli: subscribed to news at "))
        old = (await self.publish("news", "before"))["epoch"]
        await self.expect_json_line(tail, title="before")
        self.assertEqual(await asyncio.to_thread(self.d.stop), 0)
        await tail.expect_err("notifyd-cli: the server is shutting down")
        self.d.start()  # the main thread: see harness.py
        proxy.restore(self.d.port)
        line = await tail.expect_err(re.compile(
            f"^notifyd-cli: news: cannot resume from {old}:1 \\(the channel's stream was "
            f"restarted as epoch ({EPOCH_RE})\\); reloading is up to you$"))
        new = re.search(r"as epoch (\w+)", line).group(1)
        self.assertNotEqual(new, old)
        await self.publish("news", "after")
        await self.expect_json_line(tail, title="after", epoch=new, seq=1)
        self.assertEqual(await tail.stop(), 0)


class DaemonSqliteRestartTest(DaemonCase):
    def setUp(self):
        self.d = Daemon(start=False)
        self.addCleanup(self.d.cleanup)
        self.d.write_config({"history": {"store": "sqlite",
                                         "path": os.path.join(self.d.tmpdir, "history.db")}})
        self.d.start()

    async def test_resumes_across_a_clean_restart(self):
        proxy = await self.proxy()
        tail = self.cli("tail", "news", port=proxy.port)
        await tail.expect_err(re.compile(r"^notifyd-cli: subscribed to news at "))
        epoch = (await self.publish("news", "n1"))["epoch"]
        await self.expect_json_line(tail, title="n1")
        proxy.cut()
        await self.publish("news", "n2")
        self.assertEqual(await asyncio.to_thread(self.d.stop), 0)
        self.d.start()
        await self.publish("news", "n3")
        proxy.restore(self.d.port)
        await self.expect_resumed(tail, 2, "n2", "n3", epoch=epoch)
        self.assertEqual(await tail.stop(), 0)


class DaemonSubTest(DaemonCase):
    async def test_prints_lines_and_resumes_every_channel(self):
        proxy = await self.proxy()
        sub = self.cli("sub", "news", "sports", port=proxy.port)
        await sub.expect_err(re.compile(r"^notifyd-cli: subscribed to news at "))
        await sub.expect_err(re.compile(r"^notifyd-cli: subscribed to sports at "))
        await self.publish("news", "Breaking", "Big news!")
        await sub.expect_out(re.compile(
            r"^\[news #1\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z Breaking: Big news!$"))
        proxy.cut()
        await sub.expect_err(re.compile(r"reconnecting in"))
        await self.publish("sports", "Goal", "1:0")
        await self.publish("news", "Later", "more")
        proxy.restore()
        await sub.expect_err("notifyd-cli: resumed news: recovered 1 missed notification")
        await sub.expect_err("notifyd-cli: resumed sports: recovered 1 missed notification")
        lines = [await sub.expect_out(re.compile(r"^\[")) for _ in range(2)]
        self.assertEqual(sorted(re.sub(r" \S+Z ", " ", line) for line in lines),
                         ["[news #2] Later: more", "[sports #1] Goal: 1:0"])
        self.assertEqual(await sub.stop(), 0)


# --- against stand-in servers ---------------------------------------------------------


class FakeWsServer:
    """A websockets server whose i-th connection runs scripts[i](ws); what
    goes wrong inside a script is kept in `errors` (websockets would only log
    it)."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.connections = 0
        self.errors = []
        self.done = asyncio.Event()

    async def __aenter__(self):
        self.server = await websockets.serve(self._handler, HOST, 0, compression=None,
                                             ping_interval=None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _handler(self, ws, _path):
        i = self.connections
        self.connections += 1
        try:
            if i >= len(self.scripts):
                raise AssertionError(f"unexpected connection #{i + 1}")
            await self.scripts[i](ws)
            if i == len(self.scripts) - 1:
                self.done.set()
        except websockets.exceptions.ConnectionClosed:
            pass
        except Exception as e:  # kept for the test to report
            self.errors.append(f"connection #{i + 1}: {e!r}")
            self.done.set()


async def recv_json(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send_json(ws, obj):
    await ws.send(compact(obj))


async def expect_subscribe(ws, channel, since=None):
    request = await recv_json(ws)
    expected = {"type": "subscribe", "channel": channel, "id": channel}
    if since is not None:
        expected["since"] = since
    if request != expected:
        raise AssertionError(f"got {request!r}, expected {expected!r}")


def notification(epoch, seq, title="t", channel="news", **extra):
    n = {"type": "notification", "channel": channel, "id": f"{epoch}:{seq}", "seq": seq,
         "epoch": epoch, "timestamp": "2026-11-25T19:07:29.123Z", "title": title, "body": "b"}
    n.update(extra)
    return n


def subscribed(epoch, seq, channel="news", **extra):
    reply = {"type": "subscribed", "channel": channel, "subscriberCount": 1, "epoch": epoch,
             "seq": seq, "id": channel}
    reply.update(extra)
    return reply


async def wait_closed(ws, timeout=10.0):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.exceptions.ConnectionClosed:
        pass


class FakeFollowCase(unittest.IsolatedAsyncioTestCase):
    def cli(self, server, *args, env=None):
        p = CliProcess(list(args), env or cli_env(WS_URL=f"ws://{HOST}:{server.port}/ws"))
        self.addCleanup(p.cleanup)
        return p

    async def finish(self, server, cli, sig=signal.SIGTERM):
        """Stops the client, waits (bounded) for the last script, which ends
        with the client's close; returns the client's exit code."""
        code = await cli.stop(sig)
        try:
            await asyncio.wait_for(server.done.wait(), 10)
        except asyncio.TimeoutError:
            self.fail("the stand-in server's scripts did not finish; stderr:\n"
                      + "\n".join(cli.err.lines))
        self.assertEqual(server.errors, [], "\n".join(cli.err.lines))
        return code


class FakeTailTest(FakeFollowCase):
    async def test_resumes_skips_repeats_follows_resyncs_and_says_when_it_cannot(self):
        first = [notification(E1, 4)]
        second = [notification(E1, 5), notification(E1, 6), notification(E1, 6)]
        after_resync = notification(E2, 11)
        last = notification(E3, 1)
        released = asyncio.Event()

        async def connection1(ws):
            await send_json(ws, {"type": "welcome", "clientId": "c-1", "message": "hi"})
            await expect_subscribe(ws, "news")
            await send_json(ws, subscribed(E1, 3))
            await send_json(ws, first[0])
            await ws.close(1001, "Server is shutting down")

        async def connection2(ws):
            await expect_subscribe(ws, "news", since={"epoch": E1, "seq": 4})
            await send_json(ws, subscribed(E1, 6, recovered=True, missed=2))
            for n in second:
                await send_json(ws, n)
            await send_json(ws, {"type": "resync", "channel": "news", "epoch": E2, "seq": 10,
                                 "reason": "epoch_changed"})
            await send_json(ws, after_resync)
            await asyncio.wait_for(released.wait(), 10)
            ws.transport.abort()  # gone without a close frame

        async def connection3(ws):
            await expect_subscribe(ws, "news", since={"epoch": E2, "seq": 11})
            await send_json(ws, subscribed(E3, 0, recovered=False, missed=0))
            await send_json(ws, last)
            await send_json(ws, {"type": "ping", "timestamp": 1})
            pong = await recv_json(ws)
            if pong != {"type": "pong"}:
                raise AssertionError(f"expected a pong, got {pong!r}")
            await wait_closed(ws)

        async with FakeWsServer([connection1, connection2, connection3]) as server:
            tail = self.cli(server, "tail", "news")
            await tail.expect_err(f"notifyd-cli: subscribed to news at {E1}:3")
            await tail.expect_err(re.compile(
                r"^notifyd-cli: the connection to ws://\S+ ended \(1001 Server is shutting "
                r"down\); reconnecting in 0\.[2-5] s$"))
            await tail.expect_err("notifyd-cli: resumed news: recovered 2 missed notifications")
            await tail.expect_err(f"notifyd-cli: news: resync from the server (epoch_changed); "
                                  f"continuing at {E2}:10; reloading is up to you")
            await tail.expect_out(compact(after_resync))
            released.set()
            await tail.expect_err(f"notifyd-cli: news: cannot resume from {E2}:11 (the "
                                  f"channel's stream was restarted as epoch {E3}); reloading "
                                  "is up to you")
            await tail.expect_out(compact(last))
            self.assertEqual(await self.finish(server, tail), 0)
        # Every notification once, exactly as sent, in order.
        self.assertEqual(tail.out.lines,
                         [compact(n) for n in first + second[:2] + [after_resync, last]])

    async def test_since_is_sent_on_the_first_subscribe(self):
        async def connection1(ws):
            await expect_subscribe(ws, "news", since={"epoch": E1, "seq": 7})
            await send_json(ws, subscribed(E1, 8, recovered=True, missed=1))
            await send_json(ws, notification(E1, 8))
            await wait_closed(ws)

        async with FakeWsServer([connection1]) as server:
            tail = self.cli(server, "tail", "news", "--since", f"{E1}:7")
            await tail.expect_err("notifyd-cli: resumed news: recovered 1 missed notification")
            await tail.expect_out(compact(notification(E1, 8)))
            self.assertEqual(await self.finish(server, tail, signal.SIGINT), 0)

    async def test_a_refused_subscribe_ends_it(self):
        async def connection1(ws):
            await expect_subscribe(ws, "news")
            await send_json(ws, {"type": "error", "error": "Too many subscriptions",
                                 "code": "limit_exceeded", "id": "news"})
            await wait_closed(ws)

        async with FakeWsServer([connection1]) as server:
            tail = self.cli(server, "tail", "news")
            self.assertEqual(await tail.wait(), 1)
            await tail.expect_err("notifyd-cli: news: the server refused to subscribe: Too many "
                                  "subscriptions (limit_exceeded)")
            self.assertEqual(server.errors, [])

    async def test_usage_errors(self):
        for args in [["tail"], ["tail", "a", "b"], ["tail", "bad name!"],
                     ["tail", "news", "--since", "x:1"], ["sub", "a", "b", "--since", f"{E1}:1"],
                     ["sub", "--bogus", "news"]]:
            r = await asyncio.to_thread(run_cli, args)
            self.assertEqual(r.returncode, 2, (args, r))
            self.assertIn("Usage:", r.stderr)
            self.assertEqual(r.stdout, "")


class FakeSubTest(FakeFollowCase):
    async def test_one_line_per_notification_and_refused_channels(self):
        n = notification(E1, 1, title="T", body="line 1\nline 2\x1b[2J", data={"k": 1})

        async def connection1(ws):
            await expect_subscribe(ws, "news")
            await expect_subscribe(ws, "sports")
            await send_json(ws, subscribed(E1, 0))
            await send_json(ws, {"type": "error", "error": "Channel is private",
                                 "code": "forbidden", "id": "sports"})
            await send_json(ws, n)
            await wait_closed(ws)

        async with FakeWsServer([connection1]) as server:
            sub = self.cli(server, "sub", "news", "sports", "news")
            await sub.expect_err("notifyd-cli: sports: the server refused to subscribe: Channel "
                                 "is private (forbidden)")
            line = await sub.expect_out(re.compile(r"^\[news"))
            self.assertEqual(line, '[news #1] 2026-11-25T19:07:29.123Z T: line 1\\nline '
                                   '2\\x1B[2J {"k":1}')
            self.assertEqual(await self.finish(server, sub, signal.SIGINT), 0)


class FakeConnectTest(unittest.IsolatedAsyncioTestCase):
    async def test_keeps_trying_while_nothing_listens_until_stopped(self):
        port = free_port()
        tail = CliProcess(["tail", "news"], cli_env(NOTIFYD_URL=f"http://{HOST}:{port}"))
        self.addCleanup(tail.cleanup)
        for _ in range(3):
            await tail.expect_err(re.compile(
                f"^notifyd-cli: cannot connect to ws://{HOST}:{port}/ws: .*; reconnecting in "
                r"\d+\.\d s$"))
        start = time.monotonic()
        self.assertEqual(await tail.stop(), 0)
        self.assertLess(time.monotonic() - start, 5)

    async def test_a_refused_upgrade_ends_it(self):
        server = FakeHttpServer([(401, {}, '{"error":"Unauthorized"}')])
        self.addCleanup(server.close)
        tail = CliProcess(["tail", "news", "--token", "wrong"],
                          cli_env(NOTIFYD_URL=server.url))
        self.addCleanup(tail.cleanup)
        self.assertEqual(await tail.wait(), 1)
        await tail.expect_err(re.compile(r"server answered 401 .*instead of upgrading"))
        self.assertEqual(server.requests[0]["headers"].get("Authorization"), "Bearer wrong")


class FakeHttpServer:
    """http.server on 127.0.0.1 answering from a script, one entry per
    request: (status, headers, body) or "drop" (close without an answer).
    Past the script's end it answers 500. `requests` records what came."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner._answer(self)

            def do_POST(self):
                owner._answer(self)

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        self.requests.append({"method": handler.command, "path": handler.path,
                              "headers": dict(handler.headers), "body": body})
        entry = self.script.pop(0) if self.script else (500, {}, '{"error":"script ended"}')
        handler.close_connection = True
        if entry == "drop":
            return
        status, headers, text = entry
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def publish_answer(seq=1, epoch=E1):
    return compact({"success": True, "channel": "news", "delivered": 0, "id": f"{epoch}:{seq}",
                    "seq": seq, "epoch": epoch})


class FakePublishTest(unittest.TestCase):
    def server(self, script):
        s = FakeHttpServer(script)
        self.addCleanup(s.close)
        return s

    def publish(self, server, *args):
        return run_cli(["publish", "news"] + list(args), env=cli_env(NOTIFYD_URL=server.url))

    def test_retries_with_the_same_key(self):
        answer = publish_answer()
        s = self.server([(503, {}, '{"error":"Broker unavailable"}'), "drop",
                         (200, {"Idempotent-Replayed": "true"}, answer)])
        start = time.monotonic()
        r = self.publish(s, "x")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, answer + "\n", ""))
        self.assertGreaterEqual(time.monotonic() - start, 1.5)  # waited 0.5 s, then 1 s
        keys = [q["headers"].get("Idempotency-Key") for q in s.requests]
        self.assertEqual(len(keys), 3)
        self.assertRegex(keys[0], r"^[0-9a-f]{32}$")
        self.assertEqual(set(keys), {keys[0]})
        self.assertEqual({q["body"] for q in s.requests}, {'{"body":"x"}'})
        # A new invocation, a new key.
        s2 = self.server([(200, {}, answer)])
        self.assertEqual(self.publish(s2, "x").returncode, 0)
        self.assertNotEqual(s2.requests[0]["headers"].get("Idempotency-Key"), keys[0])

    def test_an_explicit_key_and_a_replayed_first_answer(self):
        s = self.server([(200, {"Idempotent-Replayed": "true"}, publish_answer())])
        r = self.publish(s, "--idempotency-key", "backup 2026-11-25", "x")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(s.requests[0]["headers"].get("Idempotency-Key"), "backup 2026-11-25")
        self.assertEqual(r.stderr, "notifyd-cli: the server had this Idempotency-Key already "
                                   "and repeated its first answer; nothing was delivered again\n")

    def test_gives_up_after_three_attempts(self):
        s = self.server([(503, {}, '{"error":"Server busy"}')] * 3)
        r = self.publish(s, "--no-spool", "x")
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stderr, 'notifyd-cli: server refused: 503 {"error":"Server busy"} '
                                   "(tried 3 times)\n")
        self.assertEqual(len(s.requests), 3)

    def test_other_refusals_are_not_retried(self):
        # 429 and 500 are spooled (test_cli_cron.py); here nothing is kept.
        for status in (400, 401, 429, 500):
            s = self.server([(status, {}, '{"error":"no"}')])
            r = self.publish(s, "--no-spool", "x")
            self.assertEqual(r.returncode, 1, (status, r))
            self.assertEqual(len(s.requests), 1, status)

    def test_bad_keys_are_usage_errors(self):
        s = self.server([])
        for key in ["", "x" * 129, "a\tb", " lead", "caf\u00e9"]:
            r = self.publish(s, "--idempotency-key", key, "x")
            self.assertEqual(r.returncode, 2, (key, r))
            self.assertIn("--idempotency-key needs 1 to 128 printable ASCII", r.stderr)
        self.assertEqual(s.requests, [])


def history_page(messages, *, more, recovered=True, epoch=E1, top=5):
    return (200, {}, compact({"channel": "news", "epoch": epoch, "seq": top,
                              "recovered": recovered, "more": more, "messages": messages}))


class FakeHistoryTest(unittest.TestCase):
    messages = [notification(E1, seq, title=f"n{seq}") for seq in range(1, 6)]

    def history(self, script, *args):
        s = FakeHttpServer(script)
        self.addCleanup(s.close)
        r = run_cli(["history", "news"] + list(args), env=cli_env(NOTIFYD_URL=s.url))
        return r, [q["path"] for q in s.requests]

    def test_follows_more_until_done(self):
        m = self.messages
        r, paths = self.history([history_page(m[0:2], more=True), history_page(m[2:4], more=True),
                                 history_page(m[4:5], more=False)])
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        self.assertEqual(r.stdout.splitlines(), [compact(n) for n in m])
        self.assertEqual(paths, ["/api/channels/news/messages?limit=100",
                                 f"/api/channels/news/messages?since={E1}:2&limit=100",
                                 f"/api/channels/news/messages?since={E1}:4&limit=100"])

    def test_limit_caps_the_lines_and_the_pages(self):
        m = self.messages
        r, paths = self.history([history_page(m[1:3], more=True), history_page(m[3:4], more=True)],
                                "--since", f"{E1}:1", "--limit", "3")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.splitlines(), [compact(n) for n in m[1:4]])
        self.assertEqual(paths, [f"/api/channels/news/messages?since={E1}:1&limit=3",
                                 f"/api/channels/news/messages?since={E1}:3&limit=1"])

    def test_says_last_when_history_does_not_reach_back(self):
        r, _ = self.history([history_page(self.messages[3:], more=False, recovered=False)],
                            "--since", f"{E1}:1")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(len(r.stdout.splitlines()), 2)
        self.assertEqual(r.stderr, f"notifyd-cli: history does not reach back to {E1}:1; "
                                   "showing what is kept\n")

    def test_refusals_and_odd_answers_exit_1(self):
        for script in [[(404, {}, '{"error":"Not found"}')],
                       [(200, {}, '{"success":true}')],
                       [history_page([], more=True)]]:
            r, _ = self.history(script)
            self.assertEqual(r.returncode, 1, (script, r))
            self.assertEqual(r.stdout, "")
            self.assertRegex(r.stderr, r"^notifyd-cli: (server refused|unexpected answer)")


if __name__ == "__main__":
    unittest.main()
