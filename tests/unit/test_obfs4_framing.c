/* test_obfs4_framing: obfs4 frames and packets against obfs4proxy's own
 * encoder output (obfs4_vectors_framing.h), the decoder fed at every byte
 * boundary, and every way a frame can be wrong.
 *
 * Vector bytes are handed to the decoder by reference (read-only memory,
 * one chain per piece), so frames straddle chains and a decoder that
 * wrote into its input would crash. Crafted frames with arbitrary packet
 * bytes come from raw_frame(), itself checked against obfs4proxy's
 * Encoder.Encode() output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <sodium.h>

#include "transports/obfs4/framing.h"

#include "obfs4_vectors_framing.h"
#include "testutil.h"

#define N_PACKETS (sizeof vec_packet / sizeof vec_packet[0])
#define STREAM_CAP (N_PACKETS * OBFS4_MAX_SEGMENT_LEN)
#define SEED_PACKET 4 /* the vector stream's one well-formed seed packet */

/* The vector packets' frames back to back; returns the length. */
static size_t vec_stream(uint8_t buf[STREAM_CAP]) {
  size_t n = 0;
  for (size_t i = 0; i < N_PACKETS; i++) {
    memcpy(buf + n, vec_packet[i].wire, vec_packet[i].wire_len);
    n += vec_packet[i].wire_len;
  }
  return n;
}

/* What the vector stream decodes to: its payload packets' bytes. */
static size_t vec_plain(uint8_t buf[STREAM_CAP]) {
  size_t n = 0;
  for (size_t i = 0; i < N_PACKETS; i++)
    if (vec_packet[i].type == OBFS4_PACKET_PAYLOAD) {
      memcpy(buf + n, vec_packet[i].payload, vec_packet[i].len);
      n += vec_packet[i].len;
    }
  return n;
}

/* A frame around arbitrary packet bytes, as Encoder.Encode() makes it,
 * sealed with libsodium's crypto_secretbox itself, for a framer keyed
 * with vec_frame_key (secretbox key, then nonce prefix). */
static void raw_frame(obfs4_framer_t *f, const uint8_t *pkt, size_t len, struct evbuffer *out) {
  uint8_t frame[OBFS4_MAX_SEGMENT_LEN], nonce[crypto_secretbox_NONCEBYTES], mask[8];
  assert_true(len <= OBFS4_MAX_FRAME_PAYLOAD);
  memcpy(nonce, vec_frame_key + 32, 16);
  for (int i = 0; i < 8; i++)
    nonce[16 + i] = (uint8_t)(f->counter >> (56 - 8 * i));
  assert_int_equal(crypto_secretbox_easy(frame + 2, pkt, len, nonce, vec_frame_key), 0);
  f->counter++;
  drbg_next_block(&f->drbg, mask);
  size_t box = len + crypto_secretbox_MACBYTES;
  frame[0] = (uint8_t)((box >> 8) ^ mask[0]);
  frame[1] = (uint8_t)(box ^ mask[1]);
  assert_int_equal(evbuffer_add(out, frame, box + 2), 0);
}

/* The 2 wire bytes that unmask to len for the framer's next frame. */
static void masked_length(obfs4_framer_t *f, unsigned len, uint8_t out[2]) {
  uint8_t mask[8];
  drbg_next_block(&f->drbg, mask);
  out[0] = (uint8_t)((len >> 8) ^ mask[0]);
  out[1] = (uint8_t)(len ^ mask[1]);
}

static void add_ref(struct evbuffer *b, const uint8_t *p, size_t n) {
  if (n > 0)
    assert_int_equal(evbuffer_add_reference(b, p, n, NULL, NULL), 0);
}

/* Runs the decoder, expecting OK; returns whether a seed came. */
static bool deframe_ok(obfs4_deframer_t *d, struct evbuffer *in, struct evbuffer *plain,
                       uint8_t seed[24]) {
  bool seen = true;
  const char *why = NULL;
  obfs4_deframe_result_t r = obfs4_deframe(d, in, plain, seed, &seen, &why);
  if (r != OBFS4_DEFRAME_OK)
    fail_msg("deframe failed: %s", why ? why : "(no reason)");
  return seen;
}

