"""Shared helpers for the obfs4 tests (test_obfs4_interop.py,
test_obfs4_probes.py).

- Starting obfs4proxy (the Debian package, the reference peer) and
  ptdispatch as obfs4 clients and servers in managed mode, reading the
  server's cert and iat-mode from its SMETHOD line.
- SOCKS5 CONNECT carrying obfs4's per-connection arguments the way Tor
  sends them (RFC 1929 user/password, pt-spec 3.5) or as PT 2.1's method
  0x09 JSON block.
- The server's probe close delay, computed as obfs4proxy computes it:
  rand.New(HashDrbg(drbg-seed)).Intn(60), with SipHash-2-4, the DRBG and
  Go 1.19's math/rand rejection sampling written out here.
- A bridge's packet length and inter-arrival distributions (the values
  and weights probdist.New draws from its drbg-seed), and the seeds the
  iat tests use for their properties (FAST_IAT_SEED, ZERO_LEN_SEED), with
  checks of those properties.
- A builder for client handshakes (obfs4-spec section 4): X' random bytes,
  padding, M_C and MAC_C for any epoch hour. The server checks the MAC
  before it maps X' to a point, and ntor works on whatever point that is,
  so a server ANSWERS such a request (we cannot read the answer's frames,
  having no private key for X', but its M_S and MAC_S can be checked with
  the bridge's public key). That gives probes that are valid but for one
  thing, and a check that the builder itself is right.
- A recording TCP proxy, to capture the bytes a real client sends.
- A probe runner that measures when the server closes.

Standard library only.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import threading
import time

from ptdtest import (PtdTestCase, SocksError, StreamPeer, duplex_stream, hash_until_eof,
                     parse_hostport, recv_exact, set_big_buffers, socks5_address, socks5_greet,
                     socks5_read_reply, stream_chunks, tcp_connect, tmo)

OBFS4PROXY = "/usr/bin/obfs4proxy"
OBFS4PROXY_HINT = "obfs4proxy not found at %s: apt-get install obfs4proxy" % OBFS4PROXY
MIB = 1 << 20

# obfs4-spec / obfs4proxy 0.0.14 constants.
MAX_HANDSHAKE_LEN = 8192
REPR_LEN = 32
MARK_LEN = 16
MAC_LEN = 16
CLIENT_MIN_PAD = 77
CLIENT_MAX_PAD = MAX_HANDSHAKE_LEN - (REPR_LEN + MARK_LEN + MAC_LEN)
SERVER_MIN_HS_LEN = 32 + 32 + MARK_LEN + MAC_LEN  # Y' | AUTH | M_S | MAC_S
MAX_CLOSE_DELAY = 60
MAX_SEGMENT_LEN = 1448  # framing.MaximumSegmentLength: the length distribution's top
MAX_IAT_SAMPLE = 100    # maxIATDelay, in units of 100 microseconds
CERT_LEN = 70

# SOCKS5 reply codes used by the tests.
REP_GENERAL_FAILURE = 0x01
REP_ARGS_REFUSED = 0x13


def require_obfs4proxy():
    if not os.access(OBFS4PROXY, os.X_OK):
        raise AssertionError(OBFS4PROXY_HINT)


# --------------------------------------------------------------------------
# SipHash-2-4, obfs4's HashDrbg, Go's math/rand Intn over it
# --------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & _M64


def _sipround(v0, v1, v2, v3):
    v0 = (v0 + v1) & _M64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _M64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _M64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _M64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


class SipHash24:
    """Incremental SipHash-2-4 with a 16-byte key; digest() does not end
    the stream (HashDrbg keeps writing after each Sum)."""

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError("SipHash key must be 16 bytes")
        k0, k1 = struct.unpack("<QQ", key)
        self.v = (k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
                  k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573)
        self.tail = b""
        self.total = 0

    def _compress(self, m):
        v0, v1, v2, v3 = self.v
        v3 ^= m
        for _ in range(2):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
        self.v = (v0, v1, v2, v3)

    def update(self, data):
        self.total += len(data)
        data = self.tail + bytes(data)
        full = len(data) - len(data) % 8
        for off in range(0, full, 8):
            self._compress(struct.unpack_from("<Q", data, off)[0])
        self.tail = data[full:]

    def digest64(self):
        v0, v1, v2, v3 = self.v
        b = ((self.total & 0xff) << 56) | int.from_bytes(self.tail, "little")
        v3 ^= b
        for _ in range(2):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= b
        v2 ^= 0xff
        for _ in range(4):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        return v0 ^ v1 ^ v2 ^ v3


def siphash24(key, data):
    h = SipHash24(key)
    h.update(data)
    return h.digest64()


class HashDrbg:
    """obfs4proxy's common/drbg HashDrbg: SipHash-2-4 keyed by seed[:16] in
    OFB mode over seed[16:24], the hash never reset between blocks."""

    def __init__(self, seed):
        if len(seed) != 24:
            raise ValueError("a DRBG seed is 24 bytes")
        self.sip = SipHash24(seed[:16])
        self.ofb = bytes(seed[16:24])

    def next_block(self):
        self.sip.update(self.ofb)
        self.ofb = struct.pack("<Q", self.sip.digest64())  # Go's Sum: little-endian
        return self.ofb

    def int63(self):
        return struct.unpack(">Q", self.next_block())[0] & ((1 << 63) - 1)


class GoRand:
    """The parts of Go 1.19 math/rand.Rand (over a Source with Int63 only)
    the close delay needs."""

    def __init__(self, src):
        self.src = src

    def int31(self):
        return self.src.int63() >> 32

    def int31n(self, n):
        if n <= 0:
            raise ValueError("invalid argument to Int31n")
        if n & (n - 1) == 0:
            return self.int31() & (n - 1)
        maxv = (1 << 31) - 1 - (1 << 31) % n
        v = self.int31()
        while v > maxv:
            v = self.int31()
        return v % n

    def intn(self, n):
        if n <= 0 or n > (1 << 31) - 1:
            raise ValueError("intn: only 0 < n < 2^31 is written out here")
        return self.int31n(n)

    def float64(self):
        while True:
            # float() rounds to nearest as Go's conversion does; dividing
            # by 2^63 is then exact.
            f = float(self.src.int63()) / 9223372036854775808.0
            if f != 1.0:
                return f

    def perm(self, n):
        # Go's loop, including the draw for i = 0 that swaps nothing.
        m = [0] * n
        for i in range(n):
            j = self.intn(i + 1)
            m[i] = m[j]
            m[j] = i
        return m


def close_delay(drbg_seed):
    """Seconds a server with this drbg-seed (24 bytes) waits, after its
    handshake timeout, before closing a connection that failed the
    handshake."""
    return GoRand(HashDrbg(drbg_seed)).intn(MAX_CLOSE_DELAY)


def weighted_dist(seed, lo, hi):
    """The values and weights obfs4proxy's probdist.New(seed, lo, hi,
    false) draws (its default, unbiased tables): [(value, weight)], the
    probability of a value being its weight over the sum (its alias
    tables give exactly that, up to rounding)."""
    rng = GoRand(HashDrbg(seed))
    span = hi - lo + 1
    values = rng.perm(span)
    n = rng.intn(min(span, 100)) + 1
    return [(lo + v, rng.float64()) for v in values[:n]]


def iat_seed(drbg_seed):
    """The inter-arrival distribution's seed, from the length seed."""
    return hashlib.sha256(drbg_seed).digest()[:24]


