"""The state directory (created 0700 with its parents, the working directory
by default, nothing written elsewhere) and logging (file and mode, client
addresses scrubbed unless -unsafeLogging)."""

import os
import re
import stat
import time
import unittest

from ptdtest import (PtdTestCase, SocksError, echo_roundtrip, free_port, seeded_bytes,
                     socks5_connect, tcp_connect, tmo)

LOG_NAME = "ptdispatch.log"


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class StateDirTest(PtdTestCase):

    def test_created_with_parents_0700(self):
        echo = self.echo_server()
        for role in ("client", "server"):
            with self.subTest(role=role):
                base = self.tempdir()
                state = os.path.join(base, "a", "b", "c")
                if role == "client":
                    p, _ = self.start_client(state=state)
                else:
                    p, _ = self.start_server(state=state, orport=echo.hostport)
                self.assertTrue(os.path.isdir(state), "state dir not created")
                self.assertEqual(oct(mode_of(state)), oct(0o700))
                p.close_stdin()
                self.assert_exits(p, 0)

    def test_existing_state_dir_is_kept(self):
        state = self.tempdir()
        keep = os.path.join(state, "keep.txt")
        with open(keep, "w") as f:
            f.write("parent's file\n")
        p, _ = self.start_client(state=state)
        p.close_stdin()
        self.assert_exits(p, 0)
        with open(keep) as f:
            self.assertEqual(f.read(), "parent's file\n")
        self.assertEqual(os.listdir(state), ["keep.txt"])

    def test_default_is_working_directory(self):
        echo = self.echo_server()
        for role in ("client", "server"):
            with self.subTest(role=role):
                cwd = self.tempdir()
                if role == "client":
                    env = self.client_env(TOR_PT_STATE_LOCATION=None)
                else:
                    env = self.server_env(orport=echo.hostport, TOR_PT_STATE_LOCATION=None)
                p = self.launch(args=["-enableLogging", "-logLevel", "DEBUG"], env=env, cwd=cwd)
                p.wait_done()
                p.close_stdin()
                self.assert_exits(p, 0)
                self.assertTrue(os.path.isfile(os.path.join(cwd, LOG_NAME)),
                                "no log file in the working directory: %r" % os.listdir(cwd))

    def test_nothing_written_outside_state_dir(self):
        base = self.tempdir()
        cwd = os.path.join(base, "cwd")
        cstate = os.path.join(base, "cstate")
        sstate = os.path.join(base, "sstate")
        os.mkdir(cwd)
        echo = self.echo_server()
        logargs = ["-enableLogging", "-logLevel", "DEBUG"]
        server, saddr = self.start_server(env=self.server_env(orport=echo.hostport, state=sstate),
                                          args=logargs, cwd=cwd)
        client, caddr = self.start_client(env=self.client_env(state=cstate), args=logargs,
                                          cwd=cwd)
        for i in range(3):
            s = socks5_connect(caddr, saddr[0], saddr[1])
            data = seeded_bytes(40 + i, 100000)
            self.assertEqual(echo_roundtrip(s, data), data)
            s.close()
        client.close_stdin()
        server.close_stdin()
        self.assert_exits(client, 0)
        self.assert_exits(server, 0)
        self.assertEqual(os.listdir(cwd), [], "files written to the working directory")
        self.assertEqual(sorted(os.listdir(base)), ["cstate", "cwd", "sstate"])
        for d in (cstate, sstate):
            files = set(os.listdir(d))
            self.assertIn(LOG_NAME, files)
            self.assertLessEqual(files, {LOG_NAME}, "unexpected files in %s" % d)


class LogFileTest(PtdTestCase):

    def test_log_file_mode_and_content(self):
        echo = self.echo_server()
        for role in ("client", "server"):
            with self.subTest(role=role):
                state = self.tempdir()
                args = ["-enableLogging", "-logLevel", "DEBUG"]
                if role == "client":
                    p, _ = self.start_client(state=state, args=args)
                else:
                    p, _ = self.start_server(state=state, orport=echo.hostport, args=args)
                p.close_stdin()
                self.assert_exits(p, 0)
                path = os.path.join(state, LOG_NAME)
                self.assertTrue(os.path.isfile(path), os.listdir(state))
                self.assertEqual(oct(mode_of(path)), oct(0o600))
                self.assertGreater(os.path.getsize(path), 0, "DEBUG log is empty")

    def test_no_log_file_without_enable_logging(self):
        state = self.tempdir()
        p, _ = self.start_client(state=state, args=["-logLevel", "DEBUG"])
        p.close_stdin()
        self.assert_exits(p, 0)
        self.assertNotIn(LOG_NAME, os.listdir(state))


