/* fe25519: arithmetic modulo p = 2^255 - 19 (see fe25519.h).
 *
 * An element is five limbs, value = v[0] + v[1]*2^51 + ... + v[4]*2^204.
 * Every function here returns limbs below 2^52 (a carry pass after each
 * operation), and accepts limbs below 2^52 (or 2^51 from fe_frombytes):
 * with that bound a product's column sums stay below 2^111, so they fit
 * in unsigned __int128 and their carries times 19 fit in 64 bits. Only
 * fe_tobytes reduces fully.
 *
 * Nothing branches on or indexes by an element's value. */
#include "transports/obfs4/fe25519.h"

#include <string.h>

typedef unsigned __int128 fe_u128;

#define FE_MASK51 ((UINT64_C(1) << 51) - 1)

static uint64_t fe_load64_le(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--)
    x = (x << 8) | p[i];
  return x;
}

static void fe_store64_le(uint8_t *p, uint64_t x) {
  for (int i = 0; i < 8; i++) {
    p[i] = (uint8_t)x;
    x >>= 8;
  }
}

/* Brings every limb below 2^52 without changing the value mod p. */
static inline void fe_carry(fe25519_t *h) {
  uint64_t c0 = h->v[0] >> 51, c1 = h->v[1] >> 51, c2 = h->v[2] >> 51;
  uint64_t c3 = h->v[3] >> 51, c4 = h->v[4] >> 51;
  h->v[0] = (h->v[0] & FE_MASK51) + c4 * 19;
  h->v[1] = (h->v[1] & FE_MASK51) + c0;
  h->v[2] = (h->v[2] & FE_MASK51) + c1;
  h->v[3] = (h->v[3] & FE_MASK51) + c2;
  h->v[4] = (h->v[4] & FE_MASK51) + c3;
}

/* Folds the column sums of a product back into limbs below 2^52: every
 * column's carry at once (no chain from limb to limb, which is what the
 * long runs of squarings wait on), then one more light carry pass. Each
 * column is at most 77 (2^52)^2 < 2^110.3, so 19 times its carry stays
 * below 2^63.6. */
static inline void fe_reduce_wide(fe25519_t *h, fe_u128 r0, fe_u128 r1, fe_u128 r2, fe_u128 r3,
                                  fe_u128 r4) {
  uint64_t c0 = (uint64_t)(r0 >> 51), c1 = (uint64_t)(r1 >> 51), c2 = (uint64_t)(r2 >> 51);
  uint64_t c3 = (uint64_t)(r3 >> 51), c4 = (uint64_t)(r4 >> 51);
  h->v[0] = ((uint64_t)r0 & FE_MASK51) + c4 * 19;
  h->v[1] = ((uint64_t)r1 & FE_MASK51) + c0;
  h->v[2] = ((uint64_t)r2 & FE_MASK51) + c1;
  h->v[3] = ((uint64_t)r3 & FE_MASK51) + c2;
  h->v[4] = ((uint64_t)r4 & FE_MASK51) + c3;
  fe_carry(h);
}

void fe_frombytes(fe25519_t *h, const uint8_t s[32]) {
  /* Limb i holds bits 51i .. 51i+50; each is read from the 8-byte word
   * that contains it (the last one ends at byte 31, never beyond). */
  h->v[0] = fe_load64_le(s) & FE_MASK51;
  h->v[1] = (fe_load64_le(s + 6) >> 3) & FE_MASK51;
  h->v[2] = (fe_load64_le(s + 12) >> 6) & FE_MASK51;
  h->v[3] = (fe_load64_le(s + 19) >> 1) & FE_MASK51;
  h->v[4] = (fe_load64_le(s + 24) >> 12) & FE_MASK51;
}

