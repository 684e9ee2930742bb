/* client: see client.h.
 *
 * Per connection: HANDSHAKE (SOCKS listeners only) -> DIALING (the server
 * and, for transports with a handshake of their own, that handshake:
 * transport_dial.h; the SOCKS reply waits for it, so the application
 * learns of a refused or failed handshake as a failed CONNECT) ->
 * RELAYING. Until RELAYING the
 * connection owns the application bufferevent; from then on the relay owns both sides and the connection
 * only keeps the relay handle, so client_free() can abort it.
 *
 * The connection limit holds every listener (new connections wait in the
 * kernel's backlog) while the limit is reached, and releases them when a
 * connection closes: backpressure rather than refusals. */
#include "client/client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/socks_handshake.h"
#include "client/transport_dial.h"
#include "lib/log.h"
#include "net/conn_limit.h"
#include "net/closing.h"
#include "net/listener.h"
#include "net/relay.h"

typedef struct client_listener {
  client_t *client;
  client_listen_kind_t kind;
  const transport_ops_t *transport;
  kvlist_t *args;
  addr_endpoint_t target;
  net_listener_t *net; /* the listening socket; NULL once stopped */
  struct client_listener *next;
} client_listener_t;

typedef enum { CONN_HANDSHAKE, CONN_DIALING, CONN_RELAYING } conn_state_t;

typedef struct client_conn {
  client_t *client;
  client_listener_t *listener;
  conn_state_t state;
  struct bufferevent *app;
  client_socks_t socks; /* SOCKS listeners: the handshake and its outcome */
  /* The handshake's one deadline: a read timeout would restart with every
   * byte, and a client sending one byte a minute would never meet it. */
  struct event *deadline;
  transport_dial_t *dial;
  relay_t *relay;
  char peer[ADDR_TEXT_MAX]; /* already scrubbed unless unsafe logging */
  struct client_conn *prev, *next;
} client_conn_t;

struct client {
  struct event_base *base;
  struct evdns_base *dns;
  client_opts_t opts;
  client_listener_t *listeners;
  client_conn_t *conns;
  conn_limit_t limit; /* .open counts conns */
};

static void hold_listeners(client_t *c, bool hold) {
  for (client_listener_t *cl = c->listeners; cl; cl = cl->next)
    net_listener_hold(cl->net, hold);
}

static void conn_unlink(client_conn_t *cc) {
  client_t *c = cc->client;
  if (cc->prev)
    cc->prev->next = cc->next;
  else
    c->conns = cc->next;
  if (cc->next)
    cc->next->prev = cc->prev;
  if (conn_limit_closed(&c->limit))
    hold_listeners(c, false);
}

/* Ends a connection: the caller has already handed off or freed the
 * bufferevents it owned. */
static void conn_free(client_conn_t *cc) {
  client_t *c = cc->client;
  conn_unlink(cc);
  if (cc->deadline)
    event_free(cc->deadline);
  client_socks_clear(&cc->socks);
  free(cc);
  if (c->limit.open == 0 && c->opts.on_idle)
    c->opts.on_idle(c->opts.ctx);
}

/* Flushes whatever reply is queued, hangs up, ends cc. */
static void conn_close(client_conn_t *cc) {
  net_close_when_flushed(cc->app);
  cc->app = NULL;
  conn_free(cc);
}

static void on_relay_done(void *ctx, const relay_stats_t *st, const char *reason) {
  client_conn_t *cc = ctx;
  cc->relay = NULL;
  log_debug("client %s: closed (%zu bytes out, %zu in%s%s)", cc->peer, st->a_to_b,
            st->b_to_a, reason ? ", " : "", reason ? reason : "");
  conn_free(cc);
}

static void conn_reply_dialed(client_conn_t *cc, const struct sockaddr *bound, int err) {
  if (cc->listener->kind == CLIENT_LISTEN_SOCKS)
    client_socks_reply_dialed(&cc->socks, bufferevent_get_output(cc->app), bound, err);
}

static const kvlist_t *conn_args(const client_conn_t *cc) {
  return cc->listener->kind == CLIENT_LISTEN_SOCKS ? cc->socks.args : cc->listener->args;
}

/* The stream to the server is ready for the application's bytes. */
static void conn_relay(client_conn_t *cc, struct bufferevent *stream,
                       const struct sockaddr *local) {
  const transport_ops_t *t = cc->listener->transport;
  conn_reply_dialed(cc, local, 0);
  client_socks_clear(&cc->socks); /* the codec has what it needs */
  struct bufferevent *app = cc->app;
  cc->app = NULL;
  cc->state = CONN_RELAYING;
  log_debug("client %s: connected through %s", cc->peer, t->name);
  cc->relay = relay_start(app, stream, cc->client->opts.idle_timeout_s, on_relay_done, cc);
  if (!cc->relay)
    conn_free(cc);
}

static void on_transport_dialed(void *ctx, struct bufferevent *stream,
                                const struct sockaddr *local, int err) {
  client_conn_t *cc = ctx;
  cc->dial = NULL;
  if (!stream) {
    conn_reply_dialed(cc, NULL, err);
    conn_close(cc);
    return;
  }
  conn_relay(cc, stream, local);
}

static void conn_dial(client_conn_t *cc, const addr_endpoint_t *dest) {
  client_t *c = cc->client;
  /* Stop reading: bytes the application sends before our reply stay
   * buffered and reach the server once the relay starts. */
  bufferevent_disable(cc->app, EV_READ);
  if (cc->deadline) {
    event_free(cc->deadline); /* the dial has its own */
    cc->deadline = NULL;
  }
  cc->state = CONN_DIALING;
  cc->dial = transport_dial_start(c->base, c->dns, dest, cc->listener->transport, conn_args(cc),
                                  &c->opts.dial, cc->peer, on_transport_dialed, cc);
  if (!cc->dial) {
    conn_reply_dialed(cc, NULL, ENOMEM);
    conn_close(cc);
  }
}

