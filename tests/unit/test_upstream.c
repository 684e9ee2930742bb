/* test_upstream: dialing through an upstream proxy.
 *
 * Three layers, bottom up:
 *  - the codecs (upstream_codec.h) against exact bytes: every writer's
 *    output; every reader fed every proper prefix of an answer (NEED_MORE,
 *    buffer unchanged), then the whole answer plus tunnel bytes (exactly
 *    the answer drained); malformed answers; every reply code's mapping
 *    through socks5_reply_for_errno(), as the application will see it;
 *  - the handshake (upstream.h) over a socketpair, the test playing the
 *    proxy: whole conversations, answers split byte by byte, failures,
 *    bytes after the answer kept, cancel;
 *  - dial_start() with a proxy over loopback TCP: names not resolved
 *    locally (no DNS base at all), a proxy that is not listening, one that
 *    never answers (the deadline), a destination the proxy type cannot
 *    carry, cancel.
 * Nothing here sleeps; every wait is a bounded loop (testutil.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "net/dial.h"
#include "net/socks5.h"
#include "net/upstream.h"
#include "net/upstream_codec.h"

#include "testutil.h"

#define WAIT_MAX_ITERATIONS 100000
#define TEST_MAX_SECONDS 30
#define TUNNEL_BYTES "\x00tunnel\r\n\r\nbytes\x00"
#define TUNNEL_LEN (sizeof TUNNEL_BYTES - 1)

/* ---- helpers: endpoints and proxies ---- */

static addr_endpoint_t ep_ip(const char *ip, uint16_t port) {
  addr_endpoint_t ep;
  memset(&ep, 0, sizeof ep);
  ep.sa = test_sockaddr(ip, port);
  ep.family = ep.sa.ss_family;
  ep.salen = ep.family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  ep.port = port;
  snprintf(ep.host, sizeof ep.host, "%s", ip);
  return ep;
}

static addr_endpoint_t ep_name(const char *name, uint16_t port) {
  addr_endpoint_t ep;
  memset(&ep, 0, sizeof ep);
  ep.family = AF_UNSPEC;
  ep.port = port;
  snprintf(ep.host, sizeof ep.host, "%s", name);
  return ep;
}

static upstream_proxy_t proxy_of(upstream_type_t type, const char *user, const char *pass) {
  upstream_proxy_t p;
  memset(&p, 0, sizeof p);
  p.type = type;
  if (user) {
    p.has_auth = true;
    snprintf(p.user, sizeof p.user, "%s", user);
    snprintf(p.pass, sizeof p.pass, "%s", pass);
  }
  p.addr = ep_ip("127.0.0.1", 1080);
  return p;
}

/* ---- helpers: readers against every split ---- */

typedef upstream_result_t (*reader_fn)(struct evbuffer *in, int *code);

static upstream_result_t rd_method(struct evbuffer *in, int *code) {
  uint8_t v = 0xEE;
  upstream_result_t r = upstream_socks5_read_method(in, &v);
  *code = v;
  return r;
}

static upstream_result_t rd_auth(struct evbuffer *in, int *code) {
  uint8_t v = 0xEE;
  upstream_result_t r = upstream_socks5_read_auth(in, &v);
  *code = v;
  return r;
}

static upstream_result_t rd_s5(struct evbuffer *in, int *code) {
  uint8_t v = 0xEE;
  upstream_result_t r = upstream_socks5_read_reply(in, &v);
  *code = v;
  return r;
}

static upstream_result_t rd_s4(struct evbuffer *in, int *code) {
  uint8_t v = 0xEE;
  upstream_result_t r = upstream_socks4_read_reply(in, &v);
  *code = v;
  return r;
}

static upstream_result_t rd_http(struct evbuffer *in, int *code) {
  *code = -1;
  return upstream_http_read_response(in, code);
}

/* Feeds every proper prefix of msg (NEED_MORE, nothing drained); then msg
 * with tunnel bytes behind it, arriving whole and in two pieces cut at
 * every point inside msg (OK, code, exactly msg drained); then msg alone
 * (OK, nothing left). */
static void expect_answer(reader_fn rd, const void *msg, size_t len, int want_code) {
  const uint8_t *m = msg;
  for (size_t i = 0; i < len; i++) {
    struct evbuffer *b = test_evbuffer_with(m, i);
    int code;
    if (rd(b, &code) != UPSTREAM_NEED_MORE)
      fail_msg("prefix of %zu/%zu bytes: not NEED_MORE", i, len);
    assert_evbuffer_is(b, m, i);
    evbuffer_free(b);
  }
  uint8_t *whole = malloc(len + TUNNEL_LEN);
  assert_non_null(whole);
  memcpy(whole, m, len);
  memcpy(whole + len, TUNNEL_BYTES, TUNNEL_LEN);
  for (size_t cut = 0; cut <= len; cut++) {
    /* cut == len: the answer and the tunnel bytes in one piece. */
    size_t first = cut < len ? cut : len + TUNNEL_LEN;
    struct evbuffer *b = test_evbuffer_with(whole, first);
    int code = -2;
    upstream_result_t r = rd(b, &code);
    if (cut < len) {
      assert_int_equal(r, UPSTREAM_NEED_MORE);
      assert_int_equal(evbuffer_add(b, whole + cut, len + TUNNEL_LEN - cut), 0);
      r = rd(b, &code);
    }
    if (r != UPSTREAM_OK)
      fail_msg("cut at %zu/%zu: not OK", cut, len);
    assert_int_equal(code, want_code);
    assert_evbuffer_is(b, TUNNEL_BYTES, TUNNEL_LEN);
    evbuffer_free(b);
  }
  struct evbuffer *b = test_evbuffer_with(whole, len);
  int code = -2;
  assert_int_equal(rd(b, &code), UPSTREAM_OK);
  assert_int_equal(code, want_code);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
  free(whole);
}

/* The reader refuses msg once all of it is there, draining nothing. */
static void expect_error(reader_fn rd, const void *msg, size_t len) {
  struct evbuffer *b = test_evbuffer_with(msg, len);
  int code;
  if (rd(b, &code) != UPSTREAM_ERROR)
    fail_msg("a malformed answer of %zu bytes was not refused", len);
  assert_evbuffer_is(b, msg, len);
  evbuffer_free(b);
}

