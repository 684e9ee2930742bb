"""Dialing through an upstream proxy (TOR_PT_PROXY / -proxy), against real
proxies: danted (dante-server) for socks5 with and without user/password
and for socks4a, tinyproxy for http CONNECT with and without Basic auth.

The path is: SOCKS5 client -> client ptdispatch (plain) -> the proxy ->
server ptdispatch (plain) -> a far end that sends and hashes MiBs. Each
proxy is started here, on loopback, in the foreground, with its own config
and log file in a temp dir; its process is kept and stopped at cleanup.
Every success is proved twice: the bytes arrive intact both ways, and the
proxy's OWN log names the connection to the server's port. Failures are
checked as the application sees them: the SOCKS5 reply code.

danted checks user names and passwords against the system's password
database, so the user/password cases need a system user: setUpClass
creates PROXY_USER (no home, no login shell) with useradd if it is missing,
and sets its password with chpasswd; it is left in place and reused by
later runs. That needs root, which the test runs have.

dante 1.4.2 speaks SOCKS4 but not 4a's names (it connects to 0.0.0.1), so
the socks4a cases use an IPv4 literal, which 4a sends plainly; the name
form is covered by the unit tests (tests/unit/test_upstream.c).

tinyproxy 1.11 does not keep a CONNECT tunnel half-open: when one side
shuts down writing it closes both, dropping what was still in flight the
other way (it does so without ptdispatch too). So through tinyproxy each
side reads exactly the bytes it expects instead of waiting for EOF
(duplex_transfer's expect).
"""

import os
import pwd
import re
import struct
import subprocess
import time
import unittest

from ptdtest import (DuplexPeer, PtdTestCase, duplex_transfer, free_port, recv_exact,
                     seeded_bytes, set_big_buffers, sha256, socks5_address, socks5_connect,
                     socks5_greet, socks5_read_reply, tcp_connect, tmo)

DANTED = "/usr/sbin/danted"
TINYPROXY = "/usr/bin/tinyproxy"
MIB = 1 << 20
SIZE = 4 * MIB

PROXY_USER = "ptdproxytest"
PROXY_PASS = "S3cret:pw@x"              # ':' and '@' exercise the URI's decoding
PROXY_PASS_URI = "S3cret%3Apw%40x"
HTTP_USER = "ptduser"
HTTP_PASS = "Http0nlyPw"                # tinyproxy's BasicAuth takes one word

REP_NOT_ALLOWED = 0x02
REP_CONN_REFUSED = 0x05


def require_binary(path, package):
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not found: apt-get install %s" % (path, package))


