"""A private Tor network on loopback, for tests that need Debian's tor as a
real parent and peer: one directory authority, one relay that is also an
exit, and the bridges and clients a test adds (with pluggable transports).

Why a network of our own: a tor that is not given directory authorities
bootstraps from the public ones. Every torrc written here (see
TorNet._common) therefore
  - names only our loopback DirAuthority and no fallback directories, with
    TestingTorNetwork 1 (which tor accepts only with such an authority);
  - listens on 127.0.0.1 only, and binds every outgoing connection, its own
    and its transports', to 127.0.0.1: Linux refuses (EINVAL) to connect
    from 127.0.0.1 to anything outside loopback, so a mistake fails instead
    of leaking;
  - sends any DNS a relay does to a resolv.conf naming only 127.0.0.1.
On top of that, TorNet.check_loopback() looks at every TCP and UDP socket
of every tor and of its children, and records any peer outside 127.0.0.0/8
or ::1; the waits call it on each poll, and tests assert the record is
empty.

Typical use (the test keeps the PIDs through TorNet and stops it in its
cleanups):

    net = TorNet(tempdir)
    net.start_authority()
    net.start_exit([port])
    bridge = net.start_bridge("plain", "exec " + BINARY, pt_port)
    net.wait_consensus([net.exit.fingerprint], tmo(120))
    client = net.start_client(["plain 127.0.0.1:%d %s" % (pt_port,
                               bridge.fingerprint)], "plain", "exec " + BINARY)
    net.wait_bootstrapped(client, tmo(120))
    ...
    net.stop()

Standard library only. Every wait polls with a deadline; tor processes are
ptdtest.Proc objects (kept by PID; stop() is SIGTERM, then SIGKILL).
"""

import base64
import binascii
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

from ptdtest import Proc, free_port, tcp_connect

LOOPBACK_V4 = "127.0.0.1"

# One authority votes alone, so the schedule can be as short as tor allows
# under TestingTorNetwork: the first consensus a few seconds after start, a
# new one every 10 s (so a relay that uploads late is listed soon after).
# Vote + distribution delays must stay under half of each interval.
AUTHORITY_TIMING = (
    "TestingV3AuthInitialVotingInterval 5",
    "TestingV3AuthInitialVoteDelay 2",
    "TestingV3AuthInitialDistDelay 2",
    "V3AuthVotingInterval 10",
    "V3AuthVoteDelay 2",
    "V3AuthDistDelay 2",
    "V3AuthNIntervalsValid 2",
)


def tool(name, package="tor"):
    """The path of a program; fails (never skips) with an install hint
    when it is missing."""
    path = shutil.which(name)
    if not path:
        raise AssertionError("%s not found: apt-get install %s (scripts/deps.sh installs it)"
                             % (name, package))
    return path


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def tail(path, lines=40):
    text = read_text(path)
    if not text:
        return "(%s: empty or missing)" % path
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# Control port
# --------------------------------------------------------------------------

class ControlError(Exception):
    pass


class ControlConn:
    """A minimal Tor control-port client (control-spec): authenticates with
    the cookie file, then sends GETINFO. One command at a time."""

    def __init__(self, addr, cookie, timeout):
        self.sock = tcp_connect(addr, timeout=timeout)
        self.rfile = self.sock.makefile("rb")
        try:
            self.command("AUTHENTICATE " + cookie.hex())
        except BaseException:
            self.close()
            raise

    def _readline(self):
        raw = self.rfile.readline(1 << 20)
        if not raw.endswith(b"\n"):
            raise ControlError("control connection closed mid-reply")
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def command(self, line):
        """Sends one command; returns its reply as a list of (status, text,
        data) where data is the body of a '+' line (else None). Raises
        ControlError on a non-2xx status."""
        self.sock.sendall(line.encode() + b"\r\n")
        reply = []
        while True:
            head = self._readline()
            if len(head) < 4 or not head[:3].isdigit() or head[3] not in " -+":
                raise ControlError("malformed control reply line %r" % head)
            status, sep, text = head[:3], head[3], head[4:]
            data = None
            if sep == "+":
                body = []
                while True:
                    l = self._readline()
                    if l == ".":
                        break
                    body.append(l[1:] if l.startswith(".") else l)
                data = "\n".join(body)
            reply.append((status, text, data))
            if not status.startswith("2"):
                raise ControlError("%r answered %s %s" % (line.split(" ")[0], status, text))
            if sep == " ":
                return reply

    def getinfo(self, key):
        for _status, text, data in self.command("GETINFO " + key):
            if text.startswith(key + "="):
                return data if data is not None else text[len(key) + 1:]
        raise ControlError("no value for %r in the GETINFO reply" % key)

    def close(self):
        for f in (self.rfile, self.sock):
            try:
                f.close()
            except OSError:
                pass