#define EXPECT_ANSWER(rd, lit, code) expect_answer(rd, lit, sizeof lit - 1, code)
#define EXPECT_ERROR(rd, lit) expect_error(rd, lit, sizeof lit - 1)

/* ---- SOCKS5 codec ---- */

static void test_s5_greeting(void **state) {
  struct evbuffer *b = evbuffer_new();
  upstream_socks5_write_greeting(b, false);
  assert_evbuffer_is(b, "\x05\x01\x00", 3);
  evbuffer_drain(b, 3);
  upstream_socks5_write_greeting(b, true);
  assert_evbuffer_is(b, "\x05\x01\x02", 3);
  evbuffer_free(b);
}

static void test_s5_read_method(void **state) {
  EXPECT_ANSWER(rd_method, "\x05\x00", 0x00);
  EXPECT_ANSWER(rd_method, "\x05\x02", 0x02);
  EXPECT_ANSWER(rd_method, "\x05\xff", 0xff);
  /* Not SOCKS5: refused at the first byte. */
  EXPECT_ERROR(rd_method, "\x04");
  EXPECT_ERROR(rd_method, "\x00\x00");
  EXPECT_ERROR(rd_method, "HTTP/1.1 400 Bad Request\r\n");
}

static void test_s5_write_auth(void **state) {
  struct evbuffer *b = evbuffer_new();
  assert_int_equal(upstream_socks5_write_auth(b, "tor", "p:w@x"), 0);
  assert_evbuffer_is(b, "\x01\x03tor\x05p:w@x", 11);
  evbuffer_drain(b, 11);
  char u[UPSTREAM_CRED_MAX + 2];
  memset(u, 'u', UPSTREAM_CRED_MAX);
  u[UPSTREAM_CRED_MAX] = '\0';
  assert_int_equal(upstream_socks5_write_auth(b, u, u), 0);
  assert_int_equal(evbuffer_get_length(b), 3 + 2 * UPSTREAM_CRED_MAX);
  uint8_t *p = evbuffer_pullup(b, -1);
  assert_int_equal(p[1], 255);
  assert_int_equal(p[2 + 255], 255);
  evbuffer_drain(b, evbuffer_get_length(b));
  u[UPSTREAM_CRED_MAX] = 'u';
  u[UPSTREAM_CRED_MAX + 1] = '\0';
  assert_int_equal(upstream_socks5_write_auth(b, u, "p"), EINVAL);
  assert_int_equal(upstream_socks5_write_auth(b, "u", u), EINVAL);
  assert_int_equal(upstream_socks5_write_auth(b, "", "p"), EINVAL);
  assert_int_equal(upstream_socks5_write_auth(b, "u", ""), EINVAL);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_s5_read_auth(void **state) {
  EXPECT_ANSWER(rd_auth, "\x01\x00", 0);
  EXPECT_ANSWER(rd_auth, "\x01\x01", 1);
  EXPECT_ANSWER(rd_auth, "\x01\xff", 0xff);
  /* Some servers answer with the SOCKS version. */
  EXPECT_ANSWER(rd_auth, "\x05\x00", 0);
  EXPECT_ERROR(rd_auth, "\x02");
  EXPECT_ERROR(rd_auth, "\x00\x00");
}

static void test_s5_write_connect(void **state) {
  struct evbuffer *b = evbuffer_new();
  addr_endpoint_t v4 = ep_ip("192.0.2.7", 443);
  assert_int_equal(upstream_socks5_write_connect(b, &v4), 0);
  assert_evbuffer_is(b, "\x05\x01\x00\x01\xc0\x00\x02\x07\x01\xbb", 10);
  evbuffer_drain(b, 10);
  addr_endpoint_t v6 = ep_ip("2001:db8::1", 80);
  assert_int_equal(upstream_socks5_write_connect(b, &v6), 0);
  assert_evbuffer_is(b,
                "\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                "\x00\x01\x00\x50",
                22);
  evbuffer_drain(b, 22);
  /* A name goes as a name: the proxy resolves it. */
  addr_endpoint_t name = ep_name("bridge.example", 65535);
  assert_int_equal(upstream_socks5_write_connect(b, &name), 0);
  assert_evbuffer_is(b, "\x05\x01\x00\x03\x0e" "bridge.example" "\xff\xff", 21);
  evbuffer_drain(b, 21);
  addr_endpoint_t longest = ep_name("", 1);
  memset(longest.host, 'a', ADDR_HOST_MAX);
  longest.host[ADDR_HOST_MAX] = '\0';
  assert_int_equal(upstream_socks5_write_connect(b, &longest), 0);
  assert_int_equal(evbuffer_get_length(b), 4 + 1 + 255 + 2);
  assert_int_equal(evbuffer_pullup(b, -1)[4], 255);
  evbuffer_drain(b, evbuffer_get_length(b));
  addr_endpoint_t empty = ep_name("", 1);
  assert_int_equal(upstream_socks5_write_connect(b, &empty), EINVAL);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_s5_read_reply(void **state) {
  /* BND.ADDR of each type, the variable one included. */
  EXPECT_ANSWER(rd_s5, "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38", 0x00);
  EXPECT_ANSWER(rd_s5,
                "\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                "\x00\x01\x04\x38",
                0x00);
  EXPECT_ANSWER(rd_s5, "\x05\x00\x00\x03\x09proxy.lan\x04\x38", 0x00);
  EXPECT_ANSWER(rd_s5, "\x05\x00\x00\x03\x00\x04\x38", 0x00);
  EXPECT_ANSWER(rd_s5, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 0x05);
  /* RSV is not checked: it tells us nothing. */
  EXPECT_ANSWER(rd_s5, "\x05\x00\x07\x01\x00\x00\x00\x00\x00\x00", 0x00);
  uint8_t longest[4 + 1 + 255 + 2] = {0x05, 0x00, 0x00, 0x03, 255};
  memset(longest + 5, 'n', 255);
  expect_answer(rd_s5, longest, sizeof longest, 0x00);
}

static void test_s5_read_reply_malformed(void **state) {
  EXPECT_ERROR(rd_s5, "\x04");
  EXPECT_ERROR(rd_s5, "\x00\x5a\x00\x00\x00\x00\x00\x00");
  EXPECT_ERROR(rd_s5, "\x05\x00\x00\x00");
  EXPECT_ERROR(rd_s5, "\x05\x00\x00\x02");
  EXPECT_ERROR(rd_s5, "\x05\x00\x00\x05\x00\x00\x00\x00\x00\x00");
  EXPECT_ERROR(rd_s5, "\x05\x00\x00\xff");
}

/* Every REP code, as the application will see it. */
static void test_s5_rep_mapping(void **state) {
  assert_int_equal(upstream_socks5_rep_errno(0x00), 0);
  for (int rep = 0x01; rep <= 0x06; rep++) {
    int err = upstream_socks5_rep_errno((uint8_t)rep);
    assert_int_not_equal(err, 0);
    if (socks5_reply_for_errno(err) != rep)
      fail_msg("REP 0x%02x -> errno %d -> reply 0x%02x", rep, err, socks5_reply_for_errno(err));
  }
  assert_int_equal(upstream_socks5_rep_errno(0x03), ENETUNREACH);
  assert_int_equal(upstream_socks5_rep_errno(0x04), EHOSTUNREACH);
  assert_int_equal(upstream_socks5_rep_errno(0x05), ECONNREFUSED);
  assert_int_equal(upstream_socks5_rep_errno(0x06), ETIMEDOUT);
  assert_int_equal(upstream_socks5_rep_errno(0x07), EOPNOTSUPP);
  assert_int_equal(upstream_socks5_rep_errno(0x08), EAFNOSUPPORT);
  for (int rep = 0x09; rep <= 0xff; rep++) {
    int err = upstream_socks5_rep_errno((uint8_t)rep);
    assert_int_equal(err, EPROTO);
    assert_int_equal(socks5_reply_for_errno(err), SOCKS5_REP_GENERAL_FAILURE);
  }
}

/* ---- SOCKS4a codec ---- */

static void test_s4_write_connect(void **state) {
  struct evbuffer *b = evbuffer_new();
  addr_endpoint_t v4 = ep_ip("192.0.2.7", 443);
  assert_int_equal(upstream_socks4a_write_connect(b, &v4), 0);
  assert_evbuffer_is(b, "\x04\x01\x01\xbb\xc0\x00\x02\x07\x00", 9);
  evbuffer_drain(b, 9);
  addr_endpoint_t name = ep_name("bridge.example", 8080);
  assert_int_equal(upstream_socks4a_write_connect(b, &name), 0);
  assert_evbuffer_is(b, "\x04\x01\x1f\x90\x00\x00\x00\x01\x00" "bridge.example\x00", 24);
  evbuffer_drain(b, 24);
  addr_endpoint_t v6 = ep_ip("::1", 80);
  assert_int_equal(upstream_socks4a_write_connect(b, &v6), EAFNOSUPPORT);
  addr_endpoint_t empty = ep_name("", 1);
  assert_int_equal(upstream_socks4a_write_connect(b, &empty), EINVAL);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_s4_read_reply(void **state) {
  EXPECT_ANSWER(rd_s4, "\x00\x5a\x00\x00\x00\x00\x00\x00", 0x5a);
  EXPECT_ANSWER(rd_s4, "\x00\x5b\x1f\x90\x7f\x00\x00\x01", 0x5b);
  EXPECT_ANSWER(rd_s4, "\x00\x5d\x00\x00\x00\x00\x00\x00", 0x5d);
  EXPECT_ERROR(rd_s4, "\x04");
  EXPECT_ERROR(rd_s4, "\x05\x00\x00\x01\x00\x00\x00\x00");
  EXPECT_ERROR(rd_s4, "H");
}

static void test_s4_mapping(void **state) {
  assert_int_equal(upstream_socks4_cd_errno(0x5a), 0);
  assert_int_equal(upstream_socks4_cd_errno(0x5b), ECONNREFUSED);
  assert_int_equal(socks5_reply_for_errno(upstream_socks4_cd_errno(0x5b)),
                   SOCKS5_REP_CONN_REFUSED);
  assert_int_equal(socks5_reply_for_errno(upstream_socks4_cd_errno(0x5c)),
                   SOCKS5_REP_NOT_ALLOWED);
  assert_int_equal(socks5_reply_for_errno(upstream_socks4_cd_errno(0x5d)),
                   SOCKS5_REP_NOT_ALLOWED);
  for (int cd = 0; cd <= 0xff; cd++) {
    if (cd >= 0x5a && cd <= 0x5d)
      continue;
    assert_int_equal(upstream_socks4_cd_errno((uint8_t)cd), EPROTO);
  }
}

/* ---- HTTP CONNECT codec ---- */

static void expect_http_request(const addr_endpoint_t *dest, const upstream_proxy_t *p,
                                const char *want) {
  struct evbuffer *b = evbuffer_new();
  assert_int_equal(upstream_http_write_connect(b, dest, p), 0);
  size_t len = evbuffer_get_length(b);
  char *got = calloc(1, len + 1);
  assert_non_null(got);
  evbuffer_copyout(b, got, len);
  assert_string_equal(got, want);
  free(got);
  evbuffer_free(b);
}

static void test_http_write_connect(void **state) {
  upstream_proxy_t anon = proxy_of(UPSTREAM_HTTP, NULL, NULL);
  addr_endpoint_t v4 = ep_ip("192.0.2.7", 443);
  expect_http_request(&v4, &anon,
                      "CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n");
  addr_endpoint_t v6 = ep_ip("2001:db8::1", 8443);
  expect_http_request(&v6, &anon,
                      "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
  addr_endpoint_t name = ep_name("bridge-1.example_x~", 80);
  expect_http_request(&name, &anon,
                      "CONNECT bridge-1.example_x~:80 HTTP/1.1\r\n"
                      "Host: bridge-1.example_x~:80\r\n\r\n");
  /* RFC 7617's own example. */
  upstream_proxy_t auth = proxy_of(UPSTREAM_HTTP, "Aladdin", "open sesame");
  expect_http_request(&v4, &auth,
                      "CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n"
                      "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  /* The longest credentials fit. */
  upstream_proxy_t big = proxy_of(UPSTREAM_HTTP, "u", "p");
  memset(big.user, 'u', UPSTREAM_CRED_MAX);
  memset(big.pass, 'p', UPSTREAM_CRED_MAX);
  addr_endpoint_t longest = ep_name("", 65535);
  memset(longest.host, 'a', ADDR_HOST_MAX);
  struct evbuffer *b = evbuffer_new();
  assert_int_equal(upstream_http_write_connect(b, &longest, &big), 0);
  size_t len = evbuffer_get_length(b);
  char *req = calloc(1, len + 1);
  assert_non_null(req);
  evbuffer_copyout(b, req, len);
  const char *field = strstr(req, "Proxy-Authorization: Basic ");
  assert_non_null(field);
  field += strlen("Proxy-Authorization: Basic ");
  const char *end = strstr(field, "\r\n\r\n");
  assert_non_null(end);
  unsigned char userpass[2 * UPSTREAM_CRED_MAX + 2];
  size_t n = 0;
  assert_int_equal(sodium_base642bin(userpass, sizeof userpass, field, (size_t)(end - field), NULL,
                                     &n, NULL, sodium_base64_VARIANT_ORIGINAL),
                   0);
  assert_int_equal(n, 2 * UPSTREAM_CRED_MAX + 1);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(userpass[i], i < UPSTREAM_CRED_MAX ? 'u' : i == UPSTREAM_CRED_MAX ? ':' : 'p');
  free(req);
  evbuffer_free(b);
}

/* A name that could end the request line or add a header is refused. */
static void test_http_write_bad_names(void **state) {
  const char *bad[] = {"a\r\nX-Evil: 1", "a b", "a:1", "a/b", "a@b", "[::1]",
                       "a%0d",          "a\tb", "\xc3\xa9", "a?b", "a#b", ""};
  upstream_proxy_t anon = proxy_of(UPSTREAM_HTTP, NULL, NULL);
  struct evbuffer *b = evbuffer_new();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    addr_endpoint_t name = ep_name(bad[i], 80);
    if (upstream_http_write_connect(b, &name, &anon) != EINVAL)
      fail_msg("name \"%s\" accepted", bad[i]);
    assert_int_equal(upstream_check_dest(UPSTREAM_HTTP, &name), EINVAL);
    assert_int_equal(evbuffer_get_length(b), 0);
  }
  evbuffer_free(b);
}

static void test_check_dest(void **state) {
  addr_endpoint_t v6 = ep_ip("::1", 1);
  addr_endpoint_t v4 = ep_ip("127.0.0.1", 1);
  addr_endpoint_t odd = ep_name("a b", 1);
  assert_int_equal(upstream_check_dest(UPSTREAM_SOCKS4A, &v6), EAFNOSUPPORT);
  assert_int_equal(upstream_check_dest(UPSTREAM_SOCKS5, &v6), 0);
  assert_int_equal(upstream_check_dest(UPSTREAM_HTTP, &v6), 0);
  assert_int_equal(upstream_check_dest(UPSTREAM_SOCKS4A, &v4), 0);
  /* SOCKS carries a name as counted or NUL-ended bytes: any byte is safe. */
  assert_int_equal(upstream_check_dest(UPSTREAM_SOCKS5, &odd), 0);
  assert_int_equal(upstream_check_dest(UPSTREAM_SOCKS4A, &odd), 0);
  assert_int_equal(upstream_check_dest(UPSTREAM_HTTP, &odd), EINVAL);
}

static void test_http_read_ok(void **state) {
  EXPECT_ANSWER(rd_http, "HTTP/1.0 200 Connection established\r\n\r\n", 200);
  EXPECT_ANSWER(rd_http,
                "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
                200);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 200 OK\r\nVia: 1.1 x\r\nX-A: b\r\n\r\n", 200);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 204\r\n\r\n", 204);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 200 \r\n\r\n", 200);
  /* Bare LF line ends, and a mix. */
  EXPECT_ANSWER(rd_http, "HTTP/1.1 200 OK\n\n", 200);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 200 OK\nA: b\r\n\r\n", 200);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 200 OK\r\nA: b\n\n", 200);
}

static void test_http_read_refusals(void **state) {
  EXPECT_ANSWER(rd_http,
                "HTTP/1.1 407 Proxy Authentication Required\r\n"
                "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
                407);
  EXPECT_ANSWER(rd_http, "HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n", 401);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 403 Access violation\r\n\r\n", 403);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 502 Bad Gateway\r\n\r\n", 502);
  EXPECT_ANSWER(rd_http, "HTTP/1.1 999 ?\r\n\r\n", 999);
}

static void test_http_read_malformed(void **state) {
  EXPECT_ERROR(rd_http, "X");
  EXPECT_ERROR(rd_http, "http/1.1 200 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/2 200\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.x 200 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 20 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1  200 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 2000 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 200OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 099 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 2x0 OK\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 200 O\0K\r\n\r\n");
  EXPECT_ERROR(rd_http, "HTTP/1.1 200 OK\r\nA: \0\r\n\r\n");
  /* A NUL is refused as soon as it arrives, before the header ends. */
  EXPECT_ERROR(rd_http, "HTTP/1.1 200 OK\r\nA\0");
}

/* The header, empty line included, may take UPSTREAM_HTTP_HEADER_MAX bytes
 * and no more. */
static void test_http_read_size_limit(void **state) {
  const char *head = "HTTP/1.1 200 OK\r\nX: ";
  size_t hl = strlen(head);
  for (size_t total = UPSTREAM_HTTP_HEADER_MAX - 1; total <= UPSTREAM_HTTP_HEADER_MAX + 1;
       total++) {
    char *msg = malloc(total + TUNNEL_LEN);
    assert_non_null(msg);
    memcpy(msg, head, hl);
    memset(msg + hl, 'a', total - hl - 4);
    memcpy(msg + total - 4, "\r\n\r\n", 4);
    memcpy(msg + total, TUNNEL_BYTES, TUNNEL_LEN);
    struct evbuffer *b = test_evbuffer_with(msg, total + TUNNEL_LEN);
    int status = 0;
    upstream_result_t r = upstream_http_read_response(b, &status);
    if (total <= UPSTREAM_HTTP_HEADER_MAX) {
      assert_int_equal(r, UPSTREAM_OK);
      assert_int_equal(status, 200);
      assert_evbuffer_is(b, TUNNEL_BYTES, TUNNEL_LEN);
    } else {
      assert_int_equal(r, UPSTREAM_ERROR);
      assert_int_equal(evbuffer_get_length(b), total + TUNNEL_LEN);
    }
    evbuffer_free(b);
    free(msg);
  }
  /* An endless header is refused once the limit is reached, not before. */
  char *endless = malloc(UPSTREAM_HTTP_HEADER_MAX);
  assert_non_null(endless);
  memcpy(endless, head, hl);
  memset(endless + hl, 'a', UPSTREAM_HTTP_HEADER_MAX - hl);
  struct evbuffer *b = test_evbuffer_with(endless, UPSTREAM_HTTP_HEADER_MAX - 1);
  int status = 0;
  assert_int_equal(upstream_http_read_response(b, &status), UPSTREAM_NEED_MORE);
  evbuffer_add(b, endless + UPSTREAM_HTTP_HEADER_MAX - 1, 1);
  assert_int_equal(upstream_http_read_response(b, &status), UPSTREAM_ERROR);
  assert_int_equal(evbuffer_get_length(b), UPSTREAM_HTTP_HEADER_MAX);
  evbuffer_free(b);
  free(endless);
}

static void test_http_mapping(void **state) {
  for (int s = 200; s <= 299; s++)
    assert_int_equal(upstream_http_status_errno(s), 0);
  const struct {
    int status;
    uint8_t rep;
  } table[] = {
      {401, SOCKS5_REP_NOT_ALLOWED},       {403, SOCKS5_REP_NOT_ALLOWED},
      {407, SOCKS5_REP_NOT_ALLOWED},       {404, SOCKS5_REP_HOST_UNREACHABLE},
      {502, SOCKS5_REP_HOST_UNREACHABLE},  {503, SOCKS5_REP_CONN_REFUSED},
      {504, SOCKS5_REP_TTL_EXPIRED},       {500, SOCKS5_REP_GENERAL_FAILURE},
      {400, SOCKS5_REP_GENERAL_FAILURE},   {405, SOCKS5_REP_GENERAL_FAILURE},
      {100, SOCKS5_REP_GENERAL_FAILURE},   {301, SOCKS5_REP_GENERAL_FAILURE},
      {999, SOCKS5_REP_GENERAL_FAILURE},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    int err = upstream_http_status_errno(table[i].status);
    assert_int_not_equal(err, 0);
    if (socks5_reply_for_errno(err) != table[i].rep)
      fail_msg("HTTP %d -> reply 0x%02x, want 0x%02x", table[i].status,
               socks5_reply_for_errno(err), table[i].rep);
  }
}

static void test_add_secret(void **state) {
  struct evbuffer *b = evbuffer_new();
  assert_int_equal(upstream_add_secret(b, "abc", 3), 0);
  assert_int_equal(evbuffer_add(b, "de", 2), 0);
  assert_int_equal(upstream_add_secret(b, "fgh", 3), 0);
  assert_evbuffer_is(b, "abcdefgh", 8);
  evbuffer_free(b); /* ASan: the private copies are freed with it */
}

/* ---- the handshake over a socketpair; the test plays the proxy ---- */

typedef struct done_rec {
  int calls;
  struct bufferevent *bev;
  int err;
} done_rec_t;

typedef struct hs_fixture {
  test_loop_t loop;
  int fds[2]; /* [0]: the handshake's, [1]: the test's (the proxy) */
  struct bufferevent *bev;
  done_rec_t rec;
  upstream_proxy_t proxy;
  upstream_t *u;
} hs_fixture_t;

static void on_done(void *ctx, struct bufferevent *bev, int err) {
  done_rec_t *r = ctx;
  r->calls++;
  r->bev = bev;
  r->err = err;
}

static int hs_setup(void **state) {
  hs_fixture_t *f = calloc(1, sizeof *f);
  if (!f || test_loop_init(&f->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0)
    return -1;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, f->fds) != 0)
    return -1;
  test_set_nonblock(f->fds[0]);
  test_set_nonblock(f->fds[1]);
  f->bev = bufferevent_socket_new(f->loop.base, f->fds[0], BEV_OPT_CLOSE_ON_FREE);
  if (!f->bev)
    return -1;
  test_libevent_warnings_reset();
  *state = f;
  return 0;
}

