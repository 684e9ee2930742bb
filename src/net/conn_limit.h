/* conn_limit: the count of open connections against -maxConnections, for
 * a role that holds its listeners while the limit is reached.
 *
 * Holding (not refusing) is the backpressure: a new connection waits in
 * the kernel's backlog until one closes, instead of being turned away
 * while the process is merely busy. Each transition is logged once. */
#ifndef PTD_NET_CONN_LIMIT_H
#define PTD_NET_CONN_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct conn_limit {
  size_t max;       /* 0: no limit */
  size_t open;
  bool held;        /* listeners are held */
  const char *role; /* "client" or "server", for the log line */
} conn_limit_t;

/* A connection was accepted. True when the caller must hold its
 * listeners now. */
bool conn_limit_opened(conn_limit_t *l);
/* A connection closed. True when the caller must release its listeners
 * now. */
bool conn_limit_closed(conn_limit_t *l);

#endif
