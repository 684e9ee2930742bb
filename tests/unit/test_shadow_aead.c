/* test_shadow_aead: Shadowsocks' ciphers, keys and per-operation nonces
 * (ss_aead.c), each checked against a reference built here from OpenSSL's
 * primitives rather than against ss_aead's own code:
 *
 *   master key  EVP_BytesToKey(cipher, MD5, no salt, count 1), the very
 *               function the spec names;
 *   subkey      HKDF-SHA1 written out from HMAC per RFC 5869 (not
 *               lib/hkdf), itself checked on the RFC's SHA-1 vectors;
 *   AEAD        a fresh EVP context per operation, keyed with that subkey,
 *               its cipher picked from the EVP_* constructors by the
 *               spec's table (not from ss_cipher_t.evp_name), with the
 *               nonce spelled out byte by byte. ChaCha20-Poly1305 is also
 *               opened with libsodium, a second implementation, so a
 *               quirk shared by OpenSSL on both sides cannot hide.
 *
 * So a session whose output the reference opens uses the spec's key, the
 * spec's cipher and the spec's nonce; a session that opens what the
 * reference sealed agrees with it in the other direction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "transports/shadow/ss_aead.h"

#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const cipher_names[] = {"chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm"};

static const ss_cipher_t *cipher(size_t i) {
  const ss_cipher_t *c = ss_cipher_find(cipher_names[i]);
  assert_non_null(c);
  return c;
}

/* The spec's table, by id: what the reference uses for each cipher. */
static const EVP_CIPHER *ref_evp(ss_cipher_id_t id) {
  switch (id) {
  case SS_CHACHA20_IETF_POLY1305:
    return EVP_chacha20_poly1305();
  case SS_AES_256_GCM:
    return EVP_aes_256_gcm();
  case SS_AES_128_GCM:
    return EVP_aes_128_gcm();
  }
  fail_msg("unknown cipher id %d", (int)id);
  return NULL;
}

/* ---- the reference ---- */

/* HKDF-SHA1 (RFC 5869 section 2) from HMAC-SHA1: PRK = HMAC(salt, IKM),
 * T(i) = HMAC(PRK, T(i-1) | info | i). */
static void ref_hkdf_sha1(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                          const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) {
  uint8_t zero[20] = {0}, prk[20], t[20], msg[20 + 64 + 1];
  unsigned len = 0;
  assert_true(infolen <= 64 && outlen <= 255 * 20);
  if (saltlen == 0) { /* "not provided": HashLen zeros */
    salt = zero;
    saltlen = sizeof zero;
  }
  assert_non_null(HMAC(EVP_sha1(), salt, (int)saltlen, ikm, ikmlen, prk, &len));
  assert_int_equal(len, 20);
  size_t tlen = 0;
  for (uint8_t i = 1; outlen > 0; i++) {
    size_t m = 0;
    memcpy(msg, t, tlen);
    m += tlen;
    if (infolen > 0)
      memcpy(msg + m, info, infolen);
    m += infolen;
    msg[m++] = i;
    assert_non_null(HMAC(EVP_sha1(), prk, sizeof prk, msg, m, t, &len));
    assert_int_equal(len, 20);
    tlen = 20;
    size_t take = outlen < 20 ? outlen : 20;
    memcpy(out, t, take);
    out += take;
    outlen -= take;
  }
}

/* The spec's subkey: HKDF-SHA1(master, salt, "ss-subkey"), key_len bytes. */
static void ref_subkey(const ss_cipher_t *c, const uint8_t *master, const uint8_t *salt,
                       uint8_t subkey[SS_KEY_MAX]) {
  ref_hkdf_sha1(salt, c->key_len, master, c->key_len, (const uint8_t *)"ss-subkey", 9, subkey,
                c->key_len);
}

/* The spec's master key: OpenSSL's EVP_BytesToKey, MD5, no salt, one
 * round. */
static void ref_master(const ss_cipher_t *c, const uint8_t *pw, size_t pwlen,
                       uint8_t key[SS_KEY_MAX]) {
  uint8_t iv[EVP_MAX_IV_LENGTH];
  const EVP_CIPHER *evp = ref_evp(c->id);
  assert_int_equal(EVP_CIPHER_get_key_length(evp), (int)c->key_len);
  assert_int_equal(EVP_BytesToKey(evp, EVP_md5(), NULL, pw, (int)pwlen, 1, key, iv),
                   (int)c->key_len);
}

