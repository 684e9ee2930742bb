/* test_shadow_addr: the address header that starts a Shadowsocks client's
 * stream (ss_addr.c), in SOCKS5's layout: the exact bytes for each kind,
 * "need more" for every strict prefix, the refusals, and encode -> parse
 * round trips.
 *
 * Expected bytes are written out by hand from the layout in ss_addr.h
 * (atyp 1 / 3 / 4, big-endian port), not produced by the encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "transports/shadow/ss_addr.h"

#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An IP endpoint as the transport makes one. */
static addr_endpoint_t ip_endpoint(const char *ip, uint16_t port) {
  struct sockaddr_storage ss = test_sockaddr(ip, port);
  addr_endpoint_t ep;
  addr_endpoint_from_sockaddr(&ep, (const struct sockaddr *)&ss);
  return ep;
}

/* A name endpoint: family AF_UNSPEC, the name in host. */
static addr_endpoint_t name_endpoint(const char *name, uint16_t port) {
  addr_endpoint_t ep;
  memset(&ep, 0, sizeof ep);
  assert_true(strlen(name) <= ADDR_HOST_MAX);
  strcpy(ep.host, name);
  ep.family = AF_UNSPEC;
  ep.port = port;
  return ep;
}

/* Every strict prefix of a whole address needs more; the whole address
 * parses to its length, with or without bytes after it (a copy in a
 * buffer of exactly n bytes, so a read past the prefix shows under ASan). */
static void assert_parses(const uint8_t *wire, size_t n, addr_endpoint_t *ep) {
  for (size_t k = 0; k < n; k++) {
    uint8_t *prefix = malloc(k ? k : 1);
    assert_non_null(prefix);
    memcpy(prefix, wire, k);
    if (ss_addr_parse(prefix, k, ep) != 0)
      fail_msg("a %zu-byte prefix of a %zu-byte address did not ask for more", k, n);
    free(prefix);
  }
  uint8_t *exact = malloc(n), *longer = malloc(n + 7);
  assert_non_null(exact);
  assert_non_null(longer);
  memcpy(exact, wire, n);
  memcpy(longer, wire, n);
  memcpy(longer + n, "payload", 7);
  assert_int_equal(ss_addr_parse(longer, n + 7, ep), (int)n);
  assert_int_equal(ss_addr_parse(exact, n, ep), (int)n);
  free(exact);
  free(longer);
}

static void assert_name_endpoint(const addr_endpoint_t *ep, const char *name, uint16_t port) {
  assert_int_equal(ep->family, AF_UNSPEC);
  assert_string_equal(ep->host, name);
  assert_int_equal(ep->port, port);
}

static void test_ipv4(void **state) {
  (void)state;
  static const struct {
    const char *ip;
    uint16_t port;
    uint8_t wire[7];
  } cases[] = {
      {"192.0.2.1", 443, {1, 192, 0, 2, 1, 0x01, 0xbb}},
      {"0.0.0.0", 0, {1, 0, 0, 0, 0, 0, 0}}, /* the client's header without a target */
      {"255.255.255.255", 65535, {1, 255, 255, 255, 255, 0xff, 0xff}},
      {"127.0.0.1", 256, {1, 127, 0, 0, 1, 0x01, 0x00}}, /* big-endian, not little */
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    addr_endpoint_t ep = ip_endpoint(cases[i].ip, cases[i].port), got;
    uint8_t out[SS_ADDR_MAX];
    assert_int_equal(ss_addr_encode(&ep, out), 7);
    assert_memory_equal(out, cases[i].wire, 7);
    assert_parses(cases[i].wire, 7, &got);
    assert_ip_endpoint(&got, cases[i].ip, cases[i].port, cases[i].wire + 1);
  }
}

