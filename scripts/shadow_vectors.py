#!/usr/bin/env python3
"""shadow_vectors.py: records Shadowsocks AEAD known-answer vectors from
shadowsocks-libev's own ss-local and ss-server and prints them as a C
header (scripts/shadow_vectors.sh writes it to tests/unit/shadow_vectors.h).

Per cipher, over loopback only:
 (a) ss-local, its server a Python recorder. A SOCKS5 CONNECT to
     127.0.0.1:PORT (PORT: a Python listener, below) through ss-local,
     then PAYLOAD: the recorder keeps every byte ss-local sends, until
     salt + PAYLOAD's chunk(s) are in and the line has been quiet a while.
     Plaintext: the address header (atyp 1, 127.0.0.1, PORT) + PAYLOAD.
 (b) a fresh ss-server (its replay filter has never seen that salt) gets
     the recorded bytes; it dials 127.0.0.1:PORT, where the listener
     checks it received exactly PAYLOAD and answers REPLY, which
     ss-server sends back encrypted: recorded likewise. Plaintext: REPLY.
Nothing is decrypted here (the standard library has no AES); the
plaintexts are the ones we put in, and (b) shows ss-server read (a)'s
bytes as exactly that header and PAYLOAD.

Every wait is bounded; every process is one we started, stopped by its
Popen. Standard library only; uses tests/integration/shadowtest.py.
"""

import datetime
import os
import queue
import shlex
import signal
import socket
import struct
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import shadowtest  # noqa: E402
from ptdtest import TcpServer, socks5_connect, tcp_connect  # noqa: E402

PASSWORD = "ptd-vector-password"
PAYLOAD = b"GET /vector HTTP/1.0\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\n\r\nvector reply\n"
QUIET = 0.5      # seconds without new bytes that end a recording
DEADLINE = 15.0  # seconds any one step may take


def log(msg):
    print("shadow_vectors: " + msg, file=sys.stderr, flush=True)


class Recorder:
    """A TcpServer handler keeping what the first connection sends, segment
    by segment (recv boundaries), until at least `want` bytes are in and
    QUIET seconds pass without more (or the peer closes)."""

    def __init__(self, want):
        self.want = want
        self.results = queue.Queue()

    def __call__(self, conn):
        self.results.put(record(conn, self.want))


def record(conn, want):
    """Reads from conn until >= want bytes and QUIET seconds of silence,
    EOF, or DEADLINE. Returns the list of (monotonic time, bytes) received."""
    segs = []
    total = 0
    end = time.monotonic() + DEADLINE
    last = time.monotonic()
    while time.monotonic() < end:
        conn.settimeout(0.1)
        try:
            data = conn.recv(65536)
        except socket.timeout:
            if total >= want and time.monotonic() - last >= QUIET:
                break
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        last = time.monotonic()
        segs.append((last, data))
        total += len(data)
    return segs


