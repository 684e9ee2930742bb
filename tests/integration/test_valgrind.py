"""ptdispatch under valgrind memcheck: no invalid access and no leak of any
kind (definite, indirect, possible or still reachable) after real traffic
and each way of stopping. Registered only for the non-sanitized build:
valgrind and AddressSanitizer cannot share a process."""

import os
import shutil
import signal
import threading
import time
import unittest

import json
import socket
import struct

from extorport_server import ExtOrPortServer
from obfs4test import (Bridge, client_request, close_delay, epoch_hour, options_env, read_for,
                       seed_with_delay, server_options, socks5_connect_userpass, socks5_request,
                       tor_userpass, CLIENT_MIN_PAD)
from ptdtest import (EX_USAGE, PtdTestCase, echo_roundtrip, recv_exact, seeded_bytes,
                     socks5_address, socks5_connect, socks5_greet, socks5_read_reply, tmo,
                     wait_closed)

VALGRIND_EXIT = 99
# Valgrind makes everything some 20-50 times slower.
SLOW = 6
# obfs4 server: a probe is held open, reading, for the handshake timeout
# plus the bridge's close delay (from its drbg-seed) after accept.
OBFS4_HANDSHAKE_TIMEOUT = 1
OBFS4_CLOSE_DELAY = 4


def valgrind_prefix():
    vg = shutil.which("valgrind")
    if not vg:
        raise AssertionError("valgrind not found: apt-get install valgrind "
                             "(scripts/deps.sh installs it)")
    return [vg, "-q", "--leak-check=full", "--show-leak-kinds=all",
            "--errors-for-leak-kinds=all", "--error-exitcode=%d" % VALGRIND_EXIT]


