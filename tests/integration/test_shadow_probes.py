"""Active probing of a ptdispatch shadow server, black-box.

A censor that connects to a suspected Shadowsocks server and sends
anything but a fresh stream under the server's key must learn nothing: no
byte comes back, nothing is dialed, and the connection is closed at the
same moment whatever was sent: accept + the handshake timeout + the
server's close delay (0-59 s, fixed by its key: ss_craft.close_delay).

Each of the three ciphers gets a server with -handshakeTimeout 2 and a
password chosen for a delay of DELAY seconds, so every probe's close is
due CLOSE_AT seconds after its connect (measured from before connect(),
so a close before CLOSE_AT is a bug whatever the load). The probes, all
at once, on all three servers:

- random bytes: 1 byte, the salt's length less one, the salt, salt + the
  length chunk less a byte, salt + a length chunk, 200, 1500 and 20000;
- a real client with the wrong password: what ss-local sends, recorded;
  and a stream built here under a wrong password;
- a replay: the exact bytes a real ss-local sent the server earlier in
  the test (recorded by a forwarding proxy, the session worked), and a
  new stream under that same salt;
- a reflection: the server's own reply to that session, sent back to it;
- a truncated chunk (right key, fresh salt): the length chunk and all
  but the last byte of the payload chunk; and only part of the length;
- an oversize length (0x4000, under the right key);
- a malformed address header (type 9) under the right key.

Meanwhile a ptdispatch client keeps exchanging data through each server,
and an ss-local client connects and exchanges data mid-probe. Afterwards
the servers are running and have logged nothing at the default level,
and their ORPort saw no connection but the good clients'.
"""

import threading
import time

import ss_craft
from obfs4test import RecordingProxy, run_probe, socks5_connect_userpass
from ptdtest import echo_roundtrip, seeded_bytes, socks5_connect, tmo
from shadowtest import CIPHERS, SALT_LEN, CountingEcho, ShadowTestCase

TIMEOUT = 2
DELAY = 2
CLOSE_AT = TIMEOUT + DELAY



