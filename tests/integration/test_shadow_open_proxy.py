"""A ptdispatch shadow server as an open proxy (openProxy=true), with a
stock ss-local as its client: each connection goes where the client's
address header says, as ss-server does it, and not to the ORPort.

- openProxy=true with openProxyAllowPrivate=true: a client asking for a
  loopback echo server reaches it (by IP literal and by the name
  "localhost"); the ORPort sees nothing.
- openProxy=true alone: loopback and private destinations (127.0.0.1,
  the name "localhost", 10.0.0.1, [::1]) are refused: the client's
  connection closes, no byte comes back, nothing is dialed, and the
  server says why at info level only.
- Without openProxy the header is ignored: the ORPort gets the client.
- Bad option values are SMETHOD-ERRORs that name the option.
"""

import os
import time

from ptdtest import echo_roundtrip, recv_until_eof, seeded_bytes, socks5_connect, tmo
from shadowtest import CountingEcho, ShadowTestCase

CIPHER = "aes-256-gcm"
PASSWORD = "ptd-open-proxy-test"



class OpenProxyTest(ShadowTestCase):

    def start(self, options):
        orport, target = CountingEcho(self), CountingEcho(self)
        self.state = self.tempdir("ptd-shadow-open-")
        env = {"TOR_PT_STATE_LOCATION": self.state,
               "TOR_PT_SERVER_TRANSPORT_OPTIONS":
               ";".join(["shadow:password=%s" % PASSWORD, "shadow:cipherName=%s" % CIPHER] +
                        ["shadow:%s=%s" % kv for kv in options])}
        proc, addr = self.ptd_server(orport.hostport, PASSWORD, CIPHER,
                                     args=("-logLevel", "INFO", "-enableLogging"), env=env)
        _, socks = self.ss_local(CIPHER, PASSWORD, addr)
        return proc, socks, orport, target

    def test_allow_private_reaches_the_header_address(self):
        proc, socks, orport, target = self.start([("openProxy", "true"),
                                                  ("openProxyAllowPrivate", "true")])
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                s = socks5_connect(socks, host, target.port, timeout=tmo(20))
                data = seeded_bytes(3, 300000)
                self.assertEqual(echo_roundtrip(s, data), data)
                s.close()
        self.assertEqual(target.count, 2)
        self.assertEqual(orport.count, 0)

    def test_public_only_refuses_private_destinations(self):
        proc, socks, orport, target = self.start([("openProxy", "true")])
        for host, port in (("127.0.0.1", target.port), ("localhost", target.port),
                           ("10.0.0.1", 80), ("::1", target.port)):
            with self.subTest(host=host):
                s = socks5_connect(socks, host, port, timeout=tmo(20))
                try:
                    s.sendall(b"hello?")
                except OSError:
                    pass
                got = recv_until_eof(s, timeout=tmo(20))
                self.assertEqual(got, b"")
                s.close()
        self.assertEqual(target.count, 0)
        self.assertEqual(orport.count, 0)
        # Said once per connection in the log file, at info level, and not
        # to the parent (warnings only go there).
        deadline = time.monotonic() + tmo(10)
        while time.monotonic() < deadline:
            with open(os.path.join(self.state, "ptdispatch.log"), errors="replace") as f:
                refused = [l for l in f if "private or loopback address" in l]
            if len(refused) >= 4:
                break
            time.sleep(0.05)
        self.assertEqual(len(refused), 4, proc.describe())
        self.assertTrue(all("[INFO]" in l for l in refused), refused)
        self.assertFalse([l for l in proc.out if "private or loopback" in l])

    def test_without_open_proxy_the_orport_gets_everything(self):
        proc, socks, orport, target = self.start([])
        s = socks5_connect(socks, "127.0.0.1", target.port, timeout=tmo(20))
        data = seeded_bytes(4, 100000)
        self.assertEqual(echo_roundtrip(s, data), data)
        s.close()
        self.assertEqual(orport.count, 1)
        self.assertEqual(target.count, 0)

    def test_bad_options_name_the_key(self):
        for options, key in (([("openProxy", "yes please")], "openProxy"),
                             ([("openProxyAllowPrivate", "true")], "openProxyAllowPrivate"),
                             ([("openProxy", "true"), ("openProxyAllowPrivate", "2")],
                              "openProxyAllowPrivate")):
            with self.subTest(options=options):
                env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
                       "TOR_PT_STATE_LOCATION": self.tempdir("ptd-shadow-bad-"),
                       "TOR_PT_SERVER_TRANSPORTS": "shadow",
                       "TOR_PT_SERVER_BINDADDR": "shadow-127.0.0.1:0",
                       "TOR_PT_ORPORT": "127.0.0.1:9",
                       "TOR_PT_SERVER_TRANSPORT_OPTIONS":
                           ";".join(["shadow:password=%s" % PASSWORD,
                                     "shadow:cipherName=%s" % CIPHER] +
                                    ["shadow:%s=%s" % kv for kv in options])}
                p = self.launch(env=env)
                p.wait_done(tmo(30))
                errs = [l for l in p.out if l.startswith("SMETHOD-ERROR shadow")]
                self.assertEqual(len(errs), 1, p.describe())
                self.assertIn('"%s"' % key, errs[0])
                self.assertNotIn(PASSWORD, "\n".join(p.out + list(p.err)))
