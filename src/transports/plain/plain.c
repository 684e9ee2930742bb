/* plain: the identity transport. No obfuscation at all: for tests,
 * benchmarks, and as the worked example of transport.h. Its codec is
 * flagged identity, so codec_stream_wrap() puts nothing between the relay
 * and the socket and the relay can splice(2) socket to socket; that makes
 * plain the measure of the dispatcher's own cost. on_wire/on_plain move
 * buffer chains unchanged, for any user of the codec that runs it. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/quote.h"
#include "transports/transport.h"

typedef struct plain_codec {
  codec_t base;
} plain_codec_t;

struct transport_server {
  int unused; /* plain keeps no server state; the instance only exists */
};

static codec_result_t plain_on_wire(codec_t *c, struct evbuffer *wire_in,
                                    struct evbuffer *plain_out) {
  evbuffer_add_buffer(plain_out, wire_in);
  return CODEC_OK;
}

static codec_result_t plain_on_plain(codec_t *c, struct evbuffer *plain_in,
                                     struct evbuffer *wire_out) {
  evbuffer_add_buffer(wire_out, plain_in);
  return CODEC_OK;
}

static void plain_codec_free(codec_t *c) { free(c); }

static const codec_ops_t plain_codec_ops = {
    .start = NULL,
    .on_wire = plain_on_wire,
    .on_plain = plain_on_plain,
    .free = plain_codec_free,
    .identity = true,
};

static codec_t *plain_codec_new(void) {
  plain_codec_t *pc = calloc(1, sizeof *pc);
  if (!pc)
    return NULL;
  pc->base.ops = &plain_codec_ops;
  return &pc->base;
}

/* plain takes no arguments; naming the first one tells the user which. */
static int plain_args_check(const kvlist_t *args, char *err, size_t errlen) {
  if (args && args->n > 0) {
    char q[QUOTE_MAX];
    snprintf(err, errlen, "plain takes no arguments: unexpected key %s",
             quote_text(args->items[0].key, q, sizeof q));
    return -1;
  }
  return 0;
}

static codec_t *plain_client_codec_new(const kvlist_t *args, char *err, size_t errlen) {
  if (plain_args_check(args, err, errlen) != 0)
    return NULL;
  codec_t *c = plain_codec_new();
  if (!c)
    snprintf(err, errlen, "out of memory");
  return c;
}

static transport_server_t *plain_server_new(const kvlist_t *options, const char *state_dir,
                                            const kvlist_t **args_out, char *err,
                                            size_t errlen) {
  if (plain_args_check(options, err, errlen) != 0)
    return NULL;
  *args_out = NULL;
  transport_server_t *srv = calloc(1, sizeof *srv);
  if (!srv)
    snprintf(err, errlen, "out of memory");
  return srv;
}

static codec_t *plain_server_codec_new(transport_server_t *srv) { return plain_codec_new(); }

static void plain_server_free(transport_server_t *srv) { free(srv); }

const transport_ops_t plain_transport = {
    .name = "plain",
    .client_args_check = plain_args_check,
    .client_codec_new = plain_client_codec_new,
    .server_new = plain_server_new,
    .server_codec_new = plain_server_codec_new,
    .server_free = plain_server_free,
};