/* Runs the decoder, expecting an error for this reason (NULL: any). */
static void deframe_err(obfs4_deframer_t *d, struct evbuffer *in, struct evbuffer *plain,
                        const char *want) {
  const char *why = NULL;
  assert_int_equal(obfs4_deframe(d, in, plain, NULL, NULL, &why), OBFS4_DEFRAME_ERROR);
  assert_non_null(why);
  if (want)
    assert_string_equal(why, want);
}

static void test_encode_matches_obfs4proxy(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_framer_init(&enc, vec_frame_key);
  struct evbuffer *all = test_evbuffer_with("x", 1); /* frames append */
  for (size_t i = 0; i < N_PACKETS; i++) {
    const vec_packet_t *v = &vec_packet[i];
    struct evbuffer *out = evbuffer_new();
    obfs4_framer_t copy = enc;
    assert_int_equal(obfs4_frame_packet(&enc, out, v->type, v->payload, v->len, v->pad), 0);
    assert_evbuffer_is(out, v->wire, v->wire_len);
    assert_int_equal(obfs4_frame_packet(&copy, all, v->type, v->payload, v->len, v->pad), 0);
    evbuffer_free(out);
  }
  uint8_t want[1 + STREAM_CAP];
  want[0] = 'x';
  size_t n = vec_stream(want + 1);
  assert_evbuffer_is(all, want, n + 1);
  evbuffer_free(all);
  obfs4_framer_clear(&enc);
  uint8_t zero[sizeof enc] = {0};
  assert_memory_equal(&enc, zero, sizeof enc);
}

/* raw_frame() is obfs4proxy's Encode(); its frames' packets are broken. */
static void test_raw_frames(void **state) {
  (void)state;
  static const char *const why[] = {
      "packet shorter than its header",       /* no packet bytes at all */
      "packet shorter than its header",       /* one byte */
      "packet payload longer than its frame", /* pattern: length 0x1e3f */
      "packet payload longer than its frame", /* pattern: length 0x1d3c */
  };
  obfs4_framer_t enc;
  obfs4_framer_init(&enc, vec_frame_key);
  for (size_t i = 0; i < sizeof vec_raw_frame / sizeof vec_raw_frame[0]; i++) {
    const vec_raw_frame_t *v = &vec_raw_frame[i];
    struct evbuffer *out = evbuffer_new(), *plain = evbuffer_new();
    obfs4_deframer_t d;
    obfs4_deframer_init(&d, vec_frame_key);
    d.f = enc; /* in step with the encoder */
    raw_frame(&enc, v->payload, v->len, out);
    assert_evbuffer_is(out, v->wire, v->wire_len);
    deframe_err(&d, out, plain, why[i]);
    assert_int_equal(evbuffer_get_length(plain), 0);
    evbuffer_free(out);
    evbuffer_free(plain);
  }
}

static void test_decode_stream(void **state) {
  (void)state;
  uint8_t wire[STREAM_CAP], want[STREAM_CAP], seed[24];
  size_t n = vec_stream(wire), m = vec_plain(want);
  obfs4_deframer_t d;
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  add_ref(in, wire, n);
  assert_true(deframe_ok(&d, in, plain, seed));
  assert_memory_equal(seed, vec_packet[SEED_PACKET].payload, 24);
  assert_evbuffer_is(plain, want, m);
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(d.next_len, -1);
  assert_int_equal(d.f.counter, N_PACKETS + 1);
  /* Nothing more: nothing happens, and no seed is reported again. */
  assert_false(deframe_ok(&d, in, plain, seed));
  evbuffer_free(in);
  evbuffer_free(plain);
  obfs4_deframer_clear(&d);
}

static void test_decode_byte_at_a_time(void **state) {
  (void)state;
  uint8_t wire[STREAM_CAP], want[STREAM_CAP], seed[24];
  size_t n = vec_stream(wire), m = vec_plain(want);
  obfs4_deframer_t d;
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  int seeds = 0;
  size_t end_of_seed_frame = 0;
  for (size_t i = 0; i <= SEED_PACKET; i++)
    end_of_seed_frame += vec_packet[i].wire_len;
  for (size_t i = 0; i < n; i++) {
    add_ref(in, wire + i, 1);
    if (deframe_ok(&d, in, plain, seed)) {
      seeds++;
      assert_int_equal(i + 1, end_of_seed_frame);
    }
    /* The 2 length bytes go as soon as they are there. */
    assert_true(evbuffer_get_length(in) < 2 || d.next_len >= 0);
  }
  assert_int_equal(seeds, 1);
  assert_memory_equal(seed, vec_packet[SEED_PACKET].payload, 24);
  assert_evbuffer_is(plain, want, m);
  evbuffer_free(in);
  evbuffer_free(plain);
}

