/* dial: see dial.h.
 *
 * Direct: resolving (names only) -> connecting to each resolved address in
 * turn until one answers -> done.
 * Through a proxy: connecting to the proxy (an IP literal) -> the proxy's
 * handshake (net/upstream.c, which owns the bufferevent meanwhile) ->
 * done, all under one deadline timer.
 * The caller's callback runs exactly once unless dial_cancel() came first.
 * The proxy's description, credentials included, is copied in and wiped
 * when the dial ends. */
#include "net/dial.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "net/upstream_codec.h"

struct dial {
  struct event_base *base;
  dial_done_fn done;
  void *ctx;
  struct evdns_getaddrinfo_request *dns_req;
  struct evutil_addrinfo *results; /* from evdns, freed at the end */
  struct evutil_addrinfo *next;    /* the next address to try */
  struct bufferevent *bev;         /* the attempt in flight */
  struct sockaddr_storage bind_v4, bind_v6;
  bool has_bind_v4, has_bind_v6;
  unsigned timeout_s;
  bool public_only;
  int last_err;
  struct event *step_ev; /* continues work from the loop, never inside dial_start */
  bool starting;         /* inside dial_start: callbacks must be deferred */
  bool cancelled;        /* cancelled while evdns still owed us a callback */
  bool has_proxy;
  upstream_proxy_t proxy;   /* a copy; wiped in dial_free */
  addr_endpoint_t dest;     /* what the proxy is asked for */
  upstream_t *handshake;    /* the proxy's handshake, owning the bufferevent */
  struct event *deadline_ev; /* through a proxy: bounds connect + handshake */
};

static void dial_free(dial_t *d) {
  if (d->step_ev)
    event_free(d->step_ev);
  if (d->deadline_ev)
    event_free(d->deadline_ev);
  upstream_cancel(d->handshake);
  if (d->bev)
    bufferevent_free(d->bev);
  if (d->results)
    evutil_freeaddrinfo(d->results);
  sodium_memzero(&d->proxy, sizeof d->proxy);
  free(d);
}

static void dial_finish(dial_t *d, struct bufferevent *bev, int err) {
  dial_done_fn done = d->done;
  void *ctx = d->ctx;
  d->bev = NULL; /* handed over (or already freed) */
  dial_free(d);
  done(ctx, bev, err);
}

const struct sockaddr *dial_source_for(const struct sockaddr *dest,
                                       const struct sockaddr *bind_v4,
                                       const struct sockaddr *bind_v6) {
  if (addr_is_loopback(dest))
    return NULL;
  if (dest->sa_family == AF_INET)
    return bind_v4;
  if (dest->sa_family == AF_INET6)
    return bind_v6;
  return NULL;
}

static int bind_outbound(dial_t *d, evutil_socket_t fd, const struct sockaddr *dest) {
  const struct sockaddr *src =
      dial_source_for(dest, d->has_bind_v4 ? (const struct sockaddr *)&d->bind_v4 : NULL,
                      d->has_bind_v6 ? (const struct sockaddr *)&d->bind_v6 : NULL);
  if (!src)
    return 0;
  socklen_t len = src->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
  return bind(fd, src, len);
}

static void try_next(dial_t *d);

static void on_handshake_done(void *ctx, struct bufferevent *bev, int err) {
  dial_t *d = ctx;
  d->handshake = NULL;
  dial_finish(d, bev, err);
}

/* Connected to the proxy: hand the connection to its handshake. */
static void start_handshake(dial_t *d) {
  int err = 0;
  d->handshake = upstream_start(d->bev, &d->proxy, &d->dest, on_handshake_done, d, &err);
  if (!d->handshake) {
    bufferevent_free(d->bev);
    d->bev = NULL;
    dial_finish(d, NULL, err);
    return;
  }
  d->bev = NULL; /* the handshake's now */
}

static void on_connect_event(struct bufferevent *bev, short what, void *arg) {
  dial_t *d = arg;
  if (what & BEV_EVENT_CONNECTED) {
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    if (d->has_proxy) {
      start_handshake(d);
      return;
    }
    dial_finish(d, bev, 0);
    return;
  }
  d->last_err = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
  if (d->last_err == 0)
    d->last_err = ECONNREFUSED;
  bufferevent_free(d->bev);
  d->bev = NULL;
  try_next(d);
}

static int connect_one(dial_t *d, const struct sockaddr *sa, socklen_t salen) {
  evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno;
  int one = 1; /* as on accepted sockets: see listener.c */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind_outbound(d, fd, sa) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  d->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!d->bev) {
    close(fd);
    return ENOMEM;
  }
  bufferevent_setcb(d->bev, NULL, NULL, on_connect_event, d);
  /* Through a proxy the deadline timer bounds the connect too. */
  if (d->timeout_s && !d->has_proxy) {
    struct timeval tv = {d->timeout_s, 0};
    bufferevent_set_timeouts(d->bev, NULL, &tv);
  }
  if (bufferevent_socket_connect(d->bev, sa, (int)salen) != 0) {
    int e = EVUTIL_SOCKET_ERROR();
    bufferevent_free(d->bev);
    d->bev = NULL;
    return e ? e : ECONNREFUSED;
  }
  return 0;
}

