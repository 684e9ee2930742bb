/* dial: outgoing TCP connections, direct.
 *
 * Resolves DNS names through evdns, binds the source address to
 * TOR_PT_OUTBOUND_BIND_ADDRESS_V4/_V6 when given (except toward loopback,
 * as pt-spec requires), and hands back a connected bufferevent. */
#ifndef PTD_NET_DIAL_H
#define PTD_NET_DIAL_H

#include <stdbool.h>

#include "lib/addr.h"

struct bufferevent;
struct event_base;
struct evdns_base;

typedef struct dial dial_t;

typedef struct dial_opts {
  const struct sockaddr *bind_v4; /* NULL: the system's choice */
  const struct sockaddr *bind_v6;
  unsigned timeout_s;             /* 0: the system's */
} dial_opts_t;

/* On success bev is connected and owned by the callee; on failure bev is
 * NULL and err is an errno value (ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH
 * for a name that did not resolve, ...). */
typedef void (*dial_done_fn)(void *ctx, struct bufferevent *bev, int err);

dial_t *dial_start(struct event_base *base, struct evdns_base *dns,
                   const addr_endpoint_t *dest, const dial_opts_t *opts,
                   dial_done_fn done, void *ctx);
/* Cancels a dial in progress; done is not called. */
void dial_cancel(dial_t *d);

#endif
