/* ntor: see ntor.h.
 *
 * obfs4proxy's ntor is not quite proposal 216's: where Tor hashes
 * ID | B | X | Y | PROTOID after the two Diffie-Hellman results, obfs4proxy
 * hashes B | B | X | Y | PROTOID | ID (its suffix buffer starts as a copy
 * of B and then appends B again). Every deployed obfs4 peer does the same,
 * so we must too; the vectors in tests/unit/obfs4_vectors_ntor.h pin it.
 *
 *   secret_input = EXP1 | EXP2 | suffix,  suffix = B | B | X | Y | PROTOID | ID
 *   KEY_SEED = HMAC-SHA256(t_key, secret_input)
 *   verify   = HMAC-SHA256(t_verify, secret_input)
 *   AUTH     = HMAC-SHA256(t_mac, verify | suffix | "Server")
 *
 * Zero results: libsodium's crypto_scalarmult fails (-1) exactly when the
 * result is all zeros (for a small-order u it does not even compute), and
 * obfs4proxy refuses exactly those, so its return value is the check. */
#include "transports/obfs4/ntor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "lib/hkdf.h"
#include "lib/xalloc.h"

#define NTOR_PROTOID "ntor-curve25519-sha256-1"

static const char ntor_t_mac[] = NTOR_PROTOID ":mac";
static const char ntor_t_key[] = NTOR_PROTOID ":key_extract";
static const char ntor_t_verify[] = NTOR_PROTOID ":key_verify";
static const char ntor_m_expand[] = NTOR_PROTOID ":key_expand";

/* ---- HMAC-SHA256 ---- */

#define HMAC_BLOCK 64

static EVP_MD *hmac_sha256_fetched;
static pthread_once_t hmac_sha256_once = PTHREAD_ONCE_INIT;

static void hmac_sha256_release(void) {
  EVP_MD_free(hmac_sha256_fetched);
  hmac_sha256_fetched = NULL;
}

static void hmac_sha256_fetch(void) {
  hmac_sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
  ERR_clear_error();
  /* Registered after the fetch initialised OpenSSL, so this runs before
   * OpenSSL's own cleanup at exit: leak checkers see nothing left. */
  if (hmac_sha256_fetched && atexit(hmac_sha256_release) != 0)
    hmac_sha256_fetched = NULL; /* cannot free it at exit: do not hold it */
}

/* Fetched once: passing EVP_sha256() to every init would look the
 * implementation up each time (a fifth of a short HMAC's cost). Should
 * the fetch fail, that is the fallback. */
static const EVP_MD *hmac_sha256(void) {
  pthread_once(&hmac_sha256_once, hmac_sha256_fetch);
  return hmac_sha256_fetched ? hmac_sha256_fetched : EVP_sha256();
}

static void hmac_check(int ok) {
  if (ok != 1)
    xalloc_die();
}

static EVP_MD_CTX *hmac_digest_new(void) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx)
    xalloc_die();
  hmac_check(EVP_DigestInit_ex2(ctx, hmac_sha256(), NULL));
  return ctx;
}

void ntor_hmac_init(ntor_hmac_t *h, const uint8_t *key, size_t keylen) {
  uint8_t k[HMAC_BLOCK] = {0}, inner_key[HMAC_BLOCK];
  if (keylen > HMAC_BLOCK) {
    unsigned int n = 0;
    EVP_MD_CTX *ctx = hmac_digest_new();
    hmac_check(EVP_DigestUpdate(ctx, key, keylen));
    hmac_check(EVP_DigestFinal_ex(ctx, k, &n));
    EVP_MD_CTX_free(ctx);
  } else if (keylen > 0) {
    memcpy(k, key, keylen);
  }
  for (size_t i = 0; i < HMAC_BLOCK; i++) {
    inner_key[i] = k[i] ^ 0x36;
    h->outer_key[i] = k[i] ^ 0x5c;
  }
  h->inner = hmac_digest_new();
  hmac_check(EVP_DigestUpdate(h->inner, inner_key, HMAC_BLOCK));
  sodium_memzero(k, sizeof k);
  sodium_memzero(inner_key, sizeof inner_key);
}

void ntor_hmac_update(ntor_hmac_t *h, const void *data, size_t len) {
  hmac_check(EVP_DigestUpdate(h->inner, data, len));
}

void ntor_hmac_copy(ntor_hmac_t *dst, const ntor_hmac_t *src) {
  dst->inner = EVP_MD_CTX_new();
  if (!dst->inner)
    xalloc_die();
  hmac_check(EVP_MD_CTX_copy_ex(dst->inner, src->inner));
  memcpy(dst->outer_key, src->outer_key, HMAC_BLOCK);
}

void ntor_hmac_final(ntor_hmac_t *h, uint8_t out[NTOR_HMAC_LEN]) {
  uint8_t inner[NTOR_HMAC_LEN];
  unsigned int n = 0;
  hmac_check(EVP_DigestFinal_ex(h->inner, inner, &n));
  /* The outer hash reuses the inner's context: one allocation less. */
  hmac_check(EVP_DigestInit_ex2(h->inner, hmac_sha256(), NULL));
  hmac_check(EVP_DigestUpdate(h->inner, h->outer_key, HMAC_BLOCK));
  hmac_check(EVP_DigestUpdate(h->inner, inner, sizeof inner));
  hmac_check(EVP_DigestFinal_ex(h->inner, out, &n));
  sodium_memzero(inner, sizeof inner);
  ntor_hmac_drop(h);
}

