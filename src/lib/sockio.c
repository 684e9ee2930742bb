/* sockio: see sockio.h.
 *
 * Reads go straight into space reserved at the end of the evbuffer (no
 * copy). A reservation that a short read leaves mostly empty stays with
 * the buffer until drained; the bench shows that costs less than copying
 * through a scratch buffer (make bench: cpu/GiB). */
#include "lib/sockio.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/uio.h>

#define SOCKIO_CHUNK (64 * 1024)
#define SOCKIO_IOVECS 2

size_t sockio_read(struct evbuffer *buf, int fd, size_t max, sockio_end_t *end) {
  size_t total = 0;
  *end = SOCKIO_LIMIT;
  while (fd >= 0 && total < max) {
    size_t want = max - total < SOCKIO_CHUNK ? max - total : SOCKIO_CHUNK;
    struct evbuffer_iovec vec[SOCKIO_IOVECS];
    int n = evbuffer_reserve_space(buf, (ev_ssize_t)want, vec, SOCKIO_IOVECS);
    if (n <= 0) {
      *end = SOCKIO_ERROR;
      errno = ENOMEM;
      break;
    }
    struct iovec iov[SOCKIO_IOVECS];
    size_t room = 0;
    /* The reservation may be larger than asked for; never read past want,
     * so callers' limits (backpressure) hold. */
    for (int i = 0; i < n; i++) {
      iov[i].iov_base = vec[i].iov_base;
      iov[i].iov_len = vec[i].iov_len < want - room ? vec[i].iov_len : want - room;
      room += iov[i].iov_len;
    }
    ssize_t got = readv(fd, iov, n);
    if (got <= 0) {
      int err = errno;
      evbuffer_commit_space(buf, vec, 0);
      if (got < 0 && err == EINTR)
        continue;
      if (got == 0)
        *end = SOCKIO_EOF;
      else if (err == EAGAIN || err == EWOULDBLOCK)
        *end = SOCKIO_DRAINED;
      else
        *end = SOCKIO_ERROR;
      errno = err;
      break;
    }
    /* Trim the vectors to what readv filled before committing. */
    size_t left = (size_t)got;
    int used = 0;
    for (; used < n && left > 0; used++) {
      if (vec[used].iov_len > left)
        vec[used].iov_len = left;
      left -= vec[used].iov_len;
    }
    evbuffer_commit_space(buf, vec, used);
    total += (size_t)got;
    if ((size_t)got < room) {
      *end = SOCKIO_DRAINED; /* the socket is drained, most likely */
      break;
    }
  }
  return total;
}

size_t sockio_read_more(struct evbuffer *buf, int fd, size_t max) {
  sockio_end_t end;
  return sockio_read(buf, fd, max, &end);
}