/* Every cut of the stream into two pieces, each a chain of its own. */
static void test_decode_every_split(void **state) {
  (void)state;
  uint8_t wire[STREAM_CAP], want[STREAM_CAP], seed[24];
  size_t n = vec_stream(wire), m = vec_plain(want);
  for (size_t cut = 0; cut <= n; cut++) {
    obfs4_deframer_t d;
    obfs4_deframer_init(&d, vec_frame_key);
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    add_ref(in, wire, cut);
    bool seen = deframe_ok(&d, in, plain, seed);
    add_ref(in, wire + cut, n - cut);
    seen = deframe_ok(&d, in, plain, seed) || seen;
    assert_true(seen);
    assert_evbuffer_is(plain, want, m);
    assert_int_equal(evbuffer_get_length(in), 0);
    evbuffer_free(in);
    evbuffer_free(plain);
  }
}

static uint32_t xorshift(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* Our encoder to our decoder: random packets, random chunking. */
static void test_roundtrip_random(void **state) {
  (void)state;
  uint8_t key[OBFS4_FRAMING_KEY_LEN];
  test_fill_pattern(key, sizeof key, 99);
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, key);
  obfs4_deframer_init(&d, key);
  struct evbuffer *wire = evbuffer_new(), *in = evbuffer_new(), *plain = evbuffer_new(),
                  *want = evbuffer_new();
  uint8_t *data = test_pattern_new(OBFS4_MAX_PACKET_PAYLOAD, 5);
  uint32_t x = 12345;
  for (int i = 0; i < 2000; i++) {
    size_t len = xorshift(&x) % (OBFS4_MAX_PACKET_PAYLOAD + 1);
    if (i % 4 == 0)
      len = OBFS4_MAX_PACKET_PAYLOAD - (i % 3);
    size_t pad = xorshift(&x) % (OBFS4_MAX_PACKET_PAYLOAD - len + 1);
    if (i % 5 == 0)
      pad = 0;
    uint8_t type = i % 7 == 0 ? 9 : OBFS4_PACKET_PAYLOAD;
    const uint8_t *p = data + xorshift(&x) % (OBFS4_MAX_PACKET_PAYLOAD - len + 1);
    assert_int_equal(obfs4_frame_packet(&enc, wire, type, p, len, pad), 0);
    if (type == OBFS4_PACKET_PAYLOAD)
      assert_int_equal(evbuffer_add(want, p, len), 0);
  }
  while (evbuffer_get_length(wire) > 0) {
    size_t chunk = 1 + xorshift(&x) % 5000;
    assert_true(evbuffer_remove_buffer(wire, in, chunk) >= 0);
    deframe_ok(&d, in, plain, NULL);
  }
  assert_int_equal(evbuffer_get_length(in), 0);
  size_t m = evbuffer_get_length(want);
  assert_evbuffer_is(plain, evbuffer_pullup(want, -1), m);
  free(data);
  evbuffer_free(wire);
  evbuffer_free(in);
  evbuffer_free(plain);
  evbuffer_free(want);
}

static void test_padding_only_frames(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PAYLOAD, NULL, 0, 0), 0);
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PAYLOAD, NULL, 0, 1427), 0);
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PAYLOAD, NULL, 0, 1), 0);
  assert_int_equal(evbuffer_get_length(in), 21 + 1448 + 22);
  assert_false(deframe_ok(&d, in, plain, NULL));
  assert_int_equal(evbuffer_get_length(plain), 0);
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(d.f.counter, 4);
  evbuffer_free(in);
  evbuffer_free(plain);
}

/* Every type but 0 and 1 is authenticated and dropped; the stream goes on. */
static void test_unknown_types_ignored(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  uint8_t data[24];
  test_fill_pattern(data, sizeof data, 3);
  for (int t = 2; t <= 255; t++)
    assert_int_equal(obfs4_frame_packet(&enc, in, (uint8_t)t, data, sizeof data, 7), 0);
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PAYLOAD, data, 5, 0), 0);
  assert_false(deframe_ok(&d, in, plain, NULL));
  assert_evbuffer_is(plain, data, 5);
  evbuffer_free(in);
  evbuffer_free(plain);
}

