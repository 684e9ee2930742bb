/* Unit tests for transports/obfs4/ntor: obfs4proxy's own answers
 * (obfs4_vectors_ntor.h) for both sides and the KDF, the refusal of
 * all-zero Diffie-Hellman results, and dirty (Elligator) keys. */
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
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
