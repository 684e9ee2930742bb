/* test_shadow_codec: Shadowsocks' per-connection codecs (shadow_codec.c)
 * and the transport around them (shadow.c), driven without sockets.
 *
 * Each codec gets a fake codec_io_t (end_t): its wire_out is an evbuffer
 * the test reads, ready()/kick()/error() only count, and the test calls
 * on_wire/on_plain itself, as codec_stream.c would, so every byte a codec
 * sends can be inspected, cut, replayed or reflected before it is
 * delivered. The client's start() arms its header timer on a real
 * event_base, run in bounded passes (testutil's test_loop) only by the
 * test that waits for that timer.
 *
 * Codecs and server instances come from the transport table
 * (transport_find("shadow")) with the arguments a user gives (kvlists of
 * password, cipherName, target), so shadow.c's parsing is what builds
 * them. What a codec sends is checked by opening it with a session of our
 * own (ss_aead/ss_chunk, tested in test_shadow_aead.c and
 * test_shadow_chunk.c), and hand-made client streams (a bad address
 * header from a client who knows the key) are sealed the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "lib/kvlist.h"
#include "transports/shadow/shadow_codec.h"
#include "transports/shadow/ss_addr.h"
#include "transports/shadow/ss_aead.h"
#include "transports/shadow/ss_chunk.h"
#include "transports/transport.h"

#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define WAIT_MAX_ITERATIONS 5000
#define TEST_MAX_SECONDS 10
/* Longest one loop pass waits when nothing happens. */
#define GUARD_US 5000

#define PASSWORD "ptd-codec-s3cret-hunter2"

static const char *const cipher_names[] = {"chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm"};
/* How the tests spell them to the transport: any case, either name. */
static const char *const cipher_spellings[] = {"chacha20-ietf-poly1305", "AES-256-GCM",
                                               "aead_aes_128_gcm"};

/* The header a client without a target sends: 0.0.0.0:0. */
static const uint8_t no_target_header[] = {1, 0, 0, 0, 0, 0, 0};

/* ---- the fake stream ---- */

/* One codec as its stream adapter holds it. */
typedef struct end {
  codec_io_t io; /* first: the codec's io points here */
  codec_t *codec;
  struct evbuffer *wire_in;   /* from the peer, not yet consumed */
  struct evbuffer *plain_in;  /* for on_plain */
  struct evbuffer *plain_out; /* what the codec delivered */
  int ready, kicks, errors;
} end_t;

static void end_kick(codec_io_t *io) { ((end_t *)io)->kicks++; }
static void end_ready(codec_io_t *io) { ((end_t *)io)->ready++; }
static void end_error(codec_io_t *io) { ((end_t *)io)->errors++; }

typedef struct harness {
  test_loop_t loop;
  struct event *guard;
  const transport_ops_t *t;
} harness_t;

static void on_guard(evutil_socket_t fd, short what, void *arg) {}

static int setup(void **state) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return -1;
  if (test_loop_init(&h->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0) {
    free(h);
    return -1;
  }
  h->guard = evtimer_new(h->loop.base, on_guard, NULL);
  h->t = transport_find("shadow");
  if (!h->guard || !h->t)
    return -1;
  test_libevent_warnings_reset();
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness_t *h = *state;
  event_free(h->guard);
  test_loop_free(&h->loop);
  free(h);
  return test_libevent_warnings_check();
}

/* One pass: waits for something to happen (at most GUARD_US), runs it,
 * then testutil's bounded nonblocking pass. */
static void step(harness_t *h) {
  struct timeval tv = {0, GUARD_US};
  assert_int_equal(evtimer_add(h->guard, &tv), 0);
  assert_true(event_base_loop(h->loop.base, EVLOOP_ONCE) >= 0);
  test_loop_step(&h->loop);
}

#define WAIT_FOR(h, cond, what)                                                                    \
  do {                                                                                             \
    test_loop_begin_wait(&(h)->loop, (what));                                                      \
    while (!(cond))                                                                                \
      step(h);                                                                                     \
  } while (0)

/* Wraps codec c as the adapter does: io set, then start(). */
static void end_init(end_t *e, harness_t *h, codec_t *c) {
  assert_non_null(c);
  memset(e, 0, sizeof *e);
  e->io.base = h->loop.base;
  e->io.wire_out = evbuffer_new();
  e->io.kick = end_kick;
  e->io.ready = end_ready;
  e->io.error = end_error;
  e->wire_in = evbuffer_new();
  e->plain_in = evbuffer_new();
  e->plain_out = evbuffer_new();
  assert_non_null(e->io.wire_out);
  assert_non_null(e->wire_in);
  assert_non_null(e->plain_in);
  assert_non_null(e->plain_out);
  e->codec = c;
  c->io = &e->io;
  if (c->ops->start)
    assert_int_equal(c->ops->start(c), CODEC_OK);
}

static void end_free(end_t *e) {
  e->codec->ops->free(e->codec);
  evbuffer_free(e->io.wire_out);
  evbuffer_free(e->wire_in);
  evbuffer_free(e->plain_in);
  evbuffer_free(e->plain_out);
}

/* The application writes: all of it must be taken. */
static void end_send(end_t *e, const void *p, size_t n) {
  assert_int_equal(evbuffer_add(e->plain_in, p, n), 0);
  assert_int_equal(e->codec->ops->on_plain(e->codec, e->plain_in, e->io.wire_out), CODEC_OK);
  assert_int_equal(evbuffer_get_length(e->plain_in), 0);
}

