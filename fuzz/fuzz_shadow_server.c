/* fuzz_shadow_server: a Shadowsocks server codec (shadow_codec.c, built
 * through the transport table with a fixed password) fed what a client or
 * a prober might send.
 *
 * Byte 0 picks the cipher (byte0 % 3), the mode ((byte0 / 3) % 2) and how
 * the wire is cut into arrivals: pieces of 1 + (byte0 / 6) * 13 bytes.
 *
 * Mode 0: the rest is the wire, as it comes (a prober's bytes).
 *
 * Mode 1: the rest describes a client stream sealed under the server's
 * password, so the fuzzer reaches the address header and beyond: a salt
 * seed (1 byte), then pieces until the input ends, each a kind (1 byte,
 * % 6) and its data:
 *   0  a chunk of len (1 byte) bytes taken from the input (fewer if it
 *      ends; 0 makes a zero-length chunk);
 *   1  a zero-length chunk;
 *   2  a chunk of 1 + len (2 bytes BE) % 0x3FFF pattern bytes;
 *   3  a length part with a reserved bit set (2 bytes, | 0x4000), alone;
 *   4  damage: the wire so far (if any) gets byte pos (2 bytes BE,
 *      % length) xored with x (1 byte);
 *   5  a cut: the wire so far loses its last n (1 byte) bytes.
 *
 * The judge, for both modes, is our own decoder run over the whole wire
 * with the server's key: the plaintext P of its whole chunks, whether it
 * failed, and h = ss_addr_parse(P). Properties:
 *   - every call returns OK, NEED_MORE or DISCARD before ready(), and OK
 *     or ERROR after it; nothing is fed after DISCARD or ERROR;
 *   - ready() comes at most once, and only if h > 0, and then
 *     destination() is P's address; the plaintext out is a prefix of P
 *     after the header;
 *   - h < 0: DISCARD, no ready(); h == 0: DISCARD if the judge failed,
 *     else NEED_MORE (still waiting), no ready() either way;
 *   - h > 0 and the judge did not fail: ready(), OK, and all of P after
 *     the header came out; h > 0 and it failed: ready() then ERROR, or
 *     DISCARD without ready() (the bad chunk came with the header);
 *   - the server never writes to the wire (it has nothing to say).
 * Each input gets a fresh server instance, so no input's salts make
 * another's a replay. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "fuzz_util.h"
#include "lib/kvlist.h"
#include "transports/shadow/ss_addr.h"
#include "transports/shadow/ss_aead.h"
#include "transports/shadow/ss_chunk.h"
#include "transports/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SERVER_PASSWORD "fuzz-shadow-server"
#define FUZZ_SERVER_MAX_WIRE (1 << 20)

static const char *const fuzz_server_ciphers[] = {"chacha20-ietf-poly1305", "aes-256-gcm",
                                                  "aes-128-gcm"};

typedef struct {
  codec_io_t io; /* first: the codec's io points here */
  int ready, errors;
} fuzz_server_io_t;

static void fuzz_server_kick(codec_io_t *io) { (void)io; }
static void fuzz_server_ready(codec_io_t *io) { ((fuzz_server_io_t *)io)->ready++; }
static void fuzz_server_error(codec_io_t *io) { ((fuzz_server_io_t *)io)->errors++; }

/* Reads n big-endian bytes (fewer if the input ends), advancing. */
static unsigned fuzz_server_take(const uint8_t **p, const uint8_t *end, int n) {
  unsigned v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | (*p < end ? *(*p)++ : 0);
  return v;
}

static void fuzz_server_add(struct evbuffer *b, const void *p, size_t n) {
  if (n > 0 && evbuffer_add(b, p, n) != 0)
    abort();
}