void ntor_hmac_drop(ntor_hmac_t *h) {
  /* EVP_MD_CTX_free wipes the digest state it frees. */
  EVP_MD_CTX_free(h->inner);
  h->inner = NULL;
  sodium_memzero(h->outer_key, sizeof h->outer_key);
}

/* ---- ntor ---- */

static void ntor_hmac_init_text(ntor_hmac_t *h, const char *key) {
  ntor_hmac_init(h, (const uint8_t *)key, strlen(key));
}

static void ntor_suffix(ntor_hmac_t *h, const uint8_t node_id[NTOR_NODE_ID_LEN],
                        const uint8_t B[NTOR_KEY_LEN], const uint8_t X[NTOR_KEY_LEN],
                        const uint8_t Y[NTOR_KEY_LEN]) {
  /* One update instead of six: each EVP call has its own overhead. */
  uint8_t suffix[4 * NTOR_KEY_LEN + sizeof NTOR_PROTOID - 1 + NTOR_NODE_ID_LEN];
  uint8_t *p = suffix;
  memcpy(p, B, NTOR_KEY_LEN);
  p += NTOR_KEY_LEN;
  memcpy(p, B, NTOR_KEY_LEN);
  p += NTOR_KEY_LEN;
  memcpy(p, X, NTOR_KEY_LEN);
  p += NTOR_KEY_LEN;
  memcpy(p, Y, NTOR_KEY_LEN);
  p += NTOR_KEY_LEN;
  memcpy(p, NTOR_PROTOID, sizeof NTOR_PROTOID - 1);
  p += sizeof NTOR_PROTOID - 1;
  memcpy(p, node_id, NTOR_NODE_ID_LEN);
  ntor_hmac_update(h, suffix, sizeof suffix);
}

/* Both sides, once the two shared secrets (exp) are known. */
static void ntor_common(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                        const uint8_t exp[2 * NTOR_KEY_LEN],
                        const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t B[NTOR_KEY_LEN],
                        const uint8_t X[NTOR_KEY_LEN], const uint8_t Y[NTOR_KEY_LEN]) {
  ntor_hmac_t seed_h, verify_h, auth_h;
  uint8_t verify[NTOR_HMAC_LEN];

  ntor_hmac_init_text(&seed_h, ntor_t_key);
  ntor_hmac_update(&seed_h, exp, 2 * NTOR_KEY_LEN);
  ntor_suffix(&seed_h, node_id, B, X, Y);
  ntor_hmac_init_text(&verify_h, ntor_t_verify);
  ntor_hmac_update(&verify_h, exp, 2 * NTOR_KEY_LEN);
  ntor_suffix(&verify_h, node_id, B, X, Y);
  ntor_hmac_final(&seed_h, key_seed);
  ntor_hmac_final(&verify_h, verify);

  ntor_hmac_init_text(&auth_h, ntor_t_mac);
  ntor_hmac_update(&auth_h, verify, sizeof verify);
  ntor_suffix(&auth_h, node_id, B, X, Y);
  ntor_hmac_update(&auth_h, "Server", 6);
  ntor_hmac_final(&auth_h, auth);

  sodium_memzero(verify, sizeof verify);
}

bool ntor_server(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                 const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t id_pk[NTOR_KEY_LEN],
                 const uint8_t id_sk[NTOR_KEY_LEN], const uint8_t Y[NTOR_KEY_LEN],
                 const uint8_t y[NTOR_KEY_LEN], const uint8_t X[NTOR_KEY_LEN]) {
  /* Zeroed first: for a small-order X libsodium returns without writing. */
  uint8_t exp[2 * NTOR_KEY_LEN] = {0};
  int bad = 0;

  /* Both products and both HMACs run whatever X is, so the time taken
   * does not say which check failed. */
  bad |= crypto_scalarmult(exp, y, X);
  bad |= crypto_scalarmult(exp + NTOR_KEY_LEN, id_sk, X);
  ntor_common(key_seed, auth, exp, node_id, id_pk, X, Y);
  sodium_memzero(exp, sizeof exp);
  return bad == 0;
}

bool ntor_client(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                 const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t id_pk[NTOR_KEY_LEN],
                 const uint8_t X[NTOR_KEY_LEN], const uint8_t x[NTOR_KEY_LEN],
                 const uint8_t Y[NTOR_KEY_LEN]) {
  uint8_t exp[2 * NTOR_KEY_LEN] = {0};
  int bad = 0;

  bad |= crypto_scalarmult(exp, x, Y);
  bad |= crypto_scalarmult(exp + NTOR_KEY_LEN, x, id_pk);
  ntor_common(key_seed, auth, exp, node_id, id_pk, X, Y);
  sodium_memzero(exp, sizeof exp);
  return bad == 0;
}

void ntor_kdf(uint8_t *out, size_t len, const uint8_t key_seed[NTOR_KEY_SEED_LEN]) {
  /* len is the caller's constant (at most 255 * 32), so OpenSSL can only
   * fail here for want of memory. */
  if (hkdf("SHA256", (const uint8_t *)ntor_t_key, sizeof ntor_t_key - 1, key_seed,
           NTOR_KEY_SEED_LEN, (const uint8_t *)ntor_m_expand, sizeof ntor_m_expand - 1, out,
           len) != 0)
    xalloc_die();
}
