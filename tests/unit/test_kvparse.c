/* test_kvparse: the escaped k=v;k=v form and JSON values as argument text.
 *
 * Inputs are byte arrays with explicit lengths where a NUL byte or the
 * exact end matters; every error case checks the whole error text and,
 * where a value could be a secret, that the text does not repeat it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/kvparse.h"

#include "testutil.h"

/* Parses text (C text, its strlen is the length) that must succeed. */
static kvlist_t *escaped_ok(const char *text) {
  kvlist_t *l = (kvlist_t *)1;
  char err[256] = "";
  if (kvparse_escaped(text, strlen(text), "argument", &l, err, sizeof err) != 0)
    fail_msg("\"%s\" refused: %s", text, err);
  assert_non_null(l);
  return l;
}

/* Parses s[0..len) that must fail with exactly want. */
static void escaped_bad_n(const char *s, size_t len, const char *want) {
  kvlist_t *l = (kvlist_t *)1;
  char err[256] = "";
  if (kvparse_escaped(s, len, "argument", &l, err, sizeof err) != -1)
    fail_msg("\"%.*s\" accepted", (int)len, s);
  assert_null(l);
  if (strcmp(err, want) != 0)
    fail_msg("\"%.*s\": got \"%s\", want \"%s\"", (int)len, s, err, want);
}

static void escaped_bad(const char *text, const char *want) {
  escaped_bad_n(text, strlen(text), want);
}

/* ---- kvparse_find and kvparse_unescape ---- */

static void test_find(void **state) {
  (void)state;
  assert_int_equal(kvparse_find("k=v", 3, "=;"), 1);
  assert_int_equal(kvparse_find("k;v", 3, "=;"), 1);
  assert_int_equal(kvparse_find("kv", 2, "=;"), 2);
  assert_int_equal(kvparse_find("", 0, "=;"), 0);
  /* Escaped stops are skipped, and so is an escaped backslash. */
  assert_int_equal(kvparse_find("a\\=b=c", 6, "="), 4);
  assert_int_equal(kvparse_find("a\\\\=b", 5, "="), 3);
  /* A backslash that escapes nothing is reported where it stands... */
  assert_int_equal(kvparse_find("ab\\", 3, "="), -1);
  assert_int_equal(kvparse_find("\\", 1, "="), -1);
  /* ... but only if the scan gets there: a stop before it wins. */
  assert_int_equal(kvparse_find("a=b\\", 4, "="), 1);
  /* The length bounds the scan, not a NUL. */
  assert_int_equal(kvparse_find("ab=", 2, "="), 2);
  assert_int_equal(kvparse_find("a\\=", 2, "="), -1);
  /* A NUL byte is data, never a stop (strchr would match the list's end). */
  assert_int_equal(kvparse_find("a\0b=", 4, "="), 3);
  assert_int_equal(kvparse_find("a\0b", 3, "="), 3);
}

static void test_unescape(void **state) {
  (void)state;
  char *s = kvparse_unescape("a\\;b\\=c\\\\d\\e", 12);
  assert_string_equal(s, "a;b=c\\de");
  free(s);
  s = kvparse_unescape("", 0);
  assert_string_equal(s, "");
  free(s);
  s = kvparse_unescape("xyz", 2);
  assert_string_equal(s, "xy");
  free(s);
  /* A dangling backslash is dropped (callers find it first). */
  s = kvparse_unescape("ab\\", 3);
  assert_string_equal(s, "ab");
  free(s);
}

/* ---- kvparse_item ---- */

static void test_item(void **state) {
  (void)state;
  size_t used = 0;
  char *key = NULL, *value = NULL;
  char err[128] = "";
  const char *text = "k=v=w;next=1";
  assert_int_equal(kvparse_item(text, strlen(text), "option", &used, &key, &value, err,
                                sizeof err),
                   0);
  assert_string_equal(key, "k");
  assert_string_equal(value, "v=w");
  assert_int_equal(used, 5);
  free(key);
  free(value);
  /* The last item ends at len. */
  text = "a\\;b=c\\;d";
  assert_int_equal(kvparse_item(text, strlen(text), "option", &used, &key, &value, err,
                                sizeof err),
                   0);
  assert_string_equal(key, "a;b");
  assert_string_equal(value, "c;d");
  assert_int_equal(used, strlen(text));
  free(key);
  free(value);
  /* The noun in the error is the caller's. */
  assert_int_equal(kvparse_item("k;x=1", 5, "option", &used, &key, &value, err, sizeof err),
                   -1);
  assert_string_equal(err, "missing '=' in option");
  assert_int_equal(kvparse_item("", 0, "thing", &used, &key, &value, err, sizeof err), -1);
  assert_string_equal(err, "missing '=' in thing");
  /* A NULL err is allowed. */
  assert_int_equal(kvparse_item("=", 1, "option", &used, &key, &value, NULL, 0), -1);
}

