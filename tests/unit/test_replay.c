/* Unit tests for lib/replay: obfs4proxy's TestAndSet
 * semantics (no refresh on a hit, expiry after the TTL, the oldest dropped
 * on every call while full, emptied when the clock goes back), growth, and a
 * randomised comparison with a plain model of the same rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/replay.h"

/* obfs4's parameters, whose rules these are. */
#define REPLAY_TTL_S (3 * 3600)
#define REPLAY_MAX_ENTRIES (100 * 1024)
#define REPLAY_KEY_LEN 16

static void key_of(uint8_t key[REPLAY_KEY_LEN], uint32_t n) {
  memset(key, 0, REPLAY_KEY_LEN);
  memcpy(key, &n, sizeof n);
}

static bool tas(replay_filter_t *rf, uint64_t now, uint32_t n) {
  uint8_t key[REPLAY_KEY_LEN];
  key_of(key, n);
  return replay_filter_test_and_set(rf, now, key, sizeof key);
}

static void test_hit_and_miss(void **state) {
  replay_filter_t *rf = replay_filter_new(REPLAY_MAX_ENTRIES, REPLAY_TTL_S);
  assert_int_equal(replay_filter_count(rf), 0);
  assert_false(tas(rf, 100, 1));
  assert_true(tas(rf, 100, 1));
  assert_false(tas(rf, 101, 2));
  assert_true(tas(rf, 102, 1));
  assert_true(tas(rf, 102, 2));
  assert_int_equal(replay_filter_count(rf), 2);
  replay_filter_free(rf);
  replay_filter_free(NULL);
}

/* An entry lives REPLAY_TTL_S from when it was first seen; a hit does not
 * extend that. After it expires the key is new again. */
static void test_ttl_not_refreshed(void **state) {
  replay_filter_t *rf = replay_filter_new(16, REPLAY_TTL_S);
  assert_false(tas(rf, 1000, 7));
  assert_true(tas(rf, 1000 + REPLAY_TTL_S - 1, 7));
  assert_false(tas(rf, 1000 + REPLAY_TTL_S, 7));
  assert_true(tas(rf, 1000 + 2 * REPLAY_TTL_S - 1, 7));
  assert_int_equal(replay_filter_count(rf), 1);
  replay_filter_free(rf);
}

/* Expired entries go, oldest first, whatever key is asked for. */
static void test_expiry_in_order(void **state) {
  replay_filter_t *rf = replay_filter_new(16, REPLAY_TTL_S);
  assert_false(tas(rf, 0, 1));
  assert_false(tas(rf, 100, 2));
  assert_false(tas(rf, 200, 3));
  assert_true(tas(rf, REPLAY_TTL_S + 150, 3));
  assert_int_equal(replay_filter_count(rf), 1);
  assert_false(tas(rf, REPLAY_TTL_S + 150, 2));
  replay_filter_free(rf);
}

/* Full (max_entries held), each call first drops the oldest entry, as
 * obfs4proxy's compaction does, hit or miss: so a full filter forgets its
 * oldest key even when that very key is asked for. */
static void test_capacity_evicts_oldest(void **state) {
  replay_filter_t *rf = replay_filter_new(4, REPLAY_TTL_S);
  for (uint32_t i = 0; i < 4; i++)
    assert_false(tas(rf, 10, i));
  assert_int_equal(replay_filter_count(rf), 4);
  assert_false(tas(rf, 11, 4)); /* drops 0: 1 2 3 4 */
  assert_int_equal(replay_filter_count(rf), 4);
  assert_true(tas(rf, 12, 2)); /* drops 1: 2 3 4 */
  assert_int_equal(replay_filter_count(rf), 3);
  assert_true(tas(rf, 12, 3));
  assert_true(tas(rf, 12, 4));
  assert_false(tas(rf, 12, 1)); /* 2 3 4 1 */
  assert_false(tas(rf, 12, 0)); /* drops 2: 3 4 1 0 */
  assert_false(tas(rf, 12, 3)); /* drops 3, the key asked for: 4 1 0 3 */
  assert_int_equal(replay_filter_count(rf), 4);
  replay_filter_free(rf);
}

/* The smallest filter: with room for two, it remembers one key. */
static void test_small_capacity(void **state) {
  replay_filter_t *rf = replay_filter_new(0, REPLAY_TTL_S);
  assert_false(tas(rf, 1, 1));
  assert_true(tas(rf, 1, 1));
  assert_false(tas(rf, 1, 2)); /* full: 1 2 */
  assert_false(tas(rf, 1, 1)); /* drops 1 */
  assert_int_equal(replay_filter_count(rf), 2);
  replay_filter_free(rf);
}

