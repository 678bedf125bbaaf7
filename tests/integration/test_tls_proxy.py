"""The alternative to native TLS (docs/TLS.md): nginx in front terminates TLS
and proxies to notifyd's plain port, which trusts it as a proxy
(server.trusted_proxies, loopback by default). The test starts its own nginx
on a free port with a temporary config (the one docs/TLS.md shows), and is
skipped where nginx is not installed."""

import asyncio
import json
import os
import shutil
import subprocess
import unittest

import websockets

from harness import Daemon, TlsFiles, free_port, wait_until
from test_tls import https, next_notification, request

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

# As in docs/TLS.md, with the paths of the test.
NGINX_CONF = """
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_buffering off;
        }}
    }}
}}
"""


@unittest.skipIf(NGINX is None, "nginx is not installed (apt-get install nginx-light)")
class NginxInFrontTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.files = TlsFiles.get()
        self.d = Daemon({"limits": {"connection_rate": 0, "publish_rate": 0}})
        self.dir = os.path.join(self.d.tmpdir, "nginx")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port, cert=self.files.leaf,
                                      key=self.files.leaf_key, upstream=self.d.port))
        self.nginx = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # An object with the attribute https() uses for the port.
        self.front = type("Front", (), {"tls_port": self.port})()
        wait_until(self.nginx_ready, timeout=10, what="nginx answering")

    def nginx_ready(self):
        if self.nginx.poll() is not None:
            raise AssertionError(f"nginx exited: {self.nginx.stderr.read().decode()}")
        try:
            return https(self.front, "GET", "/health", timeout=1) == (200, b"OK")
        except OSError:
            return False

    def tearDown(self):
        if self.nginx.poll() is None:
            self.nginx.terminate()  # our own nginx, by its PID
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(5)
        self.nginx.stderr.close()
        self.d.cleanup()

    async def test_wss_and_https_through_nginx(self):
        conn = await asyncio.wait_for(websockets.connect(
            f"wss://localhost:{self.port}/ws", ssl=self.files.client_context(),
            compression=None, ping_interval=None), 5)
        try:
            welcome = json.loads(await asyncio.wait_for(conn.recv(), 5))
            self.assertEqual(welcome["type"], "welcome")
            await request(conn, {"type": "subscribe", "channel": "proxied"})
            status, body = await asyncio.to_thread(
                https, self.front, "POST", "/api/notify/proxied", json.dumps({"title": "via nginx"}))
            self.assertEqual(status, 200, body)
            self.assertEqual((await next_notification(conn))["title"], "via nginx")
            # The API through the proxy sees the one client.
            status, body = await asyncio.to_thread(https, self.front, "GET", "/api/clients")
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["total"], 1)
        finally:
            await conn.close()
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    if NGINX is None:
        print("SKIP: nginx is not installed (apt-get install nginx-light)")
        raise SystemExit(77)  # CTest: skipped, not passed
    unittest.main()
