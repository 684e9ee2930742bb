/* server: see server.h.
 *
 * Per connection: for a transport with a handshake of its own, TRANSPORT
 * (the codec runs its handshake; nothing else happens, so a prober never
 * makes us touch the ORPort) -> DIALING (the ORPort or the ExtORPort) ->
 * with an ExtORPort, its HANDSHAKE (SAFE_COOKIE, USERADDR, TRANSPORT,
 * then OKAY or DENY) -> RELAYING. From DIALING until RELAYING the
 * transport stream is not read, so a client's early bytes wait in the
 * kernel and the codec.
 *
 * The transport handshake has one deadline, -handshakeTimeout from
 * accept. If it passes, or the codec decides the peer is a probe
 * (CODEC_DISCARD), the stream only reads and discards, and it is closed
 * when the deadline plus the transport's close delay has passed: a prober
 * learns nothing from when we hang up, and nothing is logged at the
 * default level.
 *
 * The cookie lives in the server_t from server_use_extorport() to
 * server_free(), which wipes it. Each connection keeps the client's real
 * address as text for USERADDR; it goes to the bridge, never to a log
 * (log lines use the scrubbed peer). */
#include "server/server.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"
#include "net/conn_limit.h"
#include "net/dial.h"
#include "net/extorport_conn.h"
#include "net/extorport_cookie.h"
#include "net/listener.h"
#include "net/relay.h"
#include "net/udp_socket.h"

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
  codec_t *codec;            /* plain's codec, while its handshake runs */
  bool open_proxy;           /* dial dest, not the ORPort (an open proxy) */
  bool dest_public_only;
  addr_endpoint_t dest;
  struct event *deadline;    /* the transport handshake's, then the close delay */
  bool deadline_passed;
  dial_t *dial;
  extorport_conn_t *extor; /* the ExtORPort handshake in progress */
  relay_t *relay;
  udp_relay_t *udp_relay; /* the UDP modes' instead of relay */
  int udp_fd;             /* its socket toward the target, or -1 */
  struct event *udp_ev;
  char peer[ADDR_TEXT_MAX];     /* scrubbed unless unsafe logging */
  char useraddr[ADDR_TEXT_MAX]; /* for USERADDR only; empty if unknown */
  struct server_conn *prev, *next;
} server_conn_t;

struct server {
  struct event_base *base;
  struct evdns_base *dns;
  server_opts_t opts;
  bool use_extorport;
  addr_endpoint_t extorport;
  uint8_t cookie[EXTORPORT_COOKIE_LEN];
  server_listener_t *listeners;
  server_conn_t *conns;
  conn_limit_t limit; /* .open counts conns */
};

static void hold_listeners(server_t *s, bool hold) {
  for (server_listener_t *sl = s->listeners; sl; sl = sl->next)
    net_listener_hold(sl->net, hold);
}

static void conn_free(server_conn_t *sc) {
  server_t *s = sc->server;
  if (sc->prev)
    sc->prev->next = sc->next;
  else
    s->conns = sc->next;
  if (sc->next)
    sc->next->prev = sc->prev;
  if (conn_limit_closed(&s->limit))
    hold_listeners(s, false);
  if (sc->deadline)
    event_free(sc->deadline);
  if (sc->udp_ev)
    event_free(sc->udp_ev);
  if (sc->udp_fd >= 0)
    close(sc->udp_fd);
  free(sc);
  if (s->limit.open == 0 && s->opts.on_idle)
    s->opts.on_idle(s->opts.ctx);
}

static void on_relay_done(void *ctx, const relay_stats_t *st, const char *reason) {
  server_conn_t *sc = ctx;
  sc->relay = NULL;
  log_debug("server %s: closed (%zu bytes in, %zu out%s%s)", sc->peer, st->a_to_b,
            st->b_to_a, reason ? ", " : "", reason ? reason : "");
  conn_free(sc);
}

