/* ntor: the authenticated key exchange of Tor proposal 216, as obfs4
 * uses it (protocol id "ntor-curve25519-sha256-1", the 20-byte node ID as
 * ID), and the KDF that stretches KEY_SEED into obfs4's 144 bytes of key
 * material (HKDF-SHA256, salt t_key, info m_expand).
 *
 * Not byte-for-byte proposal 216: obfs4proxy hashes B | B | X | Y | PROTOID
 * | ID where the proposal has ID | B | X | Y | PROTOID (see ntor.c), and
 * so must we, to agree with every deployed peer.
 *
 * Public keys are whatever the Elligator 2 map gave (dirty keys are
 * fine: X25519 clamps the scalar). Each side refuses an all-zero
 * Diffie-Hellman result, as obfs4proxy does. */
#ifndef PTD_TRANSPORTS_OBFS4_NTOR_H
#define PTD_TRANSPORTS_OBFS4_NTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define NTOR_NODE_ID_LEN 20
#define NTOR_KEY_LEN 32
#define NTOR_KEY_SEED_LEN 32
#define NTOR_AUTH_LEN 32

/* Server: its identity (node_id, B = id_pk, b = id_sk), its ephemeral
 * (Y, y) and the client's X. False if a DH result is zero. */
bool ntor_server(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                 const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t id_pk[NTOR_KEY_LEN],
                 const uint8_t id_sk[NTOR_KEY_LEN], const uint8_t Y[NTOR_KEY_LEN],
                 const uint8_t y[NTOR_KEY_LEN], const uint8_t X[NTOR_KEY_LEN]);
/* Client: the bridge's node_id and B, its ephemeral (X, x), the server's
 * Y. The caller compares auth with the received AUTH (constant time). */
bool ntor_client(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                 const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t id_pk[NTOR_KEY_LEN],
                 const uint8_t X[NTOR_KEY_LEN], const uint8_t x[NTOR_KEY_LEN],
                 const uint8_t Y[NTOR_KEY_LEN]);
/* len bytes of key material from KEY_SEED (obfs4 uses 144). */
void ntor_kdf(uint8_t *out, size_t len, const uint8_t key_seed[NTOR_KEY_SEED_LEN]);

/* HMAC-SHA256 (RFC 2104), for ntor and the handshake's marks and MACs,
 * through OpenSSL's SHA-256: it uses the CPU's SHA extensions where there
 * are any, some six times libsodium's portable code on the kilobytes of
 * padding a handshake MACs. A state may be copied to finish messages that
 * share a prefix without hashing it again. Every state that was started
 * must be finished or dropped. OpenSSL fails here only when out of memory:
 * that stops the process (lib/xalloc.h). */
#define NTOR_HMAC_LEN 32

typedef struct {
  EVP_MD_CTX *inner;    /* H((K ^ ipad) | message so far) */
  uint8_t outer_key[64]; /* K ^ opad, for the outer hash at the end */
} ntor_hmac_t;

void ntor_hmac_init(ntor_hmac_t *h, const uint8_t *key, size_t keylen);
void ntor_hmac_update(ntor_hmac_t *h, const void *data, size_t len);
/* dst becomes an independent copy of src (dst not started). */
void ntor_hmac_copy(ntor_hmac_t *dst, const ntor_hmac_t *src);
/* The MAC of everything given; h is then wiped (start it again to reuse). */
void ntor_hmac_final(ntor_hmac_t *h, uint8_t out[NTOR_HMAC_LEN]);
/* Drops a started state without a MAC; a zeroed or finished one is fine. */
void ntor_hmac_drop(ntor_hmac_t *h);

#endif
