/* client: see client.h.
 *
 * Per connection: GREETING -> REQUEST -> DIALING -> RELAYING. Until
 * RELAYING the connection owns the application bufferevent; from then on
 * the relay owns both sides and the connection only keeps the relay
 * handle, so client_free() can abort it. */
#include "client/client.h"

#include <errno.h>
#include <event2/buffer.h>
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
#include "net/socks5.h"

typedef struct client_listener {
  client_t *client;
  const transport_ops_t *transport;
  kvlist_t *args;
  net_listener_t *net; /* the listening socket; NULL once stopped */
  struct client_listener *next;
} client_listener_t;

typedef enum { CONN_GREETING, CONN_REQUEST, CONN_DIALING, CONN_RELAYING } conn_state_t;

typedef struct client_conn {
  client_t *client;
  client_listener_t *listener;
  conn_state_t state;
  struct bufferevent *app;
  dial_t *dial;
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
  size_t n_conns;
};

static void conn_unlink(client_conn_t *cc) {
  client_t *c = cc->client;
  if (cc->prev)
    cc->prev->next = cc->next;
  else
    c->conns = cc->next;
  if (cc->next)
    cc->next->prev = cc->prev;
  c->n_conns--;
}

/* Ends a connection: the caller has already handed off or freed the
 * bufferevents it owned. */
static void conn_free(client_conn_t *cc) {
  client_t *c = cc->client;
  conn_unlink(cc);
  free(cc);
  if (c->n_conns == 0 && c->opts.on_idle)
    c->opts.on_idle(c->opts.ctx);
}

/* Sends a SOCKS5 failure reply, hangs up once it is flushed, ends cc. */
static void conn_fail(client_conn_t *cc, uint8_t rep) {
  socks5_write_reply(bufferevent_get_output(cc->app), rep, NULL);
  net_close_when_flushed(cc->app);
  cc->app = NULL;
  conn_free(cc);
}

static void conn_drop(client_conn_t *cc) {
  bufferevent_free(cc->app);
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

static void on_dialed(void *ctx, struct bufferevent *wire, int err) {
  client_conn_t *cc = ctx;
  cc->dial = NULL;
  if (!wire) {
    log_info("client %s: connection to the server failed: %s", cc->peer, strerror(err));
    conn_fail(cc, socks5_reply_for_errno(err));
    return;
  }
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(bufferevent_getfd(wire), (struct sockaddr *)&local, &len) != 0)
    memset(&local, 0, sizeof local);
  char cerr[256];
  codec_t *codec = cc->listener->transport->client_codec_new(cc->listener->args, cerr,
                                                              sizeof cerr);
  if (!codec) {
    log_warn("client %s: %s: %s", cc->peer, cc->listener->transport->name, cerr);
    bufferevent_free(wire);
    conn_fail(cc, SOCKS5_REP_GENERAL_FAILURE);
    return;
  }
  struct bufferevent *plain = codec_stream_wrap(wire, codec);
  if (!plain) {
    conn_fail(cc, SOCKS5_REP_GENERAL_FAILURE);
    return;
  }
  socks5_write_reply(bufferevent_get_output(cc->app), SOCKS5_REP_SUCCEEDED,
                     local.ss_family ? (struct sockaddr *)&local : NULL);
  bufferevent_set_timeouts(cc->app, NULL, NULL);
  struct bufferevent *app = cc->app;
  cc->app = NULL;
  cc->state = CONN_RELAYING;
  log_debug("client %s: connected through %s", cc->peer, cc->listener->transport->name);
  cc->relay = relay_start(app, plain, cc->client->opts.idle_timeout_s, on_relay_done, cc);
  if (!cc->relay)
    conn_free(cc);
}

static void conn_read_request(client_conn_t *cc) {
  socks5_request_t req;
  uint8_t rep = SOCKS5_REP_GENERAL_FAILURE;
  socks5_result_t r = socks5_read_request(bufferevent_get_input(cc->app), &req, &rep);
  if (r == SOCKS5_NEED_MORE)
    return;
  if (r == SOCKS5_ERROR) {
    log_info("client %s: bad SOCKS5 request (reply 0x%02x)", cc->peer, rep);
    conn_fail(cc, rep);
    return;
  }
  if (req.cmd != SOCKS5_CMD_CONNECT) {
    log_info("client %s: SOCKS5 command 0x%02x not supported", cc->peer, req.cmd);
    conn_fail(cc, SOCKS5_REP_CMD_NOT_SUPPORTED);
    return;
  }
  if (cc->client->opts.refuse_direct) {
    log_error("client %s: refusing: the upstream proxy is not supported by this build "
              "and connecting around it is not safe", cc->peer);
    conn_fail(cc, SOCKS5_REP_NOT_ALLOWED);
    return;
  }
  /* Stop parsing: bytes the application sends before our reply stay
   * buffered and reach the server once the relay starts. */
  bufferevent_disable(cc->app, EV_READ);
  cc->state = CONN_DIALING;
  dial_opts_t dopts = {
      .bind_v4 = cc->client->opts.bind_v4,
      .bind_v6 = cc->client->opts.bind_v6,
      .timeout_s = cc->client->opts.dial_timeout_s,
  };
  cc->dial = dial_start(cc->client->base, cc->client->dns, &req.dest, &dopts, on_dialed, cc);
  if (!cc->dial)
    conn_fail(cc, SOCKS5_REP_GENERAL_FAILURE);
}

