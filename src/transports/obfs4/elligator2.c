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
 * scalar multiplication (ref10's method: signed radix-16 digits and a
 * table of 32 x 8 multiples of the base point, built on first use) and
 * one exponentiation, which yields both the representative's square root
 * and the inverse the Montgomery u needs. libsodium would do the
 * multiplication too, but it hands back a compressed point, and the
 * inversion inside its compression plus the square root to get x back
 * would cost two more exponentiations per try.
 *
 * The curve constants below were computed with Python's integers; the
 * unit tests recheck each against its definition. */
#include "transports/obfs4/elligator2.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "transports/obfs4/fe25519.h"

#define ELL2_A 486662u

/* 2d for Edwards d = -121665/121666, and the base point B = (x, 4/5)
 * with x even. */
static const fe25519_t ell2_d2 = {{UINT64_C(0x69b9426b2f159), UINT64_C(0x35050762add7a),
                                   UINT64_C(0x3cf44c0038052), UINT64_C(0x6738cc7407977),
                                   UINT64_C(0x2406d9dc56dff)}};
static const fe25519_t ell2_base_x = {{UINT64_C(0x62d608f25d51a), UINT64_C(0x412a4b4f6592a),
                                       UINT64_C(0x75b7171a4b31d), UINT64_C(0x1ff60527118fe),
                                       UINT64_C(0x216936d3cd6e5)}};
static const fe25519_t ell2_base_y = {{UINT64_C(0x6666666666658), UINT64_C(0x4cccccccccccc),
                                       UINT64_C(0x1999999999999), UINT64_C(0x3333333333333),
                                       UINT64_C(0x6666666666666)}};

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

/* ---- Edwards points: -x^2 + y^2 = 1 + d x^2 y^2 ---- */

/* Extended coordinates: x = X/Z, y = Y/Z, xy = T/Z. */
typedef struct {
  fe25519_t x, y, z, t;
} ell2_p3_t;

/* What an addition or doubling yields before its last multiplications:
 * x = X/Z, y = Y/T. */
typedef struct {
  fe25519_t x, y, z, t;
} ell2_p1p1_t;

/* An affine point ready to be added: y + x, y - x, 2dxy. */
typedef struct {
  fe25519_t ypx, ymx, xy2d;
} ell2_precomp_t;

static void ell2_precomp_from_affine(ell2_precomp_t *r, const fe25519_t *x, const fe25519_t *y) {
  fe_add(&r->ypx, y, x);
  fe_sub(&r->ymx, y, x);
  fe_mul(&r->xy2d, x, y);
  fe_mul(&r->xy2d, &r->xy2d, &ell2_d2);
}

static void ell2_p1p1_to_p3(ell2_p3_t *r, const ell2_p1p1_t *p) {
  fe_mul(&r->x, &p->x, &p->t);
  fe_mul(&r->y, &p->y, &p->z);
  fe_mul(&r->z, &p->z, &p->t);
  fe_mul(&r->t, &p->x, &p->y);
}

/* p + q (Hisil-Wong-Carter-Dawson, complete for this curve). */
static void ell2_madd(ell2_p1p1_t *r, const ell2_p3_t *p, const ell2_precomp_t *q) {
  fe25519_t a, b, c, d;
  fe_sub(&a, &p->y, &p->x);
  fe_mul(&a, &a, &q->ymx);
  fe_add(&b, &p->y, &p->x);
  fe_mul(&b, &b, &q->ypx);
  fe_mul(&c, &p->t, &q->xy2d);
  fe_add(&d, &p->z, &p->z);
  fe_sub(&r->x, &b, &a);
  fe_add(&r->y, &b, &a);
  fe_add(&r->z, &d, &c);
  fe_sub(&r->t, &d, &c);
}

/* 2p; p's T is not used. */
static void ell2_dbl(ell2_p1p1_t *r, const ell2_p3_t *p) {
  fe25519_t xx, yy, zz2, s;
  fe_sq(&xx, &p->x);
  fe_sq(&yy, &p->y);
  fe_sq(&zz2, &p->z);
  fe_add(&zz2, &zz2, &zz2);
  fe_add(&s, &p->x, &p->y);
  fe_sq(&s, &s);
  fe_add(&r->y, &yy, &xx);
  fe_sub(&r->z, &yy, &xx);
  fe_sub(&r->x, &s, &r->y);
  fe_sub(&r->t, &zz2, &r->z);
}

/* ell2_base_table[i][j] = (j+1) * 256^i * B. */
static ell2_precomp_t ell2_base_table[32][8];
static pthread_once_t ell2_base_table_once = PTHREAD_ONCE_INIT;

