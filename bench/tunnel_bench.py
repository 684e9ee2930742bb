#!/usr/bin/env python3
"""tunnel_bench: ptdispatch's plain tunnel against a direct connection and a
two-hop socat chain, on loopback. Python 3 standard library only.

    tunnel_bench.py BINARY            the benchmark (bench/run.sh calls this)
    tunnel_bench.py --backend         internal: the sink/echo server process

What it measures (see bench/README.md):
  * bulk throughput client -> sink, three setups interleaved (direct,
    ptdispatch-plain, socat-chain), BENCH_RUNS runs each, medians;
  * relay CPU seconds (user+system) per GiB moved, and the ptdispatch
    processes' peak RSS;
  * BENCH_CONNS concurrent connections each echoing BENCH_ECHO_BYTES, wall
    time, and ptdispatch's RSS per open connection.

Environment: BENCH_BYTES (default 256M; K/M/G suffixes are binary),
BENCH_RUNS (5), BENCH_CONNS (200), BENCH_ECHO_BYTES (64K), SOCAT (socat).

Everything runs on 127.0.0.1 with ephemeral ports. Every process started
here is tracked by PID and stopped at the end; every loop is bounded in
count and time. Exit status: 0 when every transfer was complete and every
process stayed up, 1 otherwise, 2 on a usage error.
"""

import errno
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1 << 20
GiB = 1 << 30
CHUNK = 1 * MiB              # client send size
SOCK_BUF = 4 * MiB           # SO_SNDBUF / SO_RCVBUF for the bench's own sockets
IO_TIMEOUT = 30.0            # no progress for this long on one socket: broken
START_TIMEOUT = 10.0         # a relay must be ready within this
SETTLE_TIMEOUT = 10.0        # relays must drop finished connections within this
CLK_TCK = os.sysconf("SC_CLK_TCK")

MODE_SINK = b"S"             # first byte of a connection to the backend
MODE_ECHO = b"E"


class BenchError(Exception):
    """Something broke: a wrong byte count, a dead process, a timeout."""


