"""transparent-UDP mode (PT 2.1 s1.5), black-box: an application's
datagrams to the client's UDP port reach a UDP service behind the server,
and the replies come back to the address they answer.

- Datagrams of 0, 1, 1,400, 8,192 and 65,507 bytes echoed intact.
- The first datagram from a new source is not lost to the connection
  being made (-udpqueue); with -udpqueue 0 it is, as the spec's table
  says, and the next one gets through.
- 200 exchanges from 20 source ports at once, each answer to its own
  asker.
- A connection no datagram used for -udptimeout seconds leaves the pool:
  the next datagram from that source comes to the service from a new
  socket of the server's.
- dnsmasq (a real DNS server, static records, loopback high port) behind
  the server: dig's first query through the client answered, then 200
  queries from 20 source ports (10 each), every answer correct.
- The same sizes over obfs4 and shadow, not just plain; IPv6 on both
  sides; the reference dispatcher's -transparent -udp spelling.
"""

import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time

from ptdtest import free_port, seeded_bytes, tmo
from udptest import UdpTestCase, exchange, udp_socket

MODE = "transparent-UDP"


def dns_query(qid, name):
    """A DNS query (RFC 1035 s4.1) for name's A record, recursion desired."""
    q = b"".join(bytes([len(label)]) + label for label in name.split(b".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def dns_answer(msg, qid):
    """The first A record's address in a response to query qid, or None."""
    if not msg or len(msg) < 12:
        return None
    rid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    if rid != qid or not flags & 0x8000 or an < 1:
        return None
    i = 12
    for _ in range(qd):  # skip the question
        while msg[i]:
            i += msg[i] + 1
        i += 5
    while i + 12 <= len(msg):
        if msg[i] & 0xc0 == 0xc0:
            i += 2
        else:
            while msg[i]:
                i += msg[i] + 1
            i += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(msg[i:i + 4])
        i += rdlen
    return None


class TransparentUdpTest(UdpTestCase):

    def test_sizes_echoed_intact(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair(MODE, echo.hostport)
        s = udp_socket()
        self.addCleanup(s.close)
        for n in (1, 0, 1400, 8192, 65507):
            with self.subTest(size=n):
                data = seeded_bytes(n + 1, n)
                self.assertEqual(exchange(s, caddr, data, tries=3), data)

    def test_first_datagram_is_kept_while_connecting(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair(MODE, echo.hostport)
        for i in range(5):
            s = udp_socket()
            self.addCleanup(s.close)
            data = b"first %d" % i
            # One try: a datagram dropped while connecting never comes back.
            self.assertEqual(exchange(s, caddr, data, timeout=tmo(5)), data)

    def test_queue_zero_drops_while_waiting(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair(MODE, echo.hostport, client_args=("-udpqueue", "0"))
        s = udp_socket()
        self.addCleanup(s.close)
        self.assertIsNone(exchange(s, caddr, b"dropped", timeout=1.0))
        # Connected by now (or soon): later datagrams go through.
        self.assertEqual(exchange(s, caddr, b"kept", tries=5, timeout=tmo(10)), b"kept")
        # The first never got past the client; "kept" may have been sent
        # more than once (a resend while the echo was slow).
        self.assertEqual(set(echo.first), {b"kept"})

    def test_many_sources_each_get_their_answers(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair(MODE, echo.hostport)
        errors = []

        def asker(k):
            s = udp_socket()
            try:
                for j in range(10):
                    data = b"%d:%d:" % (k, j) + seeded_bytes(k * 100 + j, 100 + k)
                    got = exchange(s, caddr, data, tries=3)
                    if got != data:
                        errors.append((k, j, got))
            finally:
                s.close()

        threads = [threading.Thread(target=asker, args=(k,)) for k in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=tmo(60))
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        # One server-side socket per source: 20 senders at the echo server.
        self.assertEqual(len(echo.senders), 20)

    def test_idle_connection_leaves_the_pool(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair(MODE, echo.hostport, client_args=("-udptimeout", "1"),
                                    server_args=("-udptimeout", "30"))
        s = udp_socket()
        self.addCleanup(s.close)
        self.assertEqual(exchange(s, caddr, b"one", tries=3), b"one")
        self.assertEqual(exchange(s, caddr, b"two", tries=3), b"two")
        self.assertEqual(len(echo.senders), 1)
        # The timer is re-armed lazily, so the end comes between 1 and 2 s
        # after the last datagram; the server's close follows.
        time.sleep(3.5)
        # The client closed its connection; the server saw it close and
        # dropped its socket: a new connection, a new socket.
        self.assertEqual(exchange(s, caddr, b"three", tries=3), b"three")
        self.assertEqual(len(echo.senders), 2)

    def test_dnsmasq_behind_the_server(self):
        dnsmasq, dig = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", shutil.which("dig")
        for path, pkg in ((dnsmasq, "dnsmasq"), (dig, "dnsutils")):
            if not path or not os.access(path, os.X_OK):
                raise AssertionError("%s not found: apt-get install %s" % (pkg, pkg))
        port = free_port()
        d = self.launch_argv([dnsmasq, "--keep-in-foreground", "--no-daemon", "--conf-file=/dev/null",
                              "--no-resolv", "--no-hosts", "--bind-interfaces",
                              "--listen-address=127.0.0.1", "--port=%d" % port, "--user=root",
                              "--address=/ptd-test.example/10.20.30.40",
                              "--address=/other.ptd-test.example/10.20.30.41",
                              "--log-facility=-"], clear_env=False)
        deadline = time.monotonic() + tmo(10)
        probe = udp_socket()
        self.addCleanup(probe.close)
        while time.monotonic() < deadline:
            # A real query, so we know it answers before the test starts.
            r = subprocess.run([dig, "@127.0.0.1", "-p", str(port), "+short", "+tries=1",
                                "+time=1", "ptd-test.example", "A"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=tmo(10))
            if r.stdout.strip() == b"10.20.30.40":
                break
            time.sleep(0.1)
        else:
            self.fail("dnsmasq did not answer\n%s" % d.describe())
        _, caddr, _ = self.udp_pair(MODE, "127.0.0.1:%d" % port)

        def ask(name, want):
            r = subprocess.run([dig, "@%s" % caddr[0], "-p", str(caddr[1]), "+short",
                                "+tries=1", "+time=%d" % int(tmo(5)), name, "A"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=tmo(30))
            return r.stdout.strip() == want, r.stdout

        ok, out = ask("ptd-test.example", b"10.20.30.40")
        self.assertTrue(ok, "dig's first query was not answered: %r" % out)
        # 200 queries from 20 source ports (one socket each, 10 queries
        # apiece, alternating names), every answer checked.
        errors = []

        def asker(k):
            s = udp_socket()
            try:
                for j in range(10):
                    name, want = ((b"ptd-test.example", "10.20.30.40") if (j + k) % 2 else
                                  (b"other.ptd-test.example", "10.20.30.41"))
                    qid = (k * 16 + j) & 0xffff
                    got = exchange(s, caddr, dns_query(qid, name), tries=3)
                    if dns_answer(got, qid) != want:
                        errors.append((k, j, got))
            finally:
                s.close()

        threads = [threading.Thread(target=asker, args=(k,)) for k in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=tmo(90))
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])

    def test_over_obfs4_and_shadow(self):
        echo = self.udp_echo()
        setups = {
            "obfs4": dict(server_options="obfs4:iat-mode=0",
                          client_options=lambda a: "obfs4:cert=%s;obfs4:iat-mode=0" % a["cert"]),
            "shadow": dict(server_options="shadow:password=udp-pw;shadow:cipherName=aes-128-gcm",
                           client_options="shadow:password=udp-pw;shadow:cipherName=aes-128-gcm"),
        }
        for transport, kw in setups.items():
            with self.subTest(transport=transport):
                _, caddr, _ = self.udp_pair(MODE, echo.hostport, transport=transport, **kw)
                s = udp_socket()
                self.addCleanup(s.close)
                for n in (1, 1400, 65507):
                    data = seeded_bytes(n, n)
                    self.assertEqual(exchange(s, caddr, data, tries=3), data)

    def test_reference_flags(self):
        # shapeshifter-dispatcher's spelling: -transparent -udp on the
        # client is transparent-UDP, and the CMETHOD line says so.
        echo = self.udp_echo()
        senv = self.server_env(orport=echo.hostport, TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0")
        server = self.launch(args=("-transparent", "-udp"), env=senv)
        server.wait_done(tmo(30))
        _, shost, sport, _ = server.methods()["plain"]
        client = self.launch(args=("-transparent", "-udp", "-target", "%s:%d" % (shost, sport)),
                             env=self.client_env())
        client.wait_done(tmo(30))
        proto, chost, cport, _ = client.methods()["plain"]
        self.assertEqual(proto, "transparent-UDP")
        s = udp_socket()
        self.addCleanup(s.close)
        self.assertEqual(exchange(s, (chost, cport), b"ref", tries=3), b"ref")

    def test_ipv6_both_sides(self):
        echo = self.udp_echo("::1")
        _, caddr, _ = self.udp_pair(MODE, echo.hostport, client_args=("-proxylistenaddr", "[::1]:0"))
        self.assertEqual(caddr[0], "::1")
        s = udp_socket("::1")
        self.addCleanup(s.close)
        data = seeded_bytes(66, 1400)
        self.assertEqual(exchange(s, caddr, data, tries=3), data)
        self.assertEqual(echo.senders[0][0], "::1")
