/* test_extorport: the Extended ORPort client (net/extorport*.c).
 *
 * Three parts. The cookie file parser and reader, on bytes and on real
 * files. The codec, fed a bridge's side of the conversation as exact bytes
 * (whole, one byte at a time, and cut at every point), with its answers
 * compared byte for byte; the HMACs are checked against vectors computed
 * outside this code base (the Python command is next to them). The driver,
 * over a socketpair whose far end this test plays as the bridge, with the
 * event loop stepped by hand and every wait bounded. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define EXTORPORT_PRIVATE
#include "net/extorport.h"
#include "net/extorport_conn.h"
#include "net/extorport_cookie.h"

#include "testutil.h"

#define WAIT_MAX_ITERATIONS 200000
#define TEST_MAX_SECONDS 20
#define ERR_MAX 256

/* ---- vectors ----
 *
 * Computed with Python's hmac module, independently of libsodium:
 *
 *   python3 -c 'import hmac,hashlib
 *   c=bytes(range(32)); cn=bytes(range(0x20,0x40)); sn=bytes(range(0x40,0x60))
 *   for l in (b"ExtORPort authentication server-to-client hash",
 *             b"ExtORPort authentication client-to-server hash"):
 *     print(hmac.new(c,l+cn+sn,hashlib.sha256).hexdigest())'
 *
 * and the same with c=b"\xff"*32, cn=b"\x00"*32, sn=b"\xaa"*32. */
typedef struct hash_vector {
  uint8_t cookie[EXTORPORT_COOKIE_LEN];
  uint8_t client_nonce[EXTORPORT_NONCE_LEN];
  uint8_t server_nonce[EXTORPORT_NONCE_LEN];
  const char *server_hash_hex;
  const char *client_hash_hex;
} hash_vector_t;

static void fill_seq(uint8_t *p, size_t n, uint8_t first) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(first + i);
}

static void hex_decode(const char *hex, uint8_t *out, size_t n) {
  assert_int_equal(strlen(hex), 2 * n);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* The first vector, which the codec tests below use throughout. */
static hash_vector_t vector_seq(void) {
  hash_vector_t v;
  fill_seq(v.cookie, sizeof v.cookie, 0x00);
  fill_seq(v.client_nonce, sizeof v.client_nonce, 0x20);
  fill_seq(v.server_nonce, sizeof v.server_nonce, 0x40);
  v.server_hash_hex = "67cb22838690cf4c49434d4ea3164fbdcc936e46fd90ee62f511639a8456d133";
  v.client_hash_hex = "4becde5c2fe8a9fed908d74f79be128d73abfbf82c009d3bdc17b4bc02740d58";
  return v;
}

static hash_vector_t vector_flat(void) {
  hash_vector_t v;
  memset(v.cookie, 0xff, sizeof v.cookie);
  memset(v.client_nonce, 0x00, sizeof v.client_nonce);
  memset(v.server_nonce, 0xaa, sizeof v.server_nonce);
  v.server_hash_hex = "972fcfa1535e79c51008d71a7aab42928c3dedf7305a9b46a5626dd436597a42";
  v.client_hash_hex = "d1a02374e2667860bdf4e2782035b5d3d59060680045e7c7b5a0bf24c4186907";
  return v;
}

static void check_vector(const hash_vector_t *v) {
  uint8_t want[EXTORPORT_HASH_LEN], got[EXTORPORT_HASH_LEN];
  hex_decode(v->server_hash_hex, want, sizeof want);
  extorport_server_hash(v->cookie, v->client_nonce, v->server_nonce, got);
  assert_memory_equal(got, want, sizeof want);
  hex_decode(v->client_hash_hex, want, sizeof want);
  extorport_client_hash(v->cookie, v->client_nonce, v->server_nonce, got);
  assert_memory_equal(got, want, sizeof want);
}

static void test_hash_vectors(void **state) {
  (void)state;
  hash_vector_t a = vector_seq(), b = vector_flat();
  check_vector(&a);
  check_vector(&b);
}

/* ---- byte strings ---- */

typedef struct bytes {
  uint8_t p[1024];
  size_t n;
} bytes_t;

static void bytes_add(bytes_t *b, const void *p, size_t n) {
  assert_true(b->n + n <= sizeof b->p);
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void bytes_add_cmd(bytes_t *b, uint16_t cmd, const void *body, size_t n) {
  const uint8_t hdr[4] = {(uint8_t)(cmd >> 8), (uint8_t)cmd, (uint8_t)(n >> 8), (uint8_t)n};
  bytes_add(b, hdr, sizeof hdr);
  if (n)
    bytes_add(b, body, n);
}

static void bytes_add_text_cmd(bytes_t *b, uint16_t cmd, const char *text) {
  bytes_add_cmd(b, cmd, text, strlen(text));
}

/* ---- the codec ---- */

#define USERADDR_V4 "192.0.2.7:40123"
#define USERADDR_V6 "[2001:db8::7]:40123"
#define TRANSPORT "plain"

/* A bridge's side of a good conversation with the vector's nonces, up to
 * and including its OKAY, followed by extra (ORPort data). */
static bytes_t bridge_script(const hash_vector_t *v, const uint8_t *auth_types, size_t n_types,
                             const char *extra) {
  bytes_t s = {.n = 0};
  uint8_t hash[EXTORPORT_HASH_LEN];
  bytes_add(&s, auth_types, n_types);
  hex_decode(v->server_hash_hex, hash, sizeof hash);
  bytes_add(&s, hash, sizeof hash);
  bytes_add(&s, v->server_nonce, sizeof v->server_nonce);
  bytes_add(&s, "\x01", 1);
  bytes_add_cmd(&s, EXTORPORT_CMD_OKAY, NULL, 0);
  if (extra)
    bytes_add(&s, extra, strlen(extra));
  return s;
}

static const uint8_t auth_types_tor[] = {0x01, 0x00};

/* What the codec must send in a good conversation. */
static bytes_t client_script(const hash_vector_t *v, const char *useraddr) {
  bytes_t s = {.n = 0};
  uint8_t hash[EXTORPORT_HASH_LEN];
  bytes_add(&s, "\x01", 1);
  bytes_add(&s, v->client_nonce, sizeof v->client_nonce);
  hex_decode(v->client_hash_hex, hash, sizeof hash);
  bytes_add(&s, hash, sizeof hash);
  if (useraddr)
    bytes_add_text_cmd(&s, EXTORPORT_CMD_USERADDR, useraddr);
  bytes_add_text_cmd(&s, EXTORPORT_CMD_TRANSPORT, TRANSPORT);
  bytes_add_cmd(&s, EXTORPORT_CMD_DONE, NULL, 0);
  return s;
}

static void client_init(extorport_client_t *c, const hash_vector_t *v, const char *useraddr) {
  extorport_client_init(c, v->cookie, useraddr, TRANSPORT);
  extorport_client_set_nonce(c, v->client_nonce);
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i])
      return false;
  }
  return true;
}

