"""The web console (web/, served at /) in a real headless browser: Debian's
chromium driven over the DevTools protocol (browser.py). The page loads without
a console error and fetches nothing from elsewhere; it is usable from the
keyboard; a notification published with HTTP appears in the watch panel, which
resumes after a pause ("recovered N") or says it could not; the publish form
reaches a WebSocket subscriber; the counts, the chart, the channels, clients
and check-ins move; with tokens configured it asks for one and keeps it for the
tab only.

Exits with 77 (CTest: skipped) when chromium is not installed. With
NOTIFYD_CONSOLE_SCREENSHOT=<file.png> it also writes the README's screenshot.
"""

import asyncio
import json
import os
import sys
import unittest

from browser import CHROMIUM, Browser
from harness import Daemon, DaemonTestCase

SKIPPED = 77
NO_LIMITS = {"connection_rate": 0, "publish_rate": 0}
ADMIN = "admin-token-for-the-console-test"
SUBSCRIBE = "subscribe-token-for-the-console-test"


def js_text(element_id):
    return f"document.getElementById({json.dumps(element_id)}).textContent"


def number_js(element_id):
    """JS for the integer shown in an element (digits only), or null."""
    return f"(t => t.match(/\\d/) ? Number(t.replace(/\\D/g, '')) : null)({js_text(element_id)})"


