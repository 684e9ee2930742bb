"""ptdispatch under valgrind memcheck: no invalid access and no leak of any
kind (definite, indirect, possible or still reachable) after real traffic
and each way of stopping. Registered only for the non-sanitized build:
valgrind and AddressSanitizer cannot share a process."""

import os
import shutil
import signal
import unittest

from ptdtest import (EX_USAGE, PtdTestCase, echo_roundtrip, seeded_bytes, socks5_connect,
                     tmo)

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

    def test_env_error_path(self):
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-host.example:1")
        p = self.launch(env=env, prefix=valgrind_prefix())
        self.assert_clean_exit(p, EX_USAGE)
        self.assertTrue(any(l.startswith("ENV-ERROR ") for l in p.out), p.describe())


if __name__ == "__main__":
    unittest.main()
