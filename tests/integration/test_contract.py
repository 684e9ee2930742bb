"""The parent contract: version negotiation, ENV-ERROR, PROXY-ERROR, the
method lines, their order, and which stream each line goes to."""

import os
import socket
import unittest

from ptdtest import (EX_CONFIG, EX_UNAVAILABLE, EX_USAGE, LINE_RE, STATUS_RE, PtdTestCase,
                     free_port, non_log, quoted_parts, socks5_greet, tmo)

CMETHOD_PLAIN_RE = r"^CMETHOD plain socks5 127\.0\.0\.1:[1-9]\d*$"
# A server with no bind address listens on every address (a bridge must be
# reachable), on an ephemeral port.
SMETHOD_PLAIN_RE = r"^SMETHOD plain 0\.0\.0\.0:[1-9]\d*( .*)?$"
# For tests about something else than the default listen address.
SMETHOD_ANY_RE = r"^SMETHOD plain \S+:[1-9]\d*( .*)?$"


class VersionTest(PtdTestCase):

    def negotiate(self, offered):
        p = self.launch(env=self.client_env(version=offered))
        lines = p.wait_done()
        return p, lines

    def test_highest_of_1_2(self):
        p, lines = self.negotiate("1,2")
        self.assert_startup_order(lines, "2", [CMETHOD_PLAIN_RE], "CMETHODS DONE")

    def test_only_1(self):
        p, lines = self.negotiate("1")
        self.assert_startup_order(lines, "1", [CMETHOD_PLAIN_RE], "CMETHODS DONE")

    def test_only_2(self):
        p, lines = self.negotiate("2")
        self.assert_startup_order(lines, "2", [CMETHOD_PLAIN_RE], "CMETHODS DONE")

    def test_list_with_unknown_versions(self):
        p, lines = self.negotiate("1,1a,2,this_is_a_valid_version")
        self.assert_startup_order(lines, "2", [CMETHOD_PLAIN_RE], "CMETHODS DONE")

    def test_no_compatible_version(self):
        for offered in ("3", "", "1a"):
            for role in ("client", "server"):
                with self.subTest(offered=offered, role=role):
                    env = (self.client_env(version=offered) if role == "client"
                           else self.server_env(version=offered))
                    p, rc = self.run_to_exit(env=env)
                    self.assertEqual(rc, EX_CONFIG, p.describe())
                    self.assertEqual(p.out, ["VERSION-ERROR no-version"], p.describe())
                    self.assertIn("VERSION-ERROR no-version", p.err, p.describe())


