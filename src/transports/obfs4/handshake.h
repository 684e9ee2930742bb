/* handshake: obfs4's key establishment messages (obfs4-spec section 4),
 * with obfs4proxy 0.0.14's constants where they differ from the spec
 * text (the client's minimum padding is 77, not 85: the code, which every
 * deployed peer runs, is the contract).
 *
 *   client -> server: X' | P_C | M_C | MAC_C
 *   server -> client: Y' | AUTH | P_S | M_S | MAC_S   (then, from the
 *                     codec, a PRNG seed frame)
 *
 * M = HMAC-SHA256-128(B | NODEID, representative); MAC covers everything
 * before it plus E, the decimal epoch hour. Randomness (padding lengths,
 * ephemeral keys) is chosen by the caller, so the messages can be checked
 * against recorded ones; everything else is here. No I/O, no logging. */
#ifndef PTD_TRANSPORTS_OBFS4_HANDSHAKE_H
#define PTD_TRANSPORTS_OBFS4_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/obfs4/elligator2.h"
#include "transports/obfs4/ntor.h"
#include "lib/replay.h"

#define OBFS4_MAX_HANDSHAKE_LEN 8192
#define OBFS4_MARK_LEN 16
#define OBFS4_MAC_LEN 16
/* The server's replay filter (lib/replay.h), keyed by MAC_C: obfs4proxy
 * keeps an entry three hours (the epoch-hour window a MAC is valid in,
 * with margin) and at most this many, far above what a bridge sees in
 * three hours. */
#define OBFS4_REPLAY_TTL_S (3 * 3600)
#define OBFS4_REPLAY_MAX_ENTRIES (100 * 1024)
#define OBFS4_CLIENT_HS_MIN_LEN 64 /* X' | M_C | MAC_C */
#define OBFS4_CLIENT_MIN_PAD 77
#define OBFS4_CLIENT_MAX_PAD (OBFS4_MAX_HANDSHAKE_LEN - OBFS4_CLIENT_HS_MIN_LEN)
#define OBFS4_SERVER_HS_MIN_LEN 96 /* Y' | AUTH | M_S | MAC_S */
#define OBFS4_SERVER_MIN_PAD 0
/* Leaves room for the PRNG seed frame that follows the reply. */
#define OBFS4_SERVER_MAX_PAD (OBFS4_MAX_HANDSHAKE_LEN - OBFS4_SERVER_HS_MIN_LEN - 45)
/* ntor_kdf(KEY_SEED, 144): bytes 0..71 key the client->server direction
 * (the client's encoder, the server's decoder), bytes 72..143 the
 * server->client direction (the server's encoder, the client's decoder),
 * as obfs4proxy's clientHandshake/serverHandshake split them. */
#define OBFS4_KEYMAT_LEN 144
#define OBFS4_KEYMAT_C2S 0  /* offset of the client->server 72 bytes */
#define OBFS4_KEYMAT_S2C 72 /* offset of the server->client 72 bytes */
#define OBFS4_EPOCH_MAX 24   /* decimal digits of an hour count, and a NUL */

/* What a client knows of a bridge (the cert= argument). */
typedef struct {
  uint8_t node_id[NTOR_NODE_ID_LEN];
  uint8_t pk[NTOR_KEY_LEN];
} obfs4_bridge_t;

/* A bridge's identity (the server side). */
typedef struct {
  obfs4_bridge_t pub;
  uint8_t sk[NTOR_KEY_LEN];
} obfs4_identity_t;

typedef enum {
  OBFS4_HS_OK,
  OBFS4_HS_NEED_MORE,
  OBFS4_HS_ERROR, /* not a valid message: drop it (the server silently) */
  OBFS4_HS_REPLAY, /* server: a valid request seen before */
} obfs4_hs_result_t;

/* Hours since the Unix epoch, for E. */
uint64_t obfs4_epoch_hour(uint64_t unix_seconds);

typedef struct {
  obfs4_bridge_t bridge;
  elligator2_keypair_t eph;
  char epoch[OBFS4_EPOCH_MAX]; /* E as sent, for MAC_S */
} obfs4_client_hs_t;

/* The request with padlen random padding bytes
 * (OBFS4_CLIENT_MIN_PAD..OBFS4_CLIENT_MAX_PAD) at the given epoch hour,
 * written to out; returns its length (OBFS4_CLIENT_HS_MIN_LEN + padlen),
 * or 0 if padlen is out of range. hs->bridge and hs->eph are set by the
 * caller. */
