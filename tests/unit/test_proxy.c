/* Unit tests for ipc/proxy: schemes, credentials, addresses, and that an
 * error never carries the credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/proxy.h"

static void proxy_ok(const char *uri, ipc_proxy_t *p) {
  char err[256] = "";
  memset(p, 0x5a, sizeof *p);
  if (ipc_proxy_parse(uri, p, err, sizeof err) != 0)
    fail_msg("\"%s\" refused: %s", uri, err);
}

/* Must fail with exactly want; the output must be untouched. */
static void proxy_bad(const char *uri, const char *want) {
  ipc_proxy_t p;
  memset(&p, 0x5a, sizeof p);
  char err[256] = "";
  if (ipc_proxy_parse(uri, &p, err, sizeof err) != -1)
    fail_msg("\"%s\" accepted", uri);
  if (strcmp(err, want) != 0)
    fail_msg("\"%s\": got \"%s\", want \"%s\"", uri, err, want);
  assert_int_equal(((unsigned char *)&p)[0], 0x5a);
  assert_int_equal(p.addr.port, 0x5a5a);
}

static void test_schemes(void **state) {
  ipc_proxy_t p;
  proxy_ok("socks5://198.51.100.1:8000", &p);
  assert_int_equal(p.type, UPSTREAM_SOCKS5);
  assert_false(p.has_auth);
  assert_string_equal(p.user, "");
  assert_string_equal(p.pass, "");
  assert_string_equal(p.addr.host, "198.51.100.1");
  assert_int_equal(p.addr.port, 8000);
  assert_int_equal(p.addr.family, AF_INET);
  proxy_ok("socks4a://198.51.100.2:8001", &p);
  assert_int_equal(p.type, UPSTREAM_SOCKS4A);
  assert_false(p.has_auth);
  assert_int_equal(p.addr.port, 8001);
  proxy_ok("http://198.51.100.3:443", &p);
  assert_int_equal(p.type, UPSTREAM_HTTP);
  assert_int_equal(p.addr.port, 443);
}

static void test_scheme_case(void **state) {
  ipc_proxy_t p;
  proxy_ok("SOCKS5://1.2.3.4:1", &p);
  assert_int_equal(p.type, UPSTREAM_SOCKS5);
  proxy_ok("Socks4A://1.2.3.4:1", &p);
  assert_int_equal(p.type, UPSTREAM_SOCKS4A);
  proxy_ok("HtTp://1.2.3.4:65535", &p);
  assert_int_equal(p.type, UPSTREAM_HTTP);
  assert_int_equal(p.addr.port, 65535);
}

static void test_spec_credentials(void **state) {
  ipc_proxy_t p;
  proxy_ok("socks5://tor:test1234@198.51.100.1:8000", &p);
  assert_true(p.has_auth);
  assert_string_equal(p.user, "tor");
  assert_string_equal(p.pass, "test1234");
  assert_string_equal(p.addr.host, "198.51.100.1");
  proxy_ok("http://u:p@1.2.3.4:3128/", &p);
  assert_int_equal(p.type, UPSTREAM_HTTP);
  assert_string_equal(p.user, "u");
  assert_string_equal(p.pass, "p");
  assert_int_equal(p.addr.port, 3128);
}

static void test_password_chars(void **state) {
  ipc_proxy_t p;
  /* The password may hold ':' and (raw) '@'; userinfo ends at the last '@'. */
  proxy_ok("socks5://user:pa:ss@w@1.2.3.4:1080", &p);
  assert_string_equal(p.user, "user");
  assert_string_equal(p.pass, "pa:ss@w");
  proxy_ok("socks5://%3a%40:%25%2F%20x@1.2.3.4:1080", &p);
  assert_string_equal(p.user, ":@");
  assert_string_equal(p.pass, "%/ x");
  proxy_ok("socks5://%c3%A9:%ff@1.2.3.4:1080", &p);
  assert_string_equal(p.user, "\xc3\xa9");
  assert_string_equal(p.pass, "\xff");
}

