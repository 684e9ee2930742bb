/* Unit tests for transports/obfs4/elligator2: obfs4proxy 0.0.14's own
 * answers (obfs4_vectors_ell2.h: keys, representatives, the forward map,
 * Diffie-Hellman with a dirty key), cross-checks against libsodium
 * (the dirty key is the clean Edwards point plus the right low-order
 * point; X25519 with it gives the usual shared secret), round trips of
 * generated keys, and a statistical test that representatives are
 * uniform bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "obfs4_vectors_ell2.h"
#include "transports/obfs4/elligator2.h"
#include "transports/obfs4/fe25519.h"
#include "testutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i])
      return false;
  }
  return true;
}

/* Representative's value (top two bits cleared) is at most (p-1)/2 =
 * 2^254 - 10. */
static void assert_repr_in_range(const uint8_t repr[32]) {
  uint8_t v[32];
  memcpy(v, repr, 32);
  v[31] &= 0x3f;
  static const uint8_t half[32] = {
      0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f};
  for (int i = 31; i >= 0; i--) {
    if (v[i] != half[i]) {
      assert_true(v[i] < half[i]);
      return;
    }
  }
}

static void test_keypair_vectors(void **state) {
  size_t n_ok = 0;
  for (size_t i = 0; i < N_ELEMS(ell2_keypair_vectors); i++) {
    const ell2_keypair_vector_t *v = &ell2_keypair_vectors[i];
    elligator2_keypair_t kp;
    memset(&kp, 0xa5, sizeof kp);
    bool ok = elligator2_keypair_from_sk(&kp, v->sk, v->tweak);
    if (ok != v->ok)
      fail_msg("vector %zu: ok %d, obfs4proxy says %d", i, ok, v->ok);
    if (!ok) {
      assert_true(all_zero((const uint8_t *)&kp, sizeof kp)); /* no stale secret */
      continue;
    }
    n_ok++;
    assert_memory_equal(kp.sk, v->sk, 32);
    assert_memory_equal(kp.pk, v->pk, 32);
    assert_memory_equal(kp.repr, v->repr, 32);
    assert_repr_in_range(kp.repr);
  }
  /* The generator made sure both outcomes occur. */
  assert_true(n_ok > 0 && n_ok < N_ELEMS(ell2_keypair_vectors));
}

static void test_map_vectors(void **state) {
  for (size_t i = 0; i < N_ELEMS(ell2_map_vectors); i++) {
    uint8_t pk[32];
    elligator2_repr_to_pk(pk, ell2_map_vectors[i].repr);
    assert_memory_equal(pk, ell2_map_vectors[i].pk, 32);
  }
  /* Representatives obfs4proxy made map back to its keys. */
  for (size_t i = 0; i < N_ELEMS(ell2_keypair_vectors); i++) {
    const ell2_keypair_vector_t *v = &ell2_keypair_vectors[i];
    if (!v->ok)
      continue;
    uint8_t pk[32];
    elligator2_repr_to_pk(pk, v->repr);
    assert_memory_equal(pk, v->pk, 32);
  }
}

static void test_dh_vectors(void **state) {
  for (size_t i = 0; i < N_ELEMS(ell2_dh_vectors); i++) {
    const ell2_dh_vector_t *v = &ell2_dh_vectors[i];
    elligator2_keypair_t kp;
    assert_true(elligator2_keypair_from_sk(&kp, v->sk_a, 0));
    assert_memory_equal(kp.pk, v->pk_a, 32);
    uint8_t pk_b[32], s1[32], s2[32];
    assert_int_equal(crypto_scalarmult_base(pk_b, v->sk_b), 0);
    assert_memory_equal(pk_b, v->pk_b, 32);
    assert_int_equal(crypto_scalarmult(s1, v->sk_b, kp.pk), 0);
    assert_memory_equal(s1, v->shared, 32);
    assert_int_equal(crypto_scalarmult(s2, v->sk_a, pk_b), 0);
    assert_memory_equal(s2, v->shared, 32);
  }
}

/* The tweak's top two bits become the representative's, its low bit
 * picks one of the key's two representatives, and no other bit matters. */
static void test_tweak(void **state) {
  const ell2_keypair_vector_t *v = NULL;
  for (size_t i = 0; i < N_ELEMS(ell2_keypair_vectors) && !v; i++) {
    if (ell2_keypair_vectors[i].ok)
      v = &ell2_keypair_vectors[i];
  }
  assert_non_null(v);
  elligator2_keypair_t first[2];
  for (unsigned t = 0; t < 256; t++) {
    elligator2_keypair_t kp;
    assert_true(elligator2_keypair_from_sk(&kp, v->sk, (uint8_t)t));
    assert_memory_equal(kp.pk, v->pk, 32);
    assert_int_equal(kp.repr[31] & 0xc0, t & 0xc0);
    kp.repr[31] &= 0x3f;
    if (t < 2)
      first[t] = kp;
    else
      assert_memory_equal(kp.repr, first[t & 1].repr, 32);
    uint8_t pk[32];
    elligator2_repr_to_pk(pk, kp.repr);
    assert_memory_equal(pk, v->pk, 32);
  }
  assert_memory_not_equal(first[0].repr, first[1].repr, 32);
}

