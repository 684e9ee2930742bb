/* test_obfs4_drbg: SipHash-2-4, obfs4's hash DRBG and the math/rand
 * replica against obfs4proxy's own outputs (obfs4_vectors_framing.h),
 * with libsodium's SipHash as a second, independent reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "transports/obfs4/drbg.h"

#include "obfs4_vectors_framing.h"
#include "testutil.h"

#define N_SEEDS (sizeof vec_drbg_seed / sizeof vec_drbg_seed[0])
#define N_BLOCKS (sizeof vec_drbg_block[0] / sizeof vec_drbg_block[0][0])

static uint64_t sodium_siphash(const uint8_t key[16], const uint8_t *msg, size_t len) {
  uint8_t out[crypto_shorthash_siphash24_BYTES];
  assert_int_equal(crypto_shorthash_siphash24(out, msg, len, key), 0);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | out[i];
  return v;
}

static void test_siphash_vectors(void **state) {
  (void)state;
  uint8_t msg[64];
  for (size_t i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)i;
  for (size_t k = 0; k < 2; k++) {
    for (size_t len = 0; len <= 64; len++) {
      siphash24_t s;
      siphash24_init(&s, vec_siphash_key[k]);
      siphash24_update(&s, msg, len);
      assert_int_equal(siphash24_final(&s), vec_siphash_digest[k][len]);
      assert_int_equal(sodium_siphash(vec_siphash_key[k], msg, len), vec_siphash_digest[k][len]);
    }
  }
}

/* However the input is cut, and however often the digest is taken on the
 * way, the digest is that of everything absorbed. */
static void test_siphash_incremental(void **state) {
  (void)state;
  uint8_t key[16], msg[200];
  test_fill_pattern(key, sizeof key, 7);
  test_fill_pattern(msg, sizeof msg, 8);
  for (size_t len = 0; len <= sizeof msg; len += (len < 40 ? 1 : 23)) {
    uint64_t want = sodium_siphash(key, msg, len);
    for (size_t cut = 0; cut <= len; cut++) {
      siphash24_t s;
      siphash24_init(&s, key);
      siphash24_update(&s, msg, cut);
      assert_int_equal(siphash24_final(&s), sodium_siphash(key, msg, cut));
      siphash24_update(&s, msg + cut, len - cut);
      assert_int_equal(siphash24_final(&s), want);
    }
    siphash24_t s;
    siphash24_init(&s, key);
    for (size_t i = 0; i < len; i++) {
      siphash24_update(&s, msg + i, 1);
      assert_int_equal(siphash24_final(&s), sodium_siphash(key, msg, i + 1));
    }
    siphash24_update(&s, msg, 0);
    assert_int_equal(siphash24_final(&s), want);
  }
}

static void test_drbg_blocks(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SEEDS; s++) {
    drbg_t d;
    drbg_init(&d, vec_drbg_seed[s]);
    for (size_t i = 0; i < N_BLOCKS; i++) {
      uint8_t b[DRBG_BLOCK_LEN];
      drbg_next_block(&d, b);
      assert_memory_equal(b, vec_drbg_block[s][i], DRBG_BLOCK_LEN);
    }
    drbg_init(&d, vec_drbg_seed[s]);
    for (size_t i = 0; i < N_BLOCKS; i++)
      assert_int_equal(drbg_int63(&d), vec_drbg_int63[s][i]);
  }
}

/* Block n is SipHash over the seed's OFB block and blocks 1..n-1, never a
 * reset hash: checked against libsodium over the whole history. */
static void test_drbg_never_resets(void **state) {
  (void)state;
  uint8_t hist[8 * (N_BLOCKS + 1)];
  memcpy(hist, vec_drbg_seed[1] + 16, 8);
  drbg_t d;
  drbg_init(&d, vec_drbg_seed[1]);
  for (size_t i = 1; i <= N_BLOCKS; i++) {
    uint64_t h = sodium_siphash(vec_drbg_seed[1], hist, 8 * i);
    drbg_next_block(&d, hist + 8 * i);
    for (int j = 0; j < 8; j++)
      assert_int_equal(hist[8 * i + j], (uint8_t)(h >> (8 * j)));
  }
}

