/* transport_dial: see transport_dial.h. DIALING (net/dial.h) ->
 * HANDSHAKE (codecs with ops->handshake: wait for BEV_EVENT_CONNECTED on
 * the stream, within the deadline) -> done. */
#include "client/transport_dial.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "net/dial.h"

struct transport_dial {
  struct event_base *base;
  const transport_ops_t *transport;
  const kvlist_t *args;
  unsigned handshake_timeout_s;
  transport_dial_done_fn done;
  void *ctx;
  dial_t *dial;
  struct bufferevent *stream; /* while the transport's handshake runs */
  struct event *deadline;
  struct sockaddr_storage local;
  char peer[ADDR_TEXT_MAX];
};

static void td_free(transport_dial_t *d) {
  if (d->deadline)
    event_free(d->deadline);
  free(d);
}

static void td_finish(transport_dial_t *d, struct bufferevent *stream, int err) {
  transport_dial_done_fn done = d->done;
  void *ctx = d->ctx;
  struct sockaddr_storage local = d->local;
  td_free(d);
  done(ctx, stream, stream && local.ss_family ? (const struct sockaddr *)&local : NULL, err);
}

static void td_failed_handshake(transport_dial_t *d, int err) {
  bufferevent_free(d->stream);
  d->stream = NULL;
  td_finish(d, NULL, err);
}

static void on_stream_event(struct bufferevent *bev, short what, void *arg) {
  transport_dial_t *d = arg;
  if (what & BEV_EVENT_CONNECTED) {
    struct bufferevent *stream = d->stream;
    d->stream = NULL;
    bufferevent_setcb(stream, NULL, NULL, NULL, NULL);
    td_finish(d, stream, 0);
    return;
  }
  log_info("client %s: %s handshake failed: %s", d->peer, d->transport->name,
           (what & BEV_EVENT_EOF) ? "the server closed the connection"
                                  : "the server's reply is not valid");
  td_failed_handshake(d, EPROTO);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  transport_dial_t *d = arg;
  log_info("client %s: %s handshake timed out", d->peer, d->transport->name);
  td_failed_handshake(d, ETIMEDOUT);
}

/* Lets the codec run its handshake before anything is promised. */
static void td_await_handshake(transport_dial_t *d, struct bufferevent *stream) {
  d->stream = stream;
  if (d->handshake_timeout_s) {
    struct timeval limit = {d->handshake_timeout_s, 0};
    d->deadline = evtimer_new(d->base, on_deadline, d);
    if (!d->deadline || evtimer_add(d->deadline, &limit) != 0) {
      log_error("client: out of memory connecting to the server");
      td_failed_handshake(d, ENOMEM);
      return;
    }
  }
  bufferevent_setcb(stream, NULL, NULL, on_stream_event, d);
  bufferevent_enable(stream, EV_READ | EV_WRITE);
}

static void on_dialed(void *ctx, struct bufferevent *wire, int err) {
  transport_dial_t *d = ctx;
  const transport_ops_t *t = d->transport;
  d->dial = NULL;
  if (!wire) {
    log_info("client %s: connection to the server failed: %s", d->peer, strerror(err));
    td_finish(d, NULL, err);
    return;
  }
  socklen_t len = sizeof d->local;
  if (getsockname(bufferevent_getfd(wire), (struct sockaddr *)&d->local, &len) != 0)
    memset(&d->local, 0, sizeof d->local);
  char cerr[256];
  codec_t *codec = t->client_codec_new(d->args, cerr, sizeof cerr);
  if (!codec) {
    log_warn("client %s: %s: %s", d->peer, t->name, cerr);
    bufferevent_free(wire);
    td_finish(d, NULL, EPROTO);
    return;
  }
  /* Read before wrapping: an identity codec is freed by the wrap. */
  bool handshake = codec->ops->handshake;
  struct bufferevent *stream = codec_stream_wrap(wire, codec);
  if (!stream) {
    td_finish(d, NULL, ENOMEM);
    return;
  }
  if (handshake)
    td_await_handshake(d, stream);
  else
    td_finish(d, stream, 0);
}

transport_dial_t *transport_dial_start(struct event_base *base, struct evdns_base *dns,
                                       const addr_endpoint_t *dest, const transport_ops_t *t,
                                       const kvlist_t *args, const transport_dial_opts_t *opts,
                                       const char *peer, transport_dial_done_fn done,
                                       void *ctx) {
  transport_dial_t *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->base = base;
  d->transport = t;
  d->args = args;
  d->handshake_timeout_s = opts->handshake_timeout_s;
  d->done = done;
  d->ctx = ctx;
  snprintf(d->peer, sizeof d->peer, "%s", peer);
  dial_opts_t dopts = {
      .bind_v4 = opts->bind_v4,
      .bind_v6 = opts->bind_v6,
      .proxy = opts->proxy,
      .timeout_s = opts->dial_timeout_s,
  };
  d->dial = dial_start(base, dns, dest, &dopts, on_dialed, d);
  if (!d->dial) {
    td_free(d);
    return NULL;
  }
  return d;
}

void transport_dial_cancel(transport_dial_t *d) {
  if (!d)
    return;
  dial_cancel(d->dial);
  if (d->stream)
    bufferevent_free(d->stream);
  td_free(d);
}
