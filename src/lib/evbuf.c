/* evbuf: reading a message's bytes out of a libevent buffer without
 * taking them. */
#include "lib/evbuf.h"

#include <event2/buffer.h>

int evbuf_peek(struct evbuffer *in, void *buf, size_t cap, size_t *have) {
  size_t len = evbuffer_get_length(in);
  size_t want = len < cap ? len : cap;
  *have = 0;
  /* Nothing to copy is not an error: the codec just needs more bytes. */
  if (want == 0)
    return 0;
  ev_ssize_t got = evbuffer_copyout(in, buf, want);
  if (got < 0)
    return -1;
  *have = (size_t)got;
  return 0;
}