void fe_tobytes(uint8_t s[32], const fe25519_t *f) {
  fe25519_t t = *f;
  fe_carry(&t);
  /* Now t < 2p, so t >= p exactly when t + 19 reaches 2^255: q is that
   * carry out of the top, found by propagating 19 through the limbs. */
  uint64_t q = (t.v[0] + 19) >> 51;
  q = (t.v[1] + q) >> 51;
  q = (t.v[2] + q) >> 51;
  q = (t.v[3] + q) >> 51;
  q = (t.v[4] + q) >> 51;
  /* t - q*p = t + 19q - q*2^255: add 19q, carry, drop bit 255. */
  t.v[0] += 19 * q;
  t.v[1] += t.v[0] >> 51;
  t.v[0] &= FE_MASK51;
  t.v[2] += t.v[1] >> 51;
  t.v[1] &= FE_MASK51;
  t.v[3] += t.v[2] >> 51;
  t.v[2] &= FE_MASK51;
  t.v[4] += t.v[3] >> 51;
  t.v[3] &= FE_MASK51;
  t.v[4] &= FE_MASK51;
  fe_store64_le(s, t.v[0] | (t.v[1] << 51));
  fe_store64_le(s + 8, (t.v[1] >> 13) | (t.v[2] << 38));
  fe_store64_le(s + 16, (t.v[2] >> 26) | (t.v[3] << 25));
  fe_store64_le(s + 24, (t.v[3] >> 39) | (t.v[4] << 12));
}

void fe_0(fe25519_t *h) {
  memset(h, 0, sizeof *h);
}

void fe_1(fe25519_t *h) {
  fe_0(h);
  h->v[0] = 1;
}

void fe_add(fe25519_t *h, const fe25519_t *f, const fe25519_t *g) {
  for (int i = 0; i < 5; i++)
    h->v[i] = f->v[i] + g->v[i];
  fe_carry(h);
}

void fe_sub(fe25519_t *h, const fe25519_t *f, const fe25519_t *g) {
  /* Adding 4p (limbs 2^53 - 76, 2^53 - 4, ...) keeps every limb
   * non-negative for any g with limbs below 2^52. */
  h->v[0] = (f->v[0] + UINT64_C(0x1fffffffffffb4)) - g->v[0];
  h->v[1] = (f->v[1] + UINT64_C(0x1ffffffffffffc)) - g->v[1];
  h->v[2] = (f->v[2] + UINT64_C(0x1ffffffffffffc)) - g->v[2];
  h->v[3] = (f->v[3] + UINT64_C(0x1ffffffffffffc)) - g->v[3];
  h->v[4] = (f->v[4] + UINT64_C(0x1ffffffffffffc)) - g->v[4];
  fe_carry(h);
}

void fe_neg(fe25519_t *h, const fe25519_t *f) {
  fe25519_t zero;
  fe_0(&zero);
  fe_sub(h, &zero, f);
}