class ConsoleCase(DaemonTestCase):
    """Each test: a daemon (DaemonTestCase) and a fresh tab on the page it serves."""

    browser = None

    @classmethod
    def setUpClass(cls):
        cls.browser = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.stop()

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.cdp = await self.browser.connect()
        self.page = await self.cdp.new_page()
        self.base = f"http://127.0.0.1:{self.d.port}/"

    async def asyncTearDown(self):
        await self.page.close()
        await self.cdp.close()
        await super().asyncTearDown()

    async def open_console(self):
        await self.page.navigate(self.base)
        await self.page.wait_js(f"{number_js('stat-connections')} !== null",
                                what="the first counts")

    def assert_no_errors(self):
        self.assertEqual(self.page.errors(), [], "the page reported errors")

    def publish(self, channel, title, body="", token=None):
        headers = {"Title": title, "Content-Type": "text/plain"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, _h, reply = self.d.http("POST", f"/api/notify/{channel}", body, headers)
        self.assertEqual(status, 200, reply)
        return json.loads(reply)

    async def feed_titles(self):
        return await self.page.evaluate(
            "[...document.querySelectorAll('#feed li strong')].map(e => e.textContent)")

    async def watch_with_keyboard(self, channel):
        await self.page.focus("watch-channel")
        await self.page.type(channel)
        await self.page.enter()
        await self.page.wait_js(f"{js_text('watch-status')}.startsWith('Watching {channel}')",
                                what=f"watching {channel}")


class ConsoleTest(ConsoleCase):
    config = {"limits": NO_LIMITS, "history": {"size": 3}}

    async def test_page_loads_clean_from_its_own_server(self):
        await self.open_console()
        self.assertEqual(await self.page.evaluate("document.title"), "notifyd console")
        await self.page.wait_js(f"{js_text('channels-body')}.includes('No channels')",
                                what="the channels table")
        self.assert_no_errors()
        for url in self.page.request_urls():
            self.assertTrue(url.startswith(self.base) or
                            url.startswith(f"ws://127.0.0.1:{self.d.port}/"), url)
        self.assertIn(self.base + "console.js", self.page.request_urls())
        # The headers the browser got (CSP and friends), and revalidation.
        status, headers, body = self.d.http("GET", "/")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/html; charset=utf-8"))
        self.assertIn("connect-src 'self' ws: wss:", headers["Content-Security-Policy"])
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        status, again, body = self.d.http("GET", "/", headers={"If-None-Match": headers["ETag"]})
        self.assertEqual((status, body, again["Content-Length"]), (304, b"", None))

    async def test_keyboard_reaches_the_watch_panel(self):
        await self.open_console()
        await self.page.tab()
        self.assertEqual(await self.page.evaluate("document.activeElement.className"), "skip")
        await self.page.enter()
        await self.page.wait_js("document.activeElement.id === 'watch-channel'",
                                what="the skip link to move focus to the watch channel")
        await self.page.type("kbd")
        await self.page.enter()
        await self.page.wait_js(f"{js_text('watch-status')}.startsWith('Watching kbd')",
                                what="watching kbd")
        # Tab order from the field: Watch, Pause, Clear, then the chip's button.
        labels = []
        for _ in range(4):
            await self.page.tab()
            labels.append(await self.page.evaluate(
                "document.activeElement.getAttribute('aria-label') || "
                "document.activeElement.textContent"))
        self.assertEqual(labels, ["Watch", "Pause", "Clear", "Stop watching kbd"])
        await self.page.enter()  # on "Stop watching kbd"
        await self.page.wait_js(f"{js_text('watch-status')} === 'Stopped watching kbd.'")
        self.assert_no_errors()

    async def test_watch_shows_a_curl_publish_and_resumes(self):
        await self.open_console()
        self.assertEqual(await self.page.evaluate(
            "document.getElementById('feed').getAttribute('aria-live')"), "polite")
        await self.watch_with_keyboard("news")
        self.publish("news", "from curl", "disk 91% full")
        await self.page.wait_js(f"{js_text('feed')}.includes('from curl')",
                                what="the notification in the watch panel")
        self.assertIn("disk 91% full", await self.page.evaluate(js_text("feed")))

        # Paused, the connection is closed; Resume recovers what was missed.
        await self.page.evaluate("document.getElementById('pause-button').click()")
        await async_wait_for_subscribers(self.d, "news", 0)
        self.publish("news", "missed one")
        self.publish("news", "missed two")
        await self.page.evaluate("document.getElementById('pause-button').click()")
        await self.page.wait_js(f"{js_text('watch-status')}.includes('recovered 2')",
                                what="recovered 2")
        await self.page.wait_js("document.querySelectorAll('#feed li').length === 3")
        self.assertEqual(await self.feed_titles(), ["missed two", "missed one", "from curl"])

        # More missed than history.size keeps: it says so and shows none of them.
        await self.page.evaluate("document.getElementById('pause-button').click()")
        await async_wait_for_subscribers(self.d, "news", 0)
        for i in range(5):
            self.publish("news", f"lost {i}")
        await self.page.evaluate("document.getElementById('pause-button').click()")
        await self.page.wait_js(f"{js_text('watch-status')}.includes('could not resume')",
                                what="could not resume")
        self.publish("news", "live again")
        await self.page.wait_js(f"{js_text('feed')}.includes('live again')")
        self.assertEqual(await self.feed_titles(),
                         ["live again", "missed two", "missed one", "from curl"])
        self.assert_no_errors()

    async def test_publish_form_reaches_a_websocket_subscriber(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "alerts"})
        await self.open_console()
        await self.page.fill("publish-channel", "alerts")
        await self.page.fill("publish-body", "from the form")
        await self.page.fill("publish-data", '{"level": "warn"}')
        await self.page.fill("publish-title", "Form title")
        await self.page.enter()  # in the title field: submits the form
        n = await sub.recv_until("notification")
        self.assertEqual((n["channel"], n["title"], n["body"], n["data"]),
                         ("alerts", "Form title", "from the form", {"level": "warn"}))
        await self.page.wait_js(f"{js_text('publish-result')}.includes('seq')",
                                what="the publish reply")
        result = await self.page.evaluate(js_text("publish-result"))
        self.assertIn(f"Published {n['id']}: seq {n['seq']}, epoch {n['epoch']}", result)
        self.assertIn("delivered to 1", result)

        # Data that is not a JSON object is refused in the page.
        await self.page.fill("publish-data", "[1, 2]")
        await self.page.focus("publish-title")
        await self.page.enter()
        await self.page.wait_js(f"{js_text('publish-result')} === 'Data must be a JSON object.'")
        self.assertEqual(await self.page.evaluate("document.activeElement.id"), "publish-data")
        self.assert_no_errors()

    async def test_counts_chart_channels_clients_and_checkins_move(self):
        sub = await self.d.ws()
        await sub.request({"type": "subscribe", "channel": "load"})
        await sub.request({"type": "set_name", "name": "test-subscriber"})
        await self.open_console()
        published = await self.page.evaluate(number_js("stat-published"))
        delivered = await self.page.evaluate(number_js("stat-delivered"))
        for i in range(20):
            self.publish("load", f"n{i}")
        await self.page.wait_js(f"{number_js('stat-published')} >= {published + 20}",
                                what="published to count 20 more")
        await self.page.wait_js(f"{number_js('stat-delivered')} >= {delivered + 20}",
                                what="delivered to count 20 more")
        label = await self.page.wait_js(
            "(l => /peak [1-9]/.test(l) && l)"
            "(document.getElementById('rate-chart').getAttribute('aria-label'))",
            what="a peak in the chart's description")
        self.assertRegex(label, r"^Deliveries per second over the last \d+ seconds: now ")
        channels = await self.page.wait_js(
            f"(t => t.includes('load') && t)({js_text('channels-body')})",
            what="the channel in the table")
        self.assertIn("load1", channels.replace(" ", ""))  # "load" and 1 subscriber
        await self.page.wait_js(f"{js_text('clients-body')}.includes('test-subscriber')",
                                what="the client in the table")
        status, _h, _b = self.d.http("POST", "/api/checkin/backup?every=3600", b"")
        self.assertEqual(status, 200)
        row = await self.page.wait_js(
            "(r => r && r.textContent)([...document.querySelectorAll('#checkins-body tr')]"
            ".find(r => r.cells[0].textContent.startsWith('backup')))", what="the check-in")
        self.assertIn("up", row)
        self.assertIn("every 1 h, grace 1 h, to checkins", row)
        self.assert_no_errors()

    @unittest.skipUnless(os.environ.get("NOTIFYD_CONSOLE_SCREENSHOT"),
                         "set NOTIFYD_CONSOLE_SCREENSHOT=<file.png> to take the screenshot")
    async def test_screenshot(self):
        subs = []
        for channel in ("backups", "alerts", "deploys"):
            subs.append(await self.d.ws())
            await subs[-1].request({"type": "subscribe", "channel": channel})
        await subs[0].request({"type": "set_name", "name": "ops-dashboard"})
        await subs[1].request({"type": "set_name", "name": "pager"})
        for name, every in (("nightly-backup", 86400), ("db-dump", 3600), ("cert-renew", 1)):
            self.d.http("POST", f"/api/checkin/{name}?every={every}&grace=0", b"")
        await self.open_console()
        await self.watch_with_keyboard("backups")
        await self.watch_with_keyboard("alerts")
        for second in range(12):
            for i in range(second % 4 + 2):
                self.publish("deploys", f"deploy {second}.{i}")
            if second == 1:
                self.publish("backups", "Backup started", "nightly to s3-archive")
            if second == 3:
                self.publish("backups", "Backup done", "nightly: 14.2 GB in 6 min")
            if second == 7:
                self.publish("alerts", "Disk almost full", "/var at 91% on db-1")
            if second == 9:
                self.d.http_json("POST", "/api/notify/alerts", {
                    "title": "Load high", "body": "db-1: load 7.9 for 5 min",
                    "data": {"host": "db-1", "load": 7.9}})
            await asyncio.sleep(1)  # traffic spread over time, for the chart
        await self.page.fill("publish-channel", "alerts")
        await self.page.fill("publish-body", "load back to normal on db-1")
        await self.page.fill("publish-title", "Recovered")
        await self.page.enter()
        await self.page.wait_js(f"{js_text('publish-result')}.includes('seq')")
        await self.page.wait_js(f"{js_text('checkins-body')}.includes('late')")
        await self.page.evaluate("document.activeElement.blur()")
        await self.page.screenshot(os.environ["NOTIFYD_CONSOLE_SCREENSHOT"], 1200, 800)
        self.assert_no_errors()