/* The little-endian nonce of the n-th operation. */
static void ref_nonce(uint64_t n, uint8_t nonce[SS_NONCE_LEN]) {
  memset(nonce, 0, SS_NONCE_LEN);
  for (int i = 0; i < 8; i++)
    nonce[i] = (uint8_t)(n >> (8 * i));
}

/* One AEAD operation with a context of its own. Sealing writes len bytes
 * and the tag to out and returns true; opening reads len bytes and the
 * tag from in and returns whether the tag matched. */
static bool ref_aead(const ss_cipher_t *c, const uint8_t *key, const uint8_t nonce[SS_NONCE_LEN],
                     bool encrypt, uint8_t *out, const uint8_t *in, size_t len) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, fin = 0;
  assert_non_null(ctx);
  assert_int_equal(EVP_CipherInit_ex(ctx, ref_evp(c->id), NULL, NULL, NULL, encrypt), 1);
  assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, SS_NONCE_LEN, NULL), 1);
  assert_int_equal(EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt), 1);
  assert_int_equal(EVP_CipherUpdate(ctx, out, &n, in, (int)len), 1);
  assert_int_equal((size_t)n, len);
  bool ok;
  if (encrypt) {
    assert_int_equal(EVP_CipherFinal_ex(ctx, out + n, &fin), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG_LEN, out + len), 1);
    ok = true;
  } else {
    uint8_t tag[SS_TAG_LEN];
    memcpy(tag, in + len, SS_TAG_LEN);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG_LEN, tag), 1);
    ok = EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;
  }
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

/* Opens with the reference, and for ChaCha20 with libsodium as well; the
 * two must agree. */
static bool ref_open(const ss_cipher_t *c, const uint8_t *key, const uint8_t nonce[SS_NONCE_LEN],
                     uint8_t *out, const uint8_t *in, size_t len) {
  bool ok = ref_aead(c, key, nonce, false, out, in, len);
  if (c->id == SS_CHACHA20_IETF_POLY1305) {
    uint8_t *m = malloc(len + 1);
    unsigned long long mlen = 0;
    assert_non_null(m);
    bool sodium_ok = crypto_aead_chacha20poly1305_ietf_decrypt(m, &mlen, NULL, in, len + SS_TAG_LEN,
                                                               NULL, 0, nonce, key) == 0;
    assert_int_equal(sodium_ok, ok);
    if (ok) {
      assert_int_equal(mlen, len);
      assert_memory_equal(m, out, len);
    }
    free(m);
  }
  return ok;
}

/* ---- fixtures ---- */

static const char test_password[] = "ptd-test-password";

/* A session of cipher c keyed from test_password and a salt made from
 * seed; the master key and salt are returned for the reference. */
static void session_for(ss_session_t *s, const ss_cipher_t *c, uint32_t seed, bool encrypt,
                        uint8_t master[SS_KEY_MAX], uint8_t salt[SS_SALT_MAX]) {
  test_fill_pattern(salt, SS_SALT_MAX, seed);
  assert_int_equal(ss_master_key(c, test_password, master), 0);
  assert_int_equal(ss_session_init(s, c, master, salt, encrypt), 0);
  assert_ptr_equal(s->cipher, c);
  assert_int_equal(s->encrypt, encrypt);
}

static void assert_nonce_is(const ss_session_t *s, uint64_t n) {
  uint8_t want[SS_NONCE_LEN];
  ref_nonce(n, want);
  assert_memory_equal(s->nonce, want, SS_NONCE_LEN);
}

/* ---- the cipher table ---- */

