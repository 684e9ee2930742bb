"""shadow's arguments, black-box.

Client (per connection, in RFC 1929 user/password as Tor sends them, in
PT 2.1's 0x09 JSON block, or from -options): password, cipherName (any
case, libev's or the spec's names) and the optional target. A missing or
bad one is SOCKS reply 0x13, and the default-level log names the key and
never the password. Server (TOR_PT_SERVER_TRANSPORT_OPTIONS): a missing or
bad password or cipherName is an SMETHOD-ERROR naming it, with the other
transports unaffected; the password appears nowhere.
"""

import os
import time

from obfs4test import (REP_ARGS_REFUSED, options_env, read_file, socks5_connect_json,
                       socks5_connect_noauth, socks5_connect_userpass)
from ptdtest import SocksError, echo_roundtrip, seeded_bytes, tmo
from shadowtest import ShadowTestCase

CIPHER = "chacha20-ietf-poly1305"
PASSWORD = "ptd-args-s3cret"


class ShadowArgsTest(ShadowTestCase):

    def setUp(self):
        super().setUp()
        self.echo = self.echo_server()
        self.sproc, self.saddr = self.ptd_server(self.echo.hostport, PASSWORD, CIPHER)

    def client(self, args=()):
        proc, socks = self.ptd_client(args=("-enableLogging",) + tuple(args))
        self.cproc = proc
        self.cstate = proc.env["TOR_PT_STATE_LOCATION"]
        return socks

    def client_log(self):
        path = os.path.join(self.cstate, "ptdispatch.log")
        text = read_file(path).decode("utf-8", "replace") if os.path.exists(path) else ""
        return "\n".join(list(self.cproc.err) + [l for l in self.cproc.out
                                                 if l.startswith("LOG ")]) + "\n" + text

    def echo_ok(self, s):
        self.addCleanup(s.close)
        data = seeded_bytes(61, 200000)
        self.assertEqual(echo_roundtrip(s, data), data)

    def refused(self, connect, args, key):
        socks = self.client()
        with self.assertRaises(SocksError) as cm:
            connect(socks, *self.saddr, args)
        self.assertEqual(cm.exception.code, REP_ARGS_REFUSED)
        deadline = time.monotonic() + tmo(3)
        while time.monotonic() < deadline and '"%s"' % key not in self.client_log():
            time.sleep(0.05)
        log = self.client_log()
        self.assertIn('"%s"' % key, log, "the default-level log does not name %r" % key)
        self.assertNotIn(PASSWORD, log, "the password reached the log")

    def test_good_forms(self):
        socks = self.client()
        for name in (CIPHER, CIPHER.upper(), "AEAD_CHACHA20_POLY1305", "Chacha20-IETF-Poly1305"):
            with self.subTest(cipherName=name):
                args = {"password": PASSWORD, "cipherName": name}
                self.echo_ok(socks5_connect_userpass(socks, *self.saddr, args))
                self.echo_ok(socks5_connect_json(socks, *self.saddr, args))
        # A target is only a header for our server: any address will do.
        self.echo_ok(socks5_connect_userpass(socks, *self.saddr,
                                             {"password": PASSWORD, "cipherName": CIPHER,
                                              "target": "example.com:443"}))

    def test_options_flag(self):
        socks = self.client(("-options", "shadow:password=%s;shadow:cipherName=%s"
                             % (PASSWORD, CIPHER)))
        self.echo_ok(socks5_connect_noauth(socks, *self.saddr))

    def test_missing_password(self):
        self.refused(socks5_connect_userpass, {"cipherName": CIPHER}, "password")

    def test_empty_password(self):
        self.refused(socks5_connect_json, {"password": "", "cipherName": CIPHER}, "password")

    def test_missing_cipher(self):
        self.refused(socks5_connect_json, {"password": PASSWORD}, "cipherName")

    def test_unknown_cipher(self):
        self.refused(socks5_connect_userpass, {"password": PASSWORD, "cipherName": "rc4-md5"},
                     "cipherName")

    def test_bad_target(self):
        for target in ("no-port", "[::1", "host:99999", "a" * 300 + ":80"):
            with self.subTest(target=target[:20]):
                self.refused(socks5_connect_userpass,
                             {"password": PASSWORD, "cipherName": CIPHER, "target": target},
                             "target")

    def test_wrong_password_is_silence(self):
        # The server cannot tell a wrong password from a probe: the client's
        # CONNECT succeeds (shadow has no handshake to wait for), and then
        # nothing comes back.
        socks = self.client()
        s = socks5_connect_userpass(socks, *self.saddr,
                                    {"password": PASSWORD + "x", "cipherName": CIPHER})
        self.addCleanup(s.close)
        s.sendall(b"hello")
        s.settimeout(1.5)
        try:
            got = s.recv(100)
        except OSError:
            got = b""
        self.assertEqual(got, b"")

    def test_server_option_errors(self):
        for opts, key in (({"cipherName": CIPHER}, "password"),
                          ({"password": PASSWORD}, "cipherName"),
                          ({"password": PASSWORD, "cipherName": "AES-256-CFB"}, "cipherName")):
            with self.subTest(key=key, opts=sorted(opts)):
                env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
                       "TOR_PT_STATE_LOCATION": self.tempdir("ptd-shadow-opt-"),
                       "TOR_PT_SERVER_TRANSPORTS": "shadow,obfs4",
                       "TOR_PT_SERVER_BINDADDR": "shadow-127.0.0.1:0,obfs4-127.0.0.1:0",
                       "TOR_PT_ORPORT": self.echo.hostport,
                       "TOR_PT_SERVER_TRANSPORT_OPTIONS": options_env(opts, "shadow")}
                p = self.launch(env=env)
                p.wait_done(tmo(30))
                errs = [l for l in p.out if l.startswith("SMETHOD-ERROR shadow ")]
                self.assertEqual(len(errs), 1, p.describe())
                self.assertIn('"%s"' % key, errs[0])
                self.assertTrue([l for l in p.out if l.startswith("SMETHOD obfs4 ")],
                                "the other transport did not start\n%s" % p.describe())
                self.assertNotIn(PASSWORD, "\n".join(list(p.out) + list(p.err)))