static int hs_teardown(void **state) {
  hs_fixture_t *f = *state;
  if (f->u)
    upstream_cancel(f->u);
  else if (f->rec.bev)
    bufferevent_free(f->rec.bev);
  else if (f->bev && f->rec.calls == 0)
    bufferevent_free(f->bev); /* never handed over */
  if (f->fds[1] >= 0)
    close(f->fds[1]);
  test_loop_free(&f->loop);
  int rc = test_libevent_warnings_check();
  free(f);
  return rc;
}

static void hs_start(hs_fixture_t *f, const addr_endpoint_t *dest) {
  int err = -1;
  f->u = upstream_start(f->bev, &f->proxy, dest, on_done, &f->rec, &err);
  assert_non_null(f->u);
  assert_int_equal(f->rec.calls, 0); /* never from inside the call */
}

typedef struct collect {
  uint8_t buf[1024];
  size_t n;
} collect_t;

static void collect_bytes(void *arg, const uint8_t *p, size_t n) {
  collect_t *c = arg;
  assert_true(c->n + n <= sizeof c->buf);
  memcpy(c->buf + c->n, p, n);
  c->n += n;
}

/* Runs the loop until the proxy side has read exactly want[0..len). */
static void proxy_expect(hs_fixture_t *f, const void *want, size_t len) {
  collect_t c = {.n = 0};
  test_loop_begin_wait(&f->loop, "the handshake's message to the proxy");
  while (c.n < len) {
    test_loop_step(&f->loop);
    assert_int_equal(test_read_some(f->fds[1], collect_bytes, &c, false),
                     TEST_READ_WOULD_BLOCK);
  }
  test_loop_steps(&f->loop, 3);
  test_read_some(f->fds[1], collect_bytes, &c, false);
  assert_int_equal(c.n, len);
  assert_memory_equal(c.buf, want, len);
}