class AddressScrubbingTest(PtdTestCase):
    """A connection from 127.0.0.2 to the server's listener, relayed both
    directly and through a client ptdispatch, with DEBUG logging."""

    SOURCE = "127.0.0.2"

    def run_server(self, unsafe):
        echo = self.echo_server()
        self.echo = echo
        state = self.tempdir()
        args = ["-enableLogging", "-logLevel", "DEBUG"] + (["-unsafeLogging"] if unsafe else [])
        server, saddr = self.start_server(state=state, orport=echo.hostport, args=args)
        # Straight to the server's listener from a distinctive address.
        s = tcp_connect(saddr, source=self.SOURCE)
        src_port = s.getsockname()[1]
        s.sendall(b"hello from 127.0.0.2")
        time.sleep(0.3)
        s.close()
        # And a full relayed connection too.
        client, caddr = self.start_client()
        r = socks5_connect(caddr, saddr[0], saddr[1])
        self.assertEqual(echo_roundtrip(r, b"relayed"), b"relayed")
        r.close()
        time.sleep(0.3)
        server.close_stdin()
        self.assert_exits(server, 0)
        with open(os.path.join(state, "ptdispatch.log"), "r", errors="replace") as f:
            log = f.read()
        self.saddr = saddr
        return server, log, src_port

    def test_scrubbed_by_default(self):
        server, log, src_port = self.run_server(unsafe=False)
        self.assertGreater(len(log), 0)
        self.assertNotIn(self.SOURCE, log, "client address in the server's log")
        self.assertNotIn("%s:%d" % (self.SOURCE, src_port), log)
        self.assertNotIn(self.SOURCE, "\n".join(server.out + server.err),
                         "client address in the server's LOG lines")
        # The relayed connection came from the client ptdispatch at
        # 127.0.0.1:<ephemeral>; the only loopback ports the log may name are
        # the server's own listener and its ORPort.
        allowed = {self.saddr[1], self.echo.port}
        ports = {int(p) for p in re.findall(r"127\.0\.0\.\d+\]?:(\d+)", log)}
        self.assertLessEqual(ports, allowed, "client ports in the server's log")

    def test_unsafe_logging_shows_addresses(self):
        server, log, src_port = self.run_server(unsafe=True)
        self.assertIn(self.SOURCE, log)
        self.assertIn(str(src_port), log)
        # The relayed connection's source (the client ptdispatch's port) too.
        allowed = {self.saddr[1], self.echo.port, src_port}
        ports = {int(p) for p in re.findall(r"127\.0\.0\.\d+\]?:(\d+)", log)}
        self.assertTrue(ports - allowed, "the relayed connection's source is not in the log")


class ParentLogLineTest(PtdTestCase):
    """Warnings and errors reach the parent as pt-spec LOG lines, after
    VERSION, with the message as a quoted string; below the level, none."""

    LOG_RE = r'^LOG SEVERITY=(error|warning) MESSAGE="((?:[^"\\]|\\.)*)"$'

    def orport_refused(self, level):
        dead = free_port()  # nothing listens there: the ORPort dial fails
        server, saddr = self.start_server(
            env=self.server_env(orport="127.0.0.1:%d" % dead,
                                TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0"),
            args=["-logLevel", level])
        s = tcp_connect(saddr)
        self.addCleanup(s.close)
        s.settimeout(tmo(10))
        try:
            self.assertEqual(s.recv(1), b"", "the server kept a connection it cannot relay")
        except ConnectionResetError:
            pass
        return server

    def test_warning_becomes_log_line(self):
        server = self.orport_refused("WARN")
        line = server.read_until(lambda l: l.startswith("LOG "), timeout=tmo(10))[-1]
        m = re.match(self.LOG_RE, line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), "warning")
        self.assertIn("ORPort", m.group(2))
        self.assertLess(server.out.index("SMETHODS DONE"), server.out.index(line))

    def test_below_level_no_log_line(self):
        server = self.orport_refused("ERROR")
        server.close_stdin()
        self.assertEqual(server.wait_exit(), 0)
        self.assertEqual([l for l in server.out if l.startswith("LOG ")], [], server.describe())


class SecretsTest(PtdTestCase):

    def test_proxy_password_not_logged(self):
        password = "Pl0ughshareZ9"
        state = self.tempdir()
        proxy_port = free_port()
        client, caddr = self.start_client(
            state=state, args=["-enableLogging", "-logLevel", "DEBUG", "-unsafeLogging"],
            TOR_PT_PROXY="socks5://alice:%s@127.0.0.1:%d" % (password, proxy_port))
        # One connection attempt, so that the upstream proxy is dialed (and
        # fails: nothing listens there).
        try:
            s = socks5_connect(caddr, "127.0.0.1", free_port())
            s.close()
        except (SocksError, OSError, EOFError):
            pass
        client.close_stdin()
        self.assert_exits(client, 0)
        with open(os.path.join(state, LOG_NAME), "r", errors="replace") as f:
            log = f.read()
        self.assertIn("PROXY DONE", client.out)
        self.assertNotIn(password, log)
        self.assertNotIn(password, "\n".join(client.out + client.err))


if __name__ == "__main__":
    unittest.main()