static void test_seed_packets(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  uint8_t a[25], b[24], seed[24];
  test_fill_pattern(a, sizeof a, 10);
  test_fill_pattern(b, sizeof b, 11);

  /* Not 24 bytes: ignored, as obfs4proxy does, and not an error. */
  size_t bad_lens[] = {0, 1, 23, 25};
  for (size_t i = 0; i < sizeof bad_lens / sizeof bad_lens[0]; i++) {
    assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PRNG_SEED, a, bad_lens[i], 0), 0);
    memset(seed, 0xee, sizeof seed);
    assert_false(deframe_ok(&d, in, plain, seed));
    for (size_t j = 0; j < sizeof seed; j++)
      assert_int_equal(seed[j], 0xee);
  }
  /* 24 bytes, padded: taken; of two in one call, the last. */
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PRNG_SEED, a, 24, 100), 0);
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PRNG_SEED, b, 24, 0), 0);
  assert_true(deframe_ok(&d, in, plain, seed));
  assert_memory_equal(seed, b, 24);
  /* A server passes no seed buffer. */
  assert_int_equal(obfs4_frame_packet(&enc, in, OBFS4_PACKET_PRNG_SEED, a, 24, 0), 0);
  assert_int_equal(obfs4_deframe(&d, in, plain, NULL, NULL, NULL), OBFS4_DEFRAME_OK);
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(evbuffer_get_length(plain), 0);
  evbuffer_free(in);
  evbuffer_free(plain);
}

/* Lengths outside [16, 1446] fail only after a random valid length's
 * worth of bytes (>= 16) has come, as obfs4proxy does. */
static void test_length_out_of_range(void **state) {
  (void)state;
  static const unsigned bad[] = {0, 1, 15, 1447, 1448, 0x8000, 0xffff};
  static const uint8_t zeros[OBFS4_MAX_SEGMENT_LEN] = {0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    obfs4_framer_t enc;
    obfs4_deframer_t d;
    obfs4_framer_init(&enc, vec_frame_key);
    obfs4_deframer_init(&d, vec_frame_key);
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    uint8_t len[2];
    masked_length(&enc, bad[i], len);
    add_ref(in, len, 2);
    add_ref(in, zeros, 15);
    deframe_ok(&d, in, plain, NULL);
    assert_true(d.len_invalid);
    assert_true(d.next_len >= 16 && d.next_len <= 1446);
    add_ref(in, zeros, 1446 - 15);
    deframe_err(&d, in, plain, "frame length out of range");
    assert_int_equal(evbuffer_get_length(plain), 0);
    /* Latched: even good bytes fail now. */
    add_ref(in, vec_packet[0].wire, vec_packet[0].wire_len);
    deframe_err(&d, in, plain, "decoder already failed");
    evbuffer_free(in);
    evbuffer_free(plain);
  }
}

/* The bounds themselves are valid lengths. */
static void test_length_bounds_accepted(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  /* 16: a box with no packet in it; the length passes, the packet not. */
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  raw_frame(&enc, NULL, 0, in);
  deframe_err(&d, in, plain, "packet shorter than its header");
  evbuffer_drain(in, evbuffer_get_length(in));
  /* 1446: the largest frame. */
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  uint8_t data[OBFS4_MAX_PACKET_PAYLOAD];
  test_fill_pattern(data, sizeof data, 4);
  assert_int_equal(obfs4_frame_packet(&enc, in, 0, data, sizeof data, 0), 0);
  assert_int_equal(evbuffer_get_length(in), OBFS4_MAX_SEGMENT_LEN);
  deframe_ok(&d, in, plain, NULL);
  assert_evbuffer_is(plain, data, sizeof data);
  evbuffer_free(in);
  evbuffer_free(plain);
}

/* One bit flipped anywhere in a frame: nothing comes out, and the
 * decoder fails (for a length bit: once enough bytes are there). */
