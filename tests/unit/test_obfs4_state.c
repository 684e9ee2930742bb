/* Unit tests for transports/obfs4/state: the bridge identity from options
 * and from obfs4_state.json, the files written back, the cert and the
 * client's arguments, each in obfs4proxy 0.0.14's exact formats.
 *
 * fixtures/obfs4proxy_state/ holds what the real obfs4proxy wrote (see
 * its README): we must load its state, derive the same public key and
 * cert as its SMETHOD line, and write a byte-identical bridge line. The
 * other direction runs the installed obfs4proxy (Debian's package) on a
 * state directory we made: it must announce our cert and iat-mode and
 * leave our two files byte for byte as they were.
 *
 * Each test gets a fresh mkdtemp state directory, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "lib/kvlist.h"
#include "lib/statedir.h"
#include "transports/obfs4/state.h"

#include "testutil.h"

#define PATH_MAX_LEN 4096

typedef struct fixture {
  test_tmpdir_t dir; /* first: the fixture is made by test_tmpdir_fixture_new() */
  char err[512];
  obfs4_server_state_t st;
} fixture_t;
_Static_assert(offsetof(fixture_t, dir) == 0, "test_tmpdir_fixture_new() fills the first member");

static int setup(void **state) {
  return test_tmpdir_fixture_new(state, sizeof(fixture_t), "ptd-obfs4-state");
}

static int teardown(void **state) { return test_tmpdir_fixture_free(state); }

/* ---- helpers ---- */

/* The committed fixtures, beside this source file. */
static const char *fixture_dir(const char *sub) {
  static char path[PATH_MAX_LEN];
  const char *slash = strrchr(__FILE__, '/');
  int dirlen = slash ? (int)(slash - __FILE__) : 1;
  snprintf(path, sizeof path, "%.*s/fixtures/obfs4proxy_state%s%s", dirlen,
           slash ? __FILE__ : ".", sub ? "/" : "", sub ? sub : "");
  return path;
}

/* A whole file as NUL-terminated text; the test fails if it is missing. */
static char *slurp(const char *dir, const char *name, size_t *len_out) {
  uint8_t *data = NULL;
  size_t len = 0;
  char err[256] = "";
  int rc = statedir_read(dir, name, &data, &len, err, sizeof err);
  if (rc != 0)
    fail_msg("cannot read %s/%s (%d): %s", dir, name, rc, err);
  if (len_out)
    *len_out = len;
  return (char *)data;
}

static void put_file(const char *dir, const char *name, const char *text) {
  char err[256] = "";
  if (statedir_write_atomic(dir, name, (const uint8_t *)text, strlen(text), err, sizeof err) != 0)
    fail_msg("cannot write %s/%s: %s", dir, name, err);
}

static bool file_exists(const char *dir, const char *name) {
  char path[2 * PATH_MAX_LEN];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &sb) == 0;
}

static mode_t file_mode(const char *dir, const char *name) {
  char path[2 * PATH_MAX_LEN];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

/* A new directory inside the fixture's (so the teardown removes it even
 * when the test fails), named name; its path goes to out. */
static const char *subdir(const fixture_t *f, const char *name, char out[static PATH_MAX_LEN]) {
  snprintf(out, PATH_MAX_LEN, "%s/%s", f->dir.path, name);
  assert_int_equal(mkdir(out, 0700), 0);
  return out;
}

/* kv("k1", "v1", "k2", "v2", NULL): a list to free with kvlist_free. */
static kvlist_t *kv(const char *key, ...) {
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  va_list ap;
  va_start(ap, key);
  for (const char *k = key; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    assert_int_equal(kvlist_add(l, k, v), 0);
  }
  va_end(ap);
  return l;
}

static void hex_to(uint8_t *out, size_t len, const char *hex) {
  size_t got = 0;
  assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL), 0);
  assert_int_equal(got, len);
}

/* What obfs4proxy wrote, read back with jansson. */
typedef struct {
  char node_id[41], sk[65], pk[65], seed[49];
  int iat;
  char cert[OBFS4_CERT_LEN + 1]; /* from its SMETHOD line */
} known_t;

static void copy_str(char *dst, size_t n, json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  assert_true(json_is_string(v));
  assert_int_equal(strlen(json_string_value(v)), n - 1);
  memcpy(dst, json_string_value(v), n);
}

/* The cert= value of a "SMETHOD obfs4 ADDR ARGS:cert=...,iat-mode=N" line. */
static void smethod_cert(const char *dir, char cert[OBFS4_CERT_LEN + 1], int *iat) {
  char *line = slurp(dir, "smethod.txt", NULL);
  const char *c = strstr(line, "ARGS:cert=");
  assert_non_null(c);
  c += strlen("ARGS:cert=");
  const char *comma = strchr(c, ',');
  assert_non_null(comma);
  assert_int_equal(comma - c, OBFS4_CERT_LEN);
  memcpy(cert, c, OBFS4_CERT_LEN);
  cert[OBFS4_CERT_LEN] = '\0';
  assert_int_equal(strncmp(comma, ",iat-mode=", 10), 0);
  *iat = comma[10] - '0';
  free(line);
}

static known_t known_fixture(void) {
  known_t k = {0};
  char *text = slurp(fixture_dir(NULL), OBFS4_STATE_FILE, NULL);
  json_error_t je;
  json_t *o = json_loads(text, 0, &je);
  assert_non_null(o);
  copy_str(k.node_id, sizeof k.node_id, o, "node-id");
  copy_str(k.sk, sizeof k.sk, o, "private-key");
  copy_str(k.pk, sizeof k.pk, o, "public-key");
  copy_str(k.seed, sizeof k.seed, o, "drbg-seed");
  k.iat = (int)json_integer_value(json_object_get(o, "iat-mode"));
  json_decref(o);
  free(text);
  int iat = -1;
  smethod_cert(fixture_dir(NULL), k.cert, &iat);
  assert_int_equal(iat, k.iat);
  return k;
}

static void assert_state_is_known(const obfs4_server_state_t *st, const known_t *k) {
  uint8_t want[NTOR_KEY_LEN];
  hex_to(want, NTOR_NODE_ID_LEN, k->node_id);
  assert_memory_equal(st->id.pub.node_id, want, NTOR_NODE_ID_LEN);
  hex_to(want, NTOR_KEY_LEN, k->sk);
  assert_memory_equal(st->id.sk, want, NTOR_KEY_LEN);
  hex_to(want, NTOR_KEY_LEN, k->pk);
  assert_memory_equal(st->id.pub.pk, want, NTOR_KEY_LEN);
  hex_to(want, DRBG_SEED_LEN, k->seed);
  assert_memory_equal(st->drbg_seed, want, DRBG_SEED_LEN);
}