def len_dist(drbg_seed):
    """A bridge's packet length distribution (both ends use the bridge's
    seed once the client has it)."""
    return weighted_dist(drbg_seed, 0, MAX_SEGMENT_LEN)


def iat_dist(drbg_seed):
    """A bridge's inter-arrival distribution with iat-mode 1 or 2, in
    units of 100 microseconds."""
    return weighted_dist(iat_seed(drbg_seed), 0, MAX_IAT_SAMPLE)


def dist_mean(dist):
    return sum(v * w for v, w in dist) / sum(w for _, w in dist)


def seed_with_delay(delay, label=b"ptd-obfs4-probe"):
    """A deterministic drbg-seed (24 bytes) whose close delay is delay."""
    for i in range(100000):
        seed = hashlib.sha256(label + b"-%d" % i).digest()[:24]
        if close_delay(seed) == delay:
            return seed
    raise AssertionError("no seed with close delay %d found" % delay)


# A bridge drbg-seed for moving bulk data at iat-mode 1 and 2. Both ends
# draw the gap after each write from the bridge's inter-arrival
# distribution, and with a typical seed the gaps (up to 10 ms, after each
# segment or drawn length) hold a transfer to about 0.2 MiB/s. This seed's
# distribution is the single value 0: the pacing is all there (chunks of a
# segment, or of a drawn length padded in mode 2; a timer or a sleep after
# each) but the gaps are empty.
# Its properties (fast_iat_seed_check below asserts them): iat
# distribution [0]; length distribution 61 values, 68 to 1338 bytes, mean
# 690.9 (iat-mode 2 makes one write, and waits once, per drawn length; a
# 0 would crash obfs4proxy 0.0.14, which panics on a 0-byte iat write).
# Found offline by a search over SHA-256(b"ptd-obfs4-iat-%d" % i)[:24]
# (ptdispatch's own probdist code, linked into a throwaway C program; the
# Python below agrees, and with obfs4proxy's probdist): the first i,
# 13448, whose iat distribution is [0] and whose length distribution has
# no 0 and a mean of at least 512. About 1 seed in 10^4 has an iat
# distribution of [0] (Intn(100) == 0 and Perm(101)[0] == 0).
FAST_IAT_SEED = bytes.fromhex("7a39a256c0bfa4a1c7b43bad9fa8e6687fc527517ee6f8c4")
FAST_IAT_SEED_SOURCE = b"ptd-obfs4-iat-13448"