static void test_bit_flips(void **state) {
  (void)state;
  const vec_packet_t *v = &vec_packet[3]; /* tag, header, payload, padding */
  static const uint8_t zeros[OBFS4_MAX_SEGMENT_LEN] = {0};
  uint8_t frame[OBFS4_MAX_SEGMENT_LEN];
  for (size_t pos = 0; pos < v->wire_len; pos++)
    for (int bit = 0; bit < 8; bit++) {
      memcpy(frame, v->wire, v->wire_len);
      frame[pos] ^= (uint8_t)(1u << bit);
      obfs4_deframer_t d;
      obfs4_deframer_init(&d, vec_frame_key);
      /* Step the decoder past the frames before this one. */
      struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
      for (size_t i = 0; i < 3; i++)
        add_ref(in, vec_packet[i].wire, vec_packet[i].wire_len);
      deframe_ok(&d, in, plain, NULL);
      size_t before = evbuffer_get_length(plain);
      add_ref(in, frame, v->wire_len);
      const char *why = NULL;
      obfs4_deframe_result_t r = obfs4_deframe(&d, in, plain, NULL, NULL, &why);
      if (pos >= 2) {
        assert_int_equal(r, OBFS4_DEFRAME_ERROR);
        assert_string_equal(why, "frame tag mismatch");
      } else if (r == OBFS4_DEFRAME_OK) {
        add_ref(in, zeros, sizeof zeros);
        deframe_err(&d, in, plain, NULL);
      }
      assert_int_equal(evbuffer_get_length(plain), before);
      evbuffer_free(in);
      evbuffer_free(plain);
    }
}

/* Right bytes, wrong place or wrong keys: the box does not open. */
static void test_wrong_keys_and_replays(void **state) {
  (void)state;
  static const uint8_t zeros[OBFS4_MAX_SEGMENT_LEN] = {0};
  for (int k = 0; k < 4; k++) {
    uint8_t key[OBFS4_FRAMING_KEY_LEN];
    memcpy(key, vec_frame_key, sizeof key);
    if (k < 2)
      key[k == 0 ? 5 : 40] ^= 1; /* secretbox key; nonce prefix */
    obfs4_deframer_t d;
    obfs4_deframer_init(&d, key);
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    if (k == 2) { /* a replayed frame */
      add_ref(in, vec_packet[1].wire, vec_packet[1].wire_len);
      deframe_ok(&d, in, plain, NULL);
      add_ref(in, vec_packet[1].wire, vec_packet[1].wire_len);
    } else if (k == 3) { /* frames swapped */
      add_ref(in, vec_packet[1].wire, vec_packet[1].wire_len);
      add_ref(in, vec_packet[0].wire, vec_packet[0].wire_len);
    } else {
      add_ref(in, vec_packet[1].wire, vec_packet[1].wire_len);
    }
    size_t before = evbuffer_get_length(plain);
    const char *why = NULL;
    if (obfs4_deframe(&d, in, plain, NULL, NULL, &why) == OBFS4_DEFRAME_OK) {
      add_ref(in, zeros, sizeof zeros);
      deframe_err(&d, in, plain, NULL);
    }
    assert_int_equal(evbuffer_get_length(plain), before);
    evbuffer_free(in);
    evbuffer_free(plain);
  }
}

