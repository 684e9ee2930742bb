/* Unit tests for lib/addr: endpoint, IP and port parsing, formatting and
 * the loopback test. Tables list input, flags and the exact result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "lib/addr.h"

typedef struct ok_case {
  const char *text;
  unsigned flags;
  const char *host;
  uint16_t port;
  int family;
  const char *formatted; /* addr_format of sa, or NULL for names */
} ok_case_t;

static const ok_case_t ok_cases[] = {
    {"1.2.3.4:80", 0, "1.2.3.4", 80, AF_INET, "1.2.3.4:80"},
    {"127.0.0.1:1", 0, "127.0.0.1", 1, AF_INET, "127.0.0.1:1"},
    {"0.0.0.0:65535", 0, "0.0.0.0", 65535, AF_INET, "0.0.0.0:65535"},
    {"0.0.0.0:0", ADDR_ALLOW_PORT0, "0.0.0.0", 0, AF_INET, "0.0.0.0:0"},
    {"255.255.255.255:00080", 0, "255.255.255.255", 80, AF_INET, "255.255.255.255:80"},
    {"[::1]:80", 0, "::1", 80, AF_INET6, "[::1]:80"},
    {"[::]:0", ADDR_ALLOW_PORT0, "::", 0, AF_INET6, "[::]:0"},
    {"[2001:db8::1]:443", 0, "2001:db8::1", 443, AF_INET6, "[2001:db8::1]:443"},
    {"[2001:DB8:0:0:0:0:0:1]:443", 0, "2001:DB8:0:0:0:0:0:1", 443, AF_INET6,
     "[2001:db8::1]:443"},
    {"[::ffff:1.2.3.4]:9", 0, "::ffff:1.2.3.4", 9, AF_INET6, "[::ffff:1.2.3.4]:9"},
    {"[0000:0000:0000:0000:0000:ffff:255.255.255.255]:1", 0,
     "0000:0000:0000:0000:0000:ffff:255.255.255.255", 1, AF_INET6,
     "[::ffff:255.255.255.255]:1"},
    /* Literals are literals even when names are allowed. */
    {"1.2.3.4:80", ADDR_ALLOW_NAME, "1.2.3.4", 80, AF_INET, "1.2.3.4:80"},
    {"[::1]:80", ADDR_ALLOW_NAME, "::1", 80, AF_INET6, "[::1]:80"},
    {"example.com:443", ADDR_ALLOW_NAME, "example.com", 443, AF_UNSPEC, NULL},
    {"example.com.:443", ADDR_ALLOW_NAME, "example.com.", 443, AF_UNSPEC, NULL},
    {"localhost:1", ADDR_ALLOW_NAME, "localhost", 1, AF_UNSPEC, NULL},
    {"my_host-1.Example:8080", ADDR_ALLOW_NAME, "my_host-1.Example", 8080, AF_UNSPEC,
     NULL},
    {"a1.b2.c3d:0", ADDR_ALLOW_NAME | ADDR_ALLOW_PORT0, "a1.b2.c3d", 0, AF_UNSPEC,
     NULL},
};

static void test_parse_ok(void **state) {
  for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
    const ok_case_t *c = &ok_cases[i];
    addr_endpoint_t ep;
    char err[128] = "";
    if (addr_parse_endpoint(c->text, c->flags, &ep, err, sizeof err) != 0)
      fail_msg("\"%s\" refused: %s", c->text, err);
    assert_string_equal(ep.host, c->host);
    assert_int_equal(ep.port, c->port);
    assert_int_equal(ep.family, c->family);
    if (!c->formatted) {
      assert_int_equal(ep.salen, 0);
      continue;
    }
    char text[ADDR_TEXT_MAX];
    addr_format((const struct sockaddr *)&ep.sa, text);
    assert_string_equal(text, c->formatted);
    assert_int_equal(ep.sa.ss_family, c->family);
    if (c->family == AF_INET) {
      const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep.sa;
      assert_int_equal(ep.salen, sizeof *sin);
      assert_int_equal(sin->sin_port, htons(c->port));
    } else {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep.sa;
      assert_int_equal(ep.salen, sizeof *sin6);
      assert_int_equal(sin6->sin6_port, htons(c->port));
    }
  }
}

typedef struct bad_case {
  const char *text;
  unsigned flags;
  const char *err;
} bad_case_t;

