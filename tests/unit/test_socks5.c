/* test_socks5: the SOCKS5 codec against exact bytes.
 *
 * Each test fills an evbuffer, runs one reader or writer, and checks the
 * result, the decoded fields, and exactly which bytes remain. Partial
 * arrival is checked by feeding every proper prefix of a valid message and
 * requiring NEED_MORE with the buffer byte-for-byte unchanged. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/socks5.h"

#include "testutil.h"

#define TEST_DOMAIN_MAX 255
/* VER CMD RSV ATYP LEN NAME[255] PORT[2] */
#define TEST_REQ_MAX (4 + 1 + TEST_DOMAIN_MAX + 2)

/* ---- greeting ---- */

static void test_greeting_ok(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x02, 0x00, 0x09};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_OK);
  assert_int_equal(g.n_methods, 2);
  assert_int_equal(g.methods[0], 0x00);
  assert_int_equal(g.methods[1], 0x09);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_greeting_offers(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x03, 0x02, 0x09, 0x80};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_OK);
  assert_true(socks5_greeting_offers(&g, SOCKS5_METHOD_USERPASS));
  assert_true(socks5_greeting_offers(&g, SOCKS5_METHOD_JSON));
  assert_true(socks5_greeting_offers(&g, 0x80));
  assert_false(socks5_greeting_offers(&g, SOCKS5_METHOD_NO_AUTH));
  assert_false(socks5_greeting_offers(&g, SOCKS5_METHOD_NONE_ACCEPTABLE));
  evbuffer_free(b);
}

static void test_greeting_all_255_methods(void **state) {
  (void)state;
  uint8_t msg[2 + 255];
  msg[0] = 0x05;
  msg[1] = 255;
  for (size_t i = 0; i < 255; i++)
    msg[2 + i] = (uint8_t)i;
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_OK);
  assert_int_equal(g.n_methods, 255);
  assert_memory_equal(g.methods, msg + 2, 255);
  assert_false(socks5_greeting_offers(&g, 0xFF));
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_greeting_bad_version(void **state) {
  (void)state;
  const uint8_t msg[] = {0x04, 0x01, 0x00};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_ERROR);
  assert_evbuffer_is(b, msg, sizeof msg);
  evbuffer_free(b);
}

static void test_greeting_bad_version_first_byte(void **state) {
  (void)state;
  /* An HTTP request is refused on its first byte, without waiting. */
  const uint8_t msg[] = {'G'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_ERROR);
  evbuffer_free(b);
}

static void test_greeting_zero_methods(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x00};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_ERROR);
  assert_evbuffer_is(b, msg, sizeof msg);
  evbuffer_free(b);
}

static void test_greeting_empty(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_NEED_MORE);
  evbuffer_free(b);
}

static void test_greeting_byte_by_byte(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x03, 0x00, 0x02, 0x09};
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_greeting_t g;
  for (size_t i = 0; i < sizeof msg - 1; i++) {
    assert_int_equal(evbuffer_add(b, &msg[i], 1), 0);
    assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_NEED_MORE);
    assert_evbuffer_is(b, msg, i + 1);
  }
  assert_int_equal(evbuffer_add(b, &msg[sizeof msg - 1], 1), 0);
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_OK);
  assert_int_equal(g.n_methods, 3);
  assert_memory_equal(g.methods, msg + 2, 3);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_greeting_leaves_trailing_bytes(void **state) {
  (void)state;
  /* A client that pipelines its request behind the greeting. */
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_greeting_t g;
  assert_int_equal(socks5_read_greeting(b, &g), SOCKS5_OK);
  assert_int_equal(g.n_methods, 1);
  assert_evbuffer_is(b, msg + 3, sizeof msg - 3);
  evbuffer_free(b);
}

