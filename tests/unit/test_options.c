/* Unit tests for ipc/options: the escaped form and the JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/options.h"
#include "ipc/settings.h"

#include "testutil.h"

/* The options of transport t, which must have some. */
static const kvlist_t *options_of(const ipc_options_t *o, const char *t) {
  const kvlist_t *l = ipc_options_get(o, t);
  if (!l)
    fail_msg("no options for transport %s", t);
  return l;
}

/* Checks that transport t has exactly the given key/value pairs, in order:
 * EXPECT(o, t, key, value, key, value, ...). */
#define EXPECT(o, t, ...) EXPECT_KVLIST(options_of((o), (t)), __VA_ARGS__)

/* Parses text that must succeed. */
static void parse_ok(const char *text, ipc_options_t *o) {
  char err[256] = "";
  if (ipc_options_parse(text, o, err, sizeof err) != 0)
    fail_msg("\"%s\" refused: %s", text, err);
}

/* Parses text that must fail with exactly want, leaving a fresh out empty. */
static void parse_bad(const char *text, const char *want) {
  ipc_options_t o = {0};
  char err[256] = "";
  if (ipc_options_parse(text, &o, err, sizeof err) != -1)
    fail_msg("\"%s\" accepted", text);
  if (strcmp(err, want) != 0)
    fail_msg("\"%s\": got \"%s\", want \"%s\"", text, err, want);
  assert_int_equal(o.n, 0);
  assert_null(o.items);
}

static void test_spec_example(void **state) {
  ipc_options_t o = {0};
  parse_ok("scramblesuit:key=banana;automata:rule=110;automata:depth=3", &o);
  assert_int_equal(o.n, 2);
  assert_string_equal(o.items[0].transport, "scramblesuit");
  assert_string_equal(o.items[1].transport, "automata");
  EXPECT(&o, "scramblesuit", "key", "banana");
  EXPECT(&o, "automata", "rule", "110", "depth", "3");
  assert_null(ipc_options_get(&o, "obfs4"));
  assert_null(ipc_options_get(&o, "Automata"));
  ipc_options_clear(&o);
  assert_int_equal(o.n, 0);
  assert_null(o.items);
}

static void test_equals_in_value(void **state) {
  ipc_options_t o = {0};
  parse_ok("obfs4:cert=ab=cd;obfs4:x==;obfs4:y=a:b", &o);
  EXPECT(&o, "obfs4", "cert", "ab=cd", "x", "=", "y", "a:b");
  ipc_options_clear(&o);
}

static void test_empty_value(void **state) {
  ipc_options_t o = {0};
  parse_ok("t:k=", &o);
  EXPECT(&o, "t", "k", "");
  ipc_options_clear(&o);
  parse_ok("t:k=;t:j=", &o);
  EXPECT(&o, "t", "k", "", "j", "");
  ipc_options_clear(&o);
}

static void test_escapes(void **state) {
  ipc_options_t o = {0};
  parse_ok("t:k=a\\:b\\;c\\=d\\\\e", &o);
  EXPECT(&o, "t", "k", "a:b;c=d\\e");
  ipc_options_clear(&o);
  /* Escaping any other byte gives that byte. */
  parse_ok("t:k=\\a\\b\\ \\n", &o);
  EXPECT(&o, "t", "k", "ab n");
  ipc_options_clear(&o);
  /* Escaped separators inside keys, and an escaped '=' keeps the key going. */
  parse_ok("t:a\\=b\\:c\\;d=v", &o);
  EXPECT(&o, "t", "a=b:c;d", "v");
  ipc_options_clear(&o);
  /* Escapes in the name, as long as the result is an identifier. */
  parse_ok("ob\\fs4:k=v", &o);
  EXPECT(&o, "obfs4", "k", "v");
  ipc_options_clear(&o);
  /* An escaped ';' does not end the item; a lone '\;' item is not empty. */
  parse_ok("t:k=v\\;", &o);
  EXPECT(&o, "t", "k", "v;");
  ipc_options_clear(&o);
  /* A ':' after the name is literal in keys (goptlib agrees). */
  parse_ok("t:a:b=c", &o);
  EXPECT(&o, "t", "a:b", "c");
  ipc_options_clear(&o);
}