/* Bytes arrive from the peer. */
static codec_result_t end_deliver(end_t *e, const void *p, size_t n) {
  if (n > 0)
    assert_int_equal(evbuffer_add(e->wire_in, p, n), 0);
  return e->codec->ops->on_wire(e->codec, e->wire_in, e->plain_out);
}

/* What e has sent so far, taken off its wire (the caller frees it). */
static struct evbuffer *end_take(end_t *e) {
  struct evbuffer *b = evbuffer_new();
  assert_non_null(b);
  assert_int_equal(evbuffer_add_buffer(b, e->io.wire_out), 0);
  return b;
}

static uint8_t *bytes_of(struct evbuffer *b) {
  return evbuffer_get_length(b) ? evbuffer_pullup(b, -1) : (uint8_t *)"";
}

/* Everything from sent to a codec at once. */
static codec_result_t pump(end_t *from, end_t *to) {
  assert_int_equal(evbuffer_add_buffer(to->wire_in, from->io.wire_out), 0);
  return to->codec->ops->on_wire(to->codec, to->wire_in, to->plain_out);
}

/* The same in pieces of pseudo-random sizes (1..cap bytes): each call
 * must make progress or ask for more, and the last must be OK. */
static void pump_pieces(end_t *from, end_t *to, uint32_t seed, size_t cap) {
  struct evbuffer *wire = end_take(from);
  size_t n = evbuffer_get_length(wire);
  const uint8_t *p = bytes_of(wire);
  uint32_t x = seed ? seed : 1;
  codec_result_t r = CODEC_OK;
  for (size_t off = 0; off < n;) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t piece = 1 + x % cap;
    if (piece > n - off)
      piece = n - off;
    r = end_deliver(to, p + off, piece);
    off += piece;
    if (r != CODEC_OK && r != CODEC_NEED_MORE)
      fail_msg("delivering %zu of %zu bytes gave %d", off, n, (int)r);
  }
  assert_int_equal(r, CODEC_OK);
  evbuffer_free(wire);
}

/* ---- the transport ---- */

/* A list of key, value, ..., NULL. */
static kvlist_t *kvl(const char *key, ...) {
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  va_list ap;
  va_start(ap, key);
  for (const char *k = key; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    assert_int_equal(kvlist_add(l, k, v), 0);
  }
  va_end(ap);
  return l;
}

/* A client codec from arguments, which must check out. */
static codec_t *client_from(harness_t *h, kvlist_t *args) {
  char err[256] = "";
  if (h->t->client_args_check(args, err, sizeof err) != 0)
    fail_msg("client_args_check: %s", err);
  codec_t *c = h->t->client_codec_new(args, err, sizeof err);
  if (!c)
    fail_msg("client_codec_new: %s", err);
  kvlist_free(args);
  return c;
}

static codec_t *client_codec(harness_t *h, const char *cipher, const char *target) {
  if (target)
    return client_from(h, kvl("password", PASSWORD, "cipherName", cipher, "target", target, NULL));
  return client_from(h, kvl("password", PASSWORD, "cipherName", cipher, NULL));
}

static transport_server_t *server_with(harness_t *h, const char *password, const char *cipher) {
  kvlist_t *opts = kvl("password", password, "cipherName", cipher, NULL);
  const kvlist_t *args_out = (const kvlist_t *)opts; /* must be set */
  char err[256] = "";
  transport_server_t *srv = h->t->server_new(opts, NULL, &args_out, err, sizeof err);
  if (!srv)
    fail_msg("server_new: %s", err);
  /* Clients need the password, which is no ARGS: line's business. */
  assert_null(args_out);
  kvlist_free(opts);
  return srv;
}

static transport_server_t *server_instance(harness_t *h, const char *cipher) {
  return server_with(h, PASSWORD, cipher);
}

static void assert_server_silent(const end_t *sv) {
  assert_int_equal(sv->ready, 0);
  assert_int_equal(sv->errors, 0);
  assert_int_equal(evbuffer_get_length(sv->plain_out), 0);
  assert_int_equal(evbuffer_get_length(sv->io.wire_out), 0);
  assert_null(sv->codec->ops->destination(sv->codec));
}

/* ---- our own view of the wire ---- */

/* Opens a direction's wire (salt, then whole chunks) with a session of
 * our own: the plaintext of each chunk in chunks[0..), up to max of them;
 * returns how many. Nothing may be left over or fail. */
static size_t open_wire(const char *cipher, struct evbuffer *wire, struct evbuffer **chunks,
                        size_t max) {
  const ss_cipher_t *c = ss_cipher_find(cipher);
  assert_non_null(c);
  size_t n = evbuffer_get_length(wire);
  assert_true(n >= c->key_len);
  const uint8_t *p = bytes_of(wire);
  uint8_t master[SS_KEY_MAX];
  ss_session_t s;
  ss_decoder_t d;
  assert_int_equal(ss_master_key(c, PASSWORD, master), 0);
  assert_int_equal(ss_session_init(&s, c, master, p, false), 0);
  ss_decoder_init(&d, &s);
  struct evbuffer *in = test_evbuffer_with(p + c->key_len, n - c->key_len);
  size_t k = 0;
  for (;;) {
    struct evbuffer *one = evbuffer_new();
    size_t got = 0;
    const char *why = NULL;
    assert_non_null(one);
    if (ss_chunks_open(&d, in, one, 1, &got, &why) != SS_DECODE_OK)
      fail_msg("our own decoder refused chunk %zu: %s", k, why);
    if (got == 0) {
      evbuffer_free(one);
      break;
    }
    assert_true(k < max);
    chunks[k++] = one;
  }
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(d.next_len, -1);
  evbuffer_free(in);
  ss_decoder_clear(&d);
  return k;
}

