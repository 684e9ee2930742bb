/* splice_relay: the relay's fast path, for two plain sockets.
 *
 * relay_start() (relay.h) hands both ends over when each is a socket
 * bufferevent with nothing in between (plain, or any identity transport:
 * see transport.h). From then on bytes go socket -> pipe -> socket with
 * splice(2): the kernel moves pages, nothing is copied through user space,
 * and an idle connection holds no buffer at all, only its two sockets, four
 * events and this struct; the bufferevents are freed at once.
 *
 * It keeps relay.h's promises: bytes the bufferevents already held (output
 * not yet sent, input not yet relayed: a SOCKS reply, an application's
 * early data) go out first, in order; backpressure (a direction reads only
 * while none of its bytes wait for the other socket, and at most a pipe's
 * worth, up to 1 MiB of kernel memory, at a time); half-close (EOF on one
 * socket becomes shutdown(SHUT_WR) on the other once everything before it
 * is out); errors (a socket that fails takes its own direction down, the
 * other still delivers what it has); stats and activity for the idle
 * timeout. When no pipe can be had (splice_pipe.h's cap) or splice is
 * refused, a direction copies through a user-space buffer instead, with
 * the same rules and RELAY_HIGH_WATER as its cap. */
#ifndef PTD_NET_SPLICE_RELAY_H
#define PTD_NET_SPLICE_RELAY_H

#include <stdbool.h>
#include <time.h>

#include "net/relay.h"

struct bufferevent;

typedef struct splice_relay splice_relay_t;

/* reason: NULL for a clean finish, else the first error's text. */
typedef void (*splice_relay_done_fn)(void *ctx, const char *reason);

/* True when a and b are both socket bufferevents (no filter, no TLS) on
 * connected stream sockets, so that splice_relay_start() can take them. */
bool splice_relay_eligible(struct bufferevent *a, struct bufferevent *b);

/* Takes a and b over: their sockets (closed by splice_relay_free()) and
 * the bytes they hold; frees both bufferevents. Bytes moved are added to
 * stats; *last_activity is set (CLOCK_MONOTONIC seconds) whenever bytes
 * move. done is called once, from the event loop, never from within this
 * call, when both directions have finished; the caller then frees the
 * relay. Returns NULL on allocation failure, with a and b untouched. */
splice_relay_t *splice_relay_start(struct bufferevent *a, struct bufferevent *b,
                                   relay_stats_t *stats, time_t *last_activity,
                                   splice_relay_done_fn done, void *ctx);

/* Closes both sockets, gives the pipes back, frees sr; done is not
 * called. Accepts NULL. Safe from within done(). */
void splice_relay_free(splice_relay_t *sr);

#endif
