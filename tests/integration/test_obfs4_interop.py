"""obfs4 between ptdispatch and obfs4proxy 0.0.14 (the Debian package),
black-box, over loopback.

Data: every transfer generates its streams from seeds and hashes them on
the fly; both ends compare SHA-256 and byte counts. obfs4proxy closes both
directions as soon as one side ends, so each side reads exactly the bytes
it expects and then closes (no half-close through obfs4proxy).

iat-mode 0 moves 64 MiB each way. iat-mode 1 and 2 are slow by design:
the sender sleeps 0-10 ms (drawn from the bridge's inter-arrival
distribution) after each write of at most one 1448-byte segment, so the
rate depends on the bridge's drbg-seed. Measured obfs4proxy <->
obfs4proxy on the development machine with SEED below (which fixes both
sides' distributions; its mean delay is 4.4 ms): iat 0 about 50 MiB/s each
way, iat 1 about 0.26 MiB/s, iat 2 about 0.21 MiB/s, so 64 MiB would take
4 and 5 minutes. iat 1 and 2 therefore move IAT1_SIZE and IAT2_SIZE each
way, what obfs4proxy itself moves in about 45 s, and each of those tests
runs its pairings (ptdispatch -> obfs4proxy, obfs4proxy -> ptdispatch,
ptdispatch <-> ptdispatch, and obfs4proxy <-> obfs4proxy as the reference)
at the same time: the pacing is sleeps, not work.

Also here: a bridge's identity moving between the implementations through
the state directory (obfs4_state.json, obfs4_bridgeline.txt); the client
arguments in each form (RFC 1929, 0x09 JSON, -options) and their refusals;
a wrong cert.

Argument refusals must be logged at the DEFAULT log level, naming the key
and never a value: a user whose bridge line lacks iat-mode, or has a
mangled cert, has nothing else to go on (obfs4proxy logs these as errors).
"""

import json
import os
import re
import threading
import time
import unittest

from obfs4test import (MIB, REP_ARGS_REFUSED, REP_GENERAL_FAILURE, Obfs4TestCase,
                       RecordingProxy, cert_decode, cert_encode, close_delay,
                       read_file, seed_with_delay, server_options, socks5_connect_json,
                       socks5_connect_noauth, socks5_connect_userpass, socks5_request)
from ptdtest import (SocksError, echo_roundtrip, recv_exact, seeded_bytes, socks5_greet,
                     socks5_read_reply, tmo)

BULK = 64 * MIB
IAT1_SIZE = 12 * MIB
IAT2_SIZE = 10 * MIB
SEED = seed_with_delay(3, b"ptd-obfs4-interop")
WIRE_SLACK = 1.15

STATE_KEYS = {"node-id", "private-key", "public-key", "drbg-seed", "iat-mode"}
BRIDGELINE_RE = re.compile(
    r"\A# obfs4 torrc client bridge line\n(#.*\n)+\n"
    r"Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> cert=([A-Za-z0-9+/]{70}) iat-mode=([012])\n\Z")