def note(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# The backend: sink + threaded echo server, run as a separate process
# --------------------------------------------------------------------------

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise BenchError("EOF after %d of %d bytes" % (len(buf), n))
        buf += got
    return bytes(buf)


def backend_conn(conn):
    try:
        conn.settimeout(IO_TIMEOUT)
        mode = conn.recv(1)
        if mode == MODE_SINK:
            # Count until EOF, answer with the count (8 bytes, big-endian).
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            total = 0
            while True:
                n = conn.recv_into(view)
                if n == 0:
                    break
                total += n
            conn.sendall(struct.pack(">Q", total))
        elif mode == MODE_ECHO:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
    except OSError as e:
        print("backend: connection failed: %s" % e, file=sys.stderr, flush=True)
    finally:
        conn.close()


def backend_main():
    """Listens on 127.0.0.1:0, prints 'PORT n', serves one thread per
    connection until stdin closes (the parent is done or gone)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCK_BUF)  # inherited by accept()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCK_BUF)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1024)
    ls.settimeout(0.5)
    print("PORT %d" % ls.getsockname()[1], flush=True)

    stop = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.is_set():
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.05)
                continue
            raise
        threading.Thread(target=backend_conn, args=(conn,), daemon=True).start()
    ls.close()
    os._exit(0)


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------

def _proc_stat(pid):
    """Fields of /proc/pid/stat after the command name (index 0 = state)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def _children_files_work():
    return os.path.exists("/proc/self/task/%d/children" % os.getpid())


HAVE_CHILDREN_FILES = _children_files_work()


def children_of(pid):
    kids = []
    if HAVE_CHILDREN_FILES:
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                try:
                    with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                        kids.extend(int(x) for x in f.read().split())
                except OSError:
                    pass
        except OSError:
            pass
        return kids
    # Kernels without CONFIG_PROC_CHILDREN: scan /proc for the parent PID.
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if int(_proc_stat(int(name))[1]) == pid:
                kids.append(int(name))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def descendants(pid, limit=100000):
    out, todo = [], [pid]
    while todo and len(out) < limit:
        for k in children_of(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def cpu_ticks(pids):
    """utime+stime+cutime+cstime summed over pids and all their live
    descendants (children already reaped are in their parent's c-times)."""
    total = 0
    for root in pids:
        for pid in [root] + descendants(root):
            try:
                f = _proc_stat(pid)
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
            except (OSError, ValueError, IndexError):
                pass
    return total


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError("no %s in /proc/%d/status" % (key, pid))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def is_listening(port):
    """True when 127.0.0.1:port (or 0.0.0.0:port) is in LISTEN state."""
    want = ("0100007F:%04X" % port, "00000000:%04X" % port)
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] in want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class Child:
    """A process we started: tracked by its PID, output drained by threads
    (stdout lines also go to a list so the caller can wait for one)."""

    def __init__(self, name, argv, env, logdir, clean_exit=False):
        self.name = name
        self.clean_exit = clean_exit  # must exit 0 when stopped (ptdispatch)
        self.exit_problem = None
        self.argv = argv
        self.err_path = os.path.join(logdir, "%s.stderr" % name)
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err,
                                     close_fds=True)
        self.pid = self.proc.pid
        self.lines = []
        self._cv = threading.Condition()
        self._eof = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                with self._cv:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._cv.notify_all()
        except (OSError, ValueError):
            pass
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def wait_line(self, pred, timeout):
        """The first stdout line for which pred is true; fails on EOF/timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if pred(line):
                        return line
                if self._eof:
                    raise BenchError("%s: stdout closed early\n%s" % (self.name, self.describe()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("%s: timed out waiting for its output\n%s"
                                     % (self.name, self.describe()))
                self._cv.wait(min(left, 0.5))

    def describe(self):
        try:
            with open(self.err_path, "rb") as f:
                err = f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            err = ""
        return "  argv: %s\n  stdout: %s\n  stderr: %s" % (
            " ".join(self.argv), " | ".join(self.lines[-20:]), err.strip())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """stdin close, then SIGTERM, then SIGKILL, to this PID and (for
        forking relays) the descendants it had just before."""
        kids = descendants(self.pid) if self.alive() else []
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for sig, wait in ((None, 2.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if sig is not None:
                for pid in [self.pid] + kids:
                    try:
                        if pid == self.pid:
                            if self.proc.poll() is None:
                                self.proc.send_signal(sig)
                        else:
                            os.kill(pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children of a forking relay are re-parented when it exits; make
        # sure the ones we recorded are gone too (by PID, bounded).
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not self._err.closed:
            self._err.close()
            rc = self.proc.returncode
            if self.clean_exit and rc != 0:
                self.exit_problem = "%s (pid %d) exited with status %s when stopped\n%s" % (
                    self.name, self.pid, rc, self.describe())


class Relay:
    """A setup: where the bench client connects, whether it speaks SOCKS5
    first, and the relay processes to account for."""

    def __init__(self, name, connect_to, socks_dest=None, procs=()):
        self.name = name
        self.connect_to = connect_to      # (host, port)
        self.socks_dest = socks_dest      # (host, port) to CONNECT to, or None
        self.procs = list(procs)          # Child objects (the relay roots)
        self.idle_fds = {}

    def pids(self):
        return [p.pid for p in self.procs]

    def check_alive(self):
        for p in self.procs:
            if not p.alive():
                raise BenchError("%s: process %d (%s) died with status %s\n%s" % (
                    self.name, p.pid, p.name, p.proc.returncode, p.describe()))

    def record_idle(self):
        self.idle_fds = {p.pid: fd_count(p.pid) for p in self.procs}

    def settle(self, warnings):
        """Waits (bounded) until the relays hold no finished connection:
        no forked children (socat), fd count back to idle (ptdispatch)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            self.check_alive()
            busy = []
            for p in self.procs:
                if descendants(p.pid):
                    busy.append("%s has children" % p.name)
                elif p.pid in self.idle_fds and fd_count(p.pid) > self.idle_fds[p.pid]:
                    busy.append("%s holds %d fds (idle %d)" % (
                        p.name, fd_count(p.pid), self.idle_fds[p.pid]))
            if not busy:
                return
            if time.monotonic() > deadline:
                msg = "%s: still busy %.0fs after the run: %s" % (
                    self.name, SETTLE_TIMEOUT, ", ".join(busy))
                if msg not in warnings:
                    warnings.append(msg)
                return
            time.sleep(0.02)


