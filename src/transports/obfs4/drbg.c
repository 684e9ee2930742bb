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

/* Written as one expression so that compilers emit a single load (and a
 * byte swap on big-endian hosts). */
static inline uint64_t load_le64(const uint8_t *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
         (uint64_t)p[7] << 56;
}

static inline void store_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* The same 8 bytes read big-endian. */
static inline uint64_t bswap64(uint64_t v) {
  v = (v & 0x00ff00ff00ff00ffULL) << 8 | (v >> 8 & 0x00ff00ff00ff00ffULL);
  v = (v & 0x0000ffff0000ffffULL) << 16 | (v >> 16 & 0x0000ffff0000ffffULL);
  return v << 32 | v >> 32;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

/* A macro over four locals, not a function over an array: building a
 * length table runs some 12,000 of these, and the compiler keeps the
 * state in registers only when the rounds are written out in place. */
#define SIP_ROUND(v0, v1, v2, v3)                                                              \
  do {                                                                                         \
    v0 += v1;                                                                                  \
    v1 = ROTL(v1, 13);                                                                         \
    v1 ^= v0;                                                                                  \
    v0 = ROTL(v0, 32);                                                                         \
    v2 += v3;                                                                                  \
    v3 = ROTL(v3, 16);                                                                         \
    v3 ^= v2;                                                                                  \
    v0 += v3;                                                                                  \
    v3 = ROTL(v3, 21);                                                                         \
    v3 ^= v0;                                                                                  \
    v2 += v1;                                                                                  \
    v1 = ROTL(v1, 17);                                                                         \
    v1 ^= v2;                                                                                  \
    v2 = ROTL(v2, 32);                                                                         \
  } while (0)

static inline void sip_compress(uint64_t v[4], uint64_t m) {
  uint64_t v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3] ^ m;
  SIP_ROUND(v0, v1, v2, v3);
  SIP_ROUND(v0, v1, v2, v3);
  v[0] = v0 ^ m;
  v[1] = v1;
  v[2] = v2;
  v[3] = v3;
}

/* SipHash-2-4's finalisation of state v with last block b (the tail and
 * the length byte), leaving v itself alone. */
static inline uint64_t sip_finish(const uint64_t v[4], uint64_t b) {
  uint64_t v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3] ^ b;
  SIP_ROUND(v0, v1, v2, v3);
  SIP_ROUND(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  SIP_ROUND(v0, v1, v2, v3);
  SIP_ROUND(v0, v1, v2, v3);
  SIP_ROUND(v0, v1, v2, v3);
  SIP_ROUND(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
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
  /* The last block is the tail, zero-padded, with the length mod 256 in
   * its top byte. */
  uint64_t b = s->total << 56;
  for (size_t i = 0; i < s->ntail; i++)
    b |= (uint64_t)s->tail[i] << (8 * i);
  return sip_finish(s->v, b);
}

void drbg_init(drbg_t *d, const uint8_t seed[DRBG_SEED_LEN]) {
  siphash24_init(&d->sip, seed);
  memcpy(d->ofb, seed + 16, DRBG_BLOCK_LEN);
}

/* The next block as SipHash's 64-bit output. The DRBG only ever absorbs
 * whole 8-byte blocks, so the hash has no tail and the last block of the
 * finalisation is just the length byte: one compression for the new
 * block, one finalisation of a copy. */
static inline uint64_t drbg_next(drbg_t *d) {
  siphash24_t *s = &d->sip;
  sip_compress(s->v, load_le64(d->ofb));
  s->total += DRBG_BLOCK_LEN;
  uint64_t h = sip_finish(s->v, s->total << 56);
  store_le64(d->ofb, h);
  return h;
}

void drbg_next_block(drbg_t *d, uint8_t out[DRBG_BLOCK_LEN]) {
  drbg_next(d);
  memcpy(out, d->ofb, DRBG_BLOCK_LEN);
}

int64_t drbg_int63(drbg_t *d) {
  /* obfs4proxy reads the block's bytes big-endian. */
  return (int64_t)(bswap64(drbg_next(d)) & INT64_MAX);
}

/* The rejection bound of math/rand's Int63n and Int31n is
 * max = 2^k - 1 - 2^k mod n; it is at least 2^k - n, so a draw below that
 * is kept without the division (about all of them: building a length
 * table makes some 1,500 draws). */
int64_t drbg_go_int63n(drbg_t *d, int64_t n) {
  if (n <= 0)
    return 0; /* Go panics; callers never pass this */
  if ((n & (n - 1)) == 0)
    return drbg_int63(d) & (n - 1);
  int64_t v = drbg_int63(d);
  if (v >= INT64_MAX - n) {
    int64_t max = (int64_t)(((uint64_t)1 << 63) - 1 - ((uint64_t)1 << 63) % (uint64_t)n);
    while (v > max)
      v = drbg_int63(d);
  }
  return v % n;
}

/* math/rand's Int31n: Int31 is the top 31 bits of Int63. */
static int32_t go_int31n(drbg_t *d, int32_t n) {
  if ((n & (n - 1)) == 0)
    return (int32_t)(drbg_int63(d) >> 32) & (n - 1);
  int32_t v = (int32_t)(drbg_int63(d) >> 32);
  if (v >= INT32_MAX - n) {
    int32_t max = (int32_t)(((uint32_t)1 << 31) - 1 - ((uint32_t)1 << 31) % (uint32_t)n);
    while (v > max)
      v = (int32_t)(drbg_int63(d) >> 32);
  }
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