/* A state file holding the fixture's identity in the JSON text of body,
 * where @N@, @K@, @P@ and @S@ stand for the hex of node-id, private-key,
 * public-key and drbg-seed. */
static void put_state(const char *dir, const known_t *k, const char *body) {
  char text[2048];
  size_t o = 0;
  for (const char *p = body; *p;) {
    const char *sub = NULL;
    if (p[0] == '@' && p[1] && p[2] == '@') {
      sub = p[1] == 'N' ? k->node_id : p[1] == 'K' ? k->sk : p[1] == 'P' ? k->pk
                                                         : p[1] == 'S' ? k->seed : NULL;
    }
    if (sub) {
      size_t n = strlen(sub);
      assert_true(o + n < sizeof text);
      memcpy(text + o, sub, n);
      o += n;
      p += 3;
    } else {
      assert_true(o + 1 < sizeof text);
      text[o++] = *p++;
    }
  }
  text[o] = '\0';
  put_file(dir, OBFS4_STATE_FILE, text);
}

/* Expects obfs4_state_load to fail with err holding each needle. */
static void expect_load_fails(fixture_t *f, kvlist_t *opts, const char *needle1,
                              const char *needle2) {
  f->err[0] = '\0';
  assert_int_equal(obfs4_state_load(&f->st, opts, f->dir.path, f->err, sizeof f->err), -1);
  assert_contains(f->err, needle1);
  if (needle2)
    assert_contains(f->err, needle2);
  uint8_t zero[sizeof f->st] = {0};
  assert_memory_equal(&f->st, zero, sizeof zero); /* nothing half-loaded is left */
}

/* ---- options ---- */

static void test_options_full(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, "iat-mode",
                   "1", NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_ENABLED);
  /* Written back, as obfs4proxy does, so the identity outlives the options. */
  char *text = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  char want[OBFS4_STATE_JSON_MAX];
  obfs4_state_format_json(&f->st, want);
  assert_string_equal(text, want);
  assert_int_equal(file_mode(f->dir.path, OBFS4_STATE_FILE), 0600);
  free(text);
  kvlist_free(o);
}

static void test_options_without_state_dir(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, NULL, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_NONE); /* the default */
  kvlist_free(o);
  /* Without options there is nowhere to keep a new identity. */
  assert_int_equal(obfs4_state_load(&f->st, NULL, NULL, f->err, sizeof f->err), -1);
  assert_contains(f->err, "no state directory");
}

/* Any of node-id, private-key, drbg-seed asks for all three; the first
 * missing one in obfs4proxy's order (private-key, node-id, drbg-seed) is
 * named, and nothing is written. */
static void test_options_partial(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  struct {
    const char *node_id, *sk, *seed, *missing;
  } cases[] = {
      {k.node_id, k.sk, NULL, "\"drbg-seed\""},
      {k.node_id, NULL, k.seed, "\"private-key\""},
      {NULL, k.sk, k.seed, "\"node-id\""},
      {k.node_id, NULL, NULL, "\"private-key\""},
      {NULL, k.sk, NULL, "\"node-id\""},
      {NULL, NULL, k.seed, "\"private-key\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kvlist_t *o = kv("iat-mode", "0", NULL);
    if (cases[i].node_id)
      kvlist_add(o, "node-id", cases[i].node_id);
    if (cases[i].sk)
      kvlist_add(o, "private-key", cases[i].sk);
    if (cases[i].seed)
      kvlist_add(o, "drbg-seed", cases[i].seed);
    expect_load_fails(f, o, "missing option", cases[i].missing);
    assert_lacks(f->err, k.sk);
    assert_false(file_exists(f->dir.path, OBFS4_STATE_FILE));
    kvlist_free(o);
  }
}

static void test_options_malformed_hex(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  /* Each value is wrong for the key it is given to. */
  static const char *const bad_node_id[] = {
      "", "a2e34148125bccc31e6d0013c442769a4c22fa6", /* odd */
      "a2e34148125bccc31e6d0013c442769a4c22fa",      /* 19 bytes */
      "a2e34148125bccc31e6d0013c442769a4c22fa6f00",  /* 21 bytes */
      "g2e34148125bccc31e6d0013c442769a4c22fa6f",    /* not hex */
      "a2e34148125bccc31e6d0013c442769a4c22fa6 ",    /* a space */
      " a2e34148125bccc31e6d0013c442769a4c22fa6f",
      "0xe34148125bccc31e6d0013c442769a4c22fa6f",
  };
  static const char *const bad_sk[] = {
      "",
      "a254313676671590d4de3433835f49abd9883f0610e06f83854cc56c9e68b1f",
      "a254313676671590d4de3433835f49abd9883f0610e06f83854cc56c9e68b1fd00",
      "a254313676671590d4de3433835f49abd9883f0610e06f83854cc56c9e68b1",
      "a254313676671590d4de3433835f49abd9883f0610e06f83854cc56c9e68b1zz",
  };
  static const char *const bad_seed[] = {
      "",
      "446720e3461afcc11107e77431fe505d36ffe5b10ef691",   /* 23 bytes */
      "446720e3461afcc11107e77431fe505d36ffe5b10ef69149a", /* odd */
      "446720e3461afcc11107e77431fe505d36ffe5b10ef6914x",
      "446720e3461afcc11107e77431fe505d36ffe5b10ef69149zz", /* longer, not hex */
  };
  struct {
    const char *key;
    const char *const *vals;
    size_t n;
  } keys[] = {
      {"node-id", bad_node_id, sizeof bad_node_id / sizeof *bad_node_id},
      {"private-key", bad_sk, sizeof bad_sk / sizeof *bad_sk},
      {"drbg-seed", bad_seed, sizeof bad_seed / sizeof *bad_seed},
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    for (size_t j = 0; j < keys[i].n; j++) {
      kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, NULL);
      kvlist_set(o, keys[i].key, keys[i].vals[j]);
      char quoted[64];
      snprintf(quoted, sizeof quoted, "malformed option \"%s\"", keys[i].key);
      expect_load_fails(f, o, quoted, "hex digits");
      if (keys[i].vals[j][0])
        assert_lacks(f->err, keys[i].vals[j]);
      assert_lacks(f->err, k.sk);
      assert_false(file_exists(f->dir.path, OBFS4_STATE_FILE));
      kvlist_free(o);
    }
  }
}