static void conn_read_greeting(client_conn_t *cc) {
  socks5_greeting_t g;
  socks5_result_t r = socks5_read_greeting(bufferevent_get_input(cc->app), &g);
  if (r == SOCKS5_NEED_MORE)
    return;
  if (r == SOCKS5_ERROR) {
    log_info("client %s: not a SOCKS5 greeting", cc->peer);
    conn_drop(cc);
    return;
  }
  if (!socks5_greeting_offers(&g, SOCKS5_METHOD_NO_AUTH)) {
    log_info("client %s: no acceptable SOCKS5 authentication method", cc->peer);
    socks5_write_method(bufferevent_get_output(cc->app), SOCKS5_METHOD_NONE_ACCEPTABLE);
    net_close_when_flushed(cc->app);
    cc->app = NULL;
    conn_free(cc);
    return;
  }
  socks5_write_method(bufferevent_get_output(cc->app), SOCKS5_METHOD_NO_AUTH);
  cc->state = CONN_REQUEST;
  conn_read_request(cc);
}

static void on_app_read(struct bufferevent *bev, void *arg) {
  client_conn_t *cc = arg;
  if (cc->state == CONN_GREETING)
    conn_read_greeting(cc);
  else if (cc->state == CONN_REQUEST)
    conn_read_request(cc);
}

static void on_app_event(struct bufferevent *bev, short what, void *arg) {
  client_conn_t *cc = arg;
  if (what & BEV_EVENT_TIMEOUT)
    log_info("client %s: SOCKS5 handshake timed out", cc->peer);
  if (cc->dial) {
    dial_cancel(cc->dial);
    cc->dial = NULL;
  }
  conn_drop(cc);
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
  c->n_conns++;
  struct timeval limit = {c->opts.handshake_timeout_s, 0};
  bufferevent_set_timeouts(bev, c->opts.handshake_timeout_s ? &limit : NULL, NULL);
  bufferevent_setcb(bev, on_app_read, NULL, on_app_event, cc);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  log_debug("client %s: accepted on %s listener", cc->peer, cl->transport->name);
}

client_t *client_new(struct event_base *base, struct evdns_base *dns,
                     const client_opts_t *opts) {
  client_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->base = base;
  c->dns = dns;
  c->opts = *opts;
  return c;
}

int client_add_listener(client_t *c, const transport_ops_t *t, const kvlist_t *args,
                        const addr_endpoint_t *listen, struct sockaddr_storage *bound,
                        char *err, size_t errlen) {
  client_listener_t *cl = calloc(1, sizeof *cl);
  if (!cl) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (t->client_args_check(args, err, errlen) != 0) {
    free(cl);
    return -1;
  }
  cl->client = c;
  cl->transport = t;
  cl->args = args ? kvlist_copy(args) : NULL;
  cl->net = net_listen(c->base, listen, on_accept, cl, bound, err, errlen);
  if (!cl->net || (args && !cl->args)) {
    net_listener_free(cl->net);
    kvlist_free(cl->args);
    free(cl);
    return -1;
  }
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

size_t client_open_connections(const client_t *c) { return c->n_conns; }

void client_free(client_t *c) {
  if (!c)
    return;
  c->opts.on_idle = NULL; /* tearing down: nobody to tell */
  while (c->conns) {
    client_conn_t *cc = c->conns;
    if (cc->dial)
      dial_cancel(cc->dial);
    if (cc->relay)
      relay_abort(cc->relay);
    if (cc->app)
      bufferevent_free(cc->app);
    conn_free(cc);
  }
  client_stop_listening(c);
  while (c->listeners) {
    client_listener_t *cl = c->listeners;
    c->listeners = cl->next;
    kvlist_free(cl->args);
    free(cl);
  }
  free(c);
}
