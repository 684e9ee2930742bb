/* transport_dial: one connection to a PT server, up to the moment it can
 * carry application bytes: the server dialed (directly or through the
 * upstream proxy), the socket wrapped in the transport's client codec, and
 * the codec's own handshake done if it has one (bounded by
 * handshake_timeout_s). The TCP listeners (client.c) and the UDP pool
 * (udp_client.c) both get their streams here.
 *
 * Failures are logged here, once, at info level (the server's problem,
 * not ours), except a codec that refuses its arguments: a warning, since
 * the configuration is wrong. */
#ifndef PTD_CLIENT_TRANSPORT_DIAL_H
#define PTD_CLIENT_TRANSPORT_DIAL_H

#include <sys/socket.h>

#include "lib/addr.h"
#include "lib/kvlist.h"
#include "net/upstream.h"
#include "transports/transport.h"

struct bufferevent;
struct event_base;
struct evdns_base;

typedef struct transport_dial transport_dial_t;

typedef struct transport_dial_opts {
  const struct sockaddr *bind_v4; /* outbound source addresses, or NULL */
  const struct sockaddr *bind_v6;
  const upstream_proxy_t *proxy; /* or NULL: direct */
  unsigned dial_timeout_s;
  unsigned handshake_timeout_s; /* the transport's handshake; 0: none */
} transport_dial_opts_t;

/* On success stream is ready and the callee's, and local is our end of
 * the connection toward the server (NULL if unknown). On failure stream is
 * NULL and err an errno value for socks5_reply_for_errno() (EPROTO for a
 * failed transport handshake or refused arguments, ETIMEDOUT, the dial's
 * own). done never runs from inside transport_dial_start(). */
typedef void (*transport_dial_done_fn)(void *ctx, struct bufferevent *stream,
                                       const struct sockaddr *local, int err);

/* args must stay valid until done runs or the dial is cancelled; peer is
 * the (already scrubbed) label for log lines, copied. NULL when out of
 * memory. */
transport_dial_t *transport_dial_start(struct event_base *base, struct evdns_base *dns,
                                       const addr_endpoint_t *dest, const transport_ops_t *t,
                                       const kvlist_t *args, const transport_dial_opts_t *opts,
                                       const char *peer, transport_dial_done_fn done,
                                       void *ctx);
/* Stops a dial in progress; done is not called. NULL is ignored. */
void transport_dial_cancel(transport_dial_t *d);

#endif