def parse_ns(text):
    """{fingerprint (hex): set of flags} from router status entries (the
    "r" and "s" lines of GETINFO ns/all)."""
    routers, fp = {}, None
    for line in text.splitlines():
        f = line.split(" ")
        if f[0] == "r" and len(f) > 2:
            ident = base64.b64decode(f[2] + "=" * (-len(f[2]) % 4))
            fp = ident.hex().upper()
            routers[fp] = set()
        elif f[0] == "s" and fp is not None:
            routers[fp] = set(f[1:])
    return routers


# --------------------------------------------------------------------------
# Sockets of a process (to prove nothing leaves loopback)
# --------------------------------------------------------------------------

def _hex_addr(text):
    """'0100007F:1F90' (a /proc/net address) -> ('127.0.0.1', 8080). The
    address is in host (little-endian) order, 32 bits at a time."""
    addr, port = text.split(":")
    raw = binascii.unhexlify(addr)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def is_loopback(host):
    return (host.startswith("127.") or host == "::1" or host.startswith("::ffff:127."))


def is_unspecified(host):
    return host in ("0.0.0.0", "::")


def outside_loopback(local, remote):
    """True if a socket bound to local, connected to remote ((host, port)
    pairs; remote unspecified for a listener), touches anything but
    loopback. A listener on 0.0.0.0 counts: it is reachable from outside."""
    return not is_loopback(local[0]) or not (is_loopback(remote[0])
                                             or is_unspecified(remote[0]))


def socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"^socket:\[(\d+)\]$", target)
        if m:
            inodes.add(m.group(1))
    return inodes


def inet_sockets(pid):
    """[(proto, local (host, port), remote (host, port))] of the TCP and UDP
    sockets PID holds (IPv4 and IPv6), read from /proc."""
    inodes = socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in read_text("/proc/%d/net/%s" % (pid, proto)).splitlines()[1:]:
            f = line.split()
            if len(f) > 9 and f[9] in inodes:
                found.append((proto, _hex_addr(f[1]), _hex_addr(f[2])))
    return found


