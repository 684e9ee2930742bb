/* drbg: obfs4's hash DRBG, and Go's math/rand on top of it.
 *
 * obfs4proxy's HashDrbg runs SipHash-2-4 in OFB mode, but never resets
 * the hash: block n is SipHash(key, ofb_0 | ofb_1 | ... | ofb_{n-1}), the
 * digest of everything written so far. We keep the SipHash state after
 * each 8-byte write, so each block costs one compression and a
 * finalisation of a copy (siphash24_* below is a plain incremental
 * SipHash-2-4 for exactly that). Blocks are SipHash's little-endian
 * output; the frame length mask is the first two bytes read big-endian.
 *
 * The same DRBG seeds math/rand in obfs4proxy to build the packet length
 * and inter-arrival distributions and a server's probe close delay; the
 * drbg_go_* functions reproduce math/rand's Int63n/Intn/Float64/Perm over
 * it, so the same seed gives the same tables as obfs4proxy. */
#ifndef PTD_TRANSPORTS_OBFS4_DRBG_H
#define PTD_TRANSPORTS_OBFS4_DRBG_H

#include <stddef.h>
#include <stdint.h>

#define DRBG_SEED_LEN 24 /* SipHash key (16) | initial OFB block (8) */
#define DRBG_BLOCK_LEN 8

/* Incremental SipHash-2-4, 16-byte key, 64-bit output. */
typedef struct {
  uint64_t v[4];
  uint64_t total; /* bytes absorbed */
  uint8_t tail[8];
  size_t ntail;
} siphash24_t;

void siphash24_init(siphash24_t *s, const uint8_t key[16]);
void siphash24_update(siphash24_t *s, const uint8_t *data, size_t len);
/* The digest so far; s is unchanged and may be updated further. */
uint64_t siphash24_final(const siphash24_t *s);

typedef struct {
  siphash24_t sip;
  uint8_t ofb[DRBG_BLOCK_LEN];
} drbg_t;

void drbg_init(drbg_t *d, const uint8_t seed[DRBG_SEED_LEN]);
void drbg_next_block(drbg_t *d, uint8_t out[DRBG_BLOCK_LEN]);
/* math/rand's Source.Int63 as obfs4proxy's HashDrbg implements it. */
int64_t drbg_int63(drbg_t *d);
/* math/rand (Go 1.19) over drbg_int63, same draws in the same order.
 * n must be > 0 (Go panics; these return 0). */
int64_t drbg_go_int63n(drbg_t *d, int64_t n);
int drbg_go_intn(drbg_t *d, int n);
double drbg_go_float64(drbg_t *d);
/* out[0..n-1] = a permutation of 0..n-1, as rand.Perm(n). */
void drbg_go_perm(drbg_t *d, int *out, int n);
/* out[0..k-1] = the first k entries of rand.Perm(n) (k <= n), drawing
 * exactly what Perm(n) draws but without an n-entry array. */
void drbg_go_perm_prefix(drbg_t *d, int *out, int k, int n);

#endif
