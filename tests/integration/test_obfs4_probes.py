"""Active probing of a ptdispatch obfs4 server, black-box.

A censor that connects to a suspected bridge and sends something that is
not a fresh, valid obfs4 handshake must learn nothing: no byte ever comes
back, and the connection is closed at the same moment whatever was sent,
accept + the handshake timeout + the bridge's close delay, where the delay
(0-59 s) comes from the bridge's drbg-seed exactly as obfs4proxy derives it
(rand.New(HashDrbg(seed)).Intn(60): obfs4test.close_delay, checked against
obfs4proxy's Go code when this test was written). A bridge moving between
obfs4proxy and ptdispatch keeps its delay.

The server runs with -handshakeTimeout 2 and a drbg-seed chosen for a
delay of DELAY seconds, so a probe's close is due CLOSE_AT = 2 + DELAY
seconds after its connect. The measurement starts when connect() returns
here, which is no later than the server's accept, so a close before
CLOSE_AT is a bug whatever the load; the upper bound only has slack for a
slow (sanitized) build. The probes, all at once:

- random bytes: 1, 63, 64, 141 (a minimal handshake's length), 1500,
  8191, 8192, 8193 and 20000 bytes;
- the exact handshake a real client (ptdispatch's) sent earlier, recorded
  by a forwarding proxy: a replay;
- that handshake without its last byte, and its first half;
- a handshake built here (obfs4test.client_request: right mark and MAC for
  the bridge's key) for epoch hour E+2, and one for E-2;
- a fresh valid handshake with one byte more after MAC_C;
- BURST more connections with a few random bytes each.

Meanwhile a ptdispatch client keeps exchanging data through the server,
and an obfs4proxy client connects and exchanges data too. Afterwards the
server is still running and has logged nothing (default level: stderr,
stdout LOG lines and the -enableLogging file).

A second test opens SCAN such connections at the same instant: the
server accepts several per event-loop pass, and every one must still be
held its full time from its own accept.

The builder's handshakes are shown to be right, not just rejected: the
same construction for E, E-1 and E+1 is answered, with a reply whose M_S
and MAC_S (over the same E) check with the bridge's public key.
"""

import os
import random
import threading
import time
import unittest

from obfs4test import (GoRand, HashDrbg, Obfs4TestCase, RecordingProxy, away_from_hour_boundary,
                       client_request, close_delay, extract_client_request, read_for, read_reply,
                       run_probe, seed_with_delay, server_options,
                       socks5_connect_userpass, CLIENT_MIN_PAD, MAX_HANDSHAKE_LEN)
from ptdtest import echo_roundtrip, seeded_bytes, tmo

TIMEOUT = 2
DELAY = 2
CLOSE_AT = TIMEOUT + DELAY
BURST = 60  # random-bytes probes besides the named ones
SCAN = 150


class CloseDelayModelTest(unittest.TestCase):
    """obfs4test.close_delay against values printed by obfs4proxy's own
    code (common/drbg.NewHashDrbg, then Go 1.19 math/rand.New(drbg).Intn,
    run once with go run inside obfs4proxy 0.0.14's source tree) for the
    seeds sha256("ptd-obfs4-probe-%d")[:24]: the first three draws of
    Intn(60), Intn(60), Intn(7)."""

    VECTORS = [
        ("37bdb1eb664d454e586af85e9b7972318acdcabb343b8ff4", (24, 35, 6)),
        ("952d29050edf04738dc0e2ab03bba43d58bb17377db31736", (41, 56, 0)),
        ("c08e9806274e8a7c4a5fe27739f1833aaadb8d3489401de3", (22, 28, 4)),
    ]

    def test_matches_obfs4proxy(self):
        for hexseed, want in self.VECTORS:
            with self.subTest(seed=hexseed):
                seed = bytes.fromhex(hexseed)
                r = GoRand(HashDrbg(seed))
                self.assertEqual((r.intn(60), r.intn(60), r.intn(7)), want)
                self.assertEqual(close_delay(seed), want[0])