static void ell2_base_table_init(void) {
  ell2_p3_t bi, acc;
  ell2_p1p1_t r;
  fe25519_t zinv, x, y;
  bi.x = ell2_base_x;
  bi.y = ell2_base_y;
  fe_1(&bi.z);
  fe_mul(&bi.t, &bi.x, &bi.y);
  for (int i = 0; i < 32; i++) {
    acc = bi;
    for (int j = 0; j < 8; j++) {
      fe_invert(&zinv, &acc.z);
      fe_mul(&x, &acc.x, &zinv);
      fe_mul(&y, &acc.y, &zinv);
      ell2_precomp_from_affine(&ell2_base_table[i][j], &x, &y);
      ell2_madd(&r, &acc, &ell2_base_table[i][0]);
      ell2_p1p1_to_p3(&acc, &r);
    }
    for (int k = 0; k < 8; k++) {
      ell2_dbl(&r, &bi);
      ell2_p1p1_to_p3(&bi, &r);
    }
  }
}

/* t = b * 256^pos * B for -8 <= b <= 8, reading every entry of the row
 * so that the memory access does not depend on b. */
static void ell2_base_select(ell2_precomp_t *t, int pos, int8_t b) {
  uint8_t neg = (uint8_t)((uint8_t)b >> 7);
  uint8_t babs = (uint8_t)(((uint8_t)b ^ (uint8_t)-neg) + neg);
  fe_1(&t->ypx);
  fe_1(&t->ymx);
  fe_0(&t->xy2d);
  for (uint8_t j = 1; j <= 8; j++) {
    /* An all-ones mask when babs == j; the 15 limbs in one inlined loop,
     * as fe_cmov's call per coordinate would cost most of the time. */
    uint64_t mask = (uint64_t)0 - (((uint64_t)(babs ^ j) - 1) >> 63);
    const ell2_precomp_t *e = &ell2_base_table[pos][j - 1];
    for (int l = 0; l < 5; l++) {
      t->ypx.v[l] ^= mask & (t->ypx.v[l] ^ e->ypx.v[l]);
      t->ymx.v[l] ^= mask & (t->ymx.v[l] ^ e->ymx.v[l]);
      t->xy2d.v[l] ^= mask & (t->xy2d.v[l] ^ e->xy2d.v[l]);
    }
  }
  /* -(x, y) = (-x, y): swap y+x and y-x, negate 2dxy. */
  ell2_precomp_t minus;
  minus.ypx = t->ymx;
  minus.ymx = t->ypx;
  fe_neg(&minus.xy2d, &t->xy2d);
  fe_cmov(&t->ypx, &minus.ypx, neg);
  fe_cmov(&t->ymx, &minus.ymx, neg);
  fe_cmov(&t->xy2d, &minus.xy2d, neg);
}

/* h = a * B for a scalar a < 2^255 (little-endian). With a's 64 nibbles
 * recoded as digits e in [-8, 8], a = sum e[i] 16^i: the odd digits are
 * added from the table, the sum multiplied by 16, then the even ones
 * added. */
static void ell2_base_mul(ell2_p3_t *h, const uint8_t a[32]) {
  pthread_once(&ell2_base_table_once, ell2_base_table_init);
  int8_t e[64];
  for (int i = 0; i < 32; i++) {
    e[2 * i] = (int8_t)(a[i] & 15);
    e[2 * i + 1] = (int8_t)(a[i] >> 4);
  }
  int carry = 0;
  for (int i = 0; i < 63; i++) {
    int v = e[i] + carry;
    carry = (v + 8) >> 4;
    e[i] = (int8_t)(v - carry * 16);
  }
  e[63] = (int8_t)(e[63] + carry);

  ell2_precomp_t t;
  ell2_p1p1_t r;
  fe_0(&h->x);
  fe_1(&h->y);
  fe_1(&h->z);
  fe_0(&h->t);
  for (int i = 1; i < 64; i += 2) {
    ell2_base_select(&t, i / 2, e[i]);
    ell2_madd(&r, h, &t);
    ell2_p1p1_to_p3(h, &r);
  }
  for (int k = 0; k < 4; k++) {
    ell2_dbl(&r, h);
    ell2_p1p1_to_p3(h, &r);
  }
  for (int i = 0; i < 64; i += 2) {
    ell2_base_select(&t, i / 2, e[i]);
    ell2_madd(&r, h, &t);
    ell2_p1p1_to_p3(h, &r);
  }
  sodium_memzero(e, sizeof e);
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
  ell2_p3_t p;
  ell2_base_mul(&p, scalar);
  sodium_memzero(scalar, sizeof scalar);

  /* P + Q for the low-order Q; its y = Y/T, so the Montgomery
   * u = (1+y)/(1-y) = n/m with n = T + Y, m = T - Y. */
  fe25519_t qx, qy;
  ell2_precomp_t q;
  ell2_p1p1_t sum;
  ell2_low_order_point(&qx, &qy, sk[0]);
  ell2_precomp_from_affine(&q, &qx, &qy);
  ell2_madd(&sum, &p, &q);
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