/* orport is connected and ready for the client's plaintext. */
static void conn_relay(server_conn_t *sc, struct bufferevent *orport) {
  struct bufferevent *plain = sc->plain;
  sc->plain = NULL;
  sc->relay = relay_start(plain, orport, sc->server->opts.idle_timeout_s, on_relay_done, sc);
  if (!sc->relay)
    conn_free(sc);
}

/* Closes the client's connection before any relaying. */
static void conn_close(server_conn_t *sc) {
  bufferevent_free(sc->plain);
  sc->plain = NULL;
  conn_free(sc);
}

static void on_extorport_done(void *ctx, struct bufferevent *bev, extorport_result_t result,
                              const char *why) {
  server_conn_t *sc = ctx;
  sc->extor = NULL;
  if (result != EXTORPORT_READY) {
    /* info, not warn: a DENY is the bridge's policy working, and a
     * broken ExtORPort shows on every connection anyway. */
    log_info("server %s: %s; closing the client's connection", sc->peer, why);
    conn_close(sc);
    return;
  }
  conn_relay(sc, bev);
}

static void on_orport_dialed(void *ctx, struct bufferevent *orport, int err) {
  server_conn_t *sc = ctx;
  server_t *s = sc->server;
  sc->dial = NULL;
  if (!orport && sc->open_proxy) {
    /* The client's choice, so the client's problem: no warning. */
    log_info("server %s: cannot reach the client's destination: %s", sc->peer,
             err == EACCES ? "a private or loopback address, and the open proxy allows "
                             "only public ones"
                           : strerror(err));
    conn_close(sc);
    return;
  }
  if (!orport) {
    log_warn("server: cannot reach the %s: %s", s->use_extorport ? "Extended ORPort" : "ORPort",
             strerror(err));
    conn_close(sc);
    return;
  }
  if (!s->use_extorport || sc->open_proxy) {
    conn_relay(sc, orport);
    return;
  }
  sc->extor = extorport_conn_start(orport, s->cookie, sc->useraddr[0] ? sc->useraddr : NULL,
                                   sc->listener->transport->name, s->opts.handshake_timeout_s,
                                   on_extorport_done, sc);
  if (!sc->extor) {
    log_error("server: out of memory starting the Extended ORPort handshake");
    conn_close(sc);
  }
}

/* The client went away while the ORPort was still being dialed or the
 * ExtORPort handshake ran. */
static void on_plain_event(struct bufferevent *bev, short what, void *arg) {
  server_conn_t *sc = arg;
  log_debug("server %s: client left before the ORPort answered", sc->peer);
  dial_cancel(sc->dial);
  sc->dial = NULL;
  extorport_conn_cancel(sc->extor);
  sc->extor = NULL;
  conn_close(sc);
}

/* The client's address as the ExtORPort's USERADDR wants it: "1.2.3.4:5"
 * or "[1:2::3]:5"; left empty for anything else (USERADDR is then not
 * sent rather than sent wrong). */
static void conn_set_useraddr(server_conn_t *sc, const struct sockaddr *sa) {
  sc->useraddr[0] = '\0';
  if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
    addr_format(sa, sc->useraddr);
}

/* ---- the UDP modes ---- */

static void on_udp_reply(void *ctx, const uint8_t *dgram, size_t len, const struct sockaddr *from,
                         socklen_t fromlen) {
  server_conn_t *sc = ctx;
  (void)from; /* connected: only the target's datagrams arrive */
  (void)fromlen;
  if (sc->udp_relay)
    udp_relay_datagram(sc->udp_relay, dgram, len);
}

static void on_udp_readable(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  udp_socket_drain(fd, 256, on_udp_reply, arg, NULL);
}

static void on_udp_send(void *ctx, const uint8_t *dgram, size_t len) {
  server_conn_t *sc = ctx;
  /* A full send buffer or an ICMP error reported here: UDP drops. */
  (void)send(sc->udp_fd, dgram, len, 0);
}

static void on_udp_done(void *ctx, const udp_relay_stats_t *st, const char *reason) {
  server_conn_t *sc = ctx;
  sc->udp_relay = NULL; /* it freed itself and the stream */
  sc->plain = NULL;
  log_debug("server %s: UDP connection closed (%s; %llu datagrams in, %llu out)", sc->peer,
            reason, (unsigned long long)st->from_stream, (unsigned long long)st->to_stream);
  conn_free(sc);
}