static void test_write_method(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_write_method(b, SOCKS5_METHOD_JSON);
  socks5_write_method(b, SOCKS5_METHOD_NONE_ACCEPTABLE);
  const uint8_t want[] = {0x05, 0x09, 0x05, 0xFF};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

/* ---- method choice ---- */

/* The method chosen for a greeting offering the n methods of m. */
static uint8_t choose(const uint8_t *m, size_t n) {
  socks5_greeting_t g;
  memcpy(g.methods, m, n);
  g.n_methods = n;
  return socks5_choose_method(&g);
}

static void test_choose_method(void **state) {
  (void)state;
  /* Every subset of {0x00, 0x02, 0x09}, with a method we do not speak
   * (GSSAPI) beside it, in both orders: preference never follows order. */
  static const uint8_t ours[] = {SOCKS5_METHOD_NO_AUTH, SOCKS5_METHOD_USERPASS,
                                 SOCKS5_METHOD_JSON};
  for (unsigned mask = 0; mask < 8; mask++) {
    uint8_t fwd[4], rev[4];
    size_t n = 0;
    fwd[n++] = 0x01;
    for (size_t i = 0; i < 3; i++) {
      if (mask & (1u << i))
        fwd[n++] = ours[i];
    }
    for (size_t i = 0; i < n; i++)
      rev[i] = fwd[n - 1 - i];
    uint8_t want = (mask & 4)   ? SOCKS5_METHOD_JSON
                   : (mask & 2) ? SOCKS5_METHOD_USERPASS
                   : (mask & 1) ? SOCKS5_METHOD_NO_AUTH
                                : SOCKS5_METHOD_NONE_ACCEPTABLE;
    assert_int_equal(choose(fwd, n), want);
    assert_int_equal(choose(rev, n), want);
    /* Without the GSSAPI byte too. */
    assert_int_equal(choose(fwd + 1, n - 1), want);
  }
  /* 0xFF offered by a client is not a method to choose. */
  const uint8_t ff[] = {0xFF};
  assert_int_equal(choose(ff, 1), SOCKS5_METHOD_NONE_ACCEPTABLE);
  const uint8_t dup[] = {0x00, 0x00, 0x02, 0x02};
  assert_int_equal(choose(dup, sizeof dup), SOCKS5_METHOD_USERPASS);
}

/* ---- RFC 1929 username/password ---- */

/* The bytes of an RFC 1929 request with the given fields. */
static size_t build_userpass(uint8_t *out, const uint8_t *u, size_t ulen, const uint8_t *p,
                             size_t plen) {
  size_t n = 0;
  out[n++] = 0x01;
  out[n++] = (uint8_t)ulen;
  memcpy(out + n, u, ulen);
  n += ulen;
  out[n++] = (uint8_t)plen;
  memcpy(out + n, p, plen);
  return n + plen;
}

/* msg[0..len) must wait at every proper prefix (untouched), both as a
 * fresh buffer and arriving byte by byte, and then read as OK with the
 * buffer empty. */
static void userpass_at_every_boundary(const uint8_t *msg, size_t len,
                                       socks5_userpass_t *out) {
  for (size_t i = 0; i < len; i++) {
    struct evbuffer *b = test_evbuffer_with(msg, i);
    assert_int_equal(socks5_read_userpass(b, out), SOCKS5_NEED_MORE);
    assert_evbuffer_is(b, msg, i);
    evbuffer_free(b);
  }
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(evbuffer_add(b, &msg[i], 1), 0);
    assert_int_equal(socks5_read_userpass(b, out),
                     i + 1 == len ? SOCKS5_OK : SOCKS5_NEED_MORE);
  }
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_userpass_ok(void **state) {
  (void)state;
  uint8_t msg[600];
  size_t len = build_userpass(msg, (const uint8_t *)"k=v;x=y", 7, (const uint8_t *)"\0", 1);
  socks5_userpass_t up;
  userpass_at_every_boundary(msg, len, &up);
  assert_int_equal(up.ulen, 7);
  assert_memory_equal(up.uname, "k=v;x=y", 7);
  assert_int_equal(up.plen, 1);
  assert_int_equal(up.passwd[0], 0);
}

static void test_userpass_lengths_0_and_255(void **state) {
  (void)state;
  uint8_t u[255], p[255], msg[600];
  for (size_t i = 0; i < 255; i++) {
    u[i] = (uint8_t)i; /* every byte value, NUL included */
    p[i] = (uint8_t)(255 - i);
  }
  static const size_t lens[][2] = {{0, 0}, {0, 255}, {255, 0}, {255, 255}, {1, 1}};
  for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
    size_t ulen = lens[c][0], plen = lens[c][1];
    size_t len = build_userpass(msg, u, ulen, p, plen);
    socks5_userpass_t up;
    userpass_at_every_boundary(msg, len, &up);
    assert_int_equal(up.ulen, ulen);
    assert_int_equal(up.plen, plen);
    if (ulen)
      assert_memory_equal(up.uname, u, ulen);
    if (plen)
      assert_memory_equal(up.passwd, p, plen);
  }
}

