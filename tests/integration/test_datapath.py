"""The data path: SOCKS5 client -> client ptdispatch (plain) -> server
ptdispatch (plain) -> a local peer. Bulk transfers both ways with
half-close, many concurrent connections, SOCKS reply codes, and bad input on
one connection never disturbing another."""

import hashlib
import socket
import struct
import threading
import time
import unittest

from ptdtest import (DuplexPeer, PtdTestCase, duplex_transfer, echo_roundtrip, fmt_hostport,
                     hash_until_eof,
                     free_port, http_get_over, recv_exact, recv_until_eof, seeded_bytes,
                     set_big_buffers, sha256, socks5_address, socks5_connect, socks5_greet,
                     tcp_connect, tmo, wait_closed)

MIB = 1 << 20


class BulkTest(PtdTestCase):

    def bulk(self, size, server_host="127.0.0.1", orport_host="127.0.0.1", socks_host=None):
        deadline = time.monotonic() + tmo(150)
        up = seeded_bytes(1, size)
        down = seeded_bytes(2, size)
        peer = DuplexPeer(down, deadline)
        target = self.server_socket(peer, host=orport_host)
        port = free_port(server_host)
        senv = self.server_env(orport=target.hostport,
                               TOR_PT_SERVER_BINDADDR="plain-" + fmt_hostport(server_host, port))
        client, caddr, server, saddr = self.start_pair(target.hostport, server_env=senv)
        self.assertEqual(saddr, (server_host, port))
        s = socks5_connect(caddr, socks_host or saddr[0], saddr[1], timeout=tmo(60))
        self.addCleanup(s.close)
        set_big_buffers(s)
        got_sha, got_n = duplex_transfer(s, up, deadline)
        self.assertTrue(peer.done.wait(timeout=max(1.0, deadline - time.monotonic())),
                        "far end did not finish")
        far = peer.results[0]
        if isinstance(far, Exception):
            raise far
        self.assertEqual(got_n, size, "bytes received by the SOCKS client")
        self.assertEqual(got_sha, sha256(down), "data received by the SOCKS client")
        self.assertEqual(far, (sha256(up), size), "data received by the far end")
        self.assertEqual(target.accepted, 1)

    def test_64mib_each_way_ipv4(self):
        self.bulk(64 * MIB)

    def test_domain_localhost(self):
        self.bulk(8 * MIB, socks_host="localhost")

    def test_ipv6(self):
        self.bulk(8 * MIB, server_host="::1", orport_host="::1")

    def test_half_close_reply_after_eof(self):
        # The far end answers only after it has seen EOF: the relay must
        # keep the other direction open after a half-close.
        request = seeded_bytes(21, MIB)
        answer = seeded_bytes(22, MIB)
        seen = {}

        def handler(conn):
            seen["request"] = hash_until_eof(conn)
            conn.sendall(answer)
            conn.shutdown(socket.SHUT_WR)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

        target = self.server_socket(handler)
        client, caddr, server, saddr = self.start_pair(target.hostport)
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        got = recv_until_eof(s, limit=4 * MIB, timeout=tmo(30))
        self.assertEqual(seen.get("request"), (sha256(request), len(request)))
        self.assertEqual(len(got), len(answer))
        self.assertEqual(sha256(got), sha256(answer))

    def test_http_through_tunnel(self):
        body = b"<html><body>Hello through the tunnel</body></html>\n"
        web = self.http_server(body)
        client, caddr, server, saddr = self.start_pair(web.hostport)
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        status, got = http_get_over(s, web.hostport)
        self.assertEqual(status, 200)
        self.assertEqual(got, body)


class ConcurrencyTest(PtdTestCase):

    def test_100_concurrent_connections(self):
        n = 100
        echo = self.echo_server()
        client, caddr, server, saddr = self.start_pair(echo.hostport)
        socks = []
        for i in range(n):
            s = socks5_connect(caddr, saddr[0], saddr[1], timeout=tmo(30))
            self.addCleanup(s.close)
            socks.append(s)
        results = [None] * n
        payloads = [seeded_bytes(1000 + i, 2048 + 61 * i) for i in range(n)]
        start = threading.Event()

        def work(i):
            try:
                start.wait(tmo(10))
                socks[i].sendall(payloads[i])
                socks[i].shutdown(socket.SHUT_WR)
                results[i] = recv_until_eof(socks[i], timeout=tmo(60))
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        start.set()
        deadline = time.monotonic() + tmo(90)
        for t in threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), "workers still running")
        bad = [i for i in range(n) if results[i] != payloads[i]]
        self.assertEqual(bad, [], "connections with wrong echo: %r"
                         % [(i, results[i] if isinstance(results[i], Exception)
                             else len(results[i])) for i in bad[:5]])
        self.assertEqual(echo.accepted, n)
        self.assertTrue(client.alive() and server.alive())


