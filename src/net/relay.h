/* relay: the one relay core. Every mode and role hands it two connected
 * bufferevents and forgets about them.
 *
 * It owns both (frees them when done), copies bytes each way with
 * backpressure (stops reading a side while the other side's output holds
 * more than RELAY_HIGH_WATER bytes), propagates half-close (EOF on one side
 * becomes shutdown(SHUT_WR) on the other once its output has drained,
 * reaching through filter bufferevents to the socket underneath), and
 * reports once, through done(), when both directions are finished or one
 * side failed.
 *
 * When both are bare socket bufferevents (a plain or other identity
 * transport: nothing to encode), the relay frees them at once and splices
 * socket to socket (splice_relay.h): the same promises, with a pipe of up
 * to 1 MiB (kernel memory) as each direction's buffer, no copy through
 * user space, next to no memory per idle connection. Either way the relay
 * closes both sockets when done, so give it bufferevents made with
 * BEV_OPT_CLOSE_ON_FREE, and let go of them: they may be freed inside
 * relay_start().
 *
 * A relayed TCP socket whose both ends are loopback addresses is switched
 * from BBR to Reno, which does not pace (relay.c says why). */
#ifndef PTD_NET_RELAY_H
#define PTD_NET_RELAY_H

#include <stddef.h>

struct bufferevent;

#define RELAY_HIGH_WATER (256 * 1024)

typedef struct relay relay_t;

typedef struct relay_stats {
  size_t a_to_b;
  size_t b_to_a;
} relay_stats_t;

/* reason is NULL for a clean finish, or a short text ("reset by peer"). */
typedef void (*relay_done_fn)(void *ctx, const relay_stats_t *stats, const char *reason);

/* Starts relaying; a and b must be connected. idle_timeout_s == 0 means no
 * idle timeout. done is called once, after which the relay frees itself. */
relay_t *relay_start(struct bufferevent *a, struct bufferevent *b, unsigned idle_timeout_s,
                     relay_done_fn done, void *ctx);
/* Tears the relay down now without calling done. */
void relay_abort(relay_t *r);

#ifdef RELAY_PRIVATE
#include <stdbool.h>
/* Whether r splices (splice_relay.h) rather than copying through
 * bufferevents. */
bool relay_is_fast(const relay_t *r);
#endif

#endif
