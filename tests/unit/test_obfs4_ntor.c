/* Unit tests for transports/obfs4/ntor: obfs4proxy's own answers
 * (obfs4_vectors_ntor.h) for both sides and the KDF, the refusal of
 * all-zero Diffie-Hellman results, dirty (Elligator) keys, and the
 * HMAC-SHA256 under all of it (RFC 4231's vectors, libsodium's answers,
 * copied states). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "transports/obfs4/ntor.h"

#include "obfs4_vectors_ntor.h"

#define NVEC (sizeof obfs4_vec_ntor / sizeof obfs4_vec_ntor[0])

static void test_server_matches_obfs4proxy(void **state) {
  for (size_t i = 0; i < NVEC; i++) {
    const obfs4_vec_ntor_t *v = &obfs4_vec_ntor[i];
    uint8_t seed[NTOR_KEY_SEED_LEN], auth[NTOR_AUTH_LEN];
    bool ok = ntor_server(seed, auth, v->node_id, v->B, v->b_sk, v->Y, v->y_sk, v->X);
    if (ok != v->server_ok)
      fail_msg("%s: server ok %d, obfs4proxy %d", v->name, ok, v->server_ok);
    if (ok) {
      assert_memory_equal(seed, v->key_seed, sizeof seed);
      assert_memory_equal(auth, v->auth, sizeof auth);
    }
  }
}

static void test_client_matches_obfs4proxy(void **state) {
  for (size_t i = 0; i < NVEC; i++) {
    const obfs4_vec_ntor_t *v = &obfs4_vec_ntor[i];
    uint8_t seed[NTOR_KEY_SEED_LEN], auth[NTOR_AUTH_LEN];
    bool ok = ntor_client(seed, auth, v->node_id, v->B, v->X, v->x_sk, v->Y);
    if (ok != v->client_ok)
      fail_msg("%s: client ok %d, obfs4proxy %d", v->name, ok, v->client_ok);
    if (ok && v->server_ok) {
      assert_memory_equal(seed, v->key_seed, sizeof seed);
      assert_memory_equal(auth, v->auth, sizeof auth);
    }
  }
}

static void test_kdf_matches_obfs4proxy(void **state) {
  size_t checked = 0;
  for (size_t i = 0; i < NVEC; i++) {
    const obfs4_vec_ntor_t *v = &obfs4_vec_ntor[i];
    uint8_t okm[144];
    if (!v->server_ok)
      continue;
    ntor_kdf(okm, sizeof okm, v->key_seed);
    assert_memory_equal(okm, v->kdf, sizeof okm);
    checked++;
  }
  assert_true(checked >= 3);
}

/* HKDF's output is a stream: asking for less gives its start. */
static void test_kdf_prefix(void **state) {
  uint8_t short_okm[72], okm[144];
  ntor_kdf(short_okm, sizeof short_okm, obfs4_vec_ntor[0].key_seed);
  ntor_kdf(okm, sizeof okm, obfs4_vec_ntor[0].key_seed);
  assert_memory_equal(short_okm, okm, sizeof short_okm);
}

/* Bit 255 of X changes nothing in X25519 but is hashed as sent: the
 * vector with it set must differ from the same keys without it. */
static void test_top_bit_is_hashed(void **state) {
  const obfs4_vec_ntor_t *plain = &obfs4_vec_ntor[0], *top = NULL;
  for (size_t i = 0; i < NVEC; i++)
    if (strcmp(obfs4_vec_ntor[i].name, "x_top_bit") == 0)
      top = &obfs4_vec_ntor[i];
  assert_non_null(top);
  assert_memory_equal(plain->x_sk, top->x_sk, 32);
  assert_int_equal(top->X[31] & 0x80, 0x80);
  assert_true(top->server_ok);
  assert_memory_not_equal(plain->key_seed, top->key_seed, 32);
}

/* libsodium's answer for a low-order u is -1 (and a zero result), which
 * is what ntor relies on to match obfs4proxy's zero check. */
static void test_scalarmult_refuses_low_order(void **state) {
  static const uint8_t low_order[][32] = {
      {0}, /* u = 0 */
      {1}, /* u = 1 */
      {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
       0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
       0xb8, 0x00}, /* order 8 */
  };
  uint8_t sk[32], out[32];
  randombytes_buf(sk, sizeof sk);
  for (size_t i = 0; i < sizeof low_order / sizeof low_order[0]; i++) {
    memset(out, 0, sizeof out);
    assert_int_equal(crypto_scalarmult(out, sk, low_order[i]), -1);
    assert_true(sodium_is_zero(out, sizeof out));
  }
}