static void proxy_send(hs_fixture_t *f, const void *data, size_t len) {
  test_write_all(f->fds[1], data, len);
}

/* Sends an answer one byte at a time with loop passes between, so every
 * split point of it meets the handshake; the last byte goes together with
 * tail (the tunnel's first bytes after a final answer). */
static void proxy_send_slowly(hs_fixture_t *f, const void *data, size_t len, const char *tail,
                              size_t tail_len) {
  const uint8_t *p = data;
  for (size_t i = 0; i + 1 < len; i++) {
    proxy_send(f, p + i, 1);
    test_loop_steps(&f->loop, 2);
    assert_int_equal(f->rec.calls, 0);
  }
  uint8_t last[1 + TUNNEL_LEN];
  assert_true(tail_len <= TUNNEL_LEN);
  last[0] = p[len - 1];
  memcpy(last + 1, tail, tail_len);
  proxy_send(f, last, 1 + tail_len);
}

static void wait_done(hs_fixture_t *f) {
  test_loop_begin_wait(&f->loop, "the handshake's end");
  while (f->rec.calls == 0)
    test_loop_step(&f->loop);
  f->u = NULL;
  assert_int_equal(f->rec.calls, 1);
}

/* Success: the tunnel comes back with the far end's first bytes in its
 * input, and it still carries bytes both ways. */
