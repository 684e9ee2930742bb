/* server: see server.h.
 *
 * Per connection: DIALING (the ORPort; the transport stream is not read
 * meanwhile, so a client's early bytes wait in the kernel and the codec)
 * -> RELAYING. */
#include "server/server.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "net/dial.h"
#include "net/listener.h"
#include "net/relay.h"

typedef struct server_listener {
  server_t *server;
  const transport_ops_t *transport;
  transport_server_t *instance;
  net_listener_t *net; /* the listening socket; NULL once stopped */
  struct server_listener *next;
} server_listener_t;

typedef struct server_conn {
  server_t *server;
  server_listener_t *listener;
  struct bufferevent *plain; /* the client's stream, decoded */
  dial_t *dial;
  relay_t *relay;
  char peer[ADDR_TEXT_MAX]; /* scrubbed unless unsafe logging */
  struct server_conn *prev, *next;
} server_conn_t;

struct server {
  struct event_base *base;
  struct evdns_base *dns;
  server_opts_t opts;
  server_listener_t *listeners;
  server_conn_t *conns;
  size_t n_conns;
};

static void conn_free(server_conn_t *sc) {
  server_t *s = sc->server;
  if (sc->prev)
    sc->prev->next = sc->next;
  else
    s->conns = sc->next;
  if (sc->next)
    sc->next->prev = sc->prev;
  s->n_conns--;
  free(sc);
  if (s->n_conns == 0 && s->opts.on_idle)
    s->opts.on_idle(s->opts.ctx);
}

static void on_relay_done(void *ctx, const relay_stats_t *st, const char *reason) {
  server_conn_t *sc = ctx;
  sc->relay = NULL;
  log_debug("server %s: closed (%zu bytes in, %zu out%s%s)", sc->peer, st->a_to_b,
            st->b_to_a, reason ? ", " : "", reason ? reason : "");
  conn_free(sc);
}

static void on_orport_dialed(void *ctx, struct bufferevent *orport, int err) {
  server_conn_t *sc = ctx;
  sc->dial = NULL;
  struct bufferevent *plain = sc->plain;
  sc->plain = NULL;
  if (!orport) {
    log_warn("server: cannot reach the ORPort: %s", strerror(err));
    bufferevent_free(plain);
    conn_free(sc);
    return;
  }
  sc->relay = relay_start(plain, orport, sc->server->opts.idle_timeout_s, on_relay_done, sc);
  if (!sc->relay)
    conn_free(sc);
}

/* The client went away while the ORPort was still being dialed. */
static void on_plain_event(struct bufferevent *bev, short what, void *arg) {
  server_conn_t *sc = arg;
  log_debug("server %s: client left before the ORPort answered", sc->peer);
  dial_cancel(sc->dial);
  sc->dial = NULL;
  bufferevent_free(sc->plain);
  sc->plain = NULL;
  conn_free(sc);
}

static void on_accept(void *arg, int fd, const struct sockaddr *sa) {
  server_listener_t *sl = arg;
  server_t *s = sl->server;
  server_conn_t *sc = calloc(1, sizeof *sc);
  struct bufferevent *wire = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
  codec_t *codec = sl->transport->server_codec_new(sl->instance);
  if (!sc || !wire || !codec) {
    free(sc);
    if (wire)
      bufferevent_free(wire);
    else
      close(fd);
    if (codec)
      codec->ops->free(codec);
    log_error("server: out of memory accepting a connection");
    return;
  }
  sc->plain = codec_stream_wrap(wire, codec);
  if (!sc->plain) {
    free(sc);
    log_error("server: out of memory accepting a connection");
    return;
  }
  sc->server = s;
  sc->listener = sl;
  log_addr(sa, sc->peer);
  sc->next = s->conns;
  if (s->conns)
    s->conns->prev = sc;
  s->conns = sc;
  s->n_conns++;
  log_debug("server %s: accepted on %s listener", sc->peer, sl->transport->name);
  /* Watch for the client leaving, but read nothing until the ORPort is up. */
  bufferevent_setcb(sc->plain, NULL, NULL, on_plain_event, sc);
  bufferevent_enable(sc->plain, EV_WRITE);
  dial_opts_t dopts = {
      .bind_v4 = s->opts.bind_v4,
      .bind_v6 = s->opts.bind_v6,
      .timeout_s = s->opts.dial_timeout_s,
  };
  sc->dial = dial_start(s->base, s->dns, &s->opts.orport, &dopts, on_orport_dialed, sc);
  if (!sc->dial) {
    bufferevent_free(sc->plain);
    sc->plain = NULL;
    conn_free(sc);
  }
}

server_t *server_new(struct event_base *base, struct evdns_base *dns,
                     const server_opts_t *opts) {
  server_t *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->base = base;
  s->dns = dns;
  s->opts = *opts;
  return s;
}

int server_add_listener(server_t *s, const transport_ops_t *t, const kvlist_t *options,
                        const char *state_dir, const addr_endpoint_t *bind,
                        struct sockaddr_storage *bound, const kvlist_t **args_out,
                        char *err, size_t errlen) {
  server_listener_t *sl = calloc(1, sizeof *sl);
  if (!sl) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *args_out = NULL;
  sl->server = s;
  sl->transport = t;
  sl->instance = t->server_new(options, state_dir, args_out, err, errlen);
  if (!sl->instance) {
    free(sl);
    return -1;
  }
  sl->net = net_listen(s->base, bind, on_accept, sl, bound, err, errlen);
  if (!sl->net) {
    t->server_free(sl->instance);
    *args_out = NULL;
    free(sl);
    return -1;
  }
  sl->next = s->listeners;
  s->listeners = sl;
  return 0;
}

void server_stop_listening(server_t *s) {
  for (server_listener_t *sl = s->listeners; sl; sl = sl->next) {
    net_listener_free(sl->net);
    sl->net = NULL;
  }
}

size_t server_open_connections(const server_t *s) { return s->n_conns; }

void server_free(server_t *s) {
  if (!s)
    return;
  s->opts.on_idle = NULL;
  while (s->conns) {
    server_conn_t *sc = s->conns;
    if (sc->dial)
      dial_cancel(sc->dial);
    if (sc->relay)
      relay_abort(sc->relay);
    if (sc->plain)
      bufferevent_free(sc->plain);
    conn_free(sc);
  }
  server_stop_listening(s);
  while (s->listeners) {
    server_listener_t *sl = s->listeners;
    s->listeners = sl->next;
    sl->transport->server_free(sl->instance);
    free(sl);
  }
  free(s);
}
