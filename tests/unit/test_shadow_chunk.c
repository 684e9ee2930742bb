/* test_shadow_chunk: the AEAD TCP stream's chunks (ss_chunk.c): round trips
 * of every size that matters, the decoder fed every way a socket can cut
 * a stream, and every way a stream can be wrong.
 *
 * Wire bytes reach the decoder by reference (evbuffer_add_reference) from
 * a read-only mapping, one chain per piece, so chunks straddle chains and
 * a decoder that wrote into its input would crash rather than pass.
 *
 * Streams the encoder cannot make (a zero-length chunk, a length with the
 * reserved bits set) are crafted here from ss_seal() directly: a length
 * sealed on its own, then a payload. craft_chunk() is checked against
 * ss_chunk_seal() first, so crafted chunks are the real layout. ss_seal()
 * itself is tested against OpenSSL in test_shadow_aead.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <sodium.h>

#include "transports/shadow/ss_aead.h"
#include "transports/shadow/ss_chunk.h"

#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024 * 1024)

static const char *const cipher_names[] = {"chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm"};

/* ---- sessions ---- */

/* Both ends of one direction: an encrypting session and the key material
 * to make as many decoders for it as a test needs. */
typedef struct {
  const ss_cipher_t *c;
  uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
  ss_session_t enc;
} stream_key_t;

static void key_init(stream_key_t *k, size_t cipher_i, uint32_t seed) {
  k->c = ss_cipher_find(cipher_names[cipher_i]);
  assert_non_null(k->c);
  assert_int_equal(ss_master_key(k->c, "ptd-chunk-test", k->master), 0);
  test_fill_pattern(k->salt, sizeof k->salt, seed);
  assert_int_equal(ss_session_init(&k->enc, k->c, k->master, k->salt, true), 0);
}

static void key_clear(stream_key_t *k) { ss_session_clear(&k->enc); }

/* A fresh decoder for k's stream, at its start. */
static void decoder_for(const stream_key_t *k, ss_decoder_t *d) {
  ss_session_t s;
  assert_int_equal(ss_session_init(&s, k->c, k->master, k->salt, false), 0);
  ss_decoder_init(d, &s);
  assert_int_equal(d->next_len, -1);
  assert_false(d->failed);
}

/* ---- crafted chunks ---- */

/* A length part: len as 2 big-endian bytes, sealed, whatever its value. */
static void craft_length(ss_session_t *enc, struct evbuffer *out, unsigned len) {
  uint8_t b[SS_LEN_CHUNK] = {(uint8_t)(len >> 8), (uint8_t)len};
  assert_int_equal(ss_seal(enc, b, b, 2), 0);
  assert_int_equal(evbuffer_add(out, b, sizeof b), 0);
}

/* A payload part of n bytes (0 allowed: the tag alone). */
static void craft_payload(ss_session_t *enc, struct evbuffer *out, const uint8_t *p, size_t n) {
  uint8_t *b = malloc(n + SS_TAG_LEN);
  assert_non_null(b);
  assert_int_equal(ss_seal(enc, b, p, n), 0);
  assert_int_equal(evbuffer_add(out, b, n + SS_TAG_LEN), 0);
  free(b);
}

static void craft_chunk(ss_session_t *enc, struct evbuffer *out, const uint8_t *p, size_t n) {
  craft_length(enc, out, (unsigned)n);
  craft_payload(enc, out, p, n);
}

/* ---- feeding the decoder ---- */

/* A read-only copy of bytes, for the decoder to get by reference. */
typedef struct {
  uint8_t *p;
  size_t len, maplen;
} ro_bytes_t;