# Also with waits of 0, a seed whose length distribution holds 0 (2.7% of
# the weight; 49 values, mean 669): an iat-mode 2 sender draws a 0-byte
# chunk now and then. obfs4proxy 0.0.14 panics there ("BUG: Write(), iat
# length was 0"; the process dies); ptdispatch draws again. Found like
# FAST_IAT_SEED: the first i, 1589039, for SHA-256(b"ptd-obfs4-iat-zero-%d"
# % i)[:24] with an iat distribution of [0] and a 0 length carrying at
# least 2% of the weight.
ZERO_LEN_SEED = bytes.fromhex("8462847a2749b89a4df6174fa0fd3f7d74da37949488e4cc")
ZERO_LEN_SEED_SOURCE = b"ptd-obfs4-iat-zero-1589039"


def _check_source(seed, source):
    if hashlib.sha256(source).digest()[:24] != seed:
        raise AssertionError("seed %s does not come from %r" % (seed.hex(), source))


def _check_no_waits(seed):
    iat = iat_dist(seed)
    if [v for v, _ in iat] != [0]:
        raise AssertionError("inter-arrival values %r, not [0]" % sorted(v for v, _ in iat))
    return iat


def fast_iat_seed_check():
    """Raises AssertionError unless FAST_IAT_SEED has the properties
    claimed for it. Returns (iat distribution, length distribution)."""
    _check_source(FAST_IAT_SEED, FAST_IAT_SEED_SOURCE)
    iat = _check_no_waits(FAST_IAT_SEED)
    lens = len_dist(FAST_IAT_SEED)
    if min(v for v, _ in lens) == 0 or dist_mean(lens) < 512:
        raise AssertionError("length distribution with a 0 or a mean under 512: %r" % lens)
    return iat, lens


def zero_len_seed_check():
    """Likewise for ZERO_LEN_SEED; returns the share of 0-byte draws."""
    _check_source(ZERO_LEN_SEED, ZERO_LEN_SEED_SOURCE)
    _check_no_waits(ZERO_LEN_SEED)
    lens = len_dist(ZERO_LEN_SEED)
    share = sum(w for v, w in lens if v == 0) / sum(w for _, w in lens)
    if share < 0.02:
        raise AssertionError("0-byte lengths drawn %.4f of the time, not 2%% or more" % share)
    return share