static void test_cipher_find(void **state) {
  (void)state;
  static const struct {
    const char *name;
    ss_cipher_id_t id;
    size_t key_len; /* the spec's table */
  } known[] = {
      {"chacha20-ietf-poly1305", SS_CHACHA20_IETF_POLY1305, 32},
      {"CHACHA20-IETF-POLY1305", SS_CHACHA20_IETF_POLY1305, 32},
      {"ChaCha20-IETF-Poly1305", SS_CHACHA20_IETF_POLY1305, 32},
      {"AEAD_CHACHA20_POLY1305", SS_CHACHA20_IETF_POLY1305, 32},
      {"aead_chacha20_poly1305", SS_CHACHA20_IETF_POLY1305, 32},
      {"aes-256-gcm", SS_AES_256_GCM, 32},
      {"AES-256-GCM", SS_AES_256_GCM, 32},
      {"Aes-256-Gcm", SS_AES_256_GCM, 32},
      {"AEAD_AES_256_GCM", SS_AES_256_GCM, 32},
      {"aead_aes_256_gcm", SS_AES_256_GCM, 32},
      {"aes-128-gcm", SS_AES_128_GCM, 16},
      {"AES-128-GCM", SS_AES_128_GCM, 16},
      {"aEs-128-gCm", SS_AES_128_GCM, 16},
      {"AEAD_AES_128_GCM", SS_AES_128_GCM, 16},
      {"Aead_Aes_128_Gcm", SS_AES_128_GCM, 16},
  };
  for (size_t i = 0; i < COUNT(known); i++) {
    const ss_cipher_t *c = ss_cipher_find(known[i].name);
    if (!c)
      fail_msg("\"%s\" not found", known[i].name);
    assert_int_equal(c->id, known[i].id);
    assert_int_equal(c->key_len, known[i].key_len);
    /* One entry per cipher, whatever it was called. */
    assert_ptr_equal(c, ss_cipher_find(cipher_names[known[i].id]));
    assert_true(c->key_len <= SS_KEY_MAX && c->key_len <= SS_SALT_MAX);
  }
  /* Each entry names itself both ways. */
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    assert_string_equal(c->name, cipher_names[i]);
    assert_ptr_equal(ss_cipher_find(c->spec_name), c);
    assert_contains(ss_cipher_names(), c->name);
  }
  static const char *const unknown[] = {
      "",
      "aes-192-gcm",
      "chacha20-poly1305", /* the name without -ietf is the 8-byte-nonce one */
      "xchacha20-ietf-poly1305",
      "aes-256-cfb", /* a stream cipher: not AEAD */
      "rc4-md5",
      "aes-256-gcm ",
      " aes-256-gcm",
      "aes-256-gcm\n",
      "aes_256_gcm",
      "AEAD_AES_256_GCM_",
      "AEAD_AES_256",
      "AEAD_CHACHA20_IETF_POLY1305",
      "aes-256",
      "chacha20-ietf-poly130",
      "none",
  };
  for (size_t i = 0; i < COUNT(unknown); i++)
    if (ss_cipher_find(unknown[i]))
      fail_msg("\"%s\" was found", unknown[i]);
  assert_null(ss_cipher_find(NULL));
}

/* ---- keys ---- */

static void test_master_key_is_evp_bytes_to_key(void **state) {
  (void)state;
  uint8_t long_pw[1001], all_bytes[256];
  memset(long_pw, 'p', sizeof long_pw - 1);
  long_pw[sizeof long_pw - 1] = '\0';
  for (size_t i = 0; i < 255; i++)
    all_bytes[i] = (uint8_t)(i + 1); /* 0x01..0xff: everything but NUL */
  all_bytes[255] = '\0';
  const char *const passwords[] = {
      "",
      "a",
      " ",
      "\x01",
      test_password,
      "0123456789abcdef",                           /* one MD5 block's worth */
      "0123456789abcdef0123456789abcdef",           /* two */
      "p\xc3\xa4ss\xe2\x80\xa8w\xf0\x9f\x94\x91rd", /* UTF-8, a line separator */
      "\xff\xfe\x80\x81\x7f",                       /* not UTF-8 at all */
      "pass word;with=separators\\,",
      (const char *)long_pw,
      (const char *)all_bytes,
  };
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    for (size_t k = 0; k < COUNT(passwords); k++) {
      uint8_t want[SS_KEY_MAX], got[SS_KEY_MAX];
      ref_master(c, (const uint8_t *)passwords[k], strlen(passwords[k]), want);
      /* Bytes past key_len are not the key's: mark them to see they stay. */
      memset(got, 0xa5, sizeof got);
      assert_int_equal(ss_master_key(c, passwords[k], got), 0);
      assert_memory_equal(got, want, c->key_len);
      for (size_t j = c->key_len; j < SS_KEY_MAX; j++)
        assert_int_equal(got[j], 0xa5);
    }
  }
  /* D1 = MD5(password) is the first half, so the 16-byte key is the
   * 32-byte one's prefix: the two key lengths take the same path. */
  uint8_t k16[SS_KEY_MAX], k32[SS_KEY_MAX], md5[16];
  assert_int_equal(ss_master_key(ss_cipher_find("aes-128-gcm"), test_password, k16), 0);
  assert_int_equal(ss_master_key(ss_cipher_find("aes-256-gcm"), test_password, k32), 0);
  assert_memory_equal(k16, k32, 16);
  unsigned mdlen = 0;
  assert_int_equal(EVP_Digest(test_password, strlen(test_password), md5, &mdlen, EVP_md5(), NULL),
                   1);
  assert_memory_equal(k32, md5, 16);
}

