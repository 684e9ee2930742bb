/* secretbox: see secretbox.h.
 *
 * The construction, as NaCl defines it: the first 32 bytes of the Salsa20
 * key stream are the Poly1305 key, the plaintext is XORed with the stream
 * from byte 32 on, the tag authenticates the ciphertext. Block 0 of the
 * stream covers the Poly1305 key and the first 32 message bytes, so it is
 * computed once into a local block; the rest starts at block 1. */
#define OBFS4_BOX_PRIVATE
#include "transports/obfs4/secretbox.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>

#include "lib/xalloc.h"

_Static_assert(OBFS4_BOX_TAG_LEN == crypto_onetimeauth_poly1305_BYTES, "Poly1305 tag");
_Static_assert(crypto_stream_salsa20_NONCEBYTES == 8, "Salsa20 nonce");

/* ---- Poly1305 ---- */

/* One context for the process, re-keyed for every tag: ptdispatch runs
 * one event-loop thread, and a context per direction would cost each
 * idle connection two OpenSSL allocations for nothing. */
static EVP_MAC_CTX *poly1305_ctx;
static pthread_once_t poly1305_once = PTHREAD_ONCE_INIT;
static bool poly1305_use_sodium;

static void poly1305_release(void) {
  EVP_MAC_CTX_free(poly1305_ctx);
  poly1305_ctx = NULL;
}

static void poly1305_fetch(void) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
  if (mac) {
    poly1305_ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
  }
  ERR_clear_error();
  /* Registered after the fetch initialised OpenSSL, so it runs before
   * OpenSSL's own cleanup at exit (see ntor.c). */
  if (poly1305_ctx && atexit(poly1305_release) != 0) {
    EVP_MAC_CTX_free(poly1305_ctx);
    poly1305_ctx = NULL;
  }
}

static void poly1305_tag(uint8_t tag[16], const uint8_t *m, size_t len, const uint8_t key[32]) {
  pthread_once(&poly1305_once, poly1305_fetch);
  if (!poly1305_ctx || poly1305_use_sodium) {
    crypto_onetimeauth_poly1305(tag, m, len, key);
    return;
  }
  size_t out_len = 0;
  if (EVP_MAC_init(poly1305_ctx, key, 32, NULL) != 1 || EVP_MAC_update(poly1305_ctx, m, len) != 1 ||
      EVP_MAC_final(poly1305_ctx, tag, &out_len, 16) != 1 || out_len != 16)
    xalloc_die(); /* only fails when out of memory */
}

bool obfs4_box_force_sodium_poly1305(bool force) {
  pthread_once(&poly1305_once, poly1305_fetch);
  poly1305_use_sodium = force;
  return poly1305_ctx != NULL;
}

/* ---- the box ---- */

void obfs4_box_key_init(obfs4_box_key_t *k, const uint8_t key[32], const uint8_t prefix[16]) {
  crypto_core_hsalsa20(k->subkey, prefix, key, NULL);
}

void obfs4_box_key_clear(obfs4_box_key_t *k) {
  sodium_memzero(k, sizeof *k);
}

static void counter_nonce(uint8_t n[8], uint64_t counter) {
  for (int i = 0; i < 8; i++)
    n[i] = (uint8_t)(counter >> (56 - 8 * i));
}

void obfs4_box_seal(const obfs4_box_key_t *k, uint64_t counter, uint8_t *box, const uint8_t *m,
                    size_t len) {
  uint8_t n[8], block0[64] = {0};
  counter_nonce(n, counter);
  size_t head = len < 32 ? len : 32;
  memcpy(block0 + 32, m, head);
  crypto_stream_salsa20_xor(block0, block0, 32 + head, n, k->subkey);
  uint8_t *c = box + OBFS4_BOX_TAG_LEN;
  /* m's head is in block0 now, so c may overwrite it. */
  memcpy(c, block0 + 32, head);
  if (len > 32)
    crypto_stream_salsa20_xor_ic(c + 32, m + 32, len - 32, n, 1, k->subkey);
  poly1305_tag(box, c, len, block0);
  sodium_memzero(block0, sizeof block0);
}

int obfs4_box_open(const obfs4_box_key_t *k, uint64_t counter, uint8_t *m, const uint8_t *box,
                   size_t len) {
  uint8_t n[8], block0[64], tag[16];
  counter_nonce(n, counter);
  crypto_stream_salsa20(block0, sizeof block0, n, k->subkey);
  const uint8_t *c = box + OBFS4_BOX_TAG_LEN;
  poly1305_tag(tag, c, len, block0);
  int bad = crypto_verify_16(tag, box);
  if (bad == 0) {
    size_t head = len < 32 ? len : 32;
    /* With m == c, block 0's bytes are XORed in before the rest moves. */
    for (size_t i = 0; i < head; i++)
      m[i] = c[i] ^ block0[32 + i];
    if (len > 32)
      crypto_stream_salsa20_xor_ic(m + 32, c + 32, len - 32, n, 1, k->subkey);
  }
  sodium_memzero(block0, sizeof block0);
  return bad == 0 ? 0 : -1;
}