/* Go's hex decoder takes either case, and drbg.SeedFromHex keeps the first
 * 24 bytes of a longer seed. */
static void test_options_hex_case_and_long_seed(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  char node_uc[41], seed_long[49 + 6];
  for (size_t i = 0; i < sizeof node_uc; i++)
    node_uc[i] = (char)(k.node_id[i] >= 'a' && k.node_id[i] <= 'f' ? k.node_id[i] - 32
                                                                   : k.node_id[i]);
  snprintf(seed_long, sizeof seed_long, "%sABcd", k.seed);
  kvlist_t *o = kv("node-id", node_uc, "private-key", k.sk, "drbg-seed", seed_long, NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  /* What we write back is canonical: lower case, the seed's 24 bytes. */
  char *text = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  assert_contains(text, k.node_id);
  assert_contains(text, "\"drbg-seed\":\"" );
  char want_seed[64];
  snprintf(want_seed, sizeof want_seed, "\"%s\"", k.seed);
  assert_contains(text, want_seed);
  free(text);
  kvlist_free(o);
}

/* iat-mode as strconv.Atoi reads it, then 0..2. */
static const char *const good_iat[] = {"0", "1", "2", "+2", "-0", "+0", "0002", "-00",
                                       "000000000000000000000000000000001"};
static const int good_iat_val[] = {0, 1, 2, 2, 0, 0, 2, 0, 1};
static const char *const bad_iat[] = {"",  "3",  "-1",  " 1",  "1 ", "0x1", "1_0",
                                      "+", "-",  "1.0", "++1", "+-1", "１", "99999999999999999999999",
                                      "10", "1e0", "one"};

static void test_options_iat_mode(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  for (size_t i = 0; i < sizeof good_iat / sizeof good_iat[0]; i++) {
    kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, "iat-mode",
                     good_iat[i], NULL);
    if (obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err) != 0)
      fail_msg("iat-mode \"%s\": %s", good_iat[i], f->err);
    assert_int_equal(f->st.iat_mode, good_iat_val[i]);
    kvlist_free(o);
  }
  for (size_t i = 0; i < sizeof bad_iat / sizeof bad_iat[0]; i++) {
    kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, "iat-mode",
                     bad_iat[i], NULL);
    expect_load_fails(f, o, "malformed option \"iat-mode\"", "0, 1 or 2");
    kvlist_free(o);
    /* The same with the identity from the state directory: a bad option
     * fails before a new identity is made. */
    char d[PATH_MAX_LEN], name[32];
    snprintf(name, sizeof name, "iat-%zu", i);
    subdir(f, name, d);
    o = kv("iat-mode", bad_iat[i], NULL);
    assert_int_equal(obfs4_state_load(&f->st, o, d, f->err, sizeof f->err), -1);
    assert_contains(f->err, "\"iat-mode\"");
    assert_false(file_exists(d, OBFS4_STATE_FILE));
    kvlist_free(o);
  }
}

/* An iat-mode option overrides the file's and is written back, as
 * obfs4proxy does; it even mends an out-of-range one. */
static void test_options_iat_overrides_state(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  put_state(f->dir.path, &k,
            "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"public-key\":\"@P@\","
            "\"drbg-seed\":\"@S@\",\"iat-mode\":0}");
  kvlist_t *o = kv("iat-mode", "2", NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_PARANOID);
  char *text = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  assert_contains(text, "\"iat-mode\":2}");
  free(text);
  kvlist_free(o);
  /* Without the option, the file's (now 2) holds. */
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_PARANOID);

  put_state(f->dir.path, &k,
            "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\","
            "\"iat-mode\":7}");
  expect_load_fails(f, NULL, OBFS4_STATE_FILE, "\"iat-mode\" must be 0, 1 or 2");
  o = kv("iat-mode", "1", NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_ENABLED);
  kvlist_free(o);
}

/* Options replace the identity in an existing state file (obfs4proxy
 * never reads the file then, and writes the options' identity over it). */
static void test_options_replace_state_file(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  uint8_t generated[NTOR_NODE_ID_LEN];
  memcpy(generated, f->st.id.pub.node_id, sizeof generated);
  kvlist_t *o = kv("node-id", k.node_id, "private-key", k.sk, "drbg-seed", k.seed, NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  kvlist_free(o);
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_memory_not_equal(f->st.id.pub.node_id, generated, sizeof generated);
}

/* Keys obfs4proxy does not know are not ours to refuse. */
static void test_options_unknown_ignored(void **state) {
  fixture_t *f = *state;
  kvlist_t *o = kv("public-key", "whatever", "cert", "x", "obfs4-distBias", "true", NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  kvlist_free(o);
}

/* ---- the state file ---- */

static void assert_public_matches_private(const obfs4_server_state_t *st) {
  uint8_t pk[NTOR_KEY_LEN];
  assert_int_equal(crypto_scalarmult_curve25519_base(pk, st->id.sk), 0);
  assert_memory_equal(pk, st->id.pub.pk, sizeof pk);
}

static void test_state_generated(void **state) {
  fixture_t *f = *state;
  assert_false(file_exists(f->dir.path, OBFS4_STATE_FILE));
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_NONE);
  assert_public_matches_private(&f->st);
  assert_int_equal(file_mode(f->dir.path, OBFS4_STATE_FILE), 0600);
  obfs4_server_state_t first = f->st;

  /* The same identity on every later start, and the file unchanged. */
  char *before = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_memory_equal(&f->st, &first, sizeof first);
  char *after = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  assert_string_equal(before, after);
  free(before);
  free(after);

  /* Another directory, another identity. */
  char d[PATH_MAX_LEN];
  obfs4_server_state_t other;
  assert_int_equal(obfs4_state_load(&other, NULL, subdir(f, "other", d), f->err, sizeof f->err),
                   0);
  assert_memory_not_equal(other.id.pub.node_id, first.id.pub.node_id, NTOR_NODE_ID_LEN);
  assert_memory_not_equal(other.id.sk, first.id.sk, NTOR_KEY_LEN);
  assert_memory_not_equal(other.drbg_seed, first.drbg_seed, DRBG_SEED_LEN);
  obfs4_server_state_clear(&other);
  obfs4_server_state_clear(&first);
}

static void test_state_generated_with_iat(void **state) {
  fixture_t *f = *state;
  kvlist_t *o = kv("iat-mode", "1", NULL);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  kvlist_free(o);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_ENABLED);
  char *text = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
  assert_contains(text, "\"iat-mode\":1}");
  free(text);
}

