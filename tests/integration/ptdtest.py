"""Shared helpers for ptdispatch's black-box tests.

Everything here is Python 3 standard library. The tests drive the real
binary (env PTD_BINARY, else ../../build/ptdispatch relative to this file)
over loopback only. Every wait is bounded: processes through Popen.wait
timeouts, sockets through socket timeouts, loops through deadlines.
PTD_SANITIZED=1 (an ASan/UBSan build) scales every timeout up.

Processes are launched with a cleared environment plus the variables a test
gives (and the sanitizer option variables, if the runner set any); they are
tracked by their Popen object and always stopped in the test's cleanups.
"""

import hashlib
import http.server
import ipaddress
import os
import queue
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.path.abspath(
    os.environ.get("PTD_BINARY") or os.path.join(HERE, "..", "..", "build", "ptdispatch"))
SANITIZED = os.environ.get("PTD_SANITIZED", "0").strip().lower() in ("1", "on", "true", "yes")
SCALE = 4.0 if SANITIZED else 1.0

# Only the sanitizers' own knobs are passed through from the runner.
PASS_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH")

DONE_LINES = ("CMETHODS DONE", "SMETHODS DONE")
FATAL_PREFIXES = ("VERSION-ERROR", "ENV-ERROR", "PROXY-ERROR")
STATUS_RE = re.compile(r"^STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=\d+\.\d+\.\d+\S*$")
LINE_RE = re.compile(r"^[A-Za-z0-9_-]+( [^\x00\n]*)?$")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_CONFIG = 0, 64, 69, 78


def tmo(seconds):
    """A timeout, scaled for sanitizer builds."""
    return seconds * SCALE


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class Proc:
    """A child process whose stdout lines and stderr are read by threads.

    stdout lines go to a queue (read_until / read_all consume it) and to
    self.out (every line ever read); stderr lines go to self.err.
    """

    def __init__(self, argv, env=None, cwd=None, stdin=subprocess.PIPE, clear_env=True):
        if clear_env:
            full = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        else:
            full = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = v
        self.argv = list(argv)
        self.env = full
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full, cwd=cwd,
                                     close_fds=True)
        self.pid = self.proc.pid
        self.out = []
        self.err = []
        self.partial_line = False  # stdout ended without a newline
        self._q = queue.Queue()
        self._eof = False
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()

    # -- readers --
    def _read_out(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                if line.endswith("\n"):
                    line = line[:-1]
                else:
                    self.partial_line = True
                self.out.append(line)
                self._q.put(line)
        except (OSError, ValueError):
            pass
        finally:
            self._q.put(None)

    def _read_err(self):
        try:
            for raw in iter(self.proc.stderr.readline, b""):
                self.err.append(raw.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass

    def describe(self):
        return ("argv: %r\nenv: %r\nstdout:\n  %s\nstderr:\n  %s" % (
            self.argv, self.env, "\n  ".join(self.out), "\n  ".join(self.err[-60:])))

    def read_until(self, pred, timeout=None):
        """Reads stdout lines until pred(line) is true; returns the lines read
        by this call (the matching one last). Fails on EOF or timeout."""
        timeout = tmo(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1fs waiting for a stdout line\n%s"
                                     % (timeout, self.describe()))
            if self._eof:
                raise AssertionError("stdout closed before the expected line\n%s"
                                     % self.describe())
            try:
                line = self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self._eof = True
                continue
            got.append(line)
            if pred(line):
                return got

    def read_all(self, timeout=None):
        """Reads stdout lines until EOF; returns the lines read by this call."""
        timeout = tmo(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        got = []
        while not self._eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1fs waiting for stdout EOF\n%s"
                                     % (timeout, self.describe()))
            try:
                line = self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self._eof = True
            else:
                got.append(line)
        return got

    def wait_done(self, timeout=None):
        """Reads until CMETHODS DONE / SMETHODS DONE; fails on a fatal error
        line. Returns the lines read."""
        lines = self.read_until(lambda l: l in DONE_LINES or l.startswith(FATAL_PREFIXES),
                                timeout)
        if lines[-1].startswith(FATAL_PREFIXES):
            raise AssertionError("ptdispatch failed to start: %s\n%s"
                                 % (lines[-1], self.describe()))
        return lines

    # -- process control --
    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait_exit(self, timeout=None):
        """Waits for the process to exit, then for its output; returns the
        exit code. Fails (after killing it) if it does not exit in time."""
        timeout = tmo(10) if timeout is None else timeout
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=tmo(10))
            self._join()
            raise AssertionError("process did not exit within %.1fs\n%s"
                                 % (timeout, self.describe()))
        self._join()
        return rc

    def _join(self):
        self._t_out.join(timeout=tmo(5))
        self._t_err.join(timeout=tmo(5))

    def stop(self):
        """Cleanup: close stdin, SIGTERM, then SIGKILL; never hangs."""
        if self.proc.poll() is None:
            self.close_stdin()
            try:
                self.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=tmo(5))
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=tmo(10))
            except subprocess.TimeoutExpired:
                pass
        self.close_stdin()
        self._join()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, AttributeError):
                pass

    def sanitizer_report(self):
        text = "\n".join(self.err)
        if any(m in text for m in SANITIZER_MARKERS):
            return text
        return None


