/* splice_pipe: see splice_pipe.h.
 *
 * The pool is a fixed array of empty pipes (no heap, nothing to free at
 * exit). The cap on pipes in existence is computed once, from the soft
 * descriptor limit at the first call: ptdispatch raises that limit at
 * startup, before any relay runs. */
#define SPLICE_PIPE_PRIVATE
#include "net/splice_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

/* Pipes kept ready, so that taking and giving back costs no system
 * call. */
#define SPLICE_PIPE_POOL 64
/* Asked of F_SETPIPE_SZ (the kernel's default is 64 KiB). What a relay
 * costs per byte is mostly the wakeups and timers of each TCP hop, so
 * moving more per wakeup pays: against 256 KiB pipes, 1 MiB ones cut the
 * relays' CPU per GiB by about a quarter (make bench, cpu/GiB). The
 * kernel may give less (pipe-max-size, pipe-user-pages-soft);
 * F_GETPIPE_SZ says what. A pipe's pages are only held while bytes are in
 * flight. */
#define SPLICE_PIPE_BYTES (1024 * 1024)
/* At most this share of the descriptor limit goes to pipes (2 fds each). */
#define SPLICE_PIPE_FD_SHARE 4
/* And at most this many pipes at all: with SPLICE_PIPE_BYTES each, 64 MiB
 * of kernel memory in the worst case (every pipe full, behind a slow
 * reader), which is also the default pipe-user-pages-soft of one user. */
#define SPLICE_PIPE_MAX 64

static splice_pipe_t pool[SPLICE_PIPE_POOL];
static size_t pooled;
static size_t in_use;
static size_t max_pipes; /* 0 until computed */

static size_t compute_max(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return SPLICE_PIPE_MAX;
  size_t n = (size_t)rl.rlim_cur / SPLICE_PIPE_FD_SHARE / 2;
  return n > SPLICE_PIPE_MAX ? SPLICE_PIPE_MAX : n;
}

static void pipe_close(splice_pipe_t *p) {
  close(p->rd);
  close(p->wr);
  *p = SPLICE_PIPE_NONE;
}

int splice_pipe_get(splice_pipe_t *p) {
  if (!max_pipes)
    max_pipes = compute_max() + 1; /* +1: 0 means "not computed" */
  if (pooled > 0) {
    *p = pool[--pooled];
    in_use++;
    return 0;
  }
  if (in_use + pooled + 1 >= max_pipes) {
    errno = EMFILE;
    return -1;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    return -1;
  fcntl(fds[1], F_SETPIPE_SZ, SPLICE_PIPE_BYTES); /* best effort */
  int cap = fcntl(fds[1], F_GETPIPE_SZ);
  p->rd = fds[0];
  p->wr = fds[1];
  p->cap = cap > 0 ? (size_t)cap : 4096;
  in_use++;
  return 0;
}

void splice_pipe_put(splice_pipe_t *p, bool empty) {
  if (p->rd < 0)
    return;
  in_use--;
  /* Pooled only while within the cap (set_max may have lowered it). */
  bool within = !max_pipes || in_use + pooled + 2 <= max_pipes;
  if (empty && within && pooled < SPLICE_PIPE_POOL) {
    pool[pooled++] = *p;
    *p = SPLICE_PIPE_NONE;
    return;
  }
  pipe_close(p);
}

size_t splice_pipe_in_use(void) { return in_use; }

void splice_pipe_pool_clear(void) {
  while (pooled > 0)
    pipe_close(&pool[--pooled]);
}

void splice_pipe_set_max(size_t n) {
  splice_pipe_pool_clear();
  max_pipes = n == SIZE_MAX ? 0 : n + 1;
}
