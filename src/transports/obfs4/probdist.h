/* probdist: obfs4's weighted distributions (packet lengths, inter-arrival
 * delays), rebuilt from a 24-byte seed exactly as obfs4proxy's
 * probdist.WeightedDist does: up to 100 values drawn from [min, max] with
 * weights (uniform, or ScrambleSuit-style biased), sampled through Vose's
 * alias tables. The tables come from the seed's DRBG; sampling uses the
 * system's random bytes (as obfs4proxy uses crypto/rand there).
 *
 * Every client connection to a bridge redraws the same tables from the
 * same seed (the bridge's), so built tables are shared: probdist_shared_get
 * hands out one read-only copy per (seed, min, max, biased), counted, from
 * a small process-wide cache. */
#ifndef PTD_TRANSPORTS_OBFS4_PROBDIST_H
#define PTD_TRANSPORTS_OBFS4_PROBDIST_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/obfs4/drbg.h"

#define PROBDIST_MAX_VALUES 100

/* The weights are needed only while the tables are built, so they are not
 * kept (PROBDIST_PRIVATE below gives them to tests); an index fits a byte. */
typedef struct {
  int min, max;
  bool biased;
  int n;                              /* values in use, 1..100 */
  int values[PROBDIST_MAX_VALUES];    /* offsets from min */
  double prob[PROBDIST_MAX_VALUES];   /* alias method tables */
  uint8_t alias[PROBDIST_MAX_VALUES];
} probdist_t;

void probdist_init(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                   bool biased);
/* New tables from a new seed, same min, max and bias. */
void probdist_reset(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN]);
int probdist_sample(const probdist_t *w);

/* The tables probdist_init would build, shared: a reference to read-only
 * tables, NULL when out of memory. Give each back with probdist_shared_put.
 * Up to PROBDIST_CACHE_SLOTS distinct tables stay cached, those in use and
 * the most recently used of the others; beyond that, tables in use are
 * private to their holders and freed with their last reference. */
#define PROBDIST_CACHE_SLOTS 8
const probdist_t *probdist_shared_get(const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                                      bool biased);
/* Drops a reference from probdist_shared_get (NULL is fine). */
void probdist_shared_put(const probdist_t *w);
/* Frees the cached tables nobody holds (tests; a leak check at exit). */
void probdist_shared_flush(void);

#ifdef PROBDIST_PRIVATE
/* probdist_init that also hands out the weights it drew (n of them). */
void probdist_init_weights(probdist_t *w, double weights[PROBDIST_MAX_VALUES],
                           const uint8_t seed[DRBG_SEED_LEN], int min, int max, bool biased);
/* Tables cached now, in use or not. */
int probdist_shared_cached(void);
#endif

#endif
