/* elligator2: obfs4's obfuscated Curve25519 keys (see elligator2.h).
 *
 * Byte for byte what obfs4proxy 0.0.14's internal/x25519ell2 produces:
 * the same low-order point for each private key, the same choice between
 * a key's two representatives, the same sign rule, the same forward map.
 * Square roots and inverses are values, not choices, except where a sign
 * is fixed explicitly below, so a different but equivalent formula gives
 * the same bytes; the unit test holds us to obfs4proxy's vectors.
 *
 * Cost: the forward map is one exponentiation. A key is one fixed-base
 * scalar multiplication (ge25519.c) and one exponentiation, which yields
 * both the representative's square root and the inverse the Montgomery u
 * needs.
 *
 * The curve constants below were computed with Python's integers; the
 * unit tests recheck each against its definition. */
#include "transports/obfs4/elligator2.h"

#include <string.h>

#include <sodium.h>

#include "transports/obfs4/fe25519.h"
#include "transports/obfs4/ge25519.h"

#define ELL2_A 486662u

/* A generator L = (x, -x*sqrt(-1)) of the Edwards points of order 8: x is
 * the even root of (s + 1)/d, s the even root of d + 1 (obfs4proxy's
 * choice among the four). */
static const fe25519_t ell2_lop_x = {{UINT64_C(0x14646c545d14a), UINT64_C(0x6027cbc471bd4),
                                      UINT64_C(0x3792aed7064f1), UINT64_C(0x5147499cc991c),
                                      UINT64_C(0x1fd5b9a006394)}};
static const fe25519_t ell2_lop_y = {{UINT64_C(0x7b2c28f95e826), UINT64_C(0x6513e9868b604),
                                      UINT64_C(0x6b37f57c263bf), UINT64_C(0x4589c99e36982),
                                      UINT64_C(0x5fc536d88023)}};

/* A^2, and -2*sqrt(-1): the factor (non-square 2 times sqrt(-1), negated)
 * that makes the forward map's non-square branch land on -A - u. */
static const fe25519_t ell2_a_squared = {{UINT64_C(0x3724c21c24), 0, 0, 0, 0}};
static const fe25519_t ell2_u_factor = {{UINT64_C(0x3c9b16be2be8d), UINT64_C(0x654b406e1cec4),
                                         UINT64_C(0x2142c685e73f), UINT64_C(0xf4d4b2ff66c2),
                                         UINT64_C(0x28f9b6ff607c4)}};

/* h = -A*f. */
static void ell2_mul_neg_a(fe25519_t *h, const fe25519_t *f) {
  fe_mul_small(h, f, ELL2_A);
  fe_neg(h, h);
}

void elligator2_repr_to_pk(uint8_t pk[32], const uint8_t repr[32]) {
  /* The same steps as obfs4proxy's forward map (Loup Vaillant's
   * formulation): with w = 2r^2, u = -A/(1+w) if that is a Montgomery x
   * coordinate, else -A*w/(1+w); both from one square root test of
   * T = (1+w)^3 * A*(A^2*w - (1+w)^2), whose root squared is 1/T or
   * sqrt(-1)/T and so also provides the inverse. Only u is returned. */
  uint8_t masked[32];
  memcpy(masked, repr, 32);
  masked[31] &= 0x3f; /* 254 bits: the top two are padding */
  fe25519_t r, r2, w, one, w1, w1_sq, t3, tt, root, u;
  fe_frombytes(&r, masked);
  fe_1(&one);

  fe_sq(&r2, &r);
  fe_mul_small(&w, &r2, 2);
  fe_add(&w1, &w, &one);
  fe_sq(&w1_sq, &w1);
  fe_mul(&t3, &ell2_a_squared, &w);
  fe_sub(&t3, &t3, &w1_sq);
  fe_mul_small(&t3, &t3, ELL2_A);
  fe_mul(&tt, &w1_sq, &w1);
  fe_mul(&tt, &tt, &t3);
  bool square = fe_sqrt_ratio(&root, &one, &tt);

  fe_mul(&u, &r2, &ell2_u_factor);
  fe_cmov(&u, &one, (unsigned)square);
  fe_sq(&root, &root);
  ell2_mul_neg_a(&u, &u);
  fe_mul(&u, &u, &t3);
  fe_mul(&u, &u, &w1_sq);
  fe_mul(&u, &u, &root);
  fe_tobytes(pk, &u);
}