class OrderTest(PtdTestCase):

    def test_client_order_with_proxy(self):
        p = self.launch(env=self.client_env(version="1,2",
                                            TOR_PT_PROXY="socks5://127.0.0.1:1080"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "2", [r"^PROXY DONE$", CMETHOD_PLAIN_RE],
                                  "CMETHODS DONE")

    def test_client_order_without_proxy(self):
        p = self.launch(env=self.client_env())
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [CMETHOD_PLAIN_RE], "CMETHODS DONE")
        self.assertNotIn("PROXY DONE", p.out)

    def test_server_order(self):
        p = self.launch(env=self.server_env(version="1,2"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "2", [SMETHOD_PLAIN_RE], "SMETHODS DONE")

    def test_lines_are_flushed_while_running(self):
        # DONE is readable while the process is still running: lines are
        # flushed as written, not at exit.
        for role in ("client", "server"):
            with self.subTest(role=role):
                env = self.client_env() if role == "client" else self.server_env()
                p = self.launch(env=env)
                p.wait_done()
                self.assertTrue(p.alive(), p.describe())

    def test_lines_follow_the_grammar(self):
        for role in ("client", "server"):
            with self.subTest(role=role):
                env = self.client_env() if role == "client" else self.server_env()
                p = self.launch(env=env)
                p.wait_done()
                p.close_stdin()
                self.assert_exits(p, 0)
                self.assertTrue(p.out)
                self.assertFalse(p.partial_line, "stdout ended without a newline")
                for line in p.out:
                    self.assertRegex(line, LINE_RE)
                    self.assertTrue(line.isascii(), line)


class EnvErrorTest(PtdTestCase):
    """Each bad configuration gives VERSION, STATUS, ENV-ERROR (also on
    stderr) and exit 64. The message names the source and quotes the
    bad value."""

    def check(self, env, args=(), names=(), quoted=(), version="1"):
        p, rc = self.run_to_exit(args=args, env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version=version)
        for n in names:
            self.assertIn(n, line)
        q = quoted_parts(line)
        for frag in quoted:
            self.assertTrue(any(frag in part for part in q),
                            "%r not quoted in %r" % (frag, line))
        self.assertFalse(any(l.startswith(("CMETHOD", "SMETHOD")) for l in p.out), p.describe())
        return line

    # -- flags --
    def test_unknown_flag(self):
        line = self.check(self.client_env(), args=["-foo"])
        self.assertIn("-foo", line)

    def test_unknown_flag_server(self):
        self.check(self.server_env(), args=["--no-such-flag=1"], names=["-no-such-flag"])

    def test_bad_log_level(self):
        self.check(self.client_env(), args=["-logLevel", "LOUD"], names=["-logLevel"],
                   quoted=["LOUD"])

    def test_bad_mode(self):
        self.check(self.client_env(), args=["-mode", "carrier-pigeon"], names=["-mode"],
                   quoted=["carrier-pigeon"])

    # -- TOR_PT_SERVER_BINDADDR --
    def bindaddr(self, value, quoted, transports="plain"):
        env = self.server_env(transports=transports, TOR_PT_SERVER_BINDADDR=value)
        return self.check(env, names=["TOR_PT_SERVER_BINDADDR"], quoted=quoted)

    def test_bindaddr_hostname(self):
        self.bindaddr("plain-localhost:%d" % free_port(), ["localhost"])

    def test_bindaddr_missing_port(self):
        self.bindaddr("plain-127.0.0.1", ["127.0.0.1"])

    def test_bindaddr_port_too_big(self):
        self.bindaddr("plain-127.0.0.1:65536", ["65536"])

    def test_bindaddr_ipv6_without_brackets(self):
        self.bindaddr("plain-::1:%d" % free_port(), ["::1"])

    def test_bindaddr_duplicate_transport(self):
        self.bindaddr("plain-127.0.0.1:%d,plain-127.0.0.1:%d" % (free_port(), free_port()),
                      ["plain"])

    def test_bindaddr_transport_not_in_list(self):
        self.bindaddr("plain-127.0.0.1:%d,other-127.0.0.1:%d" % (free_port(), free_port()),
                      ["other"])

    # -- TOR_PT_ORPORT --
    def orport(self, value):
        env = self.server_env(orport=value)
        return self.check(env, names=["TOR_PT_ORPORT"], quoted=[value])

    def test_orport_port_zero(self):
        self.orport("127.0.0.1:0")

    def test_orport_port_too_big(self):
        self.orport("127.0.0.1:65536")

    def test_orport_missing_port(self):
        self.orport("127.0.0.1")

    # -- ExtORPort / ORPort presence --
    def test_extorport_without_cookie(self):
        env = self.server_env(orport=None, TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:%d"
                              % free_port())
        self.check(env, names=["TOR_PT_AUTH_COOKIE_FILE", "TOR_PT_EXTENDED_SERVER_PORT"])

    def test_extorport_without_cookie_with_orport(self):
        env = self.server_env(TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:%d" % free_port())
        self.check(env, names=["TOR_PT_AUTH_COOKIE_FILE", "TOR_PT_EXTENDED_SERVER_PORT"])

    def test_server_without_any_orport(self):
        self.check(self.server_env(orport=None),
                   names=["TOR_PT_ORPORT", "TOR_PT_EXTENDED_SERVER_PORT"])

    def test_server_with_only_empty_extorport(self):
        self.check(self.server_env(orport=None, TOR_PT_EXTENDED_SERVER_PORT=""),
                   names=["TOR_PT_ORPORT", "TOR_PT_EXTENDED_SERVER_PORT"])

    def test_empty_extorport_with_orport_is_fine(self):
        p = self.launch(env=self.server_env(TOR_PT_EXTENDED_SERVER_PORT=""))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [SMETHOD_ANY_RE], "SMETHODS DONE")

    # -- roles --
    def test_client_and_server_transports(self):
        env = self.server_env(TOR_PT_CLIENT_TRANSPORTS="plain")
        self.check(env, names=["TOR_PT_CLIENT_TRANSPORTS", "TOR_PT_SERVER_TRANSPORTS"])

    # -- options --
    def test_options_missing_colon(self):
        # The item is quoted up to its '=': a mistyped item's value may be a
        # secret, and the name is what the user needs to find it.
        env = self.server_env(TOR_PT_SERVER_TRANSPORT_OPTIONS="plainkey=s3cr3t")
        line = self.check(env, names=["TOR_PT_SERVER_TRANSPORT_OPTIONS"], quoted=["plainkey=..."])
        self.assertNotIn("s3cr3t", line)

    def test_options_missing_equals(self):
        env = self.server_env(TOR_PT_SERVER_TRANSPORT_OPTIONS="plain:keyvalue")
        self.check(env, names=["TOR_PT_SERVER_TRANSPORT_OPTIONS"], quoted=["plain:keyvalue"])

    def test_options_file_bad_json(self):
        path = os.path.join(self.tempdir(), "opts.json")
        with open(path, "w") as f:
            f.write('{"plain": {"k": }')
        line = self.check(self.server_env(), args=["-optionsFile", path],
                          names=["-optionsFile"], quoted=[path])
        self.assertIn("JSON", line)

    def test_options_file_missing(self):
        path = os.path.join(self.tempdir(), "absent.json")
        self.check(self.server_env(), args=["-optionsFile", path], names=["-optionsFile"],
                   quoted=[path])

    def test_overlong_value_gives_one_bounded_line(self):
        # 100 KB of bind address: still one ENV-ERROR line, the quote cut.
        huge = "plain-" + "1" * 100000 + ":80"
        line = self.check(self.server_env(TOR_PT_SERVER_BINDADDR=huge),
                          names=["TOR_PT_SERVER_BINDADDR"])
        self.assertLess(len(line), 1024, line[:200])
        self.assertIn('"... in TOR_PT_SERVER_BINDADDR', line)

    # -- common --
    def test_exit_on_stdin_close_yes(self):
        for role in ("client", "server"):
            with self.subTest(role=role):
                env = (self.client_env if role == "client" else self.server_env)(
                    TOR_PT_EXIT_ON_STDIN_CLOSE="yes")
                self.check(env, names=["TOR_PT_EXIT_ON_STDIN_CLOSE"], quoted=["yes"])

    def test_transport_name_with_space(self):
        self.check(self.client_env(transports="a b"), names=["TOR_PT_CLIENT_TRANSPORTS"],
                   quoted=["a b"])

    def test_transport_list_empty_element(self):
        self.check(self.client_env(transports="plain,"), names=["TOR_PT_CLIENT_TRANSPORTS"],
                   quoted=["plain,"])

    def test_server_transport_list_empty_element(self):
        self.check(self.server_env(transports="plain,"), names=["TOR_PT_SERVER_TRANSPORTS"],
                   quoted=["plain,"])

    def test_version_follows_offer_in_error_case(self):
        # The ENV-ERROR comes after the negotiated VERSION, whatever it is.
        self.check(self.client_env(version="1,2", transports="a b"),
                   names=["TOR_PT_CLIENT_TRANSPORTS"], version="2")


PASSWORD = "Sw0rdfishXq7"


class ProxyTest(PtdTestCase):

    def proxy_error(self, uri, secret=None):
        p, rc = self.run_to_exit(env=self.client_env(TOR_PT_PROXY=uri))
        line = self.assert_fatal(p, rc, "PROXY-ERROR", EX_UNAVAILABLE, version="1")
        self.assertFalse(any(l.startswith("CMETHOD") for l in p.out), p.describe())
        if secret:
            self.assertNotIn(secret, "\n".join(p.out + p.err))
        return line

    def proxy_done(self, uri, secret=None):
        p = self.launch(env=self.client_env(TOR_PT_PROXY=uri))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [r"^PROXY DONE$", CMETHOD_PLAIN_RE],
                                  "CMETHODS DONE")
        p.close_stdin()
        self.assert_exits(p, 0)
        if secret:
            self.assertNotIn(secret, "\n".join(p.out + p.err))

    def test_bad_scheme(self):
        self.proxy_error("ftp://1.2.3.4:80")

    def test_hostname(self):
        self.proxy_error("socks5://host.example:1080")

    def test_no_port(self):
        self.proxy_error("socks5://1.2.3.4")

    def test_port_zero(self):
        self.proxy_error("socks5://1.2.3.4:0")

    def test_user_without_password(self):
        self.proxy_error("socks5://u@1.2.3.4:1080")

    def test_password_too_long(self):
        pw = "Q" + "z" * 254 + "W"  # 256 bytes
        self.proxy_error("socks5://u:%s@1.2.3.4:1080" % pw, secret=pw)

    def test_user_too_long(self):
        user = "U" * 256
        self.proxy_error("socks5://%s:%s@1.2.3.4:1080" % (user, PASSWORD), secret=PASSWORD)

    def test_error_does_not_leak_password(self):
        self.proxy_error("socks5://u:%s@host.example:1080" % PASSWORD, secret=PASSWORD)

    def test_valid_socks5(self):
        self.proxy_done("socks5://1.2.3.4:1080")

    def test_valid_socks5_auth_ipv6(self):
        self.proxy_done("socks5://u:%s@[::1]:1080" % PASSWORD, secret=PASSWORD)

    def test_valid_socks4a(self):
        self.proxy_done("socks4a://1.2.3.4:1080")

    def test_valid_http(self):
        self.proxy_done("http://1.2.3.4:8080")

    def test_valid_http_auth(self):
        self.proxy_done("http://u:%s@1.2.3.4:8080" % PASSWORD, secret=PASSWORD)

    def test_proxy_ignored_by_server(self):
        # TOR_PT_PROXY is a client setting; a server never says PROXY lines.
        p = self.launch(env=self.server_env())
        p.wait_done()
        self.assertFalse(any(l.startswith("PROXY") for l in p.out), p.describe())