static void test_whole_conversation(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, "ORPORT-DATA");
  bytes_t want = client_script(&v, USERADDR_V4);
  struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
  extorport_client_t c;

  client_init(&c, &v, USERADDR_V4);
  evbuffer_add(in, in_bytes.p, in_bytes.n);
  assert_int_equal(extorport_client_step(&c, in, out), EXTORPORT_READY);
  assert_evbuffer_is(out, want.p, want.n);
  /* What followed OKAY is the ORPort's, untouched. */
  assert_evbuffer_is(in, "ORPORT-DATA", 11);
  assert_true(all_zero(c.cookie, sizeof c.cookie));
  /* Finished is final: more steps change nothing. */
  assert_int_equal(extorport_client_step(&c, in, out), EXTORPORT_READY);
  assert_int_equal(evbuffer_get_length(in), 11);
  extorport_client_clear(&c);
  assert_true(all_zero((const uint8_t *)&c, sizeof c));
  evbuffer_free(in);
  evbuffer_free(out);
}

/* The bridge's bytes one at a time: MORE until the OKAY is complete, and
 * the answers go out exactly when each message is whole. */
static void test_byte_at_a_time(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
  bytes_t want = client_script(&v, USERADDR_V6);
  struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
  extorport_client_t c;

  /* Where the bridge's messages end, and how much we have sent by then. */
  const size_t auth_end = sizeof auth_types_tor;
  const size_t server_auth_end = auth_end + EXTORPORT_HASH_LEN + EXTORPORT_NONCE_LEN;
  const size_t status_end = server_auth_end + 1;
  client_init(&c, &v, USERADDR_V6);
  for (size_t i = 0; i < in_bytes.n; i++) {
    evbuffer_add(in, in_bytes.p + i, 1);
    extorport_result_t r = extorport_client_step(&c, in, out);
    size_t fed = i + 1;
    if (fed < in_bytes.n) {
      assert_int_equal(r, EXTORPORT_MORE);
    } else {
      assert_int_equal(r, EXTORPORT_READY);
    }
    size_t sent = evbuffer_get_length(out);
    if (fed < auth_end)
      assert_int_equal(sent, 0);
    else if (fed < server_auth_end)
      assert_int_equal(sent, 1 + EXTORPORT_NONCE_LEN);
    else if (fed < status_end)
      assert_int_equal(sent, 1 + EXTORPORT_NONCE_LEN + EXTORPORT_HASH_LEN);
    else
      assert_int_equal(sent, want.n);
  }
  assert_evbuffer_is(out, want.p, want.n);
  assert_int_equal(evbuffer_get_length(in), 0);
  extorport_client_clear(&c);
  evbuffer_free(in);
  evbuffer_free(out);
}