/* The reverse of the fixture test, as far as it goes without running
 * obfs4proxy on our file: the same keys in the same order, the same JSON
 * types, the same hex lengths and case, as obfs4proxy's own file. */
static void test_state_generated_like_obfs4proxy(void **state) {
  fixture_t *f = *state;
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  size_t ours_len = 0, theirs_len = 0;
  char *ours = slurp(f->dir.path, OBFS4_STATE_FILE, &ours_len);
  char *theirs = slurp(fixture_dir(NULL), OBFS4_STATE_FILE, &theirs_len);
  assert_int_equal(ours_len, theirs_len);
  json_error_t je;
  json_t *a = json_loads(ours, 0, &je), *b = json_loads(theirs, 0, &je);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(json_object_size(a), json_object_size(b));
  void *ia = json_object_iter(a), *ib = json_object_iter(b);
  for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib)) {
    assert_string_equal(json_object_iter_key(ia), json_object_iter_key(ib));
    json_t *va = json_object_iter_value(ia), *vb = json_object_iter_value(ib);
    assert_int_equal(json_typeof(va), json_typeof(vb));
    if (json_is_string(va)) {
      const char *s = json_string_value(va);
      assert_int_equal(strlen(s), strlen(json_string_value(vb)));
      for (; *s; s++)
        assert_true((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'));
    }
  }
  assert_null(ia);
  assert_null(ib);
  /* The public key written is the one derived from the private key. */
  char pk_hex[65];
  sodium_bin2hex(pk_hex, sizeof pk_hex, f->st.id.pub.pk, NTOR_KEY_LEN);
  assert_string_equal(json_string_value(json_object_get(a, "public-key")), pk_hex);
  json_decref(a);
  json_decref(b);
  free(ours);
  free(theirs);
}

/* A broken state file is an error naming it, never a reason to make a new
 * identity over it. */
static void test_state_corrupt_json(void **state) {
  fixture_t *f = *state;
  static const char *const bad[] = {
      "",
      "{",
      "{\"node-id\":",
      "{\"node-id\":\"a2e3",
      "{\"node-id\" \"x\"}",
      "[]",
      "[{\"node-id\":\"x\"}]",
      "5",
      "\"text\"",
      "true",
      "{} x",
      "{}{}",
      "{\"node-id\":\"\xff\"}",
      "\xef\xbb\xbf{}",
      "{'node-id':'x'}",
      "{\"iat-mode\":1,}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put_file(f->dir.path, OBFS4_STATE_FILE, bad[i]);
    expect_load_fails(f, NULL, f->dir.path, OBFS4_STATE_FILE);
    char *text = slurp(f->dir.path, OBFS4_STATE_FILE, NULL);
    assert_string_equal(text, bad[i]);
    free(text);
  }
}

/* jansson's own messages quote the text near a syntax error, which may be
 * the private key: ours do not. */
static void test_state_error_hides_secret(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  put_state(f->dir.path, &k, "{\"node-id\":\"@N@\",\"private-key\":@K@}");
  expect_load_fails(f, NULL, "not valid JSON", "line 1");
  assert_lacks(f->err, k.sk);
  assert_lacks(f->err, k.sk + 32);
  put_state(f->dir.path, &k, "{\"node-id\":\"@N@\",\"private-key\":\"@K@");
  expect_load_fails(f, NULL, "not valid JSON", NULL);
  assert_lacks(f->err, k.sk + 48);
}

static void test_state_missing_field(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  struct {
    const char *body, *field;
  } cases[] = {
      {"{\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":0}", "\"node-id\""},
      {"{\"node-id\":\"@N@\",\"drbg-seed\":\"@S@\",\"iat-mode\":0}", "\"private-key\""},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"iat-mode\":0}", "\"drbg-seed\""},
      {"{\"node-id\":null,\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}", "\"node-id\""},
      {"{}", "\"node-id\""},
      {"null", "\"node-id\""},
      {"  null  ", "\"node-id\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    put_state(f->dir.path, &k, cases[i].body);
    expect_load_fails(f, NULL, OBFS4_STATE_FILE, cases[i].field);
    assert_contains(f->err, "is missing");
  }
  /* Go leaves a missing iat-mode at 0 and never reads public-key, so
   * files of old obfs4proxy versions (before iat-mode) still load. */
  put_state(f->dir.path, &k, "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}");
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_NONE);
  put_state(f->dir.path, &k,
            "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\","
            "\"iat-mode\":null,\"public-key\":null}");
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_NONE);
}

