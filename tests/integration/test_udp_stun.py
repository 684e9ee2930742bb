"""STUN mode (PT 2.1 s1.5.4-1.5.5), black-box, with coturn: the TURN
server (turnserver, loopback, a static long-term-credential user, UDP
only) sits behind a ptdispatch server in STUN mode; coturn's own test
clients talk to the client ptdispatch's STUN port as if it were the TURN
server.

- turnutils_stunclient: a Binding request through the tunnel is
  answered with a reflexive address (the server ptdispatch's socket).
- turnutils_uclient: allocations with credentials, permissions, channel
  binds, then data through the channels (ChannelData, padded to 4 bytes
  over the stream) to a UDP echo peer (turnutils_peer) and back, for two
  message sizes and several clients at once: nothing lost.
- Datagrams that are not STUN or ChannelData are dropped at the client
  and never reach the TURN server; the tunnel keeps working.
- With a UDP echo server in the TURN server's place, what arrives there
  is exactly the valid messages: STUN as sent, ChannelData without the
  padding a client may add (the stream carries it padded to 4 bytes).
"""

import os
import re
import shutil
import socket
import subprocess
import time

from ptdtest import free_port, tmo
from udptest import UdpTestCase, exchange, stun_answers, stun_binding_request, udp_socket

TURN_USER, TURN_PASS, TURN_REALM = "ptd", "turn-s3cret", "ptd.test"


def need(name, pkg):
    path = shutil.which(name) or os.path.join("/usr/bin", name)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not found: apt-get install %s" % (name, pkg))
    return path


class StunModeTest(UdpTestCase):

    def setUp(self):
        super().setUp()
        self.turnserver = need("turnserver", "coturn")
        self.uclient = need("turnutils_uclient", "coturn")
        self.stunclient = need("turnutils_stunclient", "coturn")
        self.peer_bin = need("turnutils_peer", "coturn")

    def start_turn(self):
        d = self.tempdir("ptd-turn-")
        port = free_port()
        relay_lo = 40000 + (port % 200) * 100
        conf = os.path.join(d, "turnserver.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "listening-ip=127.0.0.1", "listening-port=%d" % port, "relay-ip=127.0.0.1",
                "min-port=%d" % relay_lo, "max-port=%d" % (relay_lo + 99),
                "lt-cred-mech", "user=%s:%s" % (TURN_USER, TURN_PASS), "realm=%s" % TURN_REALM,
                "no-tls", "no-dtls", "no-tcp-relay", "fingerprint", "allow-loopback-peers",
                "no-cli", "no-multicast-peers", "pidfile=%s" % os.path.join(d, "turn.pid"),
                "log-file=stdout", "simple-log", ""]))
        p = self.launch_argv([self.turnserver, "-c", conf], clear_env=False)
        # Ready once a Binding request straight to it is answered.
        deadline = time.monotonic() + tmo(15)
        while time.monotonic() < deadline:
            if stun_answers(("127.0.0.1", port), timeout=0.5):
                return p, port
            time.sleep(0.1)
        self.fail("turnserver did not answer\n%s" % p.describe())

    def start_peer(self):
        port = free_port()
        p = self.launch_argv([self.peer_bin, "-p", str(port), "-L", "127.0.0.1"],
                             clear_env=False)
        time.sleep(0.3)
        return p, port

    def tunnel(self, turn_port, **kw):
        return self.udp_pair("STUN", "127.0.0.1:%d" % turn_port, **kw)

    def test_binding_request_answered(self):
        _, turn_port = self.start_turn()
        # -udp alone is STUN mode, as shapeshifter-dispatcher spells it.
        _, caddr, _ = self.tunnel(turn_port, mode_flags=("-udp",))
        r = subprocess.run([self.stunclient, "-p", str(caddr[1]), caddr[0]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=tmo(30))
        out = r.stdout.decode("utf-8", "replace")
        self.assertRegex(out, r"UDP reflexive addr: 127\.0\.0\.1:\d+", out)

    def run_uclient(self, caddr, peer_port, clients, size, count):
        r = subprocess.run([self.uclient, "-p", str(caddr[1]), "-u", TURN_USER, "-w", TURN_PASS,
                            "-e", "127.0.0.1", "-r", str(peer_port), "-n", str(count),
                            "-l", str(size), "-m", str(clients), "-c", caddr[0]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=tmo(90))
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def test_allocations_and_channel_data(self):
        _, turn_port = self.start_turn()
        _, peer_port = self.start_peer()
        _, caddr, _ = self.tunnel(turn_port)
        for clients, size in ((1, 200), (4, 1200)):
            with self.subTest(clients=clients, size=size):
                rc, out = self.run_uclient(caddr, peer_port, clients, size, 30)
                m = re.search(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
                lost = re.search(r"Total lost packets (\d+)", out)
                self.assertIsNotNone(m, out[-3000:])
                self.assertEqual(int(m.group(1)), 30 * clients, out[-3000:])
                self.assertEqual(int(m.group(2)), 30 * clients, out[-3000:])
                self.assertIsNotNone(lost, out[-3000:])
                self.assertEqual(int(lost.group(1)), 0, out[-3000:])

    def test_non_stun_datagrams_are_dropped(self):
        turn, turn_port = self.start_turn()
        _, caddr, _ = self.tunnel(turn_port)
        s = udp_socket()
        self.addCleanup(s.close)
        # Not STUN (bad cookie), not ChannelData (channel 0x3000), garbage.
        bad_cookie = b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x43" + b"x" * 12
        for junk in (bad_cookie, b"\x30\x00\x00\x04abcd", b"hello, TURN server"):
            self.assertIsNone(exchange(s, caddr, junk, timeout=0.5))
        # And the tunnel still carries a real Binding request afterwards.
        r = subprocess.run([self.stunclient, "-p", str(caddr[1]), caddr[0]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=tmo(30))
        self.assertIn(b"reflexive addr", r.stdout)

    def test_only_whole_messages_reach_the_server(self):
        echo = self.udp_echo()
        _, caddr, _ = self.udp_pair("STUN", echo.hostport)
        s = udp_socket()
        self.addCleanup(s.close)
        req, txid = stun_binding_request()
        self.assertEqual(exchange(s, caddr, req, tries=3), req)
        for junk in (req[:-1], req + b"\x00", b"\x80\x00\x00\x00", b"\x40\x00\x00\x09abc"):
            self.assertIsNone(exchange(s, caddr, junk, timeout=0.3))
        data5 = b"\x40\x01\x00\x05hello"
        self.assertEqual(exchange(s, caddr, data5, tries=3), data5)
        # Padded to 4 on the way in, as a client may send it over UDP: the
        # server gets (and echoes) the message without its padding.
        self.assertEqual(exchange(s, caddr, data5 + b"\x00\x00\x00", tries=3), data5)
        empty = b"\x7f\xff\x00\x00"
        self.assertEqual(exchange(s, caddr, empty, tries=3), empty)
        # Every datagram the echo server saw was a valid one (the retries
        # of exchange() are of valid ones too).
        self.assertGreaterEqual(echo.count, 4)
        self.assertEqual(set(echo.first), {req, data5, empty})