static ro_bytes_t ro_copy(const uint8_t *p, size_t n) {
  ro_bytes_t r = {NULL, n, n ? n : 1};
  void *m = mmap(NULL, r.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(m != MAP_FAILED);
  if (n > 0)
    memcpy(m, p, n);
  assert_int_equal(mprotect(m, r.maplen, PROT_READ), 0);
  r.p = m;
  return r;
}

static ro_bytes_t ro_from_evbuffer(struct evbuffer *b) {
  size_t n = evbuffer_get_length(b);
  return ro_copy(n ? evbuffer_pullup(b, -1) : (const uint8_t *)"", n);
}

static void ro_free(ro_bytes_t *r) { assert_int_equal(munmap(r->p, r->maplen), 0); }

static void add_ref(struct evbuffer *b, const uint8_t *p, size_t n) {
  if (n > 0)
    assert_int_equal(evbuffer_add_reference(b, p, n, NULL, NULL), 0);
}

/* How a stream is cut into arrivals. */
typedef enum { FEED_WHOLE, FEED_BYTES, FEED_RANDOM } feed_t;

static const char *const feed_names[] = {"whole", "byte at a time", "random splits"};

/* xorshift32 for the cuts: the same seed, the same cuts. */
static uint32_t next_rand(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

/* The size of the next arrival: mostly small, now and then a chunk or
 * three at once, so both partial lengths and several chunks per call
 * come up. */
static size_t random_piece(uint32_t *x) {
  static const uint32_t caps[] = {3, 19, 200, 2 * SS_MAX_PAYLOAD, 5 * SS_MAX_PAYLOAD};
  uint32_t r = next_rand(x);
  return 1 + (r >> 8) % caps[r % COUNT(caps)];
}

/* One call: must be OK, and leave less than its next whole part. */
static size_t open_ok(ss_decoder_t *d, struct evbuffer *in, struct evbuffer *plain,
                      size_t max_chunks) {
  size_t chunks = 999;
  const char *why = NULL;
  ss_decode_result_t r = ss_chunks_open(d, in, plain, max_chunks, &chunks, &why);
  if (r != SS_DECODE_OK)
    fail_msg("decode failed: %s", why ? why : "(no reason)");
  assert_false(d->failed);
  assert_true(d->next_len >= -1 && d->next_len <= SS_MAX_PAYLOAD);
  if (max_chunks == 0 || chunks < max_chunks) {
    size_t left = evbuffer_get_length(in);
    if (d->next_len < 0)
      assert_true(left < SS_LEN_CHUNK);
    else
      assert_true(left < (size_t)d->next_len + SS_TAG_LEN);
  }
  return chunks;
}

/* One call that must fail for why_want (NULL: any reason); returns the
 * whole chunks it consumed first. */
static size_t open_err(ss_decoder_t *d, struct evbuffer *in, struct evbuffer *plain,
                       const char *why_want) {
  size_t chunks = 999;
  const char *why = NULL;
  assert_int_equal(ss_chunks_open(d, in, plain, 0, &chunks, &why), SS_DECODE_ERROR);
  assert_non_null(why);
  if (why_want)
    assert_string_equal(why, why_want);
  assert_true(d->failed);
  return chunks;
}

/* Feeds all of wire to a fresh decoder the given way; returns the
 * plaintext (the caller frees it) and, in *chunks, how many chunks came. */
static struct evbuffer *decode_all(const stream_key_t *k, const ro_bytes_t *wire, feed_t how,
                                   uint32_t seed, size_t *chunks) {
  ss_decoder_t d;
  decoder_for(k, &d);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  assert_non_null(in);
  assert_non_null(plain);
  uint32_t x = seed ? seed : 1;
  size_t total = 0;
  for (size_t off = 0; off < wire->len;) {
    size_t n = how == FEED_WHOLE ? wire->len : how == FEED_BYTES ? 1 : random_piece(&x);
    if (n > wire->len - off)
      n = wire->len - off;
    add_ref(in, wire->p + off, n);
    off += n;
    total += open_ok(&d, in, plain, 0);
  }
  /* The stream ended on a chunk boundary: nothing waits. */
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(d.next_len, -1);
  assert_int_equal(open_ok(&d, in, plain, 0), 0);
  evbuffer_free(in);
  ss_decoder_clear(&d);
  *chunks = total;
  return plain;
}

static size_t chunks_for(size_t n) { return (n + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD; }

/* ---- tests ---- */

/* craft_chunk() lays a chunk out as ss_chunk_seal() does. */
static void test_crafted_chunk_is_ss_chunk_seal(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t a, b;
    key_init(&a, i, 1);
    key_init(&b, i, 1);
    struct evbuffer *sealed = evbuffer_new(), *crafted = evbuffer_new();
    uint8_t p[300];
    test_fill_pattern(p, sizeof p, 2);
    for (size_t n = 1; n <= sizeof p; n += 299) {
      assert_int_equal(ss_chunk_seal(&a.enc, sealed, p, n), 0);
      craft_chunk(&b.enc, crafted, p, n);
    }
    assert_int_equal(evbuffer_get_length(sealed), 1 + 300 + 2 * SS_CHUNK_OVERHEAD);
    assert_evbuffer_is(crafted, evbuffer_pullup(sealed, -1), evbuffer_get_length(sealed));
    evbuffer_free(sealed);
    evbuffer_free(crafted);
    key_clear(&a);
    key_clear(&b);
  }
}

static void test_roundtrip_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {1, SS_MAX_PAYLOAD, SS_MAX_PAYLOAD + 1, 3 * SS_MAX_PAYLOAD + 5,
                                 MIB};
  assert_int_equal(SS_MAX_PAYLOAD, 0x3FFF);
  assert_int_equal(SS_CHUNK_OVERHEAD, 34);
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    for (size_t s = 0; s < COUNT(sizes); s++) {
      size_t n = sizes[s];
      stream_key_t k;
      key_init(&k, i, (uint32_t)(10 + s));
      uint8_t *data = test_pattern_new(n, (uint32_t)(1000 + n));
      struct evbuffer *plain_in = test_evbuffer_with(data, n), *wire = evbuffer_new();
      assert_int_equal(ss_chunks_seal(&k.enc, plain_in, wire), 0);
      assert_int_equal(evbuffer_get_length(plain_in), 0);
      size_t want_chunks = chunks_for(n);
      assert_int_equal(evbuffer_get_length(wire), n + want_chunks * SS_CHUNK_OVERHEAD);
      /* Two nonces per chunk. */
      assert_int_equal(k.enc.nonce[0] | (k.enc.nonce[1] << 8) | (k.enc.nonce[2] << 16),
                       2 * want_chunks);
      ro_bytes_t ro = ro_from_evbuffer(wire);

      for (feed_t how = FEED_WHOLE; how <= FEED_RANDOM; how++) {
        /* A megabyte a byte at a time is a million calls; the cuts do
         * not depend on the cipher, so one cipher is enough for it. */
        if (how == FEED_BYTES && n == MIB && i > 0)
          continue;
        size_t chunks = 0;
        struct evbuffer *got = decode_all(&k, &ro, how, (uint32_t)(n + how), &chunks);
        if (evbuffer_get_length(got) != n || chunks != want_chunks)
          fail_msg("%s, %zu bytes, %s: got %zu bytes in %zu chunks", cipher_names[i], n,
                   feed_names[how], evbuffer_get_length(got), chunks);
        assert_evbuffer_is(got, data, n);
        evbuffer_free(got);
      }

      /* Chunk by chunk: every chunk full but the last. */
      ss_decoder_t d;
      decoder_for(&k, &d);
      struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
      add_ref(in, ro.p, ro.len);
      for (size_t c = 0; c < want_chunks; c++) {
        size_t before = evbuffer_get_length(plain);
        assert_int_equal(open_ok(&d, in, plain, 1), 1);
        size_t want = c + 1 < want_chunks ? SS_MAX_PAYLOAD : n - c * SS_MAX_PAYLOAD;
        assert_int_equal(evbuffer_get_length(plain) - before, want);
      }
      assert_int_equal(open_ok(&d, in, plain, 1), 0);
      assert_evbuffer_is(plain, data, n);
      evbuffer_free(in);
      evbuffer_free(plain);
      ss_decoder_clear(&d);

      ro_free(&ro);
      evbuffer_free(plain_in);
      evbuffer_free(wire);
      free(data);
      key_clear(&k);
    }
  }
}