/* Mode 1's client stream, into wire. */
static void fuzz_server_craft(const ss_cipher_t *c, const uint8_t *master, const uint8_t *data,
                              size_t size, struct evbuffer *wire) {
  static uint8_t buf[SS_MAX_PAYLOAD + SS_TAG_LEN];
  const uint8_t *p = data, *end = data + size;
  uint8_t salt[SS_SALT_MAX];
  unsigned seed = fuzz_server_take(&p, end, 1);
  for (size_t i = 0; i < sizeof salt; i++)
    salt[i] = (uint8_t)(seed * 31 + i * 7 + 1);
  ss_session_t s;
  if (ss_session_init(&s, c, master, salt, true) != 0)
    abort();
  fuzz_server_add(wire, salt, c->key_len);
  while (p < end && evbuffer_get_length(wire) < FUZZ_SERVER_MAX_WIRE) {
    unsigned kind = fuzz_server_take(&p, end, 1) % 6;
    size_t n = 0;
    uint8_t len[SS_LEN_CHUNK];
    switch (kind) {
    case 0:
      n = fuzz_server_take(&p, end, 1);
      if (n > (size_t)(end - p))
        n = (size_t)(end - p);
      memcpy(buf, p, n);
      p += n;
      break;
    case 1:
      break;
    case 2:
      n = 1 + fuzz_server_take(&p, end, 2) % SS_MAX_PAYLOAD;
      for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 13 + seed);
      break;
    case 3: {
      unsigned v = fuzz_server_take(&p, end, 2) | 0x4000;
      len[0] = (uint8_t)(v >> 8);
      len[1] = (uint8_t)v;
      if (ss_seal(&s, len, len, 2) != 0)
        __builtin_trap();
      fuzz_server_add(wire, len, sizeof len);
      continue;
    }
    case 4: {
      unsigned pos = fuzz_server_take(&p, end, 2);
      uint8_t x = (uint8_t)fuzz_server_take(&p, end, 1);
      size_t have = evbuffer_get_length(wire);
      if (have > 0) /* a cut may have taken everything */
        evbuffer_pullup(wire, -1)[pos % have] ^= x;
      continue;
    }
    case 5: {
      size_t cut = fuzz_server_take(&p, end, 1), have = evbuffer_get_length(wire);
      struct evbuffer *kept = evbuffer_new();
      if (!kept)
        abort();
      evbuffer_remove_buffer(wire, kept, have - (cut < have ? cut : have));
      evbuffer_drain(wire, evbuffer_get_length(wire));
      evbuffer_add_buffer(wire, kept);
      evbuffer_free(kept);
      continue;
    }
    }
    /* Kinds 0 to 2: a length part, then the payload (n may be 0). */
    len[0] = (uint8_t)(n >> 8);
    len[1] = (uint8_t)n;
    if (ss_seal(&s, len, len, 2) != 0 || ss_seal(&s, buf, buf, n) != 0)
      __builtin_trap();
    fuzz_server_add(wire, len, sizeof len);
    fuzz_server_add(wire, buf, n + SS_TAG_LEN);
  }
  ss_session_clear(&s);
}

/* The judge: our own decoder over all of wire. */
static bool fuzz_server_judge(const ss_cipher_t *c, const uint8_t *master, const uint8_t *w,
                              size_t n, struct evbuffer *plain) {
  if (n < c->key_len)
    return false;
  ss_session_t s;
  ss_decoder_t d;
  if (ss_session_init(&s, c, master, w, false) != 0)
    abort();
  ss_decoder_init(&d, &s);
  struct evbuffer *in = evbuffer_new();
  if (!in)
    abort();
  fuzz_server_add(in, w + c->key_len, n - c->key_len);
  bool failed = ss_chunks_open(&d, in, plain, 0, NULL, NULL) != SS_DECODE_OK;
  evbuffer_free(in);
  ss_decoder_clear(&d);
  return failed;
}

