/* elligator2: Curve25519 public keys that look like random bytes, as
 * obfs4 sends them (obfs4proxy 0.0.14 and lyrebird's x25519ell2).
 *
 * The public key is "dirty": the clamped scalar times the base point plus
 * a low-order point chosen by the private key's low three bits, so every
 * Montgomery u the map can reach is a possible key (a clean key is always
 * in the prime-order subgroup, which a censor could test for). X25519 with
 * a clamped scalar kills the low-order part, so the Diffie-Hellman result
 * is the usual one. The representative's two unused top bits are random.
 * About half of all private keys have no representative. */
#ifndef PTD_TRANSPORTS_OBFS4_ELLIGATOR2_H
#define PTD_TRANSPORTS_OBFS4_ELLIGATOR2_H

#include <stdbool.h>
#include <stdint.h>

#define ELLIGATOR2_KEY_LEN 32

typedef struct {
  uint8_t pk[32];   /* the dirty public key (Montgomery u) */
  uint8_t sk[32];   /* the private key, unclamped as generated */
  uint8_t repr[32]; /* what goes on the wire */
} elligator2_keypair_t;

/* The forward map: a representative (top two bits ignored) to the public
 * key it stands for. Every 32-byte string maps to some key. */
void elligator2_repr_to_pk(uint8_t pk[32], const uint8_t repr[32]);

/* The dirty public key of sk and its representative, the top two bits of
 * which come from tweak's top two bits (and tweak's low bit picks between
 * the two representatives). False when the key has no representative;
 * *kp is then all zero. Thread-safe (a table built on first use). */
bool elligator2_keypair_from_sk(elligator2_keypair_t *kp, const uint8_t sk[32], uint8_t tweak);

/* A fresh random keypair that has a representative (tries until one has). */
void elligator2_keypair_generate(elligator2_keypair_t *kp);

#endif