/* The low-order point added to the public key of a private key whose
 * first byte is b: c*L for c = b & 7, read off obfs4proxy's table:
 * x = 0, sqrt(-1) or x_L by bits 0-1 of c, negated by bit 2; y likewise
 * from c + 2 with 0, 1, y_L. */
static void ell2_low_order_point(fe25519_t *x, fe25519_t *y, uint8_t b) {
  fe25519_t one, neg;
  fe_1(&one);
  fe_0(x);
  fe_cmov(x, &fe_sqrtm1, (b >> 1) & 1);
  fe_cmov(x, &ell2_lop_x, b & 1);
  fe_neg(&neg, x);
  fe_cmov(x, &neg, (b >> 2) & 1);

  uint8_t c = (uint8_t)(b + 2);
  fe_0(y);
  fe_cmov(y, &one, (c >> 1) & 1);
  fe_cmov(y, &ell2_lop_y, c & 1);
  fe_neg(&neg, y);
  fe_cmov(y, &neg, (c >> 2) & 1);
}

/* ---- keys ---- */

bool elligator2_keypair_from_sk(elligator2_keypair_t *kp, const uint8_t sk[32], uint8_t tweak) {
  /* obfs4proxy's clamping (bit 255 clear, 254 set, low three clear); the
   * low three bits choose the low-order point instead. */
  uint8_t scalar[32];
  memcpy(scalar, sk, 32);
  scalar[0] &= 248;
  scalar[31] &= 127;
  scalar[31] |= 64;
  ge25519_p3_t p;
  ge25519_base_mul(&p, scalar);
  sodium_memzero(scalar, sizeof scalar);

  /* P + Q for the low-order Q; its y = Y/T, so the Montgomery
   * u = (1+y)/(1-y) = n/m with n = T + Y, m = T - Y. */
  fe25519_t qx, qy;
  ge25519_precomp_t q;
  ge25519_p1p1_t sum;
  ell2_low_order_point(&qx, &qy, sk[0]);
  ge25519_precomp_from_affine(&q, &qx, &qy);
  ge25519_madd(&sum, &p, &q);
  fe25519_t n, m;
  fe_add(&n, &sum.t, &sum.y);
  fe_sub(&m, &sum.t, &sum.y);

  /* A representative exists when -2u(u+A) = X/m^2 is a non-zero square,
   * X = -2n(n + Am). One root rt = sqrt(1/(X m^2)) gives both
   * 1/m = rt^2 X m and +-sqrt(1/(-2u(u+A))) = rt m^2. (m = 0 means
   * y = 1, where obfs4proxy's u is 0 and it finds no representative;
   * so does the zero test here.) */
  fe25519_t one, t, n_am, x, xm2, rt, inv_m, u, sel, c, neg;
  fe_1(&one);
  fe_mul_small(&t, &m, ELL2_A);
  fe_add(&n_am, &n, &t);
  fe_mul(&x, &n, &n_am);
  fe_mul_small(&x, &x, 2);
  fe_neg(&x, &x);
  fe_sq(&t, &m);
  fe_mul(&xm2, &x, &t);
  if (!fe_sqrt_ratio(&rt, &one, &xm2)) {
    sodium_memzero(kp, sizeof *kp);
    return false;
  }

  fe_sq(&inv_m, &rt);
  fe_mul(&inv_m, &inv_m, &x);
  fe_mul(&inv_m, &inv_m, &m);
  fe_mul(&u, &n, &inv_m);

  /* Tweak bit 0 picks u or u + A, times that root; of the two signs the
   * one whose double is even (which is the one at most (p-1)/2, so bit
   * 254 is free for padding). The root's own sign cancels out here. */
  sel = n;
  fe_cmov(&sel, &n_am, tweak & 1);
  fe_mul(&c, &sel, &rt);
  fe_mul(&c, &c, &m);
  fe_add(&t, &c, &c);
  fe_neg(&neg, &c);
  fe_cmov(&c, &neg, (unsigned)fe_is_negative(&t));

  fe_tobytes(kp->pk, &u);
  fe_tobytes(kp->repr, &c);
  kp->repr[31] |= tweak & 0xc0;
  memcpy(kp->sk, sk, 32);
  return true;
}

void elligator2_keypair_generate(elligator2_keypair_t *kp) {
  /* Half of all keys have a representative, so this ends after two tries
   * on average; 32 bytes of key and one of tweak each time. */
  uint8_t seed[33];
  do {
    randombytes_buf(seed, sizeof seed);
  } while (!elligator2_keypair_from_sk(kp, seed, seed[32]));
  sodium_memzero(seed, sizeof seed);
}