static void test_userpass_bad_version(void **state) {
  (void)state;
  static const uint8_t versions[] = {0x00, 0x02, 0x05, 0xFF};
  for (size_t i = 0; i < sizeof versions; i++) {
    uint8_t msg[16];
    size_t len = build_userpass(msg, (const uint8_t *)"k=v", 3, (const uint8_t *)"\0", 1);
    msg[0] = versions[i];
    socks5_userpass_t up;
    for (size_t cut = 1; cut <= len; cut++) {
      struct evbuffer *b = test_evbuffer_with(msg, cut);
      assert_int_equal(socks5_read_userpass(b, &up), SOCKS5_ERROR);
      assert_evbuffer_is(b, msg, cut);
      evbuffer_free(b);
    }
  }
}

static void test_userpass_leaves_trailing_bytes(void **state) {
  (void)state;
  /* A client that sends its request right behind the sub-negotiation. */
  const uint8_t msg[] = {0x01, 0x01, 'a', 0x01, 'b', 0x05, 0x01, 0x00};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_userpass_t up;
  assert_int_equal(socks5_read_userpass(b, &up), SOCKS5_OK);
  assert_evbuffer_is(b, msg + 5, 3);
  evbuffer_free(b);
}

static void test_userpass_status(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_write_userpass_status(b, SOCKS5_USERPASS_SUCCESS);
  socks5_write_userpass_status(b, SOCKS5_USERPASS_FAILURE);
  const uint8_t want[] = {0x01, 0x00, 0x01, 0x01};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

/* ---- JSON parameter block ---- */

#define TEST_JSON_LIMIT 64

/* The block for body[0..n): the 4 length bytes, then the body. Returns a
 * malloc'd buffer (the caller frees) and its size in *len. */
static uint8_t *build_block(const void *body, size_t n, uint32_t claimed, size_t *len) {
  uint8_t *msg = malloc(4 + n);
  assert_non_null(msg);
  msg[0] = (uint8_t)(claimed >> 24);
  msg[1] = (uint8_t)(claimed >> 16);
  msg[2] = (uint8_t)(claimed >> 8);
  msg[3] = (uint8_t)claimed;
  if (n)
    memcpy(msg + 4, body, n);
  *len = 4 + n;
  return msg;
}

/* A whole block must wait at every proper prefix and then read back as
 * body, both fresh and byte by byte. */
static void block_at_every_boundary(const uint8_t *msg, size_t len, size_t limit,
                                    const void *body, size_t n) {
  char *json = NULL;
  size_t jlen = 0;
  uint8_t reply = 0xEE;
  for (size_t i = 0; i < len; i++) {
    struct evbuffer *b = test_evbuffer_with(msg, i);
    assert_int_equal(socks5_read_json_block(b, limit, &json, &jlen, &reply),
                     SOCKS5_NEED_MORE);
    assert_evbuffer_is(b, msg, i);
    evbuffer_free(b);
  }
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(evbuffer_add(b, &msg[i], 1), 0);
    socks5_result_t r = socks5_read_json_block(b, limit, &json, &jlen, &reply);
    assert_int_equal(r, i + 1 == len ? SOCKS5_OK : SOCKS5_NEED_MORE);
  }
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
  assert_int_equal(reply, SOCKS5_REP_SUCCEEDED);
  assert_int_equal(jlen, n);
  if (n)
    assert_memory_equal(json, body, n);
  assert_int_equal(json[n], '\0');
  free(json);
}

