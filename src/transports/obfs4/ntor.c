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

#include <string.h>

#include <sodium.h>

#include "lib/hkdf.h"
#include "lib/xalloc.h"

#define NTOR_PROTOID "ntor-curve25519-sha256-1"

static const char ntor_t_mac[] = NTOR_PROTOID ":mac";
static const char ntor_t_key[] = NTOR_PROTOID ":key_extract";
static const char ntor_t_verify[] = NTOR_PROTOID ":key_verify";
static const char ntor_m_expand[] = NTOR_PROTOID ":key_expand";

static void ntor_hmac_init(crypto_auth_hmacsha256_state *st, const char *key) {
  crypto_auth_hmacsha256_init(st, (const unsigned char *)key, strlen(key));
}

static void ntor_suffix(crypto_auth_hmacsha256_state *st, const uint8_t node_id[NTOR_NODE_ID_LEN],
                        const uint8_t B[NTOR_KEY_LEN], const uint8_t X[NTOR_KEY_LEN],
                        const uint8_t Y[NTOR_KEY_LEN]) {
  crypto_auth_hmacsha256_update(st, B, NTOR_KEY_LEN);
  crypto_auth_hmacsha256_update(st, B, NTOR_KEY_LEN);
  crypto_auth_hmacsha256_update(st, X, NTOR_KEY_LEN);
  crypto_auth_hmacsha256_update(st, Y, NTOR_KEY_LEN);
  crypto_auth_hmacsha256_update(st, (const unsigned char *)NTOR_PROTOID,
                                sizeof NTOR_PROTOID - 1);
  crypto_auth_hmacsha256_update(st, node_id, NTOR_NODE_ID_LEN);
}

/* Both sides, once the two shared secrets (exp) are known. */
static void ntor_common(uint8_t key_seed[NTOR_KEY_SEED_LEN], uint8_t auth[NTOR_AUTH_LEN],
                        const uint8_t exp[2 * NTOR_KEY_LEN],
                        const uint8_t node_id[NTOR_NODE_ID_LEN], const uint8_t B[NTOR_KEY_LEN],
                        const uint8_t X[NTOR_KEY_LEN], const uint8_t Y[NTOR_KEY_LEN]) {
  crypto_auth_hmacsha256_state seed_st, verify_st, auth_st;
  uint8_t verify[crypto_auth_hmacsha256_BYTES];

  ntor_hmac_init(&seed_st, ntor_t_key);
  crypto_auth_hmacsha256_update(&seed_st, exp, 2 * NTOR_KEY_LEN);
  /* Both HMACs read the same secret_input: fork the state after EXPs. */
  ntor_hmac_init(&verify_st, ntor_t_verify);
  crypto_auth_hmacsha256_update(&verify_st, exp, 2 * NTOR_KEY_LEN);
  ntor_suffix(&seed_st, node_id, B, X, Y);
  ntor_suffix(&verify_st, node_id, B, X, Y);
  crypto_auth_hmacsha256_final(&seed_st, key_seed);
  crypto_auth_hmacsha256_final(&verify_st, verify);

  ntor_hmac_init(&auth_st, ntor_t_mac);
  crypto_auth_hmacsha256_update(&auth_st, verify, sizeof verify);
  ntor_suffix(&auth_st, node_id, B, X, Y);
  crypto_auth_hmacsha256_update(&auth_st, (const unsigned char *)"Server", 6);
  crypto_auth_hmacsha256_final(&auth_st, auth);

  sodium_memzero(verify, sizeof verify);
  sodium_memzero(&seed_st, sizeof seed_st);
  sodium_memzero(&verify_st, sizeof verify_st);
  sodium_memzero(&auth_st, sizeof auth_st);
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