class BlackHole:
    """A TCP peer that reads everything and never answers: an obfs4
    client's handshake to it never completes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = 0

    def __call__(self, conn):
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.received += len(chunk)

    def got(self):
        with self.lock:
            return self.received


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

    def test_arguments_socks4_extorport_and_refusals(self):
        # The paths of the data-path issue: 0x09 and RFC 1929 arguments,
        # SOCKS4a, failure replies, and an Extended ORPort that says OKAY
        # to one connection and DENY to the next.
        bridge = ExtOrPortServer(self.tempdir("ptd-extor-"))
        self.addCleanup(bridge.close)
        bridge.modes.extend(["okay", "okay", "deny"])
        senv = self.server_env(orport=None, TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0",
                               TOR_PT_EXTENDED_SERVER_PORT=bridge.hostport,
                               TOR_PT_AUTH_COOKIE_FILE=bridge.cookie_path)
        server = self.start(senv)
        client = self.start(self.client_env())
        caddr, saddr = client.method_addr(), server.method_addr()
        request = b"\x05\x01\x00" + socks5_address(saddr[0]) + struct.pack("!H", saddr[1])
        slow = tmo(10) * SLOW

        s = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(s, (0, 2, 9)), 9)
        body = json.dumps({}).encode()
        s.sendall(struct.pack("!I", len(body)) + body + request)
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.assertEqual(echo_roundtrip(s, b"json"), b"json")

        s4 = self.connect(caddr, timeout=slow)
        s4.sendall(struct.pack("!BBH", 4, 1, saddr[1]) + b"\x00\x00\x00\x01\x00" +
                   saddr[0].encode() + b"\x00")
        self.assertEqual(recv_exact(s4, 8)[1], 0x5A)
        self.assertEqual(echo_roundtrip(s4, b"socks4a"), b"socks4a")

        up = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(up, (2,)), 2)
        up.sendall(b"\x01\x03k=v\x01\x00")
        self.assertEqual(recv_exact(up, 2), b"\x01\x00")
        up.sendall(request)
        self.assertEqual(socks5_read_reply(up)[0], 0x13)

        bad = self.connect(caddr, timeout=slow)
        self.assertEqual(socks5_greet(bad, (9,)), 9)
        bad.sendall(struct.pack("!I", 3) + b"[1]")
        self.assertEqual(recv_exact(bad, 2), b"\x05\x12")

        denied = socks5_connect(caddr, saddr[0], saddr[1], timeout=slow)
        self.addCleanup(denied.close)
        self.assertTrue(wait_closed(denied, slow), "DENY did not close the connection")

        for p in (client, server):
            p.send_signal(signal.SIGTERM)
        self.assert_clean_exit(client)
        self.assert_clean_exit(server)

    def obfs4_server(self, orport, iat_mode, label):
        """A ptdispatch obfs4 server under valgrind, with a fixed identity
        whose close delay is OBFS4_CLOSE_DELAY."""
        seed = seed_with_delay(OBFS4_CLOSE_DELAY)
        self.assertEqual(close_delay(seed), OBFS4_CLOSE_DELAY)
        opts = server_options(seed, iat_mode, label=label)
        state = self.tempdir("ptd-vg-o4s-")
        env = self.server_env(transports="obfs4", orport=orport, state=state,
                              TOR_PT_SERVER_BINDADDR="obfs4-127.0.0.1:0",
                              TOR_PT_SERVER_TRANSPORT_OPTIONS=options_env(opts))
        p = self.start(env, args=("-handshakeTimeout", str(OBFS4_HANDSHAKE_TIMEOUT)))
        return Bridge(p, "ptdispatch", state)

    def test_obfs4_traffic_probes_then_sigterm_with_a_probe_open(self):
        # The codec, its pacing timers, the probe path (discard, close
        # delay) and both roles' handshake states, then a shutdown that
        # must free a connection still held open for a prober.
        slow = tmo(10) * SLOW
        echo = self.echo_server()
        bridge = self.obfs4_server(echo.hostport, 0, b"ptd-valgrind-obfs4")
        paced = self.obfs4_server(echo.hostport, 2, b"ptd-valgrind-obfs4-paced")
        self.assertEqual(paced.iat_mode, "2")
        client = self.start(self.client_env(transports="obfs4"))
        socks = client.method_addr("obfs4")

        # A probe: by the time the traffic below is done, the server has
        # given up on it and, after its close delay, closed it.
        early = self.connect(bridge.addr, timeout=slow)
        early.sendall(seeded_bytes(41, 20000))

        s = socks5_connect_userpass(socks, bridge.addr[0], bridge.addr[1],
                                    bridge.client_args(), timeout=slow)
        self.addCleanup(s.close)
        data = seeded_bytes(42, 1 << 20)
        self.assertEqual(echo_roundtrip(s, data), data)

        # iat-mode 2 both ways: the server's from its state, the client's
        # from the bridge's arguments.
        p = socks5_connect_userpass(socks, paced.addr[0], paced.addr[1],
                                    paced.client_args(), timeout=slow)
        self.addCleanup(p.close)
        small = seeded_bytes(43, 20000)
        self.assertEqual(echo_roundtrip(p, small), small)

        # The client's handshake to a peer that never answers, abandoned
        # by the application once the request has gone out.
        hole = BlackHole()
        hole_srv = self.server_socket(hole)
        m = self.connect(socks, timeout=slow)
        self.assertEqual(socks5_greet(m, (2,)), 2)
        uname, passwd = tor_userpass(bridge.client_args())
        m.sendall(bytes([1, len(uname)]) + uname + bytes([len(passwd)]) + passwd)
        self.assertEqual(recv_exact(m, 2), b"\x01\x00")
        m.sendall(socks5_request(hole_srv.host, hole_srv.port))
        deadline = time.monotonic() + slow
        while hole.got() < 64 + CLIENT_MIN_PAD and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(hole.got(), 64 + CLIENT_MIN_PAD, "no obfs4 request reached "
                                "the black hole")
        m.close()

        # A client that leaves the server mid-handshake: half a request
        # (right mark and MAC, so a whole one would be answered), then EOF.
        half = self.connect(bridge.addr, timeout=slow)
        req = client_request(bridge.cert, epoch_hour(), padlen=CLIENT_MIN_PAD + 500)
        half.sendall(req[:len(req) // 2])
        half.shutdown(socket.SHUT_WR)
        self.assertEqual(read_for(half, slow), (b"", True))

        got, closed = read_for(early, slow)
        self.assertEqual(got, b"", "the server answered a probe")
        self.assertTrue(closed, "the server did not close the probe after its close delay")

        # A probe still open at SIGTERM, past its handshake timeout (its
        # close delay running): the server keeps reading and says nothing.
        late = self.connect(bridge.addr, timeout=slow)
        late.sendall(seeded_bytes(44, 9000))
        time.sleep(OBFS4_HANDSHAKE_TIMEOUT + 0.5)
        late.sendall(seeded_bytes(45, 9000))
        self.assertEqual(read_for(late, 0.2), (b"", False))
        self.assertEqual(echo_roundtrip(s, b"still up"), b"still up")

        for proc in (client, bridge.proc, paced.proc):
            proc.send_signal(signal.SIGTERM)
        for proc in (client, bridge.proc, paced.proc):
            self.assert_clean_exit(proc)

    def test_shadow_traffic_probe_open_proxy_then_sigterm(self):
        # The shadow codecs both ways, the client's header timer (a
        # connection quiet past SHADOW_HEADER_WAIT_MS), the server's
        # discard path, an open-proxy refusal, then a shutdown with a
        # probe still held.
        slow = tmo(10) * SLOW
        echo = self.echo_server()
        opts = {"password": "ptd-valgrind-shadow", "cipherName": "aes-128-gcm"}
        server = self.start(self.server_env(
            transports="shadow", orport=echo.hostport,
            TOR_PT_SERVER_BINDADDR="shadow-127.0.0.1:0",
            TOR_PT_SERVER_TRANSPORT_OPTIONS=options_env(opts, "shadow")),
            args=("-handshakeTimeout", "1"))
        proxy = self.start(self.server_env(
            transports="shadow", orport=echo.hostport,
            TOR_PT_SERVER_BINDADDR="shadow-127.0.0.1:0",
            TOR_PT_SERVER_TRANSPORT_OPTIONS=options_env(dict(opts, openProxy="true"),
                                                        "shadow")))
        client = self.start(self.client_env(transports="shadow"))
        socks = client.method_addr("shadow")
        saddr, paddr = server.method_addr("shadow"), proxy.method_addr("shadow")

        probe = self.connect(saddr, timeout=slow)
        self.addCleanup(probe.close)
        probe.sendall(seeded_bytes(51, 5000))

        s = socks5_connect_userpass(socks, saddr[0], saddr[1], opts, timeout=slow)
        self.addCleanup(s.close)
        time.sleep(0.3)  # the header goes alone, from the timer
        data = seeded_bytes(52, 1 << 20)
        self.assertEqual(echo_roundtrip(s, data), data)

        # The open proxy refuses the loopback echo server: closed, no reply.
        r = socks5_connect_userpass(socks, paddr[0], paddr[1],
                                    dict(opts, target=echo.hostport), timeout=slow)
        self.addCleanup(r.close)
        r.sendall(b"refused?")
        self.assertEqual(read_for(r, slow), (b"", True))

        time.sleep(1.5)  # past the handshake timeout: the probe is held
        self.assertEqual(read_for(probe, 0.2), (b"", False))
        self.assertEqual(echo_roundtrip(s, b"still up"), b"still up")
        for proc in (client, server, proxy):
            proc.send_signal(signal.SIGTERM)
        for proc in (client, server, proxy):
            self.assert_clean_exit(proc)

    def test_udp_modes_traffic_timeout_then_sigterm(self):
        # Both UDP modes on both roles: the pool, the queue while a
        # connection is made, the framers both ways, an idle timeout that
        # ends a connection, junk dropped in STUN mode, and a SIGTERM with
        # connections still in the pool.
        from udptest import UdpEcho, exchange, stun_binding_request, udp_socket
        slow = tmo(10) * SLOW
        echo = UdpEcho()
        self.addCleanup(echo.close)
        procs = []
        addrs = {}
        for mode in ("transparent-UDP", "STUN"):
            server = self.start(self.server_env(orport=echo.hostport,
                                                TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0"),
                                args=("-mode", mode, "-udptimeout", "1"))
            saddr = server.method_addr()
            client = self.start(self.client_env(),
                                args=("-mode", mode, "-target", "%s:%d" % saddr,
                                      "-udptimeout", "1"))
            procs += [server, client]
            addrs[mode] = client.method_addr()
        s = udp_socket()
        self.addCleanup(s.close)
        big = seeded_bytes(61, 30000)
        self.assertEqual(exchange(s, addrs["transparent-UDP"], big, timeout=slow), big)
        req, _ = stun_binding_request()
        self.assertEqual(exchange(s, addrs["STUN"], req, timeout=slow), req)
        self.assertIsNone(exchange(s, addrs["STUN"], b"not stun", timeout=0.5))
        time.sleep(3)  # both connections time out and leave the pools
        self.assertEqual(exchange(s, addrs["transparent-UDP"], b"again", timeout=slow),
                         b"again")
        t = udp_socket()
        self.addCleanup(t.close)
        self.assertEqual(exchange(t, addrs["STUN"], req, timeout=slow), req)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            self.assert_clean_exit(proc)

    def test_env_error_path(self):
        env = self.server_env(TOR_PT_SERVER_BINDADDR="plain-host.example:1")
        p = self.launch(env=env, prefix=valgrind_prefix())
        self.assert_clean_exit(p, EX_USAGE)
        self.assertTrue(any(l.startswith("ENV-ERROR ") for l in p.out), p.describe())


if __name__ == "__main__":
    unittest.main()
