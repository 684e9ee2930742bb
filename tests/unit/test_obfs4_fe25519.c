/* Unit tests for transports/obfs4/fe25519 against a reference written
 * here: a slow, obvious big-integer implementation of arithmetic mod
 * p = 2^255 - 19 (eight 32-bit words, schoolbook products, subtract p
 * until below it). Inputs: the edge values 0, 1, 2, (p-1)/2, p-2, p-1,
 * the non-canonical encodings p .. 2^255-1 and the ignored bit 255,
 * elements whose limbs sit at the largest value fe25519 accepts, and
 * pseudo-random ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transports/obfs4/fe25519.h"
#include "testutil.h"

/* ---- the reference: a value in [0, p) as little-endian 32-bit words ---- */

typedef struct {
  uint32_t w[8];
} ref_t;

static const ref_t ref_p = {
    {0xffffffed, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
     0x7fffffff}};

static bool ref_ge(const uint32_t a[8], const uint32_t b[8]) {
  for (int i = 7; i >= 0; i--) {
    if (a[i] != b[i])
      return a[i] > b[i];
  }
  return true;
}

/* a -= b over eight words; returns the borrow. */
static uint32_t ref_sub_words(uint32_t a[8], const uint32_t b[8]) {
  uint64_t borrow = 0;
  for (int i = 0; i < 8; i++) {
    uint64_t d = (uint64_t)a[i] - b[i] - borrow;
    a[i] = (uint32_t)d;
    borrow = (d >> 63) & 1;
  }
  return (uint32_t)borrow;
}

static void ref_reduce(uint32_t a[8]) {
  while (ref_ge(a, ref_p.w))
    ref_sub_words(a, ref_p.w);
}

static ref_t ref_small(uint32_t n) {
  ref_t r = {{n}};
  return r;
}

/* Little-endian bytes, bit 255 dropped (as fe_frombytes does), mod p. */
static ref_t ref_from_bytes(const uint8_t s[32]) {
  ref_t r;
  for (int i = 0; i < 8; i++)
    r.w[i] = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
             (uint32_t)s[4 * i + 3] << 24;
  r.w[7] &= 0x7fffffff;
  ref_reduce(r.w);
  return r;
}

static void ref_to_bytes(uint8_t s[32], const ref_t *a) {
  for (int i = 0; i < 32; i++)
    s[i] = (uint8_t)(a->w[i / 4] >> (8 * (i % 4)));
}

static ref_t ref_add(const ref_t *a, const ref_t *b) {
  ref_t r;
  uint64_t carry = 0;
  for (int i = 0; i < 8; i++) {
    uint64_t s = (uint64_t)a->w[i] + b->w[i] + carry;
    r.w[i] = (uint32_t)s;
    carry = s >> 32;
  }
  /* a + b < 2p < 2^256: no carry out */
  ref_reduce(r.w);
  return r;
}

static ref_t ref_sub(const ref_t *a, const ref_t *b) {
  ref_t r = *a;
  if (ref_sub_words(r.w, b->w)) {
    uint64_t carry = 0;
    for (int i = 0; i < 8; i++) {
      uint64_t s = (uint64_t)r.w[i] + ref_p.w[i] + carry;
      r.w[i] = (uint32_t)s;
      carry = s >> 32;
    }
  }
  return r;
}

static ref_t ref_mul(const ref_t *a, const ref_t *b) {
  uint32_t z[16] = {0};
  for (int i = 0; i < 8; i++) {
    uint64_t carry = 0;
    for (int j = 0; j < 8; j++) {
      uint64_t cur = z[i + j] + (uint64_t)a->w[i] * b->w[j] + carry;
      z[i + j] = (uint32_t)cur;
      carry = cur >> 32;
    }
    z[i + 8] = (uint32_t)carry;
  }
  /* 2^256 = 2 * 2^255 = 38 (mod p): fold the high half down, then the
   * word that overflows, until nothing does. */
  uint32_t r[8];
  uint64_t carry = 0;
  for (int k = 0; k < 8; k++) {
    uint64_t cur = z[k] + (uint64_t)z[k + 8] * 38 + carry;
    r[k] = (uint32_t)cur;
    carry = cur >> 32;
  }
  while (carry) {
    uint64_t add = carry * 38;
    carry = 0;
    for (int k = 0; k < 8; k++) {
      uint64_t cur = r[k] + add;
      r[k] = (uint32_t)cur;
      add = cur >> 32;
    }
    carry = add;
  }
  ref_reduce(r);
  ref_t out;
  memcpy(out.w, r, sizeof r);
  return out;
}

