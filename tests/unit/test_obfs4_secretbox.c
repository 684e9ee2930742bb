/* test_obfs4_secretbox: the per-direction box (cached HSalsa20 subkey,
 * OpenSSL's or libsodium's Poly1305) gives crypto_secretbox_detached()'s
 * bytes, opens what crypto_secretbox seals, in place and not, and refuses
 * any changed bit without touching its output. Every case runs twice: once
 * with whichever Poly1305 the process uses and once forced to libsodium's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#define OBFS4_BOX_PRIVATE
#include "transports/obfs4/secretbox.h"

#include "testutil.h"

#define MAX_LEN 1446 /* an obfs4 box's largest plaintext and more */

/* Lengths around the 32-byte head in block 0 and the 64-byte blocks. */
static const size_t edge_lens[] = {0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128,
                                   511, 512, 513, 1024, 1427, 1430, MAX_LEN};
static const uint64_t edge_counters[] = {1, 2, 0xff, 0x100, UINT64_C(0xffffffff),
                                         UINT64_C(0x100000000), UINT64_C(0xfffffffffffffffe),
                                         UINT64_C(0xffffffffffffffff)};

typedef struct {
  uint8_t key[32], prefix[16];
  obfs4_box_key_t box;
} keys_t;

static void keys_random(keys_t *k) {
  randombytes_buf(k->key, sizeof k->key);
  randombytes_buf(k->prefix, sizeof k->prefix);
  obfs4_box_key_init(&k->box, k->key, k->prefix);
}

/* crypto_secretbox_detached() with prefix || counter: tag, then ciphertext. */
static void reference_seal(const keys_t *k, uint64_t counter, uint8_t *box, const uint8_t *m,
                           size_t len) {
  uint8_t nonce[crypto_secretbox_NONCEBYTES];
  memcpy(nonce, k->prefix, 16);
  for (int i = 0; i < 8; i++)
    nonce[16 + i] = (uint8_t)(counter >> (56 - 8 * i));
  assert_int_equal(crypto_secretbox_detached(box + 16, box, m, len, nonce, k->key), 0);
}

/* Seals m both ways (into a separate box and in place) and opens both
 * ways, checking each against the reference. */
static void check_one(const keys_t *k, uint64_t counter, size_t len) {
  uint8_t m[MAX_LEN], want[16 + MAX_LEN], got[16 + MAX_LEN], out[MAX_LEN];
  randombytes_buf(m, len);
  reference_seal(k, counter, want, m, len);

  memset(got, 0xa5, sizeof got);
  obfs4_box_seal(&k->box, counter, got, m, len);
  if (memcmp(got, want, 16 + len) != 0)
    fail_msg("seal differs from crypto_secretbox: len %zu counter %llu", len,
             (unsigned long long)counter);

  memcpy(got + 16, m, len); /* in place */
  obfs4_box_seal(&k->box, counter, got, got + 16, len);
  if (memcmp(got, want, 16 + len) != 0)
    fail_msg("in-place seal differs: len %zu", len);

  memset(out, 0, sizeof out);
  assert_int_equal(obfs4_box_open(&k->box, counter, out, want, len), 0);
  if (len) /* cmocka compares no empty ranges */
    assert_memory_equal(out, m, len);
  assert_int_equal(obfs4_box_open(&k->box, counter, got + 16, got, len), 0);
  if (len)
    assert_memory_equal(got + 16, m, len);
}

static void run_matches_reference(void) {
  keys_t k;
  for (int round = 0; round < 4; round++) {
    keys_random(&k);
    for (size_t i = 0; i < sizeof edge_lens / sizeof edge_lens[0]; i++)
      for (size_t j = 0; j < sizeof edge_counters / sizeof edge_counters[0]; j++)
        check_one(&k, edge_counters[j], edge_lens[i]);
  }
  for (int round = 0; round < 300; round++) {
    keys_random(&k);
    uint64_t counter;
    randombytes_buf(&counter, sizeof counter);
    check_one(&k, counter, randombytes_uniform(MAX_LEN + 1));
  }
  obfs4_box_key_clear(&k.box);
}

/* A box with any one bit changed, or opened under another counter or key,
 * is refused and leaves the output alone. */
static void run_refuses_changes(void) {
  keys_t k, other;
  keys_random(&k);
  keys_random(&other);
  size_t lens[] = {0, 1, 32, 33, 100};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
    size_t len = lens[li];
    uint8_t m[100], box[116], out[100];
    randombytes_buf(m, len);
    obfs4_box_seal(&k.box, 7, box, m, len);
    for (size_t bit = 0; bit < 8 * (16 + len); bit++) {
      box[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      memset(out, 0x5a, sizeof out);
      if (obfs4_box_open(&k.box, 7, out, box, len) != -1)
        fail_msg("opened with bit %zu flipped (len %zu)", bit, len);
      for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0x5a);
      box[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(obfs4_box_open(&k.box, 8, out, box, len), -1);
    assert_int_equal(obfs4_box_open(&other.box, 7, out, box, len), -1);
    assert_int_equal(obfs4_box_open(&k.box, 7, out, box, len), 0);
  }
}

static void test_matches_reference(void **state) {
  (void)state;
  run_matches_reference();
}

static void test_matches_reference_sodium_poly1305(void **state) {
  (void)state;
  obfs4_box_force_sodium_poly1305(true);
  run_matches_reference();
  obfs4_box_force_sodium_poly1305(false);
}

static void test_refuses_changes(void **state) {
  (void)state;
  run_refuses_changes();
}

static void test_refuses_changes_sodium_poly1305(void **state) {
  (void)state;
  obfs4_box_force_sodium_poly1305(true);
  run_refuses_changes();
  obfs4_box_force_sodium_poly1305(false);
}

/* Debian's OpenSSL 3 has Poly1305: the fast path is the one tested above. */
static void test_openssl_poly1305_in_use(void **state) {
  (void)state;
  assert_true(obfs4_box_force_sodium_poly1305(false));
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openssl_poly1305_in_use),
      cmocka_unit_test(test_matches_reference),
      cmocka_unit_test(test_matches_reference_sodium_poly1305),
      cmocka_unit_test(test_refuses_changes),
      cmocka_unit_test(test_refuses_changes_sodium_poly1305),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