static void test_map_ignores_top_bits(void **state) {
  for (uint32_t seed = 1; seed <= 50; seed++) {
    uint8_t r[32], pk0[32], pk[32];
    test_fill_pattern(r, 32, seed);
    r[31] &= 0x3f;
    elligator2_repr_to_pk(pk0, r);
    for (uint8_t top = 0x40; top != 0; top = (uint8_t)(top + 0x40)) {
      r[31] = (uint8_t)((r[31] & 0x3f) | top);
      elligator2_repr_to_pk(pk, r);
      assert_memory_equal(pk, pk0, 32);
    }
  }
}

/* ---- the dirty key, rebuilt with libsodium's Edwards arithmetic ---- */

/* obfs4proxy's order-8 point L = (x, -x sqrt(-1)) with x the even root of
 * (s+1)/d and s the even root of d+1, derived here from that definition
 * and encoded (y, and x's parity in bit 255). */
static void low_order_generator(uint8_t enc[32]) {
  fe25519_t d, t, one, s, x, y;
  fe_1(&one);
  fe_0(&d);
  d.v[0] = 121666;
  fe_invert(&d, &d);
  fe_mul_small(&d, &d, 121665);
  fe_neg(&d, &d);
  fe_add(&t, &d, &one);
  assert_true(fe_sqrt_ratio(&s, &t, &one));
  fe_add(&t, &s, &one);
  assert_true(fe_sqrt_ratio(&x, &t, &d));
  fe_mul(&y, &x, &fe_sqrtm1);
  fe_neg(&y, &y);
  fe_tobytes(enc, &y);
  enc[31] |= (uint8_t)(fe_is_negative(&x) << 7);
}

/* The Montgomery u = (1+y)/(1-y) of an encoded Edwards point. */
static void edwards_to_u(uint8_t u[32], const uint8_t enc[32]) {
  fe25519_t y, one, num, den;
  fe_frombytes(&y, enc);
  fe_1(&one);
  fe_add(&num, &one, &y);
  fe_sub(&den, &one, &y);
  fe_invert(&den, &den);
  fe_mul(&num, &num, &den);
  fe_tobytes(u, &num);
}

static void test_dirty_key_is_clean_plus_low_order(void **state) {
  /* multiples[c] = c*L; libsodium 1.0.18's add takes low-order points. */
  uint8_t multiples[8][32] = {{1}};
  low_order_generator(multiples[1]);
  for (int c = 2; c < 8; c++)
    assert_int_equal(crypto_core_ed25519_add(multiples[c], multiples[c - 1], multiples[1]), 0);
  uint8_t back[32];
  assert_int_equal(crypto_core_ed25519_add(back, multiples[7], multiples[1]), 0);
  assert_memory_equal(back, multiples[0], 32); /* order 8 */

  int checked[8] = {0};
  for (uint32_t seed = 1; seed < 400; seed++) {
    uint8_t sk[32];
    test_fill_pattern(sk, 32, seed);
    int c = (int)(seed & 7);
    sk[0] = (uint8_t)((sk[0] & ~7) | c);
    elligator2_keypair_t kp;
    if (!elligator2_keypair_from_sk(&kp, sk, 0))
      continue;
    uint8_t clean[32], dirty[32], u[32];
    assert_int_equal(crypto_scalarmult_ed25519_base(clean, sk), 0);
    assert_int_equal(crypto_core_ed25519_add(dirty, clean, multiples[c]), 0);
    edwards_to_u(u, dirty);
    assert_memory_equal(kp.pk, u, 32);
    if (c == 0) {
      /* No low-order part: the ordinary X25519 public key. */
      uint8_t x25519_pk[32];
      assert_int_equal(crypto_scalarmult_base(x25519_pk, sk), 0);
      assert_memory_equal(kp.pk, x25519_pk, 32);
    }
    checked[c]++;
  }
  for (int c = 0; c < 8; c++)
    assert_true(checked[c] >= 5);
}

/* ---- generated keys ---- */

