"""Shared helpers for the UDP-mode tests (test_udp_transparent.py,
test_udp_stun.py): a UDP echo server that records who sent what, a
UDP client socket with bounded waits, and starting a ptdispatch pair in
a UDP mode (managed mode for the server, -target on the client, as PT
2.1 s1.5.2 says: the UDP modes are configured globally).

Standard library only.
"""

import os
import socket
import struct
import threading
import time

from ptdtest import PtdTestCase, fmt_hostport, tmo


class UdpEcho:
    """A UDP echo server on loopback. Records each sender's address (the
    server ptdispatch's per-connection socket) and how many datagrams it
    echoed."""

    def __init__(self, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.hostport = fmt_hostport(host, self.port)
        self.lock = threading.Lock()
        self.senders = []  # in order of first datagram
        self.count = 0
        self.first = []    # the first 64 datagrams, as received
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                if addr not in self.senders:
                    self.senders.append(addr)
                self.count += 1
                if len(self.first) < 64:
                    self.first.append(data)
            try:
                self.sock.sendto(data, addr)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


def udp_socket(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, 0))
    return s


def exchange(sock, addr, data, timeout=None, tries=1):
    """Sends data to addr and waits for one datagram back (resending up to
    tries times, a second apart at most). Returns it, or None."""
    deadline = time.monotonic() + (timeout or tmo(5))
    for _ in range(tries):
        sock.sendto(data, addr)
        end = min(deadline, time.monotonic() + max(1.0, (deadline - time.monotonic()) / tries))
        while time.monotonic() < end:
            sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                got, _ = sock.recvfrom(65535)
                return got
            except socket.timeout:
                break
    return None


STUN_MAGIC_COOKIE = 0x2112A442


def stun_binding_request():
    """(request bytes, transaction id): a Binding request with no
    attributes (RFC 5389 s6)."""
    txid = os.urandom(12)
    return struct.pack("!HHI", 0x0001, 0, STUN_MAGIC_COOKIE) + txid, txid


def stun_answers(addr, timeout=1.0):
    """True if a Binding request to addr gets a response with its
    transaction id within timeout."""
    s = udp_socket(addr[0])
    try:
        req, txid = stun_binding_request()
        got = exchange(s, addr, req, timeout=timeout)
        return bool(got) and len(got) >= 20 and got[8:20] == txid
    finally:
        s.close()


class UdpTestCase(PtdTestCase):

    def udp_echo(self, host="127.0.0.1"):
        e = UdpEcho(host)
        self.addCleanup(e.close)
        return e

    def udp_pair(self, mode, target, client_args=(), server_args=(), transport="plain",
                 client_options=None, server_options=None, mode_flags=None):
        """A server ptdispatch in mode relaying to target ('host:port' of a
        UDP service) and a client ptdispatch whose UDP listener forwards
        to it. client_options may be a function of the server's SMETHOD
        ARGS; mode_flags, if given, select the mode instead of -mode.
        Returns (client, (host, port) of the client's UDP port, server)."""
        flags = tuple(mode_flags) if mode_flags else ("-mode", mode)
        senv = self.server_env(transports=transport, orport=target,
                               TOR_PT_SERVER_BINDADDR="%s-127.0.0.1:0" % transport)
        if server_options:
            senv["TOR_PT_SERVER_TRANSPORT_OPTIONS"] = server_options
        server = self.launch(args=flags + tuple(server_args), env=senv)
        server.wait_done(tmo(30))
        _, shost, sport, rest = server.methods()[transport]
        cargs = flags + ("-target", fmt_hostport(shost, sport)) + tuple(client_args)
        if callable(client_options):
            # From the server's SMETHOD ARGS: (obfs4's cert).
            args = dict(kv.split("=", 1) for r in rest if r.startswith("ARGS:")
                        for kv in r[5:].split(","))
            client_options = client_options(args)
        if client_options:
            cargs += ("-options", client_options)
        client = self.launch(args=cargs, env=self.client_env(transports=transport))
        client.wait_done(tmo(30))
        m = client.methods()
        if transport not in m:
            raise AssertionError("no CMETHOD for %s\n%s" % (transport, client.describe()))
        proto, chost, cport, _ = m[transport]
        self.assertEqual(proto, mode)
        return client, (chost, cport), server