/* The client's datagrams go to the target from a socket of this
 * connection's own, so the target's replies find their way back. */
static void conn_start_udp(server_conn_t *sc) {
  server_t *s = sc->server;
  int err = 0;
  sc->udp_fd = udp_socket_connect(&s->opts.orport, &err);
  if (sc->udp_fd < 0) {
    log_warn("server: cannot open a UDP socket to the target: %s", strerror(err));
    conn_close(sc);
    return;
  }
  udp_relay_opts_t ropts = {
      .framing = s->opts.udp_framing,
      .idle_timeout_s = s->opts.udp_timeout_s,
      .send = on_udp_send,
      .done = on_udp_done,
      .ctx = sc,
  };
  sc->udp_ev = event_new(s->base, sc->udp_fd, EV_READ | EV_PERSIST, on_udp_readable, sc);
  if (!sc->udp_ev || event_add(sc->udp_ev, NULL) != 0) {
    log_error("server: out of memory starting a UDP relay");
    conn_close(sc);
    return;
  }
  struct bufferevent *plain = sc->plain;
  sc->plain = NULL;
  sc->udp_relay = udp_relay_start(plain, &ropts);
  if (!sc->udp_relay) {
    log_error("server: out of memory starting a UDP relay");
    conn_free(sc);
  }
}

/* The transport's handshake is done, or there is none: on to the ORPort. */
static void conn_dial_orport(server_conn_t *sc) {
  server_t *s = sc->server;
  if (s->opts.udp) {
    conn_start_udp(sc);
    return;
  }
  /* Watch for the client leaving, but read nothing until the ORPort is
   * ready for it. */
  bufferevent_disable(sc->plain, EV_READ);
  bufferevent_setcb(sc->plain, NULL, NULL, on_plain_event, sc);
  bufferevent_enable(sc->plain, EV_WRITE);
  dial_opts_t dopts = {
      .bind_v4 = s->opts.bind_v4,
      .bind_v6 = s->opts.bind_v6,
      .timeout_s = s->opts.dial_timeout_s,
      .public_only = sc->open_proxy && sc->dest_public_only,
  };
  const addr_endpoint_t *dest = sc->open_proxy      ? &sc->dest
                                : s->use_extorport ? &s->extorport
                                                   : &s->opts.orport;
  sc->dial = dial_start(s->base, s->dns, dest, &dopts, on_orport_dialed, sc);
  if (!sc->dial)
    conn_close(sc);
}

/* An open-proxy instance sends each client where its codec says. */
static void conn_take_destination(server_conn_t *sc) {
  const transport_ops_t *t = sc->listener->transport;
  bool allow_private = false;
  const addr_endpoint_t *dest = NULL;
  if (t->server_open_proxy && t->server_open_proxy(sc->listener->instance, &allow_private) &&
      sc->codec->ops->destination)
    dest = sc->codec->ops->destination(sc->codec);
  if (!dest)
    return;
  sc->dest = *dest;
  sc->open_proxy = true;
  sc->dest_public_only = !allow_private;
}

static void on_transport_event(struct bufferevent *bev, short what, void *arg) {
  server_conn_t *sc = arg;
  if (what & BEV_EVENT_CONNECTED) {
    event_free(sc->deadline);
    sc->deadline = NULL;
    conn_take_destination(sc);
    sc->codec = NULL; /* only needed to give up on the handshake */
    log_debug("server %s: %s handshake done", sc->peer, sc->listener->transport->name);
    conn_dial_orport(sc);
    return;
  }
  /* The client left, or its bytes broke the protocol after all: no
   * reason to linger for a peer that is gone or already answered. */
  log_debug("server %s: closed during the %s handshake", sc->peer,
            sc->listener->transport->name);
  conn_close(sc);
}

