"""Shadowsocks AEAD streams built in Python, for tests that need streams
no real client sends (a length over 0x3FFF, a malformed header, a
chosen salt) and to read what a server sends back.

The AEADs come from the system's libcrypto through ctypes (the standard
library has no AES-GCM or ChaCha20-Poly1305); the key schedule is the
spec's: EVP_BytesToKey with MD5, HKDF-SHA1 with info "ss-subkey", a
12-byte little-endian counting nonce. Everything else is stdlib.
"""

import ctypes
import ctypes.util
import hashlib
import hmac
import os
import socket
import struct

CIPHERS = {
    # name: (key and salt length, EVP getter)
    "chacha20-ietf-poly1305": (32, "EVP_chacha20_poly1305"),
    "aes-256-gcm": (32, "EVP_aes_256_gcm"),
    "aes-128-gcm": (16, "EVP_aes_128_gcm"),
}
TAG = 16
MAX_PAYLOAD = 0x3FFF
_CTRL_AEAD_GET_TAG = 0x10
_CTRL_AEAD_SET_TAG = 0x11

_lib = None


def _crypto():
    global _lib
    if _lib is None:
        path = ctypes.util.find_library("crypto") or "libcrypto.so.3"
        lib = ctypes.CDLL(path)
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        for name in ("EVP_chacha20_poly1305", "EVP_aes_256_gcm", "EVP_aes_128_gcm"):
            getattr(lib, name).restype = ctypes.c_void_p
        lib.EVP_CipherInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        lib.EVP_CipherUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_char_p,
                                         ctypes.c_int]
        lib.EVP_CipherFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.POINTER(ctypes.c_int)]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                            ctypes.c_void_p]
        _lib = lib
    return _lib


def master_key(password, cipher):
    """EVP_BytesToKey(MD5, no salt, 1 round), cut to the key length."""
    n = CIPHERS[cipher][0]
    pw = password.encode() if isinstance(password, str) else password
    out, d = b"", b""
    while len(out) < n:
        d = hashlib.md5(d + pw).digest()
        out += d
    return out[:n]


def hkdf_sha1(key, salt, info, n):
    prk = hmac.new(salt, key, hashlib.sha1).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha1).digest()
        out += t
        i += 1
    return out[:n]


class Session:
    """One direction: seal() or open_() with the counting nonce."""

    def __init__(self, cipher, master, salt, encrypt):
        self.n, getter = CIPHERS[cipher]
        self.evp = getattr(_crypto(), getter)()
        self.key = hkdf_sha1(master, salt, b"ss-subkey", self.n)
        self.encrypt = encrypt
        self.nonce = 0

    def _run(self, data, tag=None):
        lib = _crypto()
        ctx = lib.EVP_CIPHER_CTX_new()
        try:
            iv = self.nonce.to_bytes(12, "little")
            enc = 1 if self.encrypt else 0
            if lib.EVP_CipherInit_ex(ctx, self.evp, None, self.key, iv, enc) != 1:
                raise RuntimeError("EVP_CipherInit_ex failed")
            out = ctypes.create_string_buffer(len(data) + 32)
            outl = ctypes.c_int(0)
            if data and lib.EVP_CipherUpdate(ctx, out, ctypes.byref(outl), data, len(data)) != 1:
                raise RuntimeError("EVP_CipherUpdate failed")
            n = outl.value
            if tag is not None:
                tbuf = ctypes.create_string_buffer(tag, TAG)
                lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_AEAD_SET_TAG, TAG, tbuf)
            fin = ctypes.c_int(0)
            ok = lib.EVP_CipherFinal_ex(ctx, ctypes.byref(out, n), ctypes.byref(fin))
            if ok != 1:
                return None
            result = out.raw[:n + fin.value]
            if tag is None:
                t = ctypes.create_string_buffer(TAG)
                lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_AEAD_GET_TAG, TAG, t)
                result += t.raw
            self.nonce += 1
            return result
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)

    def seal(self, data):
        assert self.encrypt
        return self._run(data)

    def open_(self, data_and_tag):
        assert not self.encrypt
        return self._run(data_and_tag[:-TAG], data_and_tag[-TAG:])


class Encoder:
    """A client's (or server's) sending direction: salt, then chunks.
    length_override puts any 16-bit value in a chunk's length field."""

    def __init__(self, cipher, password, salt=None):
        self.cipher = cipher
        n = CIPHERS[cipher][0]
        self.salt = salt if salt is not None else os.urandom(n)
        self.session = Session(cipher, master_key(password, cipher), self.salt, True)
        self.started = False

    def chunk(self, payload, length_override=None):
        length = len(payload) if length_override is None else length_override
        out = b"" if self.started else self.salt
        self.started = True
        return (out + self.session.seal(struct.pack(">H", length)) +
                self.session.seal(payload))

    def chunks(self, data):
        out = b""
        for i in range(0, len(data), MAX_PAYLOAD):
            out += self.chunk(data[i:i + MAX_PAYLOAD])
        return out


class Decoder:
    """The receiving direction; feed() returns the payload of every whole
    chunk so far, or raises ValueError on a tag mismatch."""

    def __init__(self, cipher, password):
        self.cipher = cipher
        self.master = master_key(password, cipher)
        self.n = CIPHERS[cipher][0]
        self.buf = b""
        self.session = None
        self.need = None

    def feed(self, data):
        self.buf += data
        out = b""
        while True:
            if self.session is None:
                if len(self.buf) < self.n:
                    return out
                self.session = Session(self.cipher, self.master, self.buf[:self.n], False)
                self.buf = self.buf[self.n:]
            if self.need is None:
                if len(self.buf) < 2 + TAG:
                    return out
                length = self.session.open_(self.buf[:2 + TAG])
                if length is None:
                    raise ValueError("length tag mismatch")
                self.buf = self.buf[2 + TAG:]
                self.need = struct.unpack(">H", length)[0]
            if len(self.buf) < self.need + TAG:
                return out
            payload = self.session.open_(self.buf[:self.need + TAG])
            if payload is None:
                raise ValueError("payload tag mismatch")
            self.buf = self.buf[self.need + TAG:]
            self.need = None
            out += payload


def address(host, port):
    """The SOCKS5-style address header for an IP literal or a name."""
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        pass
    name = host.encode()
    return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", port)


def close_delay(password, cipher):
    """The server's probe close delay, as shadow.c derives it."""
    mac = hmac.new(master_key(password, cipher), b"ptdispatch shadow close delay",
                   hashlib.sha256).digest()
    return struct.unpack(">I", mac[:4])[0] % 60


def password_with_delay(delay, cipher, prefix="ptd-probe-"):
    for i in range(100000):
        pw = "%s%d" % (prefix, i)
        if close_delay(pw, cipher) == delay:
            return pw
    raise AssertionError("no password found for delay %d" % delay)
