"""The Extended ORPort on the server side, black-box.

A ptdispatch server runs the `plain` transport with
TOR_PT_EXTENDED_SERVER_PORT and TOR_PT_AUTH_COOKIE_FILE pointing at the
test bridge of extorport_server.py, which checks the SAFE_COOKIE hashes
and records USERADDR and TRANSPORT. `plain` has no wire format, so a plain
TCP connection to the SMETHOD address is a client.
"""

import os
import re
import socket
import time
import unittest

from extorport_server import ExtOrPortServer, cookie_file_bytes
from ptdtest import (EX_USAGE, PtdTestCase, duplex_transfer, echo_roundtrip, fmt_hostport,
                     recv_exact, seeded_bytes, set_big_buffers, sha256, tmo, wait_closed)

MIB = 1 << 20


def name_of(sock):
    """The socket's own address as USERADDR must give it."""
    return fmt_hostport(*sock.getsockname()[:2])


class ExtOrPortCase(PtdTestCase):

    def bridge(self, host="127.0.0.1", **kw):
        b = ExtOrPortServer(self.tempdir("ptd-extor-"), host=host, **kw)
        self.addCleanup(b.close)
        return b

    def ext_env(self, bridge, orport=None, **extra):
        env = self.server_env(orport=orport, **extra)
        env["TOR_PT_EXTENDED_SERVER_PORT"] = bridge.hostport
        env["TOR_PT_AUTH_COOKIE_FILE"] = bridge.cookie_path
        return env

    def start_ext_server(self, bridge, args=(), bindaddr="plain-127.0.0.1:0", **extra):
        env = self.ext_env(bridge, **extra)
        env["TOR_PT_SERVER_BINDADDR"] = bindaddr
        return self.start_server(env=env, args=args)

    def assert_session_ok(self, sess, client_name):
        """The handshake went through and the metadata names the client
        (client_name: its "ip:port" as name_of() gives it)."""
        self.assertEqual(sess.auth_type, 1, sess)
        self.assertTrue(sess.client_hash_ok, sess)
        self.assertEqual(sess.useraddr, client_name, sess)
        self.assertEqual(sess.transport, "plain", sess)
        self.assertEqual(sess.other_commands, [], sess)


class DataPathTest(ExtOrPortCase):

    def test_bulk_both_ways_after_okay(self):
        bridge = self.bridge()
        _, addr = self.start_ext_server(bridge)
        data = seeded_bytes(31, 8 * MIB)
        s = self.connect(addr, timeout=tmo(60))
        set_big_buffers(s)
        digest, n = duplex_transfer(s, data, time.monotonic() + tmo(120))
        self.assertEqual(n, len(data))
        self.assertEqual(digest, sha256(data))
        sess, = bridge.wait_sessions(1)
        self.assert_session_ok(sess, name_of(s))
        self.assertEqual(sess.echoed, len(data), sess)
        self.assertIsNone(sess.error, sess)

    def test_bytes_right_after_okay_reach_the_client(self):
        # Tor may send ORPort bytes in the same segment as OKAY.
        greeting = b"ORPORT-FIRST-BYTES"
        bridge = self.bridge(greeting=greeting)
        _, addr = self.start_ext_server(bridge)
        s = self.connect(addr)
        self.assertEqual(recv_exact(s, len(greeting)), greeting)
        self.assertEqual(echo_roundtrip(s, b"ping"), b"ping")

    def test_client_bytes_sent_before_okay(self):
        # The client talks first, and the bridge takes its time: nothing
        # may be lost while the handshake runs.
        bridge = self.bridge(okay_delay=0.5)
        _, addr = self.start_ext_server(bridge)
        s = self.connect(addr)
        early = seeded_bytes(5, 200000)
        s.sendall(early)
        self.assertEqual(recv_exact(s, len(early)), early)
        s.close()
        sess, = bridge.wait_sessions(1)
        self.assertEqual(sess.echoed, len(early), sess)

    def test_useraddr_and_transport_per_connection(self):
        bridge = self.bridge()
        _, addr = self.start_ext_server(bridge)
        names = []
        for i in range(3):
            s = self.connect(addr)
            names.append(name_of(s))
            self.assertEqual(echo_roundtrip(s, b"n%d" % i), b"n%d" % i)
            s.close()
        sessions = bridge.wait_sessions(3)
        self.assertEqual(sorted(x.useraddr for x in sessions), sorted(names))
        self.assertEqual({x.transport for x in sessions}, {"plain"})

    def test_extorport_wins_over_orport(self):
        bridge = self.bridge()
        orport = self.echo_server()
        env = self.ext_env(bridge, orport=orport.hostport)
        env["TOR_PT_SERVER_BINDADDR"] = "plain-127.0.0.1:0"
        _, addr = self.start_server(env=env)
        s = self.connect(addr)
        name = name_of(s)
        self.assertEqual(echo_roundtrip(s, b"which port?"), b"which port?")
        s.close()
        sess, = bridge.wait_sessions(1)
        self.assert_session_ok(sess, name)
        self.assertEqual(orport.accepted, 0)