/* A clock that went back behind the oldest entry empties the filter. */
static void test_clock_back_resets(void **state) {
  replay_filter_t *rf = replay_filter_new(16, REPLAY_TTL_S);
  assert_false(tas(rf, 5000, 1));
  assert_false(tas(rf, 5001, 2));
  assert_false(tas(rf, 4999, 3));
  assert_int_equal(replay_filter_count(rf), 1);
  assert_false(tas(rf, 4999, 1));
  replay_filter_free(rf);
}

/* Many entries: the ring and table grow and every key is still found. */
static void test_growth(void **state) {
  const uint32_t n = REPLAY_MAX_ENTRIES;
  replay_filter_t *rf = replay_filter_new(n, REPLAY_TTL_S);
  for (uint32_t i = 0; i < n - 1; i++)
    assert_false(tas(rf, 1, i));
  for (uint32_t i = 0; i < n - 1; i++)
    assert_true(tas(rf, 2, i));
  assert_int_equal(replay_filter_count(rf), n - 1);
  assert_false(tas(rf, 3, n - 1)); /* now full */
  assert_int_equal(replay_filter_count(rf), n);
  assert_true(tas(rf, 3, 2)); /* drops 0 */
  assert_true(tas(rf, 3, n - 1));
  assert_false(tas(rf, 3, 0));
  replay_filter_free(rf);
}

/* ---- a model: obfs4proxy's list, the slow way ---- */

typedef struct {
  uint32_t key;
  uint64_t first;
} model_entry_t;

typedef struct {
  model_entry_t *e;
  size_t n, max;
} model_t;

static void model_drop_front(model_t *m) {
  memmove(m->e, m->e + 1, (m->n - 1) * sizeof *m->e);
  m->n--;
}

static bool model_tas(model_t *m, uint64_t now, uint32_t key) {
  while (m->n > 0) {
    if (m->n < m->max) {
      if (now < m->e[0].first) {
        m->n = 0;
        break;
      }
      if (now - m->e[0].first < REPLAY_TTL_S)
        break;
    }
    model_drop_front(m);
  }
  for (size_t i = 0; i < m->n; i++)
    if (m->e[i].key == key)
      return true;
  m->e[m->n].key = key;
  m->e[m->n].first = now;
  m->n++;
  return false;
}

/* Random keys from a small pool (so hits happen), random time steps
 * (mostly forward, now and then back), several capacities: the filter
 * answers as the model does, every time. */
static void test_matches_model(void **state) {
  static const size_t caps[] = {2, 3, 37, 64, 65, 200};
  uint32_t rng = 12345;
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
    model_t m = {calloc(caps[c] + 1, sizeof(model_entry_t)), 0, caps[c]};
    replay_filter_t *rf = replay_filter_new(caps[c], REPLAY_TTL_S);
    uint64_t now = 1000000;
    assert_non_null(m.e);
    for (int step = 0; step < 20000; step++) {
      rng = rng * 1103515245u + 12345u;
      uint32_t r = rng >> 8;
      uint32_t key = r % (uint32_t)(caps[c] * 3 + 2);
      if (r % 1000 == 0)
        now -= 500;
      else
        now += (r >> 10) % 40;
      bool want = model_tas(&m, now, key);
      bool got = tas(rf, now, key);
      if (want != got)
        fail_msg("cap %zu step %d key %u: filter %d, model %d", caps[c], step, key, got, want);
      assert_int_equal(replay_filter_count(rf), m.n);
    }
    replay_filter_free(rf);
    free(m.e);
  }
}

/* shadow's use: 32-byte salts that never expire; only the bound ages
 * them out. Keys differing in length or in their last byte differ. */
static void test_forever_any_length(void **state) {
  replay_filter_t *rf = replay_filter_new(3, REPLAY_TTL_FOREVER);
  uint8_t salt[32] = {0};
  assert_false(replay_filter_test_and_set(rf, 10, salt, sizeof salt));
  assert_true(replay_filter_test_and_set(rf, UINT64_C(1) << 62, salt, sizeof salt));
  assert_false(replay_filter_test_and_set(rf, UINT64_C(1) << 62, salt, 16));
  salt[31] = 1;
  assert_false(replay_filter_test_and_set(rf, UINT64_C(1) << 62, salt, sizeof salt));
  /* Full (3): each call drops the oldest first, so the first salt is gone. */
  salt[31] = 0;
  assert_false(replay_filter_test_and_set(rf, UINT64_C(1) << 62, salt, sizeof salt));
  replay_filter_free(rf);
}

static int setup(void **state) {
  return sodium_init() < 0 ? -1 : 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_and_miss),
      cmocka_unit_test(test_ttl_not_refreshed),
      cmocka_unit_test(test_expiry_in_order),
      cmocka_unit_test(test_capacity_evicts_oldest),
      cmocka_unit_test(test_small_capacity),
      cmocka_unit_test(test_clock_back_resets),
      cmocka_unit_test(test_growth),
      cmocka_unit_test(test_matches_model),
      cmocka_unit_test(test_forever_any_length),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
