/* evbuf: reading a message's bytes out of a libevent buffer without
 * taking them, so a codec can wait for the rest of a message and drain
 * only a whole one. */
#ifndef PTD_LIB_EVBUF_H
#define PTD_LIB_EVBUF_H

#include <stddef.h>

struct evbuffer;

/* Copies up to cap bytes from the front of in into buf without draining
 * it, and their count to *have. Returns 0, or -1 (with *have 0) if the
 * buffer cannot be read. */
int evbuf_peek(struct evbuffer *in, void *buf, size_t cap, size_t *have);

#endif