static void test_json_block_ok(void **state) {
  (void)state;
  const char *body = "{\"shared-secret\": \"rahasia\", \"secrets-file\": \"/tmp/blob\"}";
  size_t n = strlen(body), len;
  assert_int_equal(n, 0x39); /* the spec's example length */
  uint8_t *msg = build_block(body, n, (uint32_t)n, &len);
  assert_memory_equal(msg, "\x00\x00\x00\x39", 4);
  block_at_every_boundary(msg, len, 65536, body, n);
  free(msg);
}

static void test_json_block_zero_length(void **state) {
  (void)state;
  /* Framed like any block; socks_args_from_json then answers 0x12. */
  size_t len;
  uint8_t *msg = build_block(NULL, 0, 0, &len);
  block_at_every_boundary(msg, len, TEST_JSON_LIMIT, "", 0);
  block_at_every_boundary(msg, len, 0, "", 0);
  free(msg);
}

static void test_json_block_at_limit(void **state) {
  (void)state;
  uint8_t body[TEST_JSON_LIMIT];
  test_fill_pattern(body, sizeof body, 7); /* any bytes: NULs too */
  size_t len;
  uint8_t *msg = build_block(body, sizeof body, TEST_JSON_LIMIT, &len);
  block_at_every_boundary(msg, len, TEST_JSON_LIMIT, body, sizeof body);
  free(msg);
}

static void test_json_block_over_limit(void **state) {
  (void)state;
  static const uint32_t claims[] = {TEST_JSON_LIMIT + 1, 0x01000000, 0xFFFFFFFF};
  for (size_t c = 0; c < sizeof claims / sizeof claims[0]; c++) {
    size_t len;
    uint8_t *msg = build_block("{}", 2, claims[c], &len);
    char *json = NULL;
    size_t jlen = 0;
    uint8_t reply;
    /* Decided on the 4 length bytes, without waiting for the body. */
    for (size_t cut = 4; cut <= len; cut++) {
      struct evbuffer *b = test_evbuffer_with(msg, cut);
      reply = 0xEE;
      assert_int_equal(socks5_read_json_block(b, TEST_JSON_LIMIT, &json, &jlen, &reply),
                       SOCKS5_ERROR);
      assert_int_equal(reply, SOCKS5_REP_SETTINGS_TOO_LARGE);
      assert_null(json);
      assert_evbuffer_is(b, msg, cut);
      evbuffer_free(b);
    }
    for (size_t cut = 0; cut < 4; cut++) {
      struct evbuffer *b = test_evbuffer_with(msg, cut);
      assert_int_equal(socks5_read_json_block(b, TEST_JSON_LIMIT, &json, &jlen, &reply),
                       SOCKS5_NEED_MORE);
      evbuffer_free(b);
    }
    free(msg);
  }
  /* The largest length fits a limit that allows it: only waits. */
  size_t len;
  uint8_t *msg = build_block("{}", 2, 0xFFFFFFFF, &len);
  struct evbuffer *b = test_evbuffer_with(msg, len);
  char *json = NULL;
  size_t jlen;
  uint8_t reply;
  assert_int_equal(socks5_read_json_block(b, SIZE_MAX, &json, &jlen, &reply),
                   SOCKS5_NEED_MORE);
  evbuffer_free(b);
  free(msg);
}

static void test_json_block_leaves_trailing_bytes(void **state) {
  (void)state;
  /* The request follows the block with no reply in between. */
  const uint8_t msg[] = {0, 0, 0, 2, '{', '}', 0x05, 0x01, 0x00, 0x01};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  char *json = NULL;
  size_t jlen;
  uint8_t reply;
  assert_int_equal(socks5_read_json_block(b, TEST_JSON_LIMIT, &json, &jlen, &reply),
                   SOCKS5_OK);
  assert_string_equal(json, "{}");
  assert_int_equal(jlen, 2);
  assert_evbuffer_is(b, msg + 6, 4);
  free(json);
  evbuffer_free(b);
}