/* a^e for e given as 32 little-endian bytes. */
static ref_t ref_pow(const ref_t *a, const uint8_t e[32]) {
  ref_t r = ref_small(1);
  for (int bit = 255; bit >= 0; bit--) {
    r = ref_mul(&r, &r);
    if ((e[bit / 8] >> (bit % 8)) & 1)
      r = ref_mul(&r, a);
  }
  return r;
}

static bool ref_eq(const ref_t *a, const ref_t *b) {
  return memcmp(a->w, b->w, sizeof a->w) == 0;
}

static bool ref_is_zero(const ref_t *a) {
  ref_t z = ref_small(0);
  return ref_eq(a, &z);
}

/* p - k for small k, as exponent bytes. */
static void p_minus_bytes(uint8_t e[32], uint8_t k) {
  ref_to_bytes(e, &ref_p);
  e[0] = (uint8_t)(e[0] - k);
}

/* Euler: a is a square (or 0) iff a^((p-1)/2) is 0 or 1. */
static bool ref_is_square(const ref_t *a) {
  uint8_t e[32];
  p_minus_bytes(e, 1);
  /* halve: (p-1)/2 */
  for (int i = 0; i < 32; i++)
    e[i] = (uint8_t)((e[i] >> 1) | (i < 31 ? e[i + 1] << 7 : 0));
  ref_t r = ref_pow(a, e);
  ref_t one = ref_small(1);
  return ref_is_zero(&r) || ref_eq(&r, &one);
}

static ref_t ref_inv(const ref_t *a) {
  uint8_t e[32];
  p_minus_bytes(e, 2);
  return ref_pow(a, e);
}

/* ---- fe25519 <-> reference ---- */

/* The value of an element's limbs, mod p, computed by the reference. */
static ref_t ref_of_fe(const fe25519_t *f) {
  ref_t two51 = ref_small(1);
  ref_t two = ref_small(2);
  for (int i = 0; i < 51; i++)
    two51 = ref_mul(&two51, &two);
  ref_t acc = ref_small(0);
  for (int i = 4; i >= 0; i--) {
    acc = ref_mul(&acc, &two51);
    ref_t lo = ref_small((uint32_t)f->v[i]);
    ref_t hi = ref_small((uint32_t)(f->v[i] >> 32));
    ref_t two32 = ref_small(1);
    for (int k = 0; k < 32; k++)
      two32 = ref_mul(&two32, &two);
    hi = ref_mul(&hi, &two32);
    acc = ref_add(&acc, &lo);
    acc = ref_add(&acc, &hi);
  }
  return acc;
}

/* Every function's output must keep the limb bound its inputs rely on. */
static void assert_loose(const fe25519_t *f) {
  for (int i = 0; i < 5; i++) {
    if (f->v[i] >= (UINT64_C(1) << 52))
      fail_msg("limb %d = 0x%llx is not below 2^52", i, (unsigned long long)f->v[i]);
  }
}

/* f holds ref's value: its canonical bytes are ref's bytes. */
static void assert_fe_is(const fe25519_t *f, const ref_t *want) {
  assert_loose(f);
  uint8_t got[32], exp[32];
  fe_tobytes(got, f);
  ref_to_bytes(exp, want);
  assert_memory_equal(got, exp, 32);
}

/* ---- inputs ---- */

#define N_EDGE 16

