/* udp_client: the client role's UDP modes (PT 2.1 s1.5.3): a UDP
 * listener for the application, and a pool of transport connections to
 * the configured server, one per application source address, so that
 * each reply goes back to the address its request came from.
 *
 * A datagram from a new source creates a connection in the pool (Waiting:
 * dialing and the transport's handshake, transport_dial.h); datagrams
 * that arrive meanwhile are kept, up to opts.queue of them (the spec's
 * table drops them: opts.queue 0), and sent once it is Connected. A
 * connection leaves the pool when it closes, fails, or carries no
 * datagram for udp_timeout_s (udp_relay.h). The pool holds at most
 * max_peers connections; datagrams from further sources are dropped. */
#ifndef PTD_CLIENT_UDP_CLIENT_H
#define PTD_CLIENT_UDP_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#include "lib/addr.h"
#include "client/transport_dial.h"
#include "lib/kvlist.h"
#include "net/udp_relay.h"
#include "transports/transport.h"

struct event_base;
struct evdns_base;

typedef struct udp_client udp_client_t;

typedef struct udp_client_opts {
  transport_dial_opts_t dial; /* how the server is reached */
  unsigned udp_timeout_s;
  size_t queue;     /* datagrams kept per connection while it is Waiting */
  size_t max_peers; /* 0: no limit of our own */
  udp_framing_t framing;
  const transport_ops_t *transport;
  const kvlist_t *args;          /* -options for the transport; copied */
  const addr_endpoint_t *listen; /* an IP literal; port 0: any */
  const addr_endpoint_t *target; /* the server */
  void (*on_idle)(void *ctx);    /* the last connection left the pool */
  void *ctx;
} udp_client_opts_t;

/* Checks the transport's arguments, binds the listener and writes the
 * address bound. NULL with err on failure. */
udp_client_t *udp_client_new(struct event_base *base, struct evdns_base *dns,
                             const udp_client_opts_t *opts, struct sockaddr_storage *bound,
                             char *err, size_t errlen);
/* Draining: no new connections join the pool; the listener stays open, so
 * the connections there still get their replies back. */
void udp_client_stop_new(udp_client_t *c);
size_t udp_client_open_connections(const udp_client_t *c);
/* Closes the listener and every connection. NULL is ignored. */
void udp_client_free(udp_client_t *c);

#endif