static void test_go_intn(void **state) {
  (void)state;
  size_t nn = sizeof vec_intn_n / sizeof vec_intn_n[0];
  for (size_t s = 0; s < N_SEEDS; s++)
    for (size_t k = 0; k < nn; k++) {
      drbg_t d;
      drbg_init(&d, vec_drbg_seed[s]);
      for (size_t i = 0; i < sizeof vec_intn[s][k] / sizeof(int); i++)
        assert_int_equal(drbg_go_intn(&d, vec_intn_n[k]), vec_intn[s][k][i]);
    }
}

static void test_go_int63n(void **state) {
  (void)state;
  size_t nn = sizeof vec_int63n_n / sizeof vec_int63n_n[0];
  for (size_t s = 0; s < N_SEEDS; s++)
    for (size_t k = 0; k < nn; k++) {
      drbg_t d;
      drbg_init(&d, vec_drbg_seed[s]);
      for (size_t i = 0; i < sizeof vec_int63n[s][k] / sizeof(int64_t); i++)
        assert_int_equal(drbg_go_int63n(&d, vec_int63n_n[k]), vec_int63n[s][k][i]);
    }
}

static void test_go_float64(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SEEDS; s++) {
    drbg_t d;
    drbg_init(&d, vec_drbg_seed[s]);
    for (size_t i = 0; i < 32; i++) {
      double f = drbg_go_float64(&d);
      uint64_t bits;
      memcpy(&bits, &f, sizeof bits);
      assert_int_equal(bits, vec_float64_bits[s][i]);
      assert_true(f >= 0.0 && f < 1.0);
    }
  }
}

/* Perm(n) and the draw after it, so the number of draws is right too. */
static void check_perm(const int *want, int n, int64_t next) {
  int got[1449];
  assert_true(n <= 1449);
  drbg_t d;
  drbg_init(&d, vec_drbg_seed[0]);
  drbg_go_perm(&d, got, n);
  assert_memory_equal(got, want, (size_t)n * sizeof(int));
  assert_int_equal(drbg_int63(&d), next);
  for (int k = 0; k <= n; k += (k < 5 ? 1 : 97)) {
    int prefix[1449];
    drbg_init(&d, vec_drbg_seed[0]);
    drbg_go_perm_prefix(&d, prefix, k, n);
    assert_memory_equal(prefix, want, (size_t)k * sizeof(int));
    assert_int_equal(drbg_int63(&d), next);
  }
}

static void test_go_perm(void **state) {
  (void)state;
  check_perm(vec_perm10, 10, vec_perm10_next);
  check_perm(vec_perm101, 101, vec_perm101_next);
  check_perm(vec_perm1449, 1449, vec_perm1449_next);
}

/* Go panics on these; ours return 0 without drawing. */
static void test_go_nonpositive(void **state) {
  (void)state;
  drbg_t d, ref;
  drbg_init(&d, vec_drbg_seed[0]);
  drbg_init(&ref, vec_drbg_seed[0]);
  assert_int_equal(drbg_go_intn(&d, 0), 0);
  assert_int_equal(drbg_go_intn(&d, -5), 0);
  assert_int_equal(drbg_go_int63n(&d, 0), 0);
  assert_int_equal(drbg_go_int63n(&d, INT64_MIN), 0);
  assert_int_equal(drbg_int63(&d), drbg_int63(&ref));
  int none[1];
  drbg_go_perm(&d, none, 0);
  assert_int_equal(drbg_int63(&d), drbg_int63(&ref));
}

static void test_close_delay(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SEEDS; s++) {
    drbg_t d;
    drbg_init(&d, vec_drbg_seed[s]);
    assert_int_equal(drbg_go_intn(&d, 60), vec_close_delay[s]);
  }
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_siphash_vectors),   cmocka_unit_test(test_siphash_incremental),
      cmocka_unit_test(test_drbg_blocks),       cmocka_unit_test(test_drbg_never_resets),
      cmocka_unit_test(test_go_intn),           cmocka_unit_test(test_go_int63n),
      cmocka_unit_test(test_go_float64),        cmocka_unit_test(test_go_perm),
      cmocka_unit_test(test_go_nonpositive),    cmocka_unit_test(test_close_delay),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