def proc_exe(pid):
    """The executable of PID, or None (gone, a zombie, or not ours)."""
    try:
        return os.path.realpath(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def child_pids(pid):
    """The children of every thread of PID (tor may fork from any)."""
    kids = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for t in tasks:
        for k in read_text("/proc/%d/task/%s/children" % (pid, t)).split():
            kids.append(int(k))
    return kids


# --------------------------------------------------------------------------
# The nodes
# --------------------------------------------------------------------------

class TorNode:
    """One tor: its directory (torrc, logs, DataDirectory), its process and
    its control connection."""

    def __init__(self, net, role, nickname, env):
        self.net = net
        self.env = dict(env)
        self.role = role
        self.nickname = nickname
        self.dir = os.path.join(net.base, nickname)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.datadir = os.path.join(self.dir, "data")
        os.makedirs(self.datadir, mode=0o700, exist_ok=True)
        self.torrc = os.path.join(self.dir, "torrc")
        self.or_port = None
        self.dir_port = None
        self.fingerprint = None
        self.proc = None
        self.pt_seen = {}  # pid -> executable, of every child seen
        self._ctl = None

    def log(self, level):
        return os.path.join(self.dir, "%s.log" % level)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def write_torrc(self, lines):
        with open(self.torrc, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        # --hush: tor's own warnings (a bad torrc, say) still reach stdout.
        self.proc = Proc([tool("tor"), "-f", self.torrc, "--hush"],
                         env=dict(self.env, HOME=self.dir))

    def control(self):
        """A control connection (cached), once tor has written its port."""
        if self._ctl is None:
            text = read_text(os.path.join(self.dir, "control.port")).strip()
            m = re.match(r"^PORT=(127\.0\.0\.1):(\d+)$", text)
            cookie_path = os.path.join(self.datadir, "control_auth_cookie")
            if not m or not os.path.exists(cookie_path):
                raise ControlError("%s: control port not open yet" % self.nickname)
            with open(cookie_path, "rb") as f:
                cookie = f.read()
            self._ctl = ControlConn((m.group(1), int(m.group(2))), cookie, timeout=10)
        return self._ctl

    def getinfo(self, key):
        """GETINFO key, or None if tor cannot answer yet (not started, or
        the connection dropped; it is reopened on the next call)."""
        try:
            return self.control().getinfo(key)
        except (OSError, ControlError):
            self.close_control()
            return None

    def close_control(self):
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None

    def pt_children(self):
        """PIDs of this tor's children right now (its managed proxies);
        each one is remembered in pt_seen with its executable."""
        kids = child_pids(self.pid) if self.alive() else []
        for k in kids:
            exe = proc_exe(k)
            if exe:
                self.pt_seen.setdefault(k, exe)
        return kids

    def stop(self, timeout=15):
        """SIGTERM (relays here use ShutdownWaitLength 0), then SIGKILL after
        timeout; then kills any child it left behind (see reap_orphans).
        Returns the exit code."""
        self.close_control()
        if self.proc is None:
            return None
        if self.alive():
            self.pt_children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.proc.stop()
        self.reap_orphans(timeout)
        return self.proc.proc.returncode

    def reap_orphans(self, timeout):
        """Once tor is gone: waits up to timeout for the children it had to
        go too, then SIGKILLs those still running the same executable (a
        reused PID is left alone). Tests assert on their own that tor
        stopped them; this only keeps a failed test from leaking them.
        Returns the PIDs killed."""
        deadline = time.monotonic() + timeout
        left = dict(self.pt_seen)
        while left and time.monotonic() < deadline:
            left = {p: e for p, e in left.items() if proc_exe(p) == e}
            if left:
                time.sleep(0.05)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return sorted(left)

    def describe(self, lines=40):
        out = ["==== %s (%s) pid %s, %s ====" % (
            self.nickname, self.role, self.pid,
            "running" if self.alive() else "exit %r" % (
                self.proc.proc.returncode if self.proc else None))]
        out.append("-- %s (last %d lines)" % (self.log("notice"), lines))
        out.append(tail(self.log("notice"), lines))
        if self.proc and (self.proc.out or self.proc.err):
            out.append("-- stdout and stderr\n" + "\n".join(
                self.proc.out[-lines:] + self.proc.err[-lines:]))
        return "\n".join(out)


class TorNet:
    """A private tor network in directory base (which the caller owns and
    removes). Nodes are started in order: authority, exit, then bridges and
    clients."""

    def __init__(self, base, env=None):
        """env: extra environment for every tor, and so for the managed
        proxies it launches (they inherit tor's)."""
        self.base = base
        self.env = dict(env or {})
        self.nodes = []
        self.authority = None
        self.exit = None
        self.dirauth_line = None
        self.violations = []  # (nickname, pid, proto, local, remote)
        self.resolv_conf = os.path.join(base, "resolv.conf")
        with open(self.resolv_conf, "w") as f:
            f.write("nameserver %s\n" % LOOPBACK_V4)

    # -- configuration --
    def _common(self, node, server):
        """The lines every torrc gets; server: it has an ORPort."""
        lines = [
            "DataDirectory %s" % node.datadir,
            "Nickname %s" % node.nickname,
            "TestingTorNetwork 1",
            self.dirauth_line,
            "UseDefaultFallbackDirs 0",
            "OutboundBindAddress %s" % LOOPBACK_V4,
            "OutboundBindAddressPT %s" % LOOPBACK_V4,
            "ControlPort auto",
            "ControlPortWriteToFile %s" % os.path.join(node.dir, "control.port"),
            "CookieAuthentication 1",
            "PathsNeededToBuildCircuits 0.25",
            "SafeLogging 0",
            "Log notice file %s" % node.log("notice"),
            "Log info file %s" % node.log("info"),
        ]
        if not server:
            # Conflux wants two exits; with one it only fills the logs
            # (relays are asked to keep it on, and warn).
            lines.append("ConfluxEnabled 0")
        else:
            lines += [
                "SocksPort 0",
                "Address %s" % LOOPBACK_V4,
                "AssumeReachable 1",
                "ShutdownWaitLength 0",
                "ContactInfo ptdispatch-test@invalid",
                "ServerDNSResolvConfFile %s" % self.resolv_conf,
                "ServerDNSDetectHijacking 0",
                "ServerDNSAllowBrokenConfig 1",
            ]
        return lines

    def _node(self, role, nickname):
        node = TorNode(self, role, nickname, self.env)
        self.nodes.append(node)
        return node

    def _start(self, node, lines):
        node.write_torrc(lines)
        node.start()
        return node

    def _relay_fingerprint(self, node):
        """Creates the relay keys in node's DataDirectory (tor
        --list-fingerprint, with networking off) and returns the RSA
        identity fingerprint in hex."""
        keygen = os.path.join(node.dir, "keygen.torrc")
        with open(keygen, "w") as f:
            f.write("\n".join([
                "DataDirectory %s" % node.datadir,
                "DisableNetwork 1",
                "TestingTorNetwork 1",
                # The real authority line needs this very fingerprint; a
                # loopback placeholder keeps the public ones out meanwhile.
                "DirAuthority placeholder orport=9 no-v2 v3ident=%s 127.0.0.1:9 %s"
                % ("0" * 39 + "1", "0" * 39 + "2"),
                "UseDefaultFallbackDirs 0",
                "ORPort %s:%d" % (LOOPBACK_V4, node.or_port),
                "Address %s" % LOOPBACK_V4,
                "Nickname %s" % node.nickname,
            ]) + "\n")
        res = subprocess.run([tool("tor"), "-f", keygen, "--list-fingerprint", "--quiet"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=60, env={"HOME": node.dir})
        m = re.search(r"^%s ((?:[0-9A-F]{4} ?){10})$" % node.nickname, res.stdout, re.M)
        if res.returncode != 0 or not m:
            raise AssertionError("tor --list-fingerprint failed (%d):\n%s%s"
                                 % (res.returncode, res.stdout, res.stderr))
        return m.group(1).replace(" ", "")

    # -- nodes --
    def start_authority(self, nickname="ptdAuth"):
        """Generates the authority's keys (tor-gencert: identity, signing
        key, certificate; relay identity: tor --list-fingerprint), fixes the
        DirAuthority line every other torrc uses, and starts it."""
        node = self._node("authority", nickname)
        node.or_port, node.dir_port = free_port(), free_port()
        keys = os.path.join(node.datadir, "keys")
        os.makedirs(keys, mode=0o700, exist_ok=True)
        # The passphrase only protects the identity key file on disk, which
        # lives and dies with the temp dir; it is never logged.
        res = subprocess.run(
            [tool("tor-gencert"), "--create-identity-key", "-m", "12",
             "-a", "%s:%d" % (LOOPBACK_V4, node.dir_port),
             "-i", os.path.join(keys, "authority_identity_key"),
             "-s", os.path.join(keys, "authority_signing_key"),
             "-c", os.path.join(keys, "authority_certificate"), "--passphrase-fd", "0"],
            input=secrets.token_hex(16) + "\n", capture_output=True, text=True, timeout=60)
        cert = read_text(os.path.join(keys, "authority_certificate"))
        m = re.search(r"^fingerprint ([0-9A-F]{40})$", cert, re.M)
        if res.returncode != 0 or not m:
            raise AssertionError("tor-gencert failed (%d):\n%s%s"
                                 % (res.returncode, res.stdout, res.stderr))
        v3ident = m.group(1)
        node.fingerprint = self._relay_fingerprint(node)
        self.dirauth_line = "DirAuthority %s orport=%d no-v2 v3ident=%s %s:%d %s" % (
            nickname, node.or_port, v3ident, LOOPBACK_V4, node.dir_port, node.fingerprint)
        self.authority = node
        return self._start(node, self._common(node, server=True) + [
            "ORPort %s:%d" % (LOOPBACK_V4, node.or_port),
            "DirPort %s:%d" % (LOOPBACK_V4, node.dir_port),
            "AuthoritativeDirectory 1",
            "V3AuthoritativeDirectory 1",
            # Flags at once, for every relay, whatever its uptime or
            # bandwidth: the test cannot wait days for Guard or Exit.
            "TestingDirAuthVoteExit *",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
            "TestingMinExitFlagThreshold 0",
            "ExitRelay 0",
        ] + list(AUTHORITY_TIMING))

    def start_exit(self, ports, nickname="ptdExit"):
        """A relay that exits to the given TCP ports. Clients pick exits by
        the port summary of the microdescriptor, which ignores rules for one
        address, so the policy is per port; OutboundBindAddress keeps the
        actual connections on loopback."""
        self._need_authority()
        node = self._node("exit", nickname)
        node.or_port = free_port()
        policy = ",".join(["accept *:%d" % p for p in ports] + ["reject *:*"])
        node.fingerprint = self._relay_fingerprint(node)
        self.exit = node
        return self._start(node, self._common(node, server=True) + [
            "ORPort %s:%d" % (LOOPBACK_V4, node.or_port),
            "ExitRelay 1",
            "ExitPolicy %s" % policy,
            "ExitPolicyRejectPrivate 0",
            "ExitPolicyRejectLocalInterfaces 0",
        ])

    def start_bridge(self, transport, plugin, listen_port, nickname="ptdBridge", extra=()):
        """An unpublished bridge whose managed proxy serves transport on
        127.0.0.1:listen_port and hands connections to tor's Extended
        ORPort. plugin is the ServerTransportPlugin tail ("exec /path args").
        The bridge writes a debug log (the ExtORPort's evidence)."""
        self._need_authority()
        node = self._node("bridge", nickname)
        node.or_port = free_port()
        node.fingerprint = self._relay_fingerprint(node)
        return self._start(node, self._common(node, server=True) + [
            "ORPort %s:%d" % (LOOPBACK_V4, node.or_port),
            "BridgeRelay 1",
            "PublishServerDescriptor 0",
            "ExitRelay 0",
            "ExtORPort %s:auto" % LOOPBACK_V4,
            "ServerTransportPlugin %s %s" % (transport, plugin),
            "ServerTransportListenAddr %s %s:%d" % (transport, LOOPBACK_V4, listen_port),
            "Log debug file %s" % node.log("debug"),
        ] + list(extra))

    def start_client(self, bridges, transport, plugin, nickname="ptdClient", extra=()):
        """A client that reaches the network only through bridges ("plain
        127.0.0.1:PORT FINGERPRINT" lines) and the managed proxy plugin
        ("exec /path args"). Its SocksPort is chosen by tor: socks_addr()."""
        self._need_authority()
        node = self._node("client", nickname)
        return self._start(node, self._common(node, server=False) + [
            "SocksPort %s:auto" % LOOPBACK_V4,
            "UseBridges 1",
        ] + ["Bridge %s" % b for b in bridges] + [
            "ClientTransportPlugin %s %s" % (transport, plugin),
        ] + list(extra))

    def _need_authority(self):
        if self.dirauth_line is None:
            raise AssertionError("start_authority() first")

    # -- watching --
    def check_loopback(self):
        """Records every socket of a running tor, or of a tor's child, that
        is bound to or connected to an address outside loopback (a listener
        on 0.0.0.0 counts too). Returns the violations so far."""
        for node in self.nodes:
            if not node.alive():
                continue
            for pid in [node.pid] + node.pt_children():
                for proto, local, remote in inet_sockets(pid):
                    if outside_loopback(local, remote):
                        v = (node.nickname, pid, proto, local, remote)
                        if v not in self.violations:
                            self.violations.append(v)
        return self.violations

    def wait(self, what, pred, timeout, interval=0.25):
        """Polls pred() until it returns a true value (returned) or timeout
        passes; fails early if a tor has exited. The failure message
        carries every node's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_loopback()
            got = pred()
            if got:
                return got
            dead = [n for n in self.nodes if n.proc is not None and not n.alive()]
            if dead:
                raise AssertionError("waiting for %s: %s exited\n%s"
                                     % (what, dead[0].nickname, self.describe()))
            if time.monotonic() > deadline:
                raise AssertionError("waiting for %s: nothing after %.0fs\n%s"
                                     % (what, timeout, self.describe()))
            time.sleep(interval)

    def consensus(self):
        """{fingerprint: set of flags} from the authority's current
        consensus, or None while it has none."""
        text = self.authority.getinfo("ns/all") if self.authority else None
        return parse_ns(text) if text else None

    def wait_consensus(self, fingerprints, timeout, flags=("Running", "Valid")):
        """Waits until the authority's consensus lists each fingerprint with
        flags (and the exit, if any, with Exit too). Returns the consensus."""
        def ready():
            c = self.consensus()
            if not c:
                return None
            for fp in fingerprints:
                need = set(flags) | ({"Exit"} if self.exit and fp == self.exit.fingerprint
                                     else set())
                if not need <= c.get(fp, set()):
                    return None
            return c
        return self.wait("a consensus listing %s" % ", ".join(fingerprints), ready, timeout)

    def bootstrap_progress(self, node):
        """The PROGRESS of GETINFO status/bootstrap-phase, or -1."""
        phase = node.getinfo("status/bootstrap-phase") or ""
        m = re.search(r"\bPROGRESS=(\d+)", phase)
        return int(m.group(1)) if m else -1

    def wait_bootstrapped(self, node, timeout, progress=100):
        return self.wait("%s to bootstrap to %d%%" % (node.nickname, progress),
                         lambda: self.bootstrap_progress(node) >= progress, timeout)

    def wait_log(self, node, pattern, timeout, level="notice"):
        """Waits for a line of node's log matching pattern; returns the
        match."""
        rx = re.compile(pattern, re.M)
        return self.wait("%r in %s" % (pattern, node.log(level)),
                         lambda: rx.search(read_text(node.log(level))), timeout)

    def socks_addr(self, node):
        """(host, port) of node's SocksPort, from tor itself."""
        text = self.wait("%s's SocksPort" % node.nickname,
                         lambda: node.getinfo("net/listeners/socks"), 30)
        m = re.match(r'^"?(127\.0\.0\.1):(\d+)"?$', text.split(" ")[0])
        if not m:
            raise AssertionError("unexpected net/listeners/socks %r" % text)
        return m.group(1), int(m.group(2))

    def describe(self, lines=40):
        parts = [n.describe(lines) for n in self.nodes]
        if self.violations:
            parts.append("==== sockets outside loopback: %r" % self.violations)
        return "\n".join(parts)

    def stop(self, timeout=15):
        """Stops every node still running, newest first (clients before the
        network they use); returns {nickname: exit code}."""
        codes = {}
        for node in reversed(self.nodes):
            codes[node.nickname] = node.stop(timeout)
        return codes