static void test_empty_and_skipped_items(void **state) {
  ipc_options_t o = {0};
  parse_ok("", &o);
  assert_int_equal(o.n, 0);
  parse_ok(";", &o);
  parse_ok(";;;", &o);
  assert_int_equal(o.n, 0);
  assert_int_equal(ipc_options_parse(NULL, &o, NULL, 0), 0);
  assert_int_equal(o.n, 0);
  parse_ok(";a:k=v;;b:k=w;", &o);
  EXPECT(&o, "a", "k", "v");
  EXPECT(&o, "b", "k", "w");
  assert_int_equal(o.n, 2);
  ipc_options_clear(&o);
}

static void test_errors(void **state) {
  parse_bad("obfs4", "missing ':' after transport name");
  parse_bad("obfs4;", "missing ':' after transport name");
  parse_bad("a:k=v;obfs4", "missing ':' after transport name");
  parse_bad("obfs4=x:k=v", "missing ':' after transport name");
  parse_bad("ob\\:fs4", "missing ':' after transport name");
  parse_bad(":k=v", "empty transport name");
  parse_bad("\\ :k=v", "transport name is not a C identifier");
  parse_bad("1obfs:k=v", "transport name is not a C identifier");
  parse_bad("obfs-4:k=v", "transport name is not a C identifier");
  parse_bad("ob fs:k=v", "transport name is not a C identifier");
  parse_bad("t\xc3\xa9:k=v", "transport name is not a C identifier");
  parse_bad("t:", "missing '=' in option");
  parse_bad("t:k", "missing '=' in option");
  parse_bad("t:k;u:k=v", "missing '=' in option");
  parse_bad("t:k\\=v", "missing '=' in option");
  parse_bad("t:=v", "empty key");
  parse_bad("t:=", "empty key");
  parse_bad("t:k=v\\", "trailing backslash");
  parse_bad("t\\", "trailing backslash");
  parse_bad("t:k=1;t:k=2", "duplicate key \"k\" for transport \"t\"");
  parse_bad("t:k=1;u:j=0;t:k=1", "duplicate key \"k\" for transport \"t\"");
  /* Keys in errors are made printable. */
  parse_bad("t:a\\\nb=1;t:a\\\nb=2", "duplicate key \"a\\x0ab\" for transport \"t\"");
  /* ... and a long one is cut (ipc_quote's limit) so the line stays short. */
  {
    char key[600], text[1300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(text, sizeof text, "t:%s=1;t:%s=2", key, key);
    ipc_options_t o = {0};
    char err[1024] = "";
    assert_int_equal(ipc_options_parse(text, &o, err, sizeof err), -1);
    assert_contains(err, "duplicate key \"kkkk");
    assert_contains(err, "\"... for transport \"t\"");
    assert_true(strlen(err) < IPC_QUOTE_MAX + 64);
  }
}

static void test_underscore_names(void **state) {
  ipc_options_t o = {0};
  parse_ok("_:k=v;meek_lite:url=https://x/;A9:k=v", &o);
  EXPECT(&o, "_", "k", "v");
  EXPECT(&o, "meek_lite", "url", "https://x/");
  EXPECT(&o, "A9", "k", "v");
  ipc_options_clear(&o);
}

static void test_merge_across_calls(void **state) {
  ipc_options_t o = {0};
  parse_ok("obfs4:cert=abc;meek:url=u", &o);
  parse_ok("obfs4:iat-mode=0;plain:x=y", &o);
  assert_int_equal(o.n, 3);
  EXPECT(&o, "obfs4", "cert", "abc", "iat-mode", "0");
  EXPECT(&o, "meek", "url", "u");
  EXPECT(&o, "plain", "x", "y");
  /* A duplicate across calls is an error, and changes nothing. */
  char err[128];
  assert_int_equal(ipc_options_parse("plain:z=1;obfs4:cert=other", &o, err, sizeof err),
                   -1);
  assert_string_equal(err, "duplicate key \"cert\" for transport \"obfs4\"");
  assert_int_equal(o.n, 3);
  EXPECT(&o, "obfs4", "cert", "abc", "iat-mode", "0");
  EXPECT(&o, "plain", "x", "y");
  /* A syntax error later in the text also changes nothing. */
  assert_int_equal(ipc_options_parse("new:k=v;broken", &o, err, sizeof err), -1);
  assert_null(ipc_options_get(&o, "new"));
  assert_int_equal(o.n, 3);
  ipc_options_clear(&o);
}

static void test_long_input(void **state) {
  /* Many transports and a long value, to exercise growth. */
  static char text[200000];
  size_t off = 0;
  for (int i = 0; i < 500; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "t%d:k=%d;", i, i);
  off += (size_t)snprintf(text + off, sizeof text - off, "big:v=");
  memset(text + off, 'x', 100000);
  text[off + 100000] = '\0';
  ipc_options_t o = {0};
  parse_ok(text, &o);
  assert_int_equal(o.n, 501);
  EXPECT(&o, "t499", "k", "499");
  assert_int_equal(strlen(kvlist_get(ipc_options_get(&o, "big"), "v")), 100000);
  ipc_options_clear(&o);
}

static void test_clear_and_get_null(void **state) {
  ipc_options_clear(NULL);
  assert_null(ipc_options_get(NULL, "t"));
  ipc_options_t o = {0};
  ipc_options_clear(&o);
  assert_null(ipc_options_get(&o, "t"));
  char err[64];
  assert_int_equal(ipc_options_parse("t:k=v", NULL, err, sizeof err), -1);
}

/* ---- JSON ---- */

static const char *const one[] = {"obfs4"};
static const char *const two[] = {"obfs4", "meek_lite"};

static void json_ok(const char *json, const char *const *t, size_t n,
                    ipc_options_t *o) {
  char err[256] = "";
  if (ipc_options_parse_json(json, t, n, o, err, sizeof err) != 0)
    fail_msg("%s refused: %s", json, err);
}

static void json_bad(const char *json, const char *const *t, size_t n,
                     const char *want) {
  ipc_options_t o = {0};
  char err[256] = "";
  if (ipc_options_parse_json(json, t, n, &o, err, sizeof err) != -1)
    fail_msg("%s accepted", json);
  if (strncmp(err, want, strlen(want)) != 0)
    fail_msg("%s: got \"%s\", want \"%s...\"", json, err, want);
  assert_int_equal(o.n, 0);
}

static void test_json_keyed(void **state) {
  ipc_options_t o = {0};
  json_ok("{\"obfs4\": {\"cert\": \"ab=cd\", \"iat-mode\": \"0\"},"
          " \"meek_lite\": {\"url\": \"https://x/\"}}",
          two, 2, &o);
  assert_int_equal(o.n, 2);
  assert_string_equal(o.items[0].transport, "obfs4");
  EXPECT(&o, "obfs4", "cert", "ab=cd", "iat-mode", "0");
  EXPECT(&o, "meek_lite", "url", "https://x/");
  ipc_options_clear(&o);
  /* Keyed with one transport, too. */
  json_ok("{\"obfs4\": {\"cert\": \"c\"}}", one, 1, &o);
  assert_int_equal(o.n, 1);
  EXPECT(&o, "obfs4", "cert", "c");
  ipc_options_clear(&o);
  /* A transport named with no options still gets an (empty) entry. */
  json_ok("{\"obfs4\": {}}", two, 2, &o);
  assert_int_equal(o.n, 1);
  assert_int_equal(ipc_options_get(&o, "obfs4")->n, 0);
  ipc_options_clear(&o);
  json_ok("{}", two, 2, &o);
  assert_int_equal(o.n, 0);
  json_ok("{}", NULL, 0, &o);
  assert_int_equal(o.n, 0);
}

static void test_json_bare(void **state) {
  ipc_options_t o = {0};
  json_ok("{\"cert\": \"abc\", \"iat-mode\": 1}", one, 1, &o);
  EXPECT(&o, "obfs4", "cert", "abc", "iat-mode", "1");
  ipc_options_clear(&o);
  /* An object member that is not a transport makes the whole object bare. */
  json_ok("{\"obfs4\": {\"a\": 1}, \"x\": 2}", one, 1, &o);
  EXPECT(&o, "obfs4", "obfs4", "{\"a\":1}", "x", "2");
  ipc_options_clear(&o);
  /* So does a transport's name holding a non-object. */
  json_ok("{\"obfs4\": \"v\"}", one, 1, &o);
  EXPECT(&o, "obfs4", "obfs4", "v");
  ipc_options_clear(&o);
}

static void test_json_values(void **state) {
  ipc_options_t o = {0};
  json_ok("{\"s\": \"text\", \"zero\": 0, \"neg\": -12, \"big\": 9007199254740993,"
          " \"r\": 0.1, \"r2\": 1.0, \"r3\": 1e300, \"r4\": -2.5e-7,"
          " \"t\": true, \"f\": false, \"n\": null, \"e\": \"\","
          " \"u\": \"caf\\u00e9 \\\"q\\\" \\\\\","
          " \"o\": {\"b\": 1, \"a\": [1, \"x\", null]}, \"arr\": [], \"eo\": {}}",
          one, 1, &o);
  EXPECT(&o, "obfs4", "s", "text", "zero", "0", "neg", "-12", "big",
         "9007199254740993", "r", "0.1", "r2", "1.0", "r3", "1e300", "r4", "-2.5e-7",
         "t", "true", "f", "false", "n", "null", "e", "", "u",
         "caf\xc3\xa9 \"q\" \\", "o", "{\"b\":1,\"a\":[1,\"x\",null]}", "arr", "[]",
         "eo", "{}");
  ipc_options_clear(&o);
}

static void test_json_errors(void **state) {
  json_bad("", one, 1, "invalid JSON at line 1");
  json_bad("{", one, 1, "invalid JSON at line 1");
  json_bad("{\"a\": 1} x", one, 1, "invalid JSON at line 1");
  json_bad("{\"a\": 1,}", one, 1, "invalid JSON");
  json_bad("{'a': 1}", one, 1, "invalid JSON");
  json_bad("{\"a\": 1, \"a\": 2}", one, 1, "invalid JSON");
  json_bad("{\"obfs4\": {\"k\": 1, \"k\": 2}}", one, 1, "invalid JSON");
  json_bad("{\"a\": 99999999999999999999}", one, 1, "invalid JSON");
  json_bad("{\"a\": \"x\\u0000y\"}", one, 1, "invalid JSON");
  /* A bare token in a value must not come back in the error text. */
  json_bad("{\"private-key\": s3cr3tvalue}", one, 1, "invalid JSON");
  {
    ipc_options_t o = {0};
    char err[256] = "";
    assert_int_equal(ipc_options_parse_json("{\"private-key\": s3cr3tvalue}", one, 1, &o,
                                            err, sizeof err),
                     -1);
    assert_lacks(err, "s3cr3t");
  }
  json_bad("[]", one, 1, "options JSON must be an object");
  json_bad("\"obfs4\"", one, 1, "options JSON must be an object");
  json_bad("1", one, 1, "options JSON must be an object");
  json_bad("null", one, 1, "options JSON must be an object");
  json_bad("{\"cert\": \"x\"}", two, 2,
           "options JSON must be an object keyed by transport name");
  json_bad("{\"obfs4\": {}, \"meek_lite\": 1}", two, 2,
           "options JSON must be an object keyed by transport name");
  json_bad("{\"obfs4\": {}, \"other\": {}}", two, 2,
           "options JSON must be an object keyed by transport name");
  json_bad("{\"cert\": \"x\"}", NULL, 0,
           "options JSON must be an object keyed by transport name");
  json_bad("{\"\": \"x\"}", one, 1, "empty key");
  json_bad("{\"obfs4\": {\"\": 1}}", one, 1, "empty key");
  json_bad(NULL, one, 1, "no options JSON");
}

static void test_json_err_is_printable(void **state) {
  ipc_options_t o = {0};
  char err[256];
  assert_int_equal(ipc_options_parse_json("{\"a\": tru\x01\n}", one, 1, &o, err, sizeof err),
                   -1);
  for (const char *p = err; *p; p++)
    assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_json_merge(void **state) {
  ipc_options_t o = {0};
  parse_ok("obfs4:cert=abc", &o);
  json_ok("{\"iat-mode\": 2}", one, 1, &o);
  json_ok("{\"meek_lite\": {\"url\": \"u\"}}", two, 2, &o);
  assert_int_equal(o.n, 2);
  EXPECT(&o, "obfs4", "cert", "abc", "iat-mode", "2");
  EXPECT(&o, "meek_lite", "url", "u");
  char err[128];
  assert_int_equal(ipc_options_parse_json("{\"obfs4\": {\"new\": 1},"
                                          " \"meek_lite\": {\"url\": \"v\"}}",
                                          two, 2, &o, err, sizeof err),
                   -1);
  assert_string_equal(err, "duplicate key \"url\" for transport \"meek_lite\"");
  /* Nothing of the failed call was applied. */
  EXPECT(&o, "obfs4", "cert", "abc", "iat-mode", "2");
  EXPECT(&o, "meek_lite", "url", "u");
  ipc_options_clear(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_example),
      cmocka_unit_test(test_equals_in_value),
      cmocka_unit_test(test_empty_value),
      cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_empty_and_skipped_items),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_underscore_names),
      cmocka_unit_test(test_merge_across_calls),
      cmocka_unit_test(test_long_input),
      cmocka_unit_test(test_clear_and_get_null),
      cmocka_unit_test(test_json_keyed),
      cmocka_unit_test(test_json_bare),
      cmocka_unit_test(test_json_values),
      cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_json_err_is_printable),
      cmocka_unit_test(test_json_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
