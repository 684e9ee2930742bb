/* ss_aead: see ss_aead.h. */
#include "transports/shadow/ss_aead.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "lib/hkdf.h"

static const ss_cipher_t ss_ciphers[] = {
    {SS_CHACHA20_IETF_POLY1305, "chacha20-ietf-poly1305", "AEAD_CHACHA20_POLY1305", 32,
     "ChaCha20-Poly1305"},
    {SS_AES_256_GCM, "aes-256-gcm", "AEAD_AES_256_GCM", 32, "AES-256-GCM"},
    {SS_AES_128_GCM, "aes-128-gcm", "AEAD_AES_128_GCM", 16, "AES-128-GCM"},
};

#define SS_N_CIPHERS (sizeof ss_ciphers / sizeof ss_ciphers[0])

const ss_cipher_t *ss_cipher_find(const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < SS_N_CIPHERS; i++)
    if (strcasecmp(name, ss_ciphers[i].name) == 0 || strcasecmp(name, ss_ciphers[i].spec_name) == 0)
      return &ss_ciphers[i];
  return NULL;
}

const char *ss_cipher_names(void) {
  /* From the table, so a cipher added there is listed too. */
  static char names[128];
  if (!names[0])
    for (size_t i = 0; i < SS_N_CIPHERS; i++) {
      size_t n = strlen(names);
      snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", ss_ciphers[i].name);
    }
  return names;
}

int ss_master_key(const ss_cipher_t *c, const char *password, uint8_t key[SS_KEY_MAX]) {
  EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t d[16];
  size_t have = 0, pwlen = strlen(password);
  int rc = md5 && ctx ? 0 : -1;
  while (rc == 0 && have < c->key_len) {
    unsigned n = 0;
    if (EVP_DigestInit_ex2(ctx, md5, NULL) != 1 || (have > 0 && EVP_DigestUpdate(ctx, d, 16) != 1) ||
        EVP_DigestUpdate(ctx, password, pwlen) != 1 || EVP_DigestFinal_ex(ctx, d, &n) != 1 ||
        n != 16) {
      rc = -1;
      break;
    }
    size_t take = c->key_len - have < 16 ? c->key_len - have : 16;
    memcpy(key + have, d, take);
    have += take;
  }
  if (rc != 0) {
    OPENSSL_cleanse(key, SS_KEY_MAX);
    ERR_clear_error();
  }
  OPENSSL_cleanse(d, sizeof d);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md5);
  return rc;
}

static const uint8_t ss_subkey_info[] = "ss-subkey";

int ss_session_init(ss_session_t *s, const ss_cipher_t *c, const uint8_t *master,
                    const uint8_t *salt, bool encrypt) {
  memset(s, 0, sizeof *s);
  uint8_t subkey[SS_KEY_MAX];
  EVP_CIPHER *evp = NULL;
  EVP_CIPHER_CTX *ctx = NULL;
  int rc = -1;
  if (hkdf("SHA1", salt, c->key_len, master, c->key_len, ss_subkey_info,
           sizeof ss_subkey_info - 1, subkey, c->key_len) != 0)
    goto done;
  evp = EVP_CIPHER_fetch(NULL, c->evp_name, NULL);
  ctx = EVP_CIPHER_CTX_new();
  if (!evp || !ctx)
    goto done;
  /* The key is set once; each operation sets only the nonce (12 bytes is
   * the default IV length of all three). */
  if (EVP_CipherInit_ex2(ctx, evp, subkey, NULL, encrypt ? 1 : 0, NULL) != 1)
    goto done;
  s->cipher = c;
  s->ctx = ctx;
  s->encrypt = encrypt;
  ctx = NULL;
  rc = 0;
done:
  OPENSSL_cleanse(subkey, sizeof subkey);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(evp); /* the context keeps its own reference */
  if (rc != 0)
    ERR_clear_error();
  return rc;
}

void ss_session_clear(ss_session_t *s) {
  /* EVP_CIPHER_CTX_free wipes the key schedule it frees. */
  EVP_CIPHER_CTX_free(s->ctx);
  OPENSSL_cleanse(s, sizeof *s);
}

/* Little-endian increment; false once all 2^96 values are used. */
static bool nonce_next(uint8_t n[SS_NONCE_LEN]) {
  for (int i = 0; i < SS_NONCE_LEN; i++)
    if (++n[i] != 0)
      return true;
  return false;
}

static bool nonce_spent(const uint8_t n[SS_NONCE_LEN]) {
  /* All ones: the next increment wraps to the first nonce again. */
  for (int i = 0; i < SS_NONCE_LEN; i++)
    if (n[i] != 0xff)
      return false;
  return true;
}

int ss_seal(ss_session_t *s, uint8_t *out, const uint8_t *m, size_t len) {
  EVP_CIPHER_CTX *ctx = s->ctx;
  int n = 0, fin = 0;
  if (!s->encrypt || nonce_spent(s->nonce) || len > INT32_MAX)
    return -1;
  if (EVP_CipherInit_ex2(ctx, NULL, NULL, s->nonce, 1, NULL) != 1 ||
      EVP_CipherUpdate(ctx, out, &n, m, (int)len) != 1 ||
      EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG_LEN, out + len) != 1) {
    ERR_clear_error();
    return -1;
  }
  nonce_next(s->nonce);
  return 0;
}

int ss_open(ss_session_t *s, uint8_t *out, const uint8_t *c, size_t len) {
  EVP_CIPHER_CTX *ctx = s->ctx;
  int n = 0, fin = 0;
  uint8_t tag[SS_TAG_LEN];
  if (s->encrypt || nonce_spent(s->nonce) || len > INT32_MAX)
    return -1;
  /* The tag is read before anything is written, so out may be c. */
  memcpy(tag, c + len, SS_TAG_LEN);
  if (EVP_CipherInit_ex2(ctx, NULL, NULL, s->nonce, 0, NULL) != 1 ||
      EVP_CipherUpdate(ctx, out, &n, c, (int)len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG_LEN, tag) != 1 ||
      EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len) {
    ERR_clear_error();
    return -1;
  }
  nonce_next(s->nonce);
  return 0;
}