class ProbeTest(Obfs4TestCase):

    def setUp(self):
        super().setUp()
        self.seed = seed_with_delay(DELAY)
        self.assertEqual(close_delay(self.seed), DELAY)
        self.echo = self.echo_server()
        self.sstate = self.tempdir("ptd-o4probe-")
        self.bridge = self.ptd_server(self.echo.hostport, state=self.sstate,
                                      options=server_options(self.seed, 0),
                                      args=("-handshakeTimeout", str(TIMEOUT),
                                            "-enableLogging"))
        self.server = self.bridge.proc

    def server_logs(self):
        """Everything the server has logged so far, in every place."""
        path = os.path.join(self.sstate, "ptdispatch.log")
        text = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        return self.proc_log_lines(self.server) + text.splitlines()

    def record_real_handshake(self):
        """A real client's handshake, as sent through a recording proxy,
        after that client has used it successfully."""
        rec = RecordingProxy(self.bridge.addr)
        self.addCleanup(rec.close)
        _, socks = self.ptd_client()
        s = socks5_connect_userpass(socks, rec.addr[0], rec.addr[1],
                                    self.bridge.client_args())
        self.addCleanup(s.close)
        data = seeded_bytes(31, 50000)
        self.assertEqual(echo_roundtrip(s, data), data)
        hs = extract_client_request(self.bridge.cert, rec.recorded(0))
        self.assertIsNotNone(hs, "no client handshake found in the recorded stream")
        self.assertGreaterEqual(len(hs), 64 + CLIENT_MIN_PAD)
        self.assertLessEqual(len(hs), MAX_HANDSHAKE_LEN)
        return hs

    def test_probes_get_nothing_and_close_on_schedule(self):
        real = self.record_real_handshake()
        hour = away_from_hour_boundary(10)
        rnd = random.Random(4)
        probes = {"random-%d" % n: rnd.randbytes(n)
                  for n in (1, 63, 64, 141, 1500, 8191, 8192, 8193, 20000)}
        probes["replayed-handshake"] = real
        probes["truncated-handshake-1"] = real[:-1]
        probes["truncated-handshake-half"] = real[:len(real) // 2]
        probes["hour-plus-2"] = client_request(self.bridge.cert, hour + 2, 300, rnd)
        probes["hour-minus-2"] = client_request(self.bridge.cert, hour - 2, 300, rnd)
        probes["trailing-byte"] = client_request(self.bridge.cert, hour, 300, rnd) + b"\x00"
        for i in range(BURST):
            probes["burst-%d" % i] = rnd.randbytes(100 + i)

        # A client already relaying, and one that connects mid-probe.
        _, socks = self.ptd_client()
        good = socks5_connect_userpass(socks, self.bridge.addr[0], self.bridge.addr[1],
                                       self.bridge.client_args())
        self.addCleanup(good.close)
        _, o4p_socks = self.o4p_client()
        logs_before = self.server_logs()

        limit = CLOSE_AT + tmo(15)
        results = {}
        threads = []
        # All at once: the server accepts several connections per loop
        # pass, and each must still get its full time from its own accept.
        start = threading.Barrier(len(probes))
        for name, payload in probes.items():
            def work(name=name, payload=payload):
                try:
                    start.wait(timeout=tmo(10))
                except threading.BrokenBarrierError:
                    pass
                results[name] = run_probe(self.bridge.addr, payload, limit, name)
            t = threading.Thread(target=work, daemon=True)
            threads.append(t)
            t.start()

        # Until every probe is over: round trips on the established client,
        # and, once, a new obfs4proxy client handshake and exchange.
        rounds = 0
        fresh_ok = False
        end = time.monotonic() + limit + tmo(5)
        while any(t.is_alive() for t in threads) and time.monotonic() < end:
            data = seeded_bytes(100 + rounds, 65536)
            self.assertEqual(echo_roundtrip(good, data), data,
                             "the established client's echo failed mid-probe")
            rounds += 1
            if not fresh_ok and rounds >= 3:
                s = socks5_connect_userpass(o4p_socks, self.bridge.addr[0],
                                            self.bridge.addr[1], self.bridge.client_args())
                data = seeded_bytes(7, 200000)
                self.assertEqual(echo_roundtrip(s, data), data)
                s.close()
                fresh_ok = True
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=max(0.1, end - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), "probe threads still running")
        self.assertTrue(fresh_ok, "no obfs4proxy client got through during the probes")
        self.assertGreaterEqual(rounds, 3)

        for name in probes:
            r = results.get(name)
            with self.subTest(probe=name):
                self.assertIsNotNone(r)
                self.assertIsNone(r.error, r)
                self.assertEqual(r.received, b"", "the server answered a probe: %r" % r)
                self.assertIn(r.how, ("eof", "reset"), r)
                self.assertGreaterEqual(r.elapsed, CLOSE_AT,
                                        "closed before accept + timeout + delay: %r" % r)
                self.assertLessEqual(r.elapsed, CLOSE_AT + tmo(3),
                                     "closed long after accept + timeout + delay: %r" % r)

        self.assertTrue(self.server.alive(), self.server.describe())
        self.assertEqual(self.server_logs(), logs_before,
                         "the server logged something about the probes")
        # And it still serves after all that.
        data = seeded_bytes(9, 100000)
        self.assertEqual(echo_roundtrip(good, data), data)

    def test_connection_burst_each_gets_its_full_time(self):
        """SCAN connections at once, a few random bytes on each: the
        server accepts several per event-loop pass, and each must still be
        held from its own accept (a deadline computed from a time taken
        before the pass's accepts would close the later ones early)."""
        rnd = random.Random(6)
        payloads = [rnd.randbytes(50 + i) for i in range(SCAN)]
        results = [None] * SCAN
        start = threading.Barrier(SCAN)

        def work(i):
            try:
                start.wait(timeout=tmo(10))
            except threading.BrokenBarrierError:
                pass
            results[i] = run_probe(self.bridge.addr, payloads[i], CLOSE_AT + tmo(15),
                                   "scan-%d" % i)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(SCAN)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=CLOSE_AT + tmo(30))
        self.assertFalse(any(t.is_alive() for t in threads), "probe threads still running")
        bad = [r for r in results if r is None or r.error or r.received or
               r.how not in ("eof", "reset") or r.elapsed < CLOSE_AT or
               r.elapsed > CLOSE_AT + tmo(3)]
        self.assertEqual(bad, [], "%d of %d connections off schedule (%.6f s is due)"
                         % (len(bad), SCAN, CLOSE_AT))
        self.assertTrue(self.server.alive())

    def test_epoch_hour_window(self):
        """E-1, E and E+1 are answered, with a reply that is the bridge's
        (M_S and MAC_S check with its key, MAC_S over the hour we sent);
        E-2 and E+2 are not (also in the probe test, timed)."""
        hour = away_from_hour_boundary(10)
        rnd = random.Random(5)
        for off in (-1, 0, 1):
            with self.subTest(offset=off):
                s = self.connect(self.bridge.addr, timeout=tmo(10))
                s.sendall(client_request(self.bridge.cert, hour + off, 100 + 50 * (off + 1),
                                         rnd))
                data, n = read_reply(s, self.bridge.cert, hour + off, tmo(5))
                self.assertIsNotNone(n, "no valid reply for epoch hour E%+d (%d bytes came)"
                                     % (off, len(data)))
                # The PRNG seed frame follows the reply at once.
                self.assertGreaterEqual(len(data) - n, 45)
                s.close()
        for off in (-2, 2):
            with self.subTest(offset=off):
                s = self.connect(self.bridge.addr, timeout=tmo(10))
                s.sendall(client_request(self.bridge.cert, hour + off, 100, rnd))
                data, _ = read_for(s, 1.0)
                self.assertEqual(data, b"", "answered a handshake for E%+d" % off)
                s.close()

    def test_builder_is_answered_by_obfs4proxy(self):
        """The same handshake builder against obfs4proxy: answered for E,
        silence for E+2, so the rejections above are about the hour."""
        o4p = self.o4p_server(self.echo.hostport, options=server_options(self.seed, 0))
        self.assertEqual(o4p.cert, self.bridge.cert, "same identity options, same cert")
        hour = away_from_hour_boundary(10)
        s = self.connect(o4p.addr, timeout=tmo(10))
        s.sendall(client_request(o4p.cert, hour, 200))
        data, n = read_reply(s, o4p.cert, hour, tmo(5))
        self.assertIsNotNone(n, "obfs4proxy did not answer (%d bytes came)" % len(data))
        s.close()
        s = self.connect(o4p.addr, timeout=tmo(10))
        s.sendall(client_request(o4p.cert, hour + 2, 200))
        data, _ = read_for(s, 1.0)
        self.assertEqual(data, b"")
        s.close()


if __name__ == "__main__":
    unittest.main()
