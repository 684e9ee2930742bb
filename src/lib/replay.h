/* replay: a server's memory of the handshakes it has accepted, so a
 * recorded client request cannot be played back to prove the server
 * speaks its protocol. obfs4 keys it by MAC_C with a three-hour lifetime
 * (obfs4proxy's rules, below); shadow by the client's salt, which never
 * expires, so only the bound ages entries out. Bounded: past max_entries
 * the oldest entries go first. */
#ifndef PTD_LIB_REPLAY_H
#define PTD_LIB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A ttl_s that never ends. */
#define REPLAY_TTL_FOREVER UINT64_MAX

typedef struct replay_filter replay_filter_t;

/* At most max_entries keys are held; values below 2 read as 2. An entry
 * lives ttl_s seconds. Memory grows with use, up to about 32 bytes an
 * entry. */
replay_filter_t *replay_filter_new(size_t max_entries, uint64_t ttl_s);
void replay_filter_free(replay_filter_t *rf);
/* True if key (any length) was recorded within the TTL before now_s (a
 * hit is not refreshed: an entry expires ttl_s after it was first
 * recorded);
 * false after recording it at now_s. obfs4proxy's rules, applied before
 * the lookup: expired entries go; a full filter drops its oldest entry
 * (even the one asked about: full, it remembers max_entries - 1 earlier
 * keys); a now_s earlier than the oldest entry (the clock went back)
 * empties the filter. */
bool replay_filter_test_and_set(replay_filter_t *rf, uint64_t now_s, const uint8_t *key,
                                size_t keylen);
size_t replay_filter_count(const replay_filter_t *rf);

#endif
