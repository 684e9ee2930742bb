"""A test Extended ORPort: the bridge's side of ext-orport-spec, on loopback.

Standard library only. ExtOrPortServer writes its own cookie file and, for
every connection ptdispatch makes, plays Tor: offers SAFE_COOKIE, proves
it knows the cookie, CHECKS the client's hash (a wrong one gets status 0),
records USERADDR and TRANSPORT, and then acts out its mode:

  "okay"     OKAY (after `okay_delay` seconds, and followed at once by
             `greeting`, as ORPort bytes), then echoes everything until EOF
  "deny"     DENY, then waits for ptdispatch to hang up
  "bad-hash" sends a server hash that does not match, then waits for
             ptdispatch to hang up (it must, before sending a client hash)
  "silent"   accepts and says nothing at all (a hung bridge)

Each connection gets the next mode from `modes` (a list the test fills),
or `default_mode` once that is empty. What happened is kept per
connection in a Session, in arrival order, in `sessions`.
"""

import hashlib
import hmac
import os
import secrets
import socket
import struct
import threading
import time

from ptdtest import COOKIE_HEADER, TcpServer, recv_exact, tmo, write_cookie

SERVER_LABEL = b"ExtORPort authentication server-to-client hash"
CLIENT_LABEL = b"ExtORPort authentication client-to-server hash"

CMD_DONE, CMD_USERADDR, CMD_TRANSPORT = 0x0000, 0x0001, 0x0002
CMD_OKAY, CMD_DENY = 0x1000, 0x1001

# More commands than a transport has any reason to send before DONE.
MAX_COMMANDS = 32


def command(cmd, body=b""):
    return struct.pack("!HH", cmd, len(body)) + body


def read_command(conn):
    cmd, n = struct.unpack("!HH", recv_exact(conn, 4))
    return cmd, recv_exact(conn, n) if n else b""


def safe_cookie_hash(cookie, label, client_nonce, server_nonce):
    return hmac.new(cookie, label + client_nonce + server_nonce, hashlib.sha256).digest()


class Session:
    """One connection from ptdispatch, as the bridge saw it."""

    def __init__(self, mode):
        self.mode = mode
        self.auth_type = None
        self.client_hash_ok = None  # None: no client hash arrived
        self.useraddr = None
        self.transport = None
        self.other_commands = []
        self.echoed = 0
        self.hung_up = False  # ptdispatch closed its side (EOF or reset)
        self.error = None
        self.finished = threading.Event()

    def __repr__(self):
        return ("Session(mode=%r, auth_type=%r, client_hash_ok=%r, useraddr=%r, transport=%r, "
                "other=%r, echoed=%d, hung_up=%r, error=%r)" % (
                    self.mode, self.auth_type, self.client_hash_ok, self.useraddr,
                    self.transport, self.other_commands, self.echoed, self.hung_up, self.error))


class ExtOrPortServer:
    """The test bridge. Close it with close() (PtdTestCase: addCleanup)."""

    def __init__(self, cookie_dir, host="127.0.0.1", default_mode="okay", greeting=b"",
                 okay_delay=0.0):
        self.cookie = secrets.token_bytes(32)
        self.cookie_path = os.path.join(cookie_dir, "extended_orport_auth_cookie")
        write_cookie(self.cookie_path, self.cookie)
        self.default_mode = default_mode
        self.modes = []
        self.greeting = greeting
        self.okay_delay = okay_delay  # seconds to sit on DONE before OKAY
        self.sessions = []
        self._lock = threading.Lock()
        self._tcp = TcpServer(self._handle, host)
        self.addr = self._tcp.addr
        self.hostport = self._tcp.hostport

    def close(self):
        self._tcp.close()

    @property
    def accepted(self):
        return self._tcp.accepted

    def wait_sessions(self, n, timeout=None):
        """Waits until n sessions have finished; returns the first n."""
        deadline = time.monotonic() + (tmo(30) if timeout is None else timeout)
        while time.monotonic() < deadline:
            with self._lock:
                got = list(self.sessions[:n])
            if len(got) == n and all(s.finished.is_set() for s in got):
                return got
            time.sleep(0.02)
        with self._lock:
            raise AssertionError("%d ExtORPort session(s) not finished in time: %r"
                                 % (n, self.sessions))

    # -- the bridge's side --
    def _next_mode(self):
        with self._lock:
            return self.modes.pop(0) if self.modes else self.default_mode

    def _handle(self, conn):
        sess = Session(self._next_mode())
        with self._lock:
            self.sessions.append(sess)
        try:
            self._converse(conn, sess)
        except (EOFError, ConnectionResetError, BrokenPipeError) as e:
            sess.hung_up = True
            sess.error = sess.error or repr(e)
        except Exception as e:
            sess.error = repr(e)
            raise
        finally:
            sess.finished.set()

    def _wait_hangup(self, conn, sess):
        """Reads until ptdispatch closes; anything it sends is an error."""
        try:
            data = conn.recv(65536)
        except ConnectionResetError:
            data = b""
        if data:
            sess.error = "unexpected bytes after the bridge's last word: %r" % data[:64]
        sess.hung_up = True

    def _converse(self, conn, sess):
        if sess.mode == "silent":
            self._wait_hangup(conn, sess)
            return
        conn.sendall(b"\x01\x00")  # SAFE_COOKIE only, as Tor offers
        sess.auth_type = recv_exact(conn, 1)[0]
        if sess.auth_type != 1:
            sess.error = "auth type %d" % sess.auth_type
            return
        client_nonce = recv_exact(conn, 32)
        server_nonce = secrets.token_bytes(32)
        server_hash = safe_cookie_hash(self.cookie, SERVER_LABEL, client_nonce, server_nonce)
        if sess.mode == "bad-hash":
            server_hash = bytes([server_hash[0] ^ 1]) + server_hash[1:]
        conn.sendall(server_hash + server_nonce)
        if sess.mode == "bad-hash":
            self._wait_hangup(conn, sess)
            return
        client_hash = recv_exact(conn, 32)
        want = safe_cookie_hash(self.cookie, CLIENT_LABEL, client_nonce, server_nonce)
        sess.client_hash_ok = hmac.compare_digest(client_hash, want)
        conn.sendall(b"\x01" if sess.client_hash_ok else b"\x00")
        if not sess.client_hash_ok:
            return
        for _ in range(MAX_COMMANDS):
            cmd, body = read_command(conn)
            if cmd == CMD_DONE:
                break
            if cmd == CMD_USERADDR:
                sess.useraddr = body.decode("ascii")
            elif cmd == CMD_TRANSPORT:
                sess.transport = body.decode("ascii")
            else:
                sess.other_commands.append((cmd, body))
        else:
            sess.error = "no DONE after %d commands" % MAX_COMMANDS
            return
        if sess.mode == "deny":
            conn.sendall(command(CMD_DENY))
            self._wait_hangup(conn, sess)
            return
        if self.okay_delay:
            time.sleep(self.okay_delay)
        conn.sendall(command(CMD_OKAY) + self.greeting)
        self._echo(conn, sess)

    def _echo(self, conn, sess):
        while True:
            try:
                data = conn.recv(262144)
            except socket.timeout:
                sess.error = "echo: timed out"
                return
            if not data:
                break
            conn.sendall(data)
            sess.echoed += len(data)
        sess.hung_up = True
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def cookie_file_bytes(cookie):
    return COOKIE_HEADER + cookie
