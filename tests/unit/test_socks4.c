/* test_socks4: the SOCKS4/4a codec against exact bytes.
 *
 * Requests are built field by field; every valid one is also fed as each
 * of its proper prefixes (NEED_MORE, buffer untouched) and byte by byte
 * into one buffer. Errors must leave the buffer as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/socks4.h"

#include "testutil.h"

/* VN CD PORT(2) IP(4) USERID(255) NUL HOST(255) NUL, plus room for the
 * overlong cases. */
#define TEST_REQ_CAP 1024

typedef struct test_req {
  uint8_t b[TEST_REQ_CAP];
  size_t n;
} test_req_t;

/* Header with the given command, port and IPv4 bytes. */
static test_req_t req_header(uint8_t cmd, uint16_t port, uint8_t a, uint8_t b, uint8_t c,
                             uint8_t d) {
  test_req_t r = {.n = 0};
  r.b[r.n++] = 0x04;
  r.b[r.n++] = cmd;
  r.b[r.n++] = (uint8_t)(port >> 8);
  r.b[r.n++] = (uint8_t)port;
  r.b[r.n++] = a;
  r.b[r.n++] = b;
  r.b[r.n++] = c;
  r.b[r.n++] = d;
  return r;
}

/* Appends len bytes of c and, if nul, a terminating NUL. */
static void req_field(test_req_t *r, uint8_t c, size_t len, int nul) {
  assert_true(r->n + len + 1 <= TEST_REQ_CAP);
  memset(r->b + r->n, c, len);
  r->n += len;
  if (nul)
    r->b[r->n++] = 0;
}

static void req_text(test_req_t *r, const char *s) {
  size_t len = strlen(s) + 1;
  assert_true(r->n + len <= TEST_REQ_CAP);
  memcpy(r->b + r->n, s, len);
  r->n += len;
}

/* Reads from exactly data[0..len); on OK the buffer must be empty, else
 * unchanged. */
static socks4_result_t read_exact(const uint8_t *data, size_t len, socks4_request_t *req) {
  struct evbuffer *b = test_evbuffer_with(data, len);
  socks4_result_t res = socks4_read_request(b, req);
  if (res == SOCKS4_OK)
    assert_int_equal(evbuffer_get_length(b), 0);
  else
    assert_evbuffer_is(b, data, len);
  evbuffer_free(b);
  return res;
}

/* A valid request: OK whole, NEED_MORE for every proper prefix, and OK
 * after arriving byte by byte into one buffer. */
static void read_valid(const test_req_t *r, socks4_request_t *req) {
  for (size_t i = 0; i < r->n; i++) {
    socks4_request_t scratch;
    if (read_exact(r->b, i, &scratch) != SOCKS4_NEED_MORE)
      fail_msg("prefix of %zu of %zu bytes did not wait", i, r->n);
  }
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  for (size_t i = 0; i < r->n; i++) {
    assert_int_equal(evbuffer_add(b, &r->b[i], 1), 0);
    socks4_result_t res = socks4_read_request(b, req);
    assert_int_equal(res, i + 1 == r->n ? SOCKS4_OK : SOCKS4_NEED_MORE);
  }
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
  assert_int_equal(read_exact(r->b, r->n, req), SOCKS4_OK);
}

/* ---- SOCKS4 ---- */

static void test_connect_ipv4(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 443, 192, 0, 2, 7);
  req_text(&r, "");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_int_equal(req.cmd, SOCKS4_CMD_CONNECT);
  assert_ip_endpoint(&req.dest, "192.0.2.7", 443, r.b + 4);
  assert_string_equal(req.userid, "");
}

static void test_userid(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 1, 10, 0, 0, 1);
  req_text(&r, "shared-secret=rahasia;secrets-file=/tmp/blob");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_string_equal(req.userid, "shared-secret=rahasia;secrets-file=/tmp/blob");
  assert_int_equal(req.dest.port, 1);
}

static void test_userid_max(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 127, 0, 0, 1);
  req_field(&r, 'u', SOCKS4_USERID_MAX, 1);
  socks4_request_t req;
  read_valid(&r, &req);
  assert_int_equal(strlen(req.userid), SOCKS4_USERID_MAX);
}

static void test_userid_overlong(void **state) {
  (void)state;
  /* 256 bytes with no NUL: an error as soon as the 256th is in. */
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 127, 0, 0, 1);
  req_field(&r, 'u', SOCKS4_USERID_MAX + 1, 0);
  socks4_request_t req;
  assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
  assert_int_equal(read_exact(r.b, r.n - 1, &req), SOCKS4_NEED_MORE);
  /* With its NUL too, and with much more behind it. */
  req_field(&r, 'x', 300, 1);
  assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
}

static void test_bad_version(void **state) {
  (void)state;
  static const uint8_t versions[] = {0x00, 0x05, 0x40, 'G', 0xFF};
  for (size_t i = 0; i < sizeof versions; i++) {
    test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 127, 0, 0, 1);
    req_text(&r, "");
    r.b[0] = versions[i];
    socks4_request_t req;
    assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
    /* Refused on the first byte, without waiting. */
    assert_int_equal(read_exact(r.b, 1, &req), SOCKS4_ERROR);
  }
}

static void test_empty_buffer(void **state) {
  (void)state;
  socks4_request_t req;
  assert_int_equal(read_exact(NULL, 0, &req), SOCKS4_NEED_MORE);
}

