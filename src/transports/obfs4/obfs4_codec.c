/* obfs4_codec: see obfs4_codec.h. */
#include "transports/obfs4/obfs4_codec.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "transports/obfs4/framing.h"

/* obfs4proxy's iat unit: a sample of 0-100 from the distribution times
 * 100 microseconds. */
#define IAT_MAX_SAMPLE 100
#define IAT_UNIT_US 100
/* A pacing codec takes plaintext in bursts of at most this much, the next
 * only once the last has gone out, and pads each burst once: what
 * obfs4proxy does with each 32 KiB read of its copy loop. (Topping up as
 * segments leave would pad every top-up: twice the bytes on the wire, and
 * a shape of our own.) */
#define IAT_BURST_MAX (32 * 1024)
/* iat-mode 2 draws a chunk size and pads up to it; a draw that padding
 * cannot meet exactly is redrawn, as obfs4proxy does, at most this often
 * per chunk before a whole segment goes instead. */
#define IAT_PARANOID_DRAWS 16

typedef enum { OBFS4_HANDSHAKE, OBFS4_OPEN } obfs4_phase_t;

typedef struct {
  codec_t base;
  const obfs4_server_ctx_t *srv; /* NULL for a client */
  obfs4_phase_t phase;
  obfs4_iat_mode_t iat_mode;
  union {
    obfs4_client_hs_t client;
    obfs4_server_hs_t server;
  } hs;
  obfs4_framer_t enc;
  obfs4_deframer_t dec;
  /* The distributions in use: a server's are the listener's; a client
   * holds references to the bridge's (shared, from its seed) or, if it
   * had to send before the seed came, its own from a random seed until
   * then. NULL until needed; iat_dist stays NULL with iat-mode 0. */
  const probdist_t *len_dist;
  const probdist_t *iat_dist;
  const probdist_t *shared_len, *shared_iat; /* client: the references */
  probdist_t *early;                         /* client: [len, iat] */
  struct evbuffer *held;      /* iat: encoded, not yet released */
  struct event *iat_timer;
  bool iat_waiting; /* a chunk went out; the next waits for the timer */
} obfs4_codec_t;

void obfs4_iat_seed(uint8_t out[DRBG_SEED_LEN], const uint8_t len_seed[DRBG_SEED_LEN]) {
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, len_seed, DRBG_SEED_LEN);
  memcpy(out, digest, DRBG_SEED_LEN);
  sodium_memzero(digest, sizeof digest);
}

static uint64_t now_s(void) { return (uint64_t)time(NULL); }

/* Uniform in [lo, hi]. */
static size_t random_between(size_t lo, size_t hi) {
  return lo + randombytes_uniform((uint32_t)(hi - lo + 1));
}

/* Pads a burst of burst_len encoded bytes so that its last segment is
 * to_pad_to bytes long (obfs4proxy's padBurst): one padding frame, or
 * when the gap is too small to hold a frame header, a full one plus one
 * more. */
static int pad_burst(obfs4_codec_t *c, struct evbuffer *out, size_t burst_len,
                     size_t to_pad_to) {
  size_t tail = burst_len % OBFS4_MAX_SEGMENT_LEN;
  size_t pad = to_pad_to >= tail ? to_pad_to - tail : OBFS4_MAX_SEGMENT_LEN - tail + to_pad_to;
  if (pad > OBFS4_HEADER_LEN)
    return obfs4_frame_packet(&c->enc, out, OBFS4_PACKET_PAYLOAD, NULL, 0,
                              pad - OBFS4_HEADER_LEN);
  if (pad > 0) {
    if (obfs4_frame_packet(&c->enc, out, OBFS4_PACKET_PAYLOAD, NULL, 0,
                           OBFS4_MAX_PACKET_PAYLOAD) != 0)
      return -1;
    return obfs4_frame_packet(&c->enc, out, OBFS4_PACKET_PAYLOAD, NULL, 0, pad);
  }
  return 0;
}

/* Frames up to max plaintext bytes from in into out as full packets;
 * returns the bytes taken, or -1 if the session's nonces are spent. */
