/* listener: see listener.h. */
#include "net/listener.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define CLOSE_FLUSH_TIMEOUT_S 10

struct evconnlistener *net_listen(struct event_base *base, const addr_endpoint_t *ep,
                                  evconnlistener_cb cb, void *ctx,
                                  struct sockaddr_storage *bound, char *err, size_t errlen) {
  char text[ADDR_TEXT_MAX];
  addr_format((const struct sockaddr *)&ep->sa, text);
  int fd = socket(ep->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
    return NULL;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ep->sa.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&ep->sa, ep->salen) != 0 ||
      listen(fd, LISTEN_BACKLOG) != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
    close(fd);
    return NULL;
  }
  socklen_t len = sizeof *bound;
  if (getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
    snprintf(err, errlen, "cannot read bound address of %s: %s", text, strerror(errno));
    close(fd);
    return NULL;
  }
  struct evconnlistener *l =
      evconnlistener_new(base, cb, ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
  if (!l) {
    snprintf(err, errlen, "cannot listen on %s: out of memory", text);
    close(fd);
  }
  return l;
}

static void close_on_drained(struct bufferevent *bev, void *arg) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
    bufferevent_free(bev);
}

static void close_on_event(struct bufferevent *bev, short what, void *arg) {
  bufferevent_free(bev);
}

static void discard_input(struct bufferevent *bev, void *arg) {
  struct evbuffer *in = bufferevent_get_input(bev);
  evbuffer_drain(in, evbuffer_get_length(in));
}

void net_close_when_flushed(struct bufferevent *bev) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
    bufferevent_free(bev);
    return;
  }
  /* Keep reading (and dropping) so the peer's EOF or RST is noticed; a
   * peer that never reads cannot hold the socket past the timeout. */
  struct timeval limit = {CLOSE_FLUSH_TIMEOUT_S, 0};
  bufferevent_set_timeouts(bev, &limit, &limit);
  bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
  bufferevent_setcb(bev, discard_input, close_on_drained, close_on_event, NULL);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}