/* The reference HKDF on RFC 5869's SHA-1 cases (A.4, A.6, A.7), so it can
 * stand as the judge below. */
static void test_reference_hkdf_sha1(void **state) {
  (void)state;
  uint8_t ikm[22], salt[13], info[10], okm[42];
  static const uint8_t a4[42] = {0x08, 0x5a, 0x01, 0xea, 0x1b, 0x10, 0xf3, 0x69, 0x33, 0x06, 0x8b,
                                 0x56, 0xef, 0xa5, 0xad, 0x81, 0xa4, 0xf1, 0x4b, 0x82, 0x2f, 0x5b,
                                 0x09, 0x15, 0x68, 0xa9, 0xcd, 0xd4, 0xf1, 0x55, 0xfd, 0xa2, 0xc2,
                                 0x2e, 0x42, 0x24, 0x78, 0xd3, 0x05, 0xf3, 0xf8, 0x96};
  static const uint8_t a6[42] = {0x0a, 0xc1, 0xaf, 0x70, 0x02, 0xb3, 0xd7, 0x61, 0xd1, 0xe5, 0x52,
                                 0x98, 0xda, 0x9d, 0x05, 0x06, 0xb9, 0xae, 0x52, 0x05, 0x72, 0x20,
                                 0xa3, 0x06, 0xe0, 0x7b, 0x6b, 0x87, 0xe8, 0xdf, 0x21, 0xd0, 0xea,
                                 0x00, 0x03, 0x3d, 0xe0, 0x39, 0x84, 0xd3, 0x49, 0x18};
  static const uint8_t a7[42] = {0x2c, 0x91, 0x11, 0x72, 0x04, 0xd7, 0x45, 0xf3, 0x50, 0x0d, 0x63,
                                 0x6a, 0x62, 0xf6, 0x4f, 0x0a, 0xb3, 0xba, 0xe5, 0x48, 0xaa, 0x53,
                                 0xd4, 0x23, 0xb0, 0xd1, 0xf2, 0x7e, 0xbb, 0xa6, 0xf5, 0xe5, 0x67,
                                 0x3a, 0x08, 0x1d, 0x70, 0xcc, 0xe7, 0xac, 0xfc, 0x48};
  for (size_t i = 0; i < sizeof salt; i++)
    salt[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof info; i++)
    info[i] = (uint8_t)(0xf0 + i);
  memset(ikm, 0x0b, sizeof ikm);
  ref_hkdf_sha1(salt, sizeof salt, ikm, 11, info, sizeof info, okm, sizeof okm);
  assert_memory_equal(okm, a4, sizeof okm);
  ref_hkdf_sha1(NULL, 0, ikm, 22, NULL, 0, okm, sizeof okm);
  assert_memory_equal(okm, a6, sizeof okm);
  memset(ikm, 0x0c, sizeof ikm);
  ref_hkdf_sha1(NULL, 0, ikm, 22, NULL, 0, okm, sizeof okm);
  assert_memory_equal(okm, a7, sizeof okm);
}

/* A session seals with HKDF-SHA1(master, salt, "ss-subkey") and opens
 * what that key sealed, nonce 0 first. */
