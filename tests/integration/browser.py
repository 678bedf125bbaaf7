"""A headless Chromium driven over the DevTools protocol, for the web console
test: the standard library and python3-websockets only (no npm, no Selenium).

    browser = Browser()                 # starts Debian's chromium, headless
    conn = await browser.connect()      # one CDP connection per event loop
    page = await conn.new_page()        # a fresh tab (its own sessionStorage)
    await page.navigate("http://127.0.0.1:8080/")
    await page.evaluate("document.title")
    await page.wait_js("document.querySelector('#feed li')", what="a notification")
    page.errors()                       # console errors, exceptions, failed loads
    await page.close(); await conn.close()
    browser.stop()                      # the browser's own PID, then its group

The browser runs in its own session (process group), so that stop() ends
everything it started and nothing else. Host names other than 127.0.0.1 do not
resolve in it, and its background services (updates, sync, safe browsing) are
off: the browser talks to nothing but the daemon under test.

CHROMIUM is the browser binary: $NOTIFYD_CHROMIUM, else chromium on the PATH,
else None (the test then skips).
"""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import websockets
import websockets.exceptions

CHROMIUM = os.environ.get("NOTIFYD_CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser")

DEVTOOLS_RE = re.compile(r"DevTools listening on (ws://\S+)")


