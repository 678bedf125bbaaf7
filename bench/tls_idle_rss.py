#!/usr/bin/python3
"""RSS per idle client, TLS against plain: starts notifyd (a release build:
NOTIFYD_BIN) with [tls], opens N idle /ws clients on one port, reads the
daemon's RSS from /proc before and after, and prints KB per client. The
clients are Python asyncio connections (websockets 10.4) in this process.

    NOTIFYD_BIN=build-rel/notifyd /usr/bin/python3 bench/tls_idle_rss.py 5000
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))

import websockets  # noqa: E402

from harness import Daemon, TlsFiles, free_port  # noqa: E402


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def measure(d, n, tls):
    files = TlsFiles.get()
    url = f"wss://localhost:{d.tls_port}/ws" if tls else f"ws://127.0.0.1:{d.port}/ws"
    kwargs = {"ssl": files.client_context()} if tls else {}
    await asyncio.sleep(0.5)
    before = rss_kb(d.pid)
    conns = []
    for i in range(0, n, 100):
        batch = await asyncio.gather(*(websockets.connect(url, compression=None, ping_interval=None,
                                                          **kwargs) for _ in range(min(100, n - i))))
        for c in batch:
            await c.recv()  # the welcome
        conns.extend(batch)
    await asyncio.sleep(1.0)
    after = rss_kb(d.pid)
    await asyncio.gather(*(c.close() for c in conns))
    return (after - before) / n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    files = TlsFiles.get()
    results = {}
    for tls in (False, True):
        d = Daemon({"tls": {"port": free_port(), "certificate": files.leaf, "key": files.leaf_key},
                    "limits": {"connection_rate": 0, "max_connections": n + 100,
                               "max_connections_per_address": 0},
                    "heartbeat": {"interval": 3000, "timeout": 6000},
                    "log": {"level": "info"}})
        try:
            results[tls] = asyncio.run(measure(d, n, tls))
        finally:
            d.cleanup()
    print(f"{n} idle clients: plain {results[False]:.2f} KB/client, "
          f"TLS {results[True]:.2f} KB/client")


if __name__ == "__main__":
    main()
