/* probdist: obfs4proxy's WeightedDist, table for table (see probdist.h).
 *
 * Building the tables draws from math/rand over the seed's DRBG in
 * obfs4proxy's order: Perm(max - min + 1), Intn(how many values), then
 * one Float64 per weight. The floating-point steps are the same
 * operations in the same order as the Go code, so the weights, the
 * scaled probabilities and hence the alias tables come out bit-identical
 * (C11 without extensions does not contract a*b+c into FMA).
 * Sampling is the alias method with the system CSPRNG.
 *
 * The shared tables live in a fixed array of slots, with no lock:
 * ptdispatch runs one event loop on one thread. Each entry is counted,
 * and one nobody holds stays until its slot is wanted for other tables or
 * probdist_shared_flush, which also runs at exit. */
#define PROBDIST_PRIVATE
#include "transports/obfs4/probdist.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
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
static void gen_biased_weights(const probdist_t *w, double *weights, drbg_t *d) {
  double culm = 0.0;
  for (int i = 0; i < w->n; i++) {
    double p = (1.0 - culm) * drbg_go_float64(d);
    weights[i] = p;
    culm += p;
  }
}

static void gen_uniform_weights(const probdist_t *w, double *weights, drbg_t *d) {
  for (int i = 0; i < w->n; i++)
    weights[i] = drbg_go_float64(d);
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
static void gen_tables(probdist_t *w, const double *weights) {
  int n = w->n;
  double sum = 0.0;
  for (int i = 0; i < n; i++)
    sum += weights[i];

  double scaled[PROBDIST_MAX_VALUES];
  idx_queue_t small = {.head = 0, .tail = 0}, large = {.head = 0, .tail = 0};
  memset(w->alias, 0, sizeof w->alias);
  memset(w->prob, 0, sizeof w->prob);
  for (int i = 0; i < n; i++) {
    scaled[i] = weights[i] * (double)n / sum;
    q_push(scaled[i] < 1.0 ? &small : &large, i);
  }
  while (q_len(&small) > 0 && q_len(&large) > 0) {
    int l = q_pop(&small), g = q_pop(&large);
    w->prob[l] = scaled[l];
    w->alias[l] = (uint8_t)g; /* g < n <= 100 */
    scaled[g] = (scaled[g] + scaled[l]) - 1.0;
    q_push(scaled[g] < 1.0 ? &small : &large, g);
  }
  while (q_len(&large) > 0)
    w->prob[q_pop(&large)] = 1.0;
  /* Left over only through rounding. */
  while (q_len(&small) > 0)
    w->prob[q_pop(&small)] = 1.0;
}

static void build(probdist_t *w, double weights[PROBDIST_MAX_VALUES],
                  const uint8_t seed[DRBG_SEED_LEN]) {
  drbg_t d;
  drbg_init(&d, seed);
  memset(w->values, 0, sizeof w->values);
  memset(weights, 0, PROBDIST_MAX_VALUES * sizeof *weights);
  gen_values(w, &d);
  if (w->biased)
    gen_biased_weights(w, weights, &d);
  else
    gen_uniform_weights(w, weights, &d);
  gen_tables(w, weights);
  sodium_memzero(&d, sizeof d);
}

void probdist_init_weights(probdist_t *w, double weights[PROBDIST_MAX_VALUES],
                           const uint8_t seed[DRBG_SEED_LEN], int min, int max, bool biased) {
  memset(w, 0, sizeof *w);
  w->min = min;
  w->max = max;
  w->biased = biased;
  build(w, weights, seed);
}

void probdist_init(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                   bool biased) {
  double weights[PROBDIST_MAX_VALUES];
  probdist_init_weights(w, weights, seed, min, max, biased);
}

void probdist_reset(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN]) {
  double weights[PROBDIST_MAX_VALUES];
  build(w, weights, seed);
}