static void free_chunks(struct evbuffer **chunks, size_t n) {
  for (size_t i = 0; i < n; i++)
    evbuffer_free(chunks[i]);
}

/* A client stream made by hand: a salt from seed, then one chunk per
 * piece, sealed under PASSWORD (an empty piece is a zero-length chunk,
 * which ss_chunk_seal() will not make). */
static struct evbuffer *craft_request(const char *cipher, uint32_t seed, const char *const *pieces,
                                      const size_t *lens, size_t n) {
  const ss_cipher_t *c = ss_cipher_find(cipher);
  uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
  ss_session_t s;
  assert_non_null(c);
  test_fill_pattern(salt, sizeof salt, seed);
  assert_int_equal(ss_master_key(c, PASSWORD, master), 0);
  assert_int_equal(ss_session_init(&s, c, master, salt, true), 0);
  struct evbuffer *wire = test_evbuffer_with(salt, c->key_len);
  for (size_t i = 0; i < n; i++) {
    if (lens[i] > 0) {
      assert_int_equal(ss_chunk_seal(&s, wire, (const uint8_t *)pieces[i], lens[i]), 0);
      continue;
    }
    uint8_t len_part[SS_LEN_CHUNK] = {0, 0}, tag[SS_TAG_LEN];
    assert_int_equal(ss_seal(&s, len_part, len_part, 2), 0);
    assert_int_equal(ss_seal(&s, tag, (const uint8_t *)"", 0), 0);
    assert_int_equal(evbuffer_add(wire, len_part, sizeof len_part), 0);
    assert_int_equal(evbuffer_add(wire, tag, sizeof tag), 0);
  }
  ss_session_clear(&s);
  return wire;
}

/* ---- round trips ---- */

static void test_roundtrip_through_transport_table(void **state) {
  harness_t *h = *state;
  static const char request[] = "GET / HTTP/1.0\r\n\r\n";
  static const char reply[] = "HTTP/1.0 200 OK\r\n\r\nhello";
  static const uint8_t target_addr[] = {192, 0, 2, 10};
  uint8_t *up = test_pattern_new(100000, 1), *down = test_pattern_new(150000, 2);
  for (size_t i = 0; i < COUNT(cipher_spellings); i++) {
    transport_server_t *srv = server_instance(h, cipher_spellings[i]);
    end_t cl, sv;
    end_init(&cl, h, client_codec(h, cipher_spellings[i], "192.0.2.10:443"));
    end_init(&sv, h, h->t->server_codec_new(srv));
    /* The server's owner waits for ready(); the client's does not. */
    assert_true(sv.codec->ops->handshake);
    assert_false(cl.codec->ops->handshake);
    /* The client says nothing before it has something to say. */
    assert_int_equal(evbuffer_get_length(cl.io.wire_out), 0);

    end_send(&cl, request, sizeof request - 1);
    assert_int_equal(pump(&cl, &sv), CODEC_OK);
    assert_int_equal(sv.ready, 1);
    assert_evbuffer_is(sv.plain_out, request, sizeof request - 1);
    const addr_endpoint_t *dest = sv.codec->ops->destination(sv.codec);
    assert_non_null(dest);
    assert_ip_endpoint(dest, "192.0.2.10", 443, target_addr);
    /* Nothing back until the server's side has something to say. */
    assert_int_equal(evbuffer_get_length(sv.io.wire_out), 0);

    end_send(&sv, reply, sizeof reply - 1);
    assert_int_equal(pump(&sv, &cl), CODEC_OK);
    assert_evbuffer_is(cl.plain_out, reply, sizeof reply - 1);

    /* Then a lot both ways, in pieces. */
    evbuffer_drain(sv.plain_out, evbuffer_get_length(sv.plain_out));
    evbuffer_drain(cl.plain_out, evbuffer_get_length(cl.plain_out));
    end_send(&cl, up, 100000);
    pump_pieces(&cl, &sv, (uint32_t)(3 + i), 3000);
    assert_evbuffer_is(sv.plain_out, up, 100000);
    end_send(&sv, down, 150000);
    pump_pieces(&sv, &cl, (uint32_t)(5 + i), 20000);
    assert_evbuffer_is(cl.plain_out, down, 150000);

    assert_int_equal(sv.ready, 1);
    assert_int_equal(cl.ready, 0);
    assert_int_equal(sv.errors + cl.errors, 0);
    end_free(&cl);
    end_free(&sv);
    h->t->server_free(srv);
  }
  free(up);
  free(down);
}

/* The target argument is the header's address, in its three forms; with
 * none the header names 0.0.0.0:0. The first payload shares the header's
 * chunk. */
