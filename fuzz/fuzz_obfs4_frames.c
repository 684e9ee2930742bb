/* fuzz_obfs4_frames: obfs4's frame decoder, with a fixed key, two ways.
 *
 * Byte 0 picks the mode (its low bit) and how the wire bytes are cut
 * into arrivals (the rest: chunk size 1 + (byte0 >> 1) * 13).
 *
 * Even: the rest is wire bytes from a peer. Properties: the decoder
 * returns OK or ERROR; never more plaintext than wire bytes; after OK
 * what is left is less than the next frame; after ERROR every later call
 * fails.
 *
 * Odd: the rest describes a stream that our encoder builds, then damages
 * and cuts:
 *   nmut (1 byte, % 9), nmut x { pos (2 bytes BE, % stream length),
 *   xor (1 byte) }, then packets until the input ends, each: type (1),
 *   len (2, BE, % 1428), pad (2, BE, % (1428 - len)), and len payload
 *   bytes (fewer if the input ends first).
 * Properties: the plaintext out is always a prefix of the payload bytes
 * encoded (a damaged frame never opens, so nothing that was not sent
 * comes out); undamaged, it is all of it, nothing is left over, and the
 * last 24-byte seed packet is the one reported. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "transports/obfs4/framing.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FRAMES_MAX_PACKETS 64
#define FUZZ_FRAMES_MAX_MUT 8

static void fuzz_frames_key(uint8_t key[OBFS4_FRAMING_KEY_LEN]) {
  for (size_t i = 0; i < OBFS4_FRAMING_KEY_LEN; i++)
    key[i] = (uint8_t)i;
}

typedef struct {
  obfs4_deframer_t d;
  struct evbuffer *in, *plain;
  bool failed;
  bool seed_seen;
  uint8_t seed[OBFS4_SEED_PACKET_LEN];
} fuzz_frames_rx_t;

/* Hands the decoder one more arrival and checks what it did. */
static void fuzz_frames_arrive(fuzz_frames_rx_t *rx, const uint8_t *p, size_t n) {
  if (evbuffer_add(rx->in, p, n) != 0)
    abort();
  bool seen = false;
  uint8_t seed[OBFS4_SEED_PACKET_LEN];
  const char *why = NULL;
  obfs4_deframe_result_t r = obfs4_deframe(&rx->d, rx->in, rx->plain, seed, &seen, &why);
  if (r == OBFS4_DEFRAME_ERROR) {
    if (why == NULL)
      __builtin_trap();
    fuzz_check_err(why);
    rx->failed = true;
    return;
  }
  if (r != OBFS4_DEFRAME_OK || rx->failed)
    __builtin_trap();
  size_t left = evbuffer_get_length(rx->in);
  if (rx->d.next_len < 0 ? left >= 2 : left >= (size_t)rx->d.next_len)
    __builtin_trap();
  if (rx->d.next_len > OBFS4_MAX_SEGMENT_LEN - 2)
    __builtin_trap();
  if (seen) {
    rx->seed_seen = true;
    memcpy(rx->seed, seed, sizeof seed);
  }
}

static void fuzz_frames_feed(fuzz_frames_rx_t *rx, const uint8_t *wire, size_t n, size_t chunk) {
  for (size_t off = 0; off < n; off += chunk)
    fuzz_frames_arrive(rx, wire + off, n - off < chunk ? n - off : chunk);
}

static void fuzz_frames_rx_init(fuzz_frames_rx_t *rx) {
  uint8_t key[OBFS4_FRAMING_KEY_LEN];
  fuzz_frames_key(key);
  memset(rx, 0, sizeof *rx);
  obfs4_deframer_init(&rx->d, key);
  rx->in = evbuffer_new();
  rx->plain = evbuffer_new();
  if (rx->in == NULL || rx->plain == NULL)
    abort();
}

static void fuzz_frames_rx_free(fuzz_frames_rx_t *rx) {
  evbuffer_free(rx->in);
  evbuffer_free(rx->plain);
}

static void fuzz_frames_wire(const uint8_t *data, size_t size, size_t chunk) {
  fuzz_frames_rx_t rx;
  fuzz_frames_rx_init(&rx);
  fuzz_frames_feed(&rx, data, size, chunk);
  if (evbuffer_get_length(rx.plain) > size)
    __builtin_trap();
  /* Once failed, always failed. */
  if (rx.failed && obfs4_deframe(&rx.d, rx.in, rx.plain, NULL, NULL, NULL) != OBFS4_DEFRAME_ERROR)
    __builtin_trap();
  fuzz_frames_rx_free(&rx);
}