/* readPackets' checks on the packet inside an authentic frame. */
static void test_packet_lengths(void **state) {
  (void)state;
  static const struct {
    uint8_t pkt[8];
    size_t len;
    const char *why; /* NULL: fine, and its payload is the output */
  } cases[] = {
      {{0}, 0, "packet shorter than its header"},
      {{0}, 1, "packet shorter than its header"},
      {{0, 0}, 2, "packet shorter than its header"},
      {{0, 0, 0}, 3, NULL},
      {{0, 0, 1}, 3, "packet payload longer than its frame"},
      {{0, 0, 5, 'a', 'b', 'c', 'd', 'e'}, 8, NULL},
      {{0, 0, 4, 'a', 'b', 'c', 'd', 0}, 8, NULL},
      {{0, 0, 6, 'a', 'b', 'c', 'd', 'e'}, 8, "packet payload longer than its frame"},
      {{0, 1, 5, 'a', 'b', 'c', 'd', 'e'}, 8, "packet payload longer than its frame"},
      {{0, 0xff, 0xff}, 3, "packet payload longer than its frame"},
      {{1, 0, 6, 1, 2, 3, 4, 5}, 8, "packet payload longer than its frame"},
      {{200, 0, 6, 1, 2, 3, 4, 5}, 8, "packet payload longer than its frame"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    obfs4_framer_t enc;
    obfs4_deframer_t d;
    obfs4_framer_init(&enc, vec_frame_key);
    obfs4_deframer_init(&d, vec_frame_key);
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    /* A good frame first: its payload stays delivered on error. */
    assert_int_equal(obfs4_frame_packet(&enc, in, 0, (const uint8_t *)"ok", 2, 3), 0);
    raw_frame(&enc, cases[i].pkt, cases[i].len, in);
    if (cases[i].why) {
      deframe_err(&d, in, plain, cases[i].why);
      assert_evbuffer_is(plain, "ok", 2);
    } else {
      deframe_ok(&d, in, plain, NULL);
      size_t plen = cases[i].pkt[2];
      uint8_t want[8] = {'o', 'k'};
      memcpy(want + 2, cases[i].pkt + 3, plen);
      assert_evbuffer_is(plain, want, 2 + plen);
    }
    evbuffer_free(in);
    evbuffer_free(plain);
  }
}

static void test_counter_wrap(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  enc.counter = UINT64_MAX;
  d.f.counter = UINT64_MAX;
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  /* The last nonce is still good... */
  assert_int_equal(obfs4_frame_packet(&enc, in, 0, (const uint8_t *)"last", 4, 0), 0);
  assert_int_equal(enc.counter, 0);
  /* ...and then the encoder refuses, adding nothing. */
  size_t n = evbuffer_get_length(in);
  assert_int_equal(obfs4_frame_packet(&enc, in, 0, (const uint8_t *)"more", 4, 0), -1);
  assert_int_equal(obfs4_frame_packet(&enc, in, 0, NULL, 0, 0), -1);
  assert_int_equal(evbuffer_get_length(in), n);
  deframe_ok(&d, in, plain, NULL);
  assert_evbuffer_is(plain, "last", 4);
  assert_int_equal(d.f.counter, 0);
  /* The decoder refuses the next frame as soon as its length is there. */
  assert_int_equal(evbuffer_add(in, "\x00", 1), 0);
  deframe_ok(&d, in, plain, NULL);
  assert_int_equal(evbuffer_add(in, "\x00", 1), 0);
  deframe_err(&d, in, plain, "nonce counter wrapped");
  evbuffer_free(in);
  evbuffer_free(plain);
}

static void test_frame_packet_bad_lengths(void **state) {
  (void)state;
  obfs4_framer_t enc;
  obfs4_deframer_t d;
  obfs4_framer_init(&enc, vec_frame_key);
  obfs4_deframer_init(&d, vec_frame_key);
  struct evbuffer *out = evbuffer_new(), *plain = evbuffer_new();
  uint8_t data[OBFS4_MAX_PACKET_PAYLOAD + 1] = {0};
  assert_int_equal(obfs4_frame_packet(&enc, out, 0, data, sizeof data, 0), -1);
  assert_int_equal(obfs4_frame_packet(&enc, out, 0, data, 1000, 428), -1);
  assert_int_equal(obfs4_frame_packet(&enc, out, 0, NULL, 0, 1428), -1);
  assert_int_equal(obfs4_frame_packet(&enc, out, 0, data, 1, SIZE_MAX), -1);
  assert_int_equal(evbuffer_get_length(out), 0);
  /* Nothing was used up: the next frame is the first. */
  assert_int_equal(obfs4_frame_packet(&enc, out, 0, data, 1000, 427), 0);
  assert_int_equal(evbuffer_get_length(out), OBFS4_MAX_SEGMENT_LEN);
  deframe_ok(&d, out, plain, NULL);
  assert_evbuffer_is(plain, data, 1000);
  evbuffer_free(out);
  evbuffer_free(plain);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_matches_obfs4proxy),
      cmocka_unit_test(test_raw_frames),
      cmocka_unit_test(test_decode_stream),
      cmocka_unit_test(test_decode_byte_at_a_time),
      cmocka_unit_test(test_decode_every_split),
      cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_padding_only_frames),
      cmocka_unit_test(test_unknown_types_ignored),
      cmocka_unit_test(test_seed_packets),
      cmocka_unit_test(test_length_out_of_range),
      cmocka_unit_test(test_length_bounds_accepted),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_wrong_keys_and_replays),
      cmocka_unit_test(test_packet_lengths),
      cmocka_unit_test(test_counter_wrap),
      cmocka_unit_test(test_frame_packet_bad_lengths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