static void test_subkey_is_hkdf_sha1(void **state) {
  (void)state;
  static const char msg[] = "the first sealed message";
  const size_t len = sizeof msg - 1;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    for (uint32_t seed = 1; seed <= 4; seed++) {
      uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX], subkey[SS_KEY_MAX], nonce0[SS_NONCE_LEN];
      uint8_t sealed[sizeof msg + SS_TAG_LEN], opened[sizeof msg];
      ss_session_t enc, dec;
      session_for(&enc, c, seed, true, master, salt);
      ref_subkey(c, master, salt, subkey);
      ref_nonce(0, nonce0);

      assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)msg, len), 0);
      assert_true(ref_open(c, subkey, nonce0, opened, sealed, len));
      assert_memory_equal(opened, msg, len);
      /* Not the master key itself, nor a subkey without the salt. */
      assert_false(ref_aead(c, master, nonce0, false, opened, sealed, len));
      uint8_t other_salt[SS_SALT_MAX], other_subkey[SS_KEY_MAX];
      test_fill_pattern(other_salt, sizeof other_salt, seed + 100);
      ref_subkey(c, master, other_salt, other_subkey);
      assert_false(ref_aead(c, other_subkey, nonce0, false, opened, sealed, len));

      /* The other way: what the reference sealed, a session opens. */
      assert_true(ref_aead(c, subkey, nonce0, true, sealed, (const uint8_t *)msg, len));
      assert_int_equal(ss_session_init(&dec, c, master, salt, false), 0);
      assert_int_equal(ss_open(&dec, opened, sealed, len), 0);
      assert_memory_equal(opened, msg, len);
      ss_session_clear(&enc);
      ss_session_clear(&dec);
    }
  }
}

/* Only key_len bytes of the salt are the salt: AES-128-GCM's is 16. */
static void test_salt_is_key_len_bytes(void **state) {
  (void)state;
  const ss_cipher_t *c = ss_cipher_find("aes-128-gcm");
  uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX], sealed[4 + SS_TAG_LEN], opened[4];
  ss_session_t enc, dec;
  session_for(&enc, c, 7, true, master, salt);
  assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"salt", 4), 0);
  for (size_t i = c->key_len; i < SS_SALT_MAX; i++)
    salt[i] ^= 0xff;
  assert_int_equal(ss_session_init(&dec, c, master, salt, false), 0);
  assert_int_equal(ss_open(&dec, opened, sealed, 4), 0);
  assert_memory_equal(opened, "salt", 4);
  ss_session_clear(&enc);
  ss_session_clear(&dec);
}

/* ---- sealing and opening ---- */

static const size_t lengths[] = {0, 1, 2, 15, 16, 17, 1000, 0x3FFF};

static void test_roundtrip(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
    /* Two senders with the same key and nonces, one sealing in place. */
    ss_session_t enc, enc_in_place, dec, dec_in_place;
    session_for(&enc, c, 11, true, master, salt);
    session_for(&enc_in_place, c, 11, true, master, salt);
    session_for(&dec, c, 11, false, master, salt);
    session_for(&dec_in_place, c, 11, false, master, salt);
    for (size_t k = 0; k < COUNT(lengths); k++) {
      size_t len = lengths[k];
      uint8_t *m = test_pattern_new(len, (uint32_t)(len + 1));
      uint8_t *sealed = malloc(len + SS_TAG_LEN), *opened = malloc(len + 1);
      uint8_t *buf = malloc(len + SS_TAG_LEN);
      assert_non_null(sealed);
      assert_non_null(opened);
      assert_non_null(buf);
      memcpy(buf, m, len);

      assert_int_equal(ss_seal(&enc, sealed, m, len), 0);
      assert_int_equal(ss_seal(&enc_in_place, buf, buf, len), 0);
      assert_memory_equal(buf, sealed, len + SS_TAG_LEN);
      if (len >= 16)
        assert_memory_not_equal(sealed, m, len); /* it did encrypt */

      assert_int_equal(ss_open(&dec, opened, sealed, len), 0);
      assert_memory_equal(opened, m, len);
      assert_int_equal(ss_open(&dec_in_place, buf, buf, len), 0);
      assert_memory_equal(buf, m, len);
      /* One nonce step per operation, whatever the length. */
      assert_nonce_is(&enc, k + 1);
      assert_nonce_is(&dec, k + 1);
      free(m);
      free(sealed);
      free(opened);
      free(buf);
    }
    ss_session_clear(&enc);
    ss_session_clear(&enc_in_place);
    ss_session_clear(&dec);
    ss_session_clear(&dec_in_place);
  }
}

