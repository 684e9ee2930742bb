"""Command-line flags: standalone use without TOR_PT_* variables, the four
flag syntaxes, every flag overriding its environment variable, -version and
-help."""

import os
import re
import signal
import time
import unittest

from ptdtest import (EX_CONFIG, EX_UNAVAILABLE, EX_USAGE, PtdTestCase,
                     echo_roundtrip, free_port, non_log, seeded_bytes,
                     socks5_connect, socks5_greet, tmo, write_cookie)

CMETHOD_PLAIN_RE = r"^CMETHOD plain socks5 127\.0\.0\.1:[1-9]\d*$"
# The default listen address is test_contract's business; here any will do.
SMETHOD_PLAIN_RE = r"^SMETHOD plain \S+:[1-9]\d*( .*)?$"

SYNTAXES = {
    "-x v": lambda f, v: ["-" + f, v],
    "-x=v": lambda f, v: ["-%s=%s" % (f, v)],
    "--x v": lambda f, v: ["--" + f, v],
    "--x=v": lambda f, v: ["--%s=%s" % (f, v)],
}


class StandaloneTest(PtdTestCase):
    """Flags only, no TOR_PT_* variables at all."""

    def standalone_client(self, port=0):
        state = self.tempdir()
        p = self.launch(args=["-client", "-transports", "plain", "-proxylistenaddr",
                              "127.0.0.1:%d" % port, "-state", state], env={})
        lines = p.wait_done()
        return p, lines

    def standalone_server(self, orport, port=0):
        state = self.tempdir()
        p = self.launch(args=["-server", "-transports", "plain", "-bindaddr",
                              "plain-127.0.0.1:%d" % port, "-orport", orport, "-state", state],
                        env={})
        lines = p.wait_done()
        return p, lines

    def test_client(self):
        p, lines = self.standalone_client()
        self.assert_startup_order(lines, "2", [CMETHOD_PLAIN_RE], "CMETHODS DONE")
        s = self.connect(p.method_addr())
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.close()
        p.send_signal(signal.SIGTERM)
        self.assert_exits(p, 0)

    def test_server(self):
        echo = self.echo_server()
        p, lines = self.standalone_server(echo.hostport)
        self.assert_startup_order(lines, "2", [r"^SMETHOD plain 127\.0\.0\.1:[1-9]\d*( .*)?$"],
                                  "SMETHODS DONE")
        p.send_signal(signal.SIGTERM)
        self.assert_exits(p, 0)

    def test_pair_carries_data(self):
        echo = self.echo_server()
        server, _ = self.standalone_server(echo.hostport)
        client, _ = self.standalone_client()
        saddr = server.method_addr()
        s = socks5_connect(client.method_addr(), saddr[0], saddr[1])
        self.addCleanup(s.close)
        data = seeded_bytes(11, 200000)
        self.assertEqual(echo_roundtrip(s, data), data)
        self.assertEqual(echo.accepted, 1)


class FlagSyntaxTest(PtdTestCase):

    def test_client_syntaxes(self):
        for name, form in SYNTAXES.items():
            with self.subTest(syntax=name):
                port = free_port()
                state = self.tempdir()
                boolflag = "--client" if name.startswith("--") else "-client"
                args = ([boolflag] + form("transports", "plain")
                        + form("proxylistenaddr", "127.0.0.1:%d" % port)
                        + form("state", state) + form("ptversion", "1"))
                p = self.launch(args=args, env={})
                lines = p.wait_done()
                self.assert_startup_order(
                    lines, "1", [r"^CMETHOD plain socks5 127\.0\.0\.1:%d$" % port],
                    "CMETHODS DONE")
                p.stop()

    def test_server_syntaxes(self):
        echo = self.echo_server()
        for name, form in SYNTAXES.items():
            with self.subTest(syntax=name):
                port = free_port()
                state = self.tempdir()
                boolflag = "--server" if name.startswith("--") else "-server"
                args = ([boolflag] + form("transports", "plain")
                        + form("bindaddr", "plain-127.0.0.1:%d" % port)
                        + form("orport", echo.hostport) + form("state", state))
                p = self.launch(args=args, env={})
                lines = p.wait_done()
                self.assert_startup_order(
                    lines, "2", [r"^SMETHOD plain 127\.0\.0\.1:%d( .*)?$" % port],
                    "SMETHODS DONE")
                p.stop()

    def test_log_levels_accepted(self):
        for level in ("ERROR", "WARN", "INFO", "DEBUG", "debug"):
            with self.subTest(level=level):
                p = self.launch(args=["-logLevel", level], env=self.client_env())
                p.wait_done()
                p.close_stdin()
                self.assert_exits(p, 0)


