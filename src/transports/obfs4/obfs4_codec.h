/* obfs4_codec: one obfs4 connection as a codec (transport.h): the
 * handshake, then frames both ways, with obfs4proxy's padding and
 * inter-arrival shaping.
 *
 * Each burst of plaintext the relay hands over (one on_plain call, like
 * one Write in obfs4proxy) is cut into full packets and followed by
 * padding up to a length drawn from the length distribution, modulo the
 * segment size. With iat-mode 1 the encoded burst is released in
 * segment-sized chunks, each after a delay drawn from the inter-arrival
 * distribution (0-10 ms); with iat-mode 2 each chunk's size is drawn too
 * and padded to it. Chunks wait in the codec, released by a timer on the
 * event loop (codec_ops_t.held tells the stream's owner they are there).
 *
 * The server codec answers only a valid, fresh request. Anything else
 * gets CODEC_DISCARD: no byte back, and the server closes later, on its
 * own schedule (server.c). */
#ifndef PTD_TRANSPORTS_OBFS4_OBFS4_CODEC_H
#define PTD_TRANSPORTS_OBFS4_OBFS4_CODEC_H

#include "transports/obfs4/handshake.h"
#include "transports/obfs4/probdist.h"
#include "lib/replay.h"
#include "transports/obfs4/state.h"
#include "transports/transport.h"

/* What every server connection of one listener shares (read-only, but
 * for the replay filter). */
typedef struct {
  obfs4_server_state_t state;
  replay_filter_t *replay;
  probdist_t len_dist; /* from state.drbg_seed, sent to every client */
  probdist_t iat_dist; /* from SHA-256 of it; iat-mode 1 and 2 only */
} obfs4_server_ctx_t;

codec_t *obfs4_client_codec_new(const obfs4_bridge_t *bridge, obfs4_iat_mode_t iat_mode);
codec_t *obfs4_server_codec_new(const obfs4_server_ctx_t *srv);

/* The inter-arrival distribution's seed for a length seed: obfs4proxy
 * uses the first 24 bytes of its SHA-256. */
void obfs4_iat_seed(uint8_t out[DRBG_SEED_LEN], const uint8_t len_seed[DRBG_SEED_LEN]);

#endif
