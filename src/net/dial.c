/* dial: see dial.h.
 *
 * State: resolving (names only) -> connecting to each resolved address in
 * turn until one answers -> done. The caller's callback runs exactly once
 * unless dial_cancel() came first. */
#include "net/dial.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  int last_err;
  struct event *step_ev; /* continues work from the loop, never inside dial_start */
  bool starting;         /* inside dial_start: callbacks must be deferred */
  bool cancelled;        /* cancelled while evdns still owed us a callback */
};

static void dial_free(dial_t *d) {
  if (d->step_ev)
    event_free(d->step_ev);
  if (d->bev)
    bufferevent_free(d->bev);
  if (d->results)
    evutil_freeaddrinfo(d->results);
  free(d);
}

static void dial_finish(dial_t *d, struct bufferevent *bev, int err) {
  dial_done_fn done = d->done;
  void *ctx = d->ctx;
  d->bev = NULL; /* handed over (or already freed) */
  dial_free(d);
  done(ctx, bev, err);
}

/* Binds the source address Tor asked for, except toward loopback
 * (pt-spec 3.2.1: the setting must be ignored there). */
static int bind_outbound(dial_t *d, evutil_socket_t fd, const struct sockaddr *dest) {
  const struct sockaddr_storage *src = NULL;
  if (addr_is_loopback(dest))
    return 0;
  if (dest->sa_family == AF_INET && d->has_bind_v4)
    src = &d->bind_v4;
  else if (dest->sa_family == AF_INET6 && d->has_bind_v6)
    src = &d->bind_v6;
  if (!src)
    return 0;
  socklen_t len = src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
  return bind(fd, (const struct sockaddr *)src, len);
}

static void try_next(dial_t *d);

static void on_connect_event(struct bufferevent *bev, short what, void *arg) {
  dial_t *d = arg;
  if (what & BEV_EVENT_CONNECTED) {
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
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
  if (d->timeout_s) {
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
  }
  d->step_ev = event_new(base, -1, 0, on_step, d);
  if (!d->step_ev) {
    free(d);
    return NULL;
  }
  if (dest->family != AF_UNSPEC) {
    int err = connect_one(d, (const struct sockaddr *)&dest->sa, dest->salen);
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
