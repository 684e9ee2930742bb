/* hkdf: see hkdf.h. Each call fetches the KDF and builds a context: the
 * transports derive keys once per connection, where this costs far less
 * than the key exchange before it. */
#include "lib/hkdf.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

/* OpenSSL refuses an octet-string parameter whose data pointer is NULL,
 * even at length 0, so empty inputs point here instead. */
static const uint8_t hkdf_empty[1];

static const void *hkdf_ptr(const uint8_t *p, size_t len) {
  return (len == 0 || p == NULL) ? hkdf_empty : p;
}

int hkdf(const char *digest, const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
         size_t ikmlen, const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) {
  int rc = -1;
  EVP_KDF *kdf = NULL;
  EVP_KDF_CTX *ctx = NULL;
  OSSL_PARAM params[5];
  size_t n = 0;

  if (outlen == 0)
    return -1;
  kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
  if (kdf == NULL)
    goto done;
  ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == NULL)
    goto done;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)hkdf_ptr(ikm, ikmlen),
                                                  ikmlen);
  /* An absent salt is the RFC's HashLen zero bytes; OpenSSL ignores an
   * empty one the same way, but say so explicitly. */
  if (saltlen > 0)
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
  if (infolen > 0)
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx, out, outlen, params) != 1)
    goto done;
  rc = 0;
done:
  if (rc != 0) {
    OPENSSL_cleanse(out, outlen);
    /* Left queued, OpenSSL's errors would be blamed on the next TLS call
     * that checks the queue. */
    ERR_clear_error();
  }
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return rc;
}