/* ---- requests ---- */

/* Runs socks5_read_request over exactly msg; asserts the result and, on
 * success, that the whole message was drained. */
static socks5_result_t read_request(const uint8_t *msg, size_t len,
                                    socks5_request_t *req, uint8_t *reply) {
  struct evbuffer *b = test_evbuffer_with(msg, len);
  socks5_result_t r = socks5_read_request(b, req, reply);
  if (r == SOCKS5_OK)
    assert_int_equal(evbuffer_get_length(b), 0);
  else
    assert_evbuffer_is(b, msg, len);
  evbuffer_free(b);
  return r;
}

/* Every proper prefix of a valid message must wait, untouched. */
static void assert_prefixes_need_more(const uint8_t *msg, size_t len) {
  for (size_t i = 0; i < len; i++) {
    struct evbuffer *b = test_evbuffer_with(msg, i);
    socks5_request_t req;
    uint8_t reply = 0xEE;
    assert_int_equal(socks5_read_request(b, &req, &reply), SOCKS5_NEED_MORE);
    assert_evbuffer_is(b, msg, i);
    evbuffer_free(b);
  }
}

static void test_request_ipv4(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x01, 192, 0, 2, 7, 0x01, 0xBB};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_OK);
  assert_int_equal(req.cmd, SOCKS5_CMD_CONNECT);
  assert_int_equal(req.atyp, SOCKS5_ATYP_IPV4);
  assert_ip_endpoint(&req.dest, "192.0.2.7", 443, msg + 4);
  assert_prefixes_need_more(msg, sizeof msg);
}

static void test_request_ipv6(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
                         0,    0,    0,    0,    0,    0,    0,    0,    0x01, 0x23,
                         0x28};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_OK);
  assert_int_equal(req.atyp, SOCKS5_ATYP_IPV6);
  assert_ip_endpoint(&req.dest, "2001:db8::1", 9000, msg + 4);
  assert_prefixes_need_more(msg, sizeof msg);
}

static void test_request_domain(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x03, 11,  'e', 'x', 'a', 'm',
                         'p',  'l',  'e',  '.',  'c', 'o', 'm', 0x00, 0x50};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_OK);
  assert_int_equal(reply, SOCKS5_REP_SUCCEEDED);
  assert_int_equal(req.atyp, SOCKS5_ATYP_DOMAIN);
  assert_string_equal(req.dest.host, "example.com");
  assert_int_equal(req.dest.port, 80);
  assert_int_equal(req.dest.family, AF_UNSPEC);
  assert_int_equal(req.dest.salen, 0);
  assert_prefixes_need_more(msg, sizeof msg);
}

/* Builds a domain request for a name of len copies of c; returns its size. */
static size_t build_domain_request(uint8_t out[static TEST_REQ_MAX], size_t len,
                                   uint8_t c) {
  size_t n = 0;
  out[n++] = 0x05;
  out[n++] = SOCKS5_CMD_CONNECT;
  out[n++] = 0x00;
  out[n++] = SOCKS5_ATYP_DOMAIN;
  out[n++] = (uint8_t)len;
  memset(out + n, c, len);
  n += len;
  out[n++] = 0x1F;
  out[n++] = 0x90;
  return n;
}

static void test_request_domain_max_length(void **state) {
  (void)state;
  uint8_t msg[TEST_REQ_MAX];
  size_t len = build_domain_request(msg, TEST_DOMAIN_MAX, 'a');
  assert_int_equal(len, TEST_REQ_MAX);
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, len, &req, &reply), SOCKS5_OK);
  assert_int_equal(strlen(req.dest.host), TEST_DOMAIN_MAX);
  assert_memory_equal(req.dest.host, msg + 5, TEST_DOMAIN_MAX);
  assert_int_equal(req.dest.port, 8080);
  assert_int_equal(req.dest.family, AF_UNSPEC);
  assert_prefixes_need_more(msg, len);
}