static void test_state_wrong_types(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  struct {
    const char *body, *want;
  } cases[] = {
      {"{\"node-id\":5,\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
       "\"node-id\" must be a string"},
      {"{\"node-id\":[\"@N@\"],\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
       "\"node-id\" must be a string"},
      {"{\"node-id\":\"@N@\",\"private-key\":{},\"drbg-seed\":\"@S@\"}",
       "\"private-key\" must be a string"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":true}",
       "\"drbg-seed\" must be a string"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"public-key\":5,\"drbg-seed\":\"@S@\"}",
       "\"public-key\" must be a string"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":\"1\"}",
       "\"iat-mode\" must be an integer"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":1.0}",
       "\"iat-mode\" must be an integer"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":1e0}",
       "\"iat-mode\" must be an integer"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":true}",
       "\"iat-mode\" must be an integer"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":-1}",
       "\"iat-mode\" must be 0, 1 or 2"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"iat-mode\":3}",
       "\"iat-mode\" must be 0, 1 or 2"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\","
       "\"iat-mode\":99999999999999999999999}",
       "not valid JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    put_state(f->dir.path, &k, cases[i].body);
    expect_load_fails(f, NULL, OBFS4_STATE_FILE, cases[i].want);
    assert_lacks(f->err, k.sk);
  }
}

static void test_state_bad_hex(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  struct {
    const char *body, *want;
  } cases[] = {
      {"{\"node-id\":\"@N@0\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
       "\"node-id\" must be 40 hex digits"},
      {"{\"node-id\":\"\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
       "\"node-id\" must be 40 hex digits"},
      {"{\"node-id\":\"@N@\\u0000\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
       "\"node-id\" must be 40 hex digits"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@P@00\",\"drbg-seed\":\"@S@\"}",
       "\"private-key\" must be 64 hex digits"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"x@K@\",\"drbg-seed\":\"@S@\"}",
       "\"private-key\" must be 64 hex digits"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@N@\"}",
       "\"drbg-seed\" must be 48 hex digits"},
      {"{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@0\"}",
       "\"drbg-seed\" must be 48 hex digits"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    put_state(f->dir.path, &k, cases[i].body);
    expect_load_fails(f, NULL, OBFS4_STATE_FILE, cases[i].want);
    assert_lacks(f->err, k.sk);
    assert_lacks(f->err, k.node_id);
  }
}

/* What Go's encoding/json lets through: unknown keys of any type, keys in
 * any case (and U+212A KELVIN SIGN for 'k', U+017F LONG S for 's'), the
 * last of two keys for one field, whitespace; and a longer drbg-seed. */
static void test_state_lenient_like_go(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  static const char *const bodies[] = {
      "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\",\"extra\":[1,{\"a\":"
      "null}],\"comment\":\"\\u0000x\",\"n\":1.5e300}",
      "{\"NODE-ID\":\"@N@\",\"Private-Key\":\"@K@\",\"DRBG-SEED\":\"@S@\",\"IAT-Mode\":0}",
      "{\"node-id\":\"@N@\",\"private-\xE2\x84\xAA" "ey\":\"@K@\",\"drbg-\xC5\xBF" "eed\":\"@S@\"}",
      "{\"node-id\":\"00\",\"NODE-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
      "{\"node-id\":\"@N@\",\"Node-Id\":null,\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}",
      "\n\t {\n \"node-id\" : \"@N@\" ,\"private-key\":\"@K@\",\"drbg-seed\":\"@S@\"}\r\n ",
      "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"drbg-seed\":\"@S@deadbeef\"}",
      "{\"node-id\":\"@N@\",\"private-key\":\"@K@\",\"public-key\":\"not even hex\","
      "\"drbg-seed\":\"@S@\"}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    put_state(f->dir.path, &k, bodies[i]);
    if (obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err) != 0)
      fail_msg("case %zu: %s", i, f->err);
    assert_state_is_known(&f->st, &k);
  }
  /* Only those two non-ASCII folds: other look-alikes are other keys. */
  put_state(f->dir.path, &k,
            "{\"node-id\":\"@N@\",\"private-\xC3\xABy\":\"@K@\",\"drbg-seed\":\"@S@\"}");
  expect_load_fails(f, NULL, "\"private-key\"", "is missing");
}

/* obfs4_state_parse_json alone, as the fuzz target drives it. */
static void test_parse_json_override(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  char text[512];
  snprintf(text, sizeof text,
           "{\"node-id\":\"%s\",\"private-key\":\"%s\",\"drbg-seed\":\"%s\",\"iat-mode\":9}",
           k.node_id, k.sk, k.seed);
  assert_int_equal(
      obfs4_state_parse_json(&f->st, text, strlen(text), "x.json", -1, f->err, sizeof f->err),
      -1);
  assert_contains(f->err, "x.json: field \"iat-mode\"");
  assert_int_equal(
      obfs4_state_parse_json(&f->st, text, strlen(text), "x.json", 2, f->err, sizeof f->err), 0);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_PARANOID);
  assert_state_is_known(&f->st, &k);
  /* Formatting and parsing again gives the same state. */
  char out[OBFS4_STATE_JSON_MAX];
  size_t n = obfs4_state_format_json(&f->st, out);
  obfs4_server_state_t again;
  assert_int_equal(obfs4_state_parse_json(&again, out, n, NULL, -1, f->err, sizeof f->err), 0);
  assert_memory_equal(&again, &f->st, sizeof again);
}

/* ---- obfs4proxy's own files ---- */

static void copy_fixture(const char *from_dir, const char *name, const char *to_dir) {
  char *text = slurp(from_dir, name, NULL);
  put_file(to_dir, name, text);
  free(text);
}

static void test_fixture_state_loads(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  copy_fixture(fixture_dir(NULL), OBFS4_STATE_FILE, f->dir.path);
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  /* The public key obfs4proxy wrote is the one we derive. */
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, k.iat);
  /* The cert of its SMETHOD line. */
  char cert[OBFS4_CERT_LEN + 1];
  obfs4_cert_encode(cert, &f->st.id.pub);
  assert_string_equal(cert, k.cert);
  /* Its bridge line, byte for byte. */
  assert_int_equal(obfs4_state_write_bridgeline(&f->st, f->dir.path, f->err, sizeof f->err), 0);
  size_t ours_len = 0, theirs_len = 0;
  char *ours = slurp(f->dir.path, OBFS4_BRIDGELINE_FILE, &ours_len);
  char *theirs = slurp(fixture_dir(NULL), OBFS4_BRIDGELINE_FILE, &theirs_len);
  assert_int_equal(ours_len, theirs_len);
  assert_memory_equal(ours, theirs, theirs_len);
  free(ours);
  free(theirs);
  /* What we wrote back is what obfs4proxy wrote, byte for byte. */
  ours = slurp(f->dir.path, OBFS4_STATE_FILE, &ours_len);
  theirs = slurp(fixture_dir(NULL), OBFS4_STATE_FILE, &theirs_len);
  assert_int_equal(ours_len, theirs_len);
  assert_memory_equal(ours, theirs, theirs_len);
  free(ours);
  free(theirs);
}

/* The file obfs4proxy wrote after a start with the identity as options:
 * upper-case node-id, a seed two bytes long, an empty public-key,
 * iat-mode 2 (regenerate.sh). */
static void test_fixture_from_options_state_loads(void **state) {
  fixture_t *f = *state;
  known_t k = known_fixture();
  const char *dir = fixture_dir("from_options");
  copy_fixture(dir, OBFS4_STATE_FILE, f->dir.path);
  assert_int_equal(obfs4_state_load(&f->st, NULL, f->dir.path, f->err, sizeof f->err), 0);
  assert_state_is_known(&f->st, &k);
  assert_int_equal(f->st.iat_mode, OBFS4_IAT_PARANOID);
  char cert[OBFS4_CERT_LEN + 1], want[OBFS4_CERT_LEN + 1];
  int iat = -1;
  smethod_cert(dir, want, &iat);
  obfs4_cert_encode(cert, &f->st.id.pub);
  assert_string_equal(cert, want);
  assert_int_equal(iat, 2);
  assert_int_equal(obfs4_state_write_bridgeline(&f->st, f->dir.path, f->err, sizeof f->err), 0);
  char *ours = slurp(f->dir.path, OBFS4_BRIDGELINE_FILE, NULL);
  char *theirs = slurp(dir, OBFS4_BRIDGELINE_FILE, NULL);
  assert_string_equal(ours, theirs);
  free(ours);
  free(theirs);
}

