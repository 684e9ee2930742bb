/* listener: a TCP listening socket on an endpoint, via evconnlistener.
 * IPv6 listeners are IPv6-only, so "[::]" and "0.0.0.0" can coexist. */
#ifndef PTD_NET_LISTENER_H
#define PTD_NET_LISTENER_H

#include <event2/listener.h>
#include <stddef.h>

#include "lib/addr.h"

struct bufferevent;

/* Listens on ep (an IP literal; port 0 picks one) and writes the address
 * actually bound to *bound. Returns NULL with err filled on failure. */
struct evconnlistener *net_listen(struct event_base *base, const addr_endpoint_t *ep,
                                  evconnlistener_cb cb, void *ctx,
                                  struct sockaddr_storage *bound, char *err, size_t errlen);

/* Frees bev once its output has reached the socket, ignoring further
 * input: the way to send a last error reply and hang up. */
void net_close_when_flushed(struct bufferevent *bev);

#endif