int probdist_sample(const probdist_t *w) {
  /* A column, exactly uniform (randombytes_uniform rejects the biased
   * top), then a 53-bit coin. randombytes_random is what libsodium's
   * buffered generator serves from its pool, without a system call. */
  int i = (int)randombytes_uniform((uint32_t)w->n);
  uint64_t bits = (uint64_t)randombytes_random() << 21 | randombytes_random() >> 11;
  double coin = (double)bits * 0x1.0p-53; /* uniform in [0, 1) */
  int idx = coin <= w->prob[i] ? i : w->alias[i];
  return w->min + w->values[idx];
}

/* ---- shared tables ---- */

typedef struct {
  probdist_t dist; /* first: a holder's pointer is the entry's */
  uint8_t seed[DRBG_SEED_LEN];
  unsigned refs;
  bool cached;        /* in a slot (else freed with its last reference) */
  uint64_t last_used; /* when the last reference went, for eviction */
} probdist_entry_t;

static probdist_entry_t *cache[PROBDIST_CACHE_SLOTS];
static uint64_t cache_clock;
static pthread_once_t cache_atexit_once = PTHREAD_ONCE_INIT;
static bool cache_usable; /* the exit flush is registered */

/* Idle tables freed at exit, so that a leak checker sees only what
 * someone still holds. Without that registration nothing is cached:
 * every table is freed with its last reference. */
static void cache_register_atexit(void) {
  cache_usable = atexit(probdist_shared_flush) == 0;
}

static void entry_free(probdist_entry_t *e) {
  if (!e)
    return;
  sodium_memzero(e, sizeof *e);
  free(e);
}

static bool entry_matches(const probdist_entry_t *e, const uint8_t seed[DRBG_SEED_LEN], int min,
                          int max, bool biased) {
  return e && e->dist.min == min && e->dist.max == max && e->dist.biased == biased &&
         memcmp(e->seed, seed, DRBG_SEED_LEN) == 0;
}

/* A cached entry for these tables, with one more reference; NULL if none. */
static probdist_entry_t *cache_take(const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                                    bool biased) {
  for (int i = 0; i < PROBDIST_CACHE_SLOTS; i++) {
    if (entry_matches(cache[i], seed, min, max, biased)) {
      cache[i]->refs++;
      return cache[i];
    }
  }
  return NULL;
}

/* Puts e in an empty slot or in that of the least recently used entry
 * nobody holds, which is returned to be freed; if every slot is held, e
 * stays outside. */
static probdist_entry_t *cache_insert(probdist_entry_t *e) {
  int slot = -1;
  if (!cache_usable)
    return NULL;
  for (int i = 0; i < PROBDIST_CACHE_SLOTS; i++) {
    if (!cache[i]) {
      slot = i;
      break;
    }
    if (cache[i]->refs == 0 && (slot < 0 || cache[i]->last_used < cache[slot]->last_used))
      slot = i;
  }
  if (slot < 0)
    return NULL;
  probdist_entry_t *evicted = cache[slot];
  cache[slot] = e;
  e->cached = true;
  return evicted;
}

const probdist_t *probdist_shared_get(const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                                      bool biased) {
  probdist_entry_t *e = cache_take(seed, min, max, biased);
  if (e)
    return &e->dist;

  pthread_once(&cache_atexit_once, cache_register_atexit);
  e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  probdist_init(&e->dist, seed, min, max, biased);
  memcpy(e->seed, seed, DRBG_SEED_LEN);
  e->refs = 1;
  entry_free(cache_insert(e));
  return &e->dist;
}

void probdist_shared_put(const probdist_t *w) {
  if (!w)
    return;
  probdist_entry_t *e = (probdist_entry_t *)w;
  e->refs--;
  e->last_used = ++cache_clock;
  if (e->refs == 0 && !e->cached)
    entry_free(e);
}

void probdist_shared_flush(void) {
  for (int i = 0; i < PROBDIST_CACHE_SLOTS; i++) {
    if (cache[i] && cache[i]->refs == 0) {
      entry_free(cache[i]);
      cache[i] = NULL;
    }
  }
}

int probdist_shared_cached(void) {
  int n = 0;
  for (int i = 0; i < PROBDIST_CACHE_SLOTS; i++)
    n += cache[i] != NULL;
  return n;
}