class ShadowProbeTest(ShadowTestCase):

    def start_bridge(self, cipher):
        password = ss_craft.password_with_delay(DELAY, cipher)
        self.assertEqual(ss_craft.close_delay(password, cipher), DELAY)
        echo = CountingEcho(self)
        proc, addr = self.ptd_server(echo.hostport, password, cipher,
                                     args=("-handshakeTimeout", str(TIMEOUT)))
        return {"cipher": cipher, "password": password, "echo": echo, "proc": proc,
                "addr": addr}

    def real_session(self, b):
        """A working ss-local session through a recording proxy: returns
        (client bytes, server bytes)."""
        rec = RecordingProxy(b["addr"])
        self.addCleanup(rec.close)
        _, socks = self.ss_local(b["cipher"], b["password"], rec.addr)
        s = socks5_connect(socks, "192.0.2.1", 80, timeout=tmo(20))
        data = seeded_bytes(5, 40000)
        self.assertEqual(echo_roundtrip(s, data), data)
        s.close()
        deadline = time.monotonic() + tmo(10)
        while time.monotonic() < deadline:
            up, down = rec.recorded(0), rec.streams[0][1]
            if len(up) >= len(data) and len(down) >= len(data):
                return bytes(up), bytes(down)
            time.sleep(0.05)
        self.fail("the recording proxy did not see the whole session")

    def wrong_password_bytes(self, b):
        """What a real ss-local with the wrong password sends."""
        sink = self.server_socket(lambda conn: conn.recv(65536) and time.sleep(2))
        rec = RecordingProxy(("127.0.0.1", sink.port))
        self.addCleanup(rec.close)
        _, socks = self.ss_local(b["cipher"], b["password"] + "-wrong", rec.addr)
        s = socks5_connect(socks, "192.0.2.1", 80, timeout=tmo(20))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        deadline = time.monotonic() + tmo(10)
        while time.monotonic() < deadline:
            if not rec.streams or len(rec.recorded(0)) < SALT_LEN[b["cipher"]] + 34:
                time.sleep(0.05)
                continue
            s.close()
            return bytes(rec.recorded(0))
        self.fail("ss-local sent nothing")

    def probes_for(self, b):
        cipher, pw = b["cipher"], b["password"]
        salt = SALT_LEN[cipher]
        rnd = __import__("random").Random(salt)
        header = ss_craft.address("192.0.2.1", 80)
        up, down = self.real_session(b)
        p = {}
        for n in (1, salt - 1, salt, salt + 17, salt + 18, 200, 1500, 20000):
            p["random-%d" % n] = rnd.randbytes(n)
        p["wrong-password-ss-local"] = self.wrong_password_bytes(b)
        p["wrong-password-built"] = ss_craft.Encoder(cipher, pw + "!").chunk(header + b"hello")
        p["replayed-ss-local"] = up
        p["replayed-salt-new-stream"] = ss_craft.Encoder(cipher, pw, salt=up[:salt]).chunk(
            header + b"hello again")
        p["reflected-reply"] = down
        whole = ss_craft.Encoder(cipher, pw).chunk(header + b"x" * 100)
        p["truncated-payload"] = whole[:-1]
        p["truncated-length"] = ss_craft.Encoder(cipher, pw).chunk(header)[:salt + 9]
        p["oversize-length"] = ss_craft.Encoder(cipher, pw).chunk(header + b"y" * 50,
                                                                  length_override=0x4000)
        p["bad-address-type"] = ss_craft.Encoder(cipher, pw).chunk(b"\x09" + header[1:] + b"z")
        return p

    def test_probes_get_nothing_and_close_on_schedule(self):
        bridges = [self.start_bridge(c) for c in CIPHERS]
        probes = []  # (bridge, name, payload)
        for b in bridges:
            for name, payload in self.probes_for(b).items():
                probes.append((b, name, payload))
        # Each bridge's ORPort has seen the recorded ss-local session only.
        for b in bridges:
            self.assertEqual(b["echo"].count, 1, b["cipher"])

        # A ptdispatch client per bridge, relaying throughout.
        _, socks = self.ptd_client()
        goods = []
        for b in bridges:
            g = socks5_connect_userpass(socks, b["addr"][0], b["addr"][1],
                                        {"password": b["password"], "cipherName": b["cipher"]})
            self.addCleanup(g.close)
            goods.append(g)
        logs_before = {id(b): self.logs(b["proc"]) for b in bridges}

        limit = CLOSE_AT + tmo(15)
        results = {}
        threads = []
        start = threading.Barrier(len(probes))
        for b, name, payload in probes:
            key = "%s/%s" % (b["cipher"], name)

            def work(key=key, b=b, payload=payload):
                try:
                    start.wait(timeout=tmo(10))
                except threading.BrokenBarrierError:
                    pass
                results[key] = run_probe(b["addr"], payload, limit, key)
            t = threading.Thread(target=work, daemon=True)
            threads.append(t)
            t.start()

        rounds = 0
        fresh_ok = False
        end = time.monotonic() + limit + tmo(5)
        while any(t.is_alive() for t in threads) and time.monotonic() < end:
            for g in goods:
                data = seeded_bytes(100 + rounds, 30000)
                self.assertEqual(echo_roundtrip(g, data), data,
                                 "an established client's echo failed mid-probe")
            rounds += 1
            if not fresh_ok and rounds >= 3:
                for b in bridges:
                    _, lsocks = self.ss_local(b["cipher"], b["password"], b["addr"])
                    s = socks5_connect(lsocks, "192.0.2.1", 80, timeout=tmo(20))
                    data = seeded_bytes(7, 100000)
                    self.assertEqual(echo_roundtrip(s, data), data)
                    s.close()
                fresh_ok = True
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=max(0.1, end - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), "probe threads still running")
        self.assertTrue(fresh_ok, "no ss-local client got through during the probes")
        self.assertGreaterEqual(rounds, 3)

        for b, name, _ in probes:
            key = "%s/%s" % (b["cipher"], name)
            r = results.get(key)
            with self.subTest(probe=key):
                self.assertIsNotNone(r)
                self.assertIsNone(r.error, r)
                self.assertEqual(r.received, b"", "the server answered a probe: %r" % r)
                self.assertIn(r.how, ("eof", "reset"), r)
                self.assertGreaterEqual(r.elapsed, CLOSE_AT,
                                        "closed before accept + timeout + delay: %r" % r)
                self.assertLessEqual(r.elapsed, CLOSE_AT + tmo(3),
                                     "closed long after accept + timeout + delay: %r" % r)

        for b in bridges:
            with self.subTest(bridge=b["cipher"]):
                self.assertIsNone(b["proc"].proc.poll(), b["proc"].describe())
                self.assertEqual(self.logs(b["proc"]), logs_before[id(b)],
                                 "the server logged something about the probes")
                # The recorded session, the good client, the fresh ss-local:
                # no probe reached the ORPort.
                self.assertEqual(b["echo"].count, 3)
        for g in goods:
            data = seeded_bytes(9, 50000)
            self.assertEqual(echo_roundtrip(g, data), data)

    def logs(self, p):
        return list(p.err) + [l for l in p.out if l.startswith("LOG ")]