static void test_credential_lengths(void **state) {
  char uri[4096], cred[1024];
  ipc_proxy_t p;
  memset(cred, 'u', 255);
  cred[255] = '\0';
  snprintf(uri, sizeof uri, "socks5://%s:%s@1.2.3.4:1", cred, cred);
  proxy_ok(uri, &p);
  assert_int_equal(strlen(p.user), 255);
  assert_int_equal(strlen(p.pass), 255);
  /* 255 bytes after decoding: 255 escapes is fine. */
  for (int i = 0; i < 255; i++)
    memcpy(cred + 3 * i, "%41", 3);
  cred[3 * 255] = '\0';
  snprintf(uri, sizeof uri, "http://%s:x@1.2.3.4:1", cred);
  proxy_ok(uri, &p);
  assert_int_equal(strlen(p.user), 255);
  assert_int_equal(p.user[254], 'A');
  memset(cred, 'u', 256);
  cred[256] = '\0';
  snprintf(uri, sizeof uri, "socks5://%s:p@1.2.3.4:1", cred);
  proxy_bad(uri, "proxy user name is longer than 255 bytes");
  snprintf(uri, sizeof uri, "socks5://u:%s@1.2.3.4:1", cred);
  proxy_bad(uri, "proxy password is longer than 255 bytes");
}

static void test_bad_credentials(void **state) {
  proxy_bad("socks5://user@1.2.3.4:1", "socks5 proxy needs both user name and password");
  proxy_bad("socks5://user:@1.2.3.4:1", "socks5 proxy needs both user name and password");
  proxy_bad("socks5://:pass@1.2.3.4:1", "socks5 proxy needs both user name and password");
  proxy_bad("socks5://@1.2.3.4:1", "socks5 proxy needs both user name and password");
  proxy_bad("SOCKS5://:@1.2.3.4:1", "socks5 proxy needs both user name and password");
  proxy_bad("http://user@1.2.3.4:1", "http proxy needs both user name and password");
  proxy_bad("socks4a://user@1.2.3.4:1",
            "socks4a proxy does not take a user name or password");
  proxy_bad("socks4a://u:p@1.2.3.4:1",
            "socks4a proxy does not take a user name or password");
  proxy_bad("socks5://u%:p@1.2.3.4:1", "invalid percent-encoding in proxy user name");
  proxy_bad("socks5://u%4:p@1.2.3.4:1", "invalid percent-encoding in proxy user name");
  proxy_bad("socks5://u%g1:p@1.2.3.4:1", "invalid percent-encoding in proxy user name");
  proxy_bad("socks5://u:p%@1.2.3.4:1", "invalid percent-encoding in proxy password");
  proxy_bad("socks5://u:p%2@1.2.3.4:1", "invalid percent-encoding in proxy password");
  proxy_bad("socks5://u:%+1@1.2.3.4:1", "invalid percent-encoding in proxy password");
  proxy_bad("socks5://u%00:p@1.2.3.4:1", "proxy user name contains a NUL byte");
  proxy_bad("socks5://u:p%00@1.2.3.4:1", "proxy password contains a NUL byte");
}

static void test_addresses(void **state) {
  ipc_proxy_t p;
  proxy_ok("socks5://[::1]:1080", &p);
  assert_int_equal(p.addr.family, AF_INET6);
  assert_string_equal(p.addr.host, "::1");
  assert_int_equal(p.addr.port, 1080);
  proxy_ok("http://u:p@[2001:db8::2]:8080/", &p);
  assert_string_equal(p.addr.host, "2001:db8::2");
  assert_string_equal(p.pass, "p");
  proxy_bad("socks5://proxy.example:1080", "proxy address must be an IP literal");
  proxy_bad("socks5://localhost:1080", "proxy address must be an IP literal");
  proxy_bad("socks5://1.2.3.4", "bad proxy address: missing port");
  proxy_bad("socks5://1.2.3.4:", "bad proxy address: missing port");
  proxy_bad("socks5://[::1]", "bad proxy address: missing port");
  proxy_bad("socks5://1.2.3.4:0", "bad proxy address: port 0 is not allowed");
  proxy_bad("socks5://1.2.3.4:65536", "bad proxy address: port out of range");
  proxy_bad("socks5://1.2.3.4:-1", "bad proxy address: port is not a decimal number");
  proxy_bad("socks5://::1:1080", "bad proxy address: IPv6 address must be in brackets");
  proxy_bad("socks5://[1.2.3.4]:1080", "bad proxy address: not an IPv6 address");
  proxy_bad("socks5://", "bad proxy address: empty address");
  proxy_bad("socks5://u:p@", "bad proxy address: empty address");
  proxy_bad("socks5://:1080", "bad proxy address: empty host");
  proxy_bad("socks5://1.2.3:1080", "bad proxy address: not an IP address or host name");
}