/* Edge encodings (some non-canonical) as bytes. */
static void edge_bytes(uint8_t s[32], int k) {
  memset(s, 0, 32);
  switch (k) {
  case 0: /* 0 */
    break;
  case 1: /* 1 */
    s[0] = 1;
    break;
  case 2: /* 2 */
    s[0] = 2;
    break;
  case 3: /* p - 1 */
    p_minus_bytes(s, 1);
    break;
  case 4: /* p - 2 */
    p_minus_bytes(s, 2);
    break;
  case 5: /* p: 0 */
    p_minus_bytes(s, 0);
    break;
  case 6: /* p + 1: 1 */
    p_minus_bytes(s, 0);
    s[0]++;
    break;
  case 7: /* 2^255 - 1: 18 */
    memset(s, 0xff, 32);
    s[31] = 0x7f;
    break;
  case 8: /* all ones: bit 255 ignored, 18 */
    memset(s, 0xff, 32);
    break;
  case 9: /* 1 with bit 255 set: 1 */
    s[0] = 1;
    s[31] = 0x80;
    break;
  case 10: /* (p-1)/2 */
    memset(s, 0xff, 32);
    s[0] = 0xf6;
    s[31] = 0x3f;
    break;
  case 11: /* 2^254 */
    s[31] = 0x40;
    break;
  case 12: /* 2^51 - 1: one full limb */
    memset(s, 0xff, 6);
    s[6] = 0x07;
    break;
  case 13: /* 2^51: the next limb */
    s[6] = 0x08;
    break;
  case 14: /* 486662 (A) */
    s[0] = 0x06;
    s[1] = 0x6d;
    s[2] = 0x07;
    break;
  default: /* (p+1)/2 = 1/2 */
    memset(s, 0xff, 32);
    s[0] = 0xf7;
    s[31] = 0x3f;
    break;
  }
}

/* Input k as an element and its reference value: edge ones, elements
 * whose every limb is the largest accepted (2^52 - 1) or a mix, then
 * pseudo-random ones. */
static void input(fe25519_t *f, ref_t *r, int k) {
  uint8_t s[32];
  if (k < N_EDGE) {
    edge_bytes(s, k);
    fe_frombytes(f, s);
    *r = ref_from_bytes(s);
    return;
  }
  if (k == N_EDGE || k == N_EDGE + 1) {
    for (int i = 0; i < 5; i++)
      f->v[i] = (k == N_EDGE || i % 2) ? (UINT64_C(1) << 52) - 1 : 0;
    *r = ref_of_fe(f);
    return;
  }
  test_fill_pattern(s, 32, (uint32_t)k * 2654435761u);
  fe_frombytes(f, s);
  *r = ref_from_bytes(s);
}

#define N_INPUTS (N_EDGE + 2 + 22)

/* ---- tests ---- */

static void test_frombytes_reduces_noncanonical(void **state) {
  /* Every encoding from p to 2^255 - 1 is k = value - p. */
  for (uint8_t k = 0; k <= 18; k++) {
    uint8_t s[32], out[32], want[32] = {k};
    p_minus_bytes(s, 0);
    s[0] = (uint8_t)(s[0] + k);
    fe25519_t f;
    fe_frombytes(&f, s);
    fe_tobytes(out, &f);
    assert_memory_equal(out, want, 32);
    s[31] |= 0x80; /* bit 255 changes nothing */
    fe_frombytes(&f, s);
    fe_tobytes(out, &f);
    assert_memory_equal(out, want, 32);
  }
}

static void test_bytes_round_trip(void **state) {
  for (int k = 0; k < 200; k++) {
    uint8_t s[32], out[32];
    test_fill_pattern(s, 32, (uint32_t)k + 1);
    s[31] &= 0x7f;
    ref_t r = ref_from_bytes(s);
    ref_to_bytes(s, &r); /* now canonical */
    fe25519_t f;
    fe_frombytes(&f, s);
    fe_tobytes(out, &f);
    assert_memory_equal(out, s, 32);
  }
  uint8_t s[32], out[32];
  p_minus_bytes(s, 1);
  fe25519_t f;
  fe_frombytes(&f, s);
  fe_tobytes(out, &f);
  assert_memory_equal(out, s, 32);
}