def start_backend(tmp):
    b = Child("backend", [sys.executable, os.path.abspath(__file__), "--backend"],
              dict(os.environ), tmp)
    line = b.wait_line(lambda l: l.startswith("PORT "), START_TIMEOUT)
    return b, int(line.split()[1])


def start_ptdispatch(binary, backend_port, tmp, tag):
    server_port = free_port()
    senv = {
        "TOR_PT_MANAGED_TRANSPORT_VER": "1",
        "TOR_PT_SERVER_TRANSPORTS": "plain",
        "TOR_PT_SERVER_BINDADDR": "plain-127.0.0.1:%d" % server_port,
        "TOR_PT_ORPORT": "127.0.0.1:%d" % backend_port,
        "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-server"),
        "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
    }
    server = Child("ptd-server-" + tag, [binary], senv, tmp, clean_exit=True)
    line = server.wait_line(lambda l: l.startswith(("SMETHOD plain ", "SMETHODS DONE")) or
                            "-ERROR" in l.split(" ", 1)[0], START_TIMEOUT)
    if not line.startswith("SMETHOD plain "):
        raise BenchError("server ptdispatch did not start: %s\n%s" % (line, server.describe()))
    host, _, port = line.split()[2].rpartition(":")
    server_addr = (host, int(port))
    server.wait_line(lambda l: l == "SMETHODS DONE", START_TIMEOUT)

    cenv = {
        "TOR_PT_MANAGED_TRANSPORT_VER": "1",
        "TOR_PT_CLIENT_TRANSPORTS": "plain",
        "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-client"),
        "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
    }
    client = Child("ptd-client-" + tag, [binary], cenv, tmp, clean_exit=True)
    line = client.wait_line(lambda l: l.startswith(("CMETHOD plain ", "CMETHODS DONE")) or
                            "-ERROR" in l.split(" ", 1)[0], START_TIMEOUT)
    parts = line.split()
    if len(parts) != 4 or parts[:3] != ["CMETHOD", "plain", "socks5"]:
        raise BenchError("client ptdispatch did not start: %s\n%s" % (line, client.describe()))
    host, _, port = parts[3].rpartition(":")
    socks_addr = (host, int(port))
    client.wait_line(lambda l: l == "CMETHODS DONE", START_TIMEOUT)
    relay = Relay("ptdispatch-plain", socks_addr, server_addr, [client, server])
    relay.client, relay.server = client, server
    return relay


def start_socat(socat, backend_port, tmp):
    last = None
    for attempt in range(3):  # a free port can be taken between probe and bind
        p1, p2 = free_port(), free_port()
        if p1 == p2:
            continue
        procs = []
        try:
            for name, lport, dport in (("socat-2", p2, backend_port), ("socat-1", p1, p2)):
                argv = [socat, "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,backlog=1024" % lport,
                        "TCP:127.0.0.1:%d" % dport]
                c = Child("%s-try%d" % (name, attempt), argv, dict(os.environ), tmp)
                procs.append(c)
                deadline = time.monotonic() + START_TIMEOUT
                while not is_listening(lport):
                    if not c.alive():
                        raise BenchError("socat exited at start\n%s" % c.describe())
                    if time.monotonic() > deadline:
                        raise BenchError("socat did not listen in time\n%s" % c.describe())
                    time.sleep(0.01)
            return Relay("socat-chain", ("127.0.0.1", p1), None, procs)
        except BenchError as e:
            last = e
            for c in procs:
                c.stop()
    raise BenchError("cannot start the socat chain: %s" % last)


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

def socks_request(dest):
    return b"\x05\x01\x00\x01" + socket.inet_aton(dest[0]) + struct.pack(">H", dest[1])


def socks_reply_len(head):
    """Total length of a SOCKS5 reply given at least its first 5 bytes."""
    atyp = head[3]
    if atyp == 1:
        return 10
    if atyp == 4:
        return 22
    if atyp == 3:
        return 7 + head[4]
    raise BenchError("bad SOCKS5 reply address type %d" % atyp)


def socks_connect_blocking(sock, dest):
    sock.sendall(b"\x05\x01\x00")
    if recv_exact(sock, 2) != b"\x05\x00":
        raise BenchError("SOCKS5 method negotiation refused")
    sock.sendall(socks_request(dest))
    head = recv_exact(sock, 5)
    rest = recv_exact(sock, socks_reply_len(head) - 5)
    if head[0] != 5 or head[1] != 0:
        raise BenchError("SOCKS5 CONNECT failed, reply code %d" % head[1])
    return head + rest