class BulkTest(Obfs4TestCase):

    def pairing(self, client_kind, server_kind, iat, size, seed):
        """Starts the pair; returns a function that runs the transfer."""
        far = self.far_end(size, seed, limit=tmo(200))
        start_server = self.ptd_server if server_kind == "ptdispatch" else self.o4p_server
        bridge = start_server(far.hostport, options=server_options(SEED, iat))
        self.assertEqual(bridge.iat_mode, str(iat), "SMETHOD iat-mode")
        if client_kind == "ptdispatch":
            _, socks = self.ptd_client()
        else:
            _, socks = self.o4p_client()

        def run():
            return self.stream_through(socks, bridge, far, seed + 1, limit=tmo(200))
        return run

    def bulk(self, client_kind, server_kind, iat, size):
        secs = self.pairing(client_kind, server_kind, iat, size, 11)()
        print("\n  %s -> %s iat %d: %d MiB each way in %.1f s"
              % (client_kind, server_kind, iat, size >> 20, secs), end=" ", flush=True)

    def all_pairings(self, iat, size):
        runs = {}
        # obfs4proxy -> obfs4proxy is the reference: if it fails, the
        # environment is at fault, not ptdispatch.
        for i, (c, s) in enumerate((("ptdispatch", "obfs4proxy"), ("obfs4proxy", "ptdispatch"),
                                    ("ptdispatch", "ptdispatch"), ("obfs4proxy", "obfs4proxy"))):
            runs["%s -> %s" % (c, s)] = self.pairing(c, s, iat, size, 20 + 10 * i)
        results = {}

        def work(name, run):
            try:
                results[name] = run()
            except BaseException as e:  # reported below, per pairing
                results[name] = e

        threads = [threading.Thread(target=work, args=kv, daemon=True) for kv in runs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=tmo(240))
        for name in runs:
            with self.subTest(pairing=name, iat=iat):
                r = results.get(name)
                if isinstance(r, BaseException):
                    raise r
                self.assertIsNotNone(r, "transfer still running")
                print("\n  %s iat %d: %d MiB each way in %.1f s" % (name, iat, size >> 20, r),
                      end=" ", flush=True)

    def test_ptdispatch_client_obfs4proxy_server_iat0(self):
        self.bulk("ptdispatch", "obfs4proxy", 0, BULK)

    def test_obfs4proxy_client_ptdispatch_server_iat0(self):
        self.bulk("obfs4proxy", "ptdispatch", 0, BULK)

    def test_ptdispatch_pair_iat0(self):
        self.bulk("ptdispatch", "ptdispatch", 0, BULK)

    def test_iat1_every_pairing(self):
        self.all_pairings(1, IAT1_SIZE)

    def test_iat2_every_pairing(self):
        self.all_pairings(2, IAT2_SIZE)

    def test_iat1_wire_bytes_like_obfs4proxy(self):
        """With iat-mode 1 each side pads once per burst, as obfs4proxy
        pads once per Write of up to 32 KiB; padding every small refill
        instead puts up to twice the payload on the wire (a shape of its
        own, and half the throughput, the pacing being per segment). A
        recorder between each client and server counts the wire bytes both
        ways; ptdispatch's may exceed obfs4proxy's (measured alongside)
        by WIRE_SLACK at most."""
        size = MIB
        counts = {}
        runs = []
        for name, kind in (("ptdispatch", "ptdispatch"), ("obfs4proxy", "obfs4proxy")):
            far = self.far_end(size, 70, limit=tmo(200))
            start_server = self.ptd_server if kind == "ptdispatch" else self.o4p_server
            bridge = start_server(far.hostport, options=server_options(SEED, 1))
            _, socks = (self.ptd_client if kind == "ptdispatch" else self.o4p_client)()
            rec = RecordingProxy(bridge.addr)
            self.addCleanup(rec.close)
            runs.append((name, socks, bridge, far, rec))

        def work(name, socks, bridge, far, rec):
            def connect(proxy, host, port):
                return socks5_connect_userpass(proxy, rec.addr[0], rec.addr[1],
                                               bridge.client_args())
            try:
                self.stream_through(socks, bridge, far, 71, connect=connect, limit=tmo(200))
                counts[name] = rec
            except BaseException as e:
                counts[name] = e

        threads = [threading.Thread(target=work, args=r, daemon=True) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=tmo(240))
        for name, _, _, _, _ in runs:
            if isinstance(counts.get(name), BaseException):
                raise counts[name]
            self.assertIn(name, counts, "%s transfer still running" % name)

        def wire(name):
            rec = counts[name]
            deadline = time.monotonic() + tmo(10)
            # The recorder's pumps may still be draining the last bytes.
            while time.monotonic() < deadline:
                up, down = len(rec.recorded(0)), len(rec.received(0))
                if up > size and down > size:
                    break
                time.sleep(0.05)
            return len(rec.recorded(0)) / size, len(rec.received(0)) / size

        ref_up, ref_down = wire("obfs4proxy")
        ptd_up, ptd_down = wire("ptdispatch")
        print("\n  wire bytes per payload byte at iat 1: ptdispatch %.3f up, %.3f down; "
              "obfs4proxy %.3f up, %.3f down" % (ptd_up, ptd_down, ref_up, ref_down),
              end=" ", flush=True)
        self.assertLessEqual(ptd_up, ref_up * WIRE_SLACK, "client -> server padding")
        self.assertLessEqual(ptd_down, ref_down * WIRE_SLACK, "server -> client padding")

    def test_ptdispatch_pair_half_close(self):
        """Between two ptdispatch, a half-close goes through: each side
        shuts down writing after its data and still reads the other's."""
        far = self.far_end(8 * MIB, 41, half_close=True)
        bridge = self.ptd_server(far.hostport)
        _, socks = self.ptd_client()
        self.stream_through(socks, bridge, far, 42)