static void test_target_is_the_header(void **state) {
  harness_t *h = *state;
  static const struct {
    const char *target;
    uint8_t header[32];
    size_t len;
  } cases[] = {
      {NULL, {1, 0, 0, 0, 0, 0, 0}, 7},
      {"192.0.2.10:443", {1, 192, 0, 2, 10, 0x01, 0xbb}, 7},
      {"[2001:db8::1]:8080",
       {4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90},
       19},
      {"example.com:80", {3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0, 80}, 15},
  };
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    for (size_t k = 0; k < COUNT(cases); k++) {
      end_t cl, sv;
      end_init(&cl, h, client_codec(h, cipher_spellings[i], cases[k].target));
      end_init(&sv, h, h->t->server_codec_new(srv));
      end_send(&cl, "payload", 7);
      /* Copied off before the server consumes it. */
      struct evbuffer *wire =
          test_evbuffer_with(bytes_of(cl.io.wire_out), evbuffer_get_length(cl.io.wire_out));
      struct evbuffer *chunks[4];
      assert_int_equal(open_wire(cipher_names[i], wire, chunks, COUNT(chunks)), 1);
      uint8_t want[64];
      memcpy(want, cases[k].header, cases[k].len);
      memcpy(want + cases[k].len, "payload", 7);
      assert_evbuffer_is(chunks[0], want, cases[k].len + 7);
      free_chunks(chunks, 1);
      evbuffer_free(wire);

      /* Our server strips whichever it is, and reports it. */
      assert_int_equal(pump(&cl, &sv), CODEC_OK);
      assert_int_equal(sv.ready, 1);
      assert_evbuffer_is(sv.plain_out, "payload", 7);
      addr_endpoint_t ep;
      assert_int_equal(ss_addr_parse(cases[k].header, cases[k].len, &ep), (int)cases[k].len);
      const addr_endpoint_t *dest = sv.codec->ops->destination(sv.codec);
      assert_non_null(dest);
      assert_int_equal(dest->family, ep.family);
      assert_string_equal(dest->host, ep.host);
      assert_int_equal(dest->port, ep.port);
      end_free(&cl);
      end_free(&sv);
    }
    h->t->server_free(srv);
  }
}

/* ---- the header timer ---- */

/* Application bytes before the timer: salt, then one chunk holding header
 * and payload, and the timer is gone (nothing left pending on the base).
 * A first write larger than a chunk fills the first chunk to the brim. */
static void test_header_coalesced_with_first_payload(void **state) {
  harness_t *h = *state;
  uint8_t *big = test_pattern_new(3 * SS_MAX_PAYLOAD, 7);
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    for (int large = 0; large < 2; large++) {
      end_t cl;
      end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
      /* The timer is armed and nothing sent yet. */
      assert_int_equal(event_base_loop(h->loop.base, EVLOOP_NONBLOCK), 0);
      assert_int_equal(evbuffer_get_length(cl.io.wire_out), 0);

      size_t n = large ? 3 * SS_MAX_PAYLOAD : 5;
      end_send(&cl, large ? big : (const uint8_t *)"first", n);
      /* No timer left to fire: event_base_loop says there is nothing. */
      assert_int_equal(event_base_loop(h->loop.base, EVLOOP_NONBLOCK), 1);

      struct evbuffer *wire = end_take(&cl), *chunks[8];
      size_t k = open_wire(cipher_names[i], wire, chunks, COUNT(chunks));
      struct evbuffer *all = evbuffer_new();
      assert_non_null(all);
      for (size_t j = 0; j < k; j++)
        assert_int_equal(evbuffer_add_buffer_reference(all, chunks[j]), 0);
      uint8_t *want = malloc(sizeof no_target_header + n);
      assert_non_null(want);
      memcpy(want, no_target_header, sizeof no_target_header);
      memcpy(want + sizeof no_target_header, large ? big : (const uint8_t *)"first", n);
      assert_evbuffer_is(all, want, sizeof no_target_header + n);
      if (large) {
        assert_int_equal(k, 4);
        assert_int_equal(evbuffer_get_length(chunks[0]), SS_MAX_PAYLOAD);
      } else {
        assert_int_equal(k, 1);
      }
      /* Salt and chunks, nothing else. */
      assert_int_equal(evbuffer_get_length(wire), ss_cipher_find(cipher_names[i])->key_len +
                                                      sizeof no_target_header + n +
                                                      k * SS_CHUNK_OVERHEAD);
      free(want);
      evbuffer_free(all);
      free_chunks(chunks, k);
      evbuffer_free(wire);
      assert_int_equal(cl.errors, 0);
      end_free(&cl);
    }
  }
  free(big);
}

/* No application bytes: the header goes alone once the timer fires
 * (a server-speaks-first protocol must not wait), and later bytes get
 * chunks of their own. */
static void test_header_alone_after_timer(void **state) {
  harness_t *h = *state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    end_t cl, sv;
    end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
    end_init(&sv, h, h->t->server_codec_new(srv));
    assert_int_equal(evbuffer_get_length(cl.io.wire_out), 0);
    WAIT_FOR(h, evbuffer_get_length(cl.io.wire_out) > 0, "the header timer");
    assert_int_equal(cl.errors, 0);

    struct evbuffer *first = end_take(&cl), *chunks[4];
    end_send(&cl, "late", 4);
    struct evbuffer *wire = test_evbuffer_with(bytes_of(first), evbuffer_get_length(first));
    assert_int_equal(
        evbuffer_add(wire, bytes_of(cl.io.wire_out), evbuffer_get_length(cl.io.wire_out)), 0);
    assert_int_equal(open_wire(cipher_names[i], wire, chunks, COUNT(chunks)), 2);
    assert_evbuffer_is(chunks[0], no_target_header, sizeof no_target_header);
    assert_evbuffer_is(chunks[1], "late", 4);
    free_chunks(chunks, 2);
    evbuffer_free(wire);

    /* The lone header is already enough for the server. */
    assert_int_equal(end_deliver(&sv, bytes_of(first), evbuffer_get_length(first)), CODEC_OK);
    assert_int_equal(sv.ready, 1);
    assert_int_equal(evbuffer_get_length(sv.plain_out), 0);
    assert_int_equal(pump(&cl, &sv), CODEC_OK);
    assert_evbuffer_is(sv.plain_out, "late", 4);
    assert_int_equal(sv.ready, 1);
    /* The timer does not come back. */
    evtimer_del(h->guard);
    assert_int_equal(event_base_loop(h->loop.base, EVLOOP_NONBLOCK), 1);
    evbuffer_free(first);
    end_free(&cl);
    end_free(&sv);
    h->t->server_free(srv);
  }
}

/* ---- what the server refuses ---- */

/* Bytes that are no Shadowsocks stream: silence as soon as the first
 * length tag can be judged (salt + 18 bytes), not before. */
static void test_server_discards_random_bytes(void **state) {
  harness_t *h = *state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    size_t salt = ss_cipher_find(cipher_names[i])->key_len;
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    const size_t lens[] = {salt + SS_LEN_CHUNK, salt + SS_LEN_CHUNK + 1, salt + 100, 4096};
    for (size_t k = 0; k < COUNT(lens); k++) {
      for (int zeros = 0; zeros < 2; zeros++) {
        uint8_t *junk = test_pattern_new(lens[k], (uint32_t)(100 + k));
        if (zeros)
          memset(junk, 0, lens[k]);
        end_t sv;
        end_init(&sv, h, h->t->server_codec_new(srv));
        assert_int_equal(end_deliver(&sv, junk, lens[k]), CODEC_DISCARD);
        assert_server_silent(&sv);
        end_free(&sv);
        free(junk);
      }
    }
    /* One byte short of a verdict, then the byte. */
    uint8_t *junk = test_pattern_new(salt + SS_LEN_CHUNK, 9);
    end_t sv;
    end_init(&sv, h, h->t->server_codec_new(srv));
    for (size_t k = 0; k + 1 < salt + SS_LEN_CHUNK; k++)
      assert_int_equal(end_deliver(&sv, junk + k, 1), CODEC_NEED_MORE);
    assert_server_silent(&sv);
    assert_int_equal(end_deliver(&sv, junk + salt + SS_LEN_CHUNK - 1, 1), CODEC_DISCARD);
    assert_server_silent(&sv);
    end_free(&sv);
    free(junk);
    h->t->server_free(srv);
  }
}

/* A real client with the wrong password, or the wrong cipher: silence. */
static void test_server_discards_wrong_key(void **state) {
  harness_t *h = *state;
  static const struct {
    const char *client_password, *client_cipher, *server_cipher;
  } cases[] = {
      {"not-" PASSWORD, "chacha20-ietf-poly1305", "chacha20-ietf-poly1305"},
      {"not-" PASSWORD, "aes-256-gcm", "aes-256-gcm"},
      {"not-" PASSWORD, "aes-128-gcm", "aes-128-gcm"},
      {PASSWORD "x", "aes-128-gcm", "aes-128-gcm"},
      {PASSWORD, "aes-256-gcm", "chacha20-ietf-poly1305"}, /* same salt length */
      {PASSWORD, "chacha20-ietf-poly1305", "aes-256-gcm"},
      {PASSWORD, "aes-128-gcm", "chacha20-ietf-poly1305"},
      {PASSWORD, "aes-256-gcm", "aes-128-gcm"},
  };
  for (size_t k = 0; k < COUNT(cases); k++) {
    transport_server_t *srv = server_instance(h, cases[k].server_cipher);
    end_t cl, sv;
    end_init(&cl, h,
             client_from(h, kvl("password", cases[k].client_password, "cipherName",
                                cases[k].client_cipher, NULL)));
    end_init(&sv, h, h->t->server_codec_new(srv));
    end_send(&cl, "hello there, server", 19);
    assert_int_equal(pump(&cl, &sv), CODEC_DISCARD);
    assert_server_silent(&sv);
    end_free(&cl);
    end_free(&sv);
    h->t->server_free(srv);
  }
}

/* A recorded client stream played to the same server again: refused as
 * soon as its first length tag opens, before any of its payload; while a
 * server that never saw it takes the very same bytes. */
static void test_server_discards_replay(void **state) {
  harness_t *h = *state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    size_t salt = ss_cipher_find(cipher_names[i])->key_len;
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    transport_server_t *other = server_instance(h, cipher_names[i]);
    end_t cl, first;
    end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
    end_init(&first, h, h->t->server_codec_new(srv));
    end_send(&cl, "the request", 11);
    end_send(&cl, " and more", 9); /* a second chunk */
    struct evbuffer *rec = end_take(&cl);
    const uint8_t *p = bytes_of(rec);
    size_t n = evbuffer_get_length(rec);
    assert_int_equal(end_deliver(&first, p, n), CODEC_OK);
    assert_int_equal(first.ready, 1);
    assert_evbuffer_is(first.plain_out, "the request and more", 20);

    end_t again;
    end_init(&again, h, h->t->server_codec_new(srv));
    assert_int_equal(end_deliver(&again, p, salt + SS_LEN_CHUNK - 1), CODEC_NEED_MORE);
    assert_int_equal(end_deliver(&again, p + salt + SS_LEN_CHUNK - 1, 1), CODEC_DISCARD);
    assert_server_silent(&again);
    end_free(&again);

    end_init(&again, h, h->t->server_codec_new(srv));
    assert_int_equal(end_deliver(&again, p, n), CODEC_DISCARD);
    assert_server_silent(&again);
    end_free(&again);

    /* Not the bytes: the memory. */
    end_init(&again, h, h->t->server_codec_new(other));
    assert_int_equal(end_deliver(&again, p, n), CODEC_OK);
    assert_int_equal(again.ready, 1);
    assert_evbuffer_is(again.plain_out, "the request and more", 20);
    end_free(&again);

    evbuffer_free(rec);
    end_free(&cl);
    end_free(&first);
    h->t->server_free(srv);
    h->t->server_free(other);
  }
}