static void expect_tunnel(hs_fixture_t *f) {
  wait_done(f);
  assert_int_equal(f->rec.err, 0);
  assert_ptr_equal(f->rec.bev, f->bev);
  test_loop_steps(&f->loop, 3);
  assert_evbuffer_is(bufferevent_get_input(f->rec.bev), TUNNEL_BYTES, TUNNEL_LEN);
  bufferevent_write(f->rec.bev, "up", 2);
  proxy_expect(f, "up", 2);
}

static void expect_failure(hs_fixture_t *f, int err) {
  wait_done(f);
  assert_null(f->rec.bev);
  if (f->rec.err != err)
    fail_msg("errno %d (%s), want %d (%s)", f->rec.err, strerror(f->rec.err), err,
             strerror(err));
}

#define SEND(f, lit) proxy_send(f, lit, sizeof lit - 1)
#define SEND_SLOWLY(f, lit) proxy_send_slowly(f, lit, sizeof lit - 1, "", 0)
#define SEND_SLOWLY_THEN_TUNNEL(f, lit) \
  proxy_send_slowly(f, lit, sizeof lit - 1, TUNNEL_BYTES, TUNNEL_LEN)
#define EXPECT(f, lit) proxy_expect(f, lit, sizeof lit - 1)

static void test_hs_socks5_no_auth(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  addr_endpoint_t dest = ep_name("bridge.example", 443);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x00");
  SEND(f, "\x05\x00");
  EXPECT(f, "\x05\x01\x00\x03\x0e" "bridge.example\x01\xbb");
  SEND(f, "\x05\x00\x00\x03\x03" "lan\x04\x38" TUNNEL_BYTES);
  expect_tunnel(f);
}