/* The n-th operation uses nonce n, little-endian: the reference opens the
 * 3rd message with {2, 0, ...}, and the 257th with {0, 1, 0, ...}, not
 * with the same counter big-endian. */
static void test_nonce_little_endian_per_operation(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX], subkey[SS_KEY_MAX];
    uint8_t sealed[258][5 + SS_TAG_LEN], opened[5], nonce[SS_NONCE_LEN];
    ss_session_t enc;
    session_for(&enc, c, 21, true, master, salt);
    ref_subkey(c, master, salt, subkey);
    for (size_t k = 0; k < COUNT(sealed); k++) {
      uint8_t m[5] = {'m', 's', 'g', (uint8_t)k, (uint8_t)(k >> 8)};
      assert_int_equal(ss_seal(&enc, sealed[k], m, sizeof m), 0);
    }
    assert_nonce_is(&enc, COUNT(sealed));

    static const uint8_t third[SS_NONCE_LEN] = {2};
    assert_true(ref_open(c, subkey, third, opened, sealed[2], 5));
    assert_memory_equal(opened, "msg\x02\x00", 5);
    static const uint8_t third_big_endian[SS_NONCE_LEN] = {[SS_NONCE_LEN - 1] = 2};
    assert_false(ref_aead(c, subkey, third_big_endian, false, opened, sealed[2], 5));
    /* The 3rd message is not under the 1st or 2nd nonce either. */
    ref_nonce(1, nonce);
    assert_false(ref_aead(c, subkey, nonce, false, opened, sealed[2], 5));

    /* The carry into the second byte. */
    static const uint8_t n256[SS_NONCE_LEN] = {0, 1};
    assert_true(ref_open(c, subkey, n256, opened, sealed[256], 5));
    assert_memory_equal(opened, "msg\x00\x01", 5);
    for (size_t k = 0; k < COUNT(sealed); k++) {
      ref_nonce(k, nonce);
      assert_true(ref_open(c, subkey, nonce, opened, sealed[k], 5));
    }
    ss_session_clear(&enc);
  }
}

/* The nonce runs through its 12 bytes; the last value is refused rather
 * than wrapped to the first. */
static void test_nonce_carry_and_end(void **state) {
  (void)state;
  const ss_cipher_t *c = cipher(0);
  uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX], subkey[SS_KEY_MAX], opened[1];
  uint8_t sealed[1 + SS_TAG_LEN];
  ss_session_t enc;
  session_for(&enc, c, 31, true, master, salt);
  ref_subkey(c, master, salt, subkey);

  /* 0xff in the first 11 bytes: the carry runs to the last. */
  uint8_t n[SS_NONCE_LEN];
  memset(n, 0xff, SS_NONCE_LEN - 1);
  n[SS_NONCE_LEN - 1] = 0x00;
  memcpy(enc.nonce, n, SS_NONCE_LEN);
  assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"a", 1), 0);
  assert_true(ref_open(c, subkey, n, opened, sealed, 1));
  static const uint8_t carried[SS_NONCE_LEN] = {[SS_NONCE_LEN - 1] = 1};
  assert_memory_equal(enc.nonce, carried, SS_NONCE_LEN);

  /* ff..fe is used once; ff..ff is never used, so no nonce repeats. */
  memset(n, 0xff, SS_NONCE_LEN);
  n[0] = 0xfe;
  memcpy(enc.nonce, n, SS_NONCE_LEN);
  assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"b", 1), 0);
  assert_true(ref_open(c, subkey, n, opened, sealed, 1));
  uint8_t before[sizeof sealed];
  memcpy(before, sealed, sizeof sealed);
  assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"c", 1), -1);
  assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"c", 1), -1);
  uint8_t all_ones[SS_NONCE_LEN];
  memset(all_ones, 0xff, sizeof all_ones);
  assert_memory_equal(enc.nonce, all_ones, SS_NONCE_LEN);
  ss_session_clear(&enc);

  ss_session_t dec;
  session_for(&dec, c, 31, false, master, salt);
  memset(dec.nonce, 0xff, SS_NONCE_LEN);
  assert_int_equal(ss_open(&dec, opened, before, 1), -1);
  ss_session_clear(&dec);
}

/* A flipped bit anywhere fails the open and uses no nonce: the correct
 * message still opens after every failed attempt, and so does the next. */
