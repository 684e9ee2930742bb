/* test_socks_args: per-connection arguments from RFC 1929 fields, a SOCKS4
 * USERID and a PT 2.1 JSON block.
 *
 * The RFC 1929 cases are built the way Tor builds them (pt-spec 3.5):
 * arguments that fit go in UNAME with a PASSWD of one NUL byte, longer
 * ones are split at byte 255, wherever that falls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/socks_args.h"

#include "testutil.h"

/* RFC 1929 fields holding args the way Tor sends them. */
static socks5_userpass_t tor_userpass(const char *args) {
  socks5_userpass_t up;
  memset(&up, 0xAA, sizeof up); /* bytes past the lengths must not matter */
  size_t n = strlen(args);
  assert_true(n <= 2 * SOCKS5_USERPASS_FIELD_MAX);
  if (n <= SOCKS5_USERPASS_FIELD_MAX) {
    memcpy(up.uname, args, n);
    up.ulen = n;
    up.passwd[0] = '\0';
    up.plen = 1;
  } else {
    memcpy(up.uname, args, SOCKS5_USERPASS_FIELD_MAX);
    up.ulen = SOCKS5_USERPASS_FIELD_MAX;
    memcpy(up.passwd, args + SOCKS5_USERPASS_FIELD_MAX, n - SOCKS5_USERPASS_FIELD_MAX);
    up.plen = n - SOCKS5_USERPASS_FIELD_MAX;
  }
  return up;
}

/* RFC 1929 fields set directly. */
static socks5_userpass_t userpass(const void *u, size_t ulen, const void *p, size_t plen) {
  socks5_userpass_t up;
  memset(&up, 0xAA, sizeof up);
  memcpy(up.uname, u, ulen);
  up.ulen = ulen;
  memcpy(up.passwd, p, plen);
  up.plen = plen;
  return up;
}

/* One argument, k=vvv...v, that fills buf (size bytes, its NUL included):
 * for the cases at the fields' length limits. */
static void long_arg(char *buf, size_t size) {
  memset(buf, 'v', size - 1);
  buf[0] = 'k';
  buf[1] = '=';
  buf[size - 1] = '\0';
}

static kvlist_t *userpass_ok(const socks5_userpass_t *up) {
  kvlist_t *l = (kvlist_t *)1;
  char err[256] = "";
  if (socks_args_from_userpass(up, &l, err, sizeof err) != 0)
    fail_msg("refused: %s", err);
  return l;
}

static void userpass_bad(const socks5_userpass_t *up, const char *want) {
  kvlist_t *l = (kvlist_t *)1;
  char err[256] = "";
  assert_int_equal(socks_args_from_userpass(up, &l, err, sizeof err), -1);
  assert_null(l);
  assert_string_equal(err, want);
}

/* ---- RFC 1929 ---- */

static void test_userpass_spec_example(void **state) {
  (void)state;
  socks5_userpass_t up = tor_userpass("shared-secret=rahasia;secrets-file=/tmp/blob");
  kvlist_t *l = userpass_ok(&up);
  EXPECT_KVLIST(l, "shared-secret", "rahasia", "secrets-file", "/tmp/blob");
  kvlist_free(l);
}

static void test_userpass_escapes(void **state) {
  (void)state;
  socks5_userpass_t up = tor_userpass("a\\;b=c\\;d;e\\=f=g\\=h;i\\\\=j\\\\;cert=ab==");
  kvlist_t *l = userpass_ok(&up);
  EXPECT_KVLIST(l, "a;b", "c;d", "e=f", "g=h", "i\\", "j\\", "cert", "ab==");
  kvlist_free(l);
}

static void test_userpass_nul_passwd_is_empty(void **state) {
  (void)state;
  /* Exactly 255 bytes still fit in UNAME. */
  char args[256];
  long_arg(args, sizeof args);
  socks5_userpass_t up = tor_userpass(args);
  assert_int_equal(up.ulen, 255);
  assert_int_equal(up.plen, 1);
  kvlist_t *l = userpass_ok(&up);
  assert_int_equal(l->n, 1);
  assert_int_equal(strlen(kvlist_get(l, "k")), 253);
  kvlist_free(l);
}

static void test_userpass_split_everywhere(void **state) {
  (void)state;
  /* Tor cuts at byte 255 whatever lies there: inside a key, a value, an
   * escape, right at a ';'. Move the cut across every byte of an escaped
   * item, from "all in UNAME" to "the ';' before it starts PASSWD". */
  const char *tail = "key\\;x=val\\=ue\\\\;k2=v2";
  char args[2 * SOCKS5_USERPASS_FIELD_MAX + 1];
  for (size_t pad = 255 - 23; pad <= 255; pad++) {
    /* "p=" then filler so that the tail starts at pad + 1. */
    memset(args, 'x', pad);
    args[0] = 'p';
    args[1] = '=';
    args[pad] = ';';
    strcpy(args + pad + 1, tail);
    socks5_userpass_t up = tor_userpass(args);
    assert_int_equal(up.ulen, 255);
    kvlist_t *l = userpass_ok(&up);
    assert_int_equal(l->n, 3);
    assert_int_equal(strlen(kvlist_get(l, "p")), pad - 2);
    assert_string_equal(kvlist_get(l, "key;x"), "val=ue\\");
    assert_string_equal(kvlist_get(l, "k2"), "v2");
    kvlist_free(l);
  }
}

