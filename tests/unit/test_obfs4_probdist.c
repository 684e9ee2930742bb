/* test_obfs4_probdist: the weighted distributions' tables against
 * obfs4proxy's own (obfs4_vectors_framing.h), bit for bit; that the alias
 * tables encode the weights; sampling (range, membership, and
 * frequencies within a bound that a correct sampler misses with
 * probability far below 1e-9); and the shared tables' cache (one copy per
 * key, counted, bounded, freed). */
#include <math.h> /* fabs only: a builtin */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#define PROBDIST_PRIVATE
#include "transports/obfs4/probdist.h"

#include "obfs4_vectors_framing.h"
#include "testutil.h"

#define N_CASES (sizeof vec_probdist / sizeof vec_probdist[0])

static uint64_t bits_of(double f) {
  uint64_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* The tables (and the weights, when given) are obfs4proxy's, bit for bit. */
static void check_tables(const probdist_t *w, const double *weights, const vec_probdist_t *v) {
  assert_int_equal(w->min, v->min);
  assert_int_equal(w->max, v->max);
  assert_int_equal(w->biased, v->biased);
  assert_int_equal(w->n, v->n);
  for (int i = 0; i < v->n; i++) {
    assert_int_equal(w->values[i], v->values[i]);
    if (weights)
      assert_int_equal(bits_of(weights[i]), v->weights[i]);
    assert_int_equal(bits_of(w->prob[i]), v->prob[i]);
    assert_int_equal(w->alias[i], v->alias[i]);
  }
}

static void test_tables_match_obfs4proxy(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    probdist_t w;
    double weights[PROBDIST_MAX_VALUES];
    probdist_init_weights(&w, weights, vec_drbg_seed[v->seed], v->min, v->max, v->biased);
    check_tables(&w, weights, v);
    probdist_init(&w, vec_drbg_seed[v->seed], v->min, v->max, v->biased);
    check_tables(&w, NULL, v);
  }
}

/* Tables rebuilt from another seed: same as new. */
static void test_reset(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    probdist_t w;
    probdist_init(&w, vec_drbg_seed[2], v->min, v->max, v->biased);
    probdist_reset(&w, vec_drbg_seed[v->seed]);
    check_tables(&w, NULL, v);
  }
}

/* Each value's chance under the alias method: its own column's share
 * plus what other columns alias to it, equals its normalised weight. */
static void test_alias_tables_encode_weights(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    probdist_t w;
    double weights[PROBDIST_MAX_VALUES];
    probdist_init_weights(&w, weights, vec_drbg_seed[vec_probdist[c].seed], vec_probdist[c].min,
                          vec_probdist[c].max, vec_probdist[c].biased);
    double sum = 0.0, total = 0.0;
    for (int i = 0; i < w.n; i++)
      sum += weights[i];
    for (int i = 0; i < w.n; i++) {
      double p = w.prob[i];
      for (int j = 0; j < w.n; j++)
        if (j != i && w.alias[j] == i)
          p += 1.0 - w.prob[j];
      p /= w.n;
      total += p;
      assert_true(fabs(p - weights[i] / sum) < 1e-9);
      assert_true(w.prob[i] >= 0.0 && w.prob[i] <= 1.0);
      assert_true(w.alias[i] < w.n);
    }
    assert_true(fabs(total - 1.0) < 1e-9);
  }
}

#define N_SAMPLES 200000

static void test_sample_frequencies(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    probdist_t w;
    double weights[PROBDIST_MAX_VALUES];
    probdist_init_weights(&w, weights, vec_drbg_seed[v->seed], v->min, v->max, v->biased);
    static int count[1449];
    memset(count, 0, sizeof count);
    for (int k = 0; k < N_SAMPLES; k++) {
      int s = probdist_sample(&w);
      assert_true(s >= v->min && s <= v->max);
      count[s - v->min]++;
    }
    double sum = 0.0;
    int seen = 0;
    for (int i = 0; i < w.n; i++)
      sum += weights[i];
    for (int i = 0; i < w.n; i++) {
      double p = weights[i] / sum;
      double expect = p * N_SAMPLES;
      double var = N_SAMPLES * p * (1.0 - p);
      int got = count[w.values[i]];
      seen += got;
      /* Off by more than 7 sigma, plus slack for weights too small for
       * the normal law (squared: no libm). */
      double off = fabs(got - expect) - 5.0;
      if (off > 0 && off * off > 49.0 * var)
        fail_msg("case %zu value %d: %d samples, expected %.1f", c, w.values[i], got, expect);
    }
    /* Nothing outside the table's values. */
    assert_int_equal(seen, N_SAMPLES);
  }
}

/* Go panics on max <= min; we give a one-value distribution at min. */
static void test_degenerate_range(void **state) {
  (void)state;
  probdist_t w;
  probdist_init(&w, vec_drbg_seed[0], 7, 7, false);
  assert_int_equal(w.n, 1);
  for (int i = 0; i < 100; i++)
    assert_int_equal(probdist_sample(&w), 7);
  probdist_init(&w, vec_drbg_seed[0], 9, 3, true);
  assert_int_equal(w.n, 1);
  assert_int_equal(probdist_sample(&w), 9);
}

/* ---- shared tables ---- */

/* A seed of its own for each i (none of the vectors' seeds). */
static void seed_of(uint8_t seed[DRBG_SEED_LEN], int i) {
  memset(seed, 0xa5, DRBG_SEED_LEN);
  seed[0] = (uint8_t)i;
  seed[DRBG_SEED_LEN - 1] = (uint8_t)(i >> 8);
}

static int flush_setup(void **state) {
  (void)state;
  probdist_shared_flush();
  return probdist_shared_cached() == 0 ? 0 : -1;
}

/* Shared tables are the tables probdist_init builds, bit for bit. */
static void test_shared_tables_match(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    const probdist_t *w = probdist_shared_get(vec_drbg_seed[v->seed], v->min, v->max, v->biased);
    assert_non_null(w);
    check_tables(w, NULL, v);
    probdist_shared_put(w);
  }
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 0);
}

/* One copy per (seed, min, max, biased): the same key gives the same
 * tables, any other part of the key other tables. */
static void test_shared_one_copy_per_key(void **state) {
  (void)state;
  uint8_t seed[DRBG_SEED_LEN], other[DRBG_SEED_LEN];
  seed_of(seed, 1);
  seed_of(other, 2);
  const probdist_t *a = probdist_shared_get(seed, 0, 1448, false);
  const probdist_t *b = probdist_shared_get(seed, 0, 1448, false);
  assert_non_null(a);
  assert_ptr_equal(a, b);
  assert_int_equal(probdist_shared_cached(), 1);
  const probdist_t *d[4] = {
      probdist_shared_get(other, 0, 1448, false),
      probdist_shared_get(seed, 1, 1448, false),
      probdist_shared_get(seed, 0, 100, false),
      probdist_shared_get(seed, 0, 1448, true),
  };
  for (int i = 0; i < 4; i++) {
    assert_non_null(d[i]);
    assert_ptr_not_equal(d[i], a);
    for (int j = 0; j < i; j++)
      assert_ptr_not_equal(d[i], d[j]);
  }
  assert_int_equal(probdist_shared_cached(), 5);
  /* Held tables survive a flush; the last reference does not free a
   * cached one, a flush then does. */
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 5);
  probdist_shared_put(a);
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 5); /* b still holds it */
  probdist_shared_put(b);
  const probdist_t *again = probdist_shared_get(seed, 0, 1448, false);
  assert_ptr_equal(again, a); /* idle, still cached */
  probdist_shared_put(again);
  for (int i = 0; i < 4; i++)
    probdist_shared_put(d[i]);
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 0);
  probdist_shared_put(NULL);
}

/* More distinct tables in use than slots: the extra ones are private to
 * their holder and freed with the last reference (a leak would fail the
 * sanitizer build); idle ones make way for new ones, least recently used
 * first. */
static void test_shared_bounded(void **state) {
  (void)state;
  enum { EXTRA = 3, N = PROBDIST_CACHE_SLOTS + EXTRA };
  const probdist_t *held[N], *twice[N];
  uint8_t seed[DRBG_SEED_LEN];
  for (int i = 0; i < N; i++) {
    seed_of(seed, 100 + i);
    held[i] = probdist_shared_get(seed, 0, 1448, false);
    assert_non_null(held[i]);
    assert_int_equal(probdist_shared_cached(), i < PROBDIST_CACHE_SLOTS ? i + 1
                                                                         : PROBDIST_CACHE_SLOTS);
  }
  /* A second holder of an uncached table gets a copy of its own: the
   * same tables, not the same memory. */
  for (int i = 0; i < N; i++) {
    seed_of(seed, 100 + i);
    twice[i] = probdist_shared_get(seed, 0, 1448, false);
    assert_non_null(twice[i]);
    if (i < PROBDIST_CACHE_SLOTS)
      assert_ptr_equal(twice[i], held[i]);
    else
      assert_ptr_not_equal(twice[i], held[i]);
    assert_memory_equal(twice[i], held[i], sizeof *held[i]);
  }
  for (int i = 0; i < N; i++) {
    probdist_shared_put(held[i]);
    probdist_shared_put(twice[i]);
  }
  assert_int_equal(probdist_shared_cached(), PROBDIST_CACHE_SLOTS);

  /* All slots idle, released in order 0..7: a new key takes slot 0's
   * place, so key 0 is rebuilt while key 7 is still there. */
  seed_of(seed, 999);
  const probdist_t *fresh = probdist_shared_get(seed, 0, 1448, false);
  assert_int_equal(probdist_shared_cached(), PROBDIST_CACHE_SLOTS);
  seed_of(seed, 100 + PROBDIST_CACHE_SLOTS - 1);
  const probdist_t *kept = probdist_shared_get(seed, 0, 1448, false);
  assert_ptr_equal(kept, held[PROBDIST_CACHE_SLOTS - 1]);
  probdist_shared_put(kept);
  probdist_shared_put(fresh);
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 0);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables_match_obfs4proxy),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_alias_tables_encode_weights),
      cmocka_unit_test(test_sample_frequencies),
      cmocka_unit_test(test_degenerate_range),
      cmocka_unit_test_setup(test_shared_tables_match, flush_setup),
      cmocka_unit_test_setup(test_shared_one_copy_per_key, flush_setup),
      cmocka_unit_test_setup(test_shared_bounded, flush_setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