static void fuzz_server_run(unsigned cipher, bool crafted, const uint8_t *data, size_t size,
                            size_t piece) {
  const transport_ops_t *t = transport_find("shadow");
  kvlist_t *opts = kvlist_new();
  if (!t || !opts || kvlist_add(opts, "password", FUZZ_SERVER_PASSWORD) != 0 ||
      kvlist_add(opts, "cipherName", fuzz_server_ciphers[cipher]) != 0)
    abort();
  const kvlist_t *args = NULL;
  char err[256];
  transport_server_t *srv = t->server_new(opts, NULL, &args, err, sizeof err);
  if (!srv)
    abort();
  const ss_cipher_t *c = ss_cipher_find(fuzz_server_ciphers[cipher]);
  uint8_t master[SS_KEY_MAX];
  if (!c || ss_master_key(c, FUZZ_SERVER_PASSWORD, master) != 0)
    abort();

  struct evbuffer *wire = evbuffer_new(), *judged = evbuffer_new();
  if (!wire || !judged)
    abort();
  if (crafted)
    fuzz_server_craft(c, master, data, size, wire);
  else
    fuzz_server_add(wire, data, size);
  size_t n = evbuffer_get_length(wire);
  const uint8_t *w = n ? evbuffer_pullup(wire, -1) : (const uint8_t *)"";
  bool failed = fuzz_server_judge(c, master, w, n, judged);
  size_t plen = evbuffer_get_length(judged);
  const uint8_t *P = plen ? evbuffer_pullup(judged, -1) : (const uint8_t *)"";
  addr_endpoint_t want_dest;
  int h = ss_addr_parse(P, plen, &want_dest);

  codec_t *codec = t->server_codec_new(srv);
  fuzz_server_io_t io = {.io = {.base = NULL,
                                .wire_out = evbuffer_new(),
                                .kick = fuzz_server_kick,
                                .ready = fuzz_server_ready,
                                .error = fuzz_server_error}};
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  if (!codec || !io.io.wire_out || !in || !plain)
    abort();
  codec->io = &io.io;
  codec_result_t r = CODEC_NEED_MORE;
  for (size_t off = 0; off < n; off += piece) {
    fuzz_server_add(in, w + off, n - off < piece ? n - off : piece);
    int ready_before = io.ready;
    r = codec->ops->on_wire(codec, in, plain);
    if (ready_before == 0 && r != CODEC_OK && r != CODEC_NEED_MORE && r != CODEC_DISCARD)
      __builtin_trap();
    if (ready_before == 1 && r != CODEC_OK && r != CODEC_ERROR)
      __builtin_trap();
    if (io.ready > 1 || io.errors != 0 || (r == CODEC_DISCARD && io.ready != 0))
      __builtin_trap();
    if (io.ready == 0 && evbuffer_get_length(plain) != 0)
      __builtin_trap();
    if (r == CODEC_DISCARD || r == CODEC_ERROR)
      break;
  }
  if (evbuffer_get_length(io.io.wire_out) != 0)
    __builtin_trap();

  size_t got = evbuffer_get_length(plain);
  if (io.ready) {
    if (h <= 0 || got > plen - (size_t)h ||
        (got > 0 && memcmp(evbuffer_pullup(plain, -1), P + h, got) != 0))
      __builtin_trap();
    const addr_endpoint_t *dest = codec->ops->destination(codec);
    if (!dest || dest->family != want_dest.family || dest->port != want_dest.port ||
        strcmp(dest->host, want_dest.host) != 0)
      __builtin_trap();
  } else if (codec->ops->destination(codec) != NULL) {
    __builtin_trap();
  }
  if (h < 0 && (io.ready || r != CODEC_DISCARD))
    __builtin_trap();
  if (h == 0 && (io.ready || r != (failed ? CODEC_DISCARD : CODEC_NEED_MORE)))
    __builtin_trap();
  if (h > 0 && !failed && (!io.ready || r != CODEC_OK || got != plen - (size_t)h))
    __builtin_trap();
  if (h > 0 && failed && !(io.ready ? r == CODEC_ERROR : r == CODEC_DISCARD))
    __builtin_trap();

  codec->ops->free(codec);
  evbuffer_free(io.io.wire_out);
  evbuffer_free(in);
  evbuffer_free(plain);
  evbuffer_free(wire);
  evbuffer_free(judged);
  t->server_free(srv);
  kvlist_free(opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready;
  if (!ready) {
    if (sodium_init() < 0)
      abort();
    ready = true;
  }
  if (size == 0)
    return 0;
  size_t piece = 1 + (size_t)(data[0] / 6) * 13;
  fuzz_server_run(data[0] % 3, (data[0] / 3) % 2, data + 1, size - 1, piece);
  return 0;
}