static void test_userpass_full_fields(void **state) {
  (void)state;
  /* 510 bytes: both fields full. */
  char args[2 * SOCKS5_USERPASS_FIELD_MAX + 1];
  long_arg(args, sizeof args);
  socks5_userpass_t up = tor_userpass(args);
  assert_int_equal(up.plen, 255);
  kvlist_t *l = userpass_ok(&up);
  assert_int_equal(strlen(kvlist_get(l, "k")), 508);
  kvlist_free(l);
}

static void test_userpass_empty_fields(void **state) {
  (void)state;
  /* ULEN 0 with the NUL marker, ULEN 0 and PLEN 0: no arguments. */
  socks5_userpass_t up = userpass("", 0, "", 1);
  kvlist_t *l = userpass_ok(&up);
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  up = userpass("", 0, "", 0);
  l = userpass_ok(&up);
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  /* Arguments in PASSWD alone are still arguments. */
  up = userpass("", 0, "k=v", 3);
  l = userpass_ok(&up);
  EXPECT_KVLIST(l, "k", "v");
  kvlist_free(l);
  /* An empty PASSWD (curl's "user:") adds nothing. */
  up = userpass("k=v", 3, "", 0);
  l = userpass_ok(&up);
  EXPECT_KVLIST(l, "k", "v");
  kvlist_free(l);
}

static void test_userpass_nul_elsewhere(void **state) {
  (void)state;
  /* Only a PASSWD of exactly one NUL is the marker. */
  socks5_userpass_t up = userpass("k=v", 3, "\0\0", 2);
  userpass_bad(&up, "NUL byte in arguments");
  up = userpass("k=v", 3, ";j=\0", 4);
  userpass_bad(&up, "NUL byte in arguments");
  up = userpass("k=\0", 3, "", 1);
  userpass_bad(&up, "NUL byte in arguments");
}

static void test_userpass_syntax_errors(void **state) {
  (void)state;
  socks5_userpass_t up = tor_userpass("novalue");
  userpass_bad(&up, "missing '=' in argument");
  up = tor_userpass("k=v;bare");
  userpass_bad(&up, "missing '=' in argument");
  up = tor_userpass("k=v\\");
  userpass_bad(&up, "trailing backslash");
  up = tor_userpass("=v");
  userpass_bad(&up, "empty key");
  up = tor_userpass("k=1;k=2");
  userpass_bad(&up, "duplicate key \"k\"");
  /* A backslash at the end of UNAME escapes PASSWD's first byte... */
  up = userpass("k=v\\", 4, ";x", 2);
  kvlist_t *l = userpass_ok(&up);
  EXPECT_KVLIST(l, "k", "v;x");
  kvlist_free(l);
  /* ... but not the NUL marker, which is not part of the arguments. */
  up = userpass("k=v\\", 4, "", 1);
  userpass_bad(&up, "trailing backslash");
}

static void test_userid(void **state) {
  (void)state;
  kvlist_t *l = (kvlist_t *)1;
  char err[128];
  assert_int_equal(socks_args_from_userid("a=1;b=x\\;y", &l, err, sizeof err), 0);
  EXPECT_KVLIST(l, "a", "1", "b", "x;y");
  kvlist_free(l);
  assert_int_equal(socks_args_from_userid("", &l, err, sizeof err), 0);
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  /* What curl sends for --socks4 user@host is not an argument list. */
  assert_int_equal(socks_args_from_userid("user", &l, err, sizeof err), -1);
  assert_null(l);
  assert_string_equal(err, "missing '=' in argument");
}

/* ---- JSON ---- */

static kvlist_t *json_ok(const char *json) {
  kvlist_t *l = (kvlist_t *)1;
  uint8_t reply = 0xEE;
  char err[256] = "";
  if (socks_args_from_json(json, strlen(json), &l, &reply, err, sizeof err) != 0)
    fail_msg("%s refused: %s", json, err);
  assert_int_equal(reply, SOCKS5_REP_SUCCEEDED);
  return l;
}

/* json[0..len) must fail with 0x12 and an error starting with want. */
static void json_bad_n(const char *json, size_t len, const char *want) {
  kvlist_t *l = (kvlist_t *)1;
  uint8_t reply = 0xEE;
  char err[256] = "";
  assert_int_equal(socks_args_from_json(json, len, &l, &reply, err, sizeof err), -1);
  assert_null(l);
  assert_int_equal(reply, SOCKS5_REP_SETTINGS_PARSE);
  if (strncmp(err, want, strlen(want)) != 0)
    fail_msg("%.*s: got \"%s\", want \"%s...\"", (int)len, json, err, want);
  for (const char *p = err; *p; p++)
    assert_true(*p >= 0x20 && *p < 0x7f);
}