static ssize_t frame_plaintext(obfs4_codec_t *c, struct evbuffer *in, struct evbuffer *out,
                               size_t max) {
  uint8_t chunk[OBFS4_MAX_PACKET_PAYLOAD];
  size_t taken = 0;
  while (taken < max) {
    size_t want = max - taken < sizeof chunk ? max - taken : sizeof chunk;
    int n = evbuffer_remove(in, chunk, want);
    if (n <= 0)
      break;
    if (obfs4_frame_packet(&c->enc, out, OBFS4_PACKET_PAYLOAD, chunk, (size_t)n, 0) != 0)
      return -1;
    taken += (size_t)n;
  }
  sodium_memzero(chunk, sizeof chunk);
  return (ssize_t)taken;
}

static void iat_arm(obfs4_codec_t *c) {
  long us = (long)probdist_sample(c->iat_dist) * IAT_UNIT_US;
  struct timeval tv = {0, us};
  c->iat_waiting = true;
  if (evtimer_add(c->iat_timer, &tv) != 0)
    c->iat_waiting = false; /* cannot wait: release at the next chance */
}

/* Sends the next chunk of held bytes to the wire, then waits. */
static int iat_release(obfs4_codec_t *c) {
  size_t held = evbuffer_get_length(c->held);
  if (held == 0 || c->iat_waiting)
    return 0;
  size_t n = held < OBFS4_MAX_SEGMENT_LEN ? held : OBFS4_MAX_SEGMENT_LEN;
  if (c->iat_mode == OBFS4_IAT_PARANOID) {
    for (int i = 0; i < IAT_PARANOID_DRAWS; i++) {
      size_t target = (size_t)probdist_sample(c->len_dist);
      if (target == 0)
        continue; /* a zero-byte write says nothing; draw again */
      if (held < target) {
        if (pad_burst(c, c->held, held, target) != 0)
          return -1;
        held = evbuffer_get_length(c->held);
        if (held != target)
          continue;
      }
      n = target;
      break;
    }
    if (n > held)
      n = held;
  }
  evbuffer_remove_buffer(c->held, c->base.io->wire_out, n);
  iat_arm(c);
  return 0;
}

static void on_iat_timer(evutil_socket_t fd, short what, void *arg) {
  obfs4_codec_t *c = arg;
  c->iat_waiting = false;
  if (iat_release(c) != 0) {
    c->base.io->error(c->base.io);
    return;
  }
  /* The burst is out: the next one may be framed. */
  if (evbuffer_get_length(c->held) == 0)
    c->base.io->kick(c->base.io);
}

static codec_result_t encode_burst(obfs4_codec_t *c, struct evbuffer *plain_in,
                                   struct evbuffer *wire_out) {
  if (c->iat_mode == OBFS4_IAT_NONE) {
    size_t before = evbuffer_get_length(wire_out);
    if (frame_plaintext(c, plain_in, wire_out, evbuffer_get_length(plain_in)) < 0)
      return CODEC_ERROR;
    size_t burst = evbuffer_get_length(wire_out) - before;
    if (burst > 0 &&
        pad_burst(c, wire_out, burst, (size_t)probdist_sample(c->len_dist)) != 0)
      return CODEC_ERROR;
    return CODEC_OK;
  }
  if (evbuffer_get_length(c->held) == 0) {
    ssize_t took = frame_plaintext(c, plain_in, c->held, IAT_BURST_MAX);
    if (took < 0)
      return CODEC_ERROR;
    size_t burst = evbuffer_get_length(c->held);
    /* iat-mode 2 pads each chunk as it goes out instead. */
    if (burst > 0 && c->iat_mode == OBFS4_IAT_ENABLED &&
        pad_burst(c, c->held, burst, (size_t)probdist_sample(c->len_dist)) != 0)
      return CODEC_ERROR;
  }
  if (iat_release(c) != 0)
    return CODEC_ERROR;
  /* What is left waits in the relay's buffer until the timer kicks. */
  return evbuffer_get_length(plain_in) > 0 ? CODEC_NEED_MORE : CODEC_OK;
}

/* The pacing timer needs the event base, which the codec learns only
 * when it is wrapped: created on first use. */