class ConsoleTokenTest(ConsoleCase):
    def setUp(self):
        # [[auth.admin]] is an array of tables, which the harness's flat
        # sections cannot say: write the config text.
        self.d = Daemon(config_text=(
            '[server]\nlisten = "127.0.0.1"\nport = 0\n[log]\nlevel = "info"\n'
            '[limits]\nconnection_rate = 0\npublish_rate = 0\n'
            f'[auth]\nsubscribe_token = "{SUBSCRIBE}"\n'
            f'[[auth.admin]]\ntoken = "{ADMIN}"\n'), start=False)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    async def test_asks_for_a_token_and_keeps_it_for_the_tab(self):
        await self.page.navigate(self.base)
        await self.page.wait_js("document.getElementById('token-dialog').open",
                                what="the token prompt")
        self.assertIn("Unauthorized", await self.page.evaluate(js_text("token-reason")))
        self.assertEqual(await self.page.evaluate("document.activeElement.id"), "token-input")
        await self.page.type(ADMIN)
        await self.page.enter()
        await self.page.wait_js(f"{number_js('stat-connections')} !== null",
                                what="the counts with the token")
        self.assertFalse(await self.page.evaluate("document.getElementById('token-dialog').open"))
        self.assertEqual(await self.page.evaluate(
            "sessionStorage.getItem('notifyd.console.token')"), ADMIN)
        self.assertEqual(await self.page.evaluate("localStorage.length"), 0)
        # The WebSocket takes the same token (?token=), and publishing works.
        await self.watch_with_keyboard("secure")
        self.publish("secure", "with a token", token=ADMIN)
        await self.page.wait_js(f"{js_text('feed')}.includes('with a token')")
        # Before the token, the API's 401s are the only errors: failed loads.
        for error in self.page.errors():
            self.assertRegex(error, r"^log \(network\): Failed to load resource: .* 401")


async def async_wait_for_subscribers(d, channel, count, timeout=10.0):
    """Waits until /api/channels shows `count` subscribers on `channel`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _s, _h, body = await d.ahttp_json("GET", "/api/channels")
        now = {c["name"]: c["subscribers"] for c in body["channels"]}.get(channel, 0)
        if now == count:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"{channel} has {now} subscribers, not {count}, after {timeout}s")
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    if not CHROMIUM:
        print("SKIPPED: chromium is not installed (apt-get install chromium); "
              "the web console test needs a real browser", file=sys.stderr)
        sys.exit(SKIPPED)
    unittest.main()
