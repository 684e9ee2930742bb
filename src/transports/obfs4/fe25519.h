/* fe25519: arithmetic in GF(2^255 - 19), the field under Curve25519.
 *
 * libsodium keeps its field code private, and obfs4's Elligator 2 map and
 * its inverse need it (square roots, Legendre symbols, inversion), so
 * this is our own: five 51-bit limbs, products in unsigned __int128, and
 * no branch or table index that depends on a value (constant time). An
 * element is kept loosely reduced (every limb below 2^52, which every
 * function accepts and returns); fe_tobytes is the one canonical form.
 * Outputs may alias inputs. */
#ifndef PTD_TRANSPORTS_OBFS4_FE25519_H
#define PTD_TRANSPORTS_OBFS4_FE25519_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uint64_t v[5];
} fe25519_t;

/* sqrt(-1) = 2^((p-1)/4), the even root (RFC 9496's SQRT_M1). */
extern const fe25519_t fe_sqrtm1;

/* Little-endian 32 bytes; bit 255 is ignored, values >= p are accepted
 * and reduced. */
void fe_frombytes(fe25519_t *h, const uint8_t s[32]);
/* The canonical (fully reduced) little-endian encoding. */
void fe_tobytes(uint8_t s[32], const fe25519_t *f);
void fe_0(fe25519_t *h);
void fe_1(fe25519_t *h);
void fe_add(fe25519_t *h, const fe25519_t *f, const fe25519_t *g);
void fe_sub(fe25519_t *h, const fe25519_t *f, const fe25519_t *g);
void fe_neg(fe25519_t *h, const fe25519_t *f);
void fe_mul(fe25519_t *h, const fe25519_t *f, const fe25519_t *g);
void fe_sq(fe25519_t *h, const fe25519_t *f);
void fe_mul_small(fe25519_t *h, const fe25519_t *f, uint32_t n);
/* 1/f; 0 for f = 0. */
void fe_invert(fe25519_t *h, const fe25519_t *f);
/* r = sqrt(u/v), the non-negative root, and true, when u/v is a square;
 * otherwise r = sqrt(i*u/v) and false (i = sqrt(-1)). v = 0 gives r = 0
 * and false unless u = 0. RFC 9496's SQRT_RATIO_M1. */
bool fe_sqrt_ratio(fe25519_t *r, const fe25519_t *u, const fe25519_t *v);
/* f = g if b (0 or 1), else unchanged; constant time. */
void fe_cmov(fe25519_t *f, const fe25519_t *g, unsigned b);
/* The low bit of the canonical encoding ("negative" in RFC 9496). */
bool fe_is_negative(const fe25519_t *f);
bool fe_is_zero(const fe25519_t *f);
bool fe_equal(const fe25519_t *f, const fe25519_t *g);

#endif