static bool iat_ready(obfs4_codec_t *c) {
  if (c->iat_mode == OBFS4_IAT_NONE || c->iat_timer)
    return true;
  c->iat_timer = evtimer_new(c->base.io->base, on_iat_timer, c);
  return c->iat_timer != NULL;
}

/* A client must shape data before the server's seed came (it comes with
 * the reply, so this is rare): a random shape meanwhile, as obfs4proxy
 * starts with. False if out of memory. */
static bool client_early_tables(obfs4_codec_t *c) {
  size_t n = c->iat_mode == OBFS4_IAT_NONE ? 1 : 2;
  uint8_t seed[DRBG_SEED_LEN];
  c->early = calloc(n, sizeof *c->early);
  if (!c->early)
    return false;
  randombytes_buf(seed, sizeof seed);
  probdist_init(&c->early[0], seed, 0, OBFS4_MAX_SEGMENT_LEN, false);
  c->len_dist = &c->early[0];
  if (n == 2) {
    uint8_t iat_seed[DRBG_SEED_LEN];
    obfs4_iat_seed(iat_seed, seed);
    probdist_init(&c->early[1], iat_seed, 0, IAT_MAX_SAMPLE, false);
    c->iat_dist = &c->early[1];
    sodium_memzero(iat_seed, sizeof iat_seed);
  }
  sodium_memzero(seed, sizeof seed);
  return true;
}

static codec_result_t obfs4_on_plain(codec_t *base, struct evbuffer *plain_in,
                                     struct evbuffer *wire_out) {
  obfs4_codec_t *c = (obfs4_codec_t *)base;
  if (c->phase != OBFS4_OPEN)
    return CODEC_NEED_MORE; /* held until the handshake is done */
  if (evbuffer_get_length(plain_in) == 0)
    return CODEC_OK;
  if (!c->len_dist && !client_early_tables(c))
    return CODEC_ERROR;
  if (!iat_ready(c))
    return CODEC_ERROR;
  return encode_burst(c, plain_in, wire_out);
}

/* Both directions' keys from the handshake's key material: a client
 * sends with the first half, a server with the second. */
static void start_framing(obfs4_codec_t *c, uint8_t keymat[OBFS4_KEYMAT_LEN]) {
  const uint8_t *first = keymat, *second = keymat + OBFS4_FRAMING_KEY_LEN;
  obfs4_framer_init(&c->enc, c->srv ? second : first);
  obfs4_deframer_init(&c->dec, c->srv ? first : second);
  sodium_memzero(keymat, OBFS4_KEYMAT_LEN);
  c->phase = OBFS4_OPEN;
}

/* The client heard the server's length seed: the distributions are the
 * ones it gives, so this connection's shape is the bridge's. Every
 * connection to the bridge gets the same seed, so the tables come from
 * the shared cache. False if out of memory. */
static bool client_take_seed(obfs4_codec_t *c, const uint8_t seed[OBFS4_SEED_PACKET_LEN]) {
  const probdist_t *len = probdist_shared_get(seed, 0, OBFS4_MAX_SEGMENT_LEN, false);
  const probdist_t *iat = NULL;
  if (len && c->iat_mode != OBFS4_IAT_NONE) {
    uint8_t iat_seed[DRBG_SEED_LEN];
    obfs4_iat_seed(iat_seed, seed);
    iat = probdist_shared_get(iat_seed, 0, IAT_MAX_SAMPLE, false);
    if (!iat) {
      probdist_shared_put(len);
      return false;
    }
  }
  if (!len)
    return false;
  /* A server may send its seed again: the last one counts. */
  probdist_shared_put(c->shared_len);
  probdist_shared_put(c->shared_iat);
  c->shared_len = c->len_dist = len;
  c->shared_iat = c->iat_dist = iat;
  free(c->early);
  c->early = NULL;
  return true;
}

