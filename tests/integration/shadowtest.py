"""Shared helpers for the shadow (Shadowsocks AEAD, SIP004) tests
(test_shadow_interop.py, and the probe tests to come) and for
scripts/shadow_vectors.py.

- The reference peer, shadowsocks-libev (the Debian package): ss-server
  and ss-local started from JSON configs in temp dirs, their listening
  address read from their own "listening at" log line (so no probe
  connection ever reaches them), stopped by the Popen they were started
  with (ptdtest.Proc).
- ptdispatch as a shadow client (managed mode, per-connection arguments
  password/cipherName/target in RFC 1929 user/password the way Tor sends
  them, obfs4test.socks5_connect_userpass) and as a shadow server
  (TOR_PT_SERVER_TRANSPORT_OPTIONS shadow:password=..;shadow:cipherName=..).
- The wire format's sizes: salt per cipher, 2 + 16 + n + 16 bytes per
  chunk.

The bulk-transfer machinery (far ends, seeded streams hashed on the fly,
each side reading exactly what it expects since ss-server and ss-local,
like obfs4proxy, close both ways once one side ends) is obfs4test's; it
is transport-neutral and used from there, not copied.

Standard library only.
"""

import json
import os
import re
import subprocess
import threading
import time

from obfs4test import Obfs4TestCase, method_lines, options_env
from ptdtest import PtdTestCase, Proc, echo_handler, free_port, tmo

SS_SERVER = "/usr/bin/ss-server"
SS_LOCAL = "/usr/bin/ss-local"
INSTALL_HINT = "apt-get install shadowsocks-libev"

CIPHERS = ("chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm")
SALT_LEN = {"chacha20-ietf-poly1305": 32, "aes-256-gcm": 32, "aes-128-gcm": 16}
KEY_LEN = {"chacha20-ietf-poly1305": 32, "aes-256-gcm": 32, "aes-128-gcm": 16}
TAG_LEN = 16
LEN_LEN = 2
CHUNK_OVERHEAD = LEN_LEN + TAG_LEN + TAG_LEN  # bytes a chunk adds to its payload
MAX_PAYLOAD = 0x3FFF

LISTENING_RE = re.compile(r"listening at (\S+):(\d+)")


def require_binary(path):
    """Raises AssertionError with the install hint unless path is an
    executable file. The tests fail on a missing peer, never skip."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("%s not found or not executable: %s" % (path, INSTALL_HINT))


def require_shadowsocks():
    for path in (SS_SERVER, SS_LOCAL):
        require_binary(path)


def ss_version(path=SS_SERVER):
    """'3.3.5' from the banner `ss-server -h` prints, or None."""
    try:
        r = subprocess.run([path, "-h"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(rb"shadowsocks-libev (\S+)", r.stdout)
    return m.group(1).decode() if m else None


def wire_len(cipher, payload_len, chunks=1):
    """Bytes on the wire for one direction: salt, then `chunks` chunks
    carrying payload_len bytes between them."""
    return SALT_LEN[cipher] + chunks * CHUNK_OVERHEAD + payload_len


def write_config(directory, name, fields):
    """Writes fields as JSON to directory/name; returns the path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(fields, f, indent=1, sort_keys=True)
        f.write("\n")
    return path


def server_config(method, password, port, host="127.0.0.1", timeout=60):
    return {"server": host, "server_port": port, "password": password, "method": method,
            "mode": "tcp_only", "timeout": timeout, "fast_open": False}


def local_config(method, password, server_addr, local_port, timeout=60):
    return {"server": server_addr[0], "server_port": server_addr[1],
            "local_address": "127.0.0.1", "local_port": local_port,
            "password": password, "method": method, "mode": "tcp_only",
            "timeout": timeout, "fast_open": False}


class ExitedEarly(AssertionError):
    """ss-server / ss-local exited before it was listening (a port taken
    between free_port() and its bind, say)."""


def _listening(proc):
    # ss-server and ss-local log to stdout when it is not a terminal (and
    # to stderr otherwise): look at both.
    for line in list(proc.out) + list(proc.err):
        m = LISTENING_RE.search(line)
        if m:
            return m.group(1), int(m.group(2))
    return None


def wait_listening(proc, timeout=None):
    """Waits for the "listening at HOST:PORT" line ss-server and ss-local
    log at startup; returns (host, port). Fails if the process exits
    first (ExitedEarly) or the deadline passes."""
    timeout = tmo(10) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        addr = _listening(proc)
        if addr:
            return addr
        if not proc.alive():
            # Let the output readers catch up before reporting.
            proc.wait_exit(tmo(5))
            addr = _listening(proc)
            if addr:
                return addr
            raise ExitedEarly("%s exited (rc %r) before listening\n%s"
                              % (proc.argv[0], proc.proc.returncode, proc.describe()))
        if time.monotonic() > deadline:
            raise AssertionError("%s not listening after %.1fs\n%s"
                                 % (proc.argv[0], timeout, proc.describe()))
        time.sleep(0.02)