/* The bridge's bytes in two pieces, cut at every point. */
static void test_every_cut(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, "tail");
  bytes_t want = client_script(&v, USERADDR_V4);

  for (size_t cut = 0; cut <= in_bytes.n; cut++) {
    struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
    extorport_client_t c;
    client_init(&c, &v, USERADDR_V4);
    evbuffer_add(in, in_bytes.p, cut);
    extorport_result_t r = extorport_client_step(&c, in, out);
    /* "tail" is 4 bytes: the OKAY is complete once cut reaches n - 4. */
    if (cut < in_bytes.n - 4)
      assert_int_equal(r, EXTORPORT_MORE);
    else
      assert_int_equal(r, EXTORPORT_READY);
    evbuffer_add(in, in_bytes.p + cut, in_bytes.n - cut);
    assert_int_equal(extorport_client_step(&c, in, out), EXTORPORT_READY);
    assert_evbuffer_is(out, want.p, want.n);
    assert_evbuffer_is(in, "tail", 4);
    extorport_client_clear(&c);
    evbuffer_free(in);
    evbuffer_free(out);
  }
}

/* Runs the codec once over all of in_bytes. Returns its result; what it
 * sent goes to *sent, its reason to why, and (if left is not NULL) the
 * count of input bytes it left in the buffer to *left. */
static extorport_result_t run_codec(const hash_vector_t *v, const char *useraddr,
                                    const bytes_t *in_bytes, bytes_t *sent, char *why,
                                    size_t whylen, size_t *left) {
  struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
  extorport_client_t c;
  client_init(&c, v, useraddr);
  evbuffer_add(in, in_bytes->p, in_bytes->n);
  extorport_result_t r = extorport_client_step(&c, in, out);
  size_t n = evbuffer_get_length(out);
  assert_true(n <= sizeof sent->p);
  evbuffer_remove(out, sent->p, n);
  sent->n = n;
  if (left)
    *left = evbuffer_get_length(in);
  snprintf(why, whylen, "%s", c.why);
  if (r != EXTORPORT_MORE)
    assert_true(all_zero(c.cookie, sizeof c.cookie));
  extorport_client_clear(&c);
  evbuffer_free(in);
  evbuffer_free(out);
  return r;
}

/* Runs the codec as for USERADDR_V4 over all of in_bytes, which must make
 * it fail with a reason that holds why; what it sent goes to *sent. */
static void codec_fails(const hash_vector_t *v, const bytes_t *in_bytes, bytes_t *sent,
                        const char *why) {
  char got[128];
  assert_int_equal(run_codec(v, USERADDR_V4, in_bytes, sent, got, sizeof got, NULL),
                   EXTORPORT_FAILED);
  assert_contains(got, why);
}

static void test_wrong_server_hash(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t sent;
  for (size_t i = 0; i < EXTORPORT_HASH_LEN; i += 31) {
    bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
    in_bytes.p[sizeof auth_types_tor + i] ^= 0x01;
    codec_fails(&v, &in_bytes, &sent, "server hash");
    /* The auth type and nonce went out; no client hash, no metadata. */
    assert_int_equal(sent.n, 1 + EXTORPORT_NONCE_LEN);
  }
  /* A hash made with another cookie, as a bridge with a fresh cookie file
   * would send. */
  hash_vector_t other = vector_seq();
  other.cookie[0] ^= 0x80;
  uint8_t hash[EXTORPORT_HASH_LEN];
  extorport_server_hash(other.cookie, v.client_nonce, v.server_nonce, hash);
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
  memcpy(in_bytes.p + sizeof auth_types_tor, hash, sizeof hash);
  codec_fails(&v, &in_bytes, &sent, "server hash");
}

static void test_status_not_one(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  const uint8_t bad[] = {0x00, 0x02, 0xff};
  for (size_t i = 0; i < sizeof bad; i++) {
    bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
    in_bytes.p[sizeof auth_types_tor + EXTORPORT_HASH_LEN + EXTORPORT_NONCE_LEN] = bad[i];
    bytes_t sent;
    codec_fails(&v, &in_bytes, &sent, "refused our authentication");
    /* The client hash went out, but no USERADDR: the bridge learns
     * nothing about the client from a failed handshake. */
    assert_int_equal(sent.n, 1 + EXTORPORT_NONCE_LEN + EXTORPORT_HASH_LEN);
  }
}

static void test_auth_types_without_safe_cookie(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  const struct {
    const uint8_t *p;
    size_t n;
  } lists[] = {
      {(const uint8_t *)"\x00", 1},
      {(const uint8_t *)"\x02\x00", 2},
      {(const uint8_t *)"\x02\x03\xff\x00", 4},
  };
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    bytes_t in_bytes = {.n = 0}, sent;
    bytes_add(&in_bytes, lists[i].p, lists[i].n);
    codec_fails(&v, &in_bytes, &sent, "SAFE_COOKIE");
    assert_int_equal(sent.n, 0);
  }
}