/* ss_chunk_seal() and ss_chunks_seal() share the session's nonces: mixed,
 * they make one stream. Sealing appends to what out already holds. */
static void test_mixed_sealing_one_stream(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k;
    key_init(&k, i, 3);
    uint8_t *data = test_pattern_new(3 * SS_MAX_PAYLOAD, 4);
    struct evbuffer *wire = evbuffer_new(), *plain_in = evbuffer_new();
    assert_int_equal(evbuffer_add(wire, "salt", 4), 0);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, data, 10), 0);
    assert_int_equal(evbuffer_add(plain_in, data + 10, SS_MAX_PAYLOAD + 7), 0);
    assert_int_equal(ss_chunks_seal(&k.enc, plain_in, wire), 0);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, data + 10 + SS_MAX_PAYLOAD + 7, SS_MAX_PAYLOAD),
                     0);
    size_t n = 10 + SS_MAX_PAYLOAD + 7 + SS_MAX_PAYLOAD;
    assert_int_equal(evbuffer_get_length(wire), 4 + n + 4 * SS_CHUNK_OVERHEAD);
    uint8_t salt[4];
    assert_int_equal(evbuffer_remove(wire, salt, 4), 4);
    assert_memory_equal(salt, "salt", 4);

    ro_bytes_t ro = ro_from_evbuffer(wire);
    size_t chunks = 0;
    struct evbuffer *got = decode_all(&k, &ro, FEED_RANDOM, 5, &chunks);
    assert_int_equal(chunks, 4);
    assert_evbuffer_is(got, data, n);
    evbuffer_free(got);
    ro_free(&ro);
    evbuffer_free(wire);
    evbuffer_free(plain_in);
    free(data);
    key_clear(&k);
  }
}

/* A length with either reserved bit set is refused as soon as the length
 * part is there, after the chunks before it were delivered. 0x3FFF
 * itself is fine. */
static void test_length_over_max(void **state) {
  (void)state;
  static const unsigned bad_lengths[] = {0x4000, 0x4001, 0x7FFF, 0x8000, 0xC000, 0xFFFF};
  uint8_t *payload = test_pattern_new(0x4000, 6);
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    for (size_t b = 0; b < COUNT(bad_lengths); b++) {
      stream_key_t k;
      key_init(&k, i, 7);
      struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
      assert_int_equal(ss_chunk_seal(&k.enc, wire, (const uint8_t *)"ok", 2), 0);
      craft_length(&k.enc, wire, bad_lengths[b]);
      ro_bytes_t head = ro_from_evbuffer(wire);
      craft_payload(&k.enc, wire, payload, 0x4000);
      ro_bytes_t whole = ro_from_evbuffer(wire);
      /* Without its payload: the decoder does not wait for bytes it will
       * refuse anyway. Then with a payload of that length (up to 0x4000
       * here) after it. */
      const ro_bytes_t *feeds[] = {&head, &whole};
      for (size_t f = 0; f < COUNT(feeds); f++) {
        ss_decoder_t d;
        decoder_for(&k, &d);
        struct evbuffer *in = evbuffer_new();
        add_ref(in, feeds[f]->p, feeds[f]->len);
        evbuffer_drain(plain, evbuffer_get_length(plain));
        assert_int_equal(open_err(&d, in, plain, "chunk length over 0x3FFF"), 1);
        assert_evbuffer_is(plain, "ok", 2);
        ss_decoder_clear(&d);
        evbuffer_free(in);
      }
      ro_free(&head);
      ro_free(&whole);
      evbuffer_free(wire);
      evbuffer_free(plain);
      key_clear(&k);
    }
    /* The largest length allowed, crafted the same way, opens. */
    stream_key_t k;
    key_init(&k, i, 8);
    struct evbuffer *wire = evbuffer_new();
    craft_length(&k.enc, wire, 0x3FFF);
    craft_payload(&k.enc, wire, payload, 0x3FFF);
    ro_bytes_t ro = ro_from_evbuffer(wire);
    size_t chunks = 0;
    struct evbuffer *got = decode_all(&k, &ro, FEED_BYTES, 0, &chunks);
    assert_int_equal(chunks, 1);
    assert_evbuffer_is(got, payload, 0x3FFF);
    evbuffer_free(got);
    ro_free(&ro);
    evbuffer_free(wire);
    key_clear(&k);
  }
  free(payload);
}

/* The spec does not forbid an empty payload, and we accept one: it counts
 * as a chunk (two nonces) and adds nothing. */
static void test_zero_length_chunk(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k;
    key_init(&k, i, 9);
    struct evbuffer *wire = evbuffer_new();
    craft_chunk(&k.enc, wire, (const uint8_t *)"", 0); /* first */
    assert_int_equal(evbuffer_get_length(wire), SS_LEN_CHUNK + SS_TAG_LEN);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, (const uint8_t *)"abc", 3), 0);
    craft_chunk(&k.enc, wire, (const uint8_t *)"", 0); /* between */
    craft_chunk(&k.enc, wire, (const uint8_t *)"", 0); /* twice */
    assert_int_equal(ss_chunk_seal(&k.enc, wire, (const uint8_t *)"de", 2), 0);
    craft_chunk(&k.enc, wire, (const uint8_t *)"", 0); /* last */
    ro_bytes_t ro = ro_from_evbuffer(wire);
    for (feed_t how = FEED_WHOLE; how <= FEED_RANDOM; how++) {
      size_t chunks = 0;
      struct evbuffer *got = decode_all(&k, &ro, how, 3, &chunks);
      assert_int_equal(chunks, 6);
      assert_evbuffer_is(got, "abcde", 5);
      evbuffer_free(got);
    }
    ro_free(&ro);
    evbuffer_free(wire);
    key_clear(&k);
  }
}

/* Every single bit flip in a 3-chunk stream: the decoder fails at the
 * chunk that holds it, for the part that holds it, with the chunks before
 * already delivered; and it stays failed, even for good bytes. */
static void test_bit_flips(void **state) {
  (void)state;
  static const size_t sizes[] = {100, 1, 57};
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k;
    key_init(&k, i, 12);
    uint8_t plain_all[158];
    test_fill_pattern(plain_all, sizeof plain_all, 13);
    struct evbuffer *wire = evbuffer_new();
    size_t chunk_start[4] = {0}, plain_start[4] = {0};
    for (size_t c = 0; c < 3; c++) {
      assert_int_equal(ss_chunk_seal(&k.enc, wire, plain_all + plain_start[c], sizes[c]), 0);
      chunk_start[c + 1] = evbuffer_get_length(wire);
      plain_start[c + 1] = plain_start[c] + sizes[c];
    }
    size_t n = evbuffer_get_length(wire);
    assert_int_equal(n, 158 + 3 * SS_CHUNK_OVERHEAD);
    uint8_t good[158 + 3 * SS_CHUNK_OVERHEAD], bad[sizeof good];
    assert_int_equal(evbuffer_copyout(wire, good, n), (ev_ssize_t)n);

    for (size_t bit = 0; bit < n * 8; bit++) {
      size_t pos = bit / 8, c = 0;
      while (pos >= chunk_start[c + 1])
        c++;
      const char *why =
          pos - chunk_start[c] < SS_LEN_CHUNK ? "length tag mismatch" : "payload tag mismatch";
      memcpy(bad, good, n);
      bad[pos] ^= (uint8_t)(1u << (bit % 8));
      /* Whole, and for a seventh of the flips byte at a time. */
      for (int bytewise = 0; bytewise < (bit % 7 == 0 ? 2 : 1); bytewise++) {
        ss_decoder_t d;
        decoder_for(&k, &d);
        struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
        size_t chunks = 0, fed = 0;
        ss_decode_result_t r = SS_DECODE_OK;
        const char *got_why = NULL;
        while (r == SS_DECODE_OK && fed < n) {
          size_t piece = bytewise ? 1 : n;
          add_ref(in, bad + fed, piece);
          fed += piece;
          size_t now = 0;
          r = ss_chunks_open(&d, in, plain, 0, &now, &got_why);
          chunks += now;
        }
        if (r != SS_DECODE_ERROR)
          fail_msg("%s: bit %zu (chunk %zu) flipped, and the stream decoded", cipher_names[i], bit,
                   c);
        assert_string_equal(got_why, why);
        assert_int_equal(chunks, c);
        assert_evbuffer_is(plain, plain_all, plain_start[c]);
        /* Failed stays failed: the good bytes of the chunk do not help. */
        evbuffer_drain(in, evbuffer_get_length(in));
        add_ref(in, good + chunk_start[c], n - chunk_start[c]);
        assert_int_equal(open_err(&d, in, plain, NULL), 0);
        assert_int_equal(open_err(&d, in, plain, NULL), 0);
        assert_evbuffer_is(plain, plain_all, plain_start[c]);
        evbuffer_free(in);
        evbuffer_free(plain);
        ss_decoder_clear(&d);
      }
    }
    evbuffer_free(wire);
    key_clear(&k);
  }
}

/* max_chunks stops the decoder at a chunk boundary, before even the next
 * length part, which stays in the input for the next call. */
static void test_max_chunks(void **state) {
  (void)state;
  static const size_t sizes[] = {10, 20, 30, 40, 50};
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k;
    key_init(&k, i, 14);
    uint8_t data[150];
    test_fill_pattern(data, sizeof data, 15);
    struct evbuffer *wire = evbuffer_new();
    size_t at = 0;
    for (size_t c = 0; c < COUNT(sizes); c++) {
      assert_int_equal(ss_chunk_seal(&k.enc, wire, data + at, sizes[c]), 0);
      at += sizes[c];
    }
    ro_bytes_t ro = ro_from_evbuffer(wire);
    ss_decoder_t d;
    decoder_for(&k, &d);
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    add_ref(in, ro.p, ro.len);

    assert_int_equal(open_ok(&d, in, plain, 2), 2);
    assert_evbuffer_is(plain, data, 30);
    assert_int_equal(evbuffer_get_length(in), ro.len - 30 - 2 * SS_CHUNK_OVERHEAD);
    assert_int_equal(d.next_len, -1);
    assert_int_equal(open_ok(&d, in, plain, 1), 1);
    assert_evbuffer_is(plain, data, 60);
    assert_int_equal(evbuffer_get_length(in), 90 + 2 * SS_CHUNK_OVERHEAD);
    /* Fewer chunks there than allowed: all of them, and OK. */
    assert_int_equal(open_ok(&d, in, plain, 5), 2);
    assert_evbuffer_is(plain, data, 150);
    assert_int_equal(open_ok(&d, in, plain, 1), 0);

    /* A limit met by a chunk whose length part came in an earlier call. */
    ss_decoder_clear(&d);
    decoder_for(&k, &d);
    evbuffer_drain(plain, evbuffer_get_length(plain));
    add_ref(in, ro.p, SS_LEN_CHUNK + 3);
    assert_int_equal(open_ok(&d, in, plain, 1), 0);
    assert_int_equal(d.next_len, 10);
    add_ref(in, ro.p + SS_LEN_CHUNK + 3, ro.len - SS_LEN_CHUNK - 3);
    assert_int_equal(open_ok(&d, in, plain, 1), 1);
    assert_evbuffer_is(plain, data, 10);
    assert_int_equal(open_ok(&d, in, plain, 0), 4);
    assert_evbuffer_is(plain, data, 150);

    /* chunks may be NULL. */
    assert_int_equal(ss_chunks_open(&d, in, plain, 0, NULL, NULL), SS_DECODE_OK);
    evbuffer_free(in);
    evbuffer_free(plain);
    ss_decoder_clear(&d);
    ro_free(&ro);
    evbuffer_free(wire);
    key_clear(&k);
  }
}

/* ss_chunk_seal() takes 1 to 0x3FFF bytes. Outside that it adds nothing
 * and uses no nonce (the lengths are checked first), so the next good
 * chunk is still the stream's first. An empty ss_chunks_seal() is no
 * chunk at all. */
static void test_chunk_seal_bounds(void **state) {
  (void)state;
  uint8_t *big = test_pattern_new(SS_MAX_PAYLOAD + 1, 16);
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k;
    key_init(&k, i, 17);
    struct evbuffer *wire = evbuffer_new(), *empty = evbuffer_new();
    assert_int_equal(ss_chunk_seal(&k.enc, wire, big, 0), -1);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, big, SS_MAX_PAYLOAD + 1), -1);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, big, 0x10000), -1);
    assert_int_equal(ss_chunk_seal(&k.enc, wire, big, SIZE_MAX), -1);
    assert_int_equal(ss_chunks_seal(&k.enc, empty, wire), 0);
    assert_int_equal(evbuffer_get_length(wire), 0);
    static const uint8_t zero[SS_NONCE_LEN] = {0};
    assert_memory_equal(k.enc.nonce, zero, SS_NONCE_LEN);

    assert_int_equal(ss_chunk_seal(&k.enc, wire, big, SS_MAX_PAYLOAD), 0);
    ro_bytes_t ro = ro_from_evbuffer(wire);
    size_t chunks = 0;
    struct evbuffer *got = decode_all(&k, &ro, FEED_WHOLE, 0, &chunks);
    assert_int_equal(chunks, 1);
    assert_evbuffer_is(got, big, SS_MAX_PAYLOAD);
    evbuffer_free(got);
    ro_free(&ro);
    evbuffer_free(wire);
    evbuffer_free(empty);
    key_clear(&k);
  }
  free(big);
}

/* Another key's stream, or this key's with another salt, fails at the
 * first length tag and delivers nothing. */
static void test_wrong_key(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    stream_key_t k, other_salt, other_password;
    key_init(&k, i, 18);
    key_init(&other_salt, i, 19);
    key_init(&other_password, i, 18);
    ss_session_clear(&other_password.enc);
    assert_int_equal(ss_master_key(other_password.c, "ptd-chunk-tesT", other_password.master), 0);
    assert_int_equal(ss_session_init(&other_password.enc, other_password.c, other_password.master,
                                     other_password.salt, true),
                     0);
    stream_key_t *senders[] = {&other_salt, &other_password};
    for (size_t s = 0; s < COUNT(senders); s++) {
      struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
      assert_int_equal(ss_chunk_seal(&senders[s]->enc, wire, (const uint8_t *)"hi", 2), 0);
      ss_decoder_t d;
      decoder_for(&k, &d);
      assert_int_equal(open_err(&d, wire, plain, "length tag mismatch"), 0);
      assert_int_equal(evbuffer_get_length(plain), 0);
      ss_decoder_clear(&d);
      evbuffer_free(wire);
      evbuffer_free(plain);
    }
    key_clear(&k);
    key_clear(&other_salt);
    key_clear(&other_password);
  }
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crafted_chunk_is_ss_chunk_seal),
      cmocka_unit_test(test_roundtrip_sizes),
      cmocka_unit_test(test_mixed_sealing_one_stream),
      cmocka_unit_test(test_length_over_max),
      cmocka_unit_test(test_zero_length_chunk),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_max_chunks),
      cmocka_unit_test(test_chunk_seal_bounds),
      cmocka_unit_test(test_wrong_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
