/* replay: the server's memory of handshakes it has accepted, so a
 * recorded client request cannot be played back to prove the server
 * speaks obfs4. Keyed by MAC_C; an entry lives for three hours (the
 * epoch-hour window a MAC stays valid in, with margin), as in
 * obfs4proxy. Bounded: past max_entries the oldest entries go first. */
#ifndef PTD_TRANSPORTS_OBFS4_REPLAY_H
#define PTD_TRANSPORTS_OBFS4_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_TTL_S (3 * 3600)
#define REPLAY_KEY_LEN 16
/* obfs4proxy's bound, far above what a bridge sees in three hours. */
#define REPLAY_MAX_ENTRIES (100 * 1024)

typedef struct replay_filter replay_filter_t;

/* At most max_entries keys are held (obfs4proxy: REPLAY_MAX_ENTRIES);
 * values below 2 read as 2. Memory grows with use, up to about 32 bytes
 * an entry. */
replay_filter_t *replay_filter_new(size_t max_entries);
void replay_filter_free(replay_filter_t *rf);
/* True if key was recorded within the TTL before now_s (a hit is not
 * refreshed: an entry expires REPLAY_TTL_S after it was first recorded);
 * false after recording it at now_s. obfs4proxy's rules, applied before
 * the lookup: expired entries go; a full filter drops its oldest entry
 * (even the one asked about: full, it remembers max_entries - 1 earlier
 * keys); a now_s earlier than the oldest entry (the clock went back)
 * empties the filter. */
bool replay_filter_test_and_set(replay_filter_t *rf, uint64_t now_s,
                                const uint8_t key[REPLAY_KEY_LEN]);
size_t replay_filter_count(const replay_filter_t *rf);

#endif
