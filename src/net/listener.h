/* listener: a TCP listening socket on an endpoint.
 *
 * A thin wrapper over evconnlistener that adds what a long-running server
 * needs: IPv6 listeners are IPv6-only (so "[::]" and "0.0.0.0" can
 * coexist), and a failed accept() (EMFILE when out of descriptors, say)
 * pauses accepting for a moment instead of spinning on a socket that stays
 * readable, logging once per pause. */
#ifndef PTD_NET_LISTENER_H
#define PTD_NET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/addr.h"

struct event_base;

typedef struct net_listener net_listener_t;

/* Called with each accepted, non-blocking, close-on-exec socket. */
typedef void (*net_accept_fn)(void *ctx, int fd, const struct sockaddr *peer);

/* Listens on ep (an IP literal; port 0 picks one) and writes the address
 * actually bound to *bound. Returns NULL with err filled on failure. */
net_listener_t *net_listen(struct event_base *base, const addr_endpoint_t *ep,
                           net_accept_fn cb, void *ctx, struct sockaddr_storage *bound,
                           char *err, size_t errlen);
/* Stops (hold true) or resumes accepting; new connections wait in the
 * kernel's backlog meanwhile. For a connection limit. */
void net_listener_hold(net_listener_t *l, bool hold);
/* Closes the socket. Accepts NULL. */
void net_listener_free(net_listener_t *l);

#endif