#define ANY (ADDR_ALLOW_NAME | ADDR_ALLOW_PORT0)
static const bad_case_t bad_cases[] = {
    {"", ANY, "empty address"},
    {"1.2.3.4", ANY, "missing port"},
    {"1.2.3.4:", ANY, "missing port"},
    {":80", ANY, "empty host"},
    {"[]:80", ANY, "empty host"},
    {"::1:80", ANY, "IPv6 address must be in brackets"},
    {"::1", ANY, "IPv6 address must be in brackets"},
    {"[::1]", ANY, "missing port"},
    {"[::1]:", ANY, "missing port"},
    {"[::1]80", ANY, "expected ':' after ']'"},
    {"[::1", ANY, "missing ']'"},
    {"[1.2.3.4]:80", ANY, "not an IPv6 address"},
    {"[example.com]:80", ANY, "not an IPv6 address"},
    {"[::1%eth0]:80", ANY, "not an IPv6 address"},
    {"[::1]]:80", ANY, "expected ':' after ']'"},
    {"[::1]:80:90", ANY, "port is not a decimal number"},
    {"1.2.3.4:0", ADDR_ALLOW_NAME, "port 0 is not allowed"},
    {"1.2.3.4:00000", 0, "port 0 is not allowed"},
    {"1.2.3.4:65536", ANY, "port out of range"},
    {"1.2.3.4:99999", ANY, "port out of range"},
    {"1.2.3.4:99999999999", ANY, "port out of range"},
    {"1.2.3.4:000080", ANY, "port out of range"},
    {"1.2.3.4:-1", ANY, "port is not a decimal number"},
    {"1.2.3.4:+1", ANY, "port is not a decimal number"},
    {"1.2.3.4: 1", ANY, "port is not a decimal number"},
    {"1.2.3.4:1 ", ANY, "port is not a decimal number"},
    {"1.2.3.4:0x50", ANY, "port is not a decimal number"},
    {"1.2.3:80", 0, "not an IP address"},
    {"01.2.3.4:80", 0, "not an IP address"},
    {"1.2.3.256:80", 0, "not an IP address"},
    {" 1.2.3.4:80", 0, "not an IP address"},
    {"example.com:80", 0, "not an IP address"},
    /* Names that inet_aton/getaddrinfo would read as numbers. */
    {"1.2.3:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"01.2.3.4:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"1.2.3.4.5:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"2130706433:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"a..b:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {".a:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {".:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"a.b..:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"exa mple.com:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"exa/mple.com:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
    {"h\xc3\xa9.example:80", ADDR_ALLOW_NAME, "not an IP address or host name"},
};

static void test_parse_bad(void **state) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case_t *c = &bad_cases[i];
    addr_endpoint_t ep;
    memset(&ep, 0x5a, sizeof ep);
    char err[128] = "";
    if (addr_parse_endpoint(c->text, c->flags, &ep, err, sizeof err) != -1)
      fail_msg("\"%s\" accepted", c->text);
    if (strcmp(err, c->err) != 0)
      fail_msg("\"%s\": got \"%s\", want \"%s\"", c->text, err, c->err);
    /* A failed parse leaves the output alone. */
    assert_int_equal(((unsigned char *)&ep)[0], 0x5a);
    assert_int_equal(ep.port, 0x5a5a);
  }
}

static char *make_name(size_t len) {
  /* Labels of 63 'a's separated by dots; ends in a letter. */
  static char buf[1024];
  for (size_t i = 0; i < len; i++)
    buf[i] = (i % 64 == 63) ? '.' : 'a';
  buf[len] = '\0';
  return buf;
}

static void test_name_lengths(void **state) {
  char text[1100];
  addr_endpoint_t ep;
  char err[128];
  /* 255 bytes is the longest name; the last byte is an 'a' (255 % 64 != 0). */
  snprintf(text, sizeof text, "%s:80", make_name(255));
  assert_int_equal(addr_parse_endpoint(text, ADDR_ALLOW_NAME, &ep, err, sizeof err), 0);
  assert_int_equal(strlen(ep.host), 255);
  snprintf(text, sizeof text, "%s:80", make_name(256));
  assert_int_equal(addr_parse_endpoint(text, ADDR_ALLOW_NAME, &ep, err, sizeof err), -1);
  assert_string_equal(err, "host too long");
  snprintf(text, sizeof text, "%s:80", make_name(1000));
  assert_int_equal(addr_parse_endpoint(text, ADDR_ALLOW_NAME, &ep, err, sizeof err), -1);
  assert_string_equal(err, "host too long");
  /* A 63-byte label is fine, 64 is not. */
  memset(text, 'a', 63);
  snprintf(text + 63, sizeof text - 63, ".example:1");
  assert_int_equal(addr_parse_endpoint(text, ADDR_ALLOW_NAME, &ep, err, sizeof err), 0);
  memset(text, 'a', 64);
  snprintf(text + 64, sizeof text - 64, ".example:1");
  assert_int_equal(addr_parse_endpoint(text, ADDR_ALLOW_NAME, &ep, err, sizeof err), -1);
  assert_string_equal(err, "not an IP address or host name");
}