class ReplyTarget:
    """The target in the address header: a connection that sends exactly
    PAYLOAD gets REPLY, then is held open until the peer closes. What each
    connection sent (up to len(PAYLOAD) bytes) goes to self.got."""

    def __init__(self):
        self.got = queue.Queue()

    def __call__(self, conn):
        conn.settimeout(DEADLINE)
        data = b""
        try:
            while len(data) < len(PAYLOAD):
                chunk = conn.recv(len(PAYLOAD) - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            self.got.put(data)
        if data != PAYLOAD:
            return
        conn.sendall(REPLY)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


def c_array(name, data):
    lines = ["static const uint8_t %s[%d] = {" % (name, len(data))]
    for off in range(0, len(data), 12):
        lines.append("  " + " ".join("0x%02x," % b for b in data[off:off + 12]))
    lines.append("};")
    return "\n".join(lines)


def chunk_count(cipher, wire, plain_len):
    """How many chunks carry plain_len bytes in wire (each chunk adds
    CHUNK_OVERHEAD bytes after the salt); fails if it is not whole."""
    extra = len(wire) - shadowtest.SALT_LEN[cipher] - plain_len
    if extra <= 0 or extra % shadowtest.CHUNK_OVERHEAD:
        raise SystemExit("%s: %d wire bytes do not fit salt + chunks of %d plaintext bytes"
                         % (cipher, len(wire), plain_len))
    return extra // shadowtest.CHUNK_OVERHEAD


def describe_segments(segs, payload_at=None):
    """How the bytes arrived: recv sizes on loopback, and how many came
    before the payload was written to the SOCKS connection."""
    text = "recv sizes %s" % [len(d) for _, d in segs]
    if payload_at is not None:
        early = sum(len(d) for t, d in segs if t < payload_at)
        text += ", %d byte(s) before the payload was written" % early
    return text


def header_chunk_alone(cipher, wire, header_len, target, commands):
    """True if wire's first chunk is the address header alone: a fresh
    ss-server given just salt + one chunk of header_len bytes dials the
    target (were the first chunk longer, that prefix holds no complete
    chunk; shorter, it holds no complete header). target: the TcpServer
    at the header's address."""
    prefix = wire[:shadowtest.wire_len(cipher, header_len)]
    before = target.accepted
    with tempfile.TemporaryDirectory(prefix="ptd-ssvec-probe-") as d:
        server, saddr, cfg = shadowtest.start_ss_server(d, cipher, PASSWORD, timeout=DEADLINE)
        with open(cfg) as f:
            commands.append((shlex.join(server.argv) + "   (given only salt + the first %d-byte"
                             " chunk of the recorded request)" % header_len, f.read()))
        try:
            c = tcp_connect(saddr, timeout=DEADLINE)
            try:
                c.sendall(prefix)
                end = time.monotonic() + 3.0
                while target.accepted == before and time.monotonic() < end:
                    time.sleep(0.02)
                dialled = target.accepted > before
            finally:
                c.close()
            if dialled:
                # The dial sent nothing and is closed with the client.
                target.handler.got.get(timeout=DEADLINE)
        finally:
            server.stop()
    return dialled


def one_cipher(cipher, workdir, commands):
    salt = shadowtest.SALT_LEN[cipher]
    target = TcpServer(ReplyTarget(), io_timeout=DEADLINE)
    tport = target.port
    header = b"\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", tport)
    client_plain = header + PAYLOAD
    rec = Recorder(shadowtest.wire_len(cipher, len(client_plain)))
    recorder = TcpServer(rec, io_timeout=DEADLINE)
    procs = []
    try:
        # (a) ss-local -> recorder
        d = os.path.join(workdir, cipher + "-local")
        os.mkdir(d)
        local, socks, cfg = shadowtest.start_ss_local(d, cipher, PASSWORD, recorder.addr,
                                                      timeout=DEADLINE)
        procs.append(local)
        with open(cfg) as f:
            commands.append((shlex.join(local.argv), f.read()))
        s = socks5_connect(socks, "127.0.0.1", tport, timeout=DEADLINE)
        try:
            # A pause first shows whether ss-local sends anything (or even
            # connects) before it has payload.
            time.sleep(1.0)
            connected_early = recorder.accepted > 0
            payload_at = time.monotonic()
            s.sendall(PAYLOAD)
            try:
                segs = rec.results.get(timeout=DEADLINE + 5)
            except queue.Empty:
                raise SystemExit("%s: ss-local never connected to the recorder\n%s"
                                 % (cipher, local.describe()))
        finally:
            s.close()
        local.stop()
        client_wire = b"".join(data for _, data in segs)
        if target.accepted:
            raise SystemExit("%s: something dialled the target during (a)" % cipher)
        cchunks = chunk_count(cipher, client_wire, len(client_plain))
        cnote = describe_segments(segs, payload_at)
        cnote += "; %s connected to its server before the payload" % (
            "had" if connected_early else "had not")
        log("%s: ss-local sent %d bytes: salt %d + %d chunk(s) for %d plaintext bytes; %s"
            % (cipher, len(client_wire), salt, cchunks, len(client_plain), cnote))

        # (b) recorded request -> fresh ss-server -> target; record its answer
        d = os.path.join(workdir, cipher + "-server")
        os.mkdir(d)
        server, saddr, cfg = shadowtest.start_ss_server(d, cipher, PASSWORD, timeout=DEADLINE)
        procs.append(server)
        with open(cfg) as f:
            commands.append((shlex.join(server.argv), f.read()))
        c = tcp_connect(saddr, timeout=DEADLINE)
        try:
            c.sendall(client_wire)
            ssegs = record(c, shadowtest.wire_len(cipher, len(REPLY)))
        finally:
            c.close()
        try:
            got = target.handler.got.get(timeout=DEADLINE)
        except queue.Empty:
            raise SystemExit("%s: ss-server never dialled the target\n%s"
                             % (cipher, server.describe()))
        if got != PAYLOAD:
            raise SystemExit("%s: the target got %r from ss-server, not %r"
                             % (cipher, got, PAYLOAD))
        server.stop()
        server_wire = b"".join(data for _, data in ssegs)
        schunks = chunk_count(cipher, server_wire, len(REPLY))
        snote = describe_segments(ssegs)
        if cchunks > 1:
            alone = header_chunk_alone(cipher, client_wire, len(header), target, commands)
            cnote += "; first chunk %s" % (
                "the %d-byte address header alone (a fresh ss-server given salt + that "
                "chunk dialled the target)" % len(header) if alone
                else "not the address header alone")
            log("%s: ss-local's %s" % (cipher, cnote.rsplit("; ", 1)[1]))
        log("%s: ss-server sent %d bytes: salt %d + %d chunk(s) for %d plaintext bytes; %s"
            % (cipher, len(server_wire), salt, schunks, len(REPLY), snote))
        return {"cipher": cipher, "client_wire": client_wire, "client_plain": client_plain,
                "server_wire": server_wire, "server_plain": REPLY,
                "client_note": "%d chunk(s); %s" % (cchunks, cnote),
                "server_note": "%d chunk(s); %s" % (schunks, snote)}
    finally:
        for p in procs:
            p.stop()
        recorder.close()
        target.close()