static void try_next(dial_t *d) {
  while (d->next) {
    struct evutil_addrinfo *ai = d->next;
    d->next = ai->ai_next;
    if (d->public_only && !addr_is_public(ai->ai_addr)) {
      d->last_err = EACCES;
      continue;
    }
    int err = connect_one(d, ai->ai_addr, ai->ai_addrlen);
    if (err == 0)
      return;
    d->last_err = err;
  }
  dial_finish(d, NULL, d->last_err ? d->last_err : EHOSTUNREACH);
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg) {
  dial_t *d = arg;
  d->dns_req = NULL;
  if (d->cancelled) {
    if (res)
      evutil_freeaddrinfo(res);
    dial_free(d);
    return;
  }
  d->results = res;
  d->next = res;
  if (result != 0 || !res)
    d->last_err = EHOSTUNREACH;
  if (d->starting) {
    event_active(d->step_ev, EV_TIMEOUT, 0); /* answered from /etc/hosts */
    return;
  }
  try_next(d);
}

/* Deferred continuation: connect to what was resolved, or report the
 * error found while dial_start was still running. */
static void on_step(evutil_socket_t fd, short what, void *arg) { try_next(arg); }

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  dial_t *d = arg;
  log_debug("upstream %s proxy: no tunnel within %u s", upstream_type_name(d->proxy.type),
            d->timeout_s);
  if (d->bev) { /* still connecting to the proxy */
    bufferevent_free(d->bev);
    d->bev = NULL;
  }
  dial_finish(d, NULL, ETIMEDOUT); /* dial_free ends a handshake */
}

/* Through a proxy: connect to it (the destination goes to the proxy as
 * given, a name unresolved). An error is reported from the loop. */
static dial_t *start_via_proxy(dial_t *d, const addr_endpoint_t *dest) {
  d->dest = *dest;
  if (d->timeout_s) {
    struct timeval tv = {d->timeout_s, 0};
    d->deadline_ev = evtimer_new(d->base, on_deadline, d);
    if (!d->deadline_ev || evtimer_add(d->deadline_ev, &tv) != 0) {
      dial_free(d);
      return NULL;
    }
  }
  int err = upstream_check_dest(d->proxy.type, dest);
  if (err == 0 && d->public_only && dest->family != AF_UNSPEC &&
      !addr_is_public((const struct sockaddr *)&dest->sa))
    err = EACCES;
  if (err == 0)
    err = connect_one(d, (const struct sockaddr *)&d->proxy.addr.sa, d->proxy.addr.salen);
  if (err != 0) {
    d->last_err = err; /* reported from the loop by try_next */
    event_active(d->step_ev, EV_TIMEOUT, 0);
  }
  return d;
}

static void copy_bind(const struct sockaddr *src, struct sockaddr_storage *dst, bool *has) {
  if (!src)
    return;
  memset(dst, 0, sizeof *dst);
  memcpy(dst, src, src->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6));
  /* The source port is the system's choice. */
  if (src->sa_family == AF_INET)
    ((struct sockaddr_in *)dst)->sin_port = 0;
  else
    ((struct sockaddr_in6 *)dst)->sin6_port = 0;
  *has = true;
}

dial_t *dial_start(struct event_base *base, struct evdns_base *dns,
                   const addr_endpoint_t *dest, const dial_opts_t *opts,
                   dial_done_fn done, void *ctx) {
  dial_t *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->base = base;
  d->done = done;
  d->ctx = ctx;
  if (opts) {
    copy_bind(opts->bind_v4, &d->bind_v4, &d->has_bind_v4);
    copy_bind(opts->bind_v6, &d->bind_v6, &d->has_bind_v6);
    d->timeout_s = opts->timeout_s;
    d->public_only = opts->public_only;
    if (opts->proxy) {
      d->proxy = *opts->proxy;
      d->has_proxy = true;
    }
  }
  d->step_ev = event_new(base, -1, 0, on_step, d);
  if (!d->step_ev) {
    dial_free(d);
    return NULL;
  }
  if (d->has_proxy)
    return start_via_proxy(d, dest);
  if (dest->family != AF_UNSPEC) {
    int err = d->public_only && !addr_is_public((const struct sockaddr *)&dest->sa)
                  ? EACCES
                  : connect_one(d, (const struct sockaddr *)&dest->sa, dest->salen);
    if (err != 0) {
      d->last_err = err; /* reported from the loop by try_next */
      event_active(d->step_ev, EV_TIMEOUT, 0);
    }
    return d;
  }
  struct evutil_addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)dest->port);
  d->starting = true;
  d->dns_req = evdns_getaddrinfo(dns, dest->host, port, &hints, on_resolved, d);
  d->starting = false;
  return d;
}

void dial_cancel(dial_t *d) {
  if (!d)
    return;
  if (d->dns_req) {
    d->cancelled = true;
    evdns_getaddrinfo_cancel(d->dns_req);
    return;
  }
  dial_free(d);
}