static void test_auth_types_with_others(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  const uint8_t types[] = {0x07, 0x01, 0xfe, 0x00};
  bytes_t in_bytes = bridge_script(&v, types, sizeof types, NULL), sent;
  bytes_t want = client_script(&v, USERADDR_V4);
  char why[128];
  assert_int_equal(run_codec(&v, USERADDR_V4, &in_bytes, &sent, why, sizeof why, NULL),
                   EXTORPORT_READY);
  assert_int_equal(sent.n, want.n);
  assert_memory_equal(sent.p, want.p, want.n);
}

/* 255 types without the end may still end; 256 cannot. */
static void test_auth_types_unterminated(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = {.n = 0}, sent;
  char why[128];
  for (int i = 0; i < 255; i++)
    bytes_add(&in_bytes, "\x01", 1);
  assert_int_equal(run_codec(&v, USERADDR_V4, &in_bytes, &sent, why, sizeof why, NULL),
                   EXTORPORT_MORE);
  assert_int_equal(sent.n, 0);
  bytes_add(&in_bytes, "\x02", 1);
  codec_fails(&v, &in_bytes, &sent, "no end");
}

static void test_deny(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL), sent;
  char why[128];
  size_t left;
  /* Turn the OKAY into a DENY with a body, and put bytes behind it. */
  in_bytes.n -= EXTORPORT_CMD_HDR_LEN;
  bytes_add_text_cmd(&in_bytes, EXTORPORT_CMD_DENY, "go away");
  bytes_add(&in_bytes, "after", 5);
  assert_int_equal(run_codec(&v, USERADDR_V4, &in_bytes, &sent, why, sizeof why, &left),
                   EXTORPORT_DENIED);
  assert_contains(why, "denied");
  assert_int_equal(left, 5);
}

static void test_okay_with_body_keeps_trailing(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
  struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
  extorport_client_t c;
  in_bytes.n -= EXTORPORT_CMD_HDR_LEN;
  bytes_add_text_cmd(&in_bytes, EXTORPORT_CMD_OKAY, "ignored body");
  /* Bytes that look like commands are ORPort data once OKAY is read. */
  bytes_add_cmd(&in_bytes, EXTORPORT_CMD_DENY, NULL, 0);
  client_init(&c, &v, NULL);
  evbuffer_add(in, in_bytes.p, in_bytes.n);
  assert_int_equal(extorport_client_step(&c, in, out), EXTORPORT_READY);
  assert_evbuffer_is(in, "\x10\x01\x00\x00", 4);
  extorport_client_clear(&c);
  evbuffer_free(in);
  evbuffer_free(out);
}

/* CONTROL and unknown commands are skipped, bodies and all. */
static void test_skips_control_and_unknown(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL), sent;
  char why[128];
  size_t left;
  in_bytes.n -= EXTORPORT_CMD_HDR_LEN;
  bytes_add_text_cmd(&in_bytes, EXTORPORT_CMD_CONTROL, "x");
  /* An unknown command whose body holds an OKAY: it must not count. */
  bytes_add_cmd(&in_bytes, 0x7777, "\x10\x00\x00\x00", 4);
  bytes_add_cmd(&in_bytes, 0x0000, NULL, 0);
  bytes_add_cmd(&in_bytes, EXTORPORT_CMD_OKAY, NULL, 0);
  bytes_add(&in_bytes, "z", 1);
  assert_int_equal(run_codec(&v, USERADDR_V4, &in_bytes, &sent, why, sizeof why, &left),
                   EXTORPORT_READY);
  assert_int_equal(left, 1);

  /* A body still arriving: wait for it whole. */
  bytes_t partial = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL);
  partial.n -= EXTORPORT_CMD_HDR_LEN;
  bytes_add_cmd(&partial, 0x7777, "abcdef", 6);
  partial.n -= 3;
  assert_int_equal(run_codec(&v, USERADDR_V4, &partial, &sent, why, sizeof why, &left),
                   EXTORPORT_MORE);
  assert_int_equal(left, EXTORPORT_CMD_HDR_LEN + 3);
}

static void test_too_many_skipped(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL), sent;
  char why[128];
  in_bytes.n -= EXTORPORT_CMD_HDR_LEN;
  for (int i = 0; i < 16; i++)
    bytes_add_cmd(&in_bytes, EXTORPORT_CMD_CONTROL, NULL, 0);
  bytes_t sixteen = in_bytes;
  bytes_add_cmd(&sixteen, EXTORPORT_CMD_OKAY, NULL, 0);
  assert_int_equal(run_codec(&v, USERADDR_V4, &sixteen, &sent, why, sizeof why, NULL),
                   EXTORPORT_READY);
  bytes_add_cmd(&in_bytes, 0x4242, NULL, 0);
  bytes_add_cmd(&in_bytes, EXTORPORT_CMD_OKAY, NULL, 0);
  codec_fails(&v, &in_bytes, &sent, "neither OKAY nor DENY");
}

