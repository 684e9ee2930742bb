/* fuzz_shadow_chunks: Shadowsocks' chunk decoder (ss_chunk.c), with a
 * fixed key, two ways.
 *
 * Byte 0 picks the cipher (byte0 % 3), the mode ((byte0 / 3) % 2) and how
 * the wire bytes are cut into arrivals: pieces of 1 + (byte0 / 6) * 397
 * bytes, from one byte at a time to more than a whole chunk.
 *
 * Mode 0: the rest is wire bytes from a peer (after the salt). Properties:
 * the decoder returns OK or ERROR, with a printable reason on ERROR;
 * never more plaintext than wire bytes; after OK what is left is less
 * than the next part it waits for; after ERROR every later call fails.
 *
 * Mode 1: the rest describes a stream that our encoder builds, then
 * damages and cuts:
 *   max (1 byte, % 4: max_chunks per call, 0 for no limit),
 *   nmut (1 byte, % 9), nmut x { pos (3 bytes BE, % stream length),
 *   xor (1 byte) }, then up to 32 writes until the input ends, each:
 *   how (1 byte: even, one ss_chunk_seal() of 1 + len % 0x3FFF bytes;
 *   odd, ss_chunks_seal() of 1 + len % (3 * 0x3FFF) bytes), len (2 bytes
 *   BE), seed (1 byte: the payload is pattern bytes from it, so a few
 *   input bytes make chunks of any size); no write starts once 4 * 0x3FFF
 *   bytes are sent.
 * Properties: the wire is the payload plus 34 bytes a chunk; the
 * plaintext out is exactly that of the chunks before the first damaged
 * one, and the decoder failed there, for the part (length or payload)
 * that holds the damage; undamaged, it is all of it, nothing is left over
 * and nothing failed; no call takes more than max chunks. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "fuzz_util.h"
#include "transports/shadow/ss_aead.h"
#include "transports/shadow/ss_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHUNKS_MAX_WRITES 32
#define FUZZ_CHUNKS_MAX_MUT 8
/* Writes stop once this much plaintext is sent, so that one input,
 * cut into single bytes, stays quick. */
#define FUZZ_CHUNKS_MAX_PLAIN (4 * SS_MAX_PAYLOAD)
/* Chunks a stream can hold: 32 writes of up to 3 chunks. */
#define FUZZ_CHUNKS_MAX_CHUNKS (FUZZ_CHUNKS_MAX_WRITES * 3)

static const char *const fuzz_chunks_ciphers[] = {"chacha20-ietf-poly1305", "aes-256-gcm",
                                                  "aes-128-gcm"};

/* The fixed key: a fixed password's master key and a fixed salt. */
typedef struct {
  const ss_cipher_t *c;
  uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
} fuzz_chunks_key_t;

/* Made once per cipher: OpenSSL's fetches cost more than a short input. */
static const fuzz_chunks_key_t *fuzz_chunks_key(unsigned cipher) {
  static fuzz_chunks_key_t keys[3];
  fuzz_chunks_key_t *k = &keys[cipher];
  if (k->c)
    return k;
  k->c = ss_cipher_find(fuzz_chunks_ciphers[cipher]);
  if (!k->c || ss_master_key(k->c, "fuzz-shadow-chunks", k->master) != 0)
    abort();
  for (size_t i = 0; i < SS_SALT_MAX; i++)
    k->salt[i] = (uint8_t)(0xa0 + i);
  return k;
}

typedef struct {
  ss_decoder_t d;
  struct evbuffer *in, *plain;
  size_t max_chunks;
  size_t chunks; /* whole chunks consumed so far */
  bool failed;
  const char *why;
} fuzz_chunks_rx_t;

static void fuzz_chunks_rx_init(fuzz_chunks_rx_t *rx, const fuzz_chunks_key_t *k,
                                size_t max_chunks) {
  memset(rx, 0, sizeof *rx);
  ss_session_t s;
  if (ss_session_init(&s, k->c, k->master, k->salt, false) != 0)
    abort();
  ss_decoder_init(&rx->d, &s);
  rx->in = evbuffer_new();
  rx->plain = evbuffer_new();
  rx->max_chunks = max_chunks;
  if (rx->in == NULL || rx->plain == NULL)
    abort();
}

static void fuzz_chunks_rx_free(fuzz_chunks_rx_t *rx) {
  ss_decoder_clear(&rx->d);
  evbuffer_free(rx->in);
  evbuffer_free(rx->plain);
}

