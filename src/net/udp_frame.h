/* udp_frame: transparent-UDP framing (PT 2.1 s1.5.4), datagrams to a byte
 * stream and back, as a codec on evbuffers.
 *
 * A datagram of whatever protocol rides a transport stream behind a 2-byte
 * big-endian length: LEN(2) DATA(LEN). 0..65535 bytes, an empty datagram
 * included. No sockets here: the UDP side hands datagrams to
 * udp_frame_append(), and the stream side takes them back one at a time
 * with udp_frame_next(), which peeks and drains only a whole frame. The
 * caller owns every buffer.
 *
 * A receiver's input buffer must be allowed to hold UDP_FRAME_MAX_LEN
 * bytes (a read high-water mark below that would wait forever for the
 * rest of a large frame). */
#ifndef PTD_NET_UDP_FRAME_H
#define PTD_NET_UDP_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define UDP_FRAME_LEN_LEN 2
#define UDP_FRAME_MAX_DGRAM 65535
/* The most one frame takes in the stream. */
#define UDP_FRAME_MAX_LEN (UDP_FRAME_LEN_LEN + UDP_FRAME_MAX_DGRAM)

/* What udp_frame_next() returns. */
enum {
  UDP_FRAME_DROPPED = -1,  /* a datagram larger than the caller's buffer */
  UDP_FRAME_NEED_MORE = 0, /* no whole frame yet */
  UDP_FRAME_OK = 1,
};

/* What a UDP mode drops instead of delivering, for its log lines: invalid
 * counts datagrams STUN mode refused (stun_classify), oversize the
 * messages larger than the receiver's buffer (UDP_FRAME_DROPPED,
 * STUN_FRAME_OVERSIZE). */
typedef struct udp_drop_counts {
  uint64_t invalid;
  uint64_t oversize;
} udp_drop_counts_t;

/* Appends len, then the len bytes of dgram (which may be NULL when len is
 * 0), to out. Returns 0, or -1 with out unchanged if len is over
 * UDP_FRAME_MAX_DGRAM or out cannot take the bytes (out of memory, or its
 * end frozen). */
int udp_frame_append(struct evbuffer *out, const uint8_t *dgram, size_t len);

/* Takes the next whole frame off in, copying its datagram into buf:
 *   UDP_FRAME_OK         the datagram is in buf, its length in *len;
 *   UDP_FRAME_NEED_MORE  no whole frame yet: in is untouched;
 *   UDP_FRAME_DROPPED    the datagram is longer than cap: it is drained
 *                        and dropped, so the stream stays in step, and
 *                        *len says how long it was (for the caller's
 *                        count and log).
 * The one copy is into buf. A buffer that cannot be read or drained
 * (its front frozen, which a bufferevent's input never is) gives
 * UDP_FRAME_NEED_MORE: nothing is taken, so a caller looping until
 * NEED_MORE stops. */
int udp_frame_next(struct evbuffer *in, uint8_t *buf, size_t cap, size_t *len);

#endif