/* The same options obfs4proxy was given, to us: the same bridge line. */
static void test_fixture_options_give_same_bridgeline(void **state) {
  fixture_t *f = *state;
  const char *dir = fixture_dir("from_options");
  char *text = slurp(dir, "options.txt", NULL);
  text[strcspn(text, "\n")] = '\0';
  kvlist_t *o = kvlist_new();
  /* "obfs4:k=v;obfs4:k=v": no escapes in these values. */
  for (char *save = NULL, *item = strtok_r(text, ";", &save); item;
       item = strtok_r(NULL, ";", &save)) {
    assert_int_equal(strncmp(item, "obfs4:", 6), 0);
    char *eq = strchr(item, '=');
    assert_non_null(eq);
    *eq = '\0';
    assert_int_equal(kvlist_add(o, item + 6, eq + 1), 0);
  }
  assert_int_equal(o->n, 4);
  assert_int_equal(obfs4_state_load(&f->st, o, f->dir.path, f->err, sizeof f->err), 0);
  assert_int_equal(obfs4_state_write_bridgeline(&f->st, f->dir.path, f->err, sizeof f->err), 0);
  char *ours = slurp(f->dir.path, OBFS4_BRIDGELINE_FILE, NULL);
  char *theirs = slurp(dir, OBFS4_BRIDGELINE_FILE, NULL);
  assert_string_equal(ours, theirs);
  free(ours);
  free(theirs);
  kvlist_free(o);
  free(text);
}

#define OBFS4PROXY "/usr/bin/obfs4proxy"
/* A hang guard for the obfs4proxy run, not a measurement. */
#define OBFS4PROXY_WAIT_S 60

/* Starts obfs4proxy as a managed obfs4 server on dir, as Tor would, and
 * returns its "SMETHOD obfs4 ..." line once it has said SMETHODS DONE;
 * then stops it. obfs4proxy takes signals through an unbuffered channel,
 * so a SIGTERM that lands just before it starts waiting is lost: closing
 * its stdin (TOR_PT_EXIT_ON_STDIN_CLOSE) is the stop it cannot miss, and
 * a child still there at the deadline gets SIGKILL (by its PID). */
static void run_obfs4proxy(const char *dir, char *smethod, size_t smethod_len) {
  if (access(OBFS4PROXY, X_OK) != 0)
    fail_msg("%s is missing: apt-get install obfs4proxy", OBFS4PROXY);
  char state_env[PATH_MAX_LEN + 32];
  snprintf(state_env, sizeof state_env, "TOR_PT_STATE_LOCATION=%s", dir);
  char *const argv[] = {"obfs4proxy", "-enableLogging=false", NULL};
  char *const envp[] = {"TOR_PT_MANAGED_TRANSPORT_VER=1", state_env,
                        "TOR_PT_SERVER_TRANSPORTS=obfs4",
                        "TOR_PT_SERVER_BINDADDR=obfs4-127.0.0.1:0",
                        "TOR_PT_ORPORT=127.0.0.1:9", "TOR_PT_EXIT_ON_STDIN_CLOSE=1", NULL};
  int in[2], out[2];
  assert_int_equal(pipe2(in, O_CLOEXEC), 0);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    /* stdin stays open: a managed transport exits when it closes. */
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || devnull < 0 || dup2(devnull, 2) < 0)
      _exit(126);
    execve(OBFS4PROXY, argv, envp);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);

  /* Nothing below fails the test before the child is stopped. */
  char buf[4096], problem[512] = "";
  size_t used = 0;
  bool done = false;
  smethod[0] = '\0';
  time_t deadline = time(NULL) + OBFS4PROXY_WAIT_S;
  while (!done && !problem[0] && time(NULL) < deadline) {
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    if (poll(&pfd, 1, 1000) <= 0)
      continue;
    ssize_t n = read(out[0], buf + used, sizeof buf - 1 - used);
    if (n <= 0) {
      snprintf(problem, sizeof problem, "obfs4proxy closed its stdout early");
      break;
    }
    used += (size_t)n;
    buf[used] = '\0';
    char *nl;
    while ((nl = strchr(buf, '\n'))) {
      *nl = '\0';
      if (strncmp(buf, "SMETHOD obfs4 ", 14) == 0) {
        size_t l = strlen(buf) < smethod_len ? strlen(buf) : smethod_len - 1;
        memcpy(smethod, buf, l);
        smethod[l] = '\0';
      } else if (strcmp(buf, "SMETHODS DONE") == 0)
        done = true;
      else if (strstr(buf, "ERROR"))
        snprintf(problem, sizeof problem, "obfs4proxy: %.400s", buf);
      used -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, used + 1);
    }
    if (used == sizeof buf - 1)
      snprintf(problem, sizeof problem, "obfs4proxy wrote a line too long");
  }
  close(in[1]);
  kill(pid, SIGTERM);
  int status = 0;
  pid_t w;
  while ((w = waitpid(pid, &status, WNOHANG)) == 0 && time(NULL) < deadline + 10)
    poll(NULL, 0, 50);
  if (w == 0) {
    kill(pid, SIGKILL);
    w = waitpid(pid, &status, 0);
    if (!problem[0])
      snprintf(problem, sizeof problem, "obfs4proxy did not exit when told to");
  }
  close(out[0]);
  assert_int_equal(w, pid);
  if (problem[0])
    fail_msg("%s", problem);
  if (!done)
    fail_msg("obfs4proxy did not finish its SMETHOD lines in %d s", OBFS4PROXY_WAIT_S);
  assert_true(smethod[0] != '\0');
}

/* obfs4proxy takes a state directory we made: it announces our cert and
 * iat-mode, and writes back the same two files byte for byte (so its
 * reading of our JSON gave it exactly our identity). */
static void test_obfs4proxy_accepts_our_state(void **state) {
  fixture_t *f = *state;
  for (int iat = 0; iat <= 2; iat++) {
    char d[PATH_MAX_LEN], name[32];
    snprintf(name, sizeof name, "ours-%d", iat);
    subdir(f, name, d);
    char iat_text[2] = {(char)('0' + iat), '\0'};
    kvlist_t *o = kv("iat-mode", iat_text, NULL);
    assert_int_equal(obfs4_state_load(&f->st, o, d, f->err, sizeof f->err), 0);
    kvlist_free(o);
    assert_int_equal(obfs4_state_write_bridgeline(&f->st, d, f->err, sizeof f->err), 0);
    char *state_before = slurp(d, OBFS4_STATE_FILE, NULL);
    char *line_before = slurp(d, OBFS4_BRIDGELINE_FILE, NULL);

    char smethod[512];
    run_obfs4proxy(d, smethod, sizeof smethod);
    char cert[OBFS4_CERT_LEN + 1], want[256];
    obfs4_cert_encode(cert, &f->st.id.pub);
    snprintf(want, sizeof want, " ARGS:cert=%s,iat-mode=%d", cert, iat);
    assert_contains(smethod, want);

    char *state_after = slurp(d, OBFS4_STATE_FILE, NULL);
    char *line_after = slurp(d, OBFS4_BRIDGELINE_FILE, NULL);
    assert_string_equal(state_after, state_before);
    assert_string_equal(line_after, line_before);
    free(state_before);
    free(state_after);
    free(line_before);
    free(line_after);
  }
}

