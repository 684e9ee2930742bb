/* client: the client role. One listener per transport. On a SOCKS
 * listener each application connection says where to go and with which
 * transport arguments (socks_handshake.h); on a transparent-TCP listener
 * every connection goes to the configured target with the listener's
 * arguments. Either way the server is dialed (directly or through the
 * upstream proxy), the connection is wrapped in the transport's codec and
 * handed to the relay. The role knows nothing of the parent: the entry
 * layer reports what client_add_listener() returns. */
#ifndef PTD_CLIENT_CLIENT_H
#define PTD_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/addr.h"
#include "client/transport_dial.h"
#include "lib/kvlist.h"
#include "transports/transport.h"

struct event_base;
struct evdns_base;

typedef struct client client_t;

typedef struct client_opts {
  transport_dial_opts_t dial;   /* how the server is reached */
  unsigned handshake_timeout_s; /* the application's SOCKS handshake */
  unsigned idle_timeout_s;
  size_t json_limit; /* largest SOCKS 0x09 parameter block */
  size_t max_conns;  /* 0: no limit of our own */
  void (*on_idle)(void *ctx); /* the last open connection closed */
  void *ctx;
} client_opts_t;

typedef enum { CLIENT_LISTEN_SOCKS, CLIENT_LISTEN_TRANSPARENT } client_listen_kind_t;

typedef struct client_listen_spec {
  client_listen_kind_t kind;
  const transport_ops_t *transport;
  const kvlist_t *args;          /* -options for this transport; may be NULL */
  const addr_endpoint_t *listen; /* where to listen (port 0: any) */
  const addr_endpoint_t *target; /* transparent: the server to dial */
} client_listen_spec_t;

client_t *client_new(struct event_base *base, struct evdns_base *dns,
                     const client_opts_t *opts);
/* Opens a listener as spec says and writes the bound address. A
 * transparent listener checks its arguments now, since no connection
 * will bring others. Returns 0, or -1 with err. */
int client_add_listener(client_t *c, const client_listen_spec_t *spec,
                        struct sockaddr_storage *bound, char *err, size_t errlen);
void client_stop_listening(client_t *c);
size_t client_open_connections(const client_t *c);
/* Closes every listener and connection. */
void client_free(client_t *c);

#endif
