"""Running out of file descriptors. By default the connection limit is
derived from the descriptor limit, so listeners are held before accept()
can fail. With a limit set too high for the descriptors, a server whose
accept() fails with EMFILE keeps going: it tells the parent (a LOG
warning), keeps relaying the connections it has, and accepts again once
descriptors are free."""

import select
import shutil
import socket
import time
import unittest

from ptdtest import PtdTestCase, echo_roundtrip, tcp_connect, tmo

# Low enough that a few dozen connections exhaust it (each relayed
# connection holds two descriptors), high enough to start.
NOFILE = 40
CONNECTIONS = 40


def prlimit_prefix():
    prlimit = shutil.which("prlimit")
    if not prlimit:
        raise AssertionError("prlimit not found: apt-get install util-linux")
    return [prlimit, "--nofile=%d:%d" % (NOFILE, NOFILE), "--"]


class DescriptorExhaustionTest(PtdTestCase):

    def test_server_survives_emfile(self):
        echo = self.echo_server()
        server = self.launch(args=("-maxConnections", "10000"),
                             env=self.server_env(orport=echo.hostport,
                                                 TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0"),
                             prefix=prlimit_prefix())
        server.wait_done()
        addr = server.method_addr()
        if addr[0] == "0.0.0.0":
            addr = ("127.0.0.1", addr[1])

        # More connections than descriptors: the kernel completes them all
        # (backlog); ptdispatch accepts what it can.
        socks = [tcp_connect(addr) for _ in range(CONNECTIONS)]
        for s in socks:
            self.addCleanup(s.close)
        server.read_until(lambda l: l.startswith("LOG ") and "accept failed" in l,
                          timeout=tmo(15))

        # Connections that made it through still relay. Which ones did is
        # the kernel's order: probe them all at once and collect the echoes.
        expected = {s: b"probe-%d" % i for i, s in enumerate(socks)}
        got = {s: b"" for s in socks}
        for s, probe in expected.items():
            s.sendall(probe)
        pending = set(socks)
        deadline = time.monotonic() + tmo(3)
        while pending and time.monotonic() < deadline:
            ready, _, _ = select.select(list(pending), [], [], 0.1)
            for s in ready:
                try:
                    data = s.recv(64)
                except ConnectionError:
                    data = b""
                got[s] += data
                if not data or got[s] == expected[s]:
                    pending.discard(s)
        live = [s for s in socks if got[s] == expected[s]]
        self.assertGreater(len(live), 0, server.describe())
        self.assertLess(len(live), CONNECTIONS, "the descriptor limit was never reached")

        # Free everything; once the listener resumes, a new client is served.
        for s in socks:
            s.close()
        deadline = time.monotonic() + tmo(20)
        served = False
        while not served and time.monotonic() < deadline:
            s = tcp_connect(addr)
            self.addCleanup(s.close)
            s.settimeout(tmo(2))
            try:
                served = echo_roundtrip(s, b"after") == b"after"
            except (socket.timeout, EOFError, ConnectionError):
                time.sleep(0.2)
            s.close()
        self.assertTrue(served, "no connection served after descriptors were freed\n%s"
                        % server.describe())
        self.assertIsNone(server.proc.poll(), "the server exited\n" + server.describe())

    def test_default_limit_holds_before_emfile(self):
        echo = self.echo_server()
        server = self.launch(env=self.server_env(orport=echo.hostport,
                                                 TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0"),
                             prefix=prlimit_prefix())
        server.wait_done()
        addr = server.method_addr()
        socks = [tcp_connect(addr) for _ in range(CONNECTIONS)]
        for s in socks:
            self.addCleanup(s.close)
        line = server.read_until(lambda l: l.startswith("LOG ") and "connection limit" in l,
                                 timeout=tmo(15))[-1]
        self.assertRegex(line, r"server: connection limit \(\d+\) reached")
        # Every connection is served in turn as earlier ones close: held in
        # the backlog, never refused, never an accept failure.
        for i, s in enumerate(socks):
            s.settimeout(tmo(20))
            probe = b"probe-%d" % i
            self.assertEqual(echo_roundtrip(s, probe), probe, "connection %d" % i)
            s.close()
        self.assertFalse(any("accept failed" in l for l in server.out), server.describe())
        self.assertIsNone(server.proc.poll(), "the server exited\n" + server.describe())


if __name__ == "__main__":
    unittest.main()
