"""Shutdown (spec 1.3 / pt-spec 3.4): stdin close, SIGTERM, Tor's
SIGTERM-close-SIGTERM sequence, SIGINT draining, a second SIGINT, and the
parent's death."""

import os
import signal
import sys
import time
import unittest

from ptdtest import (BINARY, PASS_ENV, PtdTestCase, connect_refused_soon, echo_roundtrip,
                     pid_exe_is, pid_state, seeded_bytes, socks5_connect, socks5_greet, tmo)


class StdinCloseTest(PtdTestCase):

    def test_client_exits_on_stdin_close(self):
        p, _ = self.start_client()
        p.close_stdin()
        self.assert_exits(p, 0, tmo(10))

    def test_server_exits_on_stdin_close(self):
        echo = self.echo_server()
        p, _ = self.start_server(orport=echo.hostport)
        p.close_stdin()
        self.assert_exits(p, 0, tmo(10))

    def test_exits_on_stdin_close_with_open_connection(self):
        echo = self.echo_server()
        client, caddr, server, saddr = self.start_pair(echo.hostport)
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"ping"), b"ping")
        client.close_stdin()
        server.close_stdin()
        self.assert_exits(client, 0, tmo(10))
        self.assert_exits(server, 0, tmo(10))

    def test_client_ignores_stdin_close_without_variable(self):
        for val in (None, "0"):
            with self.subTest(TOR_PT_EXIT_ON_STDIN_CLOSE=val):
                p, addr = self.start_client(TOR_PT_EXIT_ON_STDIN_CLOSE=val)
                p.close_stdin()
                time.sleep(1.0)
                self.assertTrue(p.alive(), "exited on stdin close\n" + p.describe())
                s = self.connect(addr)
                self.assertEqual(socks5_greet(s, (0,)), 0)
                s.close()
                p.send_signal(signal.SIGTERM)
                self.assert_exits(p, 0)

    def test_server_ignores_stdin_close_without_variable(self):
        echo = self.echo_server()
        senv = self.server_env(orport=echo.hostport, TOR_PT_EXIT_ON_STDIN_CLOSE=None)
        client, caddr, server, saddr = self.start_pair(echo.hostport, server_env=senv)
        server.close_stdin()
        time.sleep(1.0)
        self.assertTrue(server.alive(), "exited on stdin close\n" + server.describe())
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"still here"), b"still here")
        s.close()
        server.send_signal(signal.SIGTERM)
        self.assert_exits(server, 0)


class SignalTest(PtdTestCase):

    def test_sigterm(self):
        # Sent as soon as DONE is read, as a parent may: a few rounds.
        echo = self.echo_server()
        for role, rnd in [(r, i) for r in ("client", "server") for i in range(3)]:
            with self.subTest(role=role, round=rnd):
                if role == "client":
                    p, _ = self.start_client()
                else:
                    p, _ = self.start_server(orport=echo.hostport)
                p.send_signal(signal.SIGTERM)
                self.assert_exits(p, 0, tmo(10))

    def test_sigterm_with_open_connection(self):
        echo = self.echo_server()
        client, caddr, server, saddr = self.start_pair(echo.hostport)
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"ping"), b"ping")
        server.send_signal(signal.SIGTERM)
        client.send_signal(signal.SIGTERM)
        self.assert_exits(server, 0, tmo(10))
        self.assert_exits(client, 0, tmo(10))

    def test_tor_sequence(self):
        # What Tor does: SIGTERM, close stdin, SIGTERM again at once. A few
        # rounds, since a second signal racing the shutdown is the risk.
        echo = self.echo_server()
        for role, rnd in [(r, i) for r in ("client", "server") for i in range(5)]:
            with self.subTest(role=role, round=rnd):
                if role == "client":
                    p, _ = self.start_client()
                else:
                    p, _ = self.start_server(orport=echo.hostport)
                p.send_signal(signal.SIGTERM)
                p.close_stdin()
                p.send_signal(signal.SIGTERM)
                self.assert_exits(p, 0, tmo(10))

    def sigint_drain(self, role):
        echo = self.echo_server()
        client, caddr, server, saddr = self.start_pair(echo.hostport)
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"before"), b"before")
        p, listen = (client, caddr) if role == "client" else (server, saddr)
        p.send_signal(signal.SIGINT)
        self.assertTrue(connect_refused_soon(listen, tmo(10)),
                        "listener still accepting after SIGINT\n" + p.describe())
        data = seeded_bytes(3, 100000)
        self.assertEqual(echo_roundtrip(s, data), data, "open connection broken by SIGINT")
        self.assertTrue(p.alive(), "exited with a connection still open\n" + p.describe())
        s.close()
        self.assert_exits(p, 0, tmo(15))

    def test_sigint_drains_client(self):
        self.sigint_drain("client")

    def test_sigint_drains_server(self):
        self.sigint_drain("server")

    def test_sigint_twice(self):
        echo = self.echo_server()
        for role in ("client", "server"):
            with self.subTest(role=role):
                client, caddr, server, saddr = self.start_pair(echo.hostport)
                s = socks5_connect(caddr, saddr[0], saddr[1])
                self.addCleanup(s.close)
                self.assertEqual(echo_roundtrip(s, b"x"), b"x")
                p = client if role == "client" else server
                p.send_signal(signal.SIGINT)
                time.sleep(0.1)
                p.send_signal(signal.SIGINT)
                self.assert_exits(p, 0, tmo(10))
                s.close()
                client.stop()
                server.stop()


