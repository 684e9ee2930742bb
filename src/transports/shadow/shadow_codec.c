/* shadow_codec: see shadow_codec.h. */
#include "transports/shadow/shadow_codec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>

#include "lib/log.h"
#include "transports/shadow/ss_chunk.h"

typedef struct {
  codec_t base;
  shadow_server_ctx_t *srv; /* NULL for a client */
  const ss_cipher_t *cipher;
  uint8_t master[SS_KEY_MAX];
  /* Sending: the salt goes out with the first bytes. */
  ss_session_t enc;
  bool enc_ready;
  /* Client: the address header, until sent. */
  uint8_t header[SS_ADDR_MAX];
  size_t header_len;
  bool header_sent;
  struct event *header_timer;
  /* Receiving. */
  ss_decoder_t dec;
  bool dec_ready;
  uint8_t peer_salt[SS_SALT_MAX]; /* server: for the replay check */
  uint8_t own_salt[SS_SALT_MAX];  /* client: its own stream must not come back as the reply */
  /* Server: the client proved the key (first length tag, fresh salt);
   * its plaintext gathers in pending until the address header is whole. */
  bool authenticated;
  bool header_done;
  addr_endpoint_t dest; /* what the header names */
  struct evbuffer *pending;
} shadow_codec_t;

static const codec_ops_t shadow_client_ops;
static const codec_ops_t shadow_server_ops;

/* Starts the sending direction: a fresh salt, first on the wire. */
static int enc_start(shadow_codec_t *c, struct evbuffer *wire_out) {
  uint8_t salt[SS_SALT_MAX];
  size_t n = c->cipher->key_len;
  randombytes_buf(salt, n);
  /* A server remembers its own salts: a reply played back to it must not
   * pass for a request (the two directions are built alike). */
  if (c->srv)
    replay_filter_test_and_set(c->srv->replay, (uint64_t)time(NULL), salt, n);
  if (ss_session_init(&c->enc, c->cipher, c->master, salt, true) != 0)
    return -1;
  c->enc_ready = true; /* from here shadow_free frees the session */
  if (!c->srv)
    memcpy(c->own_salt, salt, n);
  return evbuffer_add(wire_out, salt, n) == 0 ? 0 : -1;
}

/* Client: the salt and the address header, with up to a chunk's worth of
 * plain_in (which may be NULL) in the same chunk. */
static int send_header(shadow_codec_t *c, struct evbuffer *plain_in, struct evbuffer *wire_out) {
  uint8_t first[SS_MAX_PAYLOAD];
  size_t n = c->header_len;
  memcpy(first, c->header, n);
  if (plain_in) {
    size_t room = SS_MAX_PAYLOAD - n;
    ev_ssize_t got = evbuffer_remove(plain_in, first + n, room);
    if (got < 0)
      return -1;
    n += (size_t)got;
  }
  if (!c->enc_ready && enc_start(c, wire_out) != 0)
    return -1;
  int rc = ss_chunk_seal(&c->enc, wire_out, first, n);
  sodium_memzero(first, n);
  c->header_sent = true;
  if (c->header_timer)
    evtimer_del(c->header_timer);
  return rc;
}

static void on_header_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  shadow_codec_t *c = arg;
  if (!c->header_sent && send_header(c, NULL, c->base.io->wire_out) != 0)
    c->base.io->error(c->base.io);
}

static codec_result_t client_start(codec_t *base) {
  shadow_codec_t *c = (shadow_codec_t *)base;
  struct timeval tv = {0, SHADOW_HEADER_WAIT_MS * 1000};
  c->header_timer = evtimer_new(base->io->base, on_header_timer, c);
  if (!c->header_timer || evtimer_add(c->header_timer, &tv) != 0)
    return CODEC_ERROR;
  return CODEC_OK;
}

static codec_result_t shadow_on_plain(codec_t *base, struct evbuffer *plain_in,
                                      struct evbuffer *wire_out) {
  shadow_codec_t *c = (shadow_codec_t *)base;
  if (evbuffer_get_length(plain_in) == 0)
    return CODEC_OK;
  if (!c->srv && !c->header_sent && send_header(c, plain_in, wire_out) != 0)
    return CODEC_ERROR;
  if (!c->enc_ready && enc_start(c, wire_out) != 0)
    return CODEC_ERROR;
  return ss_chunks_seal(&c->enc, plain_in, wire_out) == 0 ? CODEC_OK : CODEC_ERROR;
}

/* Takes the peer's salt off wire_in once it is all there. */
static codec_result_t dec_start(shadow_codec_t *c, struct evbuffer *wire_in) {
  uint8_t salt[SS_SALT_MAX];
  size_t n = c->cipher->key_len;
  if (evbuffer_get_length(wire_in) < n)
    return CODEC_NEED_MORE;
  evbuffer_remove(wire_in, salt, n);
  /* The two directions are built alike: a client's own stream sent back
   * to it would open under the same key and pass for the server's. */
  if (!c->srv && c->enc_ready && sodium_memcmp(salt, c->own_salt, n) == 0) {
    log_debug("shadow: the server's salt is our own: a reflected stream; closing");
    return CODEC_ERROR;
  }
  ss_session_t s;
  if (ss_session_init(&s, c->cipher, c->master, salt, false) != 0)
    return CODEC_ERROR;
  ss_decoder_init(&c->dec, &s);
  c->dec_ready = true;
  if (c->srv)
    memcpy(c->peer_salt, salt, n);
  return CODEC_OK;
}

