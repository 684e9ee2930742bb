/* extorport_conn: runs the Extended ORPort handshake (extorport.h) over a
 * connected bufferevent, within a time limit, and hands the bufferevent
 * back once the bridge has said OKAY.
 *
 * Ownership: extorport_conn_start() takes bev. done() runs exactly once,
 * from the event loop (never inside extorport_conn_start()), unless
 * extorport_conn_cancel() came first; after it the handshake object is
 * gone. On READY, done() gets bev back with no callbacks set and reading
 * disabled; its input may already hold bytes the ORPort sent after OKAY,
 * which belong to the stream. Otherwise bev has been freed and done()
 * gets NULL and a reason fit for a log line (no secrets, no client
 * address). */
#ifndef PTD_NET_EXTORPORT_CONN_H
#define PTD_NET_EXTORPORT_CONN_H

#include <stdint.h>

#include "net/extorport.h"

struct bufferevent;

typedef struct extorport_conn extorport_conn_t;

/* result is EXTORPORT_READY (bev set), EXTORPORT_DENIED or
 * EXTORPORT_FAILED (bev NULL, why set). */
typedef void (*extorport_done_fn)(void *ctx, struct bufferevent *bev, extorport_result_t result,
                                  const char *why);

/* useraddr and transport as for extorport_client_init(); transport must
 * outlive the handshake. timeout_s == 0 means no limit. Returns NULL (bev
 * freed) when out of memory. */
extorport_conn_t *extorport_conn_start(struct bufferevent *bev,
                                       const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                                       const char *useraddr, const char *transport,
                                       unsigned timeout_s, extorport_done_fn done, void *ctx);
/* Abandons the handshake and frees bev; done is not called. Accepts NULL. */
void extorport_conn_cancel(extorport_conn_t *x);

#endif