class ClientMethodTest(PtdTestCase):

    def test_plain(self):
        p, addr = self.start_client()
        self.assertEqual(addr[0], "127.0.0.1")
        s = self.connect(addr)
        self.assertEqual(socks5_greet(s, (0,)), 0)

    def test_unknown_names_ignored_silently(self):
        p = self.launch(env=self.client_env(transports="plain,nosuch,obfs9"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [CMETHOD_PLAIN_RE], "CMETHODS DONE")
        p.close_stdin()
        self.assert_exits(p, 0)
        text = "\n".join(p.out + p.err)
        self.assertNotIn("nosuch", text)
        self.assertNotIn("obfs9", text)
        self.assertFalse(any("CMETHOD-ERROR" in l for l in p.out + p.err))

    def test_only_unknown_names(self):
        p = self.launch(env=self.client_env(transports="nosuch"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [], "CMETHODS DONE")
        self.assertTrue(p.alive(), p.describe())
        p.close_stdin()
        self.assert_exits(p, 0)
        self.assertNotIn("nosuch", "\n".join(p.out + p.err))

    def test_proxylistenaddr(self):
        port = free_port()
        p, addr = self.start_client(args=["-proxylistenaddr", "127.0.0.1:%d" % port])
        self.assertEqual(addr, ("127.0.0.1", port))
        self.assertIn("CMETHOD plain socks5 127.0.0.1:%d" % port, p.out)
        s = self.connect(addr)
        self.assertEqual(socks5_greet(s, (0,)), 0)


class ServerMethodTest(PtdTestCase):

    def test_plain(self):
        echo = self.echo_server()
        p, addr = self.start_server(orport=echo.hostport)
        self.assertTrue(any(l == "SMETHOD plain 0.0.0.0:%d" % addr[1] for l in p.out),
                        p.describe())
        self.connect(addr).close()

    def test_bindaddr_ipv4(self):
        port = free_port()
        p = self.launch(env=self.server_env(TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:%d" % port))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [r"^SMETHOD plain 127\.0\.0\.1:%d( .*)?$" % port],
                                  "SMETHODS DONE")
        self.connect(("127.0.0.1", port)).close()

    def test_bindaddr_ipv6(self):
        port = free_port("::1")
        p = self.launch(env=self.server_env(TOR_PT_SERVER_BINDADDR="plain-[::1]:%d" % port))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [r"^SMETHOD plain \[::1\]:%d( .*)?$" % port],
                                  "SMETHODS DONE")
        self.connect(("::1", port)).close()

    def test_options_in_json_and_file(self):
        # The reference dispatcher's shapes: keyed by transport, or bare
        # when one transport runs; plain takes no options, so an empty
        # object is what it accepts.
        path = os.path.join(self.tempdir(), "opts.json")
        with open(path, "w") as f:
            f.write('{"plain": {}}')
        for args in (["-optionsFile", path], ["-options", '{"plain": {}}'],
                     ["-options", "{}"]):
            with self.subTest(args=args):
                p = self.launch(args=args, env=self.server_env())
                p.wait_done()
                self.assertTrue(any(l.startswith("SMETHOD plain ") for l in p.out),
                                p.describe())

    def test_unknown_names_ignored_silently(self):
        p = self.launch(env=self.server_env(transports="nosuch,plain,obfs9"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [SMETHOD_ANY_RE], "SMETHODS DONE")
        p.close_stdin()
        self.assert_exits(p, 0)
        text = "\n".join(p.out + p.err)
        self.assertNotIn("nosuch", text)
        self.assertNotIn("obfs9", text)
        self.assertFalse(any("SMETHOD-ERROR" in l for l in p.out + p.err))

    def test_only_unknown_names(self):
        p = self.launch(env=self.server_env(transports="nosuch"))
        lines = p.wait_done()
        self.assert_startup_order(lines, "1", [], "SMETHODS DONE")
        self.assertTrue(p.alive(), p.describe())


if __name__ == "__main__":
    unittest.main()
