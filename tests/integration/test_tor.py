"""Tor as the parent, in a private Tor network on loopback (tornet.py): one
directory authority, one exit relay, a bridge whose managed proxy is
ptdispatch (ServerTransportPlugin, ExtORPort auto) and a client that reaches
the network only through that bridge with ptdispatch as its managed proxy
(ClientTransportPlugin, UseBridges). Nothing leaves loopback: every torrc
names only our authority, and every socket of every tor and of its children
is checked while the network runs.

Run once with plain and once with obfs4 (the client's Bridge line taken from
the obfs4_bridgeline.txt the bridge's ptdispatch wrote). Passing means: the
client fetched the bridge's descriptor through the tunnel and bootstrapped; the bridge's tor saw each connection arrive through
its Extended ORPort, authenticated, with the client's address and the
transport's name; traffic crosses the whole path to a local server behind
the exit; tor launched, configured and stopped both ptdispatch processes,
and none is left behind."""

import base64
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
import unittest

from ptdtest import (BINARY, SANITIZED, SANITIZER_MARKERS, PtdTestCase, echo_roundtrip, free_port,
                     pid_exe_is, pid_state, seeded_bytes, socks5_connect, tmo)
from tornet import (ControlConn, ControlError, TorNet, inet_sockets, outside_loopback, parse_ns,
                    read_text, tool)

MANAGED_LINE_RE = r"Got a line from managed proxy '[^']*': \((.*)\)"
SPAWNED_RE = r"Managed proxy at '([^']*)' has spawned with PID '(\d+)'"
PT_CONTEXT_RE = re.compile(r"ext_or|Extended ORPort|ExtORPort|managed proxy|pluggable transport|"
                           r"geoip_note_client_seen", re.I)