/* ---- the bridge line ---- */

static void test_bridgeline_exact(void **state) {
  fixture_t *f = *state;
  obfs4_server_state_t st = {0};
  for (size_t i = 0; i < NTOR_NODE_ID_LEN; i++)
    st.id.pub.node_id[i] = (uint8_t)i;
  for (size_t i = 0; i < NTOR_KEY_LEN; i++)
    st.id.pub.pk[i] = (uint8_t)(0xff - i);
  st.iat_mode = OBFS4_IAT_ENABLED;
  assert_int_equal(obfs4_state_write_bridgeline(&st, f->dir.path, f->err, sizeof f->err), 0);
  char *text = slurp(f->dir.path, OBFS4_BRIDGELINE_FILE, NULL);
  assert_string_equal(
      text,
      "# obfs4 torrc client bridge line\n"
      "#\n"
      "# This file is an automatically generated bridge line based on\n"
      "# the current obfs4proxy configuration.  EDITING IT WILL HAVE\n"
      "# NO EFFECT.\n"
      "#\n"
      "# Before distributing this Bridge, edit the placeholder fields\n"
      "# to contain the actual values:\n"
      "#  <IP ADDRESS>  - The public IP address of your obfs4 bridge.\n"
      "#  <PORT>        - The TCP/IP port of your obfs4 bridge.\n"
      "#  <FINGERPRINT> - The bridge's fingerprint.\n"
      "\n"
      "Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> "
      "cert=AAECAwQFBgcICQoLDA0ODxAREhP//v38+/r5+Pf29fTz8vHw7+7t7Ovq6ejn5uXk4+Lh4A "
      "iat-mode=1\n");
  assert_int_equal(file_mode(f->dir.path, OBFS4_BRIDGELINE_FILE), 0600);
  free(text);
}

/* ---- cert ---- */

static void test_cert_known(void **state) {
  known_t k = known_fixture();
  obfs4_bridge_t b;
  assert_int_equal(obfs4_cert_decode(&b, k.cert), 0);
  uint8_t want[NTOR_KEY_LEN];
  hex_to(want, NTOR_NODE_ID_LEN, k.node_id);
  assert_memory_equal(b.node_id, want, NTOR_NODE_ID_LEN);
  hex_to(want, NTOR_KEY_LEN, k.pk);
  assert_memory_equal(b.pk, want, NTOR_KEY_LEN);
}

static void test_cert_roundtrip(void **state) {
  for (uint32_t seed = 1; seed <= 200; seed++) {
    obfs4_bridge_t b, back;
    test_fill_pattern((uint8_t *)&b, sizeof b, seed);
    char text[OBFS4_CERT_LEN + 1];
    memset(text, 'X', sizeof text);
    obfs4_cert_encode(text, &b);
    assert_int_equal(strlen(text), OBFS4_CERT_LEN);
    assert_null(strchr(text, '='));
    assert_int_equal(obfs4_cert_decode(&back, text), 0);
    assert_memory_equal(&back, &b, sizeof b);
  }
}

/* What base64.StdEncoding.DecodeString(text + "==") takes, and no more. */
static void test_cert_decode_edges(void **state) {
  known_t k = known_fixture();
  obfs4_bridge_t want, b;
  assert_int_equal(obfs4_cert_decode(&want, k.cert), 0);
  char buf[256];

  /* CR and LF are skipped anywhere. */
  snprintf(buf, sizeof buf, "\r\n%.10s\n%s\r", k.cert, k.cert + 10);
  assert_int_equal(obfs4_cert_decode(&b, buf), 0);
  assert_memory_equal(&b, &want, sizeof b);

  /* The last character's unused low 4 bits need not be zero. */
  char last = k.cert[OBFS4_CERT_LEN - 1];
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int v = (int)(strchr(alphabet, last) - alphabet);
  for (int low = 0; low < 16; low++) {
    snprintf(buf, sizeof buf, "%.69s%c", k.cert, alphabet[(v & 0x30) | low]);
    assert_int_equal(obfs4_cert_decode(&b, buf), 0);
    assert_memory_equal(&b, &want, sizeof b);
  }

  /* Each case: the first n characters of the cert, then tail. */
  struct {
    int n;
    const char *tail;
  } bad[] = {
      {70, "=="}, /* padded: obfs4proxy appends its own "==" */
      {70, "="},  {69, ""}, {68, ""},  {68, "=="}, {70, "A"}, {70, "AAA"}, {70, "AA=="},
      {70, " "},  {70, "\t"}, {0, ""}, {0, " "},   {30, " "},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(buf, sizeof buf, "%.*s%s", bad[i].n, k.cert, bad[i].tail);
    if (obfs4_cert_decode(&b, buf) == 0)
      fail_msg("accepted \"%s\"", buf);
  }
  snprintf(buf, sizeof buf, " %s", k.cert);
  assert_int_equal(obfs4_cert_decode(&b, buf), -1);
  snprintf(buf, sizeof buf, "%.30s %s", k.cert, k.cert + 30);
  assert_int_equal(obfs4_cert_decode(&b, buf), -1);
  /* The URL-safe alphabet is not the standard one. */
  snprintf(buf, sizeof buf, "%s", k.cert);
  for (char *p = buf; *p; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
  }
  if (strcmp(buf, k.cert) != 0)
    assert_int_equal(obfs4_cert_decode(&b, buf), -1);
  snprintf(buf, sizeof buf, "%.20s-%s", k.cert, k.cert + 21);
  assert_int_equal(obfs4_cert_decode(&b, buf), -1);
}

/* ---- the client's arguments ---- */

