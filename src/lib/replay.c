/* replay: see replay.h.
 *
 * Entries live in a ring in the order they were added, which is also the
 * order they expire in (a hit never refreshes an entry), so expiry and
 * eviction only ever remove the oldest: the ring's head. An open-addressing
 * table (linear probing, at most half full, deletion by backward shift)
 * indexes the ring by digest. Digests are SipHash-2-4 of the key under a
 * random per-filter key: whoever sends requests picks the MACs but cannot
 * aim them at one probe chain. Like obfs4proxy we keep only the 64-bit
 * digest, so a digest collision counts as a replay (odds 2^-64 a pair).
 *
 * The ring and the table start small and double up to max_entries, so a
 * quiet bridge does not pay for a busy one. */
#include "lib/replay.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/xalloc.h"

#define REPLAY_INITIAL_CAP 64

typedef struct {
  uint64_t digest;
  uint64_t first_seen;
} replay_entry_t;

struct replay_filter {
  size_t max;
  uint64_t ttl_s;
  uint8_t key[crypto_shorthash_KEYBYTES];
  replay_entry_t *ring;
  size_t ring_cap;
  size_t head; /* the oldest entry */
  size_t count;
  uint32_t *table; /* ring index + 1; 0 is an empty slot */
  size_t table_mask;
};

static uint64_t replay_digest(const replay_filter_t *rf, const uint8_t *key, size_t keylen) {
  uint8_t h[crypto_shorthash_BYTES];
  uint64_t d;
  crypto_shorthash(h, key, keylen, rf->key);
  memcpy(&d, h, sizeof d);
  return d;
}

static size_t replay_ring_index(const replay_filter_t *rf, size_t age) {
  size_t i = rf->head + age;
  return i >= rf->ring_cap ? i - rf->ring_cap : i;
}

static void replay_table_put(replay_filter_t *rf, uint64_t digest, size_t ring_i) {
  size_t i = (size_t)digest & rf->table_mask;
  while (rf->table[i] != 0)
    i = (i + 1) & rf->table_mask;
  rf->table[i] = (uint32_t)(ring_i + 1);
}

static bool replay_table_has(const replay_filter_t *rf, uint64_t digest) {
  for (size_t i = (size_t)digest & rf->table_mask; rf->table[i] != 0;
       i = (i + 1) & rf->table_mask) {
    if (rf->ring[rf->table[i] - 1].digest == digest)
      return true;
  }
  return false;
}

/* Removes ring entry ring_i from the table, shifting later members of its
 * probe chain back so no lookup stops early at the hole. */
static void replay_table_del(replay_filter_t *rf, size_t ring_i) {
  size_t mask = rf->table_mask;
  size_t i = (size_t)rf->ring[ring_i].digest & mask;
  while (rf->table[i] != ring_i + 1)
    i = (i + 1) & mask;
  for (size_t j = (i + 1) & mask; rf->table[j] != 0; j = (j + 1) & mask) {
    size_t home = (size_t)rf->ring[rf->table[j] - 1].digest & mask;
    /* The entry at j may fill the hole at i unless its home lies
     * cyclically in (i, j]. */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      rf->table[i] = rf->table[j];
      i = j;
    }
  }
  rf->table[i] = 0;
}

static void replay_drop_oldest(replay_filter_t *rf) {
  replay_table_del(rf, rf->head);
  rf->head = replay_ring_index(rf, 1);
  rf->count--;
}

static void replay_reset(replay_filter_t *rf) {
  memset(rf->table, 0, (rf->table_mask + 1) * sizeof *rf->table);
  rf->head = 0;
  rf->count = 0;
}

/* Table slots for a ring of cap entries: a power of two, at least twice. */
static size_t replay_table_size(size_t cap) {
  size_t n = 1;
  while (n < 2 * cap)
    n *= 2;
  return n;
}

static void replay_grow(replay_filter_t *rf) {
  size_t cap = rf->ring_cap * 2 < rf->max ? rf->ring_cap * 2 : rf->max;
  replay_entry_t *ring = xcalloc(cap, sizeof *ring);
  size_t tsize = replay_table_size(cap);

  for (size_t a = 0; a < rf->count; a++)
    ring[a] = rf->ring[replay_ring_index(rf, a)];
  free(rf->ring);
  free(rf->table);
  rf->ring = ring;
  rf->ring_cap = cap;
  rf->head = 0;
  rf->table = xcalloc(tsize, sizeof *rf->table);
  rf->table_mask = tsize - 1;
  for (size_t a = 0; a < rf->count; a++)
    replay_table_put(rf, ring[a].digest, a);
}

replay_filter_t *replay_filter_new(size_t max_entries, uint64_t ttl_s) {
  replay_filter_t *rf = xcalloc(1, sizeof *rf);
  size_t tsize;

  /* Table slots hold ring indices in 32 bits. */
  if (max_entries > UINT32_MAX / 4)
    max_entries = UINT32_MAX / 4;
  /* Full, the filter drops one entry per call before looking: with room
   * for one it would never see a replay. */
  rf->max = max_entries > 2 ? max_entries : 2;
  rf->ttl_s = ttl_s;
  rf->ring_cap = rf->max < REPLAY_INITIAL_CAP ? rf->max : REPLAY_INITIAL_CAP;
  rf->ring = xcalloc(rf->ring_cap, sizeof *rf->ring);
  tsize = replay_table_size(rf->ring_cap);
  rf->table = xcalloc(tsize, sizeof *rf->table);
  rf->table_mask = tsize - 1;
  crypto_shorthash_keygen(rf->key);
  return rf;
}

void replay_filter_free(replay_filter_t *rf) {
  if (rf == NULL)
    return;
  free(rf->ring);
  free(rf->table);
  sodium_memzero(rf->key, sizeof rf->key);
  free(rf);
}

/* obfs4proxy's compaction: while the filter has room, drop expired entries
 * from the oldest on; when it is full, drop the oldest whatever its age.
 * A clock that went back behind the oldest entry empties the filter, as
 * the ages are meaningless then. */
static void replay_compact(replay_filter_t *rf, uint64_t now_s) {
  while (rf->count > 0) {
    if (rf->count < rf->max) {
      uint64_t first = rf->ring[rf->head].first_seen;
      if (now_s < first) {
        replay_reset(rf);
        return;
      }
      if (now_s - first < rf->ttl_s)
        return;
    }
    replay_drop_oldest(rf);
  }
}

bool replay_filter_test_and_set(replay_filter_t *rf, uint64_t now_s, const uint8_t *key,
                                size_t keylen) {
  uint64_t digest = replay_digest(rf, key, keylen);
  size_t slot;

  replay_compact(rf, now_s);
  if (replay_table_has(rf, digest))
    return true;
  if (rf->count == rf->ring_cap)
    replay_grow(rf);
  slot = replay_ring_index(rf, rf->count);
  rf->ring[slot].digest = digest;
  rf->ring[slot].first_seen = now_s;
  rf->count++;
  replay_table_put(rf, digest, slot);
  return false;
}

size_t replay_filter_count(const replay_filter_t *rf) {
  return rf->count;
}