static void test_constants(void **state) {
  fe25519_t f;
  ref_t zero = ref_small(0), one = ref_small(1);
  fe_0(&f);
  assert_fe_is(&f, &zero);
  fe_1(&f);
  assert_fe_is(&f, &one);
  /* sqrt(-1) = 2^((p-1)/4), which is even. */
  uint8_t e[32];
  p_minus_bytes(e, 1);
  for (int i = 0; i < 32; i++)
    e[i] = (uint8_t)((e[i] >> 2) | (i < 31 ? e[i + 1] << 6 : 0));
  ref_t two = ref_small(2);
  ref_t i = ref_pow(&two, e);
  assert_fe_is(&fe_sqrtm1, &i);
  ref_t sq = ref_mul(&i, &i);
  ref_t minus_one = ref_sub(&zero, &one);
  assert_true(ref_eq(&sq, &minus_one));
  assert_false(fe_is_negative(&fe_sqrtm1));
}

static void test_add_sub_neg(void **state) {
  for (int a = 0; a < N_INPUTS; a++) {
    for (int b = 0; b < N_INPUTS; b++) {
      fe25519_t f, g, h;
      ref_t rf, rg;
      input(&f, &rf, a);
      input(&g, &rg, b);
      ref_t want = ref_add(&rf, &rg);
      fe_add(&h, &f, &g);
      assert_fe_is(&h, &want);
      want = ref_sub(&rf, &rg);
      fe_sub(&h, &f, &g);
      assert_fe_is(&h, &want);
    }
    fe25519_t f, h;
    ref_t rf, zero = ref_small(0);
    input(&f, &rf, a);
    ref_t want = ref_sub(&zero, &rf);
    fe_neg(&h, &f);
    assert_fe_is(&h, &want);
  }
}

static void test_mul_sq(void **state) {
  for (int a = 0; a < N_INPUTS; a++) {
    for (int b = 0; b < N_INPUTS; b++) {
      fe25519_t f, g, h;
      ref_t rf, rg;
      input(&f, &rf, a);
      input(&g, &rg, b);
      ref_t want = ref_mul(&rf, &rg);
      fe_mul(&h, &f, &g);
      assert_fe_is(&h, &want);
      fe_mul(&f, &f, &g); /* output aliasing an input */
      assert_fe_is(&f, &want);
    }
    fe25519_t f, h;
    ref_t rf;
    input(&f, &rf, a);
    ref_t want = ref_mul(&rf, &rf);
    fe_sq(&h, &f);
    assert_fe_is(&h, &want);
  }
}

static void test_mul_small(void **state) {
  static const uint32_t ns[] = {0, 1, 2, 19, 121666, 486662, 0x7fffffff, 0xffffffff};
  for (int a = 0; a < N_INPUTS; a++) {
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
      fe25519_t f, h;
      ref_t rf;
      input(&f, &rf, a);
      ref_t rn = ref_small(ns[j]);
      ref_t want = ref_mul(&rf, &rn);
      fe_mul_small(&h, &f, ns[j]);
      assert_fe_is(&h, &want);
    }
  }
}

/* Long chains where each output feeds the next operation, so that any
 * limb growth an operation fails to carry away would accumulate. */
static void test_chained_operations(void **state) {
  fe25519_t f, g;
  ref_t rf, rg;
  input(&f, &rf, N_EDGE);
  input(&g, &rg, N_EDGE + 1);
  uint8_t ops[3000];
  test_fill_pattern(ops, sizeof ops, 77);
  for (size_t i = 0; i < sizeof ops; i++) {
    switch (ops[i] % 6) {
    case 0:
      fe_add(&f, &f, &g);
      rf = ref_add(&rf, &rg);
      break;
    case 1:
      fe_sub(&f, &g, &f);
      rf = ref_sub(&rg, &rf);
      break;
    case 2:
      fe_mul(&g, &f, &g);
      rg = ref_mul(&rf, &rg);
      break;
    case 3:
      fe_sq(&f, &f);
      rf = ref_mul(&rf, &rf);
      break;
    case 4: {
      fe_neg(&g, &g);
      ref_t zero = ref_small(0);
      rg = ref_sub(&zero, &rg);
      break;
    }
    default: {
      fe_mul_small(&f, &f, 0xffffffffu - ops[i]);
      ref_t n = ref_small(0xffffffffu - ops[i]);
      rf = ref_mul(&rf, &n);
      break;
    }
    }
    assert_loose(&f);
    assert_loose(&g);
  }
  assert_fe_is(&f, &rf);
  assert_fe_is(&g, &rg);
}