static void expect_client_fails(kvlist_t *args, const char *needle, const char *secret) {
  obfs4_bridge_t b;
  obfs4_iat_mode_t iat = OBFS4_IAT_PARANOID;
  char err[256] = "";
  assert_int_equal(obfs4_client_args_parse(args, &b, &iat, err, sizeof err), -1);
  assert_contains(err, needle);
  if (secret && *secret)
    assert_lacks(err, secret);
  obfs4_bridge_t zero = {0};
  assert_memory_equal(&b, &zero, sizeof b);
}

static void test_client_cert(void **state) {
  known_t k = known_fixture();
  obfs4_bridge_t b, want;
  obfs4_iat_mode_t iat;
  char err[256];
  assert_int_equal(obfs4_cert_decode(&want, k.cert), 0);
  for (size_t i = 0; i < sizeof good_iat / sizeof good_iat[0]; i++) {
    kvlist_t *a = kv("cert", k.cert, "iat-mode", good_iat[i], NULL);
    assert_int_equal(obfs4_client_args_parse(a, &b, &iat, err, sizeof err), 0);
    assert_memory_equal(&b, &want, sizeof b);
    assert_int_equal(iat, good_iat_val[i]);
    kvlist_free(a);
  }
  /* With a cert, node-id and public-key are not looked at; unknown keys
   * are ignored. */
  kvlist_t *a = kv("node-id", "junk", "cert", k.cert, "public-key", "", "iat-mode", "0",
                   "other", "x", NULL);
  assert_int_equal(obfs4_client_args_parse(a, &b, &iat, err, sizeof err), 0);
  assert_memory_equal(&b, &want, sizeof b);
  kvlist_free(a);
}

static void test_client_node_id_public_key(void **state) {
  known_t k = known_fixture();
  obfs4_bridge_t b, want;
  obfs4_iat_mode_t iat;
  char err[256];
  assert_int_equal(obfs4_cert_decode(&want, k.cert), 0);
  kvlist_t *a = kv("node-id", k.node_id, "public-key", k.pk, "iat-mode", "1", NULL);
  assert_int_equal(obfs4_client_args_parse(a, &b, &iat, err, sizeof err), 0);
  assert_memory_equal(&b, &want, sizeof b);
  assert_int_equal(iat, OBFS4_IAT_ENABLED);
  kvlist_free(a);
  char pk_uc[65];
  for (size_t i = 0; i < sizeof pk_uc; i++)
    pk_uc[i] = (char)(k.pk[i] >= 'a' && k.pk[i] <= 'f' ? k.pk[i] - 32 : k.pk[i]);
  a = kv("node-id", k.node_id, "public-key", pk_uc, "iat-mode", "2", NULL);
  assert_int_equal(obfs4_client_args_parse(a, &b, &iat, err, sizeof err), 0);
  assert_memory_equal(&b, &want, sizeof b);
  kvlist_free(a);
}

static void test_client_missing(void **state) {
  known_t k = known_fixture();
  expect_client_fails(NULL, "missing argument \"cert\"", NULL);
  kvlist_t *a = kv("iat-mode", "0", NULL);
  expect_client_fails(a, "missing argument \"cert\" (or \"node-id\" and \"public-key\")", NULL);
  kvlist_free(a);
  a = kv("public-key", k.pk, "iat-mode", "0", NULL);
  expect_client_fails(a, "missing argument \"cert\"", k.pk);
  kvlist_free(a);
  a = kv("node-id", k.node_id, "iat-mode", "0", NULL);
  expect_client_fails(a, "missing argument \"public-key\"", k.node_id);
  kvlist_free(a);
  a = kv("cert", k.cert, NULL);
  expect_client_fails(a, "missing argument \"iat-mode\"", k.cert);
  kvlist_free(a);
  a = kv("node-id", k.node_id, "public-key", k.pk, NULL);
  expect_client_fails(a, "missing argument \"iat-mode\"", k.pk);
  kvlist_free(a);
}

static void test_client_malformed(void **state) {
  known_t k = known_fixture();
  char padded[OBFS4_CERT_LEN + 3], short_cert[OBFS4_CERT_LEN];
  snprintf(padded, sizeof padded, "%s==", k.cert);
  snprintf(short_cert, sizeof short_cert, "%.*s", OBFS4_CERT_LEN - 1, k.cert);
  const char *bad_certs[] = {padded, short_cert, "", "not a cert", "\"quoted\"\n"};
  for (size_t i = 0; i < sizeof bad_certs / sizeof bad_certs[0]; i++) {
    kvlist_t *a = kv("cert", bad_certs[i], "iat-mode", "0", NULL);
    expect_client_fails(a, "malformed argument \"cert\"", bad_certs[i]);
    kvlist_free(a);
  }
  kvlist_t *a = kv("node-id", k.pk, "public-key", k.pk, "iat-mode", "0", NULL);
  expect_client_fails(a, "malformed argument \"node-id\"", k.pk);
  kvlist_free(a);
  a = kv("node-id", k.node_id, "public-key", k.node_id, "iat-mode", "0", NULL);
  expect_client_fails(a, "malformed argument \"public-key\"", k.node_id);
  kvlist_free(a);
  a = kv("node-id", "zz", "public-key", k.pk, "iat-mode", "0", NULL);
  expect_client_fails(a, "malformed argument \"node-id\"", "zz");
  kvlist_free(a);
  for (size_t i = 0; i < sizeof bad_iat / sizeof bad_iat[0]; i++) {
    a = kv("cert", k.cert, "iat-mode", bad_iat[i], NULL);
    expect_client_fails(a, "malformed argument \"iat-mode\"", k.cert);
    if (strlen(bad_iat[i]) > 3)
      expect_client_fails(a, "0, 1 or 2", bad_iat[i]);
    kvlist_free(a);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_options_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_without_state_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_partial, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_malformed_hex, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_hex_case_and_long_seed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_iat_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_iat_overrides_state, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_replace_state_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_options_unknown_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_generated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_generated_with_iat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_generated_like_obfs4proxy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_corrupt_json, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_error_hides_secret, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_missing_field, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_wrong_types, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_bad_hex, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_lenient_like_go, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parse_json_override, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixture_state_loads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixture_from_options_state_loads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixture_options_give_same_bridgeline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_obfs4proxy_accepts_our_state, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bridgeline_exact, setup, teardown),
      cmocka_unit_test(test_cert_known),
      cmocka_unit_test(test_cert_roundtrip),
      cmocka_unit_test(test_cert_decode_edges),
      cmocka_unit_test(test_client_cert),
      cmocka_unit_test(test_client_node_id_public_key),
      cmocka_unit_test(test_client_missing),
      cmocka_unit_test(test_client_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
