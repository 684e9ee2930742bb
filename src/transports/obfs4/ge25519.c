/* ge25519: see ge25519.h.
 *
 * The curve constants below were computed with Python's integers; the
 * unit tests recheck each against its definition. */
#include "transports/obfs4/ge25519.h"

#include <pthread.h>

#include <sodium.h>

/* 2d for Edwards d = -121665/121666, and the base point B = (x, 4/5)
 * with x even. */
static const fe25519_t ge25519_d2 = {{UINT64_C(0x69b9426b2f159), UINT64_C(0x35050762add7a),
                                   UINT64_C(0x3cf44c0038052), UINT64_C(0x6738cc7407977),
                                   UINT64_C(0x2406d9dc56dff)}};
static const fe25519_t ge25519_base_x = {{UINT64_C(0x62d608f25d51a), UINT64_C(0x412a4b4f6592a),
                                       UINT64_C(0x75b7171a4b31d), UINT64_C(0x1ff60527118fe),
                                       UINT64_C(0x216936d3cd6e5)}};
static const fe25519_t ge25519_base_y = {{UINT64_C(0x6666666666658), UINT64_C(0x4cccccccccccc),
                                       UINT64_C(0x1999999999999), UINT64_C(0x3333333333333),
                                       UINT64_C(0x6666666666666)}};

void ge25519_precomp_from_affine(ge25519_precomp_t *r, const fe25519_t *x, const fe25519_t *y) {
  fe_add(&r->ypx, y, x);
  fe_sub(&r->ymx, y, x);
  fe_mul(&r->xy2d, x, y);
  fe_mul(&r->xy2d, &r->xy2d, &ge25519_d2);
}

void ge25519_p1p1_to_p3(ge25519_p3_t *r, const ge25519_p1p1_t *p) {
  fe_mul(&r->x, &p->x, &p->t);
  fe_mul(&r->y, &p->y, &p->z);
  fe_mul(&r->z, &p->z, &p->t);
  fe_mul(&r->t, &p->x, &p->y);
}

/* p + q (Hisil-Wong-Carter-Dawson, complete for this curve). */
void ge25519_madd(ge25519_p1p1_t *r, const ge25519_p3_t *p, const ge25519_precomp_t *q) {
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
static void ge25519_dbl(ge25519_p1p1_t *r, const ge25519_p3_t *p) {
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

/* ge25519_base_table[i][j] = (j+1) * 256^i * B. */
static ge25519_precomp_t ge25519_base_table[32][8];
static pthread_once_t ge25519_base_table_once = PTHREAD_ONCE_INIT;

static void ge25519_base_table_init(void) {
  ge25519_p3_t bi, acc;
  ge25519_p1p1_t r;
  fe25519_t zinv, x, y;
  bi.x = ge25519_base_x;
  bi.y = ge25519_base_y;
  fe_1(&bi.z);
  fe_mul(&bi.t, &bi.x, &bi.y);
  for (int i = 0; i < 32; i++) {
    acc = bi;
    for (int j = 0; j < 8; j++) {
      fe_invert(&zinv, &acc.z);
      fe_mul(&x, &acc.x, &zinv);
      fe_mul(&y, &acc.y, &zinv);
      ge25519_precomp_from_affine(&ge25519_base_table[i][j], &x, &y);
      ge25519_madd(&r, &acc, &ge25519_base_table[i][0]);
      ge25519_p1p1_to_p3(&acc, &r);
    }
    for (int k = 0; k < 8; k++) {
      ge25519_dbl(&r, &bi);
      ge25519_p1p1_to_p3(&bi, &r);
    }
  }
}

/* t = b * 256^pos * B for -8 <= b <= 8, reading every entry of the row
 * so that the memory access does not depend on b. */
static void ge25519_base_select(ge25519_precomp_t *t, int pos, int8_t b) {
  uint8_t neg = (uint8_t)((uint8_t)b >> 7);
  uint8_t babs = (uint8_t)(((uint8_t)b ^ (uint8_t)-neg) + neg);
  fe_1(&t->ypx);
  fe_1(&t->ymx);
  fe_0(&t->xy2d);
  for (uint8_t j = 1; j <= 8; j++) {
    /* An all-ones mask when babs == j; the 15 limbs in one inlined loop,
     * as fe_cmov's call per coordinate would cost most of the time. */
    uint64_t mask = (uint64_t)0 - (((uint64_t)(babs ^ j) - 1) >> 63);
    const ge25519_precomp_t *e = &ge25519_base_table[pos][j - 1];
    for (int l = 0; l < 5; l++) {
      t->ypx.v[l] ^= mask & (t->ypx.v[l] ^ e->ypx.v[l]);
      t->ymx.v[l] ^= mask & (t->ymx.v[l] ^ e->ymx.v[l]);
      t->xy2d.v[l] ^= mask & (t->xy2d.v[l] ^ e->xy2d.v[l]);
    }
  }
  /* -(x, y) = (-x, y): swap y+x and y-x, negate 2dxy. */
  ge25519_precomp_t minus;
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
void ge25519_base_mul(ge25519_p3_t *h, const uint8_t a[32]) {
  pthread_once(&ge25519_base_table_once, ge25519_base_table_init);
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

  ge25519_precomp_t t;
  ge25519_p1p1_t r;
  fe_0(&h->x);
  fe_1(&h->y);
  fe_1(&h->z);
  fe_0(&h->t);
  for (int i = 1; i < 64; i += 2) {
    ge25519_base_select(&t, i / 2, e[i]);
    ge25519_madd(&r, h, &t);
    ge25519_p1p1_to_p3(h, &r);
  }
  for (int k = 0; k < 4; k++) {
    ge25519_dbl(&r, h);
    ge25519_p1p1_to_p3(h, &r);
  }
  for (int i = 0; i < 64; i += 2) {
    ge25519_base_select(&t, i / 2, e[i]);
    ge25519_madd(&r, h, &t);
    ge25519_p1p1_to_p3(h, &r);
  }
  sodium_memzero(e, sizeof e);
}
