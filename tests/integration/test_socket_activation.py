"""Socket activation: notifyd serves on a listening socket passed as
systemd does (fd 3, LISTEN_FDS=1, LISTEN_PID), and connections made while no
daemon runs wait in the kernel's queue instead of being refused."""

import json
import socket
import unittest

from harness import Daemon


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


class SocketActivationTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        # The config names another port: with a passed socket it is unused.
        self.d = Daemon({"server": {"port": 1}}, listen_socket=self.sock)

    def tearDown(self):
        self.d.cleanup()
        self.sock.close()

    async def test_serves_on_the_passed_socket(self):
        self.assertEqual(self.d.port, self.port)
        self.assertIn("socket-activated", self.d.stderr_text())
        status, _, body = self.d.http("GET", "/health")
        self.assertEqual((status, body), (200, b"OK"))
        c = await self.d.ws("/ws")
        reply = await c.request({"type": "subscribe", "channel": "news"})
        self.assertEqual(reply["type"], "subscribed")
        status, _, _ = self.d.http_json("POST", "/api/notify/news", {"title": "t"})
        self.assertEqual(status, 200)
        self.assertEqual((await c.recv_until("notification"))["title"], "t")
        await c.close()
        self.assertEqual(self.d.stop(), 0)

    def test_connection_during_restart_is_queued_not_refused(self):
        self.assertEqual(self.d.stop(), 0)
        # No daemon now; the socket is still open and listening here.
        client = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.d.start()
        chunks = []
        for _ in range(100):  # bounded: the server closes after the response
            data = client.recv(4096)
            if not data:
                break
            chunks.append(data)
        client.close()
        response = b"".join(chunks)
        self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:200])
        self.assertTrue(response.endswith(b"OK"), response[-50:])
        self.assertEqual(self.d.stop(), 0)

    def test_two_passed_sockets_are_refused(self):
        self.d.stop()
        d = Daemon(start=False, env={"LISTEN_FDS": "2", "LISTEN_PID": "1"})
        try:
            # LISTEN_PID is not ours, so systemd's helper ignores the variables:
            # notifyd must bind its own port as usual.
            d.start()
            self.assertNotIn("socket-activated", d.stderr_text())
            self.assertEqual(d.stop(), 0)
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main()