static void test_metadata(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  bytes_t in_bytes = bridge_script(&v, auth_types_tor, sizeof auth_types_tor, NULL), sent;
  char why[128];
  const size_t auth_len = 1 + EXTORPORT_NONCE_LEN + EXTORPORT_HASH_LEN;

  /* IPv6 in brackets, not NUL-terminated. */
  assert_int_equal(run_codec(&v, USERADDR_V6, &in_bytes, &sent, why, sizeof why, NULL),
                   EXTORPORT_READY);
  bytes_t want = {.n = 0};
  bytes_add_text_cmd(&want, EXTORPORT_CMD_USERADDR, USERADDR_V6);
  bytes_add_text_cmd(&want, EXTORPORT_CMD_TRANSPORT, TRANSPORT);
  bytes_add_cmd(&want, EXTORPORT_CMD_DONE, NULL, 0);
  assert_int_equal(sent.n, auth_len + want.n);
  assert_memory_equal(sent.p + auth_len, want.p, want.n);

  /* No address: TRANSPORT and DONE only. */
  assert_int_equal(run_codec(&v, NULL, &in_bytes, &sent, why, sizeof why, NULL),
                   EXTORPORT_READY);
  want.n = 0;
  bytes_add_text_cmd(&want, EXTORPORT_CMD_TRANSPORT, TRANSPORT);
  bytes_add_cmd(&want, EXTORPORT_CMD_DONE, NULL, 0);
  assert_int_equal(sent.n, auth_len + want.n);
  assert_memory_equal(sent.p + auth_len, want.p, want.n);
}

static void test_random_nonce(void **state) {
  (void)state;
  hash_vector_t v = vector_seq();
  extorport_client_t a, b;
  extorport_client_init(&a, v.cookie, NULL, TRANSPORT);
  extorport_client_init(&b, v.cookie, NULL, TRANSPORT);
  assert_false(all_zero(a.client_nonce, sizeof a.client_nonce));
  assert_memory_not_equal(a.client_nonce, b.client_nonce, sizeof a.client_nonce);
  /* And it is the nonce that goes out. */
  struct evbuffer *in = test_evbuffer_with(NULL, 0), *out = test_evbuffer_with(NULL, 0);
  uint8_t nonce[EXTORPORT_NONCE_LEN];
  memcpy(nonce, a.client_nonce, sizeof nonce);
  evbuffer_add(in, auth_types_tor, sizeof auth_types_tor);
  assert_int_equal(extorport_client_step(&a, in, out), EXTORPORT_MORE);
  assert_int_equal(evbuffer_get_length(out), 1 + sizeof nonce);
  assert_memory_equal(evbuffer_pullup(out, -1) + 1, nonce, sizeof nonce);
  extorport_client_clear(&a);
  extorport_client_clear(&b);
  evbuffer_free(in);
  evbuffer_free(out);
}

static void test_write_command(void **state) {
  (void)state;
  struct evbuffer *out = test_evbuffer_with(NULL, 0);
  extorport_write_command(out, 0x0102, "abc", 3);
  extorport_write_command(out, EXTORPORT_CMD_DONE, NULL, 0);
  assert_evbuffer_is(out, "\x01\x02\x00\x03" "abc\x00\x00\x00\x00", 11);
  evbuffer_free(out);
}

/* ---- the cookie file ---- */

static void cookie_file_bytes(uint8_t out[static EXTORPORT_COOKIE_FILE_LEN]) {
  memcpy(out, EXTORPORT_COOKIE_HEADER, EXTORPORT_COOKIE_HEADER_LEN);
  fill_seq(out + EXTORPORT_COOKIE_HEADER_LEN, EXTORPORT_COOKIE_LEN, 0x90);
}

