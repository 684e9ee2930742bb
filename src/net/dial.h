/* dial: outgoing TCP connections, direct or through an upstream proxy.
 *
 * Direct: resolves DNS names through evdns and connects. Through a proxy
 * (TOR_PT_PROXY): connects to the proxy and asks it for the destination
 * (net/upstream.h); names go to the proxy unresolved, so no DNS query
 * leaves this machine. Either way the source address is bound to
 * TOR_PT_OUTBOUND_BIND_ADDRESS_V4/_V6 when given (except toward loopback,
 * as pt-spec requires), and a connected bufferevent comes back. */
#ifndef PTD_NET_DIAL_H
#define PTD_NET_DIAL_H

#include <stdbool.h>

#include "lib/addr.h"
#include "net/upstream.h"

struct bufferevent;
struct event_base;
struct evdns_base;

typedef struct dial dial_t;

typedef struct dial_opts {
  const struct sockaddr *bind_v4; /* NULL: the system's choice */
  const struct sockaddr *bind_v6;
  /* 0: the system's. Direct: for each address tried. Through a proxy:
   * for connecting to it and its whole handshake together. */
  unsigned timeout_s;
  const upstream_proxy_t *proxy; /* NULL: direct. Copied by dial_start. */
  /* Only addresses on the Internet (addr_is_public): a name's other
   * addresses are skipped, and one with none left, or a literal that is
   * not public, fails with EACCES. Through a proxy only literals can be
   * checked; a name goes to the proxy, which resolves it. */
  bool public_only;
} dial_opts_t;

/* On success bev is connected and owned by the callee; through a proxy,
 * its input may already hold the far end's first bytes. On failure bev is
 * NULL and err is an errno value (ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH
 * for a name that did not resolve; through a proxy, the mapping in
 * upstream.h), meant for socks5_reply_for_errno(). done never runs from
 * inside dial_start(). */
typedef void (*dial_done_fn)(void *ctx, struct bufferevent *bev, int err);

dial_t *dial_start(struct event_base *base, struct evdns_base *dns,
                   const addr_endpoint_t *dest, const dial_opts_t *opts,
                   dial_done_fn done, void *ctx);
/* Cancels a dial in progress; done is not called. */
void dial_cancel(dial_t *d);

/* The source address to bind before connecting to dest: bind_v4 or
 * bind_v6 by dest's family (either may be NULL), never toward loopback
 * (pt-spec 3.2.1: TOR_PT_OUTBOUND_BIND_ADDRESS_* must be ignored there).
 * NULL: let the system choose. */
const struct sockaddr *dial_source_for(const struct sockaddr *dest,
                                       const struct sockaddr *bind_v4,
                                       const struct sockaddr *bind_v6);

#endif