size_t obfs4_client_hs_request(obfs4_client_hs_t *hs, uint8_t out[OBFS4_MAX_HANDSHAKE_LEN],
                               size_t padlen, uint64_t epoch_hour);

/* The server's reply, at the start of the len bytes received so far
 * (anything after it is the first frames). On OK, *consumed is the
 * reply's length and keymat holds the session keys. As obfs4proxy: M_S is
 * looked for (its first occurrence) from byte 64 on within the first
 * OBFS4_MAX_HANDSHAKE_LEN bytes; NEED_MORE until it and MAC_S are in,
 * ERROR once that many bytes hold none; then MAC_S (with hs->epoch),
 * ntor and AUTH decide between OK and ERROR. */
obfs4_hs_result_t obfs4_client_hs_reply(obfs4_client_hs_t *hs, const uint8_t *buf, size_t len,
                                        size_t *consumed, uint8_t keymat[OBFS4_KEYMAT_LEN]);

/* Start it zeroed with id set: (obfs4_server_hs_t){.id = id}. */
typedef struct {
  const obfs4_identity_t *id;
  uint8_t X[NTOR_KEY_LEN]; /* the client's public key, once known */
  char epoch[OBFS4_EPOCH_MAX];
  uint8_t key_seed[NTOR_KEY_SEED_LEN];
  uint8_t auth[NTOR_AUTH_LEN];
  bool accepted; /* obfs4_server_hs_request said OK */
} obfs4_server_hs_t;

/* The client's request: the len bytes received so far, which must end
 * with M_C | MAC_C (a client sends nothing more before our reply). Checks
 * MAC_C for the epoch hours around now_s, then the replay filter, and
 * maps X' to X. REPLAY and ERROR both mean: never answer.
 *
 * obfs4proxy's rules exactly: NEED_MORE while len < 64; M_C is only looked
 * for at the end of min(len, OBFS4_MAX_HANDSHAKE_LEN) bytes, no earlier
 * than after X' and 77 bytes of padding, and NEED_MORE while it is not
 * there, ERROR once len reaches OBFS4_MAX_HANDSHAKE_LEN. A wrong MAC_C
 * (for each of E, E-1, E+1, E = now_s / 3600) is an ERROR; a right one is
 * test-and-set in rf (REPLAY if seen); only then are bytes after MAC_C
 * (possible only past OBFS4_MAX_HANDSHAKE_LEN) an ERROR. rf must not be
 * NULL. */
obfs4_hs_result_t obfs4_server_hs_request(obfs4_server_hs_t *hs, replay_filter_t *rf,
                                          const uint8_t *buf, size_t len, uint64_t now_s);

/* Runs ntor with the server's ephemeral eph and writes the reply, with
 * padlen random padding bytes (OBFS4_SERVER_MIN_PAD..OBFS4_SERVER_MAX_PAD),
 * to out; returns its length, or 0 if ntor failed (a zero DH result: drop
 * the client silently), padlen is out of range or the request was not
 * accepted. keymat gets the session keys. Call after
 * obfs4_server_hs_request returned OK. */
size_t obfs4_server_hs_reply(obfs4_server_hs_t *hs, const elligator2_keypair_t *eph,
                             uint8_t out[OBFS4_MAX_HANDSHAKE_LEN], size_t padlen,
                             uint8_t keymat[OBFS4_KEYMAT_LEN]);

/* Wipes secrets. */
void obfs4_client_hs_clear(obfs4_client_hs_t *hs);
void obfs4_server_hs_clear(obfs4_server_hs_t *hs);

#ifdef OBFS4_HANDSHAKE_PRIVATE
/* The same messages with the caller's padding bytes instead of random
 * ones, so tests can rebuild obfs4proxy's recorded messages byte for byte. */
size_t obfs4_client_hs_request_with_pad(obfs4_client_hs_t *hs,
                                        uint8_t out[OBFS4_MAX_HANDSHAKE_LEN],
                                        const uint8_t *pad, size_t padlen, uint64_t epoch_hour);
size_t obfs4_server_hs_reply_with_pad(obfs4_server_hs_t *hs, const elligator2_keypair_t *eph,
                                      uint8_t out[OBFS4_MAX_HANDSHAKE_LEN], const uint8_t *pad,
                                      size_t padlen, uint8_t keymat[OBFS4_KEYMAT_LEN]);
#endif

#endif