static void test_cookie_parse(void **state) {
  (void)state;
  uint8_t file[EXTORPORT_COOKIE_FILE_LEN + 1];
  uint8_t cookie[EXTORPORT_COOKIE_LEN], want[EXTORPORT_COOKIE_LEN];
  char err[ERR_MAX];
  cookie_file_bytes(file);
  file[EXTORPORT_COOKIE_FILE_LEN] = 0x00;
  fill_seq(want, sizeof want, 0x90);

  assert_int_equal(extorport_cookie_parse(file, EXTORPORT_COOKIE_FILE_LEN, cookie, err, sizeof err),
                   0);
  assert_memory_equal(cookie, want, sizeof want);

  assert_int_equal(extorport_cookie_parse(file, 0, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too short: 0 bytes, want 64");
  assert_int_equal(extorport_cookie_parse(file, 32, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too short: 32 bytes, want 64");
  assert_int_equal(extorport_cookie_parse(file, 63, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too short: 63 bytes, want 64");
  assert_int_equal(extorport_cookie_parse(file, 65, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too long: more than 64 bytes");

  /* Any header byte wrong, the last (the newline) included. */
  for (size_t i = 0; i < EXTORPORT_COOKIE_HEADER_LEN; i += 31) {
    cookie_file_bytes(file);
    file[i] ^= 0x20;
    assert_int_equal(
        extorport_cookie_parse(file, EXTORPORT_COOKIE_FILE_LEN, cookie, err, sizeof err), -1);
    assert_string_equal(err, "no Extended ORPort cookie header");
  }
  /* The error never holds cookie bytes (printable here, on purpose). */
  memset(file, 'A', sizeof file);
  assert_int_equal(extorport_cookie_parse(file, EXTORPORT_COOKIE_FILE_LEN, cookie, err, sizeof err),
                   -1);
  assert_lacks(err, "AAAA");
}

typedef struct cookie_fixture {
  test_tmpdir_t dir; /* first: see test_tmpdir_fixture_new() */
  char path[TEST_TMPDIR_MAX + 32];
} cookie_fixture_t;

static int cookie_setup(void **state) {
  return test_tmpdir_fixture_new(state, sizeof(cookie_fixture_t), "ptd-extor");
}

static int cookie_teardown(void **state) { return test_tmpdir_fixture_free(state); }

static const char *write_file(cookie_fixture_t *f, const char *name, const uint8_t *p, size_t n) {
  snprintf(f->path, sizeof f->path, "%s/%s", f->dir.path, name);
  FILE *fp = fopen(f->path, "wb");
  assert_non_null(fp);
  if (n)
    assert_int_equal(fwrite(p, 1, n, fp), n);
  assert_int_equal(fclose(fp), 0);
  return f->path;
}

static void test_cookie_read(void **state) {
  cookie_fixture_t *f = *state;
  uint8_t file[EXTORPORT_COOKIE_FILE_LEN + 64];
  uint8_t cookie[EXTORPORT_COOKIE_LEN], want[EXTORPORT_COOKIE_LEN];
  char err[ERR_MAX];
  cookie_file_bytes(file);
  memset(file + EXTORPORT_COOKIE_FILE_LEN, '\n', 64);
  fill_seq(want, sizeof want, 0x90);

  const char *p = write_file(f, "good", file, EXTORPORT_COOKIE_FILE_LEN);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), 0);
  assert_memory_equal(cookie, want, sizeof want);

  p = write_file(f, "empty", file, 0);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too short: 0 bytes, want 64");
  p = write_file(f, "short", file, 40);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too short: 40 bytes, want 64");
  /* A trailing newline, as an editor would add, is one byte too many. */
  p = write_file(f, "newline", file, EXTORPORT_COOKIE_FILE_LEN + 1);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too long: more than 64 bytes");
  p = write_file(f, "long", file, sizeof file);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
  assert_string_equal(err, "too long: more than 64 bytes");
  file[0] = '#';
  p = write_file(f, "header", file, EXTORPORT_COOKIE_FILE_LEN);
  assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
  assert_string_equal(err, "no Extended ORPort cookie header");

  snprintf(f->path, sizeof f->path, "%s/missing", f->dir.path);
  assert_int_equal(extorport_cookie_read(f->path, cookie, err, sizeof err), -1);
  assert_string_equal(err, strerror(ENOENT));
  assert_int_equal(extorport_cookie_read(f->dir.path, cookie, err, sizeof err), -1);
  assert_string_equal(err, "not a regular file");
  /* A FIFO with no writer would block a plain open(): refused at once. */
  snprintf(f->path, sizeof f->path, "%s/fifo", f->dir.path);
  assert_int_equal(mkfifo(f->path, 0600), 0);
  assert_int_equal(extorport_cookie_read(f->path, cookie, err, sizeof err), -1);
  assert_string_equal(err, "not a regular file");
  /* Unreadable: only meaningful when not root. */
  if (geteuid() != 0) {
    cookie_file_bytes(file);
    p = write_file(f, "mode000", file, EXTORPORT_COOKIE_FILE_LEN);
    assert_int_equal(chmod(p, 0), 0);
    assert_int_equal(extorport_cookie_read(p, cookie, err, sizeof err), -1);
    assert_string_equal(err, strerror(EACCES));
  }
}

/* ---- the driver ---- */

typedef struct drv {
  test_loop_t loop;
  int far; /* the test's end: it plays the bridge */
  struct bufferevent *bev;
  extorport_conn_t *x;
  int done_calls;
  extorport_result_t result;
  struct bufferevent *got; /* from done() on READY */
  char why[256];
  uint8_t cookie[EXTORPORT_COOKIE_LEN];
} drv_t;

static int drv_setup(void **state) {
  drv_t *d = calloc(1, sizeof *d);
  if (!d || test_loop_init(&d->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0) {
    free(d);
    return -1;
  }
  test_libevent_warnings_reset();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    test_loop_free(&d->loop);
    free(d);
    return -1;
  }
  test_set_nonblock(fds[0]);
  test_set_nonblock(fds[1]);
  d->far = fds[1];
  d->bev = bufferevent_socket_new(d->loop.base, fds[0], BEV_OPT_CLOSE_ON_FREE);
  fill_seq(d->cookie, sizeof d->cookie, 0x55);
  *state = d;
  return d->bev ? 0 : -1;
}

static int drv_teardown(void **state) {
  drv_t *d = *state;
  extorport_conn_cancel(d->x);
  if (d->bev)
    bufferevent_free(d->bev);
  if (d->got)
    bufferevent_free(d->got);
  if (d->far >= 0)
    close(d->far);
  test_loop_free(&d->loop);
  free(d);
  return test_libevent_warnings_check();
}

static void on_done(void *ctx, struct bufferevent *bev, extorport_result_t result,
                    const char *why) {
  drv_t *d = ctx;
  d->done_calls++;
  d->x = NULL;
  d->result = result;
  d->got = bev;
  snprintf(d->why, sizeof d->why, "%s", why ? why : "");
}

static void drv_start(drv_t *d, unsigned timeout_s) {
  d->x = extorport_conn_start(d->bev, d->cookie, USERADDR_V4, TRANSPORT, timeout_s, on_done, d);
  d->bev = NULL; /* the driver's now */
  assert_non_null(d->x);
  /* Never from inside start. */
  assert_int_equal(d->done_calls, 0);
}

static void drv_wait_done(drv_t *d) {
  test_loop_begin_wait(&d->loop, "the handshake's end");
  while (d->done_calls == 0)
    test_loop_step(&d->loop);
  assert_int_equal(d->done_calls, 1);
}

/* Waits for the handshake's end, which must be a failure saying why. */
static void drv_wait_failed(drv_t *d, const char *why) {
  drv_wait_done(d);
  assert_int_equal(d->result, EXTORPORT_FAILED);
  assert_contains(d->why, why);
}

/* Reads exactly n bytes from the far end, running the loop meanwhile. */
static void far_read(drv_t *d, uint8_t *p, size_t n, const char *what) {
  size_t got = 0;
  test_loop_begin_wait(&d->loop, what);
  while (got < n) {
    ssize_t r = read(d->far, p + got, n - got);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if (r == 0)
      fail_msg("EOF while waiting for %s", what);
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      fail_msg("read: %s", strerror(errno));
    test_loop_step(&d->loop);
  }
}

static void far_write(drv_t *d, const void *p, size_t n) {
  test_write_all(d->far, p, n);
}

/* The bridge's side up to the status octet; checks the client's hash. */
static void far_authenticate(drv_t *d, uint8_t status) {
  uint8_t msg[1 + EXTORPORT_NONCE_LEN], server_nonce[EXTORPORT_NONCE_LEN];
  uint8_t hash[EXTORPORT_HASH_LEN], client_hash[EXTORPORT_HASH_LEN];
  far_write(d, auth_types_tor, sizeof auth_types_tor);
  far_read(d, msg, sizeof msg, "auth type and client nonce");
  assert_int_equal(msg[0], EXTORPORT_AUTH_SAFE_COOKIE);
  fill_seq(server_nonce, sizeof server_nonce, 0x33);
  extorport_server_hash(d->cookie, msg + 1, server_nonce, hash);
  far_write(d, hash, sizeof hash);
  far_write(d, server_nonce, sizeof server_nonce);
  far_read(d, client_hash, sizeof client_hash, "client hash");
  extorport_client_hash(d->cookie, msg + 1, server_nonce, hash);
  assert_memory_equal(client_hash, hash, sizeof hash);
  far_write(d, &status, 1);
}

static void far_read_metadata(drv_t *d) {
  bytes_t want = {.n = 0};
  uint8_t got[128];
  bytes_add_text_cmd(&want, EXTORPORT_CMD_USERADDR, USERADDR_V4);
  bytes_add_text_cmd(&want, EXTORPORT_CMD_TRANSPORT, TRANSPORT);
  bytes_add_cmd(&want, EXTORPORT_CMD_DONE, NULL, 0);
  assert_true(want.n <= sizeof got);
  far_read(d, got, want.n, "USERADDR, TRANSPORT, DONE");
  assert_memory_equal(got, want.p, want.n);
}

static void test_conn_ready(void **state) {
  drv_t *d = *state;
  drv_start(d, 30);
  far_authenticate(d, EXTORPORT_STATUS_OK);
  far_read_metadata(d);
  /* OKAY and the ORPort's first bytes in one write. */
  far_write(d, "\x10\x00\x00\x00" "early", 9);
  drv_wait_done(d);
  assert_int_equal(d->result, EXTORPORT_READY);
  assert_non_null(d->got);
  /* Once READY, more steps of the loop must not read the stream. */
  test_loop_steps(&d->loop, 5);
  struct evbuffer *in = bufferevent_get_input(d->got);
  assert_int_equal(evbuffer_get_length(in), 5);
  assert_memory_equal(evbuffer_pullup(in, -1), "early", 5);
  /* The stream still works both ways. */
  assert_int_equal(bufferevent_write(d->got, "up", 2), 0);
  uint8_t up[2];
  far_read(d, up, sizeof up, "bytes through the handed-over stream");
  assert_memory_equal(up, "up", 2);
}

static void test_conn_deny(void **state) {
  drv_t *d = *state;
  drv_start(d, 30);
  far_authenticate(d, EXTORPORT_STATUS_OK);
  far_read_metadata(d);
  far_write(d, "\x10\x01\x00\x00", 4);
  drv_wait_done(d);
  assert_int_equal(d->result, EXTORPORT_DENIED);
  assert_null(d->got);
  assert_contains(d->why, "denied");
  /* Our end was closed. */
  uint8_t b;
  test_loop_begin_wait(&d->loop, "EOF at the far end");
  for (;;) {
    ssize_t r = read(d->far, &b, 1);
    if (r == 0)
      break;
    assert_true(r < 0 && errno == EAGAIN);
    test_loop_step(&d->loop);
  }
}

static void test_conn_wrong_hash(void **state) {
  drv_t *d = *state;
  uint8_t msg[1 + EXTORPORT_NONCE_LEN], junk[EXTORPORT_HASH_LEN + EXTORPORT_NONCE_LEN];
  drv_start(d, 30);
  far_write(d, auth_types_tor, sizeof auth_types_tor);
  far_read(d, msg, sizeof msg, "auth type and client nonce");
  memset(junk, 0x42, sizeof junk);
  far_write(d, junk, sizeof junk);
  drv_wait_failed(d, "server hash");
}

static void test_conn_eof(void **state) {
  drv_t *d = *state;
  drv_start(d, 30);
  far_write(d, "\x01", 1);
  close(d->far);
  d->far = -1;
  drv_wait_failed(d, "closed the connection during the handshake");
}

static void on_guard(evutil_socket_t fd, short what, void *arg) { *(bool *)arg = true; }

/* Waits for done() with blocking loop passes, for what only a timer can
 * bring; a guard timer bounds the wait. */
static void drv_wait_done_blocking(drv_t *d) {
  bool expired = false;
  struct event *guard = evtimer_new(d->loop.base, on_guard, &expired);
  struct timeval tv = {TEST_MAX_SECONDS, 0};
  assert_non_null(guard);
  assert_int_equal(evtimer_add(guard, &tv), 0);
  for (int i = 0; i < 1000 && d->done_calls == 0 && !expired; i++)
    assert_true(event_base_loop(d->loop.base, EVLOOP_ONCE) >= 0);
  event_free(guard);
  if (d->done_calls == 0)
    fail_msg("no end of the handshake after %d s", TEST_MAX_SECONDS);
  assert_int_equal(d->done_calls, 1);
}

static void test_conn_timeout(void **state) {
  drv_t *d = *state;
  drv_start(d, 1);
  /* The bridge says nothing at all. */
  drv_wait_done_blocking(d);
  assert_int_equal(d->result, EXTORPORT_FAILED);
  assert_string_equal(d->why, "the ExtORPort handshake did not finish within 1 s");
}

/* Bytes the bufferevent read before start() are seen without any new
 * socket activity. */
static void test_conn_prebuffered(void **state) {
  drv_t *d = *state;
  struct evbuffer *in = bufferevent_get_input(d->bev);
  bufferevent_enable(d->bev, EV_READ);
  far_write(d, "\x02\x00", 2);
  test_loop_begin_wait(&d->loop, "libevent reading the early bytes");
  while (evbuffer_get_length(in) < 2)
    test_loop_step(&d->loop);
  drv_start(d, 30);
  drv_wait_failed(d, "SAFE_COOKIE");
}

static void test_conn_cancel(void **state) {
  drv_t *d = *state;
  drv_start(d, 1);
  /* The first step was already queued: cancelling must unqueue it. */
  extorport_conn_cancel(d->x);
  d->x = NULL;
  test_loop_steps(&d->loop, 50);
  assert_int_equal(d->done_calls, 0);
}

int main(void) {
  /* The driver writes to a socket whose peer may be gone. */
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_vectors),
      cmocka_unit_test(test_whole_conversation),
      cmocka_unit_test(test_byte_at_a_time),
      cmocka_unit_test(test_every_cut),
      cmocka_unit_test(test_wrong_server_hash),
      cmocka_unit_test(test_status_not_one),
      cmocka_unit_test(test_auth_types_without_safe_cookie),
      cmocka_unit_test(test_auth_types_with_others),
      cmocka_unit_test(test_auth_types_unterminated),
      cmocka_unit_test(test_deny),
      cmocka_unit_test(test_okay_with_body_keeps_trailing),
      cmocka_unit_test(test_skips_control_and_unknown),
      cmocka_unit_test(test_too_many_skipped),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_random_nonce),
      cmocka_unit_test(test_write_command),
      cmocka_unit_test(test_cookie_parse),
      cmocka_unit_test_setup_teardown(test_cookie_read, cookie_setup, cookie_teardown),
      cmocka_unit_test_setup_teardown(test_conn_ready, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_deny, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_wrong_hash, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_eof, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_timeout, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_prebuffered, drv_setup, drv_teardown),
      cmocka_unit_test_setup_teardown(test_conn_cancel, drv_setup, drv_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