PARENT = r"""
import os, subprocess, sys, time
env = {k: v for k, v in os.environ.items() if k.startswith(("ASAN_", "UBSAN_", "LSAN_"))}
env.update({"TOR_PT_MANAGED_TRANSPORT_VER": "1",
            "TOR_PT_STATE_LOCATION": sys.argv[2]})
if sys.argv[3] == "client":
    env["TOR_PT_CLIENT_TRANSPORTS"] = "plain"
else:
    env["TOR_PT_SERVER_TRANSPORTS"] = "plain"
    env["TOR_PT_ORPORT"] = "127.0.0.1:9"
child = subprocess.Popen([sys.argv[1]], env=env)
sys.stdout.write("CHILDPID %d\n" % child.pid)
sys.stdout.flush()
time.sleep(float(sys.argv[4]))
"""


class ParentDeathTest(PtdTestCase):

    def parent_killed(self, role):
        state = self.tempdir()
        # The parent's stdin is a pipe this test keeps open; ptdispatch
        # inherits it, so only the parent's death can stop it.
        parent = self.launch_argv([sys.executable, "-c", PARENT, BINARY, state, role,
                                   str(tmo(120))])
        seen = {}

        def pred(line):
            if line.startswith("CHILDPID "):
                seen["pid"] = int(line.split()[1])
            if line in ("CMETHODS DONE", "SMETHODS DONE"):
                seen["done"] = True
            return "pid" in seen and "done" in seen

        parent.read_until(pred, tmo(15))
        pid = seen["pid"]
        self.addCleanup(self.kill_orphan, pid)
        self.assertNotIn(pid_state(pid), (None, "Z"), "ptdispatch not running")
        parent.proc.kill()
        parent.proc.wait(timeout=tmo(10))
        deadline = time.monotonic() + tmo(10)
        state_now = pid_state(pid)
        while state_now not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
            state_now = pid_state(pid)
        self.assertIn(state_now, (None, "Z"),
                      "ptdispatch (pid %d) still running %.0fs after its parent died\n%s"
                      % (pid, tmo(10), parent.describe()))
        # All writers of the shared stdout pipe are gone now.
        parent.read_all(tmo(5))

    def kill_orphan(self, pid):
        if pid_state(pid) not in (None, "Z") and pid_exe_is(pid, BINARY):
            os.kill(pid, signal.SIGKILL)

    def test_client_exits_when_parent_dies(self):
        self.parent_killed("client")

    def test_server_exits_when_parent_dies(self):
        self.parent_killed("server")


if __name__ == "__main__":
    unittest.main()
