"""Interop with the real parent: Debian's tor launches ptdispatch as a
managed proxy on both sides, reads its lines, and a tor client reaches a
tor bridge through the plain tunnel (TLS handshake and the bridge
descriptor fetch both cross it). Both tors point at a fake directory
authority on loopback and use no fallback directories, so nothing leaves
the machine. Stopping tor stops its ptdispatch."""

import os
import re
import shutil
import signal
import time
import unittest

from ptdtest import (BINARY, SANITIZER_MARKERS, PtdTestCase, free_port, pid_state, tmo)


def tor_binary():
    tor = shutil.which("tor")
    if not tor:
        raise AssertionError("tor not found: apt-get install tor (scripts/deps.sh installs it)")
    return tor


def wait_for_log(path, pattern, timeout, proc):
    """Polls a tor log file until a line matches; returns the match."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return m
        if proc.proc.poll() is not None:
            break
        time.sleep(0.1)
    text = open(path, errors="replace").read() if os.path.exists(path) else "(no log)"
    raise AssertionError("no %r in %s within %ss\n%s" % (pattern, path, timeout, text[-4000:]))


def children_named(ppid, name):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                data = f.read()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        fields = data[data.rindex(")") + 2:].split()
        if comm == name and int(fields[1]) == ppid:
            pids.append(int(entry))
    return pids


class TorInteropTest(PtdTestCase):

    def tor(self, name, lines):
        d = self.tempdir("ptd-tor-%s-" % name)
        os.chmod(d, 0o700)
        dead = free_port()
        conf = [
            "DataDirectory %s" % os.path.join(d, "data"),
            # A directory authority nobody runs, on loopback: tor never
            # looks for the real network.
            "DirAuthority fake orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s"
            % (dead, "0" * 39 + "1", dead, "0" * 39 + "2"),
            "UseDefaultFallbackDirs 0",
            "Log notice file %s" % os.path.join(d, "notice.log"),
            "Log info file %s" % os.path.join(d, "info.log"),
        ] + lines
        torrc = os.path.join(d, "torrc")
        with open(torrc, "w") as f:
            f.write("\n".join(conf) + "\n")
        p = self.launch_argv([tor_binary(), "-f", torrc, "--quiet"], env={"HOME": d})
        return p, d

    def test_bridge_and_client_through_plain(self):
        pt_port = free_port()
        bridge, bdir = self.tor("bridge", [
            "SocksPort 0",
            "ORPort 127.0.0.1:%d" % free_port(),
            "AssumeReachable 1",
            "BridgeRelay 1",
            "PublishServerDescriptor 0",
            "ServerTransportPlugin plain exec %s" % BINARY,
            "ServerTransportListenAddr plain 127.0.0.1:%d" % pt_port,
        ])
        wait_for_log(os.path.join(bdir, "notice.log"),
                     r"Registered server transport 'plain' at '127\.0\.0\.1:%d'" % pt_port,
                     tmo(60), bridge)
        with open(os.path.join(bdir, "data", "fingerprint")) as f:
            fingerprint = f.read().split()[1]

        client, cdir = self.tor("client", [
            "SocksPort 127.0.0.1:%d" % free_port(),
            "UseBridges 1",
            "Bridge plain 127.0.0.1:%d %s" % (pt_port, fingerprint),
            "ClientTransportPlugin plain exec %s" % BINARY,
        ])
        clog = os.path.join(cdir, "info.log")
        wait_for_log(clog, r"Successfully registered transport plain", tmo(60), client)
        # The TLS handshake and the descriptor fetch crossed the tunnel.
        wait_for_log(os.path.join(cdir, "notice.log"),
                     r"new bridge descriptor '.*' \(fresh\): \$%s" % fingerprint,
                     tmo(90), client)

        # Tor read every line we said, in order, and complained of none.
        got = [m for m in re.findall(r"Got a line from managed proxy '[^']*': \((.*)\)",
                                     open(clog, errors="replace").read())]
        self.assertEqual(got[0], "VERSION 1", got)
        self.assertRegex(got[1], r"^STATUS TYPE=version IMPLEMENTATION=ptdispatch VERSION=")
        self.assertRegex(got[2], r"^CMETHOD plain socks5 127\.0\.0\.1:\d+$")
        self.assertEqual(got[3], "CMETHODS DONE")
        binfo = open(os.path.join(bdir, "info.log"), errors="replace").read()
        self.assertIn("(SMETHOD plain 127.0.0.1:%d)" % pt_port, binfo)
        for log in (clog, os.path.join(bdir, "info.log")):
            text = open(log, errors="replace").read()
            self.assertNotIn("Unknown line received by managed proxy", text)
            for marker in SANITIZER_MARKERS:
                self.assertNotIn(marker, text)

        # Stopping tor stops its ptdispatch (tor sends SIGTERM and closes
        # stdin; either is enough).
        for tor, name in ((client, "client"), (bridge, "bridge")):
            pts = children_named(tor.pid, os.path.basename(BINARY)[:15])
            self.assertEqual(len(pts), 1, "%s tor has ptdispatch children %r" % (name, pts))
            tor.send_signal(signal.SIGTERM)
            self.assertEqual(tor.wait_exit(tmo(30)), 0, tor.describe())
            deadline = time.monotonic() + tmo(10)
            while pid_state(pts[0]) not in (None, "Z") and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn(pid_state(pts[0]), (None, "Z"),
                          "%s ptdispatch %d outlived its tor" % (name, pts[0]))


if __name__ == "__main__":
    unittest.main()