def ensure_proxy_user():
    """The system user danted authenticates (see the module docstring)."""
    if os.geteuid() != 0:
        raise AssertionError("the danted user/password tests need root (useradd, chpasswd)")
    try:
        pwd.getpwnam(PROXY_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--no-user-group",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        PROXY_USER], check=True, timeout=30)
    subprocess.run(["chpasswd"], input=("%s:%s\n" % (PROXY_USER, PROXY_PASS)).encode(),
                   check=True, timeout=30)


class UpstreamProxyTestCase(PtdTestCase):

    # -- the proxies --
    def wait_listening(self, proc, port, what):
        deadline = time.monotonic() + tmo(15)
        while time.monotonic() < deadline:
            if not proc.alive():
                self.fail("%s exited at startup\n%s" % (what, proc.describe()))
            try:
                tcp_connect(("127.0.0.1", port), timeout=1.0).close()
                return
            except OSError:
                time.sleep(0.05)
        self.fail("%s is not listening on port %d\n%s" % (what, port, proc.describe()))

    def start_danted(self, method="none", block_port=None):
        """danted on loopback; returns (port, log path)."""
        require_binary(DANTED, "dante-server")
        d = self.tempdir("ptd-danted-")
        port = free_port()
        log = os.path.join(d, "danted.log")
        block = ""
        if block_port is not None:
            block = ("socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = %d "
                     "log: connect error }\n" % block_port)
        conf = os.path.join(d, "danted.conf")
        with open(conf, "w") as f:
            f.write("logoutput: %s\n"
                    "internal: 127.0.0.1 port = %d\n"
                    "external: 127.0.0.1\n"
                    "socksmethod: %s\n"
                    "clientmethod: none\n"
                    "user.privileged: root\n"
                    "user.unprivileged: nobody\n"
                    "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }\n"
                    "%s"
                    "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 "
                    "log: connect disconnect error }\n" % (log, port, method, block))
        p = self.launch_argv([DANTED, "-f", conf, "-p", os.path.join(d, "danted.pid"),
                              "-N", "1"])
        self.wait_listening(p, port, "danted")
        return port, log

    def start_tinyproxy(self, connect_port, auth=False):
        """tinyproxy on loopback allowing CONNECT to connect_port only;
        returns (port, log path)."""
        require_binary(TINYPROXY, "tinyproxy")
        d = self.tempdir("ptd-tinyproxy-")
        port = free_port()
        log = os.path.join(d, "tinyproxy.log")
        conf = os.path.join(d, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nTimeout 120\n"
                    "LogFile \"%s\"\nLogLevel Info\nPidFile \"%s\"\n"
                    "MaxClients 50\nAllow 127.0.0.1\nConnectPort %d\n"
                    "DisableViaHeader Yes\n"
                    % (port, log, os.path.join(d, "tinyproxy.pid"), connect_port))
            if auth:
                f.write("BasicAuth %s %s\n" % (HTTP_USER, HTTP_PASS))
        p = self.launch_argv([TINYPROXY, "-d", "-c", conf])
        self.wait_listening(p, port, "tinyproxy")
        return port, log

    def wait_log(self, path, pattern, what):
        """Waits (bounded) for a line of the proxy's own log to match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + tmo(10)
        text = ""
        while time.monotonic() < deadline:
            try:
                with open(path, "r", errors="replace") as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            for line in text.splitlines():
                if rx.search(line):
                    return line
            time.sleep(0.05)
        self.fail("the proxy's log shows no %s (/%s/):\n%s" % (what, pattern, text))

    # -- ptdispatch --
    def start_tunnel(self, proxy_uri, via_flag=False, far=None):
        """A server ptdispatch in front of far (a TcpServer), and a client
        ptdispatch told to use proxy_uri. Returns (client, socks addr, server
        addr, client state dir)."""
        if far is None:
            far = self.echo_server()
        server, saddr = self.start_server(orport=far.hostport)
        state = self.tempdir("ptd-cstate-")
        args = ["-enableLogging", "-logLevel", "DEBUG"]
        extra = {}
        if via_flag:
            args += ["-proxy", proxy_uri]
        else:
            extra["TOR_PT_PROXY"] = proxy_uri
        client, caddr = self.start_client(args=args, state=state, **extra)
        self.assertIn("PROXY DONE", client.out, client.describe())
        return client, caddr, saddr, state

    def start_server_on(self, port, far):
        """A server ptdispatch on port, in front of far (a TcpServer)."""
        self.start_server(env=self.server_env(orport=far.hostport,
                                              TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:%d"
                                              % port))

    # -- the data path --
    def bulk_far_end(self, seed, exact=False):
        """A far end (DuplexPeer, serving) that sends SIZE bytes from seed;
        exact: it reads exactly SIZE bytes and never half-closes (see the
        module docstring on tinyproxy)."""
        deadline = time.monotonic() + tmo(120)
        peer = DuplexPeer(seeded_bytes(seed, SIZE), deadline, expect=SIZE if exact else None)
        return peer, self.server_socket(peer)

    def bulk_exchange(self, caddr, host, port, peer, seed):
        """SIZE bytes from seed each way between an application that asks
        the client at caddr for host:port and peer (from bulk_far_end),
        checked by hash at both ends."""
        up = seeded_bytes(seed, SIZE)
        s = socks5_connect(caddr, host, port, timeout=tmo(60))
        self.addCleanup(s.close)
        set_big_buffers(s)
        got = duplex_transfer(s, up, peer.deadline, expect=peer.expect)
        far = peer.first_result()
        self.assertEqual(got, (sha256(peer.data), SIZE), "data received by the application")
        self.assertEqual(far, (sha256(up), SIZE), "data received by the far end")

    def transfer(self, proxy_uri, via_flag=False, dest_host=None):
        """SIZE bytes each way through the tunnel, checked by hash. Returns
        (client, server addr, client state dir)."""
        peer, far = self.bulk_far_end(12)
        client, caddr, saddr, state = self.start_tunnel(proxy_uri, via_flag, far)
        self.bulk_exchange(caddr, dest_host or saddr[0], saddr[1], peer, 11)
        return client, saddr, state

    def socks_reply(self, caddr, host, port):
        """The SOCKS5 reply code the application gets for CONNECT host:port."""
        s = self.connect(caddr, timeout=tmo(60))
        self.assertEqual(socks5_greet(s, (0,)), 0)
        s.sendall(b"\x05\x01\x00" + socks5_address(host) + struct.pack("!H", port))
        rep, _, _ = socks5_read_reply(s)
        return rep

    # -- failures, as the application sees them --
    def assert_blocked_by_danted(self, scheme, rep):
        """danted, reached as scheme, refuses the destination by a rule:
        the application gets SOCKS5 reply rep, and nothing reaches the far
        end."""
        server_port = free_port()
        # The block rule names the server's port, so the server must be
        # started on it: bind it explicitly.
        port, log = self.start_danted("none", block_port=server_port)
        far = self.echo_server()
        self.start_server_on(server_port, far)
        _, caddr = self.start_client(TOR_PT_PROXY="%s://127.0.0.1:%d" % (scheme, port))
        self.assertEqual(self.socks_reply(caddr, "127.0.0.1", server_port), rep)
        self.wait_log(log, r"block\(\d+\): tcp/connect .*127\.0\.0\.1\.%d\b" % server_port,
                      "blocked connection")
        self.assertEqual(far.accepted, 0)

    def assert_proxy_not_listening(self, scheme):
        """A scheme proxy whose port nobody listens on: "refused"."""
        _, caddr, saddr, _ = self.start_tunnel("%s://127.0.0.1:%d" % (scheme, free_port()))
        self.assertEqual(self.socks_reply(caddr, *saddr), REP_CONN_REFUSED)

    def assert_no_secret_logged(self, client, state, secrets):
        with open(os.path.join(state, "ptdispatch.log"), "r", errors="replace") as f:
            text = f.read()
        self.assertIn("[DEBUG]", text, "the DEBUG log is not being written")
        text += "\n".join(client.out + client.err)
        for secret in secrets:
            self.assertNotIn(secret, text, "a credential reached ptdispatch's output or log")


class Socks5Test(UpstreamProxyTestCase):

    @classmethod
    def setUpClass(cls):
        ensure_proxy_user()

    def test_no_auth(self):
        port, log = self.start_danted("none")
        _, saddr, _ = self.transfer("socks5://127.0.0.1:%d" % port)
        self.wait_log(log, r"pass\(\d+\): tcp/connect \[: .*-> .* 127\.0\.0\.1\.%d\b" % saddr[1],
                      "socks5 connection to the server")

    def test_no_auth_flag(self):
        port, log = self.start_danted("none")
        _, saddr, _ = self.transfer("socks5://127.0.0.1:%d" % port, via_flag=True)
        self.wait_log(log, r"pass\(\d+\): tcp/connect \[: .*127\.0\.0\.1\.%d\b" % saddr[1],
                      "socks5 connection to the server")

    def test_user_password(self):
        port, log = self.start_danted("username")
        client, saddr, state = self.transfer(
            "socks5://%s:%s@127.0.0.1:%d" % (PROXY_USER, PROXY_PASS_URI, port))
        # danted names the authenticated user in the connection's line.
        self.wait_log(log, r"pass\(\d+\): tcp/connect \[: username%%%s@127\.0\.0\.1\.\d+ "
                           r".*127\.0\.0\.1\.%d\b" % (PROXY_USER, saddr[1]),
                      "authenticated socks5 connection to the server")
        self.assert_no_secret_logged(client, state, [PROXY_PASS, PROXY_PASS_URI])

    def test_wrong_password(self):
        port, log = self.start_danted("username")
        far = self.echo_server()
        client, caddr, saddr, state = self.start_tunnel(
            "socks5://%s:wrong-%s@127.0.0.1:%d" % (PROXY_USER, PROXY_PASS_URI, port), far=far)
        self.assertEqual(self.socks_reply(caddr, *saddr), REP_NOT_ALLOWED)
        self.wait_log(log, r"password authentication failed for user \"%s\"" % PROXY_USER,
                      "refused password")
        self.assertEqual(far.accepted, 0)
        self.assert_no_secret_logged(client, state, ["wrong-" + PROXY_PASS_URI])

    def test_auth_required_none_given(self):
        port, _ = self.start_danted("username")
        _, caddr, saddr, _ = self.start_tunnel("socks5://127.0.0.1:%d" % port)
        self.assertEqual(self.socks_reply(caddr, *saddr), REP_NOT_ALLOWED)

    def test_destination_blocked(self):
        # danted answers REP 0x02 (not allowed); the application sees it.
        self.assert_blocked_by_danted("socks5", REP_NOT_ALLOWED)

    def test_proxy_not_listening(self):
        self.assert_proxy_not_listening("socks5")


class Socks4aTest(UpstreamProxyTestCase):

    def test_transfer(self):
        port, log = self.start_danted("none")
        _, saddr, _ = self.transfer("socks4a://127.0.0.1:%d" % port)
        self.wait_log(log, r"pass\(\d+\): tcp/connect \[: .*127\.0\.0\.1\.%d\b" % saddr[1],
                      "socks4 connection to the server")

    def test_destination_blocked(self):
        # SOCKS4's one refusal, 0x5B, reaches the application as "refused".
        self.assert_blocked_by_danted("socks4a", REP_CONN_REFUSED)

    def test_proxy_not_listening(self):
        self.assert_proxy_not_listening("socks4a")


class HttpConnectTest(UpstreamProxyTestCase):

    def transfer_http(self, auth, dest_host=None):
        server_port = free_port()
        port, log = self.start_tinyproxy(server_port, auth=auth)
        cred = "%s:%s@" % (HTTP_USER, HTTP_PASS) if auth else ""
        peer, far = self.bulk_far_end(22, exact=True)
        self.start_server_on(server_port, far)
        state = self.tempdir("ptd-cstate-")
        client, caddr = self.start_client(
            args=["-enableLogging", "-logLevel", "DEBUG"], state=state,
            TOR_PT_PROXY="http://%s127.0.0.1:%d" % (cred, port))
        self.bulk_exchange(caddr, dest_host or "127.0.0.1", server_port, peer, 21)
        return client, state, server_port, log

    def test_no_auth(self):
        _, _, server_port, log = self.transfer_http(auth=False)
        self.wait_log(log, r"Request \(file descriptor \d+\): CONNECT 127\.0\.0\.1:%d HTTP/1\.1"
                      % server_port, "CONNECT to the server")
        self.wait_log(log, r"Established connection to host \"127\.0\.0\.1\"",
                      "established tunnel")

    def test_basic_auth(self):
        client, state, server_port, log = self.transfer_http(auth=True)
        self.wait_log(log, r"Request \(file descriptor \d+\): CONNECT 127\.0\.0\.1:%d HTTP/1\.1"
                      % server_port, "CONNECT to the server")
        self.assert_no_secret_logged(client, state, [HTTP_PASS])

    def test_name_resolved_by_the_proxy(self):
        # The application names the server; the name reaches the proxy as a
        # name, and the proxy (not ptdispatch) resolves it.
        _, _, server_port, log = self.transfer_http(auth=False, dest_host="localhost")
        self.wait_log(log, r"CONNECT localhost:%d HTTP/1\.1" % server_port,
                      "CONNECT naming the server")

    def test_wrong_password(self):
        server_port = free_port()
        port, log = self.start_tinyproxy(server_port, auth=True)
        far = self.echo_server()
        self.start_server_on(server_port, far)
        _, caddr = self.start_client(
            TOR_PT_PROXY="http://%s:nope@127.0.0.1:%d" % (HTTP_USER, port))
        # tinyproxy answers 401 (not 407) to bad proxy credentials.
        self.assertEqual(self.socks_reply(caddr, "127.0.0.1", server_port), REP_NOT_ALLOWED)
        self.wait_log(log, r"CONNECT 127\.0\.0\.1:%d" % server_port, "the refused CONNECT")
        self.assertEqual(far.accepted, 0)

    def test_port_not_allowed(self):
        server_port = free_port()
        port, log = self.start_tinyproxy(free_port())
        far = self.echo_server()
        self.start_server_on(server_port, far)
        _, caddr = self.start_client(TOR_PT_PROXY="http://127.0.0.1:%d" % port)
        # 403 from the proxy: "not allowed" for the application.
        self.assertEqual(self.socks_reply(caddr, "127.0.0.1", server_port), REP_NOT_ALLOWED)
        self.wait_log(log, r"Refused CONNECT method on port %d" % server_port,
                      "refused CONNECT")
        self.assertEqual(far.accepted, 0)

    def test_proxy_not_listening(self):
        self.assert_proxy_not_listening("http")


class BytesAfterTheAnswerTest(UpstreamProxyTestCase):
    """The far end's first bytes can arrive in the same segment as the
    proxy's answer; they belong to the tunnel and must reach the
    application. No real proxy can be made to do that on demand, so here a
    scripted one answers and sends them in one write (with plain on both
    ends of the client, what it sends is what the application reads)."""

    def scripted_proxy(self, answer):
        requests = []

        def handler(conn):
            buf = b""
            while b"\r\n\r\n" not in buf and len(buf) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            requests.append(buf)
            conn.sendall(answer + b"FIRST-BYTES\x00\r\n\r\n")
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)

        return self.server_socket(handler), requests

    def test_http_answer_and_first_bytes_together(self):
        proxy, requests = self.scripted_proxy(
            b"HTTP/1.1 200 Connection established\r\nX-A: b\r\n\r\n")
        _, caddr = self.start_client(TOR_PT_PROXY="http://127.0.0.1:%d" % proxy.port)
        s = socks5_connect(caddr, "192.0.2.1", 4433, timeout=tmo(30))
        self.addCleanup(s.close)
        self.assertEqual(recv_exact(s, 16), b"FIRST-BYTES\x00\r\n\r\n")
        s.sendall(b"ping")
        self.assertEqual(recv_exact(s, 4), b"ping")
        self.assertEqual(requests, [b"CONNECT 192.0.2.1:4433 HTTP/1.1\r\n"
                                    b"Host: 192.0.2.1:4433\r\n\r\n"])


if __name__ == "__main__":
    unittest.main()