static void on_app_read(struct bufferevent *bev, void *arg) {
  client_conn_t *cc = arg;
  if (cc->state != CONN_HANDSHAKE)
    return;
  switch (client_socks_step(&cc->socks, bufferevent_get_input(bev), bufferevent_get_output(bev))) {
  case CSOCKS_MORE:
    return;
  case CSOCKS_CLOSE:
    if (cc->socks.args_refused)
      log_warn("client %s: %s", cc->peer, cc->socks.why);
    else
      log_info("client %s: %s", cc->peer, cc->socks.why);
    conn_close(cc);
    return;
  case CSOCKS_DIAL:
    conn_dial(cc, &cc->socks.dest);
    return;
  }
}

static void on_app_event(struct bufferevent *bev, short what, void *arg) {
  client_conn_t *cc = arg;
  transport_dial_cancel(cc->dial);
  cc->dial = NULL;
  bufferevent_free(cc->app);
  cc->app = NULL;
  conn_free(cc);
}

static void on_handshake_deadline(evutil_socket_t fd, short what, void *arg) {
  client_conn_t *cc = arg;
  log_info("client %s: SOCKS handshake timed out", cc->peer);
  client_socks_reply_timeout(&cc->socks, bufferevent_get_output(cc->app));
  conn_close(cc);
}

static void on_accept(void *arg, int fd, const struct sockaddr *sa) {
  client_listener_t *cl = arg;
  client_t *c = cl->client;
  client_conn_t *cc = calloc(1, sizeof *cc);
  struct bufferevent *bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!cc || !bev) {
    free(cc);
    if (bev)
      bufferevent_free(bev);
    else
      close(fd);
    log_error("client: out of memory accepting a connection");
    return;
  }
  cc->client = c;
  cc->listener = cl;
  cc->app = bev;
  log_addr(sa, cc->peer);
  cc->next = c->conns;
  if (c->conns)
    c->conns->prev = cc;
  c->conns = cc;
  if (conn_limit_opened(&c->limit))
    hold_listeners(c, true);
  log_debug("client %s: accepted on %s listener", cc->peer, cl->transport->name);
  if (cl->kind == CLIENT_LISTEN_TRANSPARENT) {
    bufferevent_setcb(bev, NULL, NULL, on_app_event, cc);
    conn_dial(cc, &cl->target);
    return;
  }
  client_socks_init(&cc->socks, cl->transport, cl->args, c->opts.json_limit);
  cc->state = CONN_HANDSHAKE;
  if (c->opts.handshake_timeout_s) {
    struct timeval limit = {c->opts.handshake_timeout_s, 0};
    cc->deadline = evtimer_new(c->base, on_handshake_deadline, cc);
    if (!cc->deadline || evtimer_add(cc->deadline, &limit) != 0) {
      log_error("client: out of memory accepting a connection");
      bufferevent_free(cc->app);
      cc->app = NULL;
      conn_free(cc);
      return;
    }
  }
  bufferevent_setcb(bev, on_app_read, NULL, on_app_event, cc);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

client_t *client_new(struct event_base *base, struct evdns_base *dns,
                     const client_opts_t *opts) {
  client_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->base = base;
  c->dns = dns;
  c->opts = *opts;
  c->limit.max = opts->max_conns;
  c->limit.role = "client";
  return c;
}

int client_add_listener(client_t *c, const client_listen_spec_t *spec,
                        struct sockaddr_storage *bound, char *err, size_t errlen) {
  if (spec->kind == CLIENT_LISTEN_TRANSPARENT &&
      spec->transport->client_args_check(spec->args, err, errlen) != 0)
    return -1;
  client_listener_t *cl = calloc(1, sizeof *cl);
  if (!cl) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  cl->client = c;
  cl->kind = spec->kind;
  cl->transport = spec->transport;
  cl->args = spec->args ? kvlist_copy(spec->args) : NULL;
  if (spec->target)
    cl->target = *spec->target;
  cl->net = net_listen(c->base, spec->listen, on_accept, cl, bound, err, errlen);
  if (!cl->net || (spec->args && !cl->args)) {
    net_listener_free(cl->net);
    kvlist_free(cl->args);
    free(cl);
    return -1;
  }
  net_listener_hold(cl->net, c->limit.held);
  cl->next = c->listeners;
  c->listeners = cl;
  return 0;
}

void client_stop_listening(client_t *c) {
  for (client_listener_t *cl = c->listeners; cl; cl = cl->next) {
    net_listener_free(cl->net);
    cl->net = NULL;
  }
}

size_t client_open_connections(const client_t *c) { return c->limit.open; }

void client_free(client_t *c) {
  if (!c)
    return;
  c->opts.on_idle = NULL; /* tearing down: nobody to tell */
  client_stop_listening(c);
  while (c->conns) {
    client_conn_t *cc = c->conns;
    transport_dial_cancel(cc->dial);
    if (cc->relay)
      relay_abort(cc->relay);
    if (cc->app)
      bufferevent_free(cc->app);
    conn_free(cc);
  }
  while (c->listeners) {
    client_listener_t *cl = c->listeners;
    c->listeners = cl->next;
    kvlist_free(cl->args);
    free(cl);
  }
  free(c);
}