static void json_bad(const char *json, const char *want) {
  json_bad_n(json, strlen(json), want);
}

static void test_json_spec_example(void **state) {
  (void)state;
  kvlist_t *l = json_ok("{\"shared-secret\": \"rahasia\", \"secrets-file\": \"/tmp/blob\"}");
  EXPECT_KVLIST(l, "shared-secret", "rahasia", "secrets-file", "/tmp/blob");
  kvlist_free(l);
}

static void test_json_values(void **state) {
  (void)state;
  kvlist_t *l = json_ok("{\"s\": \"a=b;c\\\\\", \"i\": 42, \"r\": 0.5, \"neg\": -1e-3,"
                        " \"t\": true, \"f\": false, \"n\": null,"
                        " \"o\": {\"x\": [1, {\"y\": \"z\"}], \"w\": {}}, \"a\": [ ]}");
  EXPECT_KVLIST(l, "s", "a=b;c\\", "i", "42", "r", "0.5", "neg", "-0.001", "t", "true", "f",
                "false", "n", "null", "o", "{\"x\":[1,{\"y\":\"z\"}],\"w\":{}}", "a", "[]");
  kvlist_free(l);
  l = json_ok("{}");
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  /* Whitespace around the object is JSON. */
  l = json_ok(" \n{\"k\":\"v\"}\t ");
  EXPECT_KVLIST(l, "k", "v");
  kvlist_free(l);
}

static void test_json_not_an_object(void **state) {
  (void)state;
  json_bad("[]", "not a JSON object");
  json_bad("[{\"k\": \"v\"}]", "not a JSON object");
  json_bad("\"k=v\"", "not a JSON object");
  json_bad("42", "not a JSON object");
  json_bad("true", "not a JSON object");
  json_bad("null", "not a JSON object");
}

static void test_json_invalid(void **state) {
  (void)state;
  /* Zero bytes: a 0x09 client with no settings should have sent 0x00. */
  json_bad_n("", 0, "invalid JSON");
  json_bad("{", "invalid JSON");
  json_bad("{\"k\": \"v\"} x", "invalid JSON");
  json_bad("{\"k\": \"v\"}{}", "invalid JSON");
  json_bad("{\"k\": \"v\",}", "invalid JSON");
  json_bad("{k: \"v\"}", "invalid JSON");
  json_bad("{\"k\": 1, \"k\": 2}", "invalid JSON");
  json_bad("{\"k\": \"\xc3\x28\"}", "invalid JSON");
  json_bad("{\"k\xff\": 1}", "invalid JSON");
  json_bad("{\"k\": \"a\\u0000b\"}", "invalid JSON");
  json_bad_n("{\"k\": 1}\0", 9, "invalid JSON");
  json_bad("{\"password\": hunter2}", "invalid JSON");
  json_bad("{\"\": \"v\"}", "empty key");
  /* The token jansson would quote can be a secret. */
  kvlist_t *l;
  uint8_t reply;
  char err[256];
  const char *j = "{\"password\": hunter2}";
  assert_int_equal(socks_args_from_json(j, strlen(j), &l, &reply, err, sizeof err), -1);
  assert_lacks(err, "hunter");
}

static void test_json_length_bounds(void **state) {
  (void)state;
  /* The length is the caller's: bytes after it are not part of the block. */
  const char *j = "{\"k\": \"v\"}{\"more\": 1}";
  kvlist_t *l = (kvlist_t *)1;
  uint8_t reply;
  char err[128];
  assert_int_equal(socks_args_from_json(j, 10, &l, &reply, err, sizeof err), 0);
  EXPECT_KVLIST(l, "k", "v");
  kvlist_free(l);
  assert_int_equal(socks_args_from_json(j, 9, &l, &reply, err, sizeof err), -1);
  assert_int_equal(reply, SOCKS5_REP_SETTINGS_PARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_userpass_spec_example),
      cmocka_unit_test(test_userpass_escapes),
      cmocka_unit_test(test_userpass_nul_passwd_is_empty),
      cmocka_unit_test(test_userpass_split_everywhere),
      cmocka_unit_test(test_userpass_full_fields),
      cmocka_unit_test(test_userpass_empty_fields),
      cmocka_unit_test(test_userpass_nul_elsewhere),
      cmocka_unit_test(test_userpass_syntax_errors),
      cmocka_unit_test(test_userid),
      cmocka_unit_test(test_json_spec_example),
      cmocka_unit_test(test_json_values),
      cmocka_unit_test(test_json_not_an_object),
      cmocka_unit_test(test_json_invalid),
      cmocka_unit_test(test_json_length_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