class Ptd(Proc):
    """A ptdispatch process."""

    def __init__(self, args=(), env=None, cwd=None, stdin=subprocess.PIPE, prefix=()):
        # prefix: a command to run the binary under (valgrind, say).
        super().__init__(list(prefix) + [BINARY] + list(args), env=env, cwd=cwd, stdin=stdin)

    def methods(self):
        """{transport: (proto or None, host, port, rest)} from the CMETHOD /
        SMETHOD lines read so far."""
        res = {}
        for line in self.out:
            parts = line.split(" ")
            if parts[0] == "CMETHOD" and len(parts) >= 4:
                host, port = parse_hostport(parts[3])
                res[parts[1]] = (parts[2], host, port, parts[4:])
            elif parts[0] == "SMETHOD" and len(parts) >= 3:
                host, port = parse_hostport(parts[2])
                res[parts[1]] = (None, host, port, parts[3:])
        return res

    def method_addr(self, transport="plain"):
        m = self.methods()
        if transport not in m:
            raise AssertionError("no method line for %r\n%s" % (transport, self.describe()))
        return (m[transport][1], m[transport][2])


def non_log(lines):
    """The lines that are not LOG lines."""
    return [l for l in lines if not l.startswith("LOG ")]


def parse_hostport(text):
    """'1.2.3.4:5' -> ('1.2.3.4', 5); '[::1]:5' -> ('::1', 5)."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", text) or re.match(r"^([^:\[\]]+):(\d+)$", text)
    if not m:
        raise AssertionError("not an address:port: %r" % text)
    return m.group(1), int(m.group(2))


def fmt_hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def pid_state(pid):
    """None if the pid is gone, else the state letter from /proc/PID/stat
    ('Z' for a zombie). Falls back to os.kill(pid, 0)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        return data[data.rindex(")") + 2]
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def pid_exe_is(pid, path):
    """True if /proc/PID/exe is path (used before signalling a pid we do not
    own as a child, so that a reused pid is never hit)."""
    try:
        return os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(path)
    except OSError:
        return False


# --------------------------------------------------------------------------
# Test case base
# --------------------------------------------------------------------------