/* The server's own reply sent back to it as a request: both directions
 * are built alike, so only the server's memory of its own salts refuses
 * it. The reply's plaintext is made a valid header, so a server that did
 * not send it (the control) would take it. */
static void test_server_discards_reflection(void **state) {
  harness_t *h = *state;
  static const char reply[] = "\x01\x7f\x00\x00\x01\x00\x50reflected";
  const size_t reply_len = sizeof reply - 1;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    transport_server_t *other = server_instance(h, cipher_names[i]);
    end_t cl, sv;
    end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
    end_init(&sv, h, h->t->server_codec_new(srv));
    end_send(&cl, "hi", 2);
    assert_int_equal(pump(&cl, &sv), CODEC_OK);
    assert_int_equal(sv.ready, 1);
    end_send(&sv, reply, reply_len);
    struct evbuffer *back = end_take(&sv);
    const uint8_t *p = bytes_of(back);
    size_t n = evbuffer_get_length(back);

    end_t refl;
    end_init(&refl, h, h->t->server_codec_new(srv));
    assert_int_equal(end_deliver(&refl, p, n), CODEC_DISCARD);
    assert_server_silent(&refl);
    end_free(&refl);

    end_init(&refl, h, h->t->server_codec_new(other));
    assert_int_equal(end_deliver(&refl, p, n), CODEC_OK);
    assert_int_equal(refl.ready, 1);
    assert_evbuffer_is(refl.plain_out, "reflected", 9);
    end_free(&refl);

    evbuffer_free(back);
    end_free(&cl);
    end_free(&sv);
    h->t->server_free(srv);
    h->t->server_free(other);
  }
}

/* A client who knows the key but sends a bad address header: silence.
 * Good headers in odd shapes (split over chunks, after an empty chunk,
 * alone) are taken. */
static void test_server_address_header(void **state) {
  harness_t *h = *state;
  static const struct {
    const char *pieces[3];
    size_t lens[3];
    size_t n;
    const char *plain; /* NULL: discarded */
    size_t plain_len;
  } cases[] = {
      {{"\x09\x01\x02\x03\x04\x00\x50hello"}, {12}, 1, NULL, 0},           /* atyp 9 */
      {{"\x00\x01\x02\x03\x04\x00\x50hello"}, {12}, 1, NULL, 0},           /* atyp 0 */
      {{"\x03\x00\x00\x50hello"}, {9}, 1, NULL, 0},                        /* empty name */
      {{"\x03\x03\x61\x00\x62\x00\x50hello"}, {12}, 1, NULL, 0},           /* NUL in "a\0b" */
      {{"", "\x09\x01\x02\x03\x04\x00\x50"}, {0, 7}, 2, NULL, 0},          /* atyp 9, late */
      {{"\x01\x7f", "\x00\x00\x01\x00\x50hello"}, {2, 10}, 2, "hello", 5}, /* split */
      /* ::1 port 443, its atyp alone, then an empty chunk, then the rest */
      {{"\x04", "", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbbhi"}, {1, 0, 20}, 3, "hi", 2},
      {{"", "\x01\x7f\x00\x00\x01\x00\x50hi"}, {0, 9}, 2, "hi", 2}, /* empty chunk first */
      {{"\x03\x0b\x65xample.com\x01\xbb"}, {15}, 1, "", 0},         /* header alone */
  };
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    for (size_t k = 0; k < COUNT(cases); k++) {
      struct evbuffer *wire = craft_request(cipher_names[i], (uint32_t)(200 + 10 * i + k),
                                            cases[k].pieces, cases[k].lens, cases[k].n);
      for (int bytewise = 0; bytewise < 2; bytewise++) {
        /* A second delivery of the same bytes would be a replay. */
        transport_server_t *s = bytewise ? server_instance(h, cipher_names[i]) : srv;
        end_t sv;
        end_init(&sv, h, h->t->server_codec_new(s));
        const uint8_t *p = bytes_of(wire);
        size_t n = evbuffer_get_length(wire);
        codec_result_t r = CODEC_NEED_MORE;
        for (size_t off = 0; off < n && r == CODEC_NEED_MORE; off += bytewise ? 1 : n)
          r = end_deliver(&sv, p + off, bytewise ? 1 : n);
        if (!cases[k].plain) {
          assert_int_equal(r, CODEC_DISCARD);
          assert_server_silent(&sv);
        } else {
          assert_int_equal(r, CODEC_OK);
          assert_int_equal(sv.ready, 1);
          assert_evbuffer_is(sv.plain_out, cases[k].plain, cases[k].plain_len);
          assert_non_null(sv.codec->ops->destination(sv.codec));
        }
        end_free(&sv);
        if (bytewise)
          h->t->server_free(s);
      }
      evbuffer_free(wire);
    }
    h->t->server_free(srv);
  }
}

/* A first chunk cut anywhere: the server waits (no verdict, no ready)
 * and takes the rest when it comes. */
static void test_truncated_first_chunk_needs_more(void **state) {
  harness_t *h = *state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    size_t n =
        ss_cipher_find(cipher_names[i])->key_len + SS_CHUNK_OVERHEAD + sizeof no_target_header + 5;
    for (size_t cut = 0; cut < n; cut++) {
      end_t cl, sv;
      end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
      end_init(&sv, h, h->t->server_codec_new(srv));
      end_send(&cl, "hello", 5);
      struct evbuffer *rec = end_take(&cl);
      assert_int_equal(evbuffer_get_length(rec), n);
      const uint8_t *p = bytes_of(rec);
      if (end_deliver(&sv, p, cut) != CODEC_NEED_MORE)
        fail_msg("%s: the first %zu of %zu bytes did not ask for more", cipher_names[i], cut, n);
      assert_server_silent(&sv);
      assert_int_equal(end_deliver(&sv, p + cut, n - cut), CODEC_OK);
      assert_int_equal(sv.ready, 1);
      assert_evbuffer_is(sv.plain_out, "hello", 5);
      evbuffer_free(rec);
      end_free(&cl);
      end_free(&sv);
    }
    h->t->server_free(srv);
  }
}