class Browser:
    """The chromium process: headless, a temporary profile, DevTools on an
    ephemeral port of 127.0.0.1."""

    def __init__(self, width=1200, height=800, timeout=30.0):
        if not CHROMIUM:
            raise AssertionError("chromium is not installed")
        self.tmpdir = tempfile.mkdtemp(prefix="notifyd-chromium-")
        args = [
            CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
            "--disable-client-side-phishing-detection", "--disable-breakpad",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={self.tmpdir}/profile", f"--window-size={width},{height}",
            "about:blank",
        ]
        # Chromium's sandbox will not start as root, nor in a container without
        # user namespaces; it would guard nothing here, where the browser loads
        # only the page under test from 127.0.0.1 and resolves no other name.
        args.insert(1, "--no-sandbox")
        env = dict(os.environ, HOME=self.tmpdir, XDG_CONFIG_HOME=f"{self.tmpdir}/config",
                   XDG_CACHE_HOME=f"{self.tmpdir}/cache")
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True)
        self._stderr = []
        self._found = threading.Event()
        self.ws_url = None
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._found.wait(timeout) or not self.ws_url:
            text = self.stderr_text()
            self.stop()
            raise AssertionError(f"chromium did not start DevTools within {timeout}s:\n{text}")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._stderr.append(line)
            m = DEVTOOLS_RE.search(line)
            if m and not self.ws_url:
                self.ws_url = m.group(1)
                self._found.set()
        self._found.set()  # the browser ended: stop waiting

    def stderr_text(self):
        return "".join(self._stderr[-200:])

    async def connect(self, timeout=10.0):
        """A CDP connection to the browser, for the running event loop."""
        conn = await asyncio.wait_for(
            websockets.connect(self.ws_url, max_size=2 ** 27, ping_interval=None,
                               compression=None, open_timeout=timeout), timeout)
        return Connection(conn)

    def stop(self, timeout=10.0):
        """Ends the browser (SIGTERM to its PID, SIGKILL if it stays), then
        whatever is left of the process group it leads, and removes its profile.
        The browser is reaped only after that, so that the group id cannot have
        been reused by then."""
        pid = self.proc.pid
        if self.proc.returncode is None:
            if not _exited(pid, 0):
                os.kill(pid, signal.SIGTERM)
                if not _exited(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    _exited(pid, timeout)
            try:
                os.killpg(pid, signal.SIGKILL)  # helpers that outlived it
            except ProcessLookupError:
                pass
            self.proc.wait(timeout)
        self.proc.stderr.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _exited(pid, timeout):
    """True once child `pid` has exited (left unreaped), polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class Connection:
    """One CDP WebSocket to the browser; pages are sessions on it (flat mode)."""

    def __init__(self, conn):
        self.conn = conn
        self.next_id = 0
        self.pending = {}
        self.events = []  # every event, in order: {"method", "params", "sessionId"}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.conn:
                msg = json.loads(raw)
                if "id" in msg:
                    future = self.pending.pop(msg["id"], None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                else:
                    self.events.append(msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the DevTools connection closed"))

    async def send(self, method, params=None, session=None, timeout=10.0):
        """Runs one command; its result, or AssertionError with the browser's error."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.conn.send(json.dumps(message))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no answer to {method} within {timeout}s") from None
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    async def new_page(self):
        """A new tab, attached, with Page, Runtime, Log and Network events on."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
        page = Page(self, target["targetId"], attached["sessionId"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        return page

    async def close(self):
        await self.conn.close()
        await asyncio.wait_for(self.reader, 5)


class Page:
    """One tab: commands, its events, JavaScript in it."""

    def __init__(self, connection, target_id, session):
        self.connection = connection
        self.target_id = target_id
        self.session = session

    async def send(self, method, params=None, timeout=10.0):
        return await self.connection.send(method, params, self.session, timeout)

    def events(self, method=None):
        return [e for e in self.connection.events
                if e.get("sessionId") == self.session and method in (None, e["method"])]

    async def wait_event(self, method, start=0, timeout=10.0):
        """The params of the first `method` event after the first `start` ones."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(method)
            if len(found) > start:
                return found[start]["params"]
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {method} event within {timeout}s")
            await asyncio.sleep(0.02)

    async def navigate(self, url, timeout=10.0):
        loads = len(self.events("Page.loadEventFired"))
        result = await self.send("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise AssertionError(f"navigating to {url}: {result['errorText']}")
        await self.wait_event("Page.loadEventFired", loads, timeout)

    async def evaluate(self, expression, timeout=10.0):
        """The value of a JavaScript expression (promises awaited)."""
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True,
        }, timeout)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_js(self, expression, timeout=10.0, what=None):
        """Evaluates `expression` until it is truthy; returns that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or expression} (last: {value!r})")
            await asyncio.sleep(0.05)

    async def key(self, key, code=None, key_code=0, text=None):
        """Presses and releases one key, as the keyboard would."""
        down = {"type": "keyDown", "key": key, "code": code or key,
                "windowsVirtualKeyCode": key_code}
        if text:
            down["text"] = text
        await self.send("Input.dispatchKeyEvent", down)
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key,
                                                   "code": code or key,
                                                   "windowsVirtualKeyCode": key_code})

    async def tab(self):
        await self.key("Tab", key_code=9)

    async def enter(self):
        await self.key("Enter", key_code=13, text="\r")

    async def type(self, text):
        await self.send("Input.insertText", {"text": text})

    async def focus(self, element_id):
        await self.evaluate(f"document.getElementById({json.dumps(element_id)}).focus()")

    async def fill(self, element_id, text):
        """Focuses the field, clears it and types `text` into it."""
        await self.focus(element_id)
        await self.evaluate(f"document.getElementById({json.dumps(element_id)}).value = ''")
        await self.type(text)

    async def screenshot(self, path, width, height):
        await self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        shot = await self.send("Page.captureScreenshot", {"format": "png"}, timeout=30)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def errors(self):
        """What the page reported as an error: console.error/assert calls,
        uncaught exceptions, and error log entries (failed loads, CSP
        violations), each as text."""
        out = []
        for e in self.events():
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p["args"])))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: %s %s" % (d.get("text", ""),
                                                 d.get("exception", {}).get("description", "")))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("log (%s): %s %s" % (p["entry"]["source"], p["entry"]["text"],
                                                p["entry"].get("url", "")))
        return out

    def request_urls(self):
        """Every URL the page requested or opened a WebSocket to."""
        return [e["params"]["request"]["url"] for e in self.events("Network.requestWillBeSent")] + \
            [e["params"]["url"] for e in self.events("Network.webSocketCreated")]

    async def close(self):
        await self.connection.send("Target.closeTarget", {"targetId": self.target_id})