/* ---- the escaped form ---- */

static void test_escaped_spec_example(void **state) {
  (void)state;
  kvlist_t *l = escaped_ok("shared-secret=rahasia;secrets-file=/tmp/blob");
  EXPECT_KVLIST(l, "shared-secret", "rahasia", "secrets-file", "/tmp/blob");
  kvlist_free(l);
}

static void test_escaped_escapes(void **state) {
  (void)state;
  kvlist_t *l = escaped_ok("a\\;b=c\\;d;e\\=f=g\\=h;i\\\\=j\\\\");
  EXPECT_KVLIST(l, "a;b", "c;d", "e=f", "g=h", "i\\", "j\\");
  kvlist_free(l);
  /* Escaping any other byte gives that byte. */
  l = escaped_ok("\\k=\\v\\ \\:");
  EXPECT_KVLIST(l, "k", "v :");
  kvlist_free(l);
  /* An escaped ';' at the very end belongs to the value. */
  l = escaped_ok("k=v\\;");
  EXPECT_KVLIST(l, "k", "v;");
  kvlist_free(l);
}

static void test_escaped_equals_in_value(void **state) {
  (void)state;
  kvlist_t *l = escaped_ok("cert=ab==;x==;y=a=b=c");
  EXPECT_KVLIST(l, "cert", "ab==", "x", "=", "y", "a=b=c");
  kvlist_free(l);
}

static void test_escaped_empty_values_and_items(void **state) {
  (void)state;
  kvlist_t *l = escaped_ok("");
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  l = escaped_ok(";;;");
  assert_int_equal(l->n, 0);
  kvlist_free(l);
  l = escaped_ok(";k=;;j=v;");
  EXPECT_KVLIST(l, "k", "", "j", "v");
  kvlist_free(l);
  /* A NULL text with length 0 is empty text. */
  l = (kvlist_t *)1;
  assert_int_equal(kvparse_escaped(NULL, 0, "argument", &l, NULL, 0), 0);
  assert_int_equal(l->n, 0);
  kvlist_free(l);
}

static void test_escaped_length_not_nul(void **state) {
  (void)state;
  /* The length decides; the text need not be terminated. */
  const char text[] = {'k', '=', 'v', ';', 'x'};
  kvlist_t *l = (kvlist_t *)1;
  char err[64];
  assert_int_equal(kvparse_escaped(text, 3, "argument", &l, err, sizeof err), 0);
  EXPECT_KVLIST(l, "k", "v");
  kvlist_free(l);
}

static void test_escaped_errors(void **state) {
  (void)state;
  escaped_bad("k", "missing '=' in argument");
  escaped_bad("k;j=v", "missing '=' in argument");
  escaped_bad("j=v;k", "missing '=' in argument");
  escaped_bad("k\\=v", "missing '=' in argument");
  escaped_bad("=v", "empty key");
  escaped_bad("=", "empty key");
  escaped_bad("j=1;=v", "empty key");
  escaped_bad("k=v\\", "trailing backslash");
  escaped_bad("\\", "trailing backslash");
  escaped_bad("k=\\\\\\", "trailing backslash");
  escaped_bad("k\\", "trailing backslash");
  escaped_bad("k=1;k=2", "duplicate key \"k\"");
  escaped_bad("k=1;j=0;k=1", "duplicate key \"k\"");
  /* Escapes do not make two spellings of one key different keys. */
  escaped_bad("k=1;\\k=2", "duplicate key \"k\"");
  /* Left to right: the first bad byte decides. */
  escaped_bad("k;=v", "missing '=' in argument");
  escaped_bad("=v;k", "empty key");
  escaped_bad("k=1;k=2;\\", "duplicate key \"k\"");
  /* A NUL byte cannot become part of a C string. */
  escaped_bad_n("k=a\0b", 5, "NUL byte in arguments");
  escaped_bad_n("\0", 1, "NUL byte in arguments");
}

