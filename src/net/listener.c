/* listener: see listener.h. */
#include "net/listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

#define LISTEN_BACKLOG 1024
#define LISTEN_PAUSE_S 1

struct net_listener {
  struct evconnlistener *evl;
  struct event *resume_ev; /* re-enables accepting after a failed accept */
  net_accept_fn cb;
  void *ctx;
  bool held;                /* net_listener_hold(): not accepting */
  char text[ADDR_TEXT_MAX]; /* our own address, for log lines */
};

static void on_evl_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg) {
  net_listener_t *l = arg;
  l->cb(l->ctx, fd, sa);
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
  net_listener_t *l = arg;
  if (!l->held)
    evconnlistener_enable(l->evl);
}

void net_listener_hold(net_listener_t *l, bool hold) {
  if (!l || l->held == hold)
    return;
  l->held = hold;
  if (hold)
    evconnlistener_disable(l->evl);
  else if (!evtimer_pending(l->resume_ev, NULL))
    evconnlistener_enable(l->evl);
}

/* The listening socket stays readable while accept() fails (out of
 * descriptors, out of memory): without a pause the loop would spin. */
static void on_evl_error(struct evconnlistener *evl, void *arg) {
  net_listener_t *l = arg;
  int err = EVUTIL_SOCKET_ERROR();
  log_warn("listener %s: accept failed: %s; pausing %d s", l->text, strerror(err),
           LISTEN_PAUSE_S);
  evconnlistener_disable(evl);
  struct timeval pause = {LISTEN_PAUSE_S, 0};
  event_add(l->resume_ev, &pause);
}

void net_listener_free(net_listener_t *l) {
  if (!l)
    return;
  if (l->evl)
    evconnlistener_free(l->evl);
  if (l->resume_ev)
    event_free(l->resume_ev);
  free(l);
}

static int listen_socket(const addr_endpoint_t *ep, const char *text, char *err, size_t errlen) {
  int fd = socket(ep->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* Accepted sockets inherit it. Transports write whole frames and
   * bursts, so Nagle's algorithm only adds latency (Go's peers turn it
   * off on every connection too). */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ep->sa.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&ep->sa, ep->salen) != 0 ||
      listen(fd, LISTEN_BACKLOG) != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

net_listener_t *net_listen(struct event_base *base, const addr_endpoint_t *ep,
                           net_accept_fn cb, void *ctx, struct sockaddr_storage *bound,
                           char *err, size_t errlen) {
  net_listener_t *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  l->cb = cb;
  l->ctx = ctx;
  addr_format((const struct sockaddr *)&ep->sa, l->text);
  int fd = listen_socket(ep, l->text, err, errlen);
  if (fd < 0) {
    free(l);
    return NULL;
  }
  socklen_t len = sizeof *bound;
  if (getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
    snprintf(err, errlen, "cannot read bound address of %s: %s", l->text, strerror(errno));
    close(fd);
    free(l);
    return NULL;
  }
  addr_format((const struct sockaddr *)bound, l->text);
  l->resume_ev = event_new(base, -1, 0, on_resume, l);
  /* backlog 0: listen() has been called already. */
  l->evl = l->resume_ev ? evconnlistener_new(base, on_evl_accept, l,
                                             LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                                             fd)
                        : NULL;
  if (!l->evl) {
    snprintf(err, errlen, "cannot listen on %s: out of memory", l->text);
    close(fd);
    net_listener_free(l);
    return NULL;
  }
  evconnlistener_set_error_cb(l->evl, on_evl_error);
  return l;
}