class TorPrivateNetworkTest(PtdTestCase):

    def setUp(self):
        super().setUp()
        for name in ("tor", "tor-gencert"):
            tool(name)
        tool("curl", "curl")
        base = tempfile.mkdtemp(prefix="ptd-tornet-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o700)
        # tor hands its environment to the ptdispatch it launches, whose
        # stderr dies with tor: sanitizer reports (a leak found at exit, say)
        # go to files the test reads after shutdown.
        self.sanitizer_logs = os.path.join(base, "sanitizer")
        env = {}
        if SANITIZED:
            for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
                opts = os.environ.get(var, "")
                env[var] = (opts + ":" if opts else "") + "log_path=" + self.sanitizer_logs
        self.net = TorNet(base, env=env)
        # Runs before the rmtree (cleanups are last in, first out), so a
        # failure still has every log to show.
        self.addCleanup(self.net.stop)

    def test_bridge_and_client_through_ptdispatch(self):
        self.run_network("plain")

    def test_obfs4_bridge_and_client_through_ptdispatch(self):
        """The same with obfs4: the client's Bridge line is the one the
        bridge's ptdispatch wrote in obfs4_bridgeline.txt, so tor hands the
        cert to ptdispatch in SOCKS RFC 1929 fields."""
        self.run_network("obfs4")

    def bridge_line(self, transport, bridge, pt_port):
        """The client's Bridge line: for obfs4, obfs4_bridgeline.txt from
        the bridge's pt_state directory with its placeholders filled in, as
        an operator would hand it out."""
        if transport == "plain":
            return "plain 127.0.0.1:%d %s" % (pt_port, bridge.fingerprint)
        path = os.path.join(bridge.datadir, "pt_state", "obfs4_bridgeline.txt")
        lines = [l for l in read_text(path).splitlines() if l.startswith("Bridge obfs4 ")]
        self.assertEqual(len(lines), 1, "%s:\n%s" % (path, read_text(path)))
        line = lines[0][len("Bridge "):]
        self.assertRegex(line, r"^obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> "
                         r"cert=[A-Za-z0-9+/]{70} iat-mode=0$")
        return (line.replace("<IP ADDRESS>", "127.0.0.1").replace("<PORT>", str(pt_port))
                .replace("<FINGERPRINT>", bridge.fingerprint))

    def run_network(self, transport):
        net = self.net
        self.transport = transport
        http = self.http_server(b"through a private tor network\n")
        echo = self.echo_server()
        pt_port = free_port()

        net.start_authority()
        net.start_exit([http.port, echo.port])
        bridge = net.start_bridge(transport, "exec " + BINARY, pt_port)
        # tor is not slowed by the sanitizers, ptdispatch is: only waits
        # that go through ptdispatch scale. A consensus takes about 5 s, the
        # client's bootstrap about as much.
        net.wait_consensus([net.exit.fingerprint, net.authority.fingerprint], 90)
        net.wait_log(bridge, r"Registered server transport '%s' at '127\.0\.0\.1:%d'"
                     % (transport, pt_port), tmo(30))
        client = net.start_client([self.bridge_line(transport, bridge, pt_port)],
                                  transport, "exec " + BINARY)
        net.wait_bootstrapped(client, tmo(60))
        # Recorded now, while both tors run, for the shutdown check.
        running_pts = {n.nickname: n.pt_children() for n in (client, bridge)}

        self.run_check("torrcs stay on loopback", self.check_torrcs)
        self.run_check("descriptor fetched through ptdispatch", self.check_descriptor,
                       client, bridge)
        self.run_check("bridge side arrived through the Extended ORPort", self.check_extorport,
                       client, bridge, pt_port)
        self.run_check("traffic through the exit", self.check_exit_traffic, client, http, echo)
        self.run_check("tor read every line ptdispatch wrote", self.check_managed_proxy_lines,
                       client, bridge, pt_port)
        self.run_check("no socket outside loopback", lambda: self.assertEqual(
            net.check_loopback(), [], "tor or ptdispatch left loopback"))
        self.run_check("stopping tor stops ptdispatch", self.check_shutdown,
                       client, bridge, running_pts)

    def run_check(self, name, check, *args):
        """Runs one check as a subTest, so that one failure does not hide
        the others; a failure carries the tails of every tor's log."""
        with self.subTest(name):
            try:
                check(*args)
            except Exception as e:
                # One report: where it failed, then the logs.
                raise AssertionError("%s\n%s" % ("".join(traceback.format_exception(e)).rstrip(),
                                                  self.net.describe(20))) from None

    def assert_log(self, node, level, pattern, present=True, hint=""):
        """Asserts that a line of node's log matches pattern (or, with
        present=False, that none does). A failure shows the last lines of
        that log that concern managed proxies and the ExtORPort, not the
        whole log."""
        text = read_text(node.log(level))
        m = re.search(pattern, text, re.M)
        if bool(m) != present:
            related = [l for l in text.splitlines() if PT_CONTEXT_RE.search(l)]
            self.fail("%s %r in %s %s\n%s" % ("no" if present else "unexpected",
                                              m.group(0) if m else pattern, node.log(level),
                                              hint, "\n".join(related[-30:])))

    # -- the checks --

    def check_torrcs(self):
        # Every torrc tor was given, including those that only made keys.
        keygens = glob.glob(os.path.join(self.net.base, "*", "keygen.torrc"))
        self.assertEqual(len(keygens), 3, keygens)  # authority, exit, bridge
        for path in [n.torrc for n in self.net.nodes] + keygens:
            text = read_text(path)
            lines = set(text.splitlines())
            self.assertRegex(text, r"(?m)^DirAuthority \w+ orport=\d+ no-v2 v3ident=[0-9A-F]{40}"
                             r" 127\.0\.0\.1:\d+ [0-9A-F]{40}$", path)
            self.assertEqual(len(re.findall(r"(?mi)^(Alternate)?DirAuthority ", text)), 1, path)
            self.assertLessEqual({"TestingTorNetwork 1", "UseDefaultFallbackDirs 0"}, lines, path)
            self.assertTrue({"OutboundBindAddress 127.0.0.1", "DisableNetwork 1"} & lines, path)
            addrs = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", text))
            self.assertEqual(addrs, {"127.0.0.1"}, path)

    def check_descriptor(self, client, bridge):
        net = self.net
        # "Bootstrapped 2% (conn_done_pt): Connected to pluggable transport"
        self.assert_log(client, "notice", r"\(conn_done_pt\): Connected to pluggable transport")
        # "new bridge descriptor 'ptdBridge' (fresh): $4BAF...~ptdBridge [...] at 127.0.0.1"
        self.assert_log(client, "notice", r"new bridge descriptor '%s' \(fresh\): \$%s~%s .* at "
                        r"127\.0\.0\.1$" % (bridge.nickname, bridge.fingerprint, bridge.nickname))
        # The descriptor tor holds is the one the bridge signed: its real
        # ORPort, which the client never dialled (it only knows the
        # transport's address).
        desc = client.getinfo("desc/id/" + bridge.fingerprint) or ""
        self.assertRegex(desc, r"(?m)^router %s 127\.0\.0\.1 %d 0 0$"
                         % (bridge.nickname, bridge.or_port), desc)
        self.assertEqual(net.bootstrap_progress(client), 100)
        # The client's only way out is its ptdispatch: apart from its
        # listeners and what they accepted, every socket the client tor has
        # goes to the SOCKS port of its own child.
        pts = client.pt_children()
        self.assertEqual(len(pts), 1, "client tor children: %r" % pts)
        pt_socks = {l[1] for p, l, r in inet_sockets(pts[0]) if p == "tcp" and r[1] == 0}
        mine = inet_sockets(client.pid)
        listening = {l[1] for p, l, r in mine if r[1] == 0}
        outgoing = [r for p, l, r in mine if r[1] != 0 and l[1] not in listening]
        self.assertTrue(outgoing, "the client tor has no connection open")
        for remote in outgoing:
            self.assertEqual(remote[0], "127.0.0.1")
            self.assertIn(remote[1], pt_socks, "client tor connected to %r, not to its "
                          "ptdispatch (listening on %r)" % (remote, pt_socks))

    def check_extorport(self, client, bridge, pt_port):
        # What tor 0.4.9 writes for a managed proxy that uses the Extended
        # ORPort properly (seen with obfs4proxy as the bridge's proxy):
        #   connection_ext_or_auth_handle_client_hash(): Got client's hash
        #       and it was legit.
        #   connection_ext_or_handle_cmd_useraddr(): Received USERADDR.We
        #       rewrite our address from '127.0.0.1:58898' to
        #       '127.0.0.1:35070'.
        #   connection_ext_or_process_inbuf(): Received DONE.
        #   geoip_note_client_seen(): Seen client from '127.0.0.1' with
        #       transport 'obfs4'.
        hint = "(does ptdispatch's server side use TOR_PT_EXTENDED_SERVER_PORT?)"
        self.assert_log(bridge, "debug", r"Got client's hash and it was legit\.$", hint=hint)
        self.assert_log(bridge, "debug", r"Incorrect client hash", present=False)
        self.assert_log(bridge, "debug", r"Received DONE\.$", hint=hint)
        self.assert_log(bridge, "debug", r"Seen client from '127\.0\.0\.1' with transport "
                        r"'%s'\.$" % self.transport, hint=hint)
        self.assert_log(bridge, "debug", r"with transport '<\?\?>'", present=False)
        debug = read_text(bridge.log("debug"))
        # USERADDR names the far end of the transport connection, i.e. the
        # client ptdispatch's own socket to the bridge's transport port.
        told = {int(p) for p in re.findall(
            r"Received USERADDR\.We rewrite our address from '127\.0\.0\.1:\d+' to "
            r"'127\.0\.0\.1:(\d+)'\.", debug)}
        self.assertTrue(told, "no USERADDR received")
        pts = client.pt_children()
        self.assertEqual(len(pts), 1, "client tor children: %r" % pts)
        client_side = {l[1] for p, l, r in inet_sockets(pts[0]) if r == ("127.0.0.1", pt_port)}
        self.assertTrue(told & client_side,
                        "USERADDR ports %r, client ptdispatch's ports toward the bridge %r"
                        % (sorted(told), sorted(client_side)))

    def check_exit_traffic(self, client, http, echo):
        net = self.net
        socks = net.socks_addr(client)
        # Bootstrapped is not the same as knowing an exit: a client that
        # fetched the consensus of the moment before the exit's descriptor
        # was in it fails every stream at once ("No available nodes").
        # Tor's directory timing is not what this test is about: wait for
        # the client to list the exit as one, then ask.
        net.wait("the client to know the exit",
                 lambda: re.search(r"(?m)^s .*\bExit\b",
                                   client.getinfo("ns/id/" + net.exit.fingerprint) or ""),
                 tmo(60))
        # A real SOCKS client: curl resolves nothing itself, tor's exit
        # connects to the HTTP server. A first stream may still race the
        # client's circuit building; a few tries, bounded.
        for attempt in range(3):
            res = subprocess.run(
                [tool("curl", "curl"), "-sS", "--max-time", str(int(tmo(60))),
                 "--socks5-hostname", "%s:%d" % socks, "http://127.0.0.1:%d/" % http.port],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=tmo(90),
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            if res.returncode != 97:  # 97: the SOCKS request refused
                break
            time.sleep(2)
        self.assertEqual(res.returncode, 0, "curl: %s" % res.stderr.decode(errors="replace"))
        self.assertEqual(res.stdout, b"through a private tor network\n")
        # Bytes both ways, checked exactly, through SOCKS5 from here.
        data = seeded_bytes(7, 200000)
        s = socks5_connect(socks, "127.0.0.1", echo.port, timeout=tmo(60))
        self.addCleanup(s.close)
        self.assertEqual(echo_roundtrip(s, data), data)
        s.close()

    def check_managed_proxy_lines(self, client, bridge, pt_port):
        cinfo = read_text(client.log("info"))
        got = re.findall(MANAGED_LINE_RE, cinfo)
        self.assertGreaterEqual(len(got), 4, got)
        self.assertEqual(got[0], "VERSION 1", got)
        self.assertRegex(got[1], r"^STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=")
        self.assertRegex(got[2], r"^CMETHOD %s socks5 127\.0\.0\.1:\d+$" % self.transport)
        self.assertEqual(got[3], "CMETHODS DONE")
        binfo = read_text(bridge.log("info"))
        got = re.findall(MANAGED_LINE_RE, binfo)
        if self.transport == "plain":
            self.assertIn("SMETHOD plain 127.0.0.1:%d" % pt_port, got)
        else:
            smethods = [l for l in got if l.startswith("SMETHOD ")]
            self.assertEqual(len(smethods), 1, got)
            self.assertRegex(smethods[0], r"^SMETHOD obfs4 127\.0\.0\.1:%d "
                             r"ARGS:cert=[A-Za-z0-9+/]{70},iat-mode=0$" % pt_port)
        self.assertIn("SMETHODS DONE", got)
        for node in (client, bridge):
            self.assert_log(node, "info", r"Unknown line received by managed proxy",
                            present=False)
            for marker in SANITIZER_MARKERS:
                self.assert_log(node, "info", re.escape(marker), present=False)

    def check_shutdown(self, client, bridge, running_pts):
        for node in (client, bridge):
            # Every ptdispatch this tor ever spawned, by its own account.
            spawned = [int(pid) for path, pid in
                       re.findall(SPAWNED_RE, read_text(node.log("info")))
                       if os.path.realpath(path) == os.path.realpath(BINARY)]
            self.assertEqual(len(spawned), 1, "%s spawned %r" % (node.nickname, spawned))
            self.assertEqual(running_pts[node.nickname], spawned,
                             "%s's children while running" % node.nickname)
            self.assertTrue(pid_exe_is(spawned[0], BINARY), "%d is not ptdispatch" % spawned[0])
            node.proc.send_signal(signal.SIGTERM)
            self.assertEqual(node.proc.wait_exit(tmo(30)), 0,
                             "%s\n%s" % (node.nickname, node.describe()))
            deadline = time.monotonic() + tmo(10)
            while pid_state(spawned[0]) not in (None, "Z") and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn(pid_state(spawned[0]), (None, "Z"),
                          "%s's ptdispatch %d outlived its tor" % (node.nickname, spawned[0]))
        reports = glob.glob(self.sanitizer_logs + ".*")
        self.assertEqual(reports, [], "sanitizer reports from ptdispatch:\n%s"
                         % "\n".join(read_text(r) for r in reports))


class TornetHelpersTest(PtdTestCase):
    """The parts of tornet.py that decide whether the network is up and
    whether it stayed on loopback, against known input."""

    def test_control_replies(self):
        got = []

        def controller(conn):
            f = conn.makefile("rb")
            for reply in (b"250 OK\r\n",
                          b"250-version=0.4.9.11\r\n250 OK\r\n",
                          b"250+ns/all=\r\nr a b\r\n..dot\r\n.\r\n250 OK\r\n",
                          b'552 Unrecognized key "nope"\r\n',
                          b"250 OK\r\n"):
                got.append(f.readline())
                conn.sendall(reply)
            f.close()

        srv = self.server_socket(controller)
        ctl = ControlConn(srv.addr, b"\x01\xfe", timeout=tmo(10))
        self.addCleanup(ctl.close)
        self.assertEqual(ctl.getinfo("version"), "0.4.9.11")
        self.assertEqual(ctl.getinfo("ns/all"), "r a b\n.dot")
        with self.assertRaises(ControlError):
            ctl.getinfo("nope")
        with self.assertRaises(ControlError):  # a reply without the key
            ctl.getinfo("version")
        self.assertEqual(got, [b"AUTHENTICATE 01fe\r\n", b"GETINFO version\r\n",
                               b"GETINFO ns/all\r\n", b"GETINFO nope\r\n",
                               b"GETINFO version\r\n"])

    def test_parse_ns(self):
        ident = bytes(range(20))
        text = "\n".join([
            "r ptdExit %s x 2026-01-01 00:00:00 127.0.0.1 5000 0"
            % base64.b64encode(ident).decode().rstrip("="),
            "a [::1]:5000",
            "s Exit Fast Running Valid",
            "w Bandwidth=0"])
        self.assertEqual(parse_ns(text), {ident.hex().upper(): {"Exit", "Fast", "Running",
                                                                "Valid"}})
        self.assertEqual(parse_ns(""), {})

    def test_outside_loopback(self):
        for local, remote, bad in (
                (("127.0.0.1", 5), ("0.0.0.0", 0), False),      # listener
                (("127.0.0.1", 5), ("127.0.0.1", 6), False),
                (("127.0.0.2", 5), ("127.9.9.9", 6), False),
                (("::1", 5), ("::", 0), False),
                (("::ffff:127.0.0.1", 5), ("::ffff:127.0.0.1", 6), False),
                (("0.0.0.0", 5), ("0.0.0.0", 0), True),          # listener on all
                (("::", 5), ("::", 0), True),
                (("127.0.0.1", 5), ("192.0.2.1", 6), True),
                (("10.0.0.1", 5), ("192.0.2.1", 6), True),
                (("::1", 5), ("2001:db8::1", 6), True)):
            self.assertEqual(outside_loopback(local, remote), bad, (local, remote))

    def test_inet_sockets_sees_our_own(self):
        # The /proc parsing, on sockets of this very process: ports and
        # addresses in both families.
        srv = self.echo_server()
        s = self.connect(srv.addr)
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.addCleanup(u.close)
        u.bind(("::1", 0))
        u.connect(("::1", srv.port))
        mine = inet_sockets(os.getpid())
        self.assertIn(("tcp", s.getsockname()[:2], srv.addr), mine)
        self.assertIn(("tcp", srv.addr, ("0.0.0.0", 0)), mine)
        self.assertIn(("udp6", ("::1", u.getsockname()[1]), ("::1", srv.port)), mine)


if __name__ == "__main__":
    unittest.main()