# --------------------------------------------------------------------------
# Bridge identities and server options
# --------------------------------------------------------------------------

def cert_decode(cert):
    """cert= text -> (node_id 20 bytes, public key 32 bytes)."""
    raw = base64.b64decode(cert + "=" * (-len(cert) % 4), validate=True)
    if len(raw) != 52:
        raise AssertionError("cert is %d bytes, not 52: %r" % (len(raw), cert))
    return raw[:20], raw[20:]


def cert_encode(node_id, pk):
    return base64.b64encode(node_id + pk).decode().rstrip("=")


def server_options(drbg_seed, iat_mode=0, label=b"ptd-obfs4-identity"):
    """Server options giving a fixed identity and drbg-seed: {key: value}.
    obfs4proxy needs node-id, private-key and drbg-seed together."""
    node_id = hashlib.sha256(label + b"-node").digest()[:20]
    priv = hashlib.sha256(label + b"-key").digest()
    return {"node-id": node_id.hex(), "private-key": priv.hex(),
            "drbg-seed": drbg_seed.hex(), "iat-mode": str(iat_mode)}


def options_env(opts, transport="obfs4"):
    """{k: v} -> TOR_PT_SERVER_TRANSPORT_OPTIONS text."""
    return ";".join("%s:%s=%s" % (transport, k, v) for k, v in opts.items())


# --------------------------------------------------------------------------
# Handshake messages (probes)
# --------------------------------------------------------------------------

def epoch_hour(now=None):
    return int(time.time() if now is None else now) // 3600


def away_from_hour_boundary(margin=30.0):
    """Sleeps until at least margin seconds separate now from an hour
    boundary, so an epoch hour computed here is the server's too for the
    next margin seconds. Returns the epoch hour."""
    for _ in range(3):
        into = time.time() % 3600
        if margin <= into <= 3600 - margin:
            return epoch_hour()
        wait = (margin - into) if into < margin else (3600 - into + margin)
        time.sleep(wait + 0.01)
    return epoch_hour()


def _hmac16(key, *parts):
    m = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        m.update(p)
    return m.digest()[:16]


def client_request(cert, hour, padlen=CLIENT_MIN_PAD, rnd=None):
    """A client handshake for the bridge with this cert at epoch hour
    `hour`: X' (random) | P_C | M_C | MAC_C. rnd: a random.Random for
    reproducible bytes, else os.urandom."""
    node_id, pk = cert_decode(cert)
    key = pk + node_id
    rb = (lambda n: rnd.randbytes(n)) if rnd is not None else os.urandom
    x = rb(REPR_LEN)
    pad = rb(padlen)
    mark = _hmac16(key, x)
    body = x + pad + mark
    return body + _hmac16(key, body, str(hour).encode())


def server_reply_len(cert, data, hour):
    """If data starts with a server handshake reply for this bridge whose
    MAC_S covers epoch hour `hour`, the reply's length; else None. As the
    client does: M_S = HMAC(B|NODEID, Y') searched from byte 64 on."""
    node_id, pk = cert_decode(cert)
    key = pk + node_id
    if len(data) < SERVER_MIN_HS_LEN:
        return None
    mark = _hmac16(key, data[:REPR_LEN])
    end = min(len(data), MAX_HANDSHAKE_LEN)
    pos = data.find(mark, 64, end)
    if pos < 0 or pos + MARK_LEN + MAC_LEN > end:
        return None
    mac = _hmac16(key, data[:pos + MARK_LEN], str(hour).encode())
    if not hmac.compare_digest(mac, data[pos + MARK_LEN:pos + MARK_LEN + MAC_LEN]):
        return None
    return pos + MARK_LEN + MAC_LEN


def extract_client_request(cert, stream):
    """The client handshake at the start of a recorded client->server
    stream (found by its mark, as the server finds it), or None."""
    node_id, pk = cert_decode(cert)
    key = pk + node_id
    if len(stream) < REPR_LEN + CLIENT_MIN_PAD + MARK_LEN + MAC_LEN:
        return None
    mark = _hmac16(key, stream[:REPR_LEN])
    pos = stream.find(mark, REPR_LEN + CLIENT_MIN_PAD, MAX_HANDSHAKE_LEN)
    if pos < 0:
        return None
    return stream[:pos + MARK_LEN + MAC_LEN]