static void test_generate_round_trip(void **state) {
  uint8_t prev[32] = {0};
  for (int i = 0; i < 100; i++) {
    elligator2_keypair_t kp;
    elligator2_keypair_generate(&kp);
    assert_memory_not_equal(kp.sk, prev, 32);
    memcpy(prev, kp.sk, 32);
    assert_repr_in_range(kp.repr);

    uint8_t pk[32];
    elligator2_repr_to_pk(pk, kp.repr);
    assert_memory_equal(pk, kp.pk, 32);

    /* The same key again from sk, with one of the two low tweak bits. */
    uint8_t top = kp.repr[31] & 0xc0;
    elligator2_keypair_t a, b;
    assert_true(elligator2_keypair_from_sk(&a, kp.sk, top));
    assert_true(elligator2_keypair_from_sk(&b, kp.sk, (uint8_t)(top | 1)));
    assert_memory_equal(a.pk, kp.pk, 32);
    assert_true(memcmp(a.repr, kp.repr, 32) == 0 || memcmp(b.repr, kp.repr, 32) == 0);

    /* Diffie-Hellman: the dirty key gives what the clean key gives. */
    uint8_t other_sk[32], other_pk[32], clean_pk[32], s_dirty[32], s_clean[32], s_back[32];
    randombytes_buf(other_sk, sizeof other_sk);
    assert_int_equal(crypto_scalarmult_base(other_pk, other_sk), 0);
    assert_int_equal(crypto_scalarmult_base(clean_pk, kp.sk), 0);
    assert_int_equal(crypto_scalarmult(s_dirty, other_sk, kp.pk), 0);
    assert_int_equal(crypto_scalarmult(s_clean, other_sk, clean_pk), 0);
    assert_memory_equal(s_dirty, s_clean, 32);
    assert_int_equal(crypto_scalarmult(s_back, kp.sk, other_pk), 0);
    assert_memory_equal(s_back, s_dirty, 32);
  }
}

/* Representatives must look like uniform random bytes: a censor sees
 * nothing else. Over N generated keypairs:
 *
 * Each of the 256 bits is 1 with probability 1/2 (the value is uniform in
 * [0, (p-1)/2], 2^254 - 9 values, which moves no bit's probability by more
 * than 2^-250; bits 254 and 255 are the tweak's). Hoeffding: the count S
 * of ones satisfies P(|S - N/2| >= t) <= 2 exp(-2 t^2 / N). With a union
 * bound over 256 bits and a budget of 1e-10, t = sqrt(N/2 * ln(2*256e10))
 * = 419.0 for N = 12000: we allow |S - N/2| <= 420. (N is what keeps this
 * test at a few seconds under AddressSanitizer.)
 *
 * Byte values: Pearson's statistic over the 256 values of all 32 N bytes
 * (1500 expected per value) and, separately, of byte 31 alone (the one
 * that mixes value and padding bits; 47 expected) follows chi-square with
 * k = 255 degrees of freedom (the usual approximation, accurate at these
 * counts). Laurent and Massart (2000): P(X >= k + 2 sqrt(k x) + 2x) <=
 * e^-x; x = ln(1e10) gives 454.3, so we allow 455 for each.
 *
 * All three together fail a correct implementation with probability
 * below 3e-10. A stuck bit, padding bits left at zero (the old obfs4
 * bug), or a bit that is 1 with probability 0.55 fails them. */
#define UNIFORM_N 12000
#define UNIFORM_BIT_SLACK 420
#define UNIFORM_CHI2_MAX 455.0

static double chi_square(const uint32_t counts[256], double expected) {
  double x = 0;
  for (int i = 0; i < 256; i++) {
    double d = counts[i] - expected;
    x += d * d / expected;
  }
  return x;
}

static void test_representatives_are_uniform(void **state) {
  static uint32_t ones[256], bytes[256], last[256];
  memset(ones, 0, sizeof ones);
  memset(bytes, 0, sizeof bytes);
  memset(last, 0, sizeof last);
  for (int n = 0; n < UNIFORM_N; n++) {
    elligator2_keypair_t kp;
    elligator2_keypair_generate(&kp);
    for (int i = 0; i < 32; i++) {
      bytes[kp.repr[i]]++;
      for (int b = 0; b < 8; b++)
        ones[8 * i + b] += (kp.repr[i] >> b) & 1;
    }
    last[kp.repr[31]]++;
  }
  long worst = 0;
  for (int bit = 0; bit < 256; bit++) {
    long dev = labs((long)ones[bit] - UNIFORM_N / 2);
    if (dev > UNIFORM_BIT_SLACK)
      fail_msg("bit %d set in %u of %d representatives", bit, ones[bit], UNIFORM_N);
    worst = dev > worst ? dev : worst;
  }
  double all = chi_square(bytes, 32.0 * UNIFORM_N / 256);
  double top = chi_square(last, (double)UNIFORM_N / 256);
  print_message("%d representatives: largest bit deviation %ld (limit %d), chi-square %.1f "
                "(all bytes), %.1f (byte 31), limit %.0f\n",
                UNIFORM_N, worst, UNIFORM_BIT_SLACK, all, top, UNIFORM_CHI2_MAX);
  if (all > UNIFORM_CHI2_MAX || top > UNIFORM_CHI2_MAX)
    fail_msg("byte values: chi-square %.1f (all bytes), %.1f (byte 31), limit %.0f", all, top,
             UNIFORM_CHI2_MAX);
}

static int setup(void **state) {
  return sodium_init() < 0 ? -1 : 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keypair_vectors),
      cmocka_unit_test(test_map_vectors),
      cmocka_unit_test(test_dh_vectors),
      cmocka_unit_test(test_tweak),
      cmocka_unit_test(test_map_ignores_top_bits),
      cmocka_unit_test(test_dirty_key_is_clean_plus_low_order),
      cmocka_unit_test(test_generate_round_trip),
      cmocka_unit_test(test_representatives_are_uniform),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