/* A client is no server: a damaged or foreign reply is an error (close),
 * not a discard. */
static void test_client_refuses_bad_reply(void **state) {
  harness_t *h = *state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    size_t salt = ss_cipher_find(cipher_names[i])->key_len;
    transport_server_t *srv = server_instance(h, cipher_names[i]);
    end_t cl, sv;
    end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
    end_init(&sv, h, h->t->server_codec_new(srv));
    end_send(&cl, "q", 1);
    assert_int_equal(pump(&cl, &sv), CODEC_OK);
    end_send(&sv, "good", 4);
    end_send(&sv, "bad", 3);
    struct evbuffer *reply = end_take(&sv);
    uint8_t *p = bytes_of(reply);
    size_t n = evbuffer_get_length(reply);
    /* The salt alone: fine, nothing yet. */
    assert_int_equal(end_deliver(&cl, p, salt), CODEC_OK);
    /* The first chunk whole, the second with its last byte flipped. */
    p[n - 1] ^= 0x01;
    assert_int_equal(end_deliver(&cl, p + salt, SS_CHUNK_OVERHEAD + 4), CODEC_OK);
    assert_evbuffer_is(cl.plain_out, "good", 4);
    assert_int_equal(
        end_deliver(&cl, p + salt + SS_CHUNK_OVERHEAD + 4, n - salt - SS_CHUNK_OVERHEAD - 4),
        CODEC_ERROR);
    assert_evbuffer_is(cl.plain_out, "good", 4);
    evbuffer_free(reply);
    end_free(&cl);

    /* Garbage instead of a server. */
    end_init(&cl, h, client_codec(h, cipher_names[i], NULL));
    uint8_t *junk = test_pattern_new(salt + SS_LEN_CHUNK, 11);
    assert_int_equal(end_deliver(&cl, junk, salt + SS_LEN_CHUNK), CODEC_ERROR);
    assert_int_equal(evbuffer_get_length(cl.plain_out), 0);
    free(junk);
    end_free(&cl);
    end_free(&sv);
    h->t->server_free(srv);
  }
}

/* ---- arguments ---- */

static void test_client_argument_errors(void **state) {
  harness_t *h = *state;
  char long_target[300];
  memset(long_target, 'a', 256); /* a 256-byte name cannot be a header */
  strcpy(long_target + 256, ":80");
  const struct {
    kvlist_t *args;
    const char *key;
  } cases[] = {
      {kvl("cipherName", "aes-256-gcm", NULL), "password"},
      {kvl("password", "", "cipherName", "aes-256-gcm", NULL), "password"},
      {kvl("password", PASSWORD, NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "", NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "rc4-md5", NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "chacha20-poly1305", NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", "no-port", NULL), "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", "host:", NULL), "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", ":80", NULL), "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", "host:65536", NULL),
       "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", "[::1:80", NULL), "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", "", NULL), "target"},
      {kvl("password", PASSWORD, "cipherName", "aes-128-gcm", "target", long_target, NULL),
       "target"},
  };
  for (size_t k = 0; k < COUNT(cases); k++) {
    char err[512] = "", err2[512] = "";
    char quoted_key[64];
    snprintf(quoted_key, sizeof quoted_key, "\"%s\"", cases[k].key);
    assert_int_equal(h->t->client_args_check(cases[k].args, err, sizeof err), -1);
    assert_contains(err, quoted_key);
    assert_lacks(err, PASSWORD);
    /* Making the codec refuses the same way. */
    assert_null(h->t->client_codec_new(cases[k].args, err2, sizeof err2));
    assert_string_equal(err2, err);
    kvlist_free(cases[k].args);
  }
  /* An unknown cipher's message lists the known ones. */
  kvlist_t *args = kvl("password", PASSWORD, "cipherName", "rc4-md5", NULL);
  char err[512] = "";
  assert_int_equal(h->t->client_args_check(args, err, sizeof err), -1);
  for (size_t i = 0; i < COUNT(cipher_names); i++)
    assert_contains(err, cipher_names[i]);
  kvlist_free(args);
}