def read_reply(sock, cert, hour, timeout, extra=45):
    """Reads until a server reply for this bridge and epoch hour plus
    `extra` bytes (the PRNG seed frame that follows it) are in, or until
    EOF or timeout. Returns (bytes, reply length or None)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and len(buf) < MAX_HANDSHAKE_LEN + 4096:
        n = server_reply_len(cert, buf, hour)
        if n is not None and len(buf) >= n + extra:
            return buf, n
        chunk, closed = read_for(sock, min(0.5, max(0.01, deadline - time.monotonic())))
        buf += chunk
        if closed:
            break
    return buf, server_reply_len(cert, buf, hour)


def read_for(sock, seconds, limit=1 << 16):
    """Reads whatever arrives for up to `seconds` (or until EOF/limit);
    returns (bytes, closed)."""
    deadline = time.monotonic() + seconds
    buf = bytearray()
    closed = False
    old = sock.gettimeout()
    try:
        while len(buf) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(min(left, 0.5))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    finally:
        sock.settimeout(old)
    return bytes(buf), closed


# --------------------------------------------------------------------------
# Probes: when does the server close, and does it ever answer?
# --------------------------------------------------------------------------

class ProbeResult:
    def __init__(self, name):
        self.name = name
        self.connected = None  # monotonic, just before connect()
        self.closed_at = None  # monotonic, EOF or reset seen
        self.received = b""
        self.how = None        # "eof", "reset" or an error text
        self.error = None

    @property
    def elapsed(self):
        if self.connected is None or self.closed_at is None:
            return None
        return self.closed_at - self.connected

    def __repr__(self):
        return ("<probe %s: elapsed=%r how=%r received=%d error=%r>"
                % (self.name, self.elapsed, self.how, len(self.received), self.error))


def run_probe(addr, payload, limit_s, name="probe", trickle=None):
    """Connects, sends payload (a list of byte strings is sent with
    `trickle` seconds between them), then reads until the server closes or
    limit_s passes. Never sends after the payload."""
    r = ProbeResult(name)
    # Taken before the SYN goes out, so it is earlier than the server's
    # accept whatever the scheduling: elapsed never understates the
    # server's accept-to-close time.
    t0 = time.monotonic()
    try:
        s = tcp_connect(addr, timeout=tmo(10))
    except OSError as e:
        r.error = "connect: %r" % e
        return r
    r.connected = t0
    try:
        parts = payload if isinstance(payload, list) else [payload]
        for i, part in enumerate(parts):
            if i and trickle:
                time.sleep(trickle)
            s.sendall(part)
        deadline = r.connected + limit_s
        buf = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                r.how = "still open at the limit"
                break
            s.settimeout(min(left, 0.25))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                r.closed_at = time.monotonic()
                r.how = "reset"
                break
            if not chunk:
                r.closed_at = time.monotonic()
                r.how = "eof"
                break
            buf += chunk
        r.received = bytes(buf)
    except OSError as e:
        r.error = repr(e)
    finally:
        s.close()
    return r


class RecordingProxy:
    """A loopback TCP forwarder to target that records, per connection,
    the bytes the client sent (for later replay) and those it got."""

    def __init__(self, target, io_timeout=None):
        self.target = target
        self.io_timeout = tmo(60) if io_timeout is None else io_timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.streams = []  # per connection: (client->server, server->client)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._socks = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            rec = (bytearray(), bytearray())
            with self._lock:
                self.streams.append(rec)
            t = threading.Thread(target=self._serve, args=(conn, rec), daemon=True)
            self._threads.append(t)
            t.start()

    def _pump(self, src, dst, rec):
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                with self._lock:
                    rec += data
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self, conn, rec):
        try:
            up = tcp_connect(self.target, timeout=self.io_timeout)
        except OSError:
            conn.close()
            return
        conn.settimeout(self.io_timeout)
        with self._lock:
            self._socks += [conn, up]
        t = threading.Thread(target=self._pump, args=(up, conn, rec[1]), daemon=True)
        t.start()
        self._pump(conn, up, rec[0])
        t.join(timeout=self.io_timeout)
        conn.close()
        up.close()

    def recorded(self, i=0):
        """What the client of connection i sent."""
        with self._lock:
            return bytes(self.streams[i][0])

    def received(self, i=0):
        """What the server sent on connection i."""
        with self._lock:
            return bytes(self.streams[i][1])

    def close(self):
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)


# --------------------------------------------------------------------------
# SOCKS5 with per-connection arguments
# --------------------------------------------------------------------------

def tor_args_text(args):
    """[(k, v)] or {k: v} -> 'k=v;k=v' with pt-spec 3.5's escapes."""
    items = args.items() if isinstance(args, dict) else args

    def esc(t):
        return re.sub(r"([\\;=])", r"\\\1", t)

    return ";".join("%s=%s" % (esc(k), esc(v)) for k, v in items).encode()