/* The client's ntor fails on a low-order Y or B, the server's on a
 * low-order X, whatever the other keys. */
static void test_zero_results_fail(void **state) {
  const obfs4_vec_ntor_t *v = &obfs4_vec_ntor[0];
  static const uint8_t zero[32];
  uint8_t seed[32], auth[32];
  assert_false(ntor_server(seed, auth, v->node_id, v->B, v->b_sk, v->Y, v->y_sk, zero));
  assert_false(ntor_client(seed, auth, v->node_id, v->B, v->X, v->x_sk, zero));
  assert_false(ntor_client(seed, auth, v->node_id, zero, v->X, v->x_sk, v->Y));
}

/* A dirty key (clean key plus a low-order point, as Elligator 2 keys
 * are) gives the clean key's shared secret, since X25519 clamps the
 * scalar to a multiple of 8; obfs4proxy's session keys are dirty, and
 * both sides of ntor must agree with obfs4proxy on them. */
static void test_dirty_keys(void **state) {
  uint8_t clean[32], a[32], b[32], seed[32], auth[32];

  /* The low three bits of the private key pick the low-order point:
   * these two keys have a nonzero one, so dirty != clean. */
  assert_int_not_equal(obfs4_vec_hs_client_sk[0] & 7, 0);
  crypto_scalarmult_base(clean, obfs4_vec_hs_client_sk);
  assert_memory_not_equal(clean, obfs4_vec_hs_client_pk, 32);
  assert_int_equal(crypto_scalarmult(a, obfs4_vec_hs_server_sk, clean), 0);
  assert_int_equal(crypto_scalarmult(b, obfs4_vec_hs_server_sk, obfs4_vec_hs_client_pk), 0);
  assert_memory_equal(a, b, 32);

  assert_true(ntor_server(seed, auth, obfs4_vec_hs_node_id, obfs4_vec_hs_id_pk,
                          obfs4_vec_hs_id_sk, obfs4_vec_hs_server_pk, obfs4_vec_hs_server_sk,
                          obfs4_vec_hs_client_pk));
  assert_memory_equal(seed, obfs4_vec_hs_key_seed, 32);
  assert_memory_equal(auth, obfs4_vec_hs_auth, 32);
  assert_true(ntor_client(seed, auth, obfs4_vec_hs_node_id, obfs4_vec_hs_id_pk,
                          obfs4_vec_hs_client_pk, obfs4_vec_hs_client_sk, obfs4_vec_hs_server_pk));
  assert_memory_equal(seed, obfs4_vec_hs_key_seed, 32);
  assert_memory_equal(auth, obfs4_vec_hs_auth, 32);
}

/* Fresh clean keys through both sides agree. */
static void test_random_keys_agree(void **state) {
  const obfs4_vec_ntor_t *v = &obfs4_vec_ntor[0];
  uint8_t s_seed[32], s_auth[32], c_seed[32], c_auth[32];
  for (int i = 0; i < 8; i++) {
    uint8_t x[32], X[32], y[32], Y[32];
    randombytes_buf(x, sizeof x);
    randombytes_buf(y, sizeof y);
    crypto_scalarmult_base(X, x);
    crypto_scalarmult_base(Y, y);
    assert_true(ntor_server(s_seed, s_auth, v->node_id, v->B, v->b_sk, Y, y, X));
    assert_true(ntor_client(c_seed, c_auth, v->node_id, v->B, X, x, Y));
    assert_memory_equal(s_seed, c_seed, 32);
    assert_memory_equal(s_auth, c_auth, 32);
  }
}

/* ---- HMAC-SHA256 ---- */

static void hmac_once(uint8_t out[NTOR_HMAC_LEN], const uint8_t *key, size_t keylen,
                      const uint8_t *msg, size_t len) {
  ntor_hmac_t h;
  ntor_hmac_init(&h, key, keylen);
  ntor_hmac_update(&h, msg, len);
  ntor_hmac_final(&h, out);
  assert_null(h.inner);
}

/* RFC 4231 test cases 1, 2, 6 and 7 (6 and 7: a key longer than a block,
 * hashed first; 7: a message longer than a block). */