static void test_err_may_be_null(void **state) {
  addr_endpoint_t ep;
  assert_int_equal(addr_parse_endpoint("x", 0, &ep, NULL, 0), -1);
  assert_int_equal(addr_parse_endpoint(NULL, 0, &ep, NULL, 0), -1);
  char err[8];
  assert_int_equal(addr_parse_endpoint("1.2.3.4:99999", 0, &ep, err, sizeof err), -1);
  assert_string_equal(err, "port ou"); /* truncated, still terminated */
}

static void test_parse_port(void **state) {
  uint16_t p = 7;
  assert_int_equal(addr_parse_port("0", true, &p), 0);
  assert_int_equal(p, 0);
  assert_int_equal(addr_parse_port("0", false, &p), -1);
  assert_int_equal(addr_parse_port("1", false, &p), 0);
  assert_int_equal(p, 1);
  assert_int_equal(addr_parse_port("65535", false, &p), 0);
  assert_int_equal(p, 65535);
  assert_int_equal(addr_parse_port("00443", false, &p), 0);
  assert_int_equal(p, 443);
  p = 7;
  const char *bad[] = {"", "65536", "99999999999", "-1", "+1", " 1", "1 ", "1a",
                       "000001", "٣"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(addr_parse_port(bad[i], true, &p), -1);
    assert_int_equal(p, 7);
  }
  assert_int_equal(addr_parse_port(NULL, true, &p), -1);
}

static void test_parse_ip(void **state) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char text[ADDR_TEXT_MAX];
  assert_int_equal(addr_parse_ip("10.0.0.1", &ss, &len), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(len, sizeof(struct sockaddr_in));
  addr_format((struct sockaddr *)&ss, text);
  assert_string_equal(text, "10.0.0.1:0");
  assert_int_equal(addr_parse_ip("::1", &ss, &len), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(len, sizeof(struct sockaddr_in6));
  assert_int_equal(addr_parse_ip("[fe80::1]", &ss, &len), 0);
  addr_format((struct sockaddr *)&ss, text);
  assert_string_equal(text, "[fe80::1]:0");
  const char *bad[] = {"",          "[]",        "[1.2.3.4]", "1.2.3",   "01.2.3.4",
                       "[::1",      "::1]",      "1.2.3.4:80", "[::1]:80", "localhost",
                       "::1%lo",    "1.2.3.4 ", "[[::1]]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (addr_parse_ip(bad[i], &ss, &len) != -1)
      fail_msg("\"%s\" accepted", bad[i]);
  }
  assert_int_equal(addr_parse_ip(NULL, &ss, &len), -1);
}

static void test_format(void **state) {
  char out[ADDR_TEXT_MAX];
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof sin6);
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(65535);
  memset(&sin6.sin6_addr, 0xff, sizeof sin6.sin6_addr);
  addr_format((struct sockaddr *)&sin6, out);
  assert_string_equal(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  assert_true(strlen(out) < ADDR_TEXT_MAX);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5);
  sin.sin_addr.s_addr = htonl(0x01020304);
  addr_format((struct sockaddr *)&sin, out);
  assert_string_equal(out, "1.2.3.4:5");
  struct sockaddr other;
  memset(&other, 0, sizeof other);
  other.sa_family = AF_UNIX;
  addr_format(&other, out);
  assert_string_equal(out, "<unknown address>");
  addr_format(NULL, out);
  assert_string_equal(out, "<unknown address>");
}

/* Every field comes from the socket address alone, whatever ep held
 * before, and host is inet_ntop's canonical text (lower case, "::"). */
static void test_endpoint_from_sockaddr(void **state) {
  static const struct {
    const char *text, *host;
    uint16_t port;
    int family;
    socklen_t salen;
  } cases[] = {
      {"1.2.3.4:80", "1.2.3.4", 80, AF_INET, sizeof(struct sockaddr_in)},
      {"0.0.0.0:0", "0.0.0.0", 0, AF_INET, sizeof(struct sockaddr_in)},
      {"[2001:DB8:0:0:0:0:0:1]:65535", "2001:db8::1", 65535, AF_INET6,
       sizeof(struct sockaddr_in6)},
      {"[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", 9, AF_INET6, sizeof(struct sockaddr_in6)},
  };
  addr_endpoint_t parsed, ep;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(addr_parse_endpoint(cases[i].text, ADDR_ALLOW_PORT0, &parsed, NULL, 0), 0);
    memset(&ep, 0xAA, sizeof ep);
    addr_endpoint_from_sockaddr(&ep, (const struct sockaddr *)&parsed.sa);
    assert_int_equal(ep.family, cases[i].family);
    assert_int_equal(ep.port, cases[i].port);
    assert_int_equal(ep.salen, cases[i].salen);
    assert_memory_equal(&ep.sa, &parsed.sa, sizeof ep.sa);
    assert_string_equal(ep.host, cases[i].host);
  }
  struct sockaddr other;
  memset(&other, 0, sizeof other);
  other.sa_family = AF_UNIX;
  const struct sockaddr *not_ip[] = {&other, NULL};
  for (size_t i = 0; i < sizeof not_ip / sizeof not_ip[0]; i++) {
    memset(&ep, 0xAA, sizeof ep);
    addr_endpoint_from_sockaddr(&ep, not_ip[i]);
    assert_int_equal(ep.family, AF_UNSPEC);
    assert_int_equal(ep.port, 0);
    assert_int_equal(ep.salen, 0);
    assert_string_equal(ep.host, "");
  }
}