static inline void fe_mul_inline(fe25519_t *h, const fe25519_t *f, const fe25519_t *g) {
  uint64_t a0 = f->v[0], a1 = f->v[1], a2 = f->v[2], a3 = f->v[3], a4 = f->v[4];
  uint64_t b0 = g->v[0], b1 = g->v[1], b2 = g->v[2], b3 = g->v[3], b4 = g->v[4];
  /* 2^255 = 19 (mod p): a column past the fifth comes back times 19. */
  uint64_t b1_19 = b1 * 19, b2_19 = b2 * 19, b3_19 = b3 * 19, b4_19 = b4 * 19;
  fe_u128 r0 = (fe_u128)a0 * b0 + (fe_u128)a1 * b4_19 + (fe_u128)a2 * b3_19 +
               (fe_u128)a3 * b2_19 + (fe_u128)a4 * b1_19;
  fe_u128 r1 = (fe_u128)a0 * b1 + (fe_u128)a1 * b0 + (fe_u128)a2 * b4_19 +
               (fe_u128)a3 * b3_19 + (fe_u128)a4 * b2_19;
  fe_u128 r2 = (fe_u128)a0 * b2 + (fe_u128)a1 * b1 + (fe_u128)a2 * b0 +
               (fe_u128)a3 * b4_19 + (fe_u128)a4 * b3_19;
  fe_u128 r3 = (fe_u128)a0 * b3 + (fe_u128)a1 * b2 + (fe_u128)a2 * b1 + (fe_u128)a3 * b0 +
               (fe_u128)a4 * b4_19;
  fe_u128 r4 = (fe_u128)a0 * b4 + (fe_u128)a1 * b3 + (fe_u128)a2 * b2 + (fe_u128)a3 * b1 +
               (fe_u128)a4 * b0;
  fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

static inline void fe_sq_inline(fe25519_t *h, const fe25519_t *f) {
  uint64_t a0 = f->v[0], a1 = f->v[1], a2 = f->v[2], a3 = f->v[3], a4 = f->v[4];
  uint64_t d0 = a0 * 2, d1 = a1 * 2, d2 = a2 * 2;
  uint64_t a3_19 = a3 * 19, a4_19 = a4 * 19;
  fe_u128 r0 = (fe_u128)a0 * a0 + (fe_u128)d1 * a4_19 + (fe_u128)d2 * a3_19;
  fe_u128 r1 = (fe_u128)d0 * a1 + (fe_u128)d2 * a4_19 + (fe_u128)a3 * a3_19;
  fe_u128 r2 = (fe_u128)d0 * a2 + (fe_u128)a1 * a1 + (fe_u128)(a3 * 2) * a4_19;
  fe_u128 r3 = (fe_u128)d0 * a3 + (fe_u128)d1 * a2 + (fe_u128)a4 * a4_19;
  fe_u128 r4 = (fe_u128)d0 * a4 + (fe_u128)d1 * a3 + (fe_u128)a2 * a2;
  fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

void fe_mul(fe25519_t *h, const fe25519_t *f, const fe25519_t *g) {
  fe_mul_inline(h, f, g);
}

void fe_sq(fe25519_t *h, const fe25519_t *f) {
  fe_sq_inline(h, f);
}

void fe_mul_small(fe25519_t *h, const fe25519_t *f, uint32_t n) {
  fe_reduce_wide(h, (fe_u128)f->v[0] * n, (fe_u128)f->v[1] * n, (fe_u128)f->v[2] * n,
                 (fe_u128)f->v[3] * n, (fe_u128)f->v[4] * n);
}

/* h = f^(2^n), n >= 1. */
static void fe_sq_times(fe25519_t *h, const fe25519_t *f, int n) {
  fe25519_t t; /* a local the compiler can keep in registers */
  fe_sq_inline(&t, f);
  for (int i = 1; i < n; i++)
    fe_sq_inline(&t, &t);
  *h = t;
}

/* h = f^(2^250 - 1), and f^11 (both exponents below need it). The chain
 * builds f^(2^k - 1) for k = 5, 10, 20, 40, 50, 100, 200, 250: 249
 * squarings and 10 multiplications in all. */
static void fe_pow_2_250_1(fe25519_t *h, fe25519_t *f11, const fe25519_t *f) {
  fe25519_t t, f9, e5, e10, e20, e50, e100;
  fe_sq_inline(&t, f);            /* 2 */
  fe_sq_times(&f9, &t, 2);        /* 8 */
  fe_mul_inline(&f9, &f9, f);     /* 9 */
  fe_mul_inline(f11, &f9, &t);    /* 11 */
  fe_sq_inline(&t, f11);          /* 22 */
  fe_mul_inline(&e5, &t, &f9);    /* 31 = 2^5 - 1 */
  fe_sq_times(&t, &e5, 5);
  fe_mul_inline(&e10, &t, &e5);   /* 2^10 - 1 */
  fe_sq_times(&t, &e10, 10);
  fe_mul_inline(&e20, &t, &e10);  /* 2^20 - 1 */
  fe_sq_times(&t, &e20, 20);
  fe_mul_inline(&t, &t, &e20);    /* 2^40 - 1 */
  fe_sq_times(&t, &t, 10);
  fe_mul_inline(&e50, &t, &e10);  /* 2^50 - 1 */
  fe_sq_times(&t, &e50, 50);
  fe_mul_inline(&e100, &t, &e50); /* 2^100 - 1 */
  fe_sq_times(&t, &e100, 100);
  fe_mul_inline(&t, &t, &e100);   /* 2^200 - 1 */
  fe_sq_times(&t, &t, 50);
  fe_mul_inline(h, &t, &e50);     /* 2^250 - 1 */
}

void fe_invert(fe25519_t *h, const fe25519_t *f) {
  /* Fermat: f^(p-2) = f^(2^255 - 21) = (f^(2^250-1))^(2^5) * f^11 (254
   * squarings, 11 multiplications), which is 0 for f = 0 as the header
   * promises. */
  fe25519_t t, f11;
  fe_pow_2_250_1(&t, &f11, f);
  fe_sq_times(&t, &t, 5);
  fe_mul_inline(h, &t, &f11);
}

/* h = f^((p-5)/8) = f^(2^252 - 3). */
static void fe_pow22523(fe25519_t *h, const fe25519_t *f) {
  fe25519_t t, f11;
  fe_pow_2_250_1(&t, &f11, f);
  fe_sq_times(&t, &t, 2);
  fe_mul_inline(h, &t, f);
}

const fe25519_t fe_sqrtm1 = {{UINT64_C(0x61b274a0ea0b0), UINT64_C(0xd5a5fc8f189d),
                              UINT64_C(0x7ef5e9cbd0c60), UINT64_C(0x78595a6804c9e),
                              UINT64_C(0x2b8324804fc1d)}};

bool fe_sqrt_ratio(fe25519_t *r, const fe25519_t *u, const fe25519_t *v) {
  /* RFC 9496 section 4.2: with p = 5 (mod 8), w = u v^3 (u v^7)^((p-5)/8)
   * satisfies v w^2 = +-u or +-u*sqrt(-1); multiplying by sqrt(-1) turns
   * the -u and -u*sqrt(-1) cases into u and u*sqrt(-1). */
  fe25519_t v2, v3, v7, uv3, uv7, w, check, neg_u, neg_u_i, w_i;
  fe_sq_inline(&v2, v);
  fe_mul_inline(&v3, &v2, v);
  fe_sq_inline(&v7, &v2);
  fe_mul_inline(&v7, &v7, &v3);
  fe_mul_inline(&uv3, u, &v3);
  fe_mul_inline(&uv7, u, &v7);
  fe_pow22523(&w, &uv7);
  fe_mul_inline(&w, &w, &uv3);

  fe_sq_inline(&check, &w);
  fe_mul_inline(&check, &check, v);
  fe_neg(&neg_u, u);
  fe_mul_inline(&neg_u_i, &neg_u, &fe_sqrtm1);
  bool correct = fe_equal(&check, u);
  bool flipped = fe_equal(&check, &neg_u);
  bool flipped_i = fe_equal(&check, &neg_u_i);

  fe_mul_inline(&w_i, &w, &fe_sqrtm1);
  fe_cmov(&w, &w_i, (unsigned)(flipped | flipped_i));
  /* The non-negative (even) one of w and -w. */
  fe_neg(&w_i, &w);
  fe_cmov(&w, &w_i, (unsigned)fe_is_negative(&w));
  *r = w;
  return correct | flipped;
}

void fe_cmov(fe25519_t *f, const fe25519_t *g, unsigned b) {
  uint64_t mask = (uint64_t)0 - (uint64_t)(b & 1);
  for (int i = 0; i < 5; i++)
    f->v[i] ^= mask & (f->v[i] ^ g->v[i]);
}

bool fe_is_negative(const fe25519_t *f) {
  uint8_t s[32];
  fe_tobytes(s, f);
  return s[0] & 1;
}

bool fe_is_zero(const fe25519_t *f) {
  uint8_t s[32];
  fe_tobytes(s, f);
  uint8_t acc = 0;
  for (int i = 0; i < 32; i++)
    acc |= s[i];
  /* 1 exactly when acc is 0, without a comparison the compiler could
   * turn into a branch. */
  return (bool)(((unsigned)acc - 1) >> 8 & 1);
}

bool fe_equal(const fe25519_t *f, const fe25519_t *g) {
  fe25519_t d;
  fe_sub(&d, f, g);
  return fe_is_zero(&d);
}