static void test_hmac_rfc4231(void **state) {
  uint8_t k20[20], k131[131];
  memset(k20, 0x0b, sizeof k20);
  memset(k131, 0xaa, sizeof k131);
  static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
  static const char m7[] = "This is a test using a larger than block-size key and a larger than "
                           "block-size data. The key needs to be hashed before being used by "
                           "the HMAC algorithm.";
  static const uint8_t want[4][32] = {
      {0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b, 0xf1, 0x2b,
       0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83, 0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7},
      {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
       0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43},
      {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
       0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54},
      {0x9b, 0x09, 0xff, 0xa7, 0x1b, 0x94, 0x2f, 0xcb, 0x27, 0x63, 0x5f, 0xbc, 0xd5, 0xb0, 0xe9, 0x44,
       0xbf, 0xdc, 0x63, 0x64, 0x4f, 0x07, 0x13, 0x93, 0x8a, 0x7f, 0x51, 0x53, 0x5c, 0x3a, 0x35, 0xe2},
  };
  uint8_t out[NTOR_HMAC_LEN];
  hmac_once(out, k20, sizeof k20, (const uint8_t *)"Hi There", 8);
  assert_memory_equal(out, want[0], 32);
  hmac_once(out, (const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28);
  assert_memory_equal(out, want[1], 32);
  hmac_once(out, k131, sizeof k131, (const uint8_t *)m6, sizeof m6 - 1);
  assert_memory_equal(out, want[2], 32);
  hmac_once(out, k131, sizeof k131, (const uint8_t *)m7, sizeof m7 - 1);
  assert_memory_equal(out, want[3], 32);
}

/* libsodium's HMAC-SHA256 (what this code replaced) agrees, for keys of
 * every length around the block size and messages fed in two pieces. */
static void test_hmac_matches_libsodium(void **state) {
  uint8_t key[130], msg[9000];
  randombytes_buf(key, sizeof key);
  randombytes_buf(msg, sizeof msg);
  static const size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 4096, 8192, 9000};
  for (size_t keylen = 0; keylen <= sizeof key; keylen++) {
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
      size_t len = lens[i], cut = (len * keylen / 130) % (len + 1);
      uint8_t want[32], got[32];
      crypto_auth_hmacsha256_state st;
      crypto_auth_hmacsha256_init(&st, key, keylen);
      crypto_auth_hmacsha256_update(&st, msg, len);
      crypto_auth_hmacsha256_final(&st, want);
      ntor_hmac_t h;
      ntor_hmac_init(&h, key, keylen);
      ntor_hmac_update(&h, msg, cut);
      ntor_hmac_update(&h, msg + cut, len - cut);
      ntor_hmac_final(&h, got);
      if (memcmp(want, got, sizeof want) != 0)
        fail_msg("key %zu bytes, message %zu bytes (cut at %zu): MACs differ", keylen, len, cut);
    }
  }
}

/* A copied state finishes its own message; the original goes on. */
static void test_hmac_copy(void **state) {
  uint8_t key[52], msg[5000], want[3][32], got[3][32];
  randombytes_buf(key, sizeof key);
  randombytes_buf(msg, sizeof msg);
  hmac_once(want[0], key, sizeof key, msg, 4000);
  hmac_once(want[1], key, sizeof key, msg, 4500);
  hmac_once(want[2], key, sizeof key, msg, 5000);
  ntor_hmac_t prefix, a, b;
  ntor_hmac_init(&prefix, key, sizeof key);
  ntor_hmac_update(&prefix, msg, 4000);
  ntor_hmac_copy(&a, &prefix);
  ntor_hmac_copy(&b, &prefix);
  ntor_hmac_update(&a, msg + 4000, 500);
  ntor_hmac_update(&b, msg + 4000, 1000);
  ntor_hmac_final(&b, got[2]);
  ntor_hmac_final(&prefix, got[0]);
  ntor_hmac_final(&a, got[1]);
  assert_memory_equal(got, want, sizeof want);
  /* Dropping a started, a finished and a zeroed state. */
  ntor_hmac_init(&a, key, sizeof key);
  ntor_hmac_drop(&a);
  assert_null(a.inner);
  ntor_hmac_drop(&a);
  ntor_hmac_t zero = {0};
  ntor_hmac_drop(&zero);
}

static int setup(void **state) {
  return sodium_init() < 0 ? -1 : 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_matches_obfs4proxy),
      cmocka_unit_test(test_client_matches_obfs4proxy),
      cmocka_unit_test(test_kdf_matches_obfs4proxy),
      cmocka_unit_test(test_kdf_prefix),
      cmocka_unit_test(test_top_bit_is_hashed),
      cmocka_unit_test(test_scalarmult_refuses_low_order),
      cmocka_unit_test(test_zero_results_fail),
      cmocka_unit_test(test_dirty_keys),
      cmocka_unit_test(test_random_keys_agree),
      cmocka_unit_test(test_hmac_rfc4231),
      cmocka_unit_test(test_hmac_matches_libsodium),
      cmocka_unit_test(test_hmac_copy),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
