"""The client's application side, black-box: SOCKS5 methods 0x00/0x02/0x09
and their per-connection arguments, SOCKS4/4a, transparent-TCP, curl as a
real SOCKS client, the handshake timeout, the connection limit, the idle
timeout. Everything goes plain client -> plain server -> a local peer."""

import json
import os
import shutil
import socket
import struct
import subprocess
import time
import unittest

from ptdtest import (PtdTestCase, echo_roundtrip, recv_exact, seeded_bytes, socks5_address,
                     socks5_greet, socks5_read_reply, tmo, wait_closed, free_port)


def userpass(uname, passwd):
    return bytes([1, len(uname)]) + uname + bytes([len(passwd)]) + passwd


def connect_req(host, port):
    return b"\x05\x01\x00" + socks5_address(host) + struct.pack("!H", port)


def socks4_req(ip, port, userid=b"", cmd=1):
    return struct.pack("!BBH", 4, cmd, port) + socket.inet_aton(ip) + userid + b"\x00"


def socks4a_req(host, port, userid=b""):
    return (struct.pack("!BBH", 4, 1, port) + b"\x00\x00\x00\x01" + userid + b"\x00" +
            host.encode() + b"\x00")


class SocksTestBase(PtdTestCase):
    """A plain server in front of an echo server and a plain client with
    a log file, so tests can read what the client said."""

    client_args = ()

    def setUp(self):
        super().setUp()
        self.echo = self.echo_server()
        self.server, self.saddr = self.start_server(orport=self.echo.hostport)
        self.cstate = self.tempdir("ptd-cstate-")
        self.client, self.caddr = self.start_client(
            env=self.client_env(state=self.cstate),
            args=("-enableLogging", "-logLevel", "INFO") + tuple(self.client_args))

    def client_log(self):
        with open(os.path.join(self.cstate, "ptdispatch.log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=None):
        deadline = time.monotonic() + (timeout or tmo(10))
        while time.monotonic() < deadline:
            if text in self.client_log():
                return True
            time.sleep(0.05)
        return False

    def server_req(self):
        return connect_req(self.saddr[0], self.saddr[1])

    def assert_echo(self, s, seed=7):
        data = seeded_bytes(seed, 100000)
        self.assertEqual(echo_roundtrip(s, data), data)


class Socks5MethodTest(SocksTestBase):

    def test_prefers_json_then_userpass_then_none(self):
        cases = [((0, 2, 9), 9), ((9, 0), 9), ((2, 0), 2), ((0, 2), 2), ((0,), 0),
                 ((0x80, 0), 0), ((0x80, 2), 2)]
        for offered, chosen in cases:
            with self.subTest(offered=offered):
                s = self.connect(self.caddr)
                self.assertEqual(socks5_greet(s, offered), chosen)

    def test_none_acceptable(self):
        s = self.connect(self.caddr)
        s.sendall(b"\x05\x02\x01\x80")
        self.assertEqual(recv_exact(s, 2), b"\x05\xff")
        self.assertTrue(wait_closed(s, tmo(10)))

    def test_json_empty_object_connects(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        body = b"{}"
        # No acknowledgement of the block: the request follows at once.
        s.sendall(struct.pack("!I", len(body)) + body + self.server_req())
        rep, _, _ = socks5_read_reply(s)
        self.assertEqual(rep, 0)
        self.assert_echo(s)

    def json_block_reply(self, raw, request=True):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        s.sendall(raw + (self.server_req() if request else b""))
        head = recv_exact(s, 4)
        self.assertEqual(head[0], 5)
        self.assertTrue(wait_closed(s, tmo(10)), "not closed after a failure reply")
        return head[1]

    def test_json_invalid_is_0x12(self):
        body = b'{"a": '
        self.assertEqual(self.json_block_reply(struct.pack("!I", len(body)) + body), 0x12)

    def test_json_not_an_object_is_0x12(self):
        for body in (b'["a", "b"]', b'"text"', b'42', b'{"a":"b"} x'):
            with self.subTest(body=body):
                self.assertEqual(self.json_block_reply(struct.pack("!I", len(body)) + body),
                                 0x12)

    def test_json_rejected_key_is_0x13_and_logged(self):
        body = json.dumps({"colour": "blue"}).encode()
        self.assertEqual(self.json_block_reply(struct.pack("!I", len(body)) + body), 0x13)
        self.assertTrue(self.wait_log('"colour"'), "log does not name the key:\n" +
                        self.client_log())
        self.assertNotIn("blue", self.client_log(), "an argument value reached the log")

    def test_key_cannot_forge_a_log_line(self):
        body = json.dumps({"x\nforged line": "v"}).encode()
        self.assertEqual(self.json_block_reply(struct.pack("!I", len(body)) + body), 0x13)
        self.assertTrue(self.wait_log("forged line"), self.client_log())
        self.assertFalse(any(l.startswith("forged line") for l in self.client_log().splitlines()),
                         self.client_log())
        self.assertIn("\\x0aforged line", self.client_log())

    def test_json_over_the_default_limit_is_0x10(self):
        # Decided on the length alone: no body follows.
        self.assertEqual(self.json_block_reply(struct.pack("!I", 65537), request=False), 0x10)

    def test_json_at_the_limit_is_read(self):
        pad = 65536 - len(b'{"k":""}')
        body = b'{"k":"' + b"x" * pad + b'"}'
        self.assertEqual(len(body), 65536)
        # Read whole, then refused by plain (it takes no keys): 0x13, not 0x10.
        self.assertEqual(self.json_block_reply(struct.pack("!I", len(body)) + body), 0x13)

    def test_userpass_arguments_rejected_by_transport_is_0x13(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (2,)), 2)
        s.sendall(userpass(b"shared-secret=rahasia", b"\x00"))
        self.assertEqual(recv_exact(s, 2), b"\x01\x00")
        s.sendall(self.server_req())
        self.assertEqual(socks5_read_reply(s)[0], 0x13)
        self.assertTrue(wait_closed(s, tmo(10)))
        self.assertTrue(self.wait_log('"shared-secret"'), self.client_log())
        self.assertNotIn("rahasia", self.client_log(), "an argument value reached the log")

    def test_userpass_escapes_split_keys(self):
        # pt-spec 3.5: \; \= \\ are literal; the first unescaped '=' splits.
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (2,)), 2)
        s.sendall(userpass(b"we\\;ird\\=key=v=1;", b"x\\\\y=2"))
        self.assertEqual(recv_exact(s, 2), b"\x01\x00")
        s.sendall(self.server_req())
        self.assertEqual(socks5_read_reply(s)[0], 0x13)
        self.assertTrue(self.wait_log('"we;ird=key"'), self.client_log())

    def test_userpass_syntax_error_is_status_1(self):
        for uname, passwd in ((b"novalue", b"\x00"), (b"a=b;trailing\\", b"\x00"),
                              (b"=v", b"\x00")):
            with self.subTest(uname=uname):
                s = self.connect(self.caddr, timeout=tmo(30))
                self.assertEqual(socks5_greet(s, (2,)), 2)
                s.sendall(userpass(uname, passwd))
                self.assertEqual(recv_exact(s, 2), b"\x01\x01")
                self.assertTrue(wait_closed(s, tmo(10)))

    def test_userpass_bad_version(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (2,)), 2)
        s.sendall(b"\x05\x01a\x01b")
        self.assertEqual(recv_exact(s, 2), b"\x01\x01")
        self.assertTrue(wait_closed(s, tmo(10)))

    def test_slow_client_byte_by_byte(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        body = b"{}"
        msg = (b"\x05\x01\x09" + struct.pack("!I", len(body)) + body + self.server_req())
        for i in range(len(msg)):
            s.sendall(msg[i:i + 1])
            time.sleep(0.02)
        self.assertEqual(recv_exact(s, 2), b"\x05\x09")
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.assert_echo(s)

    def test_truncated_requests_then_close(self):
        for msg in (b"\x05", b"\x05\x01", b"\x05\x01\x00\x05\x01", b"\x05\x01\x00\x05\x01\x00\x03\x05ab"):
            with self.subTest(msg=msg):
                s = self.connect(self.caddr, timeout=tmo(30))
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(wait_closed(s, tmo(10)))
        self.assertTrue(self.client.alive())
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (0,)), 0)

    def test_bad_version_and_reserved_byte(self):
        for req in (b"\x04\x01\x00" + socks5_address("127.0.0.1") + b"\x00\x50",
                    b"\x05\x01\x01" + socks5_address("127.0.0.1") + b"\x00\x50"):
            with self.subTest(req=req):
                s = self.connect(self.caddr, timeout=tmo(30))
                self.assertEqual(socks5_greet(s, (0,)), 0)
                s.sendall(req)
                self.assertEqual(socks5_read_reply(s)[0], 0x01)

    def test_not_socks_at_all(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(wait_closed(s, tmo(10)))
        self.assertTrue(self.client.alive())


class SocksTimeoutTest(SocksTestBase):
    client_args = ("-handshakeTimeout", "1", "-paramsLimit", "100")

    def test_stalled_json_block_is_0x11(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        s.sendall(struct.pack("!I", 50) + b'{"a":')
        head = recv_exact(s, 2)
        self.assertEqual(head, b"\x05\x11")
        self.assertTrue(wait_closed(s, tmo(10)))

    def test_configured_limit_is_0x10(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        s.sendall(struct.pack("!I", 101))
        self.assertEqual(recv_exact(s, 2), b"\x05\x10")
        self.assertTrue(wait_closed(s, tmo(10)))

    def test_dripping_client_meets_the_deadline(self):
        # One byte at a time, faster than the timeout: the deadline counts
        # from the accept, not from the last byte.
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        s.sendall(struct.pack("!I", 60))
        got = b""
        for _ in range(50):  # never the whole 60-byte block
            s.sendall(b" ")
            s.settimeout(0.3)
            try:
                got = s.recv(2)
            except socket.timeout:
                continue
            break
        self.assertEqual(got, b"\x05\x11", "the handshake outlived its deadline")

    def test_refused_client_that_keeps_sending_is_closed(self):
        # After a failure reply the socket lingers for the peer's EOF, but
        # for a bounded time whatever the peer sends.
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (9,)), 9)
        s.sendall(struct.pack("!I", 101))
        self.assertEqual(recv_exact(s, 2), b"\x05\x10")
        closed = False
        for _ in range(int(tmo(30) / 0.1)):
            try:
                s.sendall(b"x" * 100)
                s.settimeout(0.1)
                if s.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        self.assertTrue(closed, "a refused client kept its socket by sending")

    def test_silent_client_is_closed(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        self.assertTrue(wait_closed(s, tmo(20)), "a silent client was kept")
        self.assertTrue(self.wait_log("handshake timed out"), self.client_log())


class Socks4Test(SocksTestBase):

    def socks4_reply(self, s):
        r = recv_exact(s, 8)
        self.assertEqual(r[0], 0, "SOCKS4 reply VN")
        return r[1]

    def test_socks4_connect(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(socks4_req(self.saddr[0], self.saddr[1]))
        self.assertEqual(self.socks4_reply(s), 0x5A)
        self.assert_echo(s)

    def test_socks4a_hostname(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(socks4a_req("localhost", self.saddr[1]))
        self.assertEqual(self.socks4_reply(s), 0x5A)
        self.assert_echo(s)

    def test_socks4_refused_is_0x5b(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(socks4_req("127.0.0.1", free_port()))
        self.assertEqual(self.socks4_reply(s), 0x5B)
        self.assertTrue(wait_closed(s, tmo(10)))

    def test_socks4_bind_is_0x5b(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(socks4_req(self.saddr[0], self.saddr[1], cmd=2))
        self.assertEqual(self.socks4_reply(s), 0x5B)

    def test_socks4_userid_arguments_reach_the_transport(self):
        s = self.connect(self.caddr, timeout=tmo(30))
        s.sendall(socks4_req(self.saddr[0], self.saddr[1], userid=b"knob=1"))
        self.assertEqual(self.socks4_reply(s), 0x5B)
        self.assertTrue(self.wait_log('"knob"'), self.client_log())


class CurlTest(SocksTestBase):
    """curl, a real SOCKS client, fetching a page from a local web server
    through plain client -> plain server."""

    def setUp(self):
        PtdTestCase.setUp(self)
        self.assertIsNotNone(shutil.which("curl"), "curl missing: apt-get install curl")
        self.body = b"<html>through the tunnel</html>\n" * 100
        self.web = self.http_server(self.body)
        self.server, self.saddr = self.start_server(orport=self.web.hostport)
        self.cstate = self.tempdir("ptd-cstate-")
        self.client, self.caddr = self.start_client(env=self.client_env(state=self.cstate))

    def curl(self, flag, host):
        proxy = "%s:%d" % self.caddr
        url = "http://%s:%d/" % (host, self.saddr[1])
        r = subprocess.run(["curl", "-sS", "--max-time", str(int(tmo(30))), flag, proxy, url],
                           capture_output=True, timeout=tmo(60))
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        return r.stdout

    def test_socks5(self):
        self.assertEqual(self.curl("--socks5", "127.0.0.1"), self.body)

    def test_socks5_hostname(self):
        self.assertEqual(self.curl("--socks5-hostname", "localhost"), self.body)

    def test_socks4(self):
        self.assertEqual(self.curl("--socks4", "127.0.0.1"), self.body)

    def test_socks4a(self):
        self.assertEqual(self.curl("--socks4a", "localhost"), self.body)


class TransparentTcpTest(PtdTestCase):

    def start_transparent(self, mode_args, options=None):
        echo = self.echo_server()
        server, saddr = self.start_server(orport=echo.hostport)
        args = list(mode_args) + ["-proxylistenaddr", "127.0.0.1:0",
                                  "-target", "%s:%d" % saddr]
        if options:
            args += ["-options", options]
        client = self.launch(args, env=self.client_env())
        client.wait_done()
        return client

    def test_mode_flag(self):
        client = self.start_transparent(["-mode", "transparent-TCP"])
        m = client.methods()["plain"]
        self.assertEqual(m[0], "transparent-TCP")
        s = self.connect((m[1], m[2]), timeout=tmo(30))
        data = seeded_bytes(3, 1 << 20)
        self.assertEqual(echo_roundtrip(s, data), data)

    def test_reference_flag(self):
        client = self.start_transparent(["-transparent"])
        m = client.methods()["plain"]
        self.assertEqual(m[0], "transparent-TCP")
        s = self.connect((m[1], m[2]), timeout=tmo(30))
        self.assertEqual(echo_roundtrip(s, b"hello"), b"hello")

    def test_bad_options_are_a_cmethod_error(self):
        client = self.start_transparent(["-mode", "transparent-TCP"], options="plain:k=v")
        errs = [l for l in client.out if l.startswith("CMETHOD-ERROR plain ")]
        self.assertEqual(len(errs), 1, client.describe())
        self.assertIn('"k"', errs[0])


class OutboundBindTest(PtdTestCase):
    """TOR_PT_OUTBOUND_BIND_ADDRESS_V4/_V6 must be ignored toward loopback
    (pt-spec 3.2.1); tests/unit/test_dial.c shows the choice for other
    destinations, which loopback-only tests cannot reach."""

    def test_ignored_toward_loopback(self):
        peers = []

        def record(conn):
            peers.append(conn.getpeername()[0])
            conn.sendall(b"ok")

        # Not an address of this machine: binding it would fail, so a
        # working connection proves no bind was attempted.
        far = self.server_socket(record)
        client, caddr = self.start_client(
            env=self.client_env(TOR_PT_OUTBOUND_BIND_ADDRESS_V4="203.0.113.4",
                                TOR_PT_OUTBOUND_BIND_ADDRESS_V6="[2001:db8::4]"))
        s = self.connect(caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.sendall(connect_req("127.0.0.1", far.addr[1]))
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.assertEqual(recv_exact(s, 2), b"ok")
        self.assertEqual(peers, ["127.0.0.1"])


class LimitsTest(PtdTestCase):

    def test_connection_limit_holds_new_connections(self):
        echo = self.echo_server()
        state = self.tempdir("ptd-cstate-")
        server, saddr = self.start_server(orport=echo.hostport)
        client, caddr = self.start_client(env=self.client_env(state=state),
                                          args=("-maxConnections", "2", "-enableLogging"))
        first = [self.connect(caddr, timeout=tmo(30)) for _ in range(2)]
        for s in first:
            self.assertEqual(socks5_greet(s, (0,)), 0)
        third = self.connect(caddr, timeout=tmo(30))
        third.sendall(b"\x05\x01\x00")
        third.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            third.recv(2)  # held in the backlog: nobody answers yet
        logpath = os.path.join(state, "ptdispatch.log")
        with open(logpath, encoding="utf-8") as f:
            self.assertIn("connection limit (2) reached", f.read())
        self.assertTrue(any("connection limit (2) reached" in l for l in client.out
                            if l.startswith("LOG ")) or client.read_until(
                                lambda l: "connection limit" in l, tmo(10)),
                        "the limit was not reported to the parent")
        first[0].close()
        third.settimeout(tmo(30))
        self.assertEqual(recv_exact(third, 2), b"\x05\x00")
        third.sendall(connect_req(saddr[0], saddr[1]))
        self.assertEqual(socks5_read_reply(third)[0], 0)
        self.assertEqual(echo_roundtrip(third, b"after the limit"), b"after the limit")

    def test_idle_timeout_closes_idle_relay(self):
        echo = self.echo_server()
        server, saddr = self.start_server(orport=echo.hostport)
        client, caddr = self.start_client(args=("-idleTimeout", "1"))
        s = self.connect(caddr, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.sendall(connect_req(saddr[0], saddr[1]))
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.assertEqual(echo_roundtrip(s, b"x" * 1000), b"x" * 1000)
        self.assertTrue(wait_closed(s, tmo(20)), "idle connection kept open")

    def test_bad_tuning_values_are_env_errors(self):
        for flag, value in (("-maxConnections", "0"), ("-handshakeTimeout", "0"),
                            ("-idleTimeout", "-1"), ("-paramsLimit", "1"),
                            ("-handshakeTimeout", "99999999999999999999999")):
            with self.subTest(flag=flag, value=value):
                p, rc = self.run_to_exit(args=(flag, value), env=self.client_env())
                line = self.assert_fatal(p, rc, "ENV-ERROR", 64)
                self.assertIn(flag, line)


if __name__ == "__main__":
    unittest.main()