static void test_request_domain_zero_length(void **state) {
  (void)state;
  uint8_t msg[TEST_REQ_MAX];
  size_t len = build_domain_request(msg, 0, 'a');
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, len, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
  /* Refused as soon as the length octet arrives, before the port. */
  reply = 0xEE;
  assert_int_equal(read_request(msg, 5, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_request_domain_embedded_nul(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x03, 7,    'a', '.', 'c',
                         'o',  0x00, 'm',  'x',  0x00, 0x50};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_request_domain_trailing_nul(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x03, 2, 'a', 0x00, 0x00, 0x50};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_request_bad_version(void **state) {
  (void)state;
  const uint8_t msg[] = {0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_request_bad_rsv(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x01, 0x01, 127, 0, 0, 1, 0x00, 0x50};
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
  /* Also when only the header has arrived. */
  reply = 0xEE;
  assert_int_equal(read_request(msg, 3, &req, &reply), SOCKS5_ERROR);
  assert_int_equal(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_request_unknown_atyp(void **state) {
  (void)state;
  const uint8_t codes[] = {0x00, 0x02, 0x05, 0xFF};
  for (size_t i = 0; i < sizeof codes; i++) {
    const uint8_t msg[] = {0x05, 0x01, 0x00, codes[i], 127, 0, 0, 1, 0x00, 0x50};
    socks5_request_t req;
    uint8_t reply = 0xEE;
    assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_ERROR);
    assert_int_equal(reply, SOCKS5_REP_ATYP_NOT_SUPPORTED);
    /* The header alone is enough to know. */
    reply = 0xEE;
    assert_int_equal(read_request(msg, 4, &req, &reply), SOCKS5_ERROR);
    assert_int_equal(reply, SOCKS5_REP_ATYP_NOT_SUPPORTED);
  }
}

static void test_request_other_commands_parse(void **state) {
  (void)state;
  const uint8_t cmds[] = {SOCKS5_CMD_BIND, SOCKS5_CMD_UDP_ASSOCIATE, 0x7F};
  for (size_t i = 0; i < sizeof cmds; i++) {
    const uint8_t msg[] = {0x05, cmds[i], 0x00, 0x01, 10, 1, 2, 3, 0x04, 0xD2};
    socks5_request_t req;
    uint8_t reply = 0xEE;
    assert_int_equal(read_request(msg, sizeof msg, &req, &reply), SOCKS5_OK);
    assert_int_equal(req.cmd, cmds[i]);
    assert_string_equal(req.dest.host, "10.1.2.3");
    assert_int_equal(req.dest.port, 1234);
  }
}

static void test_request_leaves_trailing_bytes(void **state) {
  (void)state;
  /* Application data that raced ahead of our reply stays for the relay. */
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50, 'G', 'E'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  socks5_request_t req;
  uint8_t reply = 0xEE;
  assert_int_equal(socks5_read_request(b, &req, &reply), SOCKS5_OK);
  assert_evbuffer_is(b, msg + 10, 2);
  evbuffer_free(b);
}

static void test_request_byte_by_byte(void **state) {
  (void)state;
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x03, 3, 'a', '.', 'b', 0x00, 0x16};
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_request_t req;
  uint8_t reply = 0xEE;
  for (size_t i = 0; i < sizeof msg - 1; i++) {
    assert_int_equal(evbuffer_add(b, &msg[i], 1), 0);
    assert_int_equal(socks5_read_request(b, &req, &reply), SOCKS5_NEED_MORE);
    assert_evbuffer_is(b, msg, i + 1);
  }
  assert_int_equal(evbuffer_add(b, &msg[sizeof msg - 1], 1), 0);
  assert_int_equal(socks5_read_request(b, &req, &reply), SOCKS5_OK);
  assert_string_equal(req.dest.host, "a.b");
  assert_int_equal(req.dest.port, 22);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

/* ---- replies ---- */

static void test_reply_ipv4(void **state) {
  (void)state;
  struct sockaddr_storage v4 = test_sockaddr("198.51.100.9", 1080);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_write_reply(b, SOCKS5_REP_SUCCEEDED, (const struct sockaddr *)&v4);
  const uint8_t want[] = {0x05, 0x00, 0x00, 0x01, 198, 51, 100, 9, 0x04, 0x38};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_reply_ipv6(void **state) {
  (void)state;
  struct sockaddr_storage v6 = test_sockaddr("2001:db8::ff", 65535);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_write_reply(b, SOCKS5_REP_SETTINGS_INVALID, (const struct sockaddr *)&v6);
  const uint8_t want[] = {0x05, 0x13, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                          0,    0,    0,    0,    0,    0,    0,    0xff, 0xff, 0xff};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_reply_null_bound(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks5_write_reply(b, SOCKS5_REP_CONN_REFUSED, NULL);
  const uint8_t want[] = {0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_reply_for_errno(void **state) {
  (void)state;
  static const struct {
    int err;
    uint8_t rep;
  } cases[] = {
      {ECONNREFUSED, 0x05}, {ENETUNREACH, 0x03}, {EHOSTUNREACH, 0x04},
      {EHOSTDOWN, 0x04},    {ENOENT, 0x04},      {ETIMEDOUT, 0x06},
      {EACCES, 0x02},       {EPERM, 0x02},       {ECONNRESET, 0x05},
      {ENETDOWN, 0x03},     {EAFNOSUPPORT, 0x08}, {EMFILE, 0x01},
      {ECONNABORTED, 0x01}, {EINVAL, 0x01},      {0, 0x01},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(socks5_reply_for_errno(cases[i].err), cases[i].rep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_greeting_ok),
      cmocka_unit_test(test_greeting_offers),
      cmocka_unit_test(test_greeting_all_255_methods),
      cmocka_unit_test(test_greeting_bad_version),
      cmocka_unit_test(test_greeting_bad_version_first_byte),
      cmocka_unit_test(test_greeting_zero_methods),
      cmocka_unit_test(test_greeting_empty),
      cmocka_unit_test(test_greeting_byte_by_byte),
      cmocka_unit_test(test_greeting_leaves_trailing_bytes),
      cmocka_unit_test(test_write_method),
      cmocka_unit_test(test_choose_method),
      cmocka_unit_test(test_userpass_ok),
      cmocka_unit_test(test_userpass_lengths_0_and_255),
      cmocka_unit_test(test_userpass_bad_version),
      cmocka_unit_test(test_userpass_leaves_trailing_bytes),
      cmocka_unit_test(test_userpass_status),
      cmocka_unit_test(test_json_block_ok),
      cmocka_unit_test(test_json_block_zero_length),
      cmocka_unit_test(test_json_block_at_limit),
      cmocka_unit_test(test_json_block_over_limit),
      cmocka_unit_test(test_json_block_leaves_trailing_bytes),
      cmocka_unit_test(test_request_ipv4),
      cmocka_unit_test(test_request_ipv6),
      cmocka_unit_test(test_request_domain),
      cmocka_unit_test(test_request_domain_max_length),
      cmocka_unit_test(test_request_domain_zero_length),
      cmocka_unit_test(test_request_domain_embedded_nul),
      cmocka_unit_test(test_request_domain_trailing_nul),
      cmocka_unit_test(test_request_bad_version),
      cmocka_unit_test(test_request_bad_rsv),
      cmocka_unit_test(test_request_unknown_atyp),
      cmocka_unit_test(test_request_other_commands_parse),
      cmocka_unit_test(test_request_leaves_trailing_bytes),
      cmocka_unit_test(test_request_byte_by_byte),
      cmocka_unit_test(test_reply_ipv4),
      cmocka_unit_test(test_reply_ipv6),
      cmocka_unit_test(test_reply_null_bound),
      cmocka_unit_test(test_reply_for_errno),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