/* Hands the decoder one more arrival, calling it as a caller with a
 * per-call limit would (until a call takes nothing), and checks each call. */
static void fuzz_chunks_arrive(fuzz_chunks_rx_t *rx, const uint8_t *p, size_t n) {
  if (evbuffer_add(rx->in, p, n) != 0)
    abort();
  for (;;) {
    size_t got = 0;
    const char *why = NULL;
    ss_decode_result_t r = ss_chunks_open(&rx->d, rx->in, rx->plain, rx->max_chunks, &got, &why);
    if (rx->max_chunks && got > rx->max_chunks)
      __builtin_trap();
    rx->chunks += got;
    if (r == SS_DECODE_ERROR) {
      if (why == NULL || !rx->d.failed)
        __builtin_trap();
      fuzz_check_err(why);
      /* Only the first reason says where it went wrong. */
      if (!rx->failed)
        rx->why = why;
      rx->failed = true;
      return;
    }
    if (r != SS_DECODE_OK || rx->failed || rx->d.failed)
      __builtin_trap();
    if (rx->d.next_len > SS_MAX_PAYLOAD)
      __builtin_trap();
    if (got == 0 || (rx->max_chunks && got < rx->max_chunks)) {
      size_t left = evbuffer_get_length(rx->in);
      if (rx->d.next_len < 0 ? left >= SS_LEN_CHUNK : left >= (size_t)rx->d.next_len + SS_TAG_LEN)
        __builtin_trap();
      return;
    }
  }
}

static void fuzz_chunks_feed(fuzz_chunks_rx_t *rx, const uint8_t *wire, size_t n, size_t piece) {
  for (size_t off = 0; off < n && !rx->failed; off += piece)
    fuzz_chunks_arrive(rx, wire + off, n - off < piece ? n - off : piece);
}

/* Failed stays failed, and gives nothing more. */
static void fuzz_chunks_check_latched(fuzz_chunks_rx_t *rx) {
  if (!rx->failed)
    return;
  size_t before = evbuffer_get_length(rx->plain), got = 1;
  if (ss_chunks_open(&rx->d, rx->in, rx->plain, 0, &got, NULL) != SS_DECODE_ERROR || got != 0 ||
      evbuffer_get_length(rx->plain) != before)
    __builtin_trap();
}

static void fuzz_chunks_wire(const fuzz_chunks_key_t *k, const uint8_t *data, size_t size,
                             size_t piece) {
  fuzz_chunks_rx_t rx;
  fuzz_chunks_rx_init(&rx, k, 0);
  fuzz_chunks_feed(&rx, data, size, piece);
  if (evbuffer_get_length(rx.plain) > size)
    __builtin_trap();
  fuzz_chunks_check_latched(&rx);
  fuzz_chunks_rx_free(&rx);
}

/* Reads n big-endian bytes (fewer if the input ends), advancing. */
static unsigned fuzz_chunks_take(const uint8_t **p, const uint8_t *end, int n) {
  unsigned v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | (*p < end ? *(*p)++ : 0);
  return v;
}

