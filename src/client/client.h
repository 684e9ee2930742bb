/* client: the client role. One listener per transport; each accepted
 * application connection speaks SOCKS5 (no-auth, CONNECT) to say where to
 * go, is dialed there, wrapped in the transport's codec and handed to the
 * relay. The role knows nothing of the parent: the entry layer reports
 * what client_add_listener() returns. */
#ifndef PTD_CLIENT_CLIENT_H
#define PTD_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/addr.h"
#include "lib/kvlist.h"
#include "transports/transport.h"

struct event_base;
struct evdns_base;

typedef struct client client_t;

typedef struct client_opts {
  const struct sockaddr *bind_v4; /* outbound source addresses, or NULL */
  const struct sockaddr *bind_v6;
  /* An upstream proxy was configured. Dialing through it is not in this
   * build yet, and going around it would expose the user, so every
   * connection is refused instead. */
  bool refuse_direct;
  unsigned handshake_timeout_s;
  unsigned dial_timeout_s;
  unsigned idle_timeout_s;
  void (*on_idle)(void *ctx); /* the last open connection closed */
  void *ctx;
} client_opts_t;

client_t *client_new(struct event_base *base, struct evdns_base *dns,
                     const client_opts_t *opts);
/* Opens a SOCKS5 listener for transport t at listen; args (may be NULL)
 * are the transport arguments used for every connection. */
int client_add_listener(client_t *c, const transport_ops_t *t, const kvlist_t *args,
                        const addr_endpoint_t *listen, struct sockaddr_storage *bound,
                        char *err, size_t errlen);
void client_stop_listening(client_t *c);
size_t client_open_connections(const client_t *c);
/* Closes every listener and connection. */
void client_free(client_t *c);

#endif