static void test_escaped_errors_hide_values(void **state) {
  (void)state;
  kvlist_t *l;
  char err[256];
  assert_int_equal(kvparse_escaped("password=hunter2;password=hunter3", 33, "argument", &l,
                                   err, sizeof err),
                   -1);
  assert_string_equal(err, "duplicate key \"password\"");
  assert_lacks(err, "hunter");
  /* Keys in errors are quoted and made printable. */
  const char text[] = "a\nb=1;a\nb=2;";
  assert_int_equal(kvparse_escaped(text, strlen(text), "argument", &l, err, sizeof err), -1);
  assert_string_equal(err, "duplicate key \"a\\x0ab\"");
  const char quote[] = "\"q\\\\=1;\"q\\\\=2";
  assert_int_equal(kvparse_escaped(quote, strlen(quote), "argument", &l, err, sizeof err),
                   -1);
  assert_string_equal(err, "duplicate key \"\\\"q\\\\\"");
  /* A long key is cut so that the line stays short. */
  char big[1300];
  char key[600];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  snprintf(big, sizeof big, "%s=1;%s=2", key, key);
  char long_err[1024];
  assert_int_equal(
      kvparse_escaped(big, strlen(big), "argument", &l, long_err, sizeof long_err), -1);
  assert_contains(long_err, "duplicate key \"kkkk");
  assert_contains(long_err, "k\"...");
  assert_true(strlen(long_err) < 300);
  /* A short err buffer is cut, not overrun. */
  char tiny[8];
  assert_int_equal(kvparse_escaped("k=1;k=2", 7, "argument", &l, tiny, sizeof tiny), -1);
  assert_string_equal(tiny, "duplica");
}

static void test_escaped_many_and_long(void **state) {
  (void)state;
  /* Growth of the list and a long value. */
  static char text[150000];
  size_t off = 0;
  for (int i = 0; i < 1000; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "k%d=%d;", i, i);
  off += (size_t)snprintf(text + off, sizeof text - off, "big=");
  memset(text + off, 'x', 100000);
  off += 100000;
  kvlist_t *l = (kvlist_t *)1;
  char err[64];
  assert_int_equal(kvparse_escaped(text, off, "argument", &l, err, sizeof err), 0);
  assert_int_equal(l->n, 1001);
  assert_string_equal(kvlist_get(l, "k999"), "999");
  assert_int_equal(strlen(kvlist_get(l, "big")), 100000);
  kvlist_free(l);
}

/* ---- JSON ---- */

/* A string literal as {bytes, length}, NUL bytes inside included. */
#define BYTES(lit) {lit, sizeof lit - 1}

static json_t *load_ok(const char *json) {
  char err[256] = "";
  json_t *v = kvparse_json_load(json, strlen(json), err, sizeof err);
  if (!v)
    fail_msg("%s refused: %s", json, err);
  return v;
}

/* The argument text of the one JSON value in json. */
static void expect_text(const char *json, const char *want) {
  json_t *v = load_ok(json);
  char *text = kvparse_json_text(v);
  assert_non_null(text);
  if (strcmp(text, want) != 0)
    fail_msg("%s: got \"%s\", want \"%s\"", json, text, want);
  free(text);
  json_decref(v);
}

static void test_json_text(void **state) {
  (void)state;
  expect_text("\"text\"", "text");
  expect_text("\"\"", "");
  expect_text("\"caf\\u00e9 \\\"q\\\" \\\\ a=b;c\"", "caf\xc3\xa9 \"q\" \\ a=b;c");
  expect_text("0", "0");
  expect_text("-12", "-12");
  expect_text("9007199254740993", "9007199254740993");
  expect_text("0.1", "0.1");
  expect_text("1.0", "1.0");
  expect_text("1e300", "1e300");
  expect_text("-2.5e-7", "-2.5e-7");
  expect_text("true", "true");
  expect_text("false", "false");
  expect_text("null", "null");
  expect_text("{\"b\": 1, \"a\": [1, \"x\", null]}", "{\"b\":1,\"a\":[1,\"x\",null]}");
  expect_text("[]", "[]");
  expect_text("{}", "{}");
  expect_text("[[[{\"k\": {\"k\": true}}]]]", "[[[{\"k\":{\"k\":true}}]]]");
}

static void test_json_text_nul_string(void **state) {
  (void)state;
  /* The loader refuses \u0000; a value built in memory can still hold it. */
  json_t *v = json_stringn("a\0b", 3);
  assert_non_null(v);
  assert_null(kvparse_json_text(v));
  json_decref(v);
}