static void test_invert(void **state) {
  for (int a = 0; a < N_INPUTS; a++) {
    fe25519_t f, h, prod;
    ref_t rf;
    input(&f, &rf, a);
    fe_invert(&h, &f);
    if (ref_is_zero(&rf)) {
      /* 0 (also as p, or as 2^255-1 minus 18) inverts to 0 */
      ref_t zero = ref_small(0);
      assert_fe_is(&h, &zero);
      continue;
    }
    ref_t want = ref_inv(&rf);
    assert_fe_is(&h, &want);
    fe_mul(&prod, &h, &f);
    ref_t one = ref_small(1);
    assert_fe_is(&prod, &one);
  }
}

/* Checks fe_sqrt_ratio(u, v) against the reference: the flag is whether
 * u/v is a square; r is even, and v r^2 = u (square) or sqrt(-1) u (not). */
static void check_sqrt_ratio(const fe25519_t *u, const ref_t *ru, const fe25519_t *v,
                             const ref_t *rv) {
  fe25519_t r;
  bool was_square = fe_sqrt_ratio(&r, u, v);
  assert_loose(&r);
  assert_false(fe_is_negative(&r));
  ref_t rr = ref_of_fe(&r);
  ref_t vr2 = ref_mul(&rr, &rr);
  vr2 = ref_mul(&vr2, rv);
  if (ref_is_zero(ru)) {
    assert_true(was_square);
    assert_true(ref_is_zero(&rr));
    return;
  }
  if (ref_is_zero(rv)) {
    assert_false(was_square);
    assert_true(ref_is_zero(&rr));
    return;
  }
  ref_t uv = ref_mul(ru, rv); /* u/v is a square iff u*v is */
  bool square = ref_is_square(&uv);
  assert_int_equal(was_square, square);
  if (square) {
    assert_true(ref_eq(&vr2, ru));
  } else {
    ref_t i = ref_of_fe(&fe_sqrtm1);
    ref_t iu = ref_mul(&i, ru);
    assert_true(ref_eq(&vr2, &iu));
  }
}

static void test_sqrt_ratio_known(void **state) {
  fe25519_t u, v, r;
  uint8_t s[32] = {0}, out[32];
  /* sqrt(4/1) is 2 (even), not p - 2 (odd) */
  fe_1(&v);
  fe_0(&u);
  u.v[0] = 4;
  assert_true(fe_sqrt_ratio(&r, &u, &v));
  s[0] = 2;
  fe_tobytes(out, &r);
  assert_memory_equal(out, s, 32);
  /* sqrt(1/4) = +-1/2; 1/2 = (p+1)/2 is odd, so the answer is -1/2 =
   * (p-1)/2 */
  fe_0(&v);
  v.v[0] = 4;
  fe_1(&u);
  assert_true(fe_sqrt_ratio(&r, &u, &v));
  edge_bytes(s, 10);
  fe_tobytes(out, &r);
  assert_memory_equal(out, s, 32);
  /* -1 is a square: sqrt(-1/1) is SQRT_M1 */
  fe_1(&v);
  fe_neg(&u, &v);
  assert_true(fe_sqrt_ratio(&r, &u, &v));
  assert_true(fe_equal(&r, &fe_sqrtm1));
  /* 2 is not (p = 5 mod 8) */
  fe_0(&u);
  u.v[0] = 2;
  assert_false(fe_sqrt_ratio(&r, &u, &v));
  /* 0/0 and 0/v: 0 and true; u/0: 0 and false */
  fe25519_t zero;
  fe_0(&zero);
  assert_true(fe_sqrt_ratio(&r, &zero, &zero));
  assert_true(fe_is_zero(&r));
  assert_true(fe_sqrt_ratio(&r, &zero, &v));
  assert_true(fe_is_zero(&r));
  assert_false(fe_sqrt_ratio(&r, &v, &zero));
  assert_true(fe_is_zero(&r));
  /* p encodes 0 too */
  edge_bytes(s, 5);
  fe_frombytes(&u, s);
  assert_false(fe_sqrt_ratio(&r, &v, &u));
  assert_true(fe_sqrt_ratio(&r, &u, &v));
}