static void test_hs_socks5_auth_slowly(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, "alice", "s3:cr@t");
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x02");
  SEND_SLOWLY(f, "\x05\x02");
  EXPECT(f, "\x01\x05" "alice" "\x07" "s3:cr@t");
  SEND_SLOWLY(f, "\x01\x00");
  EXPECT(f, "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50");
  SEND_SLOWLY_THEN_TUNNEL(f, "\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                             "\x00\x00\x00\x00\x00\x01\x04\x38");
  expect_tunnel(f);
}

/* Method choice, auth status and reply in one segment: each is taken in
 * turn, and what follows is the tunnel's. */
static void test_hs_socks5_answers_together(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, "u", "p");
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x02");
  SEND(f, "\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00" TUNNEL_BYTES);
  EXPECT(f, "\x01\x01u\x01p\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50");
  expect_tunnel(f);
}

static void test_hs_socks5_rep_refused(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x00");
  SEND(f, "\x05\x00");
  EXPECT(f, "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50");
  SEND(f, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00");
  expect_failure(f, ECONNREFUSED);
}

static void test_hs_socks5_no_method(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x00");
  SEND(f, "\x05\xff");
  expect_failure(f, EACCES);
  assert_int_equal(socks5_reply_for_errno(f->rec.err), SOCKS5_REP_NOT_ALLOWED);
}

/* A method we did not offer breaks the protocol. */
static void test_hs_socks5_unoffered_method(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, "u", "p");
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x02");
  SEND(f, "\x05\x00");
  expect_failure(f, EPROTO);
}

static void test_hs_socks5_bad_password(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, "u", "wrong");
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x02");
  SEND(f, "\x05\x02");
  EXPECT(f, "\x01\x01u\x05wrong");
  SEND(f, "\x01\x01");
  expect_failure(f, EACCES);
  assert_int_equal(socks5_reply_for_errno(f->rec.err), SOCKS5_REP_NOT_ALLOWED);
}

static void test_hs_proxy_closes(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x00");
  SEND(f, "\x05"); /* half an answer, then EOF */
  close(f->fds[1]);
  f->fds[1] = -1;
  expect_failure(f, ECONNRESET);
}

static void test_hs_garbage(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x00");
  SEND(f, "HTTP/1.1 400 Bad Request\r\n\r\n");
  expect_failure(f, EPROTO);
}

static void test_hs_socks4a(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS4A, NULL, NULL);
  addr_endpoint_t dest = ep_name("bridge.example", 443);
  hs_start(f, &dest);
  EXPECT(f, "\x04\x01\x01\xbb\x00\x00\x00\x01\x00" "bridge.example\x00");
  SEND_SLOWLY_THEN_TUNNEL(f, "\x00\x5a\x00\x00\x00\x00\x00\x00");
  expect_tunnel(f);
}

static void test_hs_socks4a_rejected(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS4A, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x04\x01\x00\x50\xc0\x00\x02\x01\x00");
  SEND(f, "\x00\x5b\x00\x00\x00\x00\x00\x00");
  expect_failure(f, ECONNREFUSED);
}

/* IPv6 cannot be said in SOCKS4a: refused before anything is sent, and the
 * bufferevent stays the caller's. */