class OverrideTest(PtdTestCase):
    """A flag wins over its environment variable, both ways round."""

    # -- -ptversion / TOR_PT_MANAGED_TRANSPORT_VER --
    def test_ptversion(self):
        for env_ver, flag_ver, want in (("3", "1", "1"), ("1,2", "1", "1"), ("1", "2", "2")):
            with self.subTest(env=env_ver, flag=flag_ver):
                p = self.launch(args=["-ptversion", flag_ver],
                                env=self.client_env(version=env_ver))
                lines = p.wait_done()
                self.assertEqual(non_log(lines)[0], "VERSION %s" % want, p.describe())
                p.stop()

    def test_ptversion_flag_bad(self):
        p, rc = self.run_to_exit(args=["-ptversion", "3"], env=self.client_env(version="1,2"))
        self.assertEqual(rc, EX_CONFIG, p.describe())
        self.assertEqual(p.out, ["VERSION-ERROR no-version"], p.describe())

    # -- -state / TOR_PT_STATE_LOCATION --
    def test_state(self):
        for role in ("client", "server"):
            with self.subTest(role=role):
                base = self.tempdir()
                env_dir = os.path.join(base, "from-env", "x")
                flag_dir = os.path.join(base, "from-flag", "y")
                mk = self.client_env if role == "client" else self.server_env
                p = self.launch(args=["-state", flag_dir, "-enableLogging", "-logLevel", "DEBUG"],
                                env=mk(state=env_dir))
                p.wait_done()
                p.close_stdin()
                self.assert_exits(p, 0)
                self.assertTrue(os.path.isfile(os.path.join(flag_dir, "ptdispatch.log")),
                                p.describe())
                self.assertFalse(os.path.exists(os.path.join(base, "from-env")),
                                 "the variable's state dir was created")

    # -- -exit-on-stdin-close / TOR_PT_EXIT_ON_STDIN_CLOSE --
    def test_exit_on_stdin_close_flag_false(self):
        p, addr = self.start_client(args=["-exit-on-stdin-close=false"],
                                    TOR_PT_EXIT_ON_STDIN_CLOSE="1")
        p.close_stdin()
        time.sleep(1.0)
        self.assertTrue(p.alive(), "exited on stdin close although the flag said false\n"
                        + p.describe())
        s = self.connect(addr)
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.close()
        p.send_signal(signal.SIGTERM)
        self.assert_exits(p, 0)

    def test_exit_on_stdin_close_flag_true(self):
        for env_val in (None, "0"):
            with self.subTest(env=env_val):
                p, _ = self.start_client(args=["-exit-on-stdin-close"],
                                         TOR_PT_EXIT_ON_STDIN_CLOSE=env_val)
                p.close_stdin()
                self.assert_exits(p, 0, tmo(10))

    # -- -transports / TOR_PT_*_TRANSPORTS --
    def test_transports_client(self):
        for extra in ([], ["-client"]):
            with self.subTest(extra=extra):
                p = self.launch(args=extra + ["-transports", "plain"],
                                env=self.client_env(transports="nosuch"))
                lines = p.wait_done()
                self.assert_startup_order(lines, "1", [CMETHOD_PLAIN_RE], "CMETHODS DONE")
                p.stop()

    def test_transports_client_flag_removes(self):
        p = self.launch(args=["-transports", "nosuch"], env=self.client_env(transports="plain"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [], "CMETHODS DONE")

    def test_transports_server(self):
        for extra in ([], ["-server"]):
            with self.subTest(extra=extra):
                p = self.launch(args=extra + ["-transports", "plain"],
                                env=self.server_env(transports="nosuch"))
                lines = p.wait_done()
                self.assert_startup_order(lines, "1", [SMETHOD_PLAIN_RE], "SMETHODS DONE")
                p.stop()

    # -- -proxy / TOR_PT_PROXY --
    def test_proxy_env_bad_flag_good(self):
        p = self.launch(args=["-proxy", "socks5://127.0.0.1:1080"],
                        env=self.client_env(TOR_PT_PROXY="ftp://1.2.3.4:80"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [r"^PROXY DONE$", CMETHOD_PLAIN_RE],
                                  "CMETHODS DONE")

    def test_proxy_env_good_flag_bad(self):
        p, rc = self.run_to_exit(args=["-proxy", "ftp://1.2.3.4:80"],
                                 env=self.client_env(TOR_PT_PROXY="socks5://127.0.0.1:1080"))
        self.assert_fatal(p, rc, "PROXY-ERROR", EX_UNAVAILABLE, version="1")

    # -- -options / TOR_PT_SERVER_TRANSPORT_OPTIONS --
    def test_options_env_bad_flag_good(self):
        env = self.server_env(transports="plain,nosuch",
                              TOR_PT_SERVER_TRANSPORT_OPTIONS="garbage-without-colon")
        p = self.launch(args=["-options", "nosuch:key=value"], env=env)
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [SMETHOD_PLAIN_RE], "SMETHODS DONE")

    def test_options_env_good_flag_bad(self):
        env = self.server_env(transports="plain,nosuch",
                              TOR_PT_SERVER_TRANSPORT_OPTIONS="nosuch:key=value")
        p, rc = self.run_to_exit(args=["-options", "garbage-without-colon"], env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-options", line)
        self.assertIn('"garbage-without-colon"', line)

    # -- -bindaddr / TOR_PT_SERVER_BINDADDR --
    def test_bindaddr(self):
        env_port, flag_port = free_port(), free_port()
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:%d" % env_port)
        p, addr = self.start_server(env=env, args=["-bindaddr", "plain-127.0.0.1:%d" % flag_port])
        self.assertEqual(addr, ("127.0.0.1", flag_port))
        self.connect(addr).close()

    def test_bindaddr_env_bad_flag_good(self):
        flag_port = free_port()
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-localhost:1")
        p, addr = self.start_server(env=env, args=["-bindaddr", "plain-127.0.0.1:%d" % flag_port])
        self.assertEqual(addr, ("127.0.0.1", flag_port))

    def test_bindaddr_env_good_flag_bad(self):
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:%d" % free_port())
        p, rc = self.run_to_exit(args=["-bindaddr", "plain-localhost:1"], env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-bindaddr", line)
        self.assertIn("localhost", line)

    # -- -orport / TOR_PT_ORPORT --
    def test_orport_flag_bad(self):
        target = self.echo_server()
        p, rc = self.run_to_exit(args=["-orport", "127.0.0.1:65536"],
                                 env=self.server_env(orport=target.hostport))
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-orport", line)
        self.assertIn('"127.0.0.1:65536"', line)

    def test_orport(self):
        env_target = self.echo_server()
        flag_target = self.echo_server()
        client, caddr, server, saddr = self.start_pair(
            env_target.hostport, server_args=["-orport", flag_target.hostport])
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        data = seeded_bytes(5, 50000)
        self.assertEqual(echo_roundtrip(s, data), data)
        self.assertEqual(flag_target.accepted, 1)
        self.assertEqual(env_target.accepted, 0)

    def test_orport_env_bad_flag_good(self):
        target = self.echo_server()
        client, caddr, server, saddr = self.start_pair(
            "127.0.0.1:0", server_args=["-orport", target.hostport])
        s = socks5_connect(caddr, saddr[0], saddr[1])
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, b"hello"), b"hello")

    # -- -extorport / TOR_PT_EXTENDED_SERVER_PORT, -authcookie / TOR_PT_AUTH_COOKIE_FILE --
    def test_extorport_flag_without_cookie(self):
        env = self.server_env(TOR_PT_EXTENDED_SERVER_PORT="")
        p, rc = self.run_to_exit(args=["-extorport", "127.0.0.1:%d" % free_port()], env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-extorport", line)

    # The Extended ORPort data path arrives with its own issue; what these
    # show is which of the pair is read: a value that would be rejected is
    # never looked at when the other source wins.
    def ext_env(self, extorport, cookie):
        env = self.server_env(orport="127.0.0.1:%d" % free_port())
        env["TOR_PT_EXTENDED_SERVER_PORT"] = extorport
        if cookie is not None:
            env["TOR_PT_AUTH_COOKIE_FILE"] = cookie
        return env

    def cookie_file(self):
        path = os.path.join(self.tempdir(), "cookie")
        write_cookie(path, os.urandom(32))
        return path

    def test_extorport_env_bad_flag_good(self):
        env = self.ext_env("not-an-address", self.cookie_file())
        p, addr = self.start_server(env=env, args=["-extorport", "127.0.0.1:%d" % free_port()])
        self.assertTrue(any(l.startswith("SMETHOD plain ") for l in p.out), p.describe())

    def test_extorport_env_good_flag_bad(self):
        env = self.ext_env("127.0.0.1:%d" % free_port(), self.cookie_file())
        p, rc = self.run_to_exit(args=["-extorport", "not-an-address"], env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-extorport", line)
        self.assertIn('"not-an-address"', line)

    def test_authcookie_env_empty_flag_given(self):
        env = self.ext_env("127.0.0.1:%d" % free_port(), "")
        p, addr = self.start_server(env=env, args=["-authcookie", self.cookie_file()])
        self.assertTrue(any(l.startswith("SMETHOD plain ") for l in p.out), p.describe())

    def test_authcookie_env_given_flag_empty(self):
        env = self.ext_env("127.0.0.1:%d" % free_port(), self.cookie_file())
        p, rc = self.run_to_exit(args=["-authcookie="], env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn("-authcookie", line)


class InfoFlagsTest(PtdTestCase):

    def test_version_flag(self):
        p, rc = self.run_to_exit(args=["-version"], env={})
        self.assertEqual(rc, 0, p.describe())
        self.assertTrue(any("ptdispatch" in l and re.search(r"\d+\.\d+\.\d+", l)
                            for l in p.out), p.describe())

    def test_version_flag_double_dash(self):
        p, rc = self.run_to_exit(args=["--version"], env={})
        self.assertEqual(rc, 0, p.describe())
        self.assertTrue(any("ptdispatch" in l for l in p.out), p.describe())

    def test_help_flag(self):
        p, rc = self.run_to_exit(args=["-help"], env={})
        self.assertEqual(rc, 0, p.describe())
        text = "\n".join(p.out + p.err)
        for flag in ("-transports", "-bindaddr", "-ptversion", "-state", "-orport", "-proxy",
                     "-options", "-extorport", "-authcookie", "-exit-on-stdin-close",
                     "-proxylistenaddr", "-logLevel", "-enableLogging", "-unsafeLogging",
                     "-client", "-server"):
            self.assertIn(flag, text)


if __name__ == "__main__":
    unittest.main()