static void test_sqrt_ratio_against_reference(void **state) {
  for (int a = 0; a < N_INPUTS; a++) {
    for (int b = 0; b < N_INPUTS; b += 3) {
      fe25519_t u, v;
      ref_t ru, rv;
      input(&u, &ru, a);
      input(&v, &rv, b);
      check_sqrt_ratio(&u, &ru, &v, &rv);
    }
  }
  /* Squares by construction: u = v * x^2, both flags must say square. */
  for (int k = 0; k < 20; k++) {
    fe25519_t x, v, u;
    ref_t rx, rv;
    input(&x, &rx, N_EDGE + 2 + k);
    input(&v, &rv, N_EDGE + 3 + k);
    fe_sq(&u, &x);
    fe_mul(&u, &u, &v);
    ref_t ru = ref_of_fe(&u);
    check_sqrt_ratio(&u, &ru, &v, &rv);
    fe25519_t r;
    assert_true(fe_sqrt_ratio(&r, &u, &v));
  }
}

static void test_cmov(void **state) {
  fe25519_t f, g, h;
  ref_t rf, rg;
  input(&f, &rf, N_EDGE);
  input(&g, &rg, N_EDGE + 5);
  h = f;
  fe_cmov(&h, &g, 0);
  assert_memory_equal(&h, &f, sizeof h);
  fe_cmov(&h, &g, 1);
  assert_memory_equal(&h, &g, sizeof h);
  fe_cmov(&h, &f, 1);
  assert_memory_equal(&h, &f, sizeof h);
}

static void test_is_negative_zero_equal(void **state) {
  /* By canonical value: 0 even, 1 odd, p-1 even, p (=0) even, p+1 (=1)
   * odd, 2^255-1 (=18) even, all ones (=18) even, 2^255+1 (=1) odd. */
  static const struct {
    int k;
    bool neg, zero;
  } want[] = {{0, false, true},  {1, true, false},   {2, false, false}, {3, false, false},
              {4, true, false},  {5, false, true},   {6, true, false},  {7, false, false},
              {8, false, false}, {9, true, false},   {10, false, false}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    fe25519_t f;
    ref_t rf;
    input(&f, &rf, want[i].k);
    assert_int_equal(fe_is_negative(&f), want[i].neg);
    assert_int_equal(fe_is_zero(&f), want[i].zero);
  }
  /* Limbs spelling p and 2p: zero. */
  fe25519_t p = {{(UINT64_C(1) << 51) - 19, (UINT64_C(1) << 51) - 1, (UINT64_C(1) << 51) - 1,
                  (UINT64_C(1) << 51) - 1, (UINT64_C(1) << 51) - 1}};
  assert_true(fe_is_zero(&p));
  assert_false(fe_is_negative(&p));
  fe25519_t p2;
  for (int i = 0; i < 5; i++)
    p2.v[i] = p.v[i] * 2;
  assert_true(fe_is_zero(&p2));
  /* equal across encodings, unequal for different values */
  for (int a = 0; a < N_INPUTS; a++) {
    for (int b = 0; b < N_INPUTS; b++) {
      fe25519_t f, g;
      ref_t rf, rg;
      input(&f, &rf, a);
      input(&g, &rg, b);
      assert_int_equal(fe_equal(&f, &g), ref_eq(&rf, &rg));
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frombytes_reduces_noncanonical),
      cmocka_unit_test(test_bytes_round_trip),
      cmocka_unit_test(test_constants),
      cmocka_unit_test(test_add_sub_neg),
      cmocka_unit_test(test_mul_sq),
      cmocka_unit_test(test_mul_small),
      cmocka_unit_test(test_chained_operations),
      cmocka_unit_test(test_invert),
      cmocka_unit_test(test_sqrt_ratio_known),
      cmocka_unit_test(test_sqrt_ratio_against_reference),
      cmocka_unit_test(test_cmov),
      cmocka_unit_test(test_is_negative_zero_equal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
