/* probdist: obfs4proxy's WeightedDist, table for table (see probdist.h).
 *
 * Building the tables draws from math/rand over the seed's DRBG in
 * obfs4proxy's order: Perm(max - min + 1), Intn(how many values), then
 * one Float64 per weight. The floating-point steps are the same
 * operations in the same order as the Go code, so the weights, the
 * scaled probabilities and hence the alias tables come out bit-identical
 * (C11 without extensions does not contract a*b+c into FMA).
 * Sampling is the alias method with the system CSPRNG. */
#include "transports/obfs4/probdist.h"

#include <limits.h>
#include <string.h>

#include <sodium.h>

static void gen_values(probdist_t *w, drbg_t *d) {
  long long span = (long long)w->max - w->min + 1;
  if (span < 1 || span > INT_MAX) {
    /* Outside what obfs4 asks for (Go panics on max <= min): one value. */
    w->n = 1;
    w->values[0] = 0;
    return;
  }
  int n = span > PROBDIST_MAX_VALUES ? PROBDIST_MAX_VALUES : (int)span;
  drbg_go_perm_prefix(d, w->values, n, (int)span);
  w->n = drbg_go_intn(d, n) + 1;
}

/* ScrambleSuit's shape: each weight a random share of what is left. */
static void gen_biased_weights(probdist_t *w, drbg_t *d) {
  double culm = 0.0;
  for (int i = 0; i < w->n; i++) {
    double p = (1.0 - culm) * drbg_go_float64(d);
    w->weights[i] = p;
    culm += p;
  }
}

static void gen_uniform_weights(probdist_t *w, drbg_t *d) {
  for (int i = 0; i < w->n; i++)
    w->weights[i] = drbg_go_float64(d);
}

/* A FIFO of indices. An index is pushed once at first and once more each
 * time it is the large one of a pairing (at most n - 1 pairings), so 2n
 * slots never overflow. */
typedef struct {
  int items[2 * PROBDIST_MAX_VALUES];
  int head, tail;
} idx_queue_t;

static void q_push(idx_queue_t *q, int i) {
  q->items[q->tail++] = i;
}

static int q_pop(idx_queue_t *q) {
  return q->items[q->head++];
}

static int q_len(const idx_queue_t *q) {
  return q->tail - q->head;
}

/* Vose's alias method, with obfs4proxy's list order and its rounding. */
static void gen_tables(probdist_t *w) {
  int n = w->n;
  double sum = 0.0;
  for (int i = 0; i < n; i++)
    sum += w->weights[i];

  double scaled[PROBDIST_MAX_VALUES];
  idx_queue_t small = {.head = 0, .tail = 0}, large = {.head = 0, .tail = 0};
  memset(w->alias, 0, sizeof w->alias);
  memset(w->prob, 0, sizeof w->prob);
  for (int i = 0; i < n; i++) {
    scaled[i] = w->weights[i] * (double)n / sum;
    q_push(scaled[i] < 1.0 ? &small : &large, i);
  }
  while (q_len(&small) > 0 && q_len(&large) > 0) {
    int l = q_pop(&small), g = q_pop(&large);
    w->prob[l] = scaled[l];
    w->alias[l] = g;
    scaled[g] = (scaled[g] + scaled[l]) - 1.0;
    q_push(scaled[g] < 1.0 ? &small : &large, g);
  }
  while (q_len(&large) > 0)
    w->prob[q_pop(&large)] = 1.0;
  /* Left over only through rounding. */
  while (q_len(&small) > 0)
    w->prob[q_pop(&small)] = 1.0;
}

void probdist_init(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                   bool biased) {
  memset(w, 0, sizeof *w);
  w->min = min;
  w->max = max;
  w->biased = biased;
  probdist_reset(w, seed);
}

void probdist_reset(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN]) {
  drbg_t d;
  drbg_init(&d, seed);
  memset(w->values, 0, sizeof w->values);
  memset(w->weights, 0, sizeof w->weights);
  gen_values(w, &d);
  if (w->biased)
    gen_biased_weights(w, &d);
  else
    gen_uniform_weights(w, &d);
  gen_tables(w);
  sodium_memzero(&d, sizeof d);
}

int probdist_sample(const probdist_t *w) {
  /* One call to the system CSPRNG per sample (it is a syscall each):
   * 64 bits pick the column, 53 more the coin. Columns come from
   * rejection sampling, so they are exactly uniform; a redraw happens
   * with probability below n / 2^64. */
  uint64_t n = (uint64_t)w->n, r[2];
  uint64_t reject_below = (0 - n) % n; /* 2^64 mod n */
  do
    randombytes_buf(r, sizeof r);
  while (r[0] < reject_below);
  int i = (int)(r[0] % n);
  double coin = (double)(r[1] >> 11) * 0x1.0p-53; /* uniform in [0, 1) */
  int idx = coin <= w->prob[i] ? i : w->alias[i];
  return w->min + w->values[idx];
}
