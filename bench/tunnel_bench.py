#!/usr/bin/env python3
"""tunnel_bench: ptdispatch's plain tunnel (client + server ptdispatch)
against a direct loopback connection, in one run. Python 3 standard
library only; the traffic itself comes from ptd_loadgen (bench/loadgen.c).

    tunnel_bench.py PTDISPATCH LOADGEN      (bench/run.sh calls this)

What it measures (see bench/README.md), each setup interleaved with the
other (direct, tunnel, direct, tunnel, ...), one discarded warm-up round,
then BENCH_RUNS rounds, medians:

  * throughput, 1 stream and BENCH_STREAMS streams, MB/s;
  * new connections per second (connect, a 64-byte echo, close);
  * the relays' CPU seconds per GiB moved (1-stream runs);
  * resident memory per idle connection: BENCH_IDLE connections held
    through a freshly started pair, (client + server VmRSS - the same
    before) / BENCH_IDLE.

Environment: BENCH_RUNS (3), BENCH_SECONDS (2), BENCH_STREAMS (8),
BENCH_IDLE (1000), BENCH_PARALLEL (8, connections in flight in the
connection test).

Everything runs on 127.0.0.1 with ephemeral ports. Every process started
here is tracked by PID and stopped at the end (stdin closed, then SIGTERM,
then SIGKILL); every wait is bounded. Exit status: 0 when every run
completed (byte counts and echoes checked by ptd_loadgen) and every
process stayed up and exited cleanly, 1 otherwise, 2 on a usage error.
"""

import os
import re
import resource
import signal
import socket
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


class BenchError(Exception):
    """Something broke: a failed run, a dead process, a timeout."""


