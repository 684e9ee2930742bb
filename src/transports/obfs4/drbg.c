/* drbg: incremental SipHash-2-4, obfs4's hash DRBG over it, and Go 1.19's
 * math/rand algorithms over the DRBG (see drbg.h for why each exists).
 *
 * The math/rand functions are those of rand.New(src) where src is only a
 * Source, not a Source64: every draw goes through Int63, and Intn on
 * 32-bit-sized n takes the Int31n path (Int63 >> 32, rejection sampling),
 * never the newer multiply-shift int31n. All state is in the caller's
 * structs; nothing here allocates. */
#include "transports/obfs4/drbg.h"

#include <string.h>

static uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void store_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4]) {
  v[0] += v[1];
  v[1] = rotl(v[1], 13);
  v[1] ^= v[0];
  v[0] = rotl(v[0], 32);
  v[2] += v[3];
  v[3] = rotl(v[3], 16);
  v[3] ^= v[2];
  v[0] += v[3];
  v[3] = rotl(v[3], 21);
  v[3] ^= v[0];
  v[2] += v[1];
  v[1] = rotl(v[1], 17);
  v[1] ^= v[2];
  v[2] = rotl(v[2], 32);
}

static void sip_compress(uint64_t v[4], uint64_t m) {
  v[3] ^= m;
  sip_round(v);
  sip_round(v);
  v[0] ^= m;
}

void siphash24_init(siphash24_t *s, const uint8_t key[16]) {
  uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
  s->v[0] = k0 ^ 0x736f6d6570736575ULL;
  s->v[1] = k1 ^ 0x646f72616e646f6dULL;
  s->v[2] = k0 ^ 0x6c7967656e657261ULL;
  s->v[3] = k1 ^ 0x7465646279746573ULL;
  s->total = 0;
  s->ntail = 0;
  memset(s->tail, 0, sizeof s->tail);
}

void siphash24_update(siphash24_t *s, const uint8_t *data, size_t len) {
  s->total += len;
  if (s->ntail > 0) {
    size_t take = 8 - s->ntail < len ? 8 - s->ntail : len;
    memcpy(s->tail + s->ntail, data, take);
    s->ntail += take;
    data += take;
    len -= take;
    if (s->ntail < 8)
      return;
    sip_compress(s->v, load_le64(s->tail));
    s->ntail = 0;
  }
  for (; len >= 8; data += 8, len -= 8)
    sip_compress(s->v, load_le64(data));
  memcpy(s->tail, data, len);
  s->ntail = len;
}

uint64_t siphash24_final(const siphash24_t *s) {
  uint64_t v[4] = {s->v[0], s->v[1], s->v[2], s->v[3]};
  /* The last block is the tail, zero-padded, with the length mod 256 in
   * its top byte. */
  uint64_t b = s->total << 56;
  for (size_t i = 0; i < s->ntail; i++)
    b |= (uint64_t)s->tail[i] << (8 * i);
  sip_compress(v, b);
  v[2] ^= 0xff;
  for (int i = 0; i < 4; i++)
    sip_round(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void drbg_init(drbg_t *d, const uint8_t seed[DRBG_SEED_LEN]) {
  siphash24_init(&d->sip, seed);
  memcpy(d->ofb, seed + 16, DRBG_BLOCK_LEN);
}

void drbg_next_block(drbg_t *d, uint8_t out[DRBG_BLOCK_LEN]) {
  siphash24_update(&d->sip, d->ofb, DRBG_BLOCK_LEN);
  store_le64(d->ofb, siphash24_final(&d->sip));
  memcpy(out, d->ofb, DRBG_BLOCK_LEN);
}

int64_t drbg_int63(drbg_t *d) {
  uint8_t b[DRBG_BLOCK_LEN];
  drbg_next_block(d, b);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  return (int64_t)(v & INT64_MAX);
}

int64_t drbg_go_int63n(drbg_t *d, int64_t n) {
  if (n <= 0)
    return 0; /* Go panics; callers never pass this */
  if ((n & (n - 1)) == 0)
    return drbg_int63(d) & (n - 1);
  int64_t max = (int64_t)(((uint64_t)1 << 63) - 1 - ((uint64_t)1 << 63) % (uint64_t)n);
  int64_t v = drbg_int63(d);
  while (v > max)
    v = drbg_int63(d);
  return v % n;
}

/* math/rand's Int31n: Int31 is the top 31 bits of Int63. */
static int32_t go_int31n(drbg_t *d, int32_t n) {
  if ((n & (n - 1)) == 0)
    return (int32_t)(drbg_int63(d) >> 32) & (n - 1);
  int32_t max = (int32_t)(((uint32_t)1 << 31) - 1 - ((uint32_t)1 << 31) % (uint32_t)n);
  int32_t v = (int32_t)(drbg_int63(d) >> 32);
  while (v > max)
    v = (int32_t)(drbg_int63(d) >> 32);
  return v % n;
}

int drbg_go_intn(drbg_t *d, int n) {
  if (n <= 0)
    return 0; /* Go panics; callers never pass this */
  /* A C int always fits Go's "n <= 1<<31 - 1" branch. */
  return go_int31n(d, (int32_t)n);
}

double drbg_go_float64(drbg_t *d) {
  for (;;) {
    /* Go 1's value stream: can round up to 1.0, which is redrawn. */
    double f = (double)drbg_int63(d) / 9223372036854775808.0;
    if (f < 1.0)
      return f;
  }
}

void drbg_go_perm_prefix(drbg_t *d, int *out, int k, int n) {
  /* Perm's inside-out shuffle sets m[i] = m[j], m[j] = i. For i >= k the
   * first store lands past the prefix and the second matters only when
   * j < k, so the prefix alone evolves exactly as in the full array. */
  if (k > n)
    k = n;
  if (k < 0)
    k = 0;
  for (int i = 0; i < n; i++) {
    int j = drbg_go_intn(d, i + 1);
    if (i < k)
      out[i] = out[j];
    if (j < k)
      out[j] = i;
  }
}

void drbg_go_perm(drbg_t *d, int *out, int n) {
  drbg_go_perm_prefix(d, out, n, n);
}