class StateDirTest(Obfs4TestCase):

    def exchange(self, socks, bridge_addr, args, size=4 * MIB, seed=50):
        s = socks5_connect_userpass(socks, bridge_addr[0], bridge_addr[1], args)
        self.addCleanup(s.close)
        data = seeded_bytes(seed, size)
        self.assertEqual(echo_roundtrip(s, data), data)

    def test_ptdispatch_takes_over_obfs4proxy_state(self):
        state = self.tempdir("o4p-then-ptd-")
        echo = self.echo_server()
        o4p = self.o4p_server(echo.hostport, state=state)
        o4p.proc.stop()
        js_before = read_file(os.path.join(state, "obfs4_state.json"))
        line_before = read_file(os.path.join(state, "obfs4_bridgeline.txt"))
        m = BRIDGELINE_RE.match(line_before.decode())
        self.assertIsNotNone(m, line_before)
        self.assertEqual(m.group(2), o4p.cert)

        ptd = self.ptd_server(echo.hostport, state=state)
        self.assertEqual(ptd.cert, o4p.cert, "ptdispatch's SMETHOD cert")
        self.assertEqual(ptd.iat_mode, o4p.iat_mode)
        self.assertEqual(read_file(os.path.join(state, "obfs4_bridgeline.txt")), line_before,
                         "bridge line file changed")
        self.assertEqual(json.loads(read_file(os.path.join(state, "obfs4_state.json"))),
                         json.loads(js_before), "state file changed")
        # A client that only knows the old bridge line gets through.
        _, socks = self.o4p_client()
        self.exchange(socks, ptd.addr, {"cert": m.group(2), "iat-mode": m.group(3)})

    def test_obfs4proxy_takes_over_ptdispatch_state(self):
        state = self.tempdir("ptd-then-o4p-")
        echo = self.echo_server()
        ptd = self.ptd_server(echo.hostport, state=state)
        ptd.proc.stop()
        js = json.loads(read_file(os.path.join(state, "obfs4_state.json")))
        self.assertEqual(set(js), STATE_KEYS, js)
        node_id, pk = cert_decode(ptd.cert)
        self.assertEqual(js["node-id"], node_id.hex())
        self.assertEqual(js["public-key"], pk.hex())
        self.assertEqual(js["iat-mode"], 0)
        self.assertRegex(js["private-key"], r"^[0-9a-f]{64}$")
        self.assertRegex(js["drbg-seed"], r"^[0-9a-f]{48}$")
        self.assertEqual(os.stat(os.path.join(state, "obfs4_state.json")).st_mode & 0o777, 0o600)
        line = read_file(os.path.join(state, "obfs4_bridgeline.txt")).decode()
        m = BRIDGELINE_RE.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(2), ptd.cert)

        o4p = self.o4p_server(echo.hostport, state=state)
        self.assertEqual(o4p.cert, ptd.cert, "obfs4proxy's SMETHOD cert")
        # obfs4proxy rewrites both files; the bridge line must be the same.
        self.assertEqual(read_file(os.path.join(state, "obfs4_bridgeline.txt")).decode(), line)
        _, socks = self.ptd_client()
        self.exchange(socks, o4p.addr, {"cert": ptd.cert, "iat-mode": "0"})

    def test_identity_options_give_the_same_cert(self):
        """node-id, private-key and drbg-seed as options (nothing read from
        the state directory): both implementations derive the same public
        key, so the same cert, and take the same iat-mode."""
        echo = self.echo_server()
        a = self.ptd_server(echo.hostport, options=server_options(SEED, 2))
        b = self.o4p_server(echo.hostport, options=server_options(SEED, 2))
        self.assertEqual(a.cert, b.cert)
        self.assertEqual((a.iat_mode, b.iat_mode), ("2", "2"))


