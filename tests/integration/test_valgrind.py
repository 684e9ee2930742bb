"""ptdispatch under valgrind memcheck: no invalid access and no leak of any
kind (definite, indirect, possible or still reachable) after real traffic
and each way of stopping. Registered only for the non-sanitized build:
valgrind and AddressSanitizer cannot share a process."""

import os
import shutil
import signal
import unittest

import json
import socket
import struct

from extorport_server import ExtOrPortServer
from ptdtest import (EX_USAGE, PtdTestCase, echo_roundtrip, recv_exact, seeded_bytes,
                     socks5_address, socks5_connect, socks5_greet, socks5_read_reply, tmo,
                     wait_closed)

VALGRIND_EXIT = 99
# Valgrind makes everything some 20-50 times slower.
SLOW = 6


def valgrind_prefix():
    vg = shutil.which("valgrind")
    if not vg:
        raise AssertionError("valgrind not found: apt-get install valgrind "
                             "(scripts/deps.sh installs it)")
    return [vg, "-q", "--leak-check=full", "--show-leak-kinds=all",
            "--errors-for-leak-kinds=all", "--error-exitcode=%d" % VALGRIND_EXIT]


class ValgrindTest(PtdTestCase):

    def start(self, env, args=()):
        p = self.launch(args=args, env=env, prefix=valgrind_prefix())
        p.wait_done(timeout=tmo(10) * SLOW)
        return p

    def assert_clean_exit(self, p, code=0):
        rc = p.wait_exit(tmo(10) * SLOW)
        self.assertEqual(rc, code, "exit %r (valgrind reports exit %d)\n%s"
                         % (rc, VALGRIND_EXIT, p.describe()))
        report = [l for l in p.err if l.startswith("==")]
        self.assertEqual(report, [], "\n".join(report))

    def pair(self):
        echo = self.echo_server()
        server = self.start(self.server_env(orport=echo.hostport,
                                            TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0"))
        client = self.start(self.client_env())
        return client, client.method_addr(), server, server.method_addr()

    def test_traffic_then_sigterm_with_connections_open(self):
        client, caddr, server, saddr = self.pair()
        s = socks5_connect(caddr, saddr[0], saddr[1], timeout=tmo(10) * SLOW)
        self.addCleanup(s.close)
        data = seeded_bytes(21, 1 << 20)
        self.assertEqual(echo_roundtrip(s, data), data)
        # A second connection stays open: shutdown must free live relays too.
        idle = socks5_connect(caddr, saddr[0], saddr[1], timeout=tmo(10) * SLOW)
        self.addCleanup(idle.close)
        self.assertEqual(echo_roundtrip(idle, b"ping"), b"ping")
        for p in (client, server):
            p.send_signal(signal.SIGTERM)
        self.assert_clean_exit(client)
        self.assert_clean_exit(server)

    def test_sigint_drain_then_last_connection_closes(self):
        client, caddr, server, saddr = self.pair()
        s = socks5_connect(caddr, saddr[0], saddr[1], timeout=tmo(10) * SLOW)
        self.assertEqual(echo_roundtrip(s, b"before"), b"before")
        client.send_signal(signal.SIGINT)
        self.assertEqual(echo_roundtrip(s, b"during drain"), b"during drain")
        s.close()
        self.assert_clean_exit(client)
        server.close_stdin()
        self.assert_clean_exit(server)

    def test_arguments_socks4_extorport_and_refusals(self):
        # The paths of the data-path issue: 0x09 and RFC 1929 arguments,
        # SOCKS4a, failure replies, and an Extended ORPort that says OKAY
        # to one connection and DENY to the next.
        bridge = ExtOrPortServer(self.tempdir("ptd-extor-"))
        self.addCleanup(bridge.close)
        bridge.modes.extend(["okay", "okay", "deny"])
        senv = self.server_env(orport=None, TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0",
                               TOR_PT_EXTENDED_SERVER_PORT=bridge.hostport,
                               TOR_PT_AUTH_COOKIE_FILE=bridge.cookie_path)
        server = self.start(senv)
        client = self.start(self.client_env())
        caddr, saddr = client.method_addr(), server.method_addr()
        request = b"\x05\x01\x00" + socks5_address(saddr[0]) + struct.pack("!H", saddr[1])
        slow = tmo(10) * SLOW

        s = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(s, (0, 2, 9)), 9)
        body = json.dumps({}).encode()
        s.sendall(struct.pack("!I", len(body)) + body + request)
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.assertEqual(echo_roundtrip(s, b"json"), b"json")

        s4 = self.connect(caddr, timeout=slow)
        s4.sendall(struct.pack("!BBH", 4, 1, saddr[1]) + b"\x00\x00\x00\x01\x00" +
                   saddr[0].encode() + b"\x00")
        self.assertEqual(recv_exact(s4, 8)[1], 0x5A)
        self.assertEqual(echo_roundtrip(s4, b"socks4a"), b"socks4a")

        up = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(up, (2,)), 2)
        up.sendall(b"\x01\x03k=v\x01\x00")
        self.assertEqual(recv_exact(up, 2), b"\x01\x00")
        up.sendall(request)
        self.assertEqual(socks5_read_reply(up)[0], 0x13)

        bad = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(bad, (9,)), 9)
        bad.sendall(struct.pack("!I", 3) + b"[1]")
        self.assertEqual(recv_exact(bad, 2), b"\x05\x12")

        denied = socks5_connect(caddr, saddr[0], saddr[1], timeout=slow)
        self.addCleanup(denied.close)
        self.assertTrue(wait_closed(denied, slow), "DENY did not close the connection")

        for p in (client, server):
            p.send_signal(signal.SIGTERM)
        self.assert_clean_exit(client)
        self.assert_clean_exit(server)

    def test_env_error_path(self):
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-host.example:1")
        p = self.launch(env=env, prefix=valgrind_prefix())
        self.assert_clean_exit(p, EX_USAGE)
        self.assertTrue(any(l.startswith("ENV-ERROR ") for l in p.out), p.describe())


if __name__ == "__main__":
    unittest.main()