class RefusalTest(ExtOrPortCase):

    def test_deny_closes_the_client_and_the_next_is_served(self):
        bridge = self.bridge()
        bridge.modes = ["deny"]
        state = self.tempdir("ptd-sstate-")
        _, addr = self.start_ext_server(
            bridge, args=["-enableLogging", "-logLevel", "INFO"], state=state)
        denied = self.connect(addr)
        denied.sendall(b"this must never reach the ORPort")
        self.assertTrue(wait_closed(denied, tmo(20)), "the denied client is still connected")
        first, = bridge.wait_sessions(1)
        self.assert_session_ok(first, name_of(denied))
        self.assertTrue(first.hung_up, first)
        self.assertIsNone(first.error, first)
        # The next client gets through the same process and bridge.
        s = self.connect(addr)
        name = name_of(s)
        self.assertEqual(echo_roundtrip(s, b"after a DENY"), b"after a DENY")
        s.close()
        _, second = bridge.wait_sessions(2)
        self.assert_session_ok(second, name)
        # One info line for the DENY, with the client's address scrubbed.
        with open(os.path.join(state, "ptdispatch.log"), errors="replace") as f:
            log = f.read()
        lines = [l for l in log.splitlines() if "denied" in l]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("[scrubbed]", lines[0])
        port = denied.getsockname()[1]
        self.assertIsNone(re.search(r"(?<!\d)%d(?!\d)" % port, log), log)
        self.assertNotIn(bridge.cookie.hex(), log.lower())

    def test_bad_server_hash_closes(self):
        bridge = self.bridge(default_mode="bad-hash")
        _, addr = self.start_ext_server(bridge)
        s = self.connect(addr)
        s.sendall(b"early bytes")
        self.assertTrue(wait_closed(s, tmo(20)), "the client is still connected")
        sess, = bridge.wait_sessions(1)
        # ptdispatch hung up without answering: no client hash, no metadata.
        self.assertTrue(sess.hung_up, sess)
        self.assertIsNone(sess.client_hash_ok, sess)
        self.assertIsNone(sess.useraddr, sess)
        self.assertIsNone(sess.error, sess)

    def test_silent_extorport_times_out(self):
        bridge = self.bridge(default_mode="silent")
        p, addr = self.start_ext_server(bridge, args=["-handshakeTimeout", "2"])
        s = self.connect(addr)
        # Bounded generously: what is tested is that it closes, not when.
        self.assertTrue(wait_closed(s, tmo(30)), "the client is still connected")
        sess, = bridge.wait_sessions(1)
        self.assertTrue(sess.hung_up, sess)
        self.assertTrue(p.alive(), p.describe())


class CookieFileTest(ExtOrPortCase):

    def fatal(self, cookie_path):
        bridge = self.bridge()
        env = self.ext_env(bridge)
        env["TOR_PT_AUTH_COOKIE_FILE"] = cookie_path
        p, rc = self.run_to_exit(env=env)
        line = self.assert_fatal(p, rc, "ENV-ERROR", EX_USAGE, version="1")
        self.assertIn('"%s"' % cookie_path, line)
        self.assertEqual(bridge.accepted, 0)
        return line

    def write(self, name, data):
        path = os.path.join(self.tempdir(), name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_missing(self):
        line = self.fatal(os.path.join(self.tempdir(), "no-such-cookie"))
        self.assertIn("No such file or directory", line)

    def test_short(self):
        line = self.fatal(self.write("short", cookie_file_bytes(b"x" * 31)))
        self.assertIn("too short: 63 bytes, want 64", line)

    def test_long(self):
        line = self.fatal(self.write("long", cookie_file_bytes(b"x" * 32) + b"\n"))
        self.assertIn("too long", line)

    def test_bad_header(self):
        data = bytearray(cookie_file_bytes(b"S" * 32))
        data[0:1] = b"#"
        line = self.fatal(self.write("header", bytes(data)))
        self.assertIn("no Extended ORPort cookie header", line)
        # The cookie itself is never echoed.
        self.assertNotIn("SSSS", line)

    def test_directory(self):
        line = self.fatal(self.tempdir())
        self.assertIn("not a regular file", line)

    def test_wrong_cookie_is_refused_by_the_bridge(self):
        # A well-formed cookie file with another cookie: the bridge's hash
        # does not verify, so no connection gets through.
        bridge = self.bridge()
        env = self.ext_env(bridge)
        env["TOR_PT_AUTH_COOKIE_FILE"] = self.write("other", cookie_file_bytes(b"\x00" * 32))
        env["TOR_PT_SERVER_BINDADDR"] = "plain-127.0.0.1:0"
        _, addr = self.start_server(env=env)
        s = self.connect(addr)
        self.assertTrue(wait_closed(s, tmo(20)), "the client is still connected")
        sess, = bridge.wait_sessions(1)
        self.assertIsNone(sess.client_hash_ok, sess)


class Ipv6Test(ExtOrPortCase):

    def test_ipv6_and_ipv4_listeners(self):
        # One bind address per transport (TOR_PT_SERVER_BINDADDR allows no
        # more), so the two families are two server processes sharing one
        # bridge, which itself listens on IPv6.
        bridge = self.bridge(host="::1")
        p6, addr6 = self.start_ext_server(bridge, bindaddr="plain-[::1]:0")
        self.assertTrue(re.search(r"^SMETHOD plain \[::1\]:\d+", "\n".join(p6.out), re.M),
                        p6.describe())
        p4, addr4 = self.start_ext_server(bridge, bindaddr="plain-127.0.0.1:0")
        s6 = self.connect(addr6)
        s4 = self.connect(addr4)
        self.assertEqual(s6.family, socket.AF_INET6)
        self.assertEqual(echo_roundtrip(s6, b"over v6"), b"over v6")
        self.assertEqual(echo_roundtrip(s4, b"over v4"), b"over v4")
        names = {name_of(s6), name_of(s4)}
        s6.close()
        s4.close()
        sessions = bridge.wait_sessions(2)
        self.assertEqual({x.useraddr for x in sessions}, names)
        self.assertTrue(any(x.useraddr.startswith("[::1]:") for x in sessions), sessions)
        for x in sessions:
            self.assertTrue(x.client_hash_ok, x)
            self.assertEqual(x.transport, "plain", x)


if __name__ == "__main__":
    unittest.main()