class ClientArgsTest(Obfs4TestCase):
    """ptdispatch client -> ptdispatch server, the arguments in each form."""

    def setUp(self):
        super().setUp()
        self.echo = self.echo_server()
        self.sstate = self.tempdir("ptd-o4args-")
        self.bridge = self.ptd_server(self.echo.hostport, state=self.sstate,
                                      options=server_options(SEED, 0),
                                      args=("-handshakeTimeout", "2", "-enableLogging"))
        self.cstate = None

    def client(self, args=()):
        proc, socks = self.ptd_client(args=("-enableLogging",) + tuple(args))
        self.cstate = proc.env["TOR_PT_STATE_LOCATION"]
        self.cproc = proc
        return socks

    def client_log(self):
        path = os.path.join(self.cstate, "ptdispatch.log")
        text = read_file(path).decode("utf-8", "replace") if os.path.exists(path) else ""
        return "\n".join(self.proc_log_lines(self.cproc)) + "\n" + text

    def wait_log(self, text, timeout=None):
        # The line is written as the reply goes out; this only covers the
        # file write racing our read.
        deadline = time.monotonic() + (timeout or tmo(3))
        while time.monotonic() < deadline:
            if text in self.client_log():
                return True
            time.sleep(0.05)
        return False

    def echo_ok(self, s):
        self.addCleanup(s.close)
        data = seeded_bytes(60, 300000)
        self.assertEqual(echo_roundtrip(s, data), data)

    def test_rfc1929(self):
        socks = self.client()
        self.echo_ok(socks5_connect_userpass(socks, *self.bridge.addr,
                                             self.bridge.client_args()))

    def test_rfc1929_split_across_uname_and_passwd(self):
        # Tor fills UNAME first, but any split of the text is the same
        # arguments (pt-spec 3.5 concatenates the two fields).
        socks = self.client()
        text = ("cert=%s;iat-mode=0" % self.bridge.cert).encode()
        s = self.connect(socks, timeout=tmo(30))
        self.assertEqual(socks5_greet(s, (2,)), 2)
        uname, passwd = text[:40], text[40:]
        s.sendall(bytes([1, len(uname)]) + uname + bytes([len(passwd)]) + passwd)
        self.assertEqual(recv_exact(s, 2), b"\x01\x00")
        s.sendall(socks5_request(*self.bridge.addr))
        self.assertEqual(socks5_read_reply(s)[0], 0)
        self.echo_ok(s)

    def test_json_0x09(self):
        socks = self.client()
        self.echo_ok(socks5_connect_json(socks, *self.bridge.addr, self.bridge.client_args()))

    def test_options_flag(self):
        socks = self.client(("-options", "obfs4:cert=%s;obfs4:iat-mode=0" % self.bridge.cert))
        self.echo_ok(socks5_connect_noauth(socks, *self.bridge.addr))

    def test_per_connection_args_override_options(self):
        other = cert_encode(b"\x01" * 20, b"\x02" * 32)
        socks = self.client(("-options", "obfs4:cert=%s;obfs4:iat-mode=0" % other))
        self.echo_ok(socks5_connect_json(socks, *self.bridge.addr, {"cert": self.bridge.cert}))

    def refused(self, connect, args, key, secret=None):
        socks = self.client()
        with self.assertRaises(SocksError) as cm:
            connect(socks, *self.bridge.addr, args)
        self.assertEqual(cm.exception.code, REP_ARGS_REFUSED)
        self.assertTrue(self.wait_log('"%s"' % key),
                        "the default-level log does not name %r:\n%s" % (key, self.client_log()))
        if secret:
            self.assertNotIn(secret, self.client_log(), "an argument value reached the log")

    def test_missing_iat_mode_rfc1929(self):
        self.refused(socks5_connect_userpass, {"cert": self.bridge.cert}, "iat-mode",
                     self.bridge.cert)

    def test_missing_iat_mode_json(self):
        self.refused(socks5_connect_json, {"cert": self.bridge.cert}, "iat-mode",
                     self.bridge.cert)

    def test_missing_cert(self):
        self.refused(socks5_connect_userpass, {"iat-mode": "0"}, "cert")

    def test_bad_cert(self):
        bad = self.bridge.cert[:-2] + "!!"
        self.refused(socks5_connect_userpass, {"cert": bad, "iat-mode": "0"}, "cert", bad)
        short = self.bridge.cert[:60]
        self.refused(socks5_connect_json, {"cert": short, "iat-mode": "0"}, "cert", short)

    def test_bad_iat_mode(self):
        self.refused(socks5_connect_userpass, {"cert": self.bridge.cert, "iat-mode": "3"},
                     "iat-mode", self.bridge.cert)

    def test_wrong_cert_fails_at_the_servers_close(self):
        """A well-formed cert for another bridge: our MAC is wrong for this
        server, which says nothing and closes at accept + timeout + delay
        (2 + 3 s here); the client then answers SOCKS general failure. The
        server sees exactly one handshake-sized message and sends nothing,
        as a forwarding recorder in between shows."""
        rec = RecordingProxy(self.bridge.addr)
        self.addCleanup(rec.close)
        self.assertEqual(close_delay(SEED), 3)
        wrong = cert_encode(cert_decode(self.bridge.cert)[0], bytes(range(32)))
        socks = self.client()
        logs_before = self.proc_log_lines(self.bridge.proc)
        t0 = time.monotonic()
        with self.assertRaises(SocksError) as cm:
            socks5_connect_userpass(socks, rec.addr[0], rec.addr[1],
                                    {"cert": wrong, "iat-mode": "0"}, timeout=tmo(60))
        elapsed = time.monotonic() - t0
        self.assertEqual(cm.exception.code, REP_GENERAL_FAILURE)
        self.assertGreaterEqual(elapsed, 2 + close_delay(SEED))
        sent = rec.recorded(0)
        self.assertGreaterEqual(len(sent), 64 + 77)
        self.assertLessEqual(len(sent), 8192)
        self.assertEqual(rec.received(0), b"", "the server answered a wrong-cert handshake")
        self.assertTrue(self.bridge.proc.alive())
        self.assertEqual(self.proc_log_lines(self.bridge.proc), logs_before)


if __name__ == "__main__":
    unittest.main()
