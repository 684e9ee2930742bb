/* socks_handshake: what an application says on a SOCKS listener before
 * its bytes may flow - SOCKS5 (RFC 1928) with methods 0x00, 0x02 (RFC
 * 1929 carrying pt-spec 3.5 arguments) and 0x09 (PT 2.1 s1.4 JSON
 * parameter block), or SOCKS4/4a (arguments in USERID) - ending in a
 * destination and the transport arguments for this connection.
 *
 * No sockets here: the caller feeds the application's input buffer and
 * sends whatever lands in the output buffer. Replies for failures found
 * while parsing are written by client_socks_step(); the reply for the
 * outcome of dialing is written by client_socks_reply_dialed(). */
#ifndef PTD_CLIENT_SOCKS_HANDSHAKE_H
#define PTD_CLIENT_SOCKS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/addr.h"
#include "lib/kvlist.h"
#include "transports/transport.h"

struct evbuffer;

typedef enum {
  CSOCKS_FIRST,         /* the version byte decides SOCKS4 or SOCKS5 */
  CSOCKS5_GREETING,
  CSOCKS5_USERPASS,
  CSOCKS5_JSON,
  CSOCKS5_REQUEST,
  CSOCKS4_REQUEST,
  CSOCKS_READY,
} client_socks_state_t;

typedef enum {
  CSOCKS_MORE,  /* wait for more input */
  CSOCKS_DIAL,  /* dest and args are set: dial, then reply */
  CSOCKS_CLOSE, /* any reply is queued on out: flush it and hang up */
} client_socks_result_t;

typedef struct client_socks {
  client_socks_state_t state;
  uint8_t version; /* 4 or 5, once known */
  const transport_ops_t *transport;
  const kvlist_t *base_args; /* the listener's (-options); may be NULL */
  size_t json_limit;         /* largest 0x09 block accepted */
  kvlist_t *args;            /* the arguments for this connection, or NULL */
  addr_endpoint_t dest;
  char why[256];             /* for the caller's log line on CSOCKS_CLOSE */
  /* The transport refused the arguments: a configuration error (a bad
   * Bridge line, say) that an operator must see, not a client's mistake. */
  bool args_refused;
} client_socks_t;

void client_socks_init(client_socks_t *hs, const transport_ops_t *t, const kvlist_t *base_args,
                       size_t json_limit);
void client_socks_clear(client_socks_t *hs);

client_socks_result_t client_socks_step(client_socks_t *hs, struct evbuffer *in,
                                        struct evbuffer *out);

/* The handshake did not finish in time: queues the reply that says so
 * where the protocol has one (0x11 while a 0x09 block is being read). */
void client_socks_reply_timeout(client_socks_t *hs, struct evbuffer *out);

/* The reply to the CONNECT: success with the local address of the
 * outgoing connection (may be NULL), or failure for an errno value. */
void client_socks_reply_dialed(client_socks_t *hs, struct evbuffer *out,
                               const struct sockaddr *bound, int err);

#endif