static void test_ipv6(void **state) {
  (void)state;
  static const struct {
    const char *ip;
    uint16_t port;
    uint8_t wire[19];
  } cases[] = {
      {"2001:db8::1",
       65535,
       {4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff}},
      {"::", 0, {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"::1", 8080, {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90}},
      /* A mapped IPv4 address stays IPv6 on the wire. */
      {"::ffff:192.0.2.1",
       80,
       {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1, 0x00, 0x50}},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    addr_endpoint_t ep = ip_endpoint(cases[i].ip, cases[i].port), got;
    uint8_t out[SS_ADDR_MAX];
    assert_int_equal(ss_addr_encode(&ep, out), 19);
    assert_memory_equal(out, cases[i].wire, 19);
    assert_parses(cases[i].wire, 19, &got);
    assert_ip_endpoint(&got, cases[i].ip, cases[i].port, cases[i].wire + 1);
  }
}

static void test_names(void **state) {
  (void)state;
  char longest[256];
  memset(longest, 'n', 255);
  longest[255] = '\0';
  for (size_t i = 0; i < 255; i += 64)
    longest[i] = '.'; /* a name, not just a run of one letter */
  const struct {
    const char *name;
    uint16_t port;
  } cases[] = {
      {"a", 0},
      {"a", 65535},
      {"example.com", 443},
      /* Looks like an address, travels as a name. */
      {"192.0.2.1", 80},
      /* Bytes are bytes: the header does not judge a name. */
      {"\xc3\xa4.example", 1},
      {longest, 65535},
      {longest, 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len = strlen(cases[i].name);
    uint8_t want[SS_ADDR_MAX], out[SS_ADDR_MAX];
    want[0] = 3;
    want[1] = (uint8_t)len;
    memcpy(want + 2, cases[i].name, len);
    want[2 + len] = (uint8_t)(cases[i].port >> 8);
    want[3 + len] = (uint8_t)cases[i].port;
    addr_endpoint_t ep = name_endpoint(cases[i].name, cases[i].port), got;
    assert_int_equal(ss_addr_encode(&ep, out), len + 4);
    assert_memory_equal(out, want, len + 4);
    assert_parses(want, len + 4, &got);
    assert_name_endpoint(&got, cases[i].name, cases[i].port);
  }
  /* The longest name fills SS_ADDR_MAX exactly. */
  addr_endpoint_t ep = name_endpoint(longest, 1);
  uint8_t out[SS_ADDR_MAX];
  assert_int_equal(ss_addr_encode(&ep, out), SS_ADDR_MAX);
  /* No name, nothing to encode. */
  ep = name_endpoint("", 80);
  assert_int_equal(ss_addr_encode(&ep, out), 0);
}

static void test_refused(void **state) {
  (void)state;
  addr_endpoint_t ep;
  /* Every type but 1, 3 and 4 is refused, at the first byte. */
  for (unsigned atyp = 0; atyp <= 0xff; atyp++) {
    if (atyp == 1 || atyp == 3 || atyp == 4)
      continue;
    uint8_t wire[32] = {(uint8_t)atyp, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_int_equal(ss_addr_parse(wire, 1, &ep), -1);
    assert_int_equal(ss_addr_parse(wire, sizeof wire, &ep), -1);
  }
  static const uint8_t atyp_named[] = {0, 2, 5, 0xff};
  for (size_t i = 0; i < COUNT(atyp_named); i++) {
    uint8_t wire[7] = {atyp_named[i], 127, 0, 0, 1, 0, 80};
    assert_int_equal(ss_addr_parse(wire, sizeof wire, &ep), -1);
  }
  /* An empty name: refused as soon as its length byte is there. */
  static const uint8_t empty[] = {3, 0, 0x00, 0x50};
  assert_int_equal(ss_addr_parse(empty, 2, &ep), -1);
  assert_int_equal(ss_addr_parse(empty, sizeof empty, &ep), -1);
  /* A NUL anywhere in the name would cut it short: refused. */
  static const uint8_t nul_first[] = {3, 3, 0, 'b', 'c', 0x00, 0x50};
  static const uint8_t nul_middle[] = {3, 3, 'a', 0, 'c', 0x00, 0x50};
  static const uint8_t nul_last[] = {3, 3, 'a', 'b', 0, 0x00, 0x50};
  static const uint8_t nul_only[] = {3, 1, 0, 0x00, 0x50};
  assert_int_equal(ss_addr_parse(nul_first, sizeof nul_first, &ep), -1);
  assert_int_equal(ss_addr_parse(nul_middle, sizeof nul_middle, &ep), -1);
  assert_int_equal(ss_addr_parse(nul_last, sizeof nul_last, &ep), -1);
  assert_int_equal(ss_addr_parse(nul_only, sizeof nul_only, &ep), -1);
  /* A NUL in the port is just a port byte. */
  static const uint8_t nul_port[] = {3, 1, 'a', 0, 0};
  assert_int_equal(ss_addr_parse(nul_port, sizeof nul_port, &ep), 5);
  assert_name_endpoint(&ep, "a", 0);
}

/* Whatever encodes parses back to the same endpoint and length. */
static void test_roundtrip(void **state) {
  (void)state;
  static const uint16_t ports[] = {0, 1, 80, 255, 256, 32768, 65535};
  const char *ips[] = {"10.1.2.3", "0.0.0.0", "fe80::1:2:3:4", "::ffff:10.0.0.1",
                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
  const char *names[] = {"x", "localhost", "a.b.c.d.e.f", "-_-", "\x01\x7f\xff"};
  for (size_t p = 0; p < COUNT(ports); p++) {
    for (size_t i = 0; i < COUNT(ips) + COUNT(names); i++) {
      addr_endpoint_t ep = i < COUNT(ips) ? ip_endpoint(ips[i], ports[p])
                                          : name_endpoint(names[i - COUNT(ips)], ports[p]);
      addr_endpoint_t got;
      uint8_t out[SS_ADDR_MAX];
      size_t n = ss_addr_encode(&ep, out);
      assert_true(n > 0 && n <= SS_ADDR_MAX);
      assert_parses(out, n, &got);
      assert_int_equal(got.family, ep.family);
      assert_string_equal(got.host, ep.host);
      assert_int_equal(got.port, ep.port);
      if (ep.family != AF_UNSPEC) {
        assert_int_equal(got.salen, ep.salen);
        assert_memory_equal(&got.sa, &ep.sa, ep.salen);
      }
    }
  }
  /* And what the transport's target argument parses to. */
  static const char *const targets[] = {"example.com:443", "[2001:db8::2]:8443",
                                        "198.51.100.7:65535"};
  for (size_t i = 0; i < COUNT(targets); i++) {
    addr_endpoint_t ep, got;
    char why[128];
    assert_int_equal(addr_parse_endpoint(targets[i], ADDR_ALLOW_NAME, &ep, why, sizeof why), 0);
    uint8_t out[SS_ADDR_MAX];
    size_t n = ss_addr_encode(&ep, out);
    assert_true(n > 0);
    assert_parses(out, n, &got);
    assert_int_equal(got.family, ep.family);
    assert_string_equal(got.host, ep.host);
    assert_int_equal(got.port, ep.port);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4),      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_names),     cmocka_unit_test(test_refused),
      cmocka_unit_test(test_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