static void test_json_load_errors(void **state) {
  (void)state;
  static const struct {
    const char *json;
    size_t len;
  } bad[] = {
      BYTES(""),
      BYTES("{"),
      BYTES("{\"a\": 1} x"),
      BYTES("{\"a\": 1,}"),
      BYTES("{'a': 1}"),
      BYTES("{\"a\": 1, \"a\": 2}"),
      BYTES("{\"a\": 99999999999999999999}"),
      BYTES("{\"a\": \"x\\u0000y\"}"),
      BYTES("{\"a\": \"\xff\"}"),
      BYTES("{\"a\": 1}\0"),
      BYTES("\"x\" \"y\""),
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    if (kvparse_json_load(bad[i].json, bad[i].len, err, sizeof err) != NULL)
      fail_msg("case %zu accepted", i);
    assert_contains(err, "invalid JSON at line ");
    for (const char *p = err; *p; p++)
      assert_true(*p >= 0x20 && *p < 0x7f);
  }
  /* The length bounds the text: what follows is not read. */
  char err[256];
  json_t *v = kvparse_json_load("{}garbage", 2, err, sizeof err);
  assert_non_null(v);
  json_decref(v);
}

static void test_json_load_hides_tokens(void **state) {
  (void)state;
  char err[256] = "";
  const char *json = "{\"private-key\": s3cr3tvalue}";
  assert_null(kvparse_json_load(json, strlen(json), err, sizeof err));
  assert_contains(err, "invalid JSON at line 1");
  assert_lacks(err, "s3cr3t");
  json = "{\"a\": tru\x01\n}";
  assert_null(kvparse_json_load(json, strlen(json), err, sizeof err));
  for (const char *p = err; *p; p++)
    assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_json_object(void **state) {
  (void)state;
  json_t *v = load_ok("{\"s\": \"x=y;z\", \"n\": 3, \"b\": false, \"z\": null,"
                      " \"o\": {\"k\": [1, 2]}, \"e\": \"\"}");
  kvlist_t *l = kvlist_new();
  char err[128];
  assert_int_equal(kvparse_json_object(v, l, err, sizeof err), 0);
  EXPECT_KVLIST(l, "s", "x=y;z", "n", "3", "b", "false", "z", "null", "o", "{\"k\":[1,2]}",
                "e", "");
  kvlist_free(l);
  json_decref(v);
}

static void test_json_object_errors(void **state) {
  (void)state;
  char err[128];
  kvlist_t *l = kvlist_new();
  json_t *v = load_ok("{\"a\": 1, \"\": \"secret\"}");
  assert_int_equal(kvparse_json_object(v, l, err, sizeof err), -1);
  assert_string_equal(err, "empty key");
  /* Members before the bad one were added; callers pass a fresh list. */
  EXPECT_KVLIST(l, "a", "1");
  json_decref(v);
  /* A key already in the list. */
  v = load_ok("{\"a\": \"hunter2\"}");
  assert_int_equal(kvparse_json_object(v, l, err, sizeof err), -1);
  assert_string_equal(err, "duplicate key \"a\"");
  json_decref(v);
  kvlist_free(l);
  /* Not an object. */
  static const char *const not_objects[] = {"[]", "\"s\"", "1", "true", "null"};
  for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
    l = kvlist_new();
    v = load_ok(not_objects[i]);
    assert_int_equal(kvparse_json_object(v, l, err, sizeof err), -1);
    assert_string_equal(err, "not a JSON object");
    assert_int_equal(l->n, 0);
    json_decref(v);
    kvlist_free(l);
  }
  /* A NUL-bearing string built in memory, keyed with a control byte. */
  v = json_object();
  assert_int_equal(json_object_set_new(v, "k\x01", json_stringn("s\0x", 3)), 0);
  l = kvlist_new();
  assert_int_equal(kvparse_json_object(v, l, err, sizeof err), -1);
  assert_string_equal(err, "value of key \"k\\x01\" contains a NUL byte");
  json_decref(v);
  kvlist_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find),
      cmocka_unit_test(test_unescape),
      cmocka_unit_test(test_item),
      cmocka_unit_test(test_escaped_spec_example),
      cmocka_unit_test(test_escaped_escapes),
      cmocka_unit_test(test_escaped_equals_in_value),
      cmocka_unit_test(test_escaped_empty_values_and_items),
      cmocka_unit_test(test_escaped_length_not_nul),
      cmocka_unit_test(test_escaped_errors),
      cmocka_unit_test(test_escaped_errors_hide_values),
      cmocka_unit_test(test_escaped_many_and_long),
      cmocka_unit_test(test_json_text),
      cmocka_unit_test(test_json_text_nul_string),
      cmocka_unit_test(test_json_load_errors),
      cmocka_unit_test(test_json_load_hides_tokens),
      cmocka_unit_test(test_json_object),
      cmocka_unit_test(test_json_object_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
