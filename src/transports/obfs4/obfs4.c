/* obfs4: the transport (obfs4-spec, as obfs4proxy 0.0.14 and lyrebird
 * speak it). The pieces live beside this file: handshake.c and ntor.c
 * (keys), elligator2.c and fe25519.c (keys that look random), framing.c,
 * drbg.c and probdist.c (the data phase and its shape), replay.c, state.c
 * (the bridge's identity, in obfs4proxy's files) and obfs4_codec.c (one
 * connection). This file joins them to transport.h. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kvlist.h"
#include "transports/obfs4/drbg.h"
#include "transports/obfs4/framing.h"
#include "transports/obfs4/obfs4_codec.h"
#include "transports/obfs4/state.h"
#include "transports/transport.h"

/* A failed handshake is held open up to this much past the handshake
 * timeout (obfs4proxy's maxCloseDelay). */
#define OBFS4_MAX_CLOSE_DELAY_S 60

struct transport_server {
  obfs4_server_ctx_t ctx;
  unsigned close_delay_s;
  kvlist_t *args; /* cert, iat-mode: for SMETHOD ARGS: */
};

static int obfs4_args_check(const kvlist_t *args, char *err, size_t errlen) {
  obfs4_bridge_t bridge;
  obfs4_iat_mode_t iat;
  int r = obfs4_client_args_parse(args, &bridge, &iat, err, errlen);
  sodium_memzero(&bridge, sizeof bridge);
  return r;
}

static codec_t *obfs4_client_new(const kvlist_t *args, char *err, size_t errlen) {
  obfs4_bridge_t bridge;
  obfs4_iat_mode_t iat;
  if (obfs4_client_args_parse(args, &bridge, &iat, err, errlen) != 0)
    return NULL;
  codec_t *c = obfs4_client_codec_new(&bridge, iat);
  if (!c)
    snprintf(err, errlen, "out of memory");
  return c;
}

static void obfs4_server_free(transport_server_t *srv) {
  if (!srv)
    return;
  replay_filter_free(srv->ctx.replay);
  kvlist_free(srv->args);
  obfs4_server_state_clear(&srv->ctx.state);
  sodium_memzero(srv, sizeof *srv);
  free(srv);
}

/* What obfs4proxy derives from the DRBG seed, in the same order, so a
 * bridge that switches keeps the same shape and the same probe delay. */
static void derive_from_seed(transport_server_t *srv) {
  obfs4_server_ctx_t *ctx = &srv->ctx;
  drbg_t d;
  drbg_init(&d, ctx->state.drbg_seed);
  srv->close_delay_s = (unsigned)drbg_go_intn(&d, OBFS4_MAX_CLOSE_DELAY_S);
  sodium_memzero(&d, sizeof d);
  probdist_init(&ctx->len_dist, ctx->state.drbg_seed, 0, OBFS4_MAX_SEGMENT_LEN, false);
  if (ctx->state.iat_mode != OBFS4_IAT_NONE) {
    uint8_t iat_seed[DRBG_SEED_LEN];
    obfs4_iat_seed(iat_seed, ctx->state.drbg_seed);
    probdist_init(&ctx->iat_dist, iat_seed, 0, 100, false);
    sodium_memzero(iat_seed, sizeof iat_seed);
  }
}

static transport_server_t *obfs4_server_new(const kvlist_t *options, const char *state_dir,
                                            const kvlist_t **args_out, char *err,
                                            size_t errlen) {
  *args_out = NULL;
  transport_server_t *srv = calloc(1, sizeof *srv);
  if (!srv) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (obfs4_state_load(&srv->ctx.state, options, state_dir, err, errlen) != 0) {
    obfs4_server_free(srv);
    return NULL;
  }
  if (state_dir && obfs4_state_write_bridgeline(&srv->ctx.state, state_dir, err, errlen) != 0) {
    obfs4_server_free(srv);
    return NULL;
  }
  srv->ctx.replay = replay_filter_new(OBFS4_REPLAY_MAX_ENTRIES, OBFS4_REPLAY_TTL_S);
  srv->args = kvlist_new();
  char cert[OBFS4_CERT_LEN + 1];
  char iat[2] = {(char)('0' + srv->ctx.state.iat_mode), '\0'};
  obfs4_cert_encode(cert, &srv->ctx.state.id.pub);
  if (!srv->ctx.replay || !srv->args || kvlist_add(srv->args, "cert", cert) != 0 ||
      kvlist_add(srv->args, "iat-mode", iat) != 0) {
    snprintf(err, errlen, "out of memory");
    obfs4_server_free(srv);
    return NULL;
  }
  derive_from_seed(srv);
  *args_out = srv->args;
  return srv;
}

static codec_t *obfs4_server_codec(transport_server_t *srv) {
  return obfs4_server_codec_new(&srv->ctx);
}

static unsigned obfs4_close_delay(const transport_server_t *srv) { return srv->close_delay_s; }

const transport_ops_t obfs4_transport = {
    .name = "obfs4",
    .client_args_check = obfs4_args_check,
    .client_codec_new = obfs4_client_new,
    .server_new = obfs4_server_new,
    .server_codec_new = obfs4_server_codec,
    .server_free = obfs4_server_free,
    .server_close_delay_s = obfs4_close_delay,
};
