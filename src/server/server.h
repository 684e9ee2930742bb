/* server: the server role. One listener per transport; each accepted
 * connection is wrapped in the transport's server codec, the ORPort is
 * dialed, and the relay joins the two. With an Extended ORPort (see
 * server_use_extorport()) that is dialed instead, always, and each
 * connection first tells it the client's address and the transport's
 * name. The role knows nothing of the parent: the entry layer reports
 * what server_use_extorport() and server_add_listener() return.
 *
 * In the UDP modes (opts.udp) a connection carries framed datagrams
 * instead (net/udp_relay.h): each gets a UDP socket of its own, connected
 * to the orport address (the Server App, or the TURN server in STUN mode),
 * and the connection ends when it closes, fails or idles for
 * udp_timeout_s (PT 2.1 s1.5.5). */
#ifndef PTD_SERVER_SERVER_H
#define PTD_SERVER_SERVER_H

#include <stddef.h>

#include "lib/addr.h"
#include "lib/kvlist.h"
#include "net/udp_relay.h"
#include "transports/transport.h"

struct event_base;
struct evdns_base;

typedef struct server server_t;

typedef struct server_opts {
  addr_endpoint_t orport; /* where plaintext goes without an ExtORPort */
  const struct sockaddr *bind_v4;
  const struct sockaddr *bind_v6;
  unsigned dial_timeout_s;
  /* The transport's handshake (from accept) and the ExtORPort's (from
   * connecting) each get this long; 0: no limit. */
  unsigned handshake_timeout_s;
  unsigned idle_timeout_s;
  size_t max_conns; /* 0: no limit of our own */
  bool udp;         /* a UDP mode: datagrams to orport, which is an IP literal */
  udp_framing_t udp_framing;
  unsigned udp_timeout_s;
  void (*on_idle)(void *ctx); /* the last open connection closed */
  void *ctx;
} server_opts_t;

server_t *server_new(struct event_base *base, struct evdns_base *dns,
                     const server_opts_t *opts);
/* Sends every connection through the Extended ORPort at ep rather than
 * the ORPort, authenticating with the cookie in cookie_file, which is read
 * now, once (see net/extorport_cookie.c for why once is enough). Call
 * before server_add_listener(). Returns 0, or -1 with a reason in err
 * that does not repeat the path (the caller names the file). */
int server_use_extorport(server_t *s, const addr_endpoint_t *ep, const char *cookie_file,
                         char *err, size_t errlen);
/* Sets up transport t from its options and the state directory and
 * listens at bind. *args_out (owned by the server) is what clients need,
 * for SMETHOD ARGS:, or NULL. */
int server_add_listener(server_t *s, const transport_ops_t *t, const kvlist_t *options,
                        const char *state_dir, const addr_endpoint_t *bind,
                        struct sockaddr_storage *bound, const kvlist_t **args_out,
                        char *err, size_t errlen);
void server_stop_listening(server_t *s);
size_t server_open_connections(const server_t *s);
void server_free(server_t *s);

#endif