def start_ss(binary, config_path, extra_args=(), timeout=None):
    """Starts ss-server or ss-local with `-c config_path`; returns (Proc,
    (host, port) it listens on). The caller stops the Proc."""
    p = Proc([binary, "-c", config_path] + list(extra_args))
    try:
        addr = wait_listening(p, timeout)
    except BaseException:
        p.stop()
        raise
    return p, addr


def start_ss_server(directory, method, password, port=None, extra_args=(), timeout=None):
    """ss-server on 127.0.0.1 (port: a free one by default), its config in
    directory. Returns (Proc, (host, port), config path)."""
    for attempt in range(3):
        cfg = write_config(directory, "ss-server.json",
                           server_config(method, password, port or free_port()))
        try:
            p, addr = start_ss(SS_SERVER, cfg, extra_args, timeout)
            return p, addr, cfg
        except ExitedEarly:
            # A free port taken between free_port() and the bind: retry.
            if port is not None or attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_ss_local(directory, method, password, server_addr, extra_args=(), timeout=None):
    """ss-local on 127.0.0.1 (a free port) for the server at server_addr,
    its config in directory. Returns (Proc, (host, port) of its SOCKS5
    listener, config path)."""
    for attempt in range(3):
        cfg = write_config(directory, "ss-local.json",
                           local_config(method, password, server_addr, free_port()))
        try:
            p, addr = start_ss(SS_LOCAL, cfg, extra_args, timeout)
            return p, addr, cfg
        except ExitedEarly:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class CountingEcho:
    """A TCP echo server (an ORPort or a target) that counts the
    connections it has accepted: what reached it, and what did not."""

    def __init__(self, case):
        self.count = 0
        self.lock = threading.Lock()

        def handler(conn):
            with self.lock:
                self.count += 1
            echo_handler(conn)

        self.server = case.server_socket(handler)
        self.port = self.server.port
        self.hostport = self.server.hostport


class Endpoint:
    """What obfs4test's stream_through() calls a bridge: the address the
    SOCKS client asks for, and the per-connection arguments it sends."""

    def __init__(self, addr, args=None):
        self.addr = addr
        self.args = dict(args or {})

    def client_args(self):
        return dict(self.args)


class ShadowTestCase(PtdTestCase):
    """Starts shadowsocks-libev and ptdispatch shadow clients and servers;
    everything is stopped in the test's cleanups."""

    # obfs4test's bulk machinery, transport-neutral: far_end(size, seed)
    # gives an ORPort / target that streams and hashes; stream_through()
    # runs a transfer through a SOCKS client and checks both hashes.
    far_end = Obfs4TestCase.far_end
    stream_through = Obfs4TestCase.stream_through

    def setUp(self):
        super().setUp()
        require_shadowsocks()

    def _finish_ss(self, p):
        p.stop()

    def ss_server(self, method, password):
        """An ss-server; returns (Proc, (host, port))."""
        d = self.tempdir("ptd-ss-server-")
        p, addr, _ = start_ss_server(d, method, password)
        self.addCleanup(self._finish_ss, p)
        return p, addr

    def ss_local(self, method, password, server_addr):
        """An ss-local for the server at server_addr; returns (Proc, SOCKS5
        address)."""
        d = self.tempdir("ptd-ss-local-")
        p, addr, _ = start_ss_local(d, method, password, server_addr)
        self.addCleanup(self._finish_ss, p)
        return p, addr

    def _env(self, role, extra):
        env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
               "TOR_PT_STATE_LOCATION": self.tempdir("ptd-shadow-%s-" % role),
               "TOR_PT_EXIT_ON_STDIN_CLOSE": "1"}
        if role == "server":
            env["TOR_PT_SERVER_TRANSPORTS"] = "shadow"
            env["TOR_PT_SERVER_BINDADDR"] = "shadow-127.0.0.1:0"
        else:
            env["TOR_PT_CLIENT_TRANSPORTS"] = "shadow"
        env.update(extra or {})
        return env

    def ptd_client(self, args=(), env=None):
        """A ptdispatch shadow client; returns (proc, SOCKS5 address)."""
        p = self.launch(args, env=self._env("client", env))
        p.wait_done(tmo(30))
        m = method_lines(p.out, "CMETHOD")
        if "shadow" not in m or m["shadow"][2] != "socks5":
            raise AssertionError("no CMETHOD shadow socks5 line\n%s" % p.describe())
        return p, (m["shadow"][0], m["shadow"][1])

    def ptd_server(self, orport, password, cipher, args=(), env=None):
        """A ptdispatch shadow server relaying to orport ('host:port');
        returns (proc, (host, port) of its SMETHOD)."""
        extra = {"TOR_PT_ORPORT": orport,
                 "TOR_PT_SERVER_TRANSPORT_OPTIONS":
                     options_env({"password": password, "cipherName": cipher}, "shadow")}
        extra.update(env or {})
        p = self.launch(args, env=self._env("server", extra))
        p.wait_done(tmo(30))
        m = method_lines(p.out, "SMETHOD")
        if "shadow" not in m:
            raise AssertionError("no SMETHOD shadow line\n%s" % p.describe())
        host, port, _ = m["shadow"]
        return p, ("127.0.0.1" if host == "0.0.0.0" else host, port)
