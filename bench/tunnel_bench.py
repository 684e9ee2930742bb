#!/usr/bin/env python3
"""tunnel_bench: two comparisons in one run, on one machine, in front of
one ptd_loadgen server. Python 3 standard library only; the traffic itself
comes from ptd_loadgen (bench/loadgen.c).

    tunnel_bench.py PTDISPATCH LOADGEN      (bench/run.sh calls this)

  plain: ptdispatch's plain tunnel (client + server ptdispatch) against a
         direct loopback connection: throughput with 1 and BENCH_STREAMS
         streams, new connections per second, resident memory per idle
         connection, the relays' CPU seconds per GiB.
  obfs4: a ptdispatch obfs4 pair against an obfs4proxy obfs4 pair (both
         iat-mode 0, the client told the bridge's cert through SOCKS5
         username/password as Tor does): 1-stream throughput, CPU seconds
         per GiB (both processes), new connections per second including
         the obfs4 handshake, and how much the pair's resident memory
         grows with BENCH_IDLE idle connections held through it.

Within a comparison the two setups alternate, one discarded warm-up round,
then BENCH_RUNS rounds; the tables show medians and the ratios beside the
targets (see bench/README.md). A measurement, not a test: no threshold
fails the run.

  shadow: a ptdispatch shadow pair against shadowsocks-libev (ss-local +
         ss-server), with each of the three AEAD ciphers: 1-stream
         throughput and CPU seconds per GiB (both processes); and the
         resident memory per idle connection (chacha20-ietf-poly1305).

  udp:   transparent-UDP through a plain pair against the same UDP echo
         server directly: echoed datagrams per second and MB/s with a
         window of datagrams in flight, for small and MTU-sized datagrams,
         one flow and several (each flow its own source, so its own
         transport connection).

Environment: BENCH_ONLY (all, or a comma-separated list of plain, obfs4,
shadow, udp), BENCH_RUNS (3),
BENCH_SECONDS (2), BENCH_STREAMS (8), BENCH_IDLE (1000), BENCH_PARALLEL (8,
connections in flight in the connection tests), BENCH_OBFS4PROXY
(/usr/bin/obfs4proxy), BENCH_SS_LOCAL and BENCH_SS_SERVER
(/usr/bin/ss-local, /usr/bin/ss-server).

Everything runs on 127.0.0.1 with ephemeral ports. Every process started
here is tracked by PID and stopped at the end (stdin closed, then SIGTERM,
then SIGKILL); every wait is bounded. Exit status: 0 when every run
completed (byte counts and echoes checked by ptd_loadgen) and every
process stayed up and exited cleanly, 1 otherwise, 2 on a usage error
(including a missing obfs4proxy when the obfs4 part is wanted).
"""

import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import shutil
import threading
import time

GiB = 1 << 30
START_TIMEOUT = 10.0   # a process must be ready within this
RUN_SLACK = 60.0       # a loadgen run may take this long beyond its own duration
CLK_TCK = os.sysconf("SC_CLK_TCK")
OBFS4PROXY_DEFAULT = "/usr/bin/obfs4proxy"
OBFS4_CERT_LEN = 70    # base64 of node id (20) + public key (32), unpadded
OBFS4_IAT_MODE = "0"
PARTS = ("plain", "obfs4", "shadow", "udp")
SS_SERVER_DEFAULT = "/usr/bin/ss-server"
SS_LOCAL_DEFAULT = "/usr/bin/ss-local"
SHADOW_CIPHERS = ("chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm")
SHADOW_PASSWORD = "ptd-bench-password"


class BenchError(Exception):
    """Something broke: a failed run, a dead process, a timeout."""