static void test_hs_socks4a_ipv6(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS4A, NULL, NULL);
  addr_endpoint_t dest = ep_ip("2001:db8::1", 80);
  int err = 0;
  assert_null(upstream_start(f->bev, &f->proxy, &dest, on_done, &f->rec, &err));
  assert_int_equal(err, EAFNOSUPPORT);
  assert_int_equal(evbuffer_get_length(bufferevent_get_output(f->bev)), 0);
  assert_int_equal(f->rec.calls, 0);
}

static void test_hs_http(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_HTTP, "Aladdin", "open sesame");
  addr_endpoint_t dest = ep_ip("::1", 9001);
  hs_start(f, &dest);
  EXPECT(f, "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n"
            "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  SEND_SLOWLY_THEN_TUNNEL(f, "HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n");
  expect_tunnel(f);
}

static void test_hs_http_407(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_HTTP, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 443);
  hs_start(f, &dest);
  EXPECT(f, "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n");
  SEND(f, "HTTP/1.1 407 Proxy Authentication Required\r\n"
          "Proxy-Authenticate: Basic realm=\"p\"\r\n\r\n<html>");
  expect_failure(f, EACCES);
}

static void test_hs_http_oversize(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_HTTP, NULL, NULL);
  addr_endpoint_t dest = ep_ip("192.0.2.1", 443);
  hs_start(f, &dest);
  EXPECT(f, "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n");
  SEND(f, "HTTP/1.1 200 OK\r\n");
  char line[512];
  memset(line, 'a', sizeof line - 2);
  memcpy(line + sizeof line - 2, "\r\n", 2);
  for (int i = 0; i < UPSTREAM_HTTP_HEADER_MAX / (int)sizeof line && f->rec.calls == 0; i++) {
    proxy_send(f, line, sizeof line);
    test_loop_steps(&f->loop, 2);
  }
  expect_failure(f, EPROTO);
}

static void test_hs_cancel(void **state) {
  hs_fixture_t *f = *state;
  f->proxy = proxy_of(UPSTREAM_SOCKS5, "u", "p");
  addr_endpoint_t dest = ep_ip("192.0.2.1", 80);
  hs_start(f, &dest);
  EXPECT(f, "\x05\x01\x02");
  upstream_cancel(f->u);
  f->u = NULL;
  f->bev = NULL;
  SEND(f, "\x05\x02");
  test_loop_steps(&f->loop, 5);
  assert_int_equal(f->rec.calls, 0);
  upstream_cancel(NULL);
}

/* ---- dial_start() through a proxy over loopback TCP ---- */

typedef struct dial_fixture {
  test_loop_t loop;
  int listen_fd;
  int proxy_fd; /* the accepted connection: the test plays the proxy */
  uint16_t port;
  done_rec_t rec;
  dial_t *dial;
} dial_fixture_t;

static void on_dial_done(void *ctx, struct bufferevent *bev, int err) {
  dial_fixture_t *f = ctx;
  f->dial = NULL;
  on_done(&f->rec, bev, err);
}

static int dial_setup(void **state) {
  dial_fixture_t *f = calloc(1, sizeof *f);
  if (!f || test_loop_init(&f->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0)
    return -1;
  f->proxy_fd = -1;
  f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_storage ss = test_sockaddr("127.0.0.1", 0);
  socklen_t len = sizeof(struct sockaddr_in);
  if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&ss, len) != 0 ||
      listen(f->listen_fd, 4) != 0 || getsockname(f->listen_fd, (struct sockaddr *)&ss, &len) != 0)
    return -1;
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  test_libevent_warnings_reset();
  *state = f;
  return 0;
}

static int dial_teardown(void **state) {
  dial_fixture_t *f = *state;
  dial_cancel(f->dial);
  if (f->rec.bev)
    bufferevent_free(f->rec.bev);
  if (f->proxy_fd >= 0)
    close(f->proxy_fd);
  if (f->listen_fd >= 0)
    close(f->listen_fd);
  test_loop_free(&f->loop);
  int rc = test_libevent_warnings_check();
  free(f);
  return rc;
}

static void dial_via(dial_fixture_t *f, upstream_proxy_t *proxy, const addr_endpoint_t *dest,
                     unsigned timeout_s) {
  dial_opts_t opts = {.timeout_s = timeout_s, .proxy = proxy};
  /* No DNS base at all: through a proxy a name must never be resolved
   * here. */
  f->dial = dial_start(f->loop.base, NULL, dest, &opts, on_dial_done, f);
  assert_non_null(f->dial);
  assert_int_equal(f->rec.calls, 0);
  /* dial_start copied the proxy: the caller's copy may go. */
  memset(proxy, 0x5a, sizeof *proxy);
}

static void dial_accept(dial_fixture_t *f) {
  test_loop_begin_wait(&f->loop, "the dial to reach the fake proxy");
  while (f->proxy_fd < 0) {
    test_loop_step(&f->loop);
    f->proxy_fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (f->proxy_fd < 0)
      assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

static void dial_proxy_expect(dial_fixture_t *f, const void *want, size_t len) {
  collect_t c = {.n = 0};
  test_loop_begin_wait(&f->loop, "the dial's message to the proxy");
  while (c.n < len) {
    test_loop_step(&f->loop);
    assert_int_equal(test_read_some(f->proxy_fd, collect_bytes, &c, false),
                     TEST_READ_WOULD_BLOCK);
  }
  assert_int_equal(c.n, len);
  assert_memory_equal(c.buf, want, len);
}

static void dial_wait(dial_fixture_t *f) {
  test_loop_begin_wait(&f->loop, "the dial's end");
  while (f->rec.calls == 0)
    test_loop_step(&f->loop);
  assert_int_equal(f->rec.calls, 1);
}

static void test_dial_socks5_name(void **state) {
  dial_fixture_t *f = *state;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_SOCKS5, "user", "pw");
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_name("not-resolved.invalid", 443);
  dial_via(f, &proxy, &dest, 30);
  dial_accept(f);
  dial_proxy_expect(f, "\x05\x01\x02", 3);
  test_write_all(f->proxy_fd, (const uint8_t *)"\x05\x02", 2);
  dial_proxy_expect(f, "\x01\x04user\x02pw", 9);
  test_write_all(f->proxy_fd, (const uint8_t *)"\x01\x00", 2);
  dial_proxy_expect(f, "\x05\x01\x00\x03\x14not-resolved.invalid\x01\xbb", 27);
  test_write_all(f->proxy_fd,
                 (const uint8_t *)"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x01" TUNNEL_BYTES,
                 10 + TUNNEL_LEN);
  dial_wait(f);
  assert_int_equal(f->rec.err, 0);
  assert_non_null(f->rec.bev);
  test_loop_steps(&f->loop, 3);
  assert_evbuffer_is(bufferevent_get_input(f->rec.bev), TUNNEL_BYTES, TUNNEL_LEN);
  bufferevent_write(f->rec.bev, "data", 4);
  dial_proxy_expect(f, "data", 4);
}

static void test_dial_http_refused_by_proxy(void **state) {
  dial_fixture_t *f = *state;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_HTTP, NULL, NULL);
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_ip("127.0.0.1", 9);
  dial_via(f, &proxy, &dest, 30);
  dial_accept(f);
  const char *req = "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n";
  dial_proxy_expect(f, req, strlen(req));
  const char *resp = "HTTP/1.0 503 Service Unavailable\r\n\r\n";
  test_write_all(f->proxy_fd, (const uint8_t *)resp, strlen(resp));
  dial_wait(f);
  assert_null(f->rec.bev);
  assert_int_equal(socks5_reply_for_errno(f->rec.err), SOCKS5_REP_CONN_REFUSED);
}