def bulk_transfer(relay, nbytes, chunk):
    """Streams nbytes to the sink through relay; returns seconds from the
    first payload byte to the sink's count arriving back."""
    deadline = time.monotonic() + 60 + nbytes / 5e6
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCK_BUF)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCK_BUF)
        s.settimeout(IO_TIMEOUT)
        s.connect(relay.connect_to)
        if relay.socks_dest:
            socks_connect_blocking(s, relay.socks_dest)
        s.sendall(MODE_SINK)
        view = memoryview(chunk)
        left = nbytes
        t0 = time.perf_counter()
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(view[:n])
            left -= n
            if time.monotonic() > deadline:
                raise BenchError("%s: bulk transfer exceeded its time limit" % relay.name)
        s.shutdown(socket.SHUT_WR)
        ack = recv_exact(s, 8)
        t1 = time.perf_counter()
        got = struct.unpack(">Q", ack)[0]
        if got != nbytes:
            raise BenchError("%s: sink received %d bytes, sent %d" % (relay.name, got, nbytes))
        if s.recv(1) != b"":
            raise BenchError("%s: unexpected bytes after the sink's count" % relay.name)
        return t1 - t0
    except (OSError, socket.timeout) as e:
        raise BenchError("%s: bulk transfer failed: %s" % (relay.name, e))
    finally:
        s.close()


class EchoConn:
    __slots__ = ("sock", "state", "out", "out_off", "inbuf", "need", "echo", "echo_off",
                 "t_done")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.out = b""
        self.out_off = 0
        self.inbuf = bytearray()
        self.need = 0
        self.echo = None
        self.echo_off = 0
        self.t_done = None