/* The data phase, either role: every whole chunk to plain_out. */
static codec_result_t open_chunks(shadow_codec_t *c, struct evbuffer *wire_in,
                                  struct evbuffer *plain_out) {
  const char *why = NULL;
  if (ss_chunks_open(&c->dec, wire_in, plain_out, 0, NULL, &why) != SS_DECODE_OK) {
    log_debug("shadow: closing: %s", why);
    return CODEC_ERROR;
  }
  return CODEC_OK;
}

static codec_result_t client_on_wire(codec_t *base, struct evbuffer *wire_in,
                                     struct evbuffer *plain_out) {
  shadow_codec_t *c = (shadow_codec_t *)base;
  codec_result_t r = c->dec_ready ? CODEC_OK : dec_start(c, wire_in);
  return r == CODEC_OK ? open_chunks(c, wire_in, plain_out) : r;
}

/* Server, before ready(): a verdict on what has arrived so far. */
static codec_result_t server_handshake(shadow_codec_t *c, struct evbuffer *wire_in) {
  const char *why = NULL;
  size_t chunks = 0;
  if (!c->authenticated) {
    /* One chunk at most until the salt is known to be fresh: a replayed
     * stream must not get as far as its payload. */
    if (ss_chunks_open(&c->dec, wire_in, c->pending, 1, &chunks, &why) != SS_DECODE_OK) {
      log_debug("shadow: %s before the address; ignoring the client", why);
      return CODEC_DISCARD;
    }
    if (chunks == 0 && c->dec.next_len < 0)
      return CODEC_NEED_MORE; /* the first length tag is not all here */
    if (replay_filter_test_and_set(c->srv->replay, (uint64_t)time(NULL), c->peer_salt,
                                   c->cipher->key_len)) {
      log_debug("shadow: replayed salt; ignoring the client");
      return CODEC_DISCARD;
    }
    c->authenticated = true;
  }
  if (ss_chunks_open(&c->dec, wire_in, c->pending, 0, NULL, &why) != SS_DECODE_OK) {
    log_debug("shadow: %s before the address; ignoring the client", why);
    return CODEC_DISCARD;
  }
  uint8_t head[SS_ADDR_MAX];
  size_t have = evbuffer_get_length(c->pending);
  if (have > sizeof head)
    have = sizeof head;
  if (evbuffer_copyout(c->pending, head, have) != (ev_ssize_t)have)
    return CODEC_ERROR;
  int n = ss_addr_parse(head, have, &c->dest);
  if (n < 0) {
    log_debug("shadow: the client's address header is malformed; ignoring the client");
    return CODEC_DISCARD;
  }
  if (n == 0)
    return CODEC_NEED_MORE;
  /* The header names where a plain Shadowsocks server would connect; a
   * PT server forwards to its own target whatever it says, unless it is
   * an open proxy (destination()). */
  evbuffer_drain(c->pending, (size_t)n);
  c->header_done = true;
  return CODEC_OK;
}

static codec_result_t server_on_wire(codec_t *base, struct evbuffer *wire_in,
                                     struct evbuffer *plain_out) {
  shadow_codec_t *c = (shadow_codec_t *)base;
  codec_result_t r = c->dec_ready ? CODEC_OK : dec_start(c, wire_in);
  if (r != CODEC_OK)
    return r;
  if (!c->header_done) {
    r = server_handshake(c, wire_in);
    if (r != CODEC_OK)
      return r;
    evbuffer_add_buffer(plain_out, c->pending);
    evbuffer_free(c->pending); /* an idle connection keeps no spare buffer */
    c->pending = NULL;
    c->base.io->ready(c->base.io);
  }
  return open_chunks(c, wire_in, plain_out);
}

static const addr_endpoint_t *server_destination(const codec_t *base) {
  const shadow_codec_t *c = (const shadow_codec_t *)base;
  return c->header_done ? &c->dest : NULL;
}

static void shadow_free(codec_t *base) {
  shadow_codec_t *c = (shadow_codec_t *)base;
  if (c->header_timer)
    event_free(c->header_timer);
  if (c->enc_ready)
    ss_session_clear(&c->enc);
  if (c->dec_ready)
    ss_decoder_clear(&c->dec);
  if (c->pending)
    evbuffer_free(c->pending);
  sodium_memzero(c, sizeof *c);
  free(c);
}

static const codec_ops_t shadow_client_ops = {
    .start = client_start,
    .on_wire = client_on_wire,
    .on_plain = shadow_on_plain,
    .free = shadow_free,
};

static const codec_ops_t shadow_server_ops = {
    .on_wire = server_on_wire,
    .on_plain = shadow_on_plain,
    .free = shadow_free,
    .handshake = true,
    .destination = server_destination,
};

codec_t *shadow_client_codec_new(const shadow_client_cfg_t *cfg) {
  shadow_codec_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->base.ops = &shadow_client_ops;
  c->cipher = cfg->cipher;
  memcpy(c->master, cfg->master, sizeof c->master);
  memcpy(c->header, cfg->header, cfg->header_len);
  c->header_len = cfg->header_len;
  return &c->base;
}

codec_t *shadow_server_codec_new(shadow_server_ctx_t *srv) {
  shadow_codec_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->base.ops = &shadow_server_ops;
  c->srv = srv;
  c->cipher = srv->cipher;
  memcpy(c->master, srv->master, sizeof c->master);
  c->pending = evbuffer_new();
  if (!c->pending) {
    free(c);
    return NULL;
  }
  return &c->base;
}