def tor_userpass(args):
    """(UNAME, PASSWD) as Tor splits the argument text: up to 255 bytes in
    UNAME, the rest in PASSWD, a lone NUL when the rest is empty."""
    text = tor_args_text(args)
    if len(text) > 510:
        raise ValueError("arguments too long for RFC 1929")
    uname, passwd = text[:255], text[255:]
    return uname, passwd or b"\x00"


def socks5_request(host, port):
    return b"\x05\x01\x00" + socks5_address(host) + struct.pack("!H", port)


def _finish_connect(s, host, port):
    s.sendall(socks5_request(host, port))
    rep, _, _ = socks5_read_reply(s)
    if rep != 0:
        raise SocksError(rep)


class SocksAuthError(Exception):
    def __init__(self, status):
        super().__init__("SOCKS5 user/password status 0x%02x" % status)
        self.status = status


def socks5_connect_userpass(proxy, host, port, args, timeout=None):
    """CONNECT with the arguments in RFC 1929 user/password, as Tor sends
    them. Returns the socket; raises SocksAuthError or SocksError."""
    s = tcp_connect(proxy, timeout=tmo(30) if timeout is None else timeout)
    try:
        m = socks5_greet(s, (2,))
        if m != 2:
            raise SocksError(0xFF, "method 0x%02x" % m)
        uname, passwd = tor_userpass(args)
        s.sendall(bytes([1, len(uname)]) + uname + bytes([len(passwd)]) + passwd)
        st = recv_exact(s, 2)
        if st != b"\x01\x00":
            raise SocksAuthError(st[1])
        _finish_connect(s, host, port)
    except BaseException:
        s.close()
        raise
    return s


def socks5_connect_json(proxy, host, port, args, timeout=None):
    """CONNECT with the arguments as PT 2.1's method 0x09 JSON block."""
    s = tcp_connect(proxy, timeout=tmo(30) if timeout is None else timeout)
    try:
        m = socks5_greet(s, (9,))
        if m != 9:
            raise SocksError(0xFF, "method 0x%02x" % m)
        body = json.dumps(dict(args)).encode()
        s.sendall(struct.pack("!I", len(body)) + body)
        _finish_connect(s, host, port)
    except BaseException:
        s.close()
        raise
    return s


def socks5_connect_noauth(proxy, host, port, timeout=None):
    s = tcp_connect(proxy, timeout=tmo(30) if timeout is None else timeout)
    try:
        m = socks5_greet(s, (0,))
        if m != 0:
            raise SocksError(0xFF, "method 0x%02x" % m)
        _finish_connect(s, host, port)
    except BaseException:
        s.close()
        raise
    return s


# --------------------------------------------------------------------------
# Bulk streams without a half-close
# --------------------------------------------------------------------------