def comment_text(text):
    return text.replace("*/", "* /")


def main():
    # A SIGTERM (shadow_vectors.sh's timeout) unwinds, so the finally
    # blocks stop the ss-local / ss-server we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shadowtest.require_shadowsocks()
    version = shadowtest.ss_version(shadowtest.SS_LOCAL) or "unknown"
    sversion = shadowtest.ss_version(shadowtest.SS_SERVER) or "unknown"
    if sversion != version:
        version = "%s/%s" % (version, sversion)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    commands = []
    vectors = []
    with tempfile.TemporaryDirectory(prefix="ptd-ssvec-") as workdir:
        for cipher in shadowtest.CIPHERS:
            vectors.append(one_cipher(cipher, workdir, commands))

    out = ["/* Generated by scripts/shadow_vectors.sh from shadowsocks-libev %s "
           "(ss-local/ss-server), %s; do not edit. */" % (version, date)]
    note = ["Password %r for every cipher." % PASSWORD,
            "client: what ss-local sent its server after a SOCKS5 CONNECT to the",
            "  address in the header and the payload %r;" % PAYLOAD.decode("latin-1"),
            "  plain = address header (atyp 1, 127.0.0.1, port) + payload.",
            "server: what a fresh ss-server answered that recorded request with,",
            "  once its target (a listener at that address) replied; plain = the reply.",
            "Chunking as recorded (recv boundaries on loopback):"]
    for v in vectors:
        note.append("  %s client: %s" % (v["cipher"], v["client_note"]))
        note.append("  %s server: %s" % (v["cipher"], v["server_note"]))
    note.append("Commands run (config files as written to temp dirs):")
    for cmd, cfg in commands:
        note.append("  $ " + cmd)
        for line in cfg.rstrip("\n").split("\n"):
            note.append("    " + line)
    out.append("/* " + comment_text("\n * ".join(note)) + " */")
    out += ["#ifndef PTD_TESTS_UNIT_SHADOW_VECTORS_H",
            "#define PTD_TESTS_UNIT_SHADOW_VECTORS_H",
            "",
            "#include <stddef.h>",
            "#include <stdint.h>",
            "",
            "typedef struct { const char *cipher; const char *password; const uint8_t *wire; "
            "size_t wire_len; const uint8_t *plain; size_t plain_len; } shadow_vector_t;",
            ""]
    for i, v in enumerate(vectors):
        out += ["/* %s */" % v["cipher"],
                c_array("shadow_vec_c%d_wire" % i, v["client_wire"]),
                c_array("shadow_vec_c%d_plain" % i, v["client_plain"]),
                c_array("shadow_vec_s%d_wire" % i, v["server_wire"]),
                c_array("shadow_vec_s%d_plain" % i, v["server_plain"]),
                ""]

    def table(name, side, comment):
        rows = ["  {\"%s\", \"%s\", shadow_vec_%s%d_wire, sizeof shadow_vec_%s%d_wire, "
                "shadow_vec_%s%d_plain, sizeof shadow_vec_%s%d_plain},"
                % (v["cipher"], PASSWORD, side, i, side, i, side, i, side, i)
                for i, v in enumerate(vectors)]
        return ["static const shadow_vector_t %s[] = {" % name] + rows + ["};  /* %s */"
                                                                         % comment]

    out += table("shadow_vec_client", "c", "ss-local -> server")
    out += [""]
    out += table("shadow_vec_server", "s", "ss-server -> client")
    out += ["", "#endif"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
