/* Unit tests for lib/hkdf: RFC 5869's test cases (A.1-A.3 SHA-256,
 * A.4-A.7 SHA-1), an empty IKM, and the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <sodium.h>

#include "lib/hkdf.h"

typedef struct {
  const char *digest;
  const char *ikm, *salt, *info, *okm; /* hex */
} hkdf_case_t;

/* RFC 5869 appendix A; salt "" in A.7 is its "not provided". */
static const hkdf_case_t rfc5869[] = {
    {"SHA256", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"SHA256",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"SHA256", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
    {"SHA1", "0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
     "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896"},
    {"SHA1",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe"
     "8fa3f1a4e5ad79f3f334b3b202b2173c486ea37ce3d397ed034c7f9dfeb15c5e"
     "927336d0441f4c4300e2cff0d0900b52d3b4"},
    {"SHA1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0ea00033de03984d34918"},
    {"SHA1", "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "", "",
     "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48"},
};

static size_t unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = 0;
  assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL), 0);
  return n;
}

static void run_case(const hkdf_case_t *c) {
  uint8_t ikm[128], salt[128], info[128], want[128], got[128];
  size_t ikmlen = unhex(ikm, sizeof ikm, c->ikm);
  size_t saltlen = unhex(salt, sizeof salt, c->salt);
  size_t infolen = unhex(info, sizeof info, c->info);
  size_t len = unhex(want, sizeof want, c->okm);

  assert_int_equal(hkdf(c->digest, salt, saltlen, ikm, ikmlen, info, infolen, got, len), 0);
  assert_memory_equal(got, want, len);
}

#define RFC_CASE(n)                                                                        \
  static void test_rfc5869_a##n(void **state) {                                            \
    run_case(&rfc5869[(n)-1]);                                                             \
  }
RFC_CASE(1)
RFC_CASE(2)
RFC_CASE(3)
RFC_CASE(4)
RFC_CASE(5)
RFC_CASE(6)
RFC_CASE(7)

/* An empty salt is the same as HashLen zero bytes (RFC 5869 2.2). */
static void test_empty_salt_is_zero_salt(void **state) {
  static const uint8_t ikm[] = "input keying material";
  uint8_t zeros[32] = {0}, a[64], b[64];
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, sizeof ikm, NULL, 0, a, sizeof a), 0);
  assert_int_equal(hkdf("SHA256", zeros, sizeof zeros, ikm, sizeof ikm, NULL, 0, b, sizeof b), 0);
  assert_memory_equal(a, b, sizeof a);
}

/* Computed with Python's hmac module from RFC 5869's definition. */
static void test_empty_ikm(void **state) {
  uint8_t want[32], got[32];
  unhex(want, sizeof want, "7aac7b8120501c2c8e1ee50e6cde135361e99ceb9d8d406ac528b9e9175614c0");
  assert_int_equal(
      hkdf("SHA256", (const uint8_t *)"salt", 4, NULL, 0, (const uint8_t *)"info", 4, got, 32), 0);
  assert_memory_equal(got, want, sizeof want);
}

/* A longer output starts with the shorter one (T(1) | T(2) | ...). */
static void test_output_prefix_stable(void **state) {
  static const uint8_t ikm[] = "k";
  uint8_t short_out[40], long_out[8160];
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, 1, NULL, 0, short_out, sizeof short_out), 0);
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, 1, NULL, 0, long_out, sizeof long_out), 0);
  assert_memory_equal(short_out, long_out, sizeof short_out);
}

static void test_refusals(void **state) {
  static const uint8_t ikm[] = "k";
  uint8_t out[255 * 32 + 1];

  /* 255 blocks is the most HKDF can give. */
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, 1, NULL, 0, out, 255 * 32), 0);
  memset(out, 0xaa, sizeof out);
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, 1, NULL, 0, out, 255 * 32 + 1), -1);
  for (size_t i = 0; i < sizeof out; i++)
    assert_int_equal(out[i], 0);
  assert_int_equal(hkdf("SHA1", NULL, 0, ikm, 1, NULL, 0, out, 255 * 20 + 1), -1);
  assert_int_equal(hkdf("NO-SUCH-DIGEST", NULL, 0, ikm, 1, NULL, 0, out, 32), -1);
  assert_int_equal(hkdf("SHA256", NULL, 0, ikm, 1, NULL, 0, out, 0), -1);
  /* Failures leave nothing on OpenSSL's error queue for a later TLS call
   * to trip over. */
  assert_int_equal(ERR_peek_error(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc5869_a1),  cmocka_unit_test(test_rfc5869_a2),
      cmocka_unit_test(test_rfc5869_a3),  cmocka_unit_test(test_rfc5869_a4),
      cmocka_unit_test(test_rfc5869_a5),  cmocka_unit_test(test_rfc5869_a6),
      cmocka_unit_test(test_rfc5869_a7),  cmocka_unit_test(test_empty_salt_is_zero_salt),
      cmocka_unit_test(test_empty_ikm),   cmocka_unit_test(test_output_prefix_stable),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