def echo_round(relay, nconns, payload, at_peak):
    """nconns concurrent connections, each sending payload and reading it
    back through relay, from one selector loop. When every connection has
    its echo (all still open), calls at_peak(); then closes them. Returns
    the wall time from the first connect to the last echo completed."""
    sel = selectors.DefaultSelector()
    conns = []
    deadline = time.monotonic() + 60 + nconns * len(payload) / 1e6
    data_out = MODE_ECHO + payload
    try:
        t0 = time.perf_counter()
        for _ in range(nconns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = EchoConn(s)
            conns.append(c)
            rc = s.connect_ex(relay.connect_to)
            if rc not in (0, errno.EINPROGRESS):
                raise BenchError("%s: connect: %s" % (relay.name, os.strerror(rc)))
            sel.register(s, selectors.EVENT_WRITE, c)
        pending = nconns
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                states = {}
                for c in conns:
                    states[c.state] = states.get(c.state, 0) + 1
                raise BenchError("%s: %d-connection echo timed out; states %r"
                                 % (relay.name, nconns, states))
            for key, mask in sel.select(timeout=min(left, 1.0)):
                c = key.data
                if echo_step(c, mask, relay, payload, data_out):
                    c.t_done = time.perf_counter()
                    sel.unregister(c.sock)
                    pending -= 1
                else:
                    ev = 0
                    if c.state == "connecting" or c.out_off < len(c.out):
                        ev |= selectors.EVENT_WRITE
                    if c.state != "connecting" and (c.need or c.state == "data"):
                        ev |= selectors.EVENT_READ
                    if ev != key.events:
                        sel.modify(c.sock, ev, c)
        wall = max(c.t_done for c in conns) - t0
        for c in conns:
            if c.echo != payload:
                raise BenchError("%s: echoed bytes differ from those sent" % relay.name)
        at_peak()
        return wall
    except OSError as e:
        raise BenchError("%s: echo connection failed: %s" % (relay.name, e))
    finally:
        sel.close()
        for c in conns:
            c.sock.close()


def echo_step(c, mask, relay, payload, data_out):
    """Advances one connection; True when its whole echo has arrived."""
    s = c.sock
    if c.state == "connecting":
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise BenchError("%s: connect: %s" % (relay.name, os.strerror(err)))
        if relay.socks_dest:
            c.state, c.out, c.out_off, c.need = "greet", b"\x05\x01\x00", 0, 2
        else:
            c.state, c.out, c.out_off = "data", data_out, 0
            c.echo = bytearray(len(payload))
        mask = selectors.EVENT_WRITE
    if mask & selectors.EVENT_WRITE and c.out_off < len(c.out):
        try:
            c.out_off += s.send(memoryview(c.out)[c.out_off:c.out_off + 262144])
        except BlockingIOError:
            pass
    if not mask & selectors.EVENT_READ:
        return False
    if c.state == "data":
        try:
            n = s.recv_into(memoryview(c.echo)[c.echo_off:])
        except BlockingIOError:
            return False
        if n == 0:
            raise BenchError("%s: EOF after %d of %d echoed bytes"
                             % (relay.name, c.echo_off, len(payload)))
        c.echo_off += n
        return c.echo_off == len(payload)
    try:
        got = s.recv(c.need - len(c.inbuf))
    except BlockingIOError:
        return False
    if not got:
        raise BenchError("%s: EOF during the SOCKS5 handshake" % relay.name)
    c.inbuf += got
    if len(c.inbuf) < c.need:
        return False
    if c.state == "greet":
        if bytes(c.inbuf) != b"\x05\x00":
            raise BenchError("%s: SOCKS5 method negotiation refused" % relay.name)
        c.state, c.out, c.out_off, c.inbuf, c.need = (
            "reply", socks_request(relay.socks_dest), 0, bytearray(), 5)
    elif c.state == "reply":
        total = socks_reply_len(c.inbuf)
        if len(c.inbuf) < total:
            c.need = total
            return False
        if c.inbuf[1] != 0:
            raise BenchError("%s: SOCKS5 CONNECT failed, reply code %d" % (relay.name, c.inbuf[1]))
        c.state, c.out, c.out_off, c.inbuf, c.need = "data", data_out, 0, bytearray(), 0
        c.echo = bytearray(len(payload))
        try:
            c.out_off += s.send(c.out)
        except BlockingIOError:
            pass
    return False


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

def parse_size(text, name):
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = 1
    if t and t[-1] in "KMG":
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[t[-1]]
        t = t[:-1]
    try:
        v = int(t) * mult
    except ValueError:
        v = 0
    if v <= 0:
        print("tunnel_bench: %s must be a positive size (e.g. 268435456, 64M, 1G), got %r"
              % (name, text), file=sys.stderr)
        sys.exit(2)
    return v


def parse_count(text, name, lo, hi):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not lo <= v <= hi:
        print("tunnel_bench: %s must be an integer in [%d, %d], got %r" % (name, lo, hi, text),
              file=sys.stderr)
        sys.exit(2)
    return v


def human_size(n):
    for unit, m in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= m and n % m == 0:
            return "%d %s" % (n // m, unit)
    return "%d bytes" % n


def machine_line():
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "nproc %d, %s, Linux %s" % (ncpu, model, os.uname().release)


def cmd_first_line(argv, want=None):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unknown (%s)" % e
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        if want is None or want in line:
            return line.strip()
    return "unknown"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv):
    if len(argv) == 2 and argv[1] == "--backend":
        backend_main()
        return 0
    if len(argv) != 2:
        print("usage: tunnel_bench.py PTDISPATCH_BINARY", file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("tunnel_bench: %s is not an executable file" % binary, file=sys.stderr)
        return 2
    socat = shutil.which(os.environ.get("SOCAT", "socat"))
    if not socat:
        print("tunnel_bench: socat not found; install it: apt-get install socat", file=sys.stderr)
        return 2

    nbytes = parse_size(os.environ.get("BENCH_BYTES", "256M"), "BENCH_BYTES")
    runs = parse_count(os.environ.get("BENCH_RUNS", "5"), "BENCH_RUNS", 1, 1000)
    nconns = parse_count(os.environ.get("BENCH_CONNS", "200"), "BENCH_CONNS", 1, 20000)
    echo_bytes = parse_size(os.environ.get("BENCH_ECHO_BYTES", "64K"), "BENCH_ECHO_BYTES")

    # Enough descriptors for nconns through two relays (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * nconns + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    header = [
        "ptdispatch tunnel benchmark (loopback 127.0.0.1)",
        "machine     %s" % machine_line(),
        "ptdispatch  %s  (%s)" % (cmd_first_line([binary, "-version"]), binary),
        "socat       %s  (%s)" % (cmd_first_line([socat, "-V"], "socat version"), socat),
        "parameters  BENCH_BYTES=%d (%s) BENCH_RUNS=%d BENCH_CONNS=%d BENCH_ECHO_BYTES=%d (%s)"
        % (nbytes, human_size(nbytes), runs, nconns, echo_bytes, human_size(echo_bytes)),
        "            setups interleaved, 1 warm-up pass each (discarded), medians over runs;",
        "            MB = 10^6 bytes; CPU = relay processes' user+system time",
    ]
    note("\n".join(header))
    note("")

    tmp = tempfile.mkdtemp(prefix="ptd-bench-")
    children = []
    warnings = []
    try:
        backend, backend_port = start_backend(tmp)
        children.append(backend)
        direct = Relay("direct", ("127.0.0.1", backend_port), None, [])
        ptd = start_ptdispatch(binary, backend_port, tmp, "bulk")
        children.extend(ptd.procs)
        soc = start_socat(socat, backend_port, tmp)
        children.extend(soc.procs)
        setups = [direct, ptd, soc]
        for r in setups:
            r.record_idle()

        def check_all():
            if not backend.alive():
                raise BenchError("the backend (sink/echo) process died\n%s" % backend.describe())
            for r in setups:
                r.check_alive()

        chunk = os.urandom(CHUNK)
        payload = os.urandom(echo_bytes)

        # ---- bulk throughput, A B C A B C ... -------------------------------
        mbps = {r.name: [] for r in setups}
        cpu_gib = {r.name: [] for r in setups}
        cpu_each = {"client": [], "server": []}
        for rnd in range(runs + 1):
            for r in setups:
                r.settle(warnings)
                check_all()
                before = cpu_ticks(r.pids())
                each_before = {p.name: cpu_ticks([p.pid]) for p in r.procs}
                try:
                    secs = bulk_transfer(r, nbytes, chunk)
                except BenchError:
                    check_all()  # a dead process is the better explanation
                    raise
                r.settle(warnings)
                check_all()
                cpu = (cpu_ticks(r.pids()) - before) / CLK_TCK
                rate = nbytes / secs / 1e6
                label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
                extra = ""
                if r.procs:
                    extra = ", relay cpu %.2f s/GiB" % (cpu / (nbytes / GiB))
                note("throughput %-8s %-17s %8.0f MB/s%s" % (label, r.name, rate, extra))
                if rnd == 0:
                    continue
                mbps[r.name].append(rate)
                if r.procs:
                    cpu_gib[r.name].append(cpu / (nbytes / GiB))
                if r is ptd:
                    for role, p in (("client", ptd.client), ("server", ptd.server)):
                        cpu_each[role].append(
                            (cpu_ticks([p.pid]) - each_before[p.name]) / CLK_TCK / (nbytes / GiB))

        hwm_bulk = (status_kib(ptd.client.pid, "VmHWM"), status_kib(ptd.server.pid, "VmHWM"))
        for c in ptd.procs:
            c.stop()
        setups.remove(ptd)

        # ---- many connections -----------------------------------------------
        # ptdispatch gets a fresh client+server pair for every round, so that
        # "RSS with N open minus idle RSS" is not hidden by heap the bulk
        # transfers (or an earlier round) left behind in malloc's free lists.
        # No direct line here: 200 connections bursting straight into the
        # Python backend measure its GIL, not a relay (often slower than
        # through a relay, which paces them). ptdispatch is compared to socat.
        conn_setups = [ptd.name, soc.name]
        walls = {name: [] for name in conn_setups}
        per_conn = []
        hwm_conn = [0, 0]
        for rnd in range(runs + 1):
            for name in conn_setups:
                fresh = None
                if name == ptd.name:
                    fresh = start_ptdispatch(binary, backend_port, tmp, "conn%d" % rnd)
                    children.extend(fresh.procs)
                    fresh.record_idle()
                    setups.append(fresh)
                r = fresh or soc
                try:
                    r.settle(warnings)
                    check_all()
                    idle = sum(status_kib(p.pid, "VmRSS") for p in r.procs) if fresh else 0
                    loaded = []

                    def at_peak(fresh=fresh, loaded=loaded):
                        check_all()
                        if fresh:
                            loaded.append(sum(status_kib(p.pid, "VmRSS") for p in fresh.procs))

                    try:
                        wall = echo_round(r, nconns, payload, at_peak)
                    except BenchError:
                        check_all()
                        raise
                    r.settle(warnings)
                    check_all()
                    extra = ""
                    if fresh:
                        extra = ", RSS %d -> %d KiB" % (idle, loaded[0])
                        hwm_conn[0] = max(hwm_conn[0], status_kib(fresh.client.pid, "VmHWM"))
                        hwm_conn[1] = max(hwm_conn[1], status_kib(fresh.server.pid, "VmHWM"))
                finally:
                    if fresh:
                        setups.remove(fresh)
                        for c in fresh.procs:
                            c.stop()
                label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
                note("%d-conn   %-8s %-17s %8.3f s%s" % (nconns, label, name, wall, extra))
                if rnd == 0:
                    continue
                walls[name].append(wall)
                if fresh:
                    per_conn.append((loaded[0] - idle) / nconns)
        check_all()
    except BenchError as e:
        note("tunnel_bench: FAILED: %s" % e)
        return 1
    except KeyboardInterrupt as e:
        note("tunnel_bench: interrupted (%s)" % (e or "SIGINT"))
        return 130
    finally:
        for c in reversed(children):
            c.stop()
        problems = [c.exit_problem for c in children if c.exit_problem]
        shutil.rmtree(tmp, ignore_errors=True)

    # ---- the table ----------------------------------------------------------
    d, p, s = direct.name, ptd.name, soc.name
    lines = list(header)
    lines.append("")
    lines.append("%-11s %-17s %14s %9s   %s" % ("test", "setup", "median", "ratio", "spread / notes"))

    def spread(xs, fmt):
        return ("min " + fmt + "  max " + fmt) % (min(xs), max(xs))

    for name in (d, p, s):
        xs = mbps[name]
        lines.append("%-11s %-17s %9.0f MB/s %9.2f   %s" % (
            "throughput", name, med(xs), ratio(med(xs), med(mbps[d])), spread(xs, "%.0f")))
    lines.append("%-11s %-17s %9.2f s    %9s   client %.2f + server %.2f" % (
        "cpu/GiB", p, med(cpu_gib[p]), "",
        med(cpu_each["client"]), med(cpu_each["server"])))
    lines.append("%-11s %-17s %9.2f s    %9s   both socat listeners + forked children" % (
        "cpu/GiB", s, med(cpu_gib[s]), ""))
    lines.append("%-11s %-17s %9.1f MiB  %9s   VmHWM client %.1f + server %.1f, after the bulk runs" % (
        "peak RSS", p, (hwm_bulk[0] + hwm_bulk[1]) / 1024, "", hwm_bulk[0] / 1024, hwm_bulk[1] / 1024))
    cname = "%d-conn" % nconns
    for name in (p, s):
        xs = walls[name]
        lines.append("%-11s %-17s %9.3f s    %9.2f   %s" % (
            cname, name, med(xs), ratio(med(xs), med(walls[s])), spread(xs, "%.3f")))
    lines.append("%-11s %-17s %9.1f KiB  %9s   (VmRSS client+server with %d open - idle) / %d"
                 % ("mem/conn", p, med(per_conn), "", nconns, nconns))
    lines.append("%-11s %-17s %9.1f MiB  %9s   VmHWM client %.1f + server %.1f, max over %s rounds" % (
        "peak RSS", p, (hwm_conn[0] + hwm_conn[1]) / 1024, "", hwm_conn[0] / 1024,
        hwm_conn[1] / 1024, cname))
    lines.append("")
    lines.append("ratio column: throughput vs direct (higher is better); "
                 "%s time vs socat-chain (lower is better)" % cname)
    lines.append("ratio ptdispatch/socat: throughput %.2f, cpu/GiB %.2f, %s time %.2f" % (
        ratio(med(mbps[p]), med(mbps[s])), ratio(med(cpu_gib[p]), med(cpu_gib[s])),
        cname, ratio(med(walls[p]), med(walls[s]))))
    for w in warnings:
        lines.append("warning: %s" % w)
    print("\n".join(lines), flush=True)
    if problems:
        note("tunnel_bench: FAILED at shutdown:\n" + "\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