/* Nobody listens where the proxy should be: the connect's own error. */
static void test_dial_proxy_not_listening(void **state) {
  dial_fixture_t *f = *state;
  close(f->listen_fd);
  f->listen_fd = -1;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_ip("127.0.0.1", 9);
  dial_via(f, &proxy, &dest, 30);
  dial_wait(f);
  assert_null(f->rec.bev);
  assert_int_equal(f->rec.err, ECONNREFUSED);
  assert_int_equal(socks5_reply_for_errno(f->rec.err), SOCKS5_REP_CONN_REFUSED);
}

/* The proxy accepts and never answers: the dial's deadline covers the
 * handshake, not only the connect. */
static void test_dial_deadline_covers_handshake(void **state) {
  dial_fixture_t *f = *state;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_SOCKS5, NULL, NULL);
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_ip("127.0.0.1", 9);
  dial_via(f, &proxy, &dest, 1);
  dial_accept(f);
  dial_proxy_expect(f, "\x05\x01\x00", 3);
  test_loop_begin_wait(&f->loop, "the dial's deadline");
  while (f->rec.calls == 0) {
    test_loop_step(&f->loop);
    if (f->rec.calls == 0)
      event_base_loop(f->loop.base, EVLOOP_ONCE); /* blocks until the timer */
  }
  assert_int_equal(f->rec.calls, 1);
  assert_null(f->rec.bev);
  assert_int_equal(f->rec.err, ETIMEDOUT);
  assert_int_equal(socks5_reply_for_errno(f->rec.err), SOCKS5_REP_TTL_EXPIRED);
}

/* SOCKS4a and an IPv6 destination: refused from the loop, never inside
 * dial_start, and nothing connects. */
static void test_dial_socks4a_ipv6(void **state) {
  dial_fixture_t *f = *state;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_SOCKS4A, NULL, NULL);
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_ip("::1", 9);
  dial_via(f, &proxy, &dest, 30);
  dial_wait(f);
  assert_null(f->rec.bev);
  assert_int_equal(f->rec.err, EAFNOSUPPORT);
  assert_true(accept(f->listen_fd, NULL, NULL) < 0);
}

static void test_dial_cancel_mid_handshake(void **state) {
  dial_fixture_t *f = *state;
  upstream_proxy_t proxy = proxy_of(UPSTREAM_HTTP, "u", "p");
  proxy.addr = ep_ip("127.0.0.1", f->port);
  addr_endpoint_t dest = ep_ip("127.0.0.1", 9);
  dial_via(f, &proxy, &dest, 30);
  dial_accept(f);
  test_loop_steps(&f->loop, 5);
  dial_cancel(f->dial);
  f->dial = NULL;
  test_loop_steps(&f->loop, 5);
  assert_int_equal(f->rec.calls, 0);
}

int main(void) {
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_s5_greeting),
      cmocka_unit_test(test_s5_read_method),
      cmocka_unit_test(test_s5_write_auth),
      cmocka_unit_test(test_s5_read_auth),
      cmocka_unit_test(test_s5_write_connect),
      cmocka_unit_test(test_s5_read_reply),
      cmocka_unit_test(test_s5_read_reply_malformed),
      cmocka_unit_test(test_s5_rep_mapping),
      cmocka_unit_test(test_s4_write_connect),
      cmocka_unit_test(test_s4_read_reply),
      cmocka_unit_test(test_s4_mapping),
      cmocka_unit_test(test_http_write_connect),
      cmocka_unit_test(test_http_write_bad_names),
      cmocka_unit_test(test_check_dest),
      cmocka_unit_test(test_http_read_ok),
      cmocka_unit_test(test_http_read_refusals),
      cmocka_unit_test(test_http_read_malformed),
      cmocka_unit_test(test_http_read_size_limit),
      cmocka_unit_test(test_http_mapping),
      cmocka_unit_test(test_add_secret),
      cmocka_unit_test_setup_teardown(test_hs_socks5_no_auth, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_auth_slowly, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_answers_together, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_rep_refused, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_no_method, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_unoffered_method, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks5_bad_password, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_proxy_closes, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_garbage, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks4a, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks4a_rejected, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_socks4a_ipv6, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_http, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_http_407, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_http_oversize, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_hs_cancel, hs_setup, hs_teardown),
      cmocka_unit_test_setup_teardown(test_dial_socks5_name, dial_setup, dial_teardown),
      cmocka_unit_test_setup_teardown(test_dial_http_refused_by_proxy, dial_setup,
                                      dial_teardown),
      cmocka_unit_test_setup_teardown(test_dial_proxy_not_listening, dial_setup, dial_teardown),
      cmocka_unit_test_setup_teardown(test_dial_deadline_covers_handshake, dial_setup,
                                      dial_teardown),
      cmocka_unit_test_setup_teardown(test_dial_socks4a_ipv6, dial_setup, dial_teardown),
      cmocka_unit_test_setup_teardown(test_dial_cancel_mid_handshake, dial_setup,
                                      dial_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