static void on_transport_deadline(evutil_socket_t fd, short what, void *arg) {
  server_conn_t *sc = arg;
  const transport_ops_t *t = sc->listener->transport;
  if (!sc->deadline_passed) {
    sc->deadline_passed = true;
    codec_stream_discard(sc->codec);
    unsigned delay = t->server_close_delay_s ? t->server_close_delay_s(sc->listener->instance) : 0;
    struct timeval tv = {delay, 0};
    if (delay > 0 && evtimer_add(sc->deadline, &tv) == 0)
      return;
  }
  log_debug("server %s: no %s handshake in time; closing", sc->peer, t->name);
  conn_close(sc);
}

/* Runs the codec's handshake: the stream is read (the codec sees the
 * client's bytes), and nothing else happens until it is done. */
static void conn_await_transport(server_conn_t *sc, codec_t *codec) {
  server_t *s = sc->server;
  sc->codec = codec;
  if (s->opts.handshake_timeout_s) {
    struct timeval limit = {s->opts.handshake_timeout_s, 0};
    /* From now, not from when this loop pass began: connections accepted
     * late in a busy pass would otherwise be closed early, and a prober
     * timing many of them would see it. */
    event_base_update_cache_time(s->base);
    sc->deadline = evtimer_new(s->base, on_transport_deadline, sc);
    if (!sc->deadline || evtimer_add(sc->deadline, &limit) != 0) {
      log_error("server: out of memory accepting a connection");
      conn_close(sc);
      return;
    }
  }
  bufferevent_setcb(sc->plain, NULL, NULL, on_transport_event, sc);
  bufferevent_enable(sc->plain, EV_READ | EV_WRITE);
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
  sc->udp_fd = -1;
  /* Read before wrapping: an identity codec is freed by the wrap. */
  bool handshake = codec->ops->handshake;
  sc->plain = codec_stream_wrap(wire, codec);
  if (!sc->plain) {
    free(sc);
    log_error("server: out of memory accepting a connection");
    return;
  }
  sc->server = s;
  sc->listener = sl;
  log_addr(sa, sc->peer);
  conn_set_useraddr(sc, sa);
  sc->next = s->conns;
  if (s->conns)
    s->conns->prev = sc;
  s->conns = sc;
  if (conn_limit_opened(&s->limit))
    hold_listeners(s, true);
  log_debug("server %s: accepted on %s listener", sc->peer, sl->transport->name);
  if (handshake)
    conn_await_transport(sc, codec);
  else
    conn_dial_orport(sc);
}

server_t *server_new(struct event_base *base, struct evdns_base *dns,
                     const server_opts_t *opts) {
  server_t *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->base = base;
  s->dns = dns;
  s->opts = *opts;
  s->limit.max = opts->max_conns;
  s->limit.role = "server";
  return s;
}

int server_use_extorport(server_t *s, const addr_endpoint_t *ep, const char *cookie_file,
                         char *err, size_t errlen) {
  if (extorport_cookie_read(cookie_file, s->cookie, err, errlen) != 0)
    return -1;
  s->extorport = *ep;
  s->use_extorport = true;
  /* The spec asks for this warning: the protocol has no confidentiality,
   * and USERADDR carries every client's address. */
  bool local = ep->family == AF_UNSPEC ? strcasecmp(ep->host, "localhost") == 0
                                       : addr_is_loopback((const struct sockaddr *)&ep->sa);
  if (!local)
    log_warn("the Extended ORPort %s is not on loopback: client addresses cross the network "
             "unencrypted",
             ep->host);
  return 0;
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
  net_listener_hold(sl->net, s->limit.held);
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

size_t server_open_connections(const server_t *s) { return s->limit.open; }

void server_free(server_t *s) {
  if (!s)
    return;
  s->opts.on_idle = NULL;
  while (s->conns) {
    server_conn_t *sc = s->conns;
    if (sc->dial)
      dial_cancel(sc->dial);
    extorport_conn_cancel(sc->extor);
    if (sc->relay)
      relay_abort(sc->relay);
    if (sc->udp_relay)
      udp_relay_abort(sc->udp_relay);
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
  sodium_memzero(s->cookie, sizeof s->cookie);
  free(s);
}
