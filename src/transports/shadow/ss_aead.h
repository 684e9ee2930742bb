/* ss_aead: Shadowsocks' AEAD ciphers (SIP004/SIP007, shadowsocks-aead.md):
 * the cipher table, the master key from a password, the per-session
 * subkey from a salt, and one session's sealing and opening with the
 * little-endian counting nonce.
 *
 * All three ciphers go through OpenSSL's EVP interface (AES-GCM with
 * AES-NI, ChaCha20-Poly1305 with its vector code), keyed once per session;
 * each operation only sets the nonce. */
#ifndef PTD_TRANSPORTS_SHADOW_SS_AEAD_H
#define PTD_TRANSPORTS_SHADOW_SS_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_KEY_MAX 32
#define SS_SALT_MAX 32
#define SS_NONCE_LEN 12
#define SS_TAG_LEN 16

typedef enum {
  SS_CHACHA20_IETF_POLY1305,
  SS_AES_256_GCM,
  SS_AES_128_GCM,
} ss_cipher_id_t;

typedef struct {
  ss_cipher_id_t id;
  const char *name;     /* shadowsocks-libev's name */
  const char *spec_name; /* the AEAD spec's (AEAD_...), also accepted */
  size_t key_len;       /* = salt length */
  const char *evp_name; /* OpenSSL's */
} ss_cipher_t;

/* The cipher for a name, in any case: libev's ("aes-256-gcm") or the
 * spec's ("AEAD_AES_256_GCM"); NULL if unknown. */
const ss_cipher_t *ss_cipher_find(const char *name);
/* "chacha20-ietf-poly1305, aes-256-gcm, aes-128-gcm", for error messages. */
const char *ss_cipher_names(void);

/* EVP_BytesToKey(MD5, no salt, one round) as Shadowsocks defines the
 * master key: D1 = MD5(password), Di = MD5(Di-1 | password), key = D1 |
 * D2 ... cut to key_len. Returns 0, or -1 if MD5 is unavailable. */
int ss_master_key(const ss_cipher_t *c, const char *password, uint8_t key[SS_KEY_MAX]);

/* One direction of one connection. */
typedef struct {
  const ss_cipher_t *cipher;
  void *ctx; /* EVP_CIPHER_CTX, keyed with the subkey */
  bool encrypt;
  uint8_t nonce[SS_NONCE_LEN];
} ss_session_t;

/* Derives the subkey HKDF-SHA1(master, salt, "ss-subkey") and keys s for
 * encrypting or decrypting. Returns 0, or -1 (s cleared) on failure. */
int ss_session_init(ss_session_t *s, const ss_cipher_t *c, const uint8_t *master,
                    const uint8_t *salt, bool encrypt);
void ss_session_clear(ss_session_t *s);

/* Encrypts m[0..len) to out[0..len) and writes the tag to out[len..len+16);
 * out may equal m. Advances the nonce. Returns 0, or -1 if the nonce is
 * spent (2^96 operations) or OpenSSL fails. */
int ss_seal(ss_session_t *s, uint8_t *out, const uint8_t *m, size_t len);
/* Opens c[0..len + 16) (ciphertext, then tag) into out[0..len); out may
 * equal c. Advances the nonce only on success. Returns 0, or -1 if the
 * tag does not match (out's contents are then unspecified). */
int ss_open(ss_session_t *s, uint8_t *out, const uint8_t *c, size_t len);

#endif