static void test_trailing(void **state) {
  ipc_proxy_t p;
  proxy_ok("socks5://1.2.3.4:1080/", &p);
  assert_int_equal(p.addr.port, 1080);
  proxy_bad("socks5://1.2.3.4:1080//", "proxy URI may not have anything after the port");
  proxy_bad("socks5://1.2.3.4:1080/x", "proxy URI may not have anything after the port");
  proxy_bad("socks5://1.2.3.4/:1080", "proxy URI may not have anything after the port");
  proxy_bad("socks5://1.2.3.4:1080?x", "bad proxy address: port is not a decimal number");
  proxy_bad("socks5://1.2.3.4:1080#x", "bad proxy address: port is not a decimal number");
  proxy_bad("socks5://1.2.3.4:1080 ", "bad proxy address: port is not a decimal number");
}

static void test_schemes_bad(void **state) {
  proxy_bad("ftp://1.2.3.4:21", "unsupported proxy scheme \"ftp\"");
  proxy_bad("socks://1.2.3.4:21", "unsupported proxy scheme \"socks\"");
  proxy_bad("socks4://1.2.3.4:21", "unsupported proxy scheme \"socks4\"");
  proxy_bad("https://1.2.3.4:21", "unsupported proxy scheme \"https\"");
  proxy_bad("socks5h://1.2.3.4:21", "unsupported proxy scheme \"socks5h\"");
  proxy_bad("://1.2.3.4:21", "invalid proxy scheme");
  proxy_bad(" socks5://1.2.3.4:21", "invalid proxy scheme");
  proxy_bad("1.2.3.4:1080", "proxy URI is missing \"://\"");
  proxy_bad("socks5:/1.2.3.4:1080", "proxy URI is missing \"://\"");
  proxy_bad("socks5:1.2.3.4:1080", "proxy URI is missing \"://\"");
  proxy_bad("", "empty proxy URI");
  proxy_bad(NULL, "empty proxy URI");
}

/* The error text never contains the user name or password, whatever else
 * is wrong with the URI. */
static void test_err_hides_credentials(void **state) {
  const char *uris[] = {
      "socks5://Alice:Sekrit99@proxy.example:1080",
      "socks5://Alice:Sekrit99@1.2.3.4",
      "socks5://Alice:Sekrit99@1.2.3.4:0",
      "socks5://Alice:Sekrit99@1.2.3.4:1080/path",
      "socks5://Alice:Sekrit99@[::1:1080",
      "socks4a://Alice:Sekrit99@1.2.3.4:1080",
      "socks5://Alice:Sekrit99%@1.2.3.4:1080",
      "socks5://Alice:Sekrit99%00@1.2.3.4:1080",
      "socks5://Alice@1.2.3.4:1080",
      "Alice:Sekrit99://1.2.3.4:1080",
      "Sekrit99@1.2.3.4:1080",
      "socks5://1.2.3.4:1080/Alice:Sekrit99@",
      "socks5://Alice:Sekrit99@Alice:Sekrit99",
  };
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    ipc_proxy_t p;
    char err[256] = "";
    if (ipc_proxy_parse(uris[i], &p, err, sizeof err) != -1)
      fail_msg("\"%s\" accepted", uris[i]);
    if (strstr(err, "Sekrit") || strstr(err, "Alice"))
      fail_msg("\"%s\": err leaks credentials: %s", uris[i], err);
    assert_true(err[0] != '\0');
  }
}

static void test_err_null(void **state) {
  ipc_proxy_t p;
  assert_int_equal(ipc_proxy_parse("ftp://1.2.3.4:1", &p, NULL, 0), -1);
  assert_int_equal(ipc_proxy_parse("socks5://1.2.3.4:1", NULL, NULL, 0), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schemes),
      cmocka_unit_test(test_scheme_case),
      cmocka_unit_test(test_spec_credentials),
      cmocka_unit_test(test_password_chars),
      cmocka_unit_test(test_credential_lengths),
      cmocka_unit_test(test_bad_credentials),
      cmocka_unit_test(test_addresses),
      cmocka_unit_test(test_trailing),
      cmocka_unit_test(test_schemes_bad),
      cmocka_unit_test(test_err_hides_credentials),
      cmocka_unit_test(test_err_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
