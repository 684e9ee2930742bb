"""shadow (Shadowsocks AEAD, SIP004) between ptdispatch and
shadowsocks-libev 3.3.5 (the Debian package: ss-server, ss-local),
black-box, over loopback, for each of chacha20-ietf-poly1305, aes-256-gcm
and aes-128-gcm:

- ptdispatch client -> ss-server: a SOCKS5 CONNECT to ss-server's address
  through ptdispatch, the arguments (password, cipherName, target) in RFC
  1929 user/password as Tor sends them. Stock ss-server connects wherever
  the address header says, so target= names the far end.
- ss-local -> ptdispatch server: ptdispatch relays to its ORPort (the far
  end) whatever address ss-local's header carries; the SOCKS5 CONNECT to
  ss-local names an address nothing listens on.

Each moves 64 MiB each way, generated from seeds and hashed on the fly,
both ends comparing SHA-256 and byte counts (obfs4test's machinery).
ss-server and ss-local close both directions once one side ends, so each
side reads exactly the bytes it expects and then closes (no half-close).
As in test_obfs4_interop.py the sizes are the same for a sanitizer build
(PTD_SANITIZED) and the deadlines scale (ptdtest.tmo).

A missing ss-server or ss-local fails every test here with an install
hint; nothing is skipped.
"""

import unittest

from obfs4test import MIB, socks5_connect_noauth
from shadowtest import (CIPHERS, INSTALL_HINT, SS_LOCAL, SS_SERVER, Endpoint, ShadowTestCase,
                        require_binary)

BULK = 64 * MIB
PASSWORD = "ptd-shadow-interop"
# The CONNECT destination given to ss-local: TEST-NET-1, never dialled (the
# ptdispatch server ignores the header's address).
IGNORED_DEST = ("192.0.2.1", 4242)


class InteropTest(ShadowTestCase):

    def report(self, name, size, seconds):
        print("\n  %s: %d MiB each way in %.1f s" % (name, size >> 20, seconds),
              end=" ", flush=True)

    def client_to_ss_server(self, cipher, cipher_name, size, seed):
        """ptdispatch client -> ss-server -> far end; returns the seconds
        the transfer took."""
        far = self.far_end(size, seed)
        _, ss_addr = self.ss_server(cipher, PASSWORD)
        _, socks = self.ptd_client()
        peer = Endpoint(ss_addr, {"password": PASSWORD, "cipherName": cipher_name,
                                  "target": far.hostport})
        return self.stream_through(socks, peer, far, seed + 1)

    def test_ptdispatch_client_to_ss_server(self):
        for i, cipher in enumerate(CIPHERS):
            with self.subTest(cipher=cipher):
                t = self.client_to_ss_server(cipher, cipher, BULK, 100 + 10 * i)
                self.report("ptdispatch -> ss-server %s" % cipher, BULK, t)

    def test_ss_local_to_ptdispatch_server(self):
        def connect(proxy, host, port):
            return socks5_connect_noauth(proxy, host, port)

        for i, cipher in enumerate(CIPHERS):
            with self.subTest(cipher=cipher):
                seed = 200 + 10 * i
                far = self.far_end(BULK, seed)
                _, saddr = self.ptd_server(far.hostport, PASSWORD, cipher)
                _, socks = self.ss_local(cipher, PASSWORD, saddr)
                t = self.stream_through(socks, Endpoint(IGNORED_DEST), far, seed + 1,
                                        connect=connect)
                self.report("ss-local -> ptdispatch %s" % cipher, BULK, t)

    def test_cipher_name_is_case_insensitive(self):
        size = 1 * MIB
        for i, (cipher, name) in enumerate(zip(CIPHERS, ("ChaCha20-IETF-Poly1305",
                                                         "AES-256-GCM", "Aes-128-Gcm"))):
            with self.subTest(cipherName=name):
                self.client_to_ss_server(cipher, name, size, 300 + 10 * i)


class PeerBinaryTest(unittest.TestCase):
    """What a machine without shadowsocks-libev sees: a failure naming
    the package, never a skip."""

    def test_missing_peer_binary_fails_with_install_hint(self):
        for path in ("/nonexistent/ss-server", "/nonexistent/ss-local"):
            with self.assertRaises(AssertionError) as cm:
                require_binary(path)
            self.assertIn(INSTALL_HINT, str(cm.exception))
            self.assertIn(path, str(cm.exception))

    def test_peer_binaries_present(self):
        for path in (SS_SERVER, SS_LOCAL):
            require_binary(path)


if __name__ == "__main__":
    unittest.main()
