/* splice_pipe: the kernel pipes that the relay's fast path splices
 * through, kept in a small pool.
 *
 * splice(2) moves bytes between a socket and a pipe, never socket to
 * socket, so each direction of a spliced relay needs a pipe while it has
 * bytes in flight. A pipe holds no memory while empty but costs two
 * descriptors, so a relay direction takes one only when it has bytes to
 * move and gives it back as soon as the pipe is empty again: idle
 * connections hold no pipe. The pool keeps a few empty pipes so that this
 * costs no system call, and caps how many pipes exist at once (64, and
 * no more than a share of RLIMIT_NOFILE), so that bulk transfers can never
 * take the descriptors that accept() and dialing need, nor pin more than
 * 64 MiB of kernel memory in full pipes. Past the cap, splice_pipe_get()
 * fails and the caller copies through user space instead.
 *
 * Single-threaded, like the event loop that uses it. */
#ifndef PTD_NET_SPLICE_PIPE_H
#define PTD_NET_SPLICE_PIPE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct splice_pipe {
  int rd, wr; /* -1 when no pipe is held */
  size_t cap; /* bytes the pipe takes before a write would block */
} splice_pipe_t;

#define SPLICE_PIPE_NONE ((splice_pipe_t){.rd = -1, .wr = -1, .cap = 0})

/* Puts an empty, nonblocking, close-on-exec pipe in *p and returns 0, or
 * returns -1 (the cap is reached, or pipe2() failed: errno) with *p
 * untouched. */
int splice_pipe_get(splice_pipe_t *p);

/* Gives *p back and sets it to SPLICE_PIPE_NONE. Only a pipe known to be
 * empty (empty = true) is pooled; one that may hold bytes is closed, so
 * that nobody ever receives another connection's bytes. Accepts a *p that
 * holds no pipe. */
void splice_pipe_put(splice_pipe_t *p, bool empty);

/* Pipes handed out and not yet given back. */
size_t splice_pipe_in_use(void);

/* Closes the pooled pipes (the pool fills again on demand). */
void splice_pipe_pool_clear(void);

#ifdef SPLICE_PIPE_PRIVATE
/* Caps the pipes in existence at n and empties the pool; 0 makes every
 * relay direction copy through user space. SIZE_MAX restores the cap
 * derived from RLIMIT_NOFILE. For tests. */
void splice_pipe_set_max(size_t n);
#endif

#endif