static codec_result_t read_frames(obfs4_codec_t *c, struct evbuffer *wire_in,
                                  struct evbuffer *plain_out) {
  uint8_t seed[OBFS4_SEED_PACKET_LEN];
  bool seed_seen = false;
  const char *why = NULL;
  obfs4_deframe_result_t r = obfs4_deframe(&c->dec, wire_in, plain_out, seed, &seed_seen, &why);
  if (seed_seen && !c->srv && !client_take_seed(c, seed)) {
    log_warn("obfs4: out of memory for the bridge's packet length tables");
    return CODEC_ERROR;
  }
  if (r == OBFS4_DEFRAME_ERROR) {
    log_debug("obfs4: closing: %s", why ? why : "bad frame");
    return CODEC_ERROR;
  }
  return CODEC_OK;
}

static codec_result_t client_read_reply(obfs4_codec_t *c, struct evbuffer *wire_in) {
  size_t len = evbuffer_get_length(wire_in);
  size_t n = len < OBFS4_MAX_HANDSHAKE_LEN ? len : OBFS4_MAX_HANDSHAKE_LEN;
  const uint8_t *p = evbuffer_pullup(wire_in, (ev_ssize_t)n);
  if (n == 0 || !p)
    return CODEC_NEED_MORE;
  size_t consumed = 0;
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  switch (obfs4_client_hs_reply(&c->hs.client, p, n, &consumed, keymat)) {
  case OBFS4_HS_OK:
    break;
  case OBFS4_HS_NEED_MORE:
    if (n < OBFS4_MAX_HANDSHAKE_LEN)
      return CODEC_NEED_MORE;
    /* No reply within the longest a reply can be. */
    __attribute__((fallthrough));
  case OBFS4_HS_ERROR:
  case OBFS4_HS_REPLAY:
    log_debug("obfs4: the server's handshake reply is not valid");
    return CODEC_ERROR;
  }
  evbuffer_drain(wire_in, consumed);
  obfs4_client_hs_clear(&c->hs.client);
  start_framing(c, keymat);
  c->base.io->ready(c->base.io);
  c->base.io->kick(c->base.io); /* plaintext written early may flow now */
  return CODEC_OK;
}

static codec_result_t server_read_request(obfs4_codec_t *c, struct evbuffer *wire_in) {
  size_t len = evbuffer_get_length(wire_in);
  /* A client sends nothing after its request until we answer, so more
   * than the longest request is never one. */
  if (len > OBFS4_MAX_HANDSHAKE_LEN) {
    log_debug("obfs4: no valid handshake in %zu bytes; ignoring the client", len);
    return CODEC_DISCARD;
  }
  const uint8_t *p = evbuffer_pullup(wire_in, (ev_ssize_t)len);
  if (len == 0 || !p)
    return CODEC_NEED_MORE;
  const obfs4_server_ctx_t *srv = c->srv;
  switch (obfs4_server_hs_request(&c->hs.server, srv->replay, p, len, now_s())) {
  case OBFS4_HS_OK:
    break;
  case OBFS4_HS_NEED_MORE:
    return CODEC_NEED_MORE;
  case OBFS4_HS_REPLAY:
    log_debug("obfs4: replayed handshake; ignoring the client");
    return CODEC_DISCARD;
  case OBFS4_HS_ERROR:
    log_debug("obfs4: invalid handshake; ignoring the client");
    return CODEC_DISCARD;
  }
  evbuffer_drain(wire_in, len);
  elligator2_keypair_t eph;
  elligator2_keypair_generate(&eph);
  uint8_t reply[OBFS4_MAX_HANDSHAKE_LEN];
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  size_t n = obfs4_server_hs_reply(&c->hs.server, &eph, reply,
                                   random_between(OBFS4_SERVER_MIN_PAD, OBFS4_SERVER_MAX_PAD),
                                   keymat);
  sodium_memzero(&eph, sizeof eph);
  obfs4_server_hs_clear(&c->hs.server);
  if (n == 0) {
    log_debug("obfs4: ntor failed; ignoring the client");
    return CODEC_DISCARD;
  }
  start_framing(c, keymat);
  /* The reply and the length seed go out together, as obfs4proxy sends
   * them, so the seed frame is part of what the client measures. */
  struct evbuffer *out = c->base.io->wire_out;
  if (evbuffer_add(out, reply, n) != 0 ||
      obfs4_frame_packet(&c->enc, out, OBFS4_PACKET_PRNG_SEED, srv->state.drbg_seed,
                         OBFS4_SEED_PACKET_LEN, 0) != 0)
    return CODEC_ERROR;
  c->base.io->ready(c->base.io);
  c->base.io->kick(c->base.io); /* plaintext written early may flow now */
  return CODEC_OK;
}

