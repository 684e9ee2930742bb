/* hkdf: HKDF (RFC 5869), extract then expand, through OpenSSL 3's EVP_KDF.
 *
 * libsodium 1.0.18 has no HKDF, and the transports need it with more than
 * one hash (obfs4's ntor KDF uses SHA-256, Shadowsocks' subkeys SHA-1), so
 * the digest is named rather than fixed. */
#ifndef PTD_LIB_HKDF_H
#define PTD_LIB_HKDF_H

#include <stddef.h>
#include <stdint.h>

/* Writes outlen bytes of HKDF-<digest>(salt, ikm, info) to out. digest is
 * an OpenSSL digest name ("SHA256", "SHA1"). An empty salt means HashLen
 * zero bytes (the RFC's default); info may be empty; ikm may be empty.
 * Returns 0, or -1 (out wiped) for an unknown digest or an outlen of 0 or
 * more than 255 * HashLen. */
int hkdf(const char *digest, const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
         size_t ikmlen, const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

#endif