def note(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of pid (the relays are single processes)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError("no %s in /proc/%d/status" % (key, pid))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_text(path, default="unknown"):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def start_ptd(role, method, tag, binary, env, tmp, children):
    """Starts a ptdispatch; waits for its plain METHOD line and METHODS DONE.
    Returns (child, address text)."""
    child = Child("ptd-%s-%s" % (role, tag), [binary], env, tmp)
    children.append(child)
    line = child.wait_line(lambda l: l.startswith((method + " plain ", method + "S DONE")) or
                           "-ERROR" in l.split(" ", 1)[0], START_TIMEOUT)
    if not line.startswith(method + " plain "):
        raise BenchError("%s ptdispatch did not start: %s\n%s" % (role, line, child.describe()))
    parts = line.split()
    if method == "CMETHOD" and parts[2] != "socks5":
        raise BenchError("client ptdispatch did not offer socks5: %s" % line)
    child.wait_line(lambda l: l == method + "S DONE", START_TIMEOUT)
    return child, parts[3] if method == "CMETHOD" else parts[2]


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


class Pair:
    """A client + server ptdispatch, started as Tor starts them."""

    def __init__(self, binary, orport, tmp, tag, children):
        server_port = free_port()
        senv = {
            "TOR_PT_MANAGED_TRANSPORT_VER": "1",
            "TOR_PT_SERVER_TRANSPORTS": "plain",
            "TOR_PT_SERVER_BINDADDR": "plain-127.0.0.1:%d" % server_port,
            "TOR_PT_ORPORT": "127.0.0.1:%d" % orport,
            "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-server"),
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        self.server, self.server_addr = start_ptd("server", "SMETHOD", tag, binary, senv, tmp,
                                                  children)
        cenv = {
            "TOR_PT_MANAGED_TRANSPORT_VER": "1",
            "TOR_PT_CLIENT_TRANSPORTS": "plain",
            "TOR_PT_STATE_LOCATION": os.path.join(tmp, tag, "state-client"),
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        self.client, self.socks_addr = start_ptd("client", "CMETHOD", tag, binary, cenv, tmp,
                                                 children)

    def procs(self):
        return [self.client, self.server]

    def check_alive(self):
        for p in self.procs():
            if not p.alive():
                raise BenchError("%s (pid %d) died with status %s\n%s" % (
                    p.name, p.pid, p.proc.returncode, p.describe()))

    def rss_kib(self):
        return [status_kib(p.pid, "VmRSS") for p in self.procs()]

    def stop(self):
        for p in self.procs():
            p.stop()


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


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


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
    runs = env_int("BENCH_RUNS", 3, 1, 100)
    seconds = env_int("BENCH_SECONDS", 2, 1, 60)
    streams = env_int("BENCH_STREAMS", 8, 2, 64)
    idle = env_int("BENCH_IDLE", 1000, 1, 20000)
    parallel = env_int("BENCH_PARALLEL", 8, 1, 64)

    # Every process holds up to about 2 descriptors per idle connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * idle + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print("tunnel_bench: BENCH_IDLE=%d needs %d descriptors per process, the hard "
                  "limit is %d (raise it, or lower BENCH_IDLE)" % (idle, need, hard),
                  file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    header = [
        "ptdispatch plain tunnel vs direct loopback (127.0.0.1)",
        "machine     %s" % machine_line(),
        "tcp         congestion control %s, loopback MTU %s" % (
            read_text("/proc/sys/net/ipv4/tcp_congestion_control"),
            read_text("/sys/class/net/lo/mtu")),
        "ptdispatch  %s  (%s)" % (version_of(binary), binary),
        "parameters  BENCH_RUNS=%d BENCH_SECONDS=%d BENCH_STREAMS=%d BENCH_IDLE=%d "
        "BENCH_PARALLEL=%d" % (runs, seconds, streams, idle, parallel),
        "            direct and tunnel interleaved, 1 warm-up round discarded, medians;",
        "            MB = 10^6 bytes",
    ]
    note("\n".join(header))
    note("")

    tmp = tempfile.mkdtemp(prefix="ptd-bench-")
    children = []
    try:
        backend = Child("loadgen-server", [loadgen, "server", "--threads", "2"], None, tmp)
        children.append(backend)
        port = int(backend.wait_line(lambda l: l.startswith("PORT "), START_TIMEOUT).split()[1])
        direct = ["--to", "127.0.0.1:%d" % port]
        pair = Pair(binary, port, tmp, "bulk", children)
        tunnel = ["--to", pair.server_addr, "--socks", pair.socks_addr]

        def check_all():
            if not backend.alive():
                raise BenchError("the loadgen server died\n%s" % backend.describe())
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
                for setup, where in (("direct", direct), ("tunnel", tunnel)):
                    check_all()
                    before = {p.name: cpu_ticks(p.pid) for p in pair.procs()}
                    res = run_loadgen(loadgen, args + where, seconds)
                    check_all()
                    value = float(res[key])
                    extra = ""
                    if setup == "tunnel" and key == "mbps" and name == "1 stream":
                        gib = int(res["bytes"]) / GiB
                        used = {role: (cpu_ticks(p.pid) - before[p.name]) / CLK_TCK / gib
                                for role, p in (("client", pair.client), ("server", pair.server))}
                        extra = ", relay cpu %.2f + %.2f s/GiB" % (used["client"], used["server"])
                        if rnd:
                            for role in used:
                                cpu_gib[role].append(used[role])
                    unit = "MB/s" if key == "mbps" else "conn/s"
                    note("%-8s %-10s %-7s %9.0f %s%s" % (label, name, setup, value, unit, extra))
                    if rnd:
                        results[(name, setup)].append(value)
        hwm_bulk = [status_kib(p.pid, "VmHWM") for p in pair.procs()]
        pair.stop()

        # Idle connections: a fresh pair per round, so that heap the bulk
        # runs (or an earlier round) left in malloc's free lists does not
        # hide the growth.
        per_conn, per_conn_split = [], []
        for rnd in range(1, runs + 1):
            fresh = Pair(binary, port, tmp, "idle%d" % rnd, children)
            try:
                before = fresh.rss_kib()
                hold = Child("loadgen-hold-%d" % rnd,
                             [loadgen, "hold", "--conns", str(idle), "--to", fresh.server_addr,
                              "--socks", fresh.socks_addr], None, tmp)
                children.append(hold)
                hold.wait_line(lambda l: l.startswith("HELD "), START_TIMEOUT + idle / 50.0)
                fresh.check_alive()
                after = fresh.rss_kib()
                hold.stop()
            finally:
                fresh.stop()
            delta = [(a - b) * 1024.0 / idle for a, b in zip(after, before)]
            per_conn.append(sum(delta))
            per_conn_split.append(delta)
            note("run %d/%d idle     tunnel  %d conns: RSS client %d -> %d KiB, server %d -> %d "
                 "KiB, %.0f bytes/conn" % (rnd, runs, idle, before[0], after[0], before[1],
                                           after[1], sum(delta)))
        if not backend.alive():
            raise BenchError("the loadgen server died\n%s" % backend.describe())
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
    lines.append("")
    lines.append("%-22s %13s %13s %7s  %s" % ("test", "direct", "plain tunnel", "ratio",
                                               "spread (min..max) direct | tunnel"))

    def spread(xs):
        return "%.0f..%.0f" % (min(xs), max(xs))

    for name, _, key in tests:
        d, t = results[(name, "direct")], results[(name, "tunnel")]
        unit = "MB/s" if key == "mbps" else "/s"
        label = ("throughput " + name) if key == "mbps" else "new connections"
        lines.append("%-22s %8.0f %-4s %8.0f %-4s %7.2f  %s | %s" % (
            label, med(d), unit, med(t), unit, ratio(med(t), med(d)), spread(d), spread(t)))
    split = [med([s[i] for s in per_conn_split]) for i in (0, 1)]
    lines.append("%-22s %13s %8.1f KiB %7s  client %.1f + server %.1f KiB, %d connections" % (
        "idle memory/conn", "-", med(per_conn) / 1024, "", split[0] / 1024, split[1] / 1024, idle))
    lines.append("%-22s %13s %8.2f s   %7s  client %.2f + server %.2f, 1-stream runs" % (
        "relay cpu/GiB", "-", med(cpu_gib["client"]) + med(cpu_gib["server"]), "",
        med(cpu_gib["client"]), med(cpu_gib["server"])))
    lines.append("%-22s %13s %8.1f MiB %7s  VmHWM client %.1f + server %.1f after the bulk runs" % (
        "peak RSS", "-", sum(hwm_bulk) / 1024, "", hwm_bulk[0] / 1024, hwm_bulk[1] / 1024))
    lines.append("")
    lines.append("targets (issue 3): 1-stream throughput ratio >= 0.40: %.2f; idle memory < 16 "
                 "KiB/conn: %.1f KiB" % (ratio(med(results[(tests[0][0], "tunnel")]),
                                              med(results[(tests[0][0], "direct")])),
                                        med(per_conn) / 1024))
    print("\n".join(lines), flush=True)
    if problems:
        note("tunnel_bench: FAILED at shutdown:\n" + "\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