static bool loopback(const char *ip) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (addr_parse_ip(ip, &ss, &len) != 0)
    fail_msg("cannot parse %s", ip);
  return addr_is_loopback((struct sockaddr *)&ss);
}

static void test_loopback(void **state) {
  assert_true(loopback("127.0.0.1"));
  assert_true(loopback("127.255.255.254"));
  assert_true(loopback("127.0.0.0"));
  assert_true(loopback("::1"));
  assert_true(loopback("::ffff:127.0.0.1"));
  assert_true(loopback("::ffff:127.1.2.3"));
  assert_false(loopback("128.0.0.1"));
  assert_false(loopback("126.255.255.255"));
  assert_false(loopback("0.0.0.0"));
  assert_false(loopback("::"));
  assert_false(loopback("::2"));
  assert_false(loopback("::ffff:10.0.0.1"));
  assert_false(loopback("::127.0.0.1")); /* IPv4-compatible, not mapped */
  assert_false(loopback("fe80::1"));
  assert_false(addr_is_loopback(NULL));
  struct sockaddr other;
  memset(&other, 0, sizeof other);
  other.sa_family = AF_UNIX;
  assert_false(addr_is_loopback(&other));
}

static bool public_ip(const char *ip) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (addr_parse_ip(ip, &ss, &len) != 0)
    fail_msg("cannot parse %s", ip);
  return addr_is_public((struct sockaddr *)&ss);
}

/* Each private or special range at its edges, and the public addresses
 * just outside them. */
static void test_public(void **state) {
  static const char *const private_ips[] = {
      "0.0.0.0",       "0.255.255.255",   "10.0.0.0",        "10.255.255.255", "100.64.0.0",
      "100.127.255.255", "127.0.0.1",     "169.254.0.1",     "169.254.255.255", "172.16.0.0",
      "172.31.255.255", "192.0.0.8",      "192.0.2.1",       "192.168.0.1",    "192.168.255.255",
      "198.18.0.0",    "198.19.255.255",  "198.51.100.7",    "203.0.113.9",    "224.0.0.1",
      "239.255.255.255", "240.0.0.1",     "255.255.255.255", "::",             "::1", "::2",
      "::ffff:10.1.2.3", "::ffff:127.0.0.1", "64:ff9b::a00:1", "64:ff9b::7f00:1", "fc00::1",
      "fdff:ffff::1",  "fe80::1",         "febf::1",         "ff02::1",        "2001:db8::1",
  };
  static const char *const public_ips[] = {
      "1.1.1.1",       "9.255.255.255", "11.0.0.0",      "100.63.255.255", "100.128.0.0",
      "126.255.255.255", "128.0.0.1",   "169.253.255.255", "169.255.0.0",  "172.15.255.255",
      "172.32.0.0",    "192.0.1.1",     "192.0.3.0",     "192.167.255.255", "192.169.0.0",
      "198.17.255.255", "198.20.0.0",   "198.51.99.255", "203.0.112.255",  "223.255.255.255",
      "::ffff:8.8.8.8", "64:ff9b::808:808", "fbff::1",     "fec0::1",
      "2001:db9::1",   "2606:4700::1111", "2a00:1450::1",
  };
  for (size_t i = 0; i < sizeof private_ips / sizeof private_ips[0]; i++)
    if (public_ip(private_ips[i]))
      fail_msg("%s taken as public", private_ips[i]);
  for (size_t i = 0; i < sizeof public_ips / sizeof public_ips[0]; i++)
    if (!public_ip(public_ips[i]))
      fail_msg("%s taken as private", public_ips[i]);
  assert_false(addr_is_public(NULL));
  struct sockaddr other;
  memset(&other, 0, sizeof other);
  other.sa_family = AF_UNIX;
  assert_false(addr_is_public(&other));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_public),
      cmocka_unit_test(test_parse_ok),      cmocka_unit_test(test_parse_bad),
      cmocka_unit_test(test_name_lengths),  cmocka_unit_test(test_err_may_be_null),
      cmocka_unit_test(test_parse_port),    cmocka_unit_test(test_parse_ip),
      cmocka_unit_test(test_format),        cmocka_unit_test(test_loopback),
      cmocka_unit_test(test_endpoint_from_sockaddr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