/* Reads n big-endian bytes (fewer if the input ends), advancing. */
static unsigned fuzz_frames_take(const uint8_t **p, const uint8_t *end, int n) {
  unsigned v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | (*p < end ? *(*p)++ : 0);
  return v;
}

static void fuzz_frames_stream(const uint8_t *data, size_t size, size_t chunk) {
  const uint8_t *p = data, *end = data + size;
  unsigned nmut = fuzz_frames_take(&p, end, 1) % (FUZZ_FRAMES_MAX_MUT + 1);
  unsigned mut_pos[FUZZ_FRAMES_MAX_MUT];
  uint8_t mut_xor[FUZZ_FRAMES_MAX_MUT];
  for (unsigned i = 0; i < nmut; i++) {
    mut_pos[i] = fuzz_frames_take(&p, end, 2);
    mut_xor[i] = (uint8_t)fuzz_frames_take(&p, end, 1);
  }

  uint8_t key[OBFS4_FRAMING_KEY_LEN];
  fuzz_frames_key(key);
  obfs4_framer_t enc;
  obfs4_framer_init(&enc, key);
  struct evbuffer *wire = evbuffer_new(), *sent = evbuffer_new();
  if (wire == NULL || sent == NULL)
    abort();
  bool seed_sent = false;
  uint8_t last_seed[OBFS4_SEED_PACKET_LEN];
  for (int k = 0; k < FUZZ_FRAMES_MAX_PACKETS && p < end; k++) {
    uint8_t type = (uint8_t)fuzz_frames_take(&p, end, 1);
    size_t len = fuzz_frames_take(&p, end, 2) % (OBFS4_MAX_PACKET_PAYLOAD + 1);
    size_t pad = fuzz_frames_take(&p, end, 2) % (OBFS4_MAX_PACKET_PAYLOAD - len + 1);
    if (len > (size_t)(end - p))
      len = (size_t)(end - p);
    if (obfs4_frame_packet(&enc, wire, type, p, len, pad) != 0)
      __builtin_trap();
    if (type == OBFS4_PACKET_PAYLOAD && evbuffer_add(sent, p, len) != 0)
      abort();
    if (type == OBFS4_PACKET_PRNG_SEED && len == OBFS4_SEED_PACKET_LEN) {
      seed_sent = true;
      memcpy(last_seed, p, len);
    }
    p += len;
  }

  size_t n = evbuffer_get_length(wire);
  uint8_t *w = evbuffer_pullup(wire, -1);
  uint8_t *orig = malloc(n ? n : 1);
  if (orig == NULL)
    abort();
  if (n > 0)
    memcpy(orig, w, n);
  for (unsigned i = 0; i < nmut && n > 0; i++)
    w[mut_pos[i] % n] ^= mut_xor[i];
  /* Flips that cancel out are no damage. */
  bool damaged = n > 0 && memcmp(orig, w, n) != 0;
  free(orig);

  fuzz_frames_rx_t rx;
  fuzz_frames_rx_init(&rx);
  fuzz_frames_feed(&rx, w, n, chunk);
  size_t got = evbuffer_get_length(rx.plain), want = evbuffer_get_length(sent);
  if (got > want ||
      (got > 0 && memcmp(evbuffer_pullup(rx.plain, -1), evbuffer_pullup(sent, -1), got) != 0))
    __builtin_trap();
  if (!damaged) {
    if (rx.failed || got != want || evbuffer_get_length(rx.in) != 0)
      __builtin_trap();
    if (rx.seed_seen != seed_sent || (seed_sent && memcmp(rx.seed, last_seed, sizeof last_seed)))
      __builtin_trap();
  }
  fuzz_frames_rx_free(&rx);
  evbuffer_free(wire);
  evbuffer_free(sent);
  obfs4_framer_clear(&enc);
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
  size_t chunk = 1 + (size_t)(data[0] >> 1) * 13;
  if (data[0] & 1)
    fuzz_frames_stream(data + 1, size - 1, chunk);
  else
    fuzz_frames_wire(data + 1, size - 1, chunk);
  return 0;
}