static void test_bind_and_other_commands_parse(void **state) {
  (void)state;
  /* The codec reads them; the client answers 0x5B. */
  static const uint8_t cmds[] = {SOCKS4_CMD_BIND, 0x00, 0x03, 0xFF};
  for (size_t i = 0; i < sizeof cmds; i++) {
    test_req_t r = req_header(cmds[i], 21, 198, 51, 100, 1);
    req_text(&r, "id");
    socks4_request_t req;
    assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_OK);
    assert_int_equal(req.cmd, cmds[i]);
    assert_string_equal(req.dest.host, "198.51.100.1");
    assert_int_equal(req.dest.port, 21);
    assert_string_equal(req.userid, "id");
  }
}

static void test_leaves_trailing_bytes(void **state) {
  (void)state;
  /* Application data pipelined behind the request stays for the relay. */
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 127, 0, 0, 1);
  req_text(&r, "u");
  size_t req_len = r.n;
  memcpy(r.b + r.n, "GET /", 5);
  r.n += 5;
  struct evbuffer *b = test_evbuffer_with(r.b, r.n);
  socks4_request_t req;
  assert_int_equal(socks4_read_request(b, &req), SOCKS4_OK);
  assert_evbuffer_is(b, r.b + req_len, 5);
  evbuffer_free(b);
}

static void test_zero_ip_is_plain_socks4(void **state) {
  (void)state;
  /* 0.0.0.0 is not the SOCKS4a marker (x must be non-zero): no HOST. */
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 0);
  req_text(&r, "");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_string_equal(req.dest.host, "0.0.0.0");
  assert_int_equal(req.dest.family, AF_INET);
  /* Neither is 0.0.1.1: only the last byte may be set. */
  r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 1, 1);
  req_text(&r, "");
  read_valid(&r, &req);
  assert_string_equal(req.dest.host, "0.0.1.1");
}

/* ---- SOCKS4a ---- */

static void test_4a_host(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 8080, 0, 0, 0, 1);
  req_text(&r, "k=v");
  req_text(&r, "example.com");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_string_equal(req.dest.host, "example.com");
  assert_int_equal(req.dest.port, 8080);
  assert_int_equal(req.dest.family, AF_UNSPEC);
  assert_int_equal(req.dest.salen, 0);
  assert_string_equal(req.userid, "k=v");
}

static void test_4a_any_marker_and_empty_userid(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 0xFF);
  req_text(&r, "");
  req_text(&r, "a");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_string_equal(req.dest.host, "a");
  assert_string_equal(req.userid, "");
}

static void test_4a_max_fields(void **state) {
  (void)state;
  /* The longest valid request: 8 + 256 + 256 bytes. */
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 9);
  req_field(&r, 'u', SOCKS4_USERID_MAX, 1);
  req_field(&r, 'h', SOCKS4_HOST_MAX, 1);
  assert_int_equal(r.n, 8 + 256 + 256);
  socks4_request_t req;
  read_valid(&r, &req);
  assert_int_equal(strlen(req.userid), SOCKS4_USERID_MAX);
  assert_int_equal(strlen(req.dest.host), SOCKS4_HOST_MAX);
  assert_int_equal(req.dest.host[0], 'h');
}

static void test_4a_host_overlong(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 1);
  req_text(&r, "");
  req_field(&r, 'h', SOCKS4_HOST_MAX + 1, 0);
  socks4_request_t req;
  assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
  assert_int_equal(read_exact(r.b, r.n - 1, &req), SOCKS4_NEED_MORE);
  /* Also behind a full-length USERID, where the request is longest. */
  r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 1);
  req_field(&r, 'u', SOCKS4_USERID_MAX, 1);
  req_field(&r, 'h', SOCKS4_HOST_MAX + 1, 1);
  assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
  assert_int_equal(read_exact(r.b, r.n - 2, &req), SOCKS4_NEED_MORE);
}

static void test_4a_empty_host(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_CONNECT, 80, 0, 0, 0, 1);
  req_text(&r, "u");
  req_text(&r, "");
  socks4_request_t req;
  assert_int_equal(read_exact(r.b, r.n, &req), SOCKS4_ERROR);
  /* Up to the USERID's NUL it still waits. */
  assert_int_equal(read_exact(r.b, r.n - 1, &req), SOCKS4_NEED_MORE);
}

static void test_4a_bind_parses(void **state) {
  (void)state;
  test_req_t r = req_header(SOCKS4_CMD_BIND, 80, 0, 0, 0, 1);
  req_text(&r, "");
  req_text(&r, "ftp.example");
  socks4_request_t req;
  read_valid(&r, &req);
  assert_int_equal(req.cmd, SOCKS4_CMD_BIND);
  assert_string_equal(req.dest.host, "ftp.example");
}

/* ---- replies ---- */

static void test_reply(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  socks4_write_reply(b, SOCKS4_REP_GRANTED);
  socks4_write_reply(b, SOCKS4_REP_REJECTED);
  const uint8_t want[] = {0x00, 0x5A, 0, 0, 0, 0, 0, 0, 0x00, 0x5B, 0, 0, 0, 0, 0, 0};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_ipv4),
      cmocka_unit_test(test_userid),
      cmocka_unit_test(test_userid_max),
      cmocka_unit_test(test_userid_overlong),
      cmocka_unit_test(test_bad_version),
      cmocka_unit_test(test_empty_buffer),
      cmocka_unit_test(test_bind_and_other_commands_parse),
      cmocka_unit_test(test_leaves_trailing_bytes),
      cmocka_unit_test(test_zero_ip_is_plain_socks4),
      cmocka_unit_test(test_4a_host),
      cmocka_unit_test(test_4a_any_marker_and_empty_userid),
      cmocka_unit_test(test_4a_max_fields),
      cmocka_unit_test(test_4a_host_overlong),
      cmocka_unit_test(test_4a_empty_host),
      cmocka_unit_test(test_4a_bind_parses),
      cmocka_unit_test(test_reply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