def duplex_stream_exact(sock, seed, total, deadline):
    """Sends stream_chunks(seed, total) from a thread (no SHUT_WR) while
    reading exactly total bytes here. Returns (sent, received), each
    (sha256 hex, byte count); received is short if EOF came early."""
    sent = []

    def sender():
        try:
            h = hashlib.sha256()
            n = 0
            for data in stream_chunks(seed, total):
                if time.monotonic() > deadline:
                    raise TimeoutError("send deadline passed after %d bytes" % n)
                sock.sendall(data)
                h.update(data)
                n += len(data)
            sent.append((h.hexdigest(), n))
        except Exception as e:
            sent.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = hash_until_eof(sock, deadline, limit=total)
    finally:
        t.join(timeout=max(1.0, deadline - time.monotonic()))
    if t.is_alive() or not sent:
        raise TimeoutError("sender still running at the deadline")
    if isinstance(sent[0], Exception):
        raise sent[0]
    return sent[0], got


class ExactStreamPeer(StreamPeer):
    """StreamPeer without the half-close: sends its stream, reads exactly
    as many bytes, then the connection is closed."""

    def __call__(self, conn):
        set_big_buffers(conn)
        try:
            self.results.append(duplex_stream_exact(conn, self.seed, self.total,
                                                    self.deadline))
        except Exception as e:
            self.results.append(e)
        finally:
            self.done.set()


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def method_lines(lines, kind):
    """{transport: (host, port, {arg: value})} from SMETHOD/CMETHOD lines."""
    res = {}
    for line in lines:
        parts = line.split(" ")
        if kind == "SMETHOD" and parts[0] == "SMETHOD" and len(parts) >= 3:
            host, port = parse_hostport(parts[2])
            args = {}
            for p in parts[3:]:
                if p.startswith("ARGS:"):
                    for kv in p[5:].split(","):
                        k, _, v = kv.partition("=")
                        args[k] = v
            res[parts[1]] = (host, port, args)
        elif kind == "CMETHOD" and parts[0] == "CMETHOD" and len(parts) >= 4:
            host, port = parse_hostport(parts[3])
            res[parts[1]] = (host, port, parts[2])
    return res


class Bridge:
    """A running obfs4 server (either implementation)."""

    def __init__(self, proc, kind, state):
        self.proc = proc
        self.kind = kind  # "ptdispatch" or "obfs4proxy"
        self.state = state
        m = method_lines(proc.out, "SMETHOD")
        if "obfs4" not in m:
            raise AssertionError("no SMETHOD obfs4 line\n%s" % proc.describe())
        host, port, args = m["obfs4"]
        self.addr = ("127.0.0.1" if host == "0.0.0.0" else host, port)
        self.args = args
        self.cert = args.get("cert")
        self.iat_mode = args.get("iat-mode")
        if self.cert is None or len(self.cert) != CERT_LEN or self.iat_mode is None:
            raise AssertionError("SMETHOD without a 70-char cert and an iat-mode\n%s"
                                 % proc.describe())

    def client_args(self):
        return {"cert": self.cert, "iat-mode": self.iat_mode}


class FarEnd:
    def __init__(self, server, peer, size, seed, half_close):
        self.server = server
        self.hostport = server.hostport
        self.peer = peer
        self.size = size
        self.seed = seed
        self.half_close = half_close


