/* probdist: obfs4's weighted distributions (packet lengths, inter-arrival
 * delays), rebuilt from a 24-byte seed exactly as obfs4proxy's
 * probdist.WeightedDist does: up to 100 values drawn from [min, max] with
 * weights (uniform, or ScrambleSuit-style biased), sampled through Vose's
 * alias tables. The tables come from the seed's DRBG; sampling uses the
 * system's random bytes (as obfs4proxy uses crypto/rand there). */
#ifndef PTD_TRANSPORTS_OBFS4_PROBDIST_H
#define PTD_TRANSPORTS_OBFS4_PROBDIST_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/obfs4/drbg.h"

#define PROBDIST_MAX_VALUES 100

typedef struct {
  int min, max;
  bool biased;
  int n;                              /* values in use, 1..100 */
  int values[PROBDIST_MAX_VALUES];    /* offsets from min */
  double weights[PROBDIST_MAX_VALUES];
  double prob[PROBDIST_MAX_VALUES];   /* alias method tables */
  int alias[PROBDIST_MAX_VALUES];
} probdist_t;

void probdist_init(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN], int min, int max,
                   bool biased);
/* New tables from a new seed (the client, on the server's PRNG seed). */
void probdist_reset(probdist_t *w, const uint8_t seed[DRBG_SEED_LEN]);
int probdist_sample(const probdist_t *w);

#endif