static void test_server_option_errors(void **state) {
  harness_t *h = *state;
  const struct {
    kvlist_t *opts;
    const char *key;
  } cases[] = {
      {kvl("cipherName", "aes-256-gcm", NULL), "password"},
      {kvl("password", "", "cipherName", "aes-256-gcm", NULL), "password"},
      {kvl("password", PASSWORD, NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "aes-512-gcm", NULL), "cipherName"},
      {kvl("password", PASSWORD, "cipherName", "aes-256-gcm", "openProxy", "yes", NULL),
       "openProxy"},
      {kvl("password", PASSWORD, "cipherName", "aes-256-gcm", "openProxyAllowPrivate", "true",
           NULL),
       "openProxyAllowPrivate"},
  };
  for (size_t k = 0; k < COUNT(cases); k++) {
    char err[512] = "", quoted_key[64];
    const kvlist_t *args_out = NULL;
    snprintf(quoted_key, sizeof quoted_key, "\"%s\"", cases[k].key);
    assert_null(h->t->server_new(cases[k].opts, NULL, &args_out, err, sizeof err));
    assert_contains(err, quoted_key);
    assert_lacks(err, PASSWORD);
    kvlist_free(cases[k].opts);
  }
  /* The open-proxy switches, when they are right. */
  kvlist_t *opts = kvl("password", PASSWORD, "cipherName", "aes-256-gcm", "openProxy", "true",
                       "openProxyAllowPrivate", "1", NULL);
  const kvlist_t *args_out = NULL;
  char err[256] = "";
  transport_server_t *srv = h->t->server_new(opts, NULL, &args_out, err, sizeof err);
  assert_non_null(srv);
  bool allow_private = false;
  assert_true(h->t->server_open_proxy(srv, &allow_private));
  assert_true(allow_private);
  h->t->server_free(srv);
  kvlist_free(opts);
  srv = server_instance(h, "aes-256-gcm");
  allow_private = true;
  assert_false(h->t->server_open_proxy(srv, &allow_private));
  assert_false(allow_private);
  h->t->server_free(srv);
}

/* The close delay is under a minute and fixed by the key, as shadow.c
 * defines it: HMAC-SHA256(master key, label), first 4 bytes big-endian,
 * mod 60; so a restarted server shows a prober the same delay. */
static void test_close_delay(void **state) {
  harness_t *h = *state;
  static const char label[] = "ptdispatch shadow close delay";
  const char *const passwords[] = {PASSWORD, "a", "another password", "\xff\xfe"};
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = ss_cipher_find(cipher_names[i]);
    for (size_t k = 0; k < COUNT(passwords); k++) {
      transport_server_t *a = server_with(h, passwords[k], cipher_names[i]);
      transport_server_t *b = server_with(h, passwords[k], cipher_spellings[i]);
      unsigned d = h->t->server_close_delay_s(a);
      assert_true(d < 60);
      assert_int_equal(h->t->server_close_delay_s(b), d);

      uint8_t master[SS_KEY_MAX], iv[EVP_MAX_IV_LENGTH], mac[32];
      unsigned maclen = 0;
      const EVP_CIPHER *evp = c->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
      assert_int_equal(EVP_BytesToKey(evp, EVP_md5(), NULL, (const uint8_t *)passwords[k],
                                      (int)strlen(passwords[k]), 1, master, iv),
                       (int)c->key_len);
      assert_non_null(HMAC(EVP_sha256(), master, (int)c->key_len, (const uint8_t *)label,
                           sizeof label - 1, mac, &maclen));
      uint32_t v =
          ((uint32_t)mac[0] << 24) | ((uint32_t)mac[1] << 16) | ((uint32_t)mac[2] << 8) | mac[3];
      assert_int_equal(d, v % 60);
      h->t->server_free(a);
      h->t->server_free(b);
    }
  }
}

/* A value that lands in the wrong key (the password as cipherName or as
 * target) is never repeated in a message that reaches a log. */
static void test_errors_repeat_no_value(void **state) {
  harness_t *h = *state;
  kvlist_t *swapped = kvl("password", "aes-256-gcm", "cipherName", PASSWORD, NULL);
  kvlist_t *as_target =
      kvl("password", "x", "cipherName", "aes-256-gcm", "target", PASSWORD, NULL);
  char err[512] = "";
  const kvlist_t *out = NULL;
  assert_int_equal(h->t->client_args_check(swapped, err, sizeof err), -1);
  assert_contains(err, "\"cipherName\"");
  assert_lacks(err, PASSWORD);
  assert_null(h->t->server_new(swapped, NULL, &out, err, sizeof err));
  assert_lacks(err, PASSWORD);
  assert_int_equal(h->t->client_args_check(as_target, err, sizeof err), -1);
  assert_contains(err, "\"target\"");
  assert_lacks(err, PASSWORD);
  kvlist_free(swapped);
  kvlist_free(as_target);
}

/* The client's own stream sent back to it (same key, same construction)
 * is refused, not delivered as the server's reply. */
static void test_client_refuses_own_reflection(void **state) {
  harness_t *h = *state;
  end_t cl;
  end_init(&cl, h, client_codec(h, "aes-256-gcm", NULL));
  end_send(&cl, "secret request", 14);
  struct evbuffer *own = end_take(&cl);
  codec_result_t r = end_deliver(&cl, bytes_of(own), evbuffer_get_length(own));
  assert_int_equal(evbuffer_get_length(cl.plain_out), 0);
  assert_int_equal(r, CODEC_ERROR);
  evbuffer_free(own);
  end_free(&cl);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  event_set_log_callback(test_libevent_log);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_roundtrip_through_transport_table),
      T(test_target_is_the_header),
      T(test_header_coalesced_with_first_payload),
      T(test_header_alone_after_timer),
      T(test_server_discards_random_bytes),
      T(test_server_discards_wrong_key),
      T(test_server_discards_replay),
      T(test_server_discards_reflection),
      T(test_server_address_header),
      T(test_truncated_first_chunk_needs_more),
      T(test_client_refuses_bad_reply),
      T(test_client_argument_errors),
      T(test_server_option_errors),
      T(test_close_delay),
      T(test_errors_repeat_no_value),
      T(test_client_refuses_own_reflection),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