static void test_tamper_fails_without_advancing(void **state) {
  (void)state;
  static const size_t tamper_lengths[] = {0, 1, 33};
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    for (size_t t = 0; t < COUNT(tamper_lengths); t++) {
      size_t len = tamper_lengths[t];
      uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
      uint8_t m1[33], m2[33], s1[33 + SS_TAG_LEN], s2[33 + SS_TAG_LEN], opened[33];
      test_fill_pattern(m1, sizeof m1, 41);
      test_fill_pattern(m2, sizeof m2, 42);
      ss_session_t enc, dec;
      session_for(&enc, c, 51, true, master, salt);
      session_for(&dec, c, 51, false, master, salt);
      assert_int_equal(ss_seal(&enc, s1, m1, len), 0);
      assert_int_equal(ss_seal(&enc, s2, m2, len), 0);

      for (size_t bit = 0; bit < (len + SS_TAG_LEN) * 8; bit++) {
        uint8_t bad[33 + SS_TAG_LEN];
        memcpy(bad, s1, len + SS_TAG_LEN);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (ss_open(&dec, opened, bad, len) != -1)
          fail_msg("%s, length %zu: bit %zu flipped still opens", c->name, len, bit);
        assert_nonce_is(&dec, 0);
        /* In place, too. */
        assert_int_equal(ss_open(&dec, bad, bad, len), -1);
        assert_nonce_is(&dec, 0);
      }
      /* The second message does not open under the first nonce... */
      assert_int_equal(ss_open(&dec, opened, s2, len), -1);
      /* ...a shorter or longer reading of the first fails... */
      if (len > 0)
        assert_int_equal(ss_open(&dec, opened, s1, len - 1), -1);
      assert_nonce_is(&dec, 0);
      /* ...and the stream goes on as if nothing had happened. */
      assert_int_equal(ss_open(&dec, opened, s1, len), 0);
      assert_memory_equal(opened, m1, len);
      assert_int_equal(ss_open(&dec, opened, s2, len), 0);
      assert_memory_equal(opened, m2, len);
      assert_nonce_is(&dec, 2);
      ss_session_clear(&enc);
      ss_session_clear(&dec);
    }
  }
}

/* A session works one way only; the wrong call changes nothing. */
static void test_direction_is_fixed(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(cipher_names); i++) {
    const ss_cipher_t *c = cipher(i);
    uint8_t master[SS_KEY_MAX], salt[SS_SALT_MAX];
    uint8_t sealed[4 + SS_TAG_LEN], out[4 + SS_TAG_LEN], opened[4];
    ss_session_t enc, dec;
    session_for(&enc, c, 61, true, master, salt);
    session_for(&dec, c, 61, false, master, salt);
    assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"ping", 4), 0);

    memset(out, 0x5a, sizeof out);
    assert_int_equal(ss_open(&enc, out, sealed, 4), -1);
    assert_int_equal(ss_seal(&dec, out, (const uint8_t *)"pong", 4), -1);
    for (size_t k = 0; k < sizeof out; k++)
      assert_int_equal(out[k], 0x5a);
    assert_nonce_is(&enc, 1);
    assert_nonce_is(&dec, 0);

    /* Both still do what they are for. */
    assert_int_equal(ss_open(&dec, opened, sealed, 4), 0);
    assert_memory_equal(opened, "ping", 4);
    assert_int_equal(ss_seal(&enc, sealed, (const uint8_t *)"pong", 4), 0);
    assert_int_equal(ss_open(&dec, opened, sealed, 4), 0);
    assert_memory_equal(opened, "pong", 4);
    ss_session_clear(&enc);
    ss_session_clear(&dec);
    /* Cleared means wiped, the context gone with it. */
    ss_session_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&enc, &zero, sizeof zero);
  }
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cipher_find),
      cmocka_unit_test(test_master_key_is_evp_bytes_to_key),
      cmocka_unit_test(test_reference_hkdf_sha1),
      cmocka_unit_test(test_subkey_is_hkdf_sha1),
      cmocka_unit_test(test_salt_is_key_len_bytes),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_nonce_little_endian_per_operation),
      cmocka_unit_test(test_nonce_carry_and_end),
      cmocka_unit_test(test_tamper_fails_without_advancing),
      cmocka_unit_test(test_direction_is_fixed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
