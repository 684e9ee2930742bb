/* udp_frame: transparent-UDP framing; see udp_frame.h.
 *
 * Appending reserves one contiguous run for length and datagram together,
 * so a failed append leaves no stray length in the stream (two
 * evbuffer_add calls could fail between them and desynchronise the peer
 * for good). Splitting copies the datagram out from behind its length and
 * only then drains the whole frame, so every path either takes a whole
 * frame or nothing. */
#include "net/udp_frame.h"

#include <string.h>

#include <event2/buffer.h>

#include "lib/evbuf.h"

int udp_frame_append(struct evbuffer *out, const uint8_t *dgram, size_t len) {
  if (len > UDP_FRAME_MAX_DGRAM)
    return -1;
  struct evbuffer_iovec v;
  if (evbuffer_reserve_space(out, (ev_ssize_t)(UDP_FRAME_LEN_LEN + len), &v, 1) != 1)
    return -1;
  uint8_t *p = v.iov_base;
  p[0] = (uint8_t)(len >> 8);
  p[1] = (uint8_t)len;
  if (len > 0)
    memcpy(p + UDP_FRAME_LEN_LEN, dgram, len);
  v.iov_len = UDP_FRAME_LEN_LEN + len;
  /* Commit cannot fail for the one vector reserve just gave us. */
  evbuffer_commit_space(out, &v, 1);
  return 0;
}

int udp_frame_next(struct evbuffer *in, uint8_t *buf, size_t cap, size_t *len) {
  uint8_t hdr[UDP_FRAME_LEN_LEN];
  size_t have;
  if (evbuf_peek(in, hdr, sizeof hdr, &have) != 0 || have < sizeof hdr)
    return UDP_FRAME_NEED_MORE;
  size_t dlen = ((size_t)hdr[0] << 8) | hdr[1];
  size_t total = UDP_FRAME_LEN_LEN + dlen;
  /* Even a datagram we will drop waits until it is all in: without state
   * between calls, draining half of it would lose our place. */
  if (evbuffer_get_length(in) < total)
    return UDP_FRAME_NEED_MORE;
  if (dlen > cap) {
    if (evbuffer_drain(in, total) != 0)
      return UDP_FRAME_NEED_MORE;
    *len = dlen;
    return UDP_FRAME_DROPPED;
  }
  if (dlen > 0) {
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(in, &pos, UDP_FRAME_LEN_LEN, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(in, &pos, buf, dlen) != (ev_ssize_t)dlen)
      return UDP_FRAME_NEED_MORE;
  }
  if (evbuffer_drain(in, total) != 0)
    return UDP_FRAME_NEED_MORE;
  *len = dlen;
  return UDP_FRAME_OK;
}
