/* secretbox: NaCl's crypto_secretbox (XSalsa20-Poly1305) for a key and a
 * 16-byte nonce prefix that stay fixed while the last 8 nonce bytes count,
 * as in each direction of an obfs4 session.
 *
 * XSalsa20 with a 24-byte nonce is Salsa20 under the subkey
 * HSalsa20(key, nonce[0..16]) with nonce[16..24]. With the prefix fixed
 * the subkey is too, so it is derived once per direction instead of once
 * per frame (crypto_secretbox does it every call: about a sixth of a
 * frame's cost). The Poly1305 tag goes through OpenSSL where it provides
 * Poly1305 (its code uses the wider vector units), else through
 * libsodium. The bytes are crypto_secretbox_detached()'s; the unit tests
 * compare the two on random keys, prefixes, counters and lengths. */
#ifndef PTD_TRANSPORTS_OBFS4_SECRETBOX_H
#define PTD_TRANSPORTS_OBFS4_SECRETBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OBFS4_BOX_TAG_LEN 16

typedef struct {
  uint8_t subkey[32];
} obfs4_box_key_t;

void obfs4_box_key_init(obfs4_box_key_t *k, const uint8_t key[32], const uint8_t prefix[16]);
void obfs4_box_key_clear(obfs4_box_key_t *k);

/* Seals m[0..len) under nonce prefix || counter (big-endian): the tag to
 * box[0..16), the ciphertext to box[16..16+len). m is box + 16 (sealing
 * in place) or does not overlap box. */
void obfs4_box_seal(const obfs4_box_key_t *k, uint64_t counter, uint8_t *box, const uint8_t *m,
                    size_t len);

/* Opens box[0..OBFS4_BOX_TAG_LEN + len): 0 and the plaintext in m[0..len),
 * or -1 (m untouched) if the tag does not match. m is box + 16 or does
 * not overlap box. */
int obfs4_box_open(const obfs4_box_key_t *k, uint64_t counter, uint8_t *m, const uint8_t *box,
                   size_t len);

#ifdef OBFS4_BOX_PRIVATE
/* Tests: true makes every tag go through libsodium (the path taken when
 * OpenSSL has no Poly1305); returns whether OpenSSL's was in use. */
bool obfs4_box_force_sodium_poly1305(bool force);
#endif

#endif