def note(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of pid: the whole process, every thread (obfs4proxy
    is a Go program with many)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def status_kib(pid, key):
    """A 'kB' (or count) field of /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError("no %s in /proc/%d/status" % (key, pid))


def read_text(path, default="unknown"):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class Child:
    """A long-running process we started: tracked by PID, stdout lines
    collected by a thread, stderr to a file, stopped by closing stdin."""

    def __init__(self, name, argv, env, logdir, clean_exit=True):
        self.name = name
        self.argv = argv
        self.clean_exit = clean_exit
        self.exit_problem = None
        self.err_path = os.path.join(logdir, "%s.stderr" % name)
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err, close_fds=True)
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
                err = f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            err = ""
        return "  argv: %s\n  stdout: %s\n  stderr: %s" % (
            " ".join(self.argv), " | ".join(self.lines[-10:]), err.strip())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        for sig, wait in ((None, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if sig is not None and self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        if not self._err.closed:
            self._err.close()
            if self.clean_exit and self.proc.returncode != 0:
                self.exit_problem = "%s (pid %d) exited with status %s when stopped\n%s" % (
                    self.name, self.pid, self.proc.returncode, self.describe())


def start_pt(role, transport, name, argv, env, tmp, children):
    """Starts a managed-mode PT (ptdispatch or obfs4proxy); waits for its
    METHOD line for transport and METHODS DONE. Returns (child, address
    text, {ARGS key: value})."""
    method = "SMETHOD" if role == "server" else "CMETHOD"
    prefix = "%s %s " % (method, transport)
    child = Child(name, argv, env, tmp)
    children.append(child)
    line = child.wait_line(lambda l: l.startswith((prefix, method + "S DONE")) or
                           "-ERROR" in l.split(" ", 1)[0], START_TIMEOUT)
    if not line.startswith(prefix):
        raise BenchError("%s did not start: %s\n%s" % (name, line, child.describe()))
    parts = line.split()
    args = {}
    if method == "CMETHOD":
        if parts[2] != "socks5":
            raise BenchError("%s did not offer socks5: %s" % (name, line))
        addr = parts[3]
    else:
        addr = parts[2]
        for p in parts[3:]:
            if p.startswith("ARGS:"):
                for kv in p[5:].split(","):
                    k, _, v = kv.partition("=")
                    args[k] = v
    child.wait_line(lambda l: l == method + "S DONE", START_TIMEOUT)
    return child, addr, args


def tor_args_text(args):
    """[(k, v)] -> 'k=v;k=v' with pt-spec 3.5's escapes, as Tor builds the
    SOCKS username/password it hands a PT client."""
    def esc(t):
        return re.sub(r"([\\;=])", r"\\\1", t)

    return ";".join("%s=%s" % (esc(k), esc(v)) for k, v in args)


class Pair:
    """A PT client + server on loopback in front of orport, started as Tor
    starts them (managed mode, stdin kept open, exit on stdin close), each
    with its own state directory. kind names the implementation in
    process names and tables."""

    def __init__(self, kind, argv, transport, orport, tmp, tag, children, server_options=None):
        self.kind = kind
        base = {
            "TOR_PT_MANAGED_TRANSPORT_VER": "1",
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        senv = dict(base)
        senv.update({
            "TOR_PT_SERVER_TRANSPORTS": transport,
            "TOR_PT_SERVER_BINDADDR": "%s-127.0.0.1:0" % transport,
            "TOR_PT_ORPORT": "127.0.0.1:%d" % orport,
            "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-server"),
        })
        if server_options:
            senv["TOR_PT_SERVER_TRANSPORT_OPTIONS"] = ";".join(
                "%s:%s=%s" % (transport, k, v) for k, v in server_options)
        self.server, self.server_addr, self.server_args = start_pt(
            "server", transport, "%s-server-%s" % (kind, tag), argv, senv, tmp, children)
        cenv = dict(base)
        cenv.update({
            "TOR_PT_CLIENT_TRANSPORTS": transport,
            "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-client"),
        })
        self.client, self.socks_addr, _ = start_pt(
            "client", transport, "%s-client-%s" % (kind, tag), argv, cenv, tmp, children)
        # ptd_loadgen's arguments to go through this pair.
        self.via = ["--to", self.server_addr, "--socks", self.socks_addr]

    def procs(self):
        return [self.client, self.server]

    def check_alive(self):
        for p in self.procs():
            if not p.alive():
                raise BenchError("%s (pid %d) died with status %s\n%s" % (
                    p.name, p.pid, p.proc.returncode, p.describe()))

    def cpu(self):
        return [cpu_ticks(p.pid) for p in self.procs()]

    def rss_kib(self):
        return [status_kib(p.pid, "VmRSS") for p in self.procs()]

    def threads(self):
        return [status_kib(p.pid, "Threads") for p in self.procs()]

    def stop(self):
        for p in self.procs():
            p.stop()


def obfs4_pair(kind, argv, orport, tmp, tag, children):
    """An obfs4 pair at iat-mode 0; the client gets the bridge's cert and
    iat-mode per connection in SOCKS5 username/password (Tor's encoding,
    ptd_loadgen --socks-args)."""
    pair = Pair(kind, argv, "obfs4", orport, tmp, tag, children,
                server_options=[("iat-mode", OBFS4_IAT_MODE)])
    cert, iat = pair.server_args.get("cert"), pair.server_args.get("iat-mode")
    if cert is None or len(cert) != OBFS4_CERT_LEN or iat != OBFS4_IAT_MODE:
        raise BenchError("%s obfs4 server: SMETHOD without a %d-character cert and iat-mode=%s: "
                         "%r\n%s" % (kind, OBFS4_CERT_LEN, OBFS4_IAT_MODE, pair.server_args,
                                     pair.server.describe()))
    pair.via += ["--socks-args", tor_args_text([("cert", cert), ("iat-mode", iat)])]
    return pair


def run_loadgen(loadgen, args, seconds):
    """Runs one ptd_loadgen client to completion; returns its RESULT fields."""
    argv = [loadgen] + args
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=seconds + RUN_SLACK)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: no result within %.0f s" % (" ".join(argv), seconds + RUN_SLACK))
    out = r.stdout.decode("utf-8", "replace")
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if r.returncode != 0 or not m:
        raise BenchError("%s: exit %d\n%s%s" % (" ".join(argv), r.returncode, out,
                                                 r.stderr.decode("utf-8", "replace")))
    return dict(kv.split("=", 1) for kv in m.group(1).split())


def hold_idle(loadgen, pair, idle, tmp, tag, children):
    """Holds idle connections through pair: returns (RSS before, RSS
    while held, threads while held), per process [client, server]."""
    before = pair.rss_kib()
    hold = Child("loadgen-hold-%s" % tag,
                 [loadgen, "hold", "--conns", str(idle)] + pair.via, None, tmp)
    children.append(hold)
    try:
        hold.wait_line(lambda l: l.startswith("HELD "), START_TIMEOUT + idle / 20.0)
        pair.check_alive()
        after = pair.rss_kib()
        threads = pair.threads()
    finally:
        hold.stop()
    return before, after, threads


# --------------------------------------------------------------------------
# Parameters and reporting
# --------------------------------------------------------------------------

def env_int(name, default, lo, hi):
    text = os.environ.get(name, str(default))
    try:
        v = int(text)
    except ValueError:
        v = lo - 1
    if not lo <= v <= hi:
        print("tunnel_bench: %s must be an integer in [%d, %d], got %r" % (name, lo, hi, text),
              file=sys.stderr)
        sys.exit(2)
    return v


def env_parts():
    text = os.environ.get("BENCH_ONLY", "").strip()
    if text in ("", "all"):
        return list(PARTS)
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(p not in PARTS for p in parts):
        print("tunnel_bench: BENCH_ONLY must be all or a comma-separated list of plain, obfs4, "
              "shadow; got %r" % text, file=sys.stderr)
        sys.exit(2)
    return [p for p in PARTS if p in parts]


def machine_line():
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    model = "unknown CPU"
    for line in read_text("/proc/cpuinfo", "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return "nproc %d, %s, Linux %s" % (ncpu, model, os.uname().release)


def version_of(binary):
    try:
        r = subprocess.run([binary, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=10)
        return r.stdout.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def ss_version(binary):
    """shadowsocks-libev prints its version in -h's first lines."""
    try:
        r = subprocess.run([binary, "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=10)
        m = re.search(r"shadowsocks-libev ([0-9][^\s]*)", r.stdout.decode("utf-8", "replace"))
        return "shadowsocks-libev " + m.group(1) if m else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def num(v):
    """A value with about three significant digits."""
    if v != v:
        return "nan"
    a = abs(v)
    return "%.0f" % v if a >= 100 else "%.1f" % v if a >= 10 else "%.2f" % v


def spread(xs):
    return "%s..%s" % (num(min(xs)), num(max(xs))) if xs else "-"


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


class Table:
    """Rows of: test, value A, value B, ratio B/A or A/B, target, whether
    the target is met, notes."""

    def __init__(self, title, col_a, col_b):
        self.lines = [title, "%-24s %14s %14s %7s %-9s %-4s %s" % (
            "test", col_a, col_b, "ratio", "target", "met", "spread (min..max) / notes")]

    def row(self, test, a, b, r="", target="", met=None, notes=""):
        rtext = num(r) if isinstance(r, float) else r
        mtext = "" if met is None else ("yes" if met else "no")
        self.lines.append("%-24s %14s %14s %7s %-9s %-4s %s" % (test, a, b, rtext, target,
                                                                mtext, notes))

    def note(self, text):
        self.lines.append("%-24s %s" % ("", text))


# --------------------------------------------------------------------------
# plain tunnel vs direct
# --------------------------------------------------------------------------

def bench_plain(binary, loadgen, port, check_backend, tmp, children, p):
    runs, seconds, streams, idle, parallel = (p["runs"], p["seconds"], p["streams"], p["idle"],
                                              p["parallel"])
    direct = ["--to", "127.0.0.1:%d" % port]
    pair = Pair("ptd", [binary], "plain", port, tmp, "plain-bulk", children)

    def check_all():
        check_backend()
        pair.check_alive()

    tests = [
        ("1 stream", ["stream", "--streams", "1", "--seconds", str(seconds)], "mbps"),
        ("%d streams" % streams,
         ["stream", "--streams", str(streams), "--seconds", str(seconds)], "mbps"),
        ("conns", ["connect", "--parallel", str(parallel), "--seconds", str(seconds)], "rate"),
    ]
    results = {(t[0], s): [] for t in tests for s in ("direct", "tunnel")}
    cpu_gib = {"client": [], "server": []}
    for rnd in range(runs + 1):
        label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
        for name, args, key in tests:
            for setup, where in (("direct", direct), ("tunnel", pair.via)):
                check_all()
                before = pair.cpu()
                res = run_loadgen(loadgen, args + where, seconds)
                check_all()
                value = float(res[key])
                extra = ""
                if setup == "tunnel" and key == "mbps" and name == "1 stream":
                    gib = int(res["bytes"]) / GiB
                    used = [(a - b) / CLK_TCK / gib for a, b in zip(pair.cpu(), before)]
                    extra = ", relay cpu %.2f + %.2f s/GiB" % (used[0], used[1])
                    if rnd:
                        cpu_gib["client"].append(used[0])
                        cpu_gib["server"].append(used[1])
                unit = "MB/s" if key == "mbps" else "conn/s"
                note("plain %-8s %-10s %-7s %9.0f %s%s" % (label, name, setup, value, unit, extra))
                if rnd:
                    results[(name, setup)].append(value)
    hwm_bulk = [status_kib(c.pid, "VmHWM") for c in pair.procs()]
    pair.stop()

    # Idle connections: a fresh pair per round, so that heap the bulk runs
    # (or an earlier round) left in malloc's free lists does not hide the
    # growth.
    per_conn, per_conn_split = [], []
    for rnd in range(1, runs + 1):
        fresh = Pair("ptd", [binary], "plain", port, tmp, "plain-idle%d" % rnd, children)
        try:
            before, after, _ = hold_idle(loadgen, fresh, idle, tmp, "plain-%d" % rnd, children)
        finally:
            fresh.stop()
        delta = [(a - b) * 1024.0 / idle for a, b in zip(after, before)]
        per_conn.append(sum(delta))
        per_conn_split.append(delta)
        note("plain run %d/%d idle     tunnel  %d conns: RSS client %d -> %d KiB, server %d -> %d "
             "KiB, %.0f bytes/conn" % (rnd, runs, idle, before[0], after[0], before[1],
                                       after[1], sum(delta)))
    check_backend()

    t = Table("plain tunnel (client + server ptdispatch) vs direct loopback",
              "direct", "plain tunnel")
    for name, _, key in tests:
        d, tun = results[(name, "direct")], results[(name, "tunnel")]
        unit = "MB/s" if key == "mbps" else "/s"
        r = ratio(med(tun), med(d))
        target, met = "", None
        if name == "1 stream":
            target, met = ">= 0.40", r >= 0.40
        t.row(("throughput " + name) if key == "mbps" else "new connections",
              "%s %s" % (num(med(d)), unit), "%s %s" % (num(med(tun)), unit), r, target, met,
              "%s | %s" % (spread(d), spread(tun)))
    split = [med([s[i] for s in per_conn_split]) for i in (0, 1)]
    kib = med(per_conn) / 1024
    t.row("idle memory/conn", "-", "%s KiB" % num(kib), "", "< 16 KiB", kib < 16,
          "client %s + server %s KiB, %d connections" % (num(split[0] / 1024),
                                                         num(split[1] / 1024), idle))
    t.row("relay cpu/GiB", "-", "%s s" % num(med(cpu_gib["client"]) + med(cpu_gib["server"])),
          notes="client %s + server %s, 1-stream runs" % (num(med(cpu_gib["client"])),
                                                          num(med(cpu_gib["server"]))))
    t.row("peak RSS", "-", "%s MiB" % num(sum(hwm_bulk) / 1024),
          notes="VmHWM client %s + server %s after the bulk runs" % (
              num(hwm_bulk[0] / 1024), num(hwm_bulk[1] / 1024)))
    return t.lines


# --------------------------------------------------------------------------
# obfs4: ptdispatch pair vs obfs4proxy pair
# --------------------------------------------------------------------------

def bench_obfs4(binary, o4p, loadgen, port, check_backend, tmp, children, p):
    runs, seconds, idle, parallel = p["runs"], p["seconds"], p["idle"], p["parallel"]
    impls = [("ptdispatch", [binary]), ("obfs4proxy", [o4p])]
    kinds = [k for k, _ in impls]
    pairs = {}
    for kind, argv in impls:
        pairs[kind] = obfs4_pair(kind, argv, port, tmp, "obfs4-%s-bulk" % kind, children)

    def check_all():
        check_backend()
        for pr in pairs.values():
            pr.check_alive()

    # obfs4proxy tears down both directions of a connection as soon as one
    # ends, so the stream test must not half-close (--no-half-close: the
    # end is a zero-length frame, the client closes after the count).
    tests = [
        ("1 stream", ["stream", "--streams", "1", "--seconds", str(seconds), "--no-half-close"],
         "mbps"),
        ("conns", ["connect", "--parallel", str(parallel), "--seconds", str(seconds)], "rate"),
    ]
    results = {(t[0], k): [] for t in tests for k in kinds}
    cpu_gib = {k: [] for k in kinds}          # per round: [client, server]
    for rnd in range(runs + 1):
        label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
        # Which implementation goes first alternates from round to round.
        order = kinds if rnd % 2 == 0 else kinds[::-1]
        for name, args, key in tests:
            for kind in order:
                pair = pairs[kind]
                check_all()
                before = pair.cpu()
                res = run_loadgen(loadgen, args + pair.via, seconds)
                check_all()
                value = float(res[key])
                extra = ""
                if key == "mbps":
                    gib = int(res["bytes"]) / GiB
                    used = [(a - b) / CLK_TCK / gib for a, b in zip(pair.cpu(), before)]
                    extra = ", cpu client %.2f + server %.2f s/GiB" % (used[0], used[1])
                    if rnd:
                        cpu_gib[kind].append(used)
                unit = "MB/s" if key == "mbps" else "conn/s"
                note("obfs4 %-8s %-8s %-10s %9.1f %s%s" % (label, name, kind, value, unit, extra))
                if rnd:
                    results[(name, kind)].append(value)
    hwm_bulk = {k: [status_kib(c.pid, "VmHWM") for c in pairs[k].procs()] for k in kinds}
    for pr in pairs.values():
        pr.stop()

    # Idle connections: fresh pairs (same reason as in the plain part).
    growth = {k: [] for k in kinds}           # per round: [client, server] KiB
    threads = {k: [] for k in kinds}
    for rnd in range(1, runs + 1):
        order = kinds if rnd % 2 == 0 else kinds[::-1]
        for kind in order:
            argv = dict(impls)[kind]
            fresh = obfs4_pair(kind, argv, port, tmp, "obfs4-%s-idle%d" % (kind, rnd), children)
            try:
                before, after, thr = hold_idle(loadgen, fresh, idle, tmp,
                                               "obfs4-%s-%d" % (kind, rnd), children)
            finally:
                fresh.stop()
            growth[kind].append([a - b for a, b in zip(after, before)])
            threads[kind].append(thr)
            note("obfs4 run %d/%d idle     %-10s %d conns: RSS client %d -> %d KiB, server %d -> "
                 "%d KiB, +%.0f bytes/conn, threads %d + %d"
                 % (rnd, runs, kind, idle, before[0], after[0], before[1], after[1],
                    sum(growth[kind][-1]) * 1024.0 / idle, thr[0], thr[1]))
    check_backend()

    ptd, o4 = kinds
    t = Table("obfs4, iat-mode 0: ptdispatch pair vs obfs4proxy pair (client + server each)",
              "ptdispatch", "obfs4proxy")

    # 1. throughput
    a, b = results[("1 stream", ptd)], results[("1 stream", o4)]
    r = ratio(med(a), med(b))
    t.row("throughput 1 stream", "%s MB/s" % num(med(a)), "%s MB/s" % num(med(b)), r, ">= 4",
          r >= 4, "%s | %s" % (spread(a), spread(b)))
    # 2. CPU per GiB, both processes
    tot = {k: [sum(x) for x in cpu_gib[k]] for k in kinds}
    r = ratio(med(tot[ptd]), med(tot[o4]))
    t.row("cpu/GiB, 1 stream", "%s s" % num(med(tot[ptd])), "%s s" % num(med(tot[o4])), r,
          "<= 0.25", r <= 0.25, "%s | %s" % (spread(tot[ptd]), spread(tot[o4])))
    t.note("client + server: ptdispatch %s + %s, obfs4proxy %s + %s s/GiB (user+sys)" % tuple(
        num(med([x[i] for x in cpu_gib[k]])) for k in kinds for i in (0, 1)))
    # 3. new connections
    a, b = results[("conns", ptd)], results[("conns", o4)]
    r = ratio(med(a), med(b))
    t.row("new connections", "%s /s" % num(med(a)), "%s /s" % num(med(b)), r, ">= 3", r >= 3,
          "%s | %s" % (spread(a), spread(b)))
    t.note("each: SOCKS5 with user/password, obfs4 handshake, 64-byte echo; %d in flight"
           % parallel)
    # 4. idle memory growth
    tot = {k: [sum(x) / 1024.0 for x in growth[k]] for k in kinds}
    r = ratio(med(tot[ptd]), med(tot[o4]))
    t.row("RSS growth, %d idle" % idle, "%s MiB" % num(med(tot[ptd])),
          "%s MiB" % num(med(tot[o4])), r, "<= 0.125", r <= 0.125,
          "%s | %s" % (spread(tot[ptd]), spread(tot[o4])))
    t.note("per connection: ptdispatch %s KiB, obfs4proxy %s KiB; client + server: "
           "ptdispatch %s + %s, obfs4proxy %s + %s MiB" % (
               num(med(tot[ptd]) * 1024 / idle), num(med(tot[o4]) * 1024 / idle),
               *(num(med([x[i] / 1024.0 for x in growth[k]])) for k in kinds for i in (0, 1))))
    t.note("threads while held (client + server): ptdispatch %d + %d, obfs4proxy %d + %d" % tuple(
        max(x[i] for x in threads[k]) for k in kinds for i in (0, 1)))
    hw = {k: sum(hwm_bulk[k]) / 1024.0 for k in kinds}
    t.row("peak RSS after bulk", "%s MiB" % num(hw[ptd]), "%s MiB" % num(hw[o4]),
          ratio(hw[ptd], hw[o4]), notes="VmHWM client + server after the stream and "
          "connection runs")
    return t.lines


# --------------------------------------------------------------------------
# shadow vs shadowsocks-libev
# --------------------------------------------------------------------------

def free_port():
    import socket
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_listening(child, port, timeout):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise BenchError("%s exited at startup\n%s" % (child.name, child.describe()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("%s: nothing listening on port %d\n%s" % (child.name, port,
                                                               child.describe()))


class SsPair:
    """ss-local + ss-server (shadowsocks-libev), configs in a temp dir;
    ss-server connects wherever the client's header says: the loadgen
    server."""

    def __init__(self, ss_local, ss_server, cipher, backend_port, tmp, tag, children):
        import json
        self.kind = "libev"
        d = os.path.join(tmp, tag)
        os.makedirs(d, exist_ok=True)
        sport, lport = free_port(), free_port()
        base = {"server": "127.0.0.1", "server_port": sport, "password": SHADOW_PASSWORD,
                "method": cipher, "mode": "tcp_only", "timeout": 600}
        scfg, lcfg = os.path.join(d, "server.json"), os.path.join(d, "local.json")
        with open(scfg, "w") as f:
            json.dump(base, f)
        with open(lcfg, "w") as f:
            json.dump(dict(base, local_address="127.0.0.1", local_port=lport), f)
        # Killed by SIGTERM at the end, which they do not treat as a clean
        # exit: their status says nothing.
        self.server = Child("ss-server-%s" % tag, [ss_server, "-c", scfg], None, tmp,
                            clean_exit=False)
        children.append(self.server)
        wait_listening(self.server, sport, START_TIMEOUT)
        self.client = Child("ss-local-%s" % tag, [ss_local, "-c", lcfg], None, tmp,
                            clean_exit=False)
        children.append(self.client)
        wait_listening(self.client, lport, START_TIMEOUT)
        self.via = ["--to", "127.0.0.1:%d" % backend_port, "--socks", "127.0.0.1:%d" % lport]

    procs = Pair.procs
    check_alive = Pair.check_alive
    cpu = Pair.cpu
    rss_kib = Pair.rss_kib
    threads = Pair.threads
    stop = Pair.stop


def shadow_pair(kind, binary, ss_local, ss_server, cipher, port, tmp, tag, children):
    if kind == "libev":
        return SsPair(ss_local, ss_server, cipher, port, tmp, tag, children)
    pair = Pair(kind, [binary], "shadow", port, tmp, tag, children,
                server_options=[("password", SHADOW_PASSWORD), ("cipherName", cipher)])
    pair.via += ["--socks-args", tor_args_text([("password", SHADOW_PASSWORD),
                                                ("cipherName", cipher)])]
    return pair


def bench_shadow(binary, ss_local, ss_server, loadgen, port, check_backend, tmp, children, p):
    runs, seconds, idle = p["runs"], p["seconds"], p["idle"]
    kinds = ["ptdispatch", "libev"]
    args = ["stream", "--streams", "1", "--seconds", str(seconds), "--no-half-close"]
    mbps = {(c, k): [] for c in SHADOW_CIPHERS for k in kinds}
    cpu_gib = {(c, k): [] for c in SHADOW_CIPHERS for k in kinds}
    for cipher in SHADOW_CIPHERS:
        pairs = {k: shadow_pair(k, binary, ss_local, ss_server, cipher, port, tmp,
                                "shadow-%s-%s" % (k, cipher), children) for k in kinds}
        try:
            for rnd in range(runs + 1):
                label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
                for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                    pair = pairs[kind]
                    check_backend()
                    pair.check_alive()
                    before = pair.cpu()
                    res = run_loadgen(loadgen, args + pair.via, seconds)
                    pair.check_alive()
                    gib = int(res["bytes"]) / GiB
                    used = [(a - b) / CLK_TCK / gib for a, b in zip(pair.cpu(), before)]
                    note("shadow %-8s %-22s %-10s %7.1f MB/s, cpu client %.2f + server %.2f s/GiB"
                         % (label, cipher, kind, float(res["mbps"]), used[0], used[1]))
                    if rnd:
                        mbps[(cipher, kind)].append(float(res["mbps"]))
                        cpu_gib[(cipher, kind)].append(used)
        finally:
            for pr in pairs.values():
                pr.stop()

    # Idle connections, with the mandatory cipher: fresh pairs each round.
    idle_cipher = SHADOW_CIPHERS[0]
    growth = {k: [] for k in kinds}
    for rnd in range(1, runs + 1):
        for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
            fresh = shadow_pair(kind, binary, ss_local, ss_server, idle_cipher, port, tmp,
                                "shadow-%s-idle%d" % (kind, rnd), children)
            try:
                before, after, _ = hold_idle(loadgen, fresh, idle, tmp,
                                             "shadow-%s-%d" % (kind, rnd), children)
            finally:
                fresh.stop()
            growth[kind].append([a - b for a, b in zip(after, before)])
            note("shadow run %d/%d idle     %-10s %d conns: +%.0f bytes/conn (client + server)"
                 % (rnd, runs, kind, idle, sum(growth[kind][-1]) * 1024.0 / idle))
    check_backend()

    t = Table("shadow: ptdispatch pair vs shadowsocks-libev (ss-local + ss-server), "
              "1 stream each", "ptdispatch", "libev")
    for cipher in SHADOW_CIPHERS:
        a, b = mbps[(cipher, "ptdispatch")], mbps[(cipher, "libev")]
        r = ratio(med(a), med(b))
        t.row("throughput %s" % cipher.split("-poly")[0].replace("-ietf", ""),
              "%s MB/s" % num(med(a)), "%s MB/s" % num(med(b)), r, ">= 1.25", r >= 1.25,
              "%s | %s" % (spread(a), spread(b)))
        tot = {k: [sum(x) for x in cpu_gib[(cipher, k)]] for k in kinds}
        r = ratio(med(tot["ptdispatch"]), med(tot["libev"]))
        t.row("  cpu/GiB", "%s s" % num(med(tot["ptdispatch"])), "%s s" % num(med(tot["libev"])),
              r, "<= 0.8", r <= 0.8, "client + server: %s + %s | %s + %s" % tuple(
                  num(med([x[i] for x in cpu_gib[(cipher, k)]])) for k in kinds for i in (0, 1)))
    per = {k: [sum(x) * 1024.0 / idle for x in growth[k]] for k in kinds}
    r = ratio(med(per["ptdispatch"]), med(per["libev"]))
    t.row("RSS per idle conn", "%s KiB" % num(med(per["ptdispatch"]) / 1024),
          "%s KiB" % num(med(per["libev"]) / 1024), r, "<= 1", r <= 1,
          "client + server, %d held, %s" % (idle, idle_cipher))
    return t.lines


# --------------------------------------------------------------------------
# UDP: transparent-UDP through a plain pair vs direct
# --------------------------------------------------------------------------

UDP_TESTS = (  # (label, flows, size)
    ("64 B, 1 flow", 1, 64),
    ("1400 B, 1 flow", 1, 1400),
    ("1400 B, 8 flows", 8, 1400),
)
UDP_WINDOW = 32


class UdpPair:
    """A plain server in transparent-UDP mode toward target and a client
    whose UDP port forwards to it (the client told -mode and -target on
    its command line, as the UDP modes are configured)."""

    def __init__(self, binary, target_port, tmp, tag, children):
        base = {"TOR_PT_MANAGED_TRANSPORT_VER": "1", "TOR_PT_EXIT_ON_STDIN_CLOSE": "1"}
        senv = dict(base, TOR_PT_SERVER_TRANSPORTS="plain",
                    TOR_PT_SERVER_BINDADDR="plain-127.0.0.1:0",
                    TOR_PT_ORPORT="127.0.0.1:%d" % target_port,
                    TOR_PT_STATE_LOCATION=os.path.join(tmp, tag, "state-server"))
        self.server, saddr, _ = start_pt("server", "plain", "udp-server-%s" % tag,
                                         [binary, "-mode", "transparent-UDP"], senv, tmp,
                                         children)
        cenv = dict(base, TOR_PT_CLIENT_TRANSPORTS="plain",
                    TOR_PT_STATE_LOCATION=os.path.join(tmp, tag, "state-client"))
        self.client = Child("udp-client-%s" % tag,
                            [binary, "-mode", "transparent-UDP", "-target", saddr], cenv, tmp)
        children.append(self.client)
        line = self.client.wait_line(lambda l: l.startswith(("CMETHOD plain ", "CMETHODS DONE")),
                                     START_TIMEOUT)
        parts = line.split()
        if len(parts) < 4 or parts[2] != "transparent-UDP":
            raise BenchError("udp client did not start: %s\n%s" % (line,
                                                                    self.client.describe()))
        self.addr = parts[3]

    procs = Pair.procs
    check_alive = Pair.check_alive
    cpu = Pair.cpu
    stop = Pair.stop


def bench_udp(binary, loadgen, tmp, children, p):
    runs, seconds = p["runs"], p["seconds"]
    echo = Child("loadgen-udp-echo", [loadgen, "udp-echo"], None, tmp)
    children.append(echo)
    port = int(echo.wait_line(lambda l: l.startswith("PORT "), START_TIMEOUT).split()[1])
    pair = UdpPair(binary, port, tmp, "udp", children)
    kinds = ("direct", "tunnel")
    to = {"direct": "127.0.0.1:%d" % port, "tunnel": pair.addr}
    res = {(t[0], k): [] for t in UDP_TESTS for k in kinds}
    cpu = {t[0]: [] for t in UDP_TESTS}  # relay CPU s per million datagrams
    try:
        for rnd in range(runs + 1):
            label = "warm-up" if rnd == 0 else "run %d/%d" % (rnd, runs)
            for name, flows, size in UDP_TESTS:
                for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                    if not echo.alive():
                        raise BenchError("the UDP echo server died\n%s" % echo.describe())
                    pair.check_alive()
                    before = pair.cpu()
                    r = run_loadgen(loadgen, ["udp", "--to", to[kind], "--flows", str(flows),
                                              "--size", str(size), "--window", str(UDP_WINDOW),
                                              "--seconds", str(seconds)], seconds)
                    used = sum((a - b) / CLK_TCK for a, b in zip(pair.cpu(), before))
                    note("udp %-8s %-16s %-7s %8s dgram/s %7s MB/s lost %s"
                         % (label, name, kind, r["dgps"], r["mbps"], r["lost"]))
                    if rnd:
                        res[(name, kind)].append((float(r["dgps"]), float(r["mbps"])))
                        if kind == "tunnel":
                            cpu[name].append(used / (int(r["received"]) / 1e6))
    finally:
        pair.stop()
    t = Table("udp: transparent-UDP through a plain pair vs direct, same UDP echo server, "
              "%d datagrams in flight per flow" % UDP_WINDOW, "direct", "tunnel")
    for name, _, _ in UDP_TESTS:
        d = [x[0] for x in res[(name, "direct")]]
        u = [x[0] for x in res[(name, "tunnel")]]
        dm = [x[1] for x in res[(name, "direct")]]
        um = [x[1] for x in res[(name, "tunnel")]]
        t.row("dgram/s %s" % name, "%s" % num(med(d)), "%s" % num(med(u)), ratio(med(u), med(d)),
              notes="%s MB/s | %s MB/s; relays %s CPU s per million datagrams" % (
                  num(med(dm)), num(med(um)), num(med(cpu[name]))))
    return t.lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv):
    if len(argv) != 3:
        print("usage: tunnel_bench.py PTDISPATCH_BINARY LOADGEN_BINARY", file=sys.stderr)
        return 2
    binary, loadgen = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    for b in (binary, loadgen):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            print("tunnel_bench: %s is not an executable file" % b, file=sys.stderr)
            return 2
    parts = env_parts()
    o4p = os.environ.get("BENCH_OBFS4PROXY", OBFS4PROXY_DEFAULT)
    ss_local = os.environ.get("BENCH_SS_LOCAL", SS_LOCAL_DEFAULT)
    ss_server = os.environ.get("BENCH_SS_SERVER", SS_SERVER_DEFAULT)
    if "shadow" in parts:
        for b in (ss_local, ss_server):
            if not (os.path.isfile(b) and os.access(b, os.X_OK)):
                print("tunnel_bench: %s not found: apt-get install shadowsocks-libev (or set "
                      "BENCH_SS_LOCAL / BENCH_SS_SERVER, or leave shadow out of BENCH_ONLY)" % b,
                      file=sys.stderr)
                return 2
    if "obfs4" in parts and not (os.path.isfile(o4p) and os.access(o4p, os.X_OK)):
        print("tunnel_bench: obfs4proxy not found at %s: apt-get install obfs4proxy (or set "
              "BENCH_OBFS4PROXY, or BENCH_ONLY=plain to skip the obfs4 part)" % o4p,
              file=sys.stderr)
        return 2
    p = {
        "runs": env_int("BENCH_RUNS", 3, 1, 100),
        "seconds": env_int("BENCH_SECONDS", 2, 1, 60),
        "streams": env_int("BENCH_STREAMS", 8, 2, 64),
        "idle": env_int("BENCH_IDLE", 1000, 1, 20000),
        "parallel": env_int("BENCH_PARALLEL", 8, 1, 64),
    }

    # A client PT holds 2 descriptors per idle connection (SOCKS side and
    # bridge side), so does a server (bridge side and ORPort side).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * p["idle"] + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print("tunnel_bench: BENCH_IDLE=%d needs %d descriptors per process, the hard "
                  "limit is %d (raise it, or lower BENCH_IDLE)" % (p["idle"], need, hard),
                  file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    header = [
        "ptdispatch bench: %s, on loopback (127.0.0.1)" % " and ".join(
            {"plain": "plain tunnel vs direct", "obfs4": "obfs4 vs obfs4proxy",
             "shadow": "shadow vs shadowsocks-libev",
             "udp": "transparent-UDP vs direct"}[x]
            for x in parts),
        "machine     %s" % machine_line(),
        "tcp         congestion control %s, loopback MTU %s" % (
            read_text("/proc/sys/net/ipv4/tcp_congestion_control"),
            read_text("/sys/class/net/lo/mtu")),
        "ptdispatch  %s  (%s)" % (version_of(binary), binary),
    ]
    if "obfs4" in parts:
        header.append("obfs4proxy  %s  (%s)" % (version_of(o4p), o4p))
    if "shadow" in parts:
        header.append("libev       %s  (%s, %s)" % (ss_version(ss_server), ss_local, ss_server))
    header += [
        "parameters  BENCH_ONLY=%s BENCH_RUNS=%d BENCH_SECONDS=%d BENCH_STREAMS=%d "
        "BENCH_IDLE=%d BENCH_PARALLEL=%d" % (",".join(parts), p["runs"], p["seconds"],
                                             p["streams"], p["idle"], p["parallel"]),
        "            the setups of a comparison interleaved, 1 warm-up round discarded, "
        "medians;",
        "            MB = 10^6 bytes; RLIMIT_NOFILE soft limit %d for every process" %
        resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    ]
    note("\n".join(header))
    note("")

    tmp = tempfile.mkdtemp(prefix="ptd-bench-")
    children = []
    tables = []
    started = time.monotonic()
    try:
        backend = Child("loadgen-server", [loadgen, "server", "--threads", "2"], None, tmp)
        children.append(backend)
        port = int(backend.wait_line(lambda l: l.startswith("PORT "), START_TIMEOUT).split()[1])

        def check_backend():
            if not backend.alive():
                raise BenchError("the loadgen server died\n%s" % backend.describe())

        if "plain" in parts:
            tables.append(bench_plain(binary, loadgen, port, check_backend, tmp, children, p))
        if "obfs4" in parts:
            tables.append(bench_obfs4(binary, o4p, loadgen, port, check_backend, tmp, children,
                                      p))
        if "shadow" in parts:
            tables.append(bench_shadow(binary, ss_local, ss_server, loadgen, port, check_backend,
                                       tmp, children, p))
        if "udp" in parts:
            tables.append(bench_udp(binary, loadgen, tmp, children, p))
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

    lines = list(header)
    for tl in tables:
        lines.append("")
        lines += tl
    lines.append("")
    legend = {"plain": "plain: ratio = tunnel / direct, targets of issue 3",
              "obfs4": "obfs4: ratio = ptdispatch / obfs4proxy, targets of issue 4",
              "shadow": "shadow: ratio = ptdispatch / shadowsocks-libev, targets of issue 5",
              "udp": "udp: ratio = tunnel / direct (issue 6 sets no target)"}
    lines.append("; ".join(legend[x] for x in parts) + ".")
    lines.append("'met' is for information: nothing fails on it. Took %.0f s."
                 % (time.monotonic() - started))
    print("\n".join(lines), flush=True)
    if problems:
        note("tunnel_bench: FAILED at shutdown:\n" + "\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
