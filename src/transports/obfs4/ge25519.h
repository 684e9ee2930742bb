/* ge25519: the few operations on the Edwards form of Curve25519
 * (-x^2 + y^2 = 1 + d x^2 y^2) that obfs4's dirty keys need: a
 * constant-time fixed-base scalar multiplication (ref10's method: signed
 * radix-16 digits and a table of 32 x 8 multiples of the base point,
 * built once, on first use) and the addition of an affine point. libsodium
 * has both, but hands back only compressed points, and decompressing
 * costs the key generation two more exponentiations per try. */
#ifndef PTD_TRANSPORTS_OBFS4_GE25519_H
#define PTD_TRANSPORTS_OBFS4_GE25519_H

#include <stdint.h>

#include "transports/obfs4/fe25519.h"

/* Extended coordinates: x = X/Z, y = Y/Z, xy = T/Z. */
typedef struct {
  fe25519_t x, y, z, t;
} ge25519_p3_t;

/* What an addition or doubling yields before its last multiplications:
 * x = X/Z, y = Y/T. */
typedef struct {
  fe25519_t x, y, z, t;
} ge25519_p1p1_t;

/* An affine point ready to be added: y + x, y - x, 2dxy. */
typedef struct {
  fe25519_t ypx, ymx, xy2d;
} ge25519_precomp_t;

void ge25519_precomp_from_affine(ge25519_precomp_t *r, const fe25519_t *x, const fe25519_t *y);
void ge25519_p1p1_to_p3(ge25519_p3_t *r, const ge25519_p1p1_t *p);
/* p + q (Hisil-Wong-Carter-Dawson, complete for this curve). */
void ge25519_madd(ge25519_p1p1_t *r, const ge25519_p3_t *p, const ge25519_precomp_t *q);
/* h = a * B for a scalar a < 2^255 (little-endian), in constant time. */
void ge25519_base_mul(ge25519_p3_t *h, const uint8_t a[32]);

#endif