class SocksReplyTest(PtdTestCase):

    def setUp(self):
        super().setUp()
        self.client, self.caddr = self.start_client()

    def request(self, body):
        s = self.connect(self.caddr)
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.sendall(body)
        head = recv_exact(s, 2)
        self.assertEqual(head[0], 5, "reply version")
        self.assertTrue(wait_closed(s, tmo(10)), "connection not closed after a failure reply")
        return head[1]

    def test_connect_refused(self):
        port = free_port()
        rep = self.request(b"\x05\x01\x00" + socks5_address("127.0.0.1") + struct.pack("!H", port))
        self.assertEqual(rep, 0x05)

    def test_bind_not_supported(self):
        rep = self.request(b"\x05\x02\x00" + socks5_address("127.0.0.1") + struct.pack("!H", 80))
        self.assertEqual(rep, 0x07)

    def test_unknown_address_type(self):
        rep = self.request(b"\x05\x01\x00\x05" + b"\x7f\x00\x00\x01" + struct.pack("!H", 80))
        self.assertEqual(rep, 0x08)

    def test_no_acceptable_method(self):
        s = self.connect(self.caddr)
        s.sendall(b"\x05\x01\x80")
        self.assertEqual(recv_exact(s, 2), b"\x05\xff")
        self.assertTrue(wait_closed(s, tmo(10)), "connection not closed after method 0xFF")

    def test_still_serving_after_errors(self):
        for _ in range(3):
            self.request(b"\x05\x02\x00" + socks5_address("127.0.0.1") + struct.pack("!H", 80))
        s = self.connect(self.caddr)
        self.assertEqual(socks5_greet(s, (0,)), 0)
        self.assertTrue(self.client.alive())


class IsolationTest(PtdTestCase):

    def test_bad_input_does_not_disturb_other_connection(self):
        echo = self.echo_server()
        client, caddr, server, saddr = self.start_pair(echo.hostport)
        good = socks5_connect(caddr, saddr[0], saddr[1], timeout=tmo(30))
        self.addCleanup(good.close)
        deadline = time.monotonic() + tmo(60)
        garbage_done = threading.Event()
        sent = hashlib.sha256()
        sent_n = [0]
        recv_result = {}
        errors = []

        def sender():
            # Keeps the good connection busy until the garbage is over.
            try:
                i = 0
                while i < 20000 and time.monotonic() < deadline:
                    chunk = seeded_bytes(5000 + i, 32768)
                    good.sendall(chunk)
                    sent.update(chunk)
                    sent_n[0] += len(chunk)
                    i += 1
                    if garbage_done.is_set() and i >= 8:
                        break
                    time.sleep(0.005)
                good.shutdown(socket.SHUT_WR)
            except Exception as e:
                errors.append(e)

        def receiver():
            try:
                recv_result["r"] = hash_until_eof(good, deadline)
            except Exception as e:
                errors.append(e)

        ts = [threading.Thread(target=sender, daemon=True),
              threading.Thread(target=receiver, daemon=True)]
        for t in ts:
            t.start()
        time.sleep(0.2)

        def abuse(addr, payload, rst=False):
            try:
                s = tcp_connect(addr, timeout=tmo(5))
            except OSError as e:
                errors.append(AssertionError("listener refused a connection: %r" % e))
                return
            try:
                s.sendall(payload)
                if rst:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                s.shutdown(socket.SHUT_WR)
                wait_closed(s, tmo(3))
            except OSError:
                pass
            finally:
                s.close()

        cases = [
            (caddr, seeded_bytes(77, 65536), False),
            (caddr, b"\x05\x00", False),
            (caddr, b"\x05\x01\x00\x05\x01\x00\x03\xff" + b"a" * 20, False),
            (caddr, b"\x05\x01\x00", True),
            (caddr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
            (caddr, b"\x05\xff" + bytes(range(255)), False),
            (caddr, b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00", True),
            (caddr, seeded_bytes(78, MIB), True),
            (saddr, seeded_bytes(79, 65536), True),
        ]
        for addr, payload, rst in cases:
            abuse(addr, payload, rst)
        garbage_done.set()
        for t in ts:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in ts), "good connection stalled")
        self.assertEqual(errors, [])
        self.assertEqual(recv_result.get("r"), (sent.hexdigest(), sent_n[0]),
                         "the good connection's data was disturbed")
        self.assertTrue(client.alive() and server.alive())
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"after"), b"after")


if __name__ == "__main__":
    unittest.main()