class PtdTestCase(unittest.TestCase):
    """Base class: temp dirs, launching ptdispatch, loopback servers, all
    cleaned up automatically."""

    maxDiff = None

    def setUp(self):
        self.assertTrue(os.path.isfile(BINARY) and os.access(BINARY, os.X_OK),
                        "ptdispatch binary not found or not executable: %s" % BINARY)

    # -- resources --
    def tempdir(self, prefix="ptd-"):
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def launch(self, args=(), env=None, cwd=None, stdin=subprocess.PIPE, prefix=()):
        p = Ptd(args, env=env, cwd=cwd, stdin=stdin, prefix=prefix)
        self.addCleanup(self._finish_proc, p)
        return p

    def launch_argv(self, argv, env=None, cwd=None, stdin=subprocess.PIPE, clear_env=True):
        p = Proc(argv, env=env, cwd=cwd, stdin=stdin, clear_env=clear_env)
        self.addCleanup(self._finish_proc, p)
        return p

    def _finish_proc(self, p):
        p.stop()
        rep = p.sanitizer_report()
        if rep:
            self.fail("sanitizer report from %r:\n%s" % (p.argv, rep))

    def server_socket(self, handler, host="127.0.0.1"):
        s = TcpServer(handler, host)
        self.addCleanup(s.close)
        return s

    def echo_server(self, host="127.0.0.1"):
        return self.server_socket(echo_handler, host)

    def http_server(self, body, host="127.0.0.1"):
        s = TinyHttpServer(body, host)
        self.addCleanup(s.close)
        return s

    def connect(self, addr, timeout=None, source=None):
        s = tcp_connect(addr, timeout=timeout, source=source)
        self.addCleanup(s.close)
        return s

    # -- environments --
    def client_env(self, transports="plain", version="1", state=None, **extra):
        env = {
            "TOR_PT_MANAGED_TRANSPORT_VER": version,
            "TOR_PT_CLIENT_TRANSPORTS": transports,
            "TOR_PT_STATE_LOCATION": state or self.tempdir("ptd-cstate-"),
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        env.update(extra)
        return env

    def server_env(self, transports="plain", orport="127.0.0.1:9", version="1", state=None,
                   **extra):
        env = {
            "TOR_PT_MANAGED_TRANSPORT_VER": version,
            "TOR_PT_SERVER_TRANSPORTS": transports,
            "TOR_PT_STATE_LOCATION": state or self.tempdir("ptd-sstate-"),
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        if orport is not None:
            env["TOR_PT_ORPORT"] = orport
        env.update(extra)
        return env

    # -- common launches --
    def start_client(self, env=None, args=(), cwd=None, transport="plain", **envkw):
        """Starts a client; returns (proc, (host, port) of transport's CMETHOD)."""
        p = self.launch(args, env=env if env is not None else self.client_env(**envkw), cwd=cwd)
        p.wait_done()
        return p, p.method_addr(transport)

    def start_server(self, env=None, args=(), cwd=None, transport="plain", **envkw):
        """Starts a server; returns (proc, (host, port) of transport's SMETHOD)."""
        p = self.launch(args, env=env if env is not None else self.server_env(**envkw), cwd=cwd)
        p.wait_done()
        host, port = p.method_addr(transport)
        # A server without a bind address listens on every address; tests
        # still only ever talk to loopback.
        if host == "0.0.0.0":
            host = "127.0.0.1"
        return p, (host, port)

    def start_pair(self, orport, client_env=None, server_env=None, client_args=(),
                   server_args=(), bindaddr=None):
        """A server ptdispatch relaying to orport ('host:port') and a client
        ptdispatch. Returns (client, socks_addr, server, server_addr)."""
        senv = server_env or self.server_env(orport=orport)
        if bindaddr is not None:
            senv["TOR_PT_SERVER_BINDADDR"] = bindaddr
        server, saddr = self.start_server(env=senv, args=server_args)
        client, caddr = self.start_client(env=client_env or self.client_env(), args=client_args)
        return client, caddr, server, saddr

    def run_to_exit(self, args=(), env=None, timeout=None, cwd=None):
        """Runs ptdispatch expecting it to exit by itself (stdin left open).
        Returns the Ptd (with .out, .err) and the exit code."""
        p = self.launch(args, env=env, cwd=cwd)
        rc = p.wait_exit(tmo(10) if timeout is None else timeout)
        p.read_all(tmo(5))
        return p, rc

    def assert_exits(self, p, code=0, timeout=None):
        rc = p.wait_exit(timeout)
        self.assertEqual(rc, code, "exit code %r, expected %r\n%s" % (rc, code, p.describe()))

    def assert_startup_order(self, lines, version, middle, done):
        """lines (LOG lines dropped) must be VERSION, STATUS, *middle, done.
        middle is a list of regexes."""
        nl = non_log(lines)
        self.assertGreaterEqual(len(nl), 2 + len(middle) + 1, "\n".join(lines))
        self.assertFalse(lines[0].startswith("LOG "), "a LOG line before VERSION: %r" % lines)
        self.assertEqual(nl[0], "VERSION %s" % version, "\n".join(lines))
        self.assertRegex(nl[1], STATUS_RE)
        self.assertEqual(len(nl), 2 + len(middle) + 1, "unexpected lines:\n" + "\n".join(lines))
        for pat, got in zip(middle, nl[2:-1]):
            self.assertRegex(got, pat)
        self.assertEqual(nl[-1], done)

    def assert_fatal(self, p, rc, keyword, code, version=None):
        """Checks an ENV-ERROR / PROXY-ERROR exit: VERSION, STATUS, the error
        line last, the same line on stderr, exit code. Returns the line."""
        desc = p.describe()
        nl = non_log(p.out)
        self.assertEqual(rc, code, "exit code %r, expected %r\n%s" % (rc, code, desc))
        self.assertGreaterEqual(len(nl), 3, desc)
        if version is not None:
            self.assertEqual(nl[0], "VERSION %s" % version, desc)
        else:
            self.assertRegex(nl[0], r"^VERSION \d+$", desc)
        self.assertRegex(nl[1], STATUS_RE, desc)
        self.assertEqual(len(nl), 3, "expected exactly VERSION, STATUS, %s\n%s" % (keyword, desc))
        line = nl[2]
        self.assertTrue(line.startswith(keyword + " ") and len(line) > len(keyword) + 1,
                        "expected a %s line last\n%s" % (keyword, desc))
        self.assertIn(line, p.err, "the %s line is not on stderr\n%s" % (keyword, desc))
        return line


def quoted_parts(text):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


# --------------------------------------------------------------------------
# Sockets
# --------------------------------------------------------------------------

def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_connect(addr, timeout=None, source=None):
    host, port = addr
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(tmo(10) if timeout is None else timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now (bound then released)."""
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock, limit=1 << 24, timeout=None):
    """Reads until EOF (bounded in size and time). A reset counts as EOF."""
    deadline = time.monotonic() + (tmo(10) if timeout is None else timeout)
    buf = bytearray()
    while len(buf) <= limit:
        if time.monotonic() > deadline:
            raise AssertionError("no EOF before the deadline (%d bytes read)" % len(buf))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def wait_closed(sock, timeout=None):
    """True if the peer closes (EOF or reset) within timeout, reading and
    discarding anything it sends meanwhile."""
    deadline = time.monotonic() + (tmo(10) if timeout is None else timeout)
    old = sock.gettimeout()
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False
    finally:
        sock.settimeout(old)


def connect_refused_soon(addr, timeout=None):
    """Polls until a connect to addr is refused; True if it was within
    timeout. Connections that still get through are closed at once."""
    deadline = time.monotonic() + (tmo(10) if timeout is None else timeout)
    while time.monotonic() < deadline:
        try:
            s = tcp_connect(addr, timeout=1.0)
        except ConnectionRefusedError:
            return True
        except OSError:
            time.sleep(0.05)
            continue
        s.close()
        time.sleep(0.05)
    return False


def echo_roundtrip(sock, data):
    """Sends data and reads the same number of bytes back."""
    sock.sendall(data)
    return recv_exact(sock, len(data))


def seeded_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class TcpServer:
    """A threaded TCP server on loopback: handler(conn) runs in a thread per
    connection (the conn has a timeout set). Records peers and handler
    errors."""

    def __init__(self, handler, host="127.0.0.1", io_timeout=None):
        self.handler = handler
        self.io_timeout = tmo(30) if io_timeout is None else io_timeout
        self.sock = socket.socket(family_of(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.addr = (host, self.port)
        self.hostport = fmt_hostport(host, self.port)
        self.peers = []
        self.errors = []
        self.conns = []
        self._threads = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    @property
    def accepted(self):
        with self._lock:
            return len(self.peers)

    def _loop(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn.settimeout(self.io_timeout)
            with self._lock:
                self.peers.append(peer)
                self.conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # recorded, tests may assert on it
            with self._lock:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._t.join(timeout=2)
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=2)


def echo_handler(conn):
    """Echoes until EOF, then half-closes."""
    while True:
        try:
            data = conn.recv(262144)
        except (ConnectionResetError, socket.timeout):
            return
        if not data:
            break
        conn.sendall(data)
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    # Wait for the other side to close too (bounded by the conn timeout).
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


# --------------------------------------------------------------------------
# Bulk bidirectional transfer
# --------------------------------------------------------------------------

def set_big_buffers(sock, size=4 << 20):
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
        except OSError:
            pass


def duplex_transfer(sock, data, deadline, chunk=1 << 20, expect=None):
    """Sends data (then SHUT_WR) in one thread while reading until EOF in
    this one. Returns (sha256 hex, byte count) of what was received.
    Raises on send errors or if the deadline passes.

    With expect set, neither side shuts down first: it sends data without
    SHUT_WR and reads exactly expect bytes (or up to an earlier EOF), for a
    path that closes both ways on a half-close."""
    errors = []

    def sender():
        try:
            mv = memoryview(data)
            for off in range(0, len(mv), chunk):
                if time.monotonic() > deadline:
                    raise TimeoutError("send deadline passed at offset %d" % off)
                sock.sendall(mv[off:off + chunk])
            if expect is None:
                sock.shutdown(socket.SHUT_WR)
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = hash_until_eof(sock, deadline, limit=expect)
    finally:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    if t.is_alive():
        raise TimeoutError("sender still running at the deadline")
    if errors:
        raise errors[0]
    return got


def hash_until_eof(sock, deadline=None, limit=None):
    """Reads until EOF (or, with limit set, until limit bytes have come)
    without keeping the bytes; returns (sha256 hex, byte count). Raises
    TimeoutError if the deadline (monotonic) passes."""
    deadline = time.monotonic() + tmo(30) if deadline is None else deadline
    h = hashlib.sha256()
    n = 0
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    while limit is None or n < limit:
        if time.monotonic() > deadline:
            raise TimeoutError("receive deadline passed after %d bytes" % n)
        k = sock.recv_into(buf, len(buf) if limit is None else min(len(buf), limit - n))
        if k == 0:
            break
        h.update(mv[:k])
        n += k
    return h.hexdigest(), n


class DuplexPeer:
    """A TcpServer handler for bulk tests: each connection gets `data` sent
    (then SHUT_WR) while everything received is hashed until EOF; with
    expect set, as duplex_transfer() does with it. Results land in
    self.results as (sha256, count) or an exception."""

    def __init__(self, data, deadline, expect=None):
        self.data = data
        self.deadline = deadline
        self.expect = expect
        self.results = []
        self.done = threading.Event()

    def __call__(self, conn):
        set_big_buffers(conn)
        try:
            self.results.append(duplex_transfer(conn, self.data, self.deadline,
                                                expect=self.expect))
        except Exception as e:
            self.results.append(e)
        finally:
            self.done.set()

    def first_result(self):
        """Waits (until the deadline) for the first connection to finish;
        returns its (sha256, count), or raises what it raised."""
        if not self.done.wait(timeout=max(1.0, self.deadline - time.monotonic())):
            raise AssertionError("far end did not finish")
        if isinstance(self.results[0], Exception):
            raise self.results[0]
        return self.results[0]


# --------------------------------------------------------------------------
# SOCKS5 client
# --------------------------------------------------------------------------

class SocksError(Exception):
    def __init__(self, code, msg=""):
        super().__init__("SOCKS reply 0x%02x %s" % (code, msg))
        self.code = code


def socks5_address(host):
    """ATYP + address bytes for host (an IP literal or a domain)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raw = host.encode("idna")
        return b"\x03" + bytes([len(raw)]) + raw
    if ip.version == 4:
        return b"\x01" + ip.packed
    return b"\x04" + ip.packed


def socks5_read_reply(sock):
    """Reads a SOCKS5 reply; returns (rep, bound_host, bound_port)."""
    head = recv_exact(sock, 4)
    if head[0] != 5:
        raise AssertionError("SOCKS reply version %r" % head[0])
    atyp = head[3]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_exact(sock, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(sock, 16))
    elif atyp == 3:
        host = recv_exact(sock, recv_exact(sock, 1)[0]).decode("ascii", "replace")
    else:
        raise AssertionError("SOCKS reply ATYP %r" % atyp)
    port = struct.unpack("!H", recv_exact(sock, 2))[0]
    return head[1], host, port


def socks5_greet(sock, methods=(0,)):
    """Sends the method offer; returns the method the server chose."""
    sock.sendall(bytes([5, len(methods)]) + bytes(methods))
    reply = recv_exact(sock, 2)
    if reply[0] != 5:
        raise AssertionError("SOCKS method reply version %r" % reply[0])
    return reply[1]


def socks5_connect(proxy, host, port, timeout=None, source=None):
    """CONNECT through a SOCKS5 proxy with no authentication. Returns the
    connected socket; raises SocksError on a failure reply."""
    s = tcp_connect(proxy, timeout=timeout, source=source)
    try:
        m = socks5_greet(s, (0,))
        if m != 0:
            raise SocksError(0xFF, "method 0x%02x" % m)
        s.sendall(b"\x05\x01\x00" + socks5_address(host) + struct.pack("!H", port))
        rep, _, _ = socks5_read_reply(s)
        if rep != 0:
            raise SocksError(rep)
    except BaseException:
        s.close()
        raise
    return s


# --------------------------------------------------------------------------
# ExtORPort (a fake bridge side, SAFE_COOKIE)
# --------------------------------------------------------------------------

COOKIE_HEADER = b"! Extended ORPort Auth Cookie !\x0a"


def write_cookie(path, cookie):
    with open(path, "wb") as f:
        f.write(COOKIE_HEADER + cookie)
    os.chmod(path, 0o600)


class TinyHttpServer:
    """Serves `body` (bytes) for GET / on loopback, in a thread."""

    def __init__(self, body, host="127.0.0.1"):
        payload = body

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = family_of(host)
            daemon_threads = True

        self.httpd = Server((host, 0), Handler)
        self.httpd.timeout = 0.5
        self.port = self.httpd.server_address[1]
        self.addr = (host, self.port)
        self.hostport = fmt_hostport(host, self.port)
        self._t = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                   daemon=True)
        self._t.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._t.join(timeout=2)


def http_get_over(sock, host_header, path="/"):
    """Sends a GET on an already connected socket; returns (status, body)."""
    sock.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n"
                  % (path, host_header)).encode())
    raw = recv_until_eof(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else -1
    return status, body


# --------------------------------------------------------------------------
# Generated streams: bulk data too large to hold in memory twice
# --------------------------------------------------------------------------

def stream_chunks(seed, total, chunk=1 << 20):
    """Yields `total` bytes of reproducible pseudo-random data in chunks;
    chunk i comes from its own generator seeded by (seed, i), so streams
    with different seeds never share a chunk and no chunk repeats."""
    i = 0
    left = total
    while left > 0:
        n = min(chunk, left)
        yield random.Random(seed * 1000003 + i).randbytes(n)
        left -= n
        i += 1


def send_stream(sock, seed, total, deadline):
    """Sends stream_chunks(seed, total), then SHUT_WR. Returns (sha256 hex,
    byte count) of what was sent. Raises TimeoutError past the deadline."""
    h = hashlib.sha256()
    n = 0
    for data in stream_chunks(seed, total):
        if time.monotonic() > deadline:
            raise TimeoutError("send deadline passed after %d bytes" % n)
        sock.sendall(data)
        h.update(data)
        n += len(data)
    sock.shutdown(socket.SHUT_WR)
    return h.hexdigest(), n


def duplex_stream(sock, seed, total, deadline):
    """send_stream() in a thread while reading until EOF here. Returns
    (sent, received), each (sha256 hex, byte count)."""
    sent = []

    def sender():
        try:
            sent.append(send_stream(sock, seed, total, deadline))
        except Exception as e:
            sent.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = hash_until_eof(sock, deadline)
    finally:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    if t.is_alive() or not sent:
        raise TimeoutError("sender still running at the deadline")
    if isinstance(sent[0], Exception):
        raise sent[0]
    return sent[0], got


class StreamPeer:
    """A TcpServer handler for bulk tests with generated data: each
    connection gets stream (seed, total) sent while what arrives is hashed
    until EOF. Results land in self.results as (sent, received) or an
    exception."""

    def __init__(self, seed, total, deadline):
        self.seed = seed
        self.total = total
        self.deadline = deadline
        self.results = []
        self.done = threading.Event()

    def __call__(self, conn):
        set_big_buffers(conn)
        try:
            self.results.append(duplex_stream(conn, self.seed, self.total, self.deadline))
        except Exception as e:
            self.results.append(e)
        finally:
            self.done.set()


def raise_nofile(want):
    """Raises this process's soft descriptor limit to want (or the hard
    limit); returns the soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft
