/* test_obfs4_probdist: the weighted distributions' tables against
 * obfs4proxy's own (obfs4_vectors_framing.h), bit for bit; that the alias
 * tables encode the weights; and sampling (range, membership, and
 * frequencies within a bound that a correct sampler misses with
 * probability far below 1e-9). */
#include <math.h> /* fabs only: a builtin */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "transports/obfs4/probdist.h"

#include "obfs4_vectors_framing.h"
#include "testutil.h"

#define N_CASES (sizeof vec_probdist / sizeof vec_probdist[0])

static uint64_t bits_of(double f) {
  uint64_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

static void check_tables(const probdist_t *w, const vec_probdist_t *v) {
  assert_int_equal(w->min, v->min);
  assert_int_equal(w->max, v->max);
  assert_int_equal(w->biased, v->biased);
  assert_int_equal(w->n, v->n);
  for (int i = 0; i < v->n; i++) {
    assert_int_equal(w->values[i], v->values[i]);
    assert_int_equal(bits_of(w->weights[i]), v->weights[i]);
    assert_int_equal(bits_of(w->prob[i]), v->prob[i]);
    assert_int_equal(w->alias[i], v->alias[i]);
  }
}

static void test_tables_match_obfs4proxy(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    probdist_t w;
    probdist_init(&w, vec_drbg_seed[v->seed], v->min, v->max, v->biased);
    check_tables(&w, v);
  }
}

/* A client rebuilds its tables from the server's seed: same as new. */
static void test_reset(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    const vec_probdist_t *v = &vec_probdist[c];
    probdist_t w;
    probdist_init(&w, vec_drbg_seed[2], v->min, v->max, v->biased);
    probdist_reset(&w, vec_drbg_seed[v->seed]);
    check_tables(&w, v);
  }
}

/* Each value's chance under the alias method: its own column's share
 * plus what other columns alias to it, equals its normalised weight. */
static void test_alias_tables_encode_weights(void **state) {
  (void)state;
  for (size_t c = 0; c < N_CASES; c++) {
    probdist_t w;
    probdist_init(&w, vec_drbg_seed[vec_probdist[c].seed], vec_probdist[c].min,
                  vec_probdist[c].max, vec_probdist[c].biased);
    double sum = 0.0, total = 0.0;
    for (int i = 0; i < w.n; i++)
      sum += w.weights[i];
    for (int i = 0; i < w.n; i++) {
      double p = w.prob[i];
      for (int j = 0; j < w.n; j++)
        if (j != i && w.alias[j] == i)
          p += 1.0 - w.prob[j];
      p /= w.n;
      total += p;
      assert_true(fabs(p - w.weights[i] / sum) < 1e-9);
      assert_true(w.prob[i] >= 0.0 && w.prob[i] <= 1.0);
      assert_true(w.alias[i] >= 0 && w.alias[i] < w.n);
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
    probdist_init(&w, vec_drbg_seed[v->seed], v->min, v->max, v->biased);
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
      sum += w.weights[i];
    for (int i = 0; i < w.n; i++) {
      double p = w.weights[i] / sum;
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

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables_match_obfs4proxy),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_alias_tables_encode_weights),
      cmocka_unit_test(test_sample_frequencies),
      cmocka_unit_test(test_degenerate_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