static codec_result_t obfs4_on_wire(codec_t *base, struct evbuffer *wire_in,
                                    struct evbuffer *plain_out) {
  obfs4_codec_t *c = (obfs4_codec_t *)base;
  if (c->phase == OBFS4_HANDSHAKE) {
    codec_result_t r = c->srv ? server_read_request(c, wire_in) : client_read_reply(c, wire_in);
    if (r != CODEC_OK || c->phase != OBFS4_OPEN)
      return r;
    /* Frames may have come right behind the server's reply. */
  }
  return read_frames(c, wire_in, plain_out);
}

static codec_result_t obfs4_client_start(codec_t *base) {
  obfs4_codec_t *c = (obfs4_codec_t *)base;
  uint8_t request[OBFS4_MAX_HANDSHAKE_LEN];
  elligator2_keypair_generate(&c->hs.client.eph);
  size_t n = obfs4_client_hs_request(&c->hs.client, request,
                                     random_between(OBFS4_CLIENT_MIN_PAD, OBFS4_CLIENT_MAX_PAD),
                                     obfs4_epoch_hour(now_s()));
  return evbuffer_add(c->base.io->wire_out, request, n) == 0 ? CODEC_OK : CODEC_ERROR;
}

static size_t obfs4_held(const codec_t *base) {
  const obfs4_codec_t *c = (const obfs4_codec_t *)base;
  return c->held ? evbuffer_get_length(c->held) : 0;
}

static void obfs4_codec_free(codec_t *base) {
  obfs4_codec_t *c = (obfs4_codec_t *)base;
  if (c->iat_timer)
    event_free(c->iat_timer);
  if (c->held)
    evbuffer_free(c->held);
  probdist_shared_put(c->shared_len);
  probdist_shared_put(c->shared_iat);
  free(c->early);
  obfs4_framer_clear(&c->enc);
  obfs4_deframer_clear(&c->dec);
  sodium_memzero(c, sizeof *c);
  free(c);
}

static const codec_ops_t obfs4_client_ops = {
    .start = obfs4_client_start,
    .on_wire = obfs4_on_wire,
    .on_plain = obfs4_on_plain,
    .free = obfs4_codec_free,
    .handshake = true,
    .held = obfs4_held,
};

static const codec_ops_t obfs4_server_ops = {
    .on_wire = obfs4_on_wire,
    .on_plain = obfs4_on_plain,
    .free = obfs4_codec_free,
    .handshake = true,
    .held = obfs4_held,
};

static obfs4_codec_t *codec_alloc(obfs4_iat_mode_t iat_mode) {
  obfs4_codec_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->iat_mode = iat_mode;
  c->dec.next_len = -1;
  if (iat_mode != OBFS4_IAT_NONE && !(c->held = evbuffer_new())) {
    free(c);
    return NULL;
  }
  return c;
}

codec_t *obfs4_client_codec_new(const obfs4_bridge_t *bridge, obfs4_iat_mode_t iat_mode) {
  obfs4_codec_t *c = codec_alloc(iat_mode);
  if (!c)
    return NULL;
  /* No distributions yet: the server's seed comes with its reply, before
   * any data can be sent (client_early_tables covers the exception). */
  c->hs.client.bridge = *bridge;
  c->base.ops = &obfs4_client_ops;
  return &c->base;
}

codec_t *obfs4_server_codec_new(const obfs4_server_ctx_t *srv) {
  obfs4_iat_mode_t iat_mode = srv->state.iat_mode;
  obfs4_codec_t *c = codec_alloc(iat_mode);
  if (!c)
    return NULL;
  c->srv = srv;
  c->hs.server.id = &srv->state.id;
  c->len_dist = &srv->len_dist;
  c->iat_dist = iat_mode != OBFS4_IAT_NONE ? &srv->iat_dist : NULL;
  c->base.ops = &obfs4_server_ops;
  return &c->base;
}