class Obfs4TestCase(PtdTestCase):
    """Starts obfs4 servers and clients of both implementations."""

    def setUp(self):
        super().setUp()
        require_obfs4proxy()

    def _env(self, role, state, extra):
        env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1",
               "TOR_PT_STATE_LOCATION": state,
               "TOR_PT_EXIT_ON_STDIN_CLOSE": "1"}
        if role == "server":
            env["TOR_PT_SERVER_TRANSPORTS"] = "obfs4"
            env["TOR_PT_SERVER_BINDADDR"] = "obfs4-127.0.0.1:0"
        else:
            env["TOR_PT_CLIENT_TRANSPORTS"] = "obfs4"
        env.update(extra or {})
        return env

    def ptd_server(self, orport, state=None, options=None, args=(), env=None):
        """A ptdispatch obfs4 server relaying to orport ('host:port');
        options: {k: v} for TOR_PT_SERVER_TRANSPORT_OPTIONS."""
        state = state or self.tempdir("ptd-o4s-")
        extra = {"TOR_PT_ORPORT": orport}
        if options:
            extra["TOR_PT_SERVER_TRANSPORT_OPTIONS"] = options_env(options)
        extra.update(env or {})
        p = self.launch(args, env=self._env("server", state, extra))
        p.wait_done(tmo(30))
        return Bridge(p, "ptdispatch", state)

    def o4p_server(self, orport, state=None, options=None):
        state = state or self.tempdir("o4p-s-")
        extra = {"TOR_PT_ORPORT": orport}
        if options:
            extra["TOR_PT_SERVER_TRANSPORT_OPTIONS"] = options_env(options)
        p = self.launch_argv([OBFS4PROXY], env=self._env("server", state, extra))
        p.wait_done(tmo(30))
        return Bridge(p, "obfs4proxy", state)

    def ptd_client(self, args=(), env=None):
        """A ptdispatch obfs4 client; returns (proc, socks address)."""
        state = self.tempdir("ptd-o4c-")
        p = self.launch(args, env=self._env("client", state, env))
        p.wait_done(tmo(30))
        return p, self._cmethod(p)

    def o4p_client(self):
        state = self.tempdir("o4p-c-")
        p = self.launch_argv([OBFS4PROXY], env=self._env("client", state, None))
        p.wait_done(tmo(30))
        return p, self._cmethod(p)

    def _cmethod(self, p):
        m = method_lines(p.out, "CMETHOD")
        if "obfs4" not in m or m["obfs4"][2] != "socks5":
            raise AssertionError("no CMETHOD obfs4 socks5 line\n%s" % p.describe())
        return m["obfs4"][0], m["obfs4"][1]

    def far_end(self, size, seed, limit=None, half_close=False):
        """A far end (the bridge's ORPort) that, on each connection, sends
        stream (seed, size) and hashes what comes. Returns a FarEnd."""
        deadline = time.monotonic() + (limit if limit is not None else tmo(150))
        peer = (StreamPeer if half_close else ExactStreamPeer)(seed, size, deadline)
        srv = self.server_socket(peer)
        return FarEnd(srv, peer, size, seed, half_close)

    def stream_through(self, socks, bridge, far, seed, connect=None, limit=None):
        """far.size bytes each way between a SOCKS client (the obfs4 client
        at socks) and far, behind the bridge; both streams generated from
        seeds and hashed on the fly. connect(socks, host, port) opens the
        tunnel; the default passes the bridge's arguments in RFC 1929.
        Without far.half_close each side reads exactly size bytes and then
        closes (obfs4proxy closes both ways as soon as one side ends, so a
        half-close through it loses data). Raises AssertionError on a
        mismatch; safe to call from a thread. Returns the seconds taken."""
        size = far.size
        t0 = time.monotonic()
        deadline = t0 + (limit if limit is not None else tmo(150))
        if connect is None:
            def connect(proxy, host, port):
                return socks5_connect_userpass(proxy, host, port, bridge.client_args())
        s = connect(socks, bridge.addr[0], bridge.addr[1])
        try:
            set_big_buffers(s)
            if far.half_close:
                sent, got = duplex_stream(s, seed, size, deadline)
            else:
                sent, got = duplex_stream_exact(s, seed, size, deadline)
        finally:
            s.close()
        peer = far.peer
        if not peer.done.wait(timeout=max(1.0, deadline - time.monotonic())):
            raise AssertionError("far end did not finish")
        res = peer.results[-1]
        if isinstance(res, Exception):
            raise res
        far_sent, far_got = res
        if sent[1] != size:
            raise AssertionError("sent %d bytes, not %d" % (sent[1], size))
        if got != far_sent:
            raise AssertionError("the SOCKS client received %r, the far end sent %r"
                                 % (got, far_sent))
        if far_got != sent:
            raise AssertionError("the far end received %r, the SOCKS client sent %r"
                                 % (far_got, sent))
        return time.monotonic() - t0

    def proc_log_lines(self, p):
        """Lines a process has written to stderr, plus its stdout LOG lines."""
        return list(p.err) + [l for l in p.out if l.startswith("LOG ")]


def read_file(path):
    with open(path, "rb") as f:
        return f.read()