static void fuzz_chunks_pattern(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

static void fuzz_chunks_stream(const fuzz_chunks_key_t *k, const uint8_t *data, size_t size,
                               size_t piece) {
  static uint8_t payload[3 * SS_MAX_PAYLOAD];
  const uint8_t *p = data, *end = data + size;
  size_t max_chunks = fuzz_chunks_take(&p, end, 1) % 4;
  unsigned nmut = fuzz_chunks_take(&p, end, 1) % (FUZZ_CHUNKS_MAX_MUT + 1);
  unsigned mut_pos[FUZZ_CHUNKS_MAX_MUT];
  uint8_t mut_xor[FUZZ_CHUNKS_MAX_MUT];
  for (unsigned i = 0; i < nmut; i++) {
    mut_pos[i] = fuzz_chunks_take(&p, end, 3);
    mut_xor[i] = (uint8_t)fuzz_chunks_take(&p, end, 1);
  }

  ss_session_t enc;
  if (ss_session_init(&enc, k->c, k->master, k->salt, true) != 0)
    abort();
  struct evbuffer *wire = evbuffer_new(), *sent = evbuffer_new(), *plain_in = evbuffer_new();
  if (wire == NULL || sent == NULL || plain_in == NULL)
    abort();
  /* Where each chunk starts, on the wire and in the plaintext. */
  size_t wire_at[FUZZ_CHUNKS_MAX_CHUNKS + 1] = {0}, plain_at[FUZZ_CHUNKS_MAX_CHUNKS + 1] = {0};
  size_t nchunks = 0;
  for (int w = 0;
       w < FUZZ_CHUNKS_MAX_WRITES && p < end && evbuffer_get_length(sent) < FUZZ_CHUNKS_MAX_PLAIN;
       w++) {
    unsigned how = fuzz_chunks_take(&p, end, 1);
    unsigned len = fuzz_chunks_take(&p, end, 2);
    unsigned seed = fuzz_chunks_take(&p, end, 1);
    size_t n = (how & 1) ? 1 + len % (3 * SS_MAX_PAYLOAD) : 1 + len % SS_MAX_PAYLOAD;
    fuzz_chunks_pattern(payload, n, seed);
    if (how & 1) {
      if (evbuffer_add(plain_in, payload, n) != 0 || ss_chunks_seal(&enc, plain_in, wire) != 0 ||
          evbuffer_get_length(plain_in) != 0)
        __builtin_trap();
    } else if (ss_chunk_seal(&enc, wire, payload, n) != 0) {
      __builtin_trap();
    }
    if (evbuffer_add(sent, payload, n) != 0)
      abort();
    for (size_t left = n; left > 0; nchunks++) {
      size_t c = left < SS_MAX_PAYLOAD ? left : SS_MAX_PAYLOAD;
      wire_at[nchunks + 1] = wire_at[nchunks] + SS_CHUNK_OVERHEAD + c;
      plain_at[nchunks + 1] = plain_at[nchunks] + c;
      left -= c;
    }
  }
  size_t n = evbuffer_get_length(wire);
  if (n != wire_at[nchunks] || evbuffer_get_length(sent) != plain_at[nchunks])
    __builtin_trap();

  uint8_t *w = n ? evbuffer_pullup(wire, -1) : NULL;
  uint8_t *orig = malloc(n ? n : 1);
  if (orig == NULL)
    abort();
  if (n > 0)
    memcpy(orig, w, n);
  for (unsigned i = 0; i < nmut && n > 0; i++)
    w[mut_pos[i] % n] ^= mut_xor[i];
  /* The first damaged byte, if any (flips that cancel out are none). */
  size_t first_bad = n;
  for (size_t i = 0; i < n; i++)
    if (w[i] != orig[i]) {
      first_bad = i;
      break;
    }
  free(orig);

  fuzz_chunks_rx_t rx;
  fuzz_chunks_rx_init(&rx, k, max_chunks);
  fuzz_chunks_feed(&rx, w ? w : (const uint8_t *)"", n, piece);
  size_t got = evbuffer_get_length(rx.plain);
  const uint8_t *sent_p = evbuffer_get_length(sent) ? evbuffer_pullup(sent, -1) : NULL;
  if (got > 0 && memcmp(evbuffer_pullup(rx.plain, -1), sent_p, got) != 0)
    __builtin_trap();
  if (first_bad == n) {
    if (rx.failed || got != plain_at[nchunks] || rx.chunks != nchunks ||
        evbuffer_get_length(rx.in) != 0 || rx.d.next_len != -1)
      __builtin_trap();
  } else {
    size_t c = 0;
    while (first_bad >= wire_at[c + 1])
      c++;
    const char *why =
        first_bad - wire_at[c] < SS_LEN_CHUNK ? "length tag mismatch" : "payload tag mismatch";
    if (!rx.failed || got != plain_at[c] || rx.chunks != c || strcmp(rx.why, why) != 0)
      __builtin_trap();
  }
  fuzz_chunks_check_latched(&rx);
  fuzz_chunks_rx_free(&rx);
  ss_session_clear(&enc);
  evbuffer_free(wire);
  evbuffer_free(sent);
  evbuffer_free(plain_in);
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
  const fuzz_chunks_key_t *k = fuzz_chunks_key(data[0] % 3);
  size_t piece = 1 + (size_t)(data[0] / 6) * 397;
  if ((data[0] / 3) % 2)
    fuzz_chunks_stream(k, data + 1, size - 1, piece);
  else
    fuzz_chunks_wire(k, data + 1, size - 1, piece);
  return 0;
}
