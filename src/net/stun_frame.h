/* stun_frame: STUN-aware UDP mode's framing (PT 2.1 s1.5.4), as a codec on
 * evbuffers.
 *
 * No framing of our own: the transport stream is STUN messages (RFC 5389
 * s6) and TURN ChannelData messages (RFC 5766 s11) back to back, each
 * found by its own header, as STUN over TCP to a TURN server is (RFC 5389
 * s7.2.2, RFC 5766 s11.5).
 *
 *   STUN         TYPE(2, top two bits 00) LENGTH(2, a multiple of 4, not
 *                counting the header) COOKIE(4) TXID(12) ATTRIBUTES(LENGTH)
 *   ChannelData  CHANNEL(2, 0x4000..0x7FFF) LENGTH(2) DATA(LENGTH), and in
 *                a stream zero padding to a multiple of 4 that LENGTH does
 *                not count; over UDP the padding is optional.
 *
 * The first two bits tell the two apart (00 STUN, 01 ChannelData); 10 and
 * 11 are neither. Only headers are judged: a TURN server is there to
 * judge attributes, and a message with a sound header cannot desynchronise
 * the stream.
 *
 * The UDP side passes each datagram it receives through stun_classify()
 * (and drops what it refuses) and stun_frame_append(); the stream side
 * takes messages back with stun_frame_next(), which peeks and drains only
 * a whole message. The caller owns every buffer. A receiver's input buffer
 * must be allowed to hold STUN_FRAME_MAX_MSG_LEN bytes. */
#ifndef PTD_NET_STUN_FRAME_H
#define PTD_NET_STUN_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TXID_LEN 12
/* The largest multiple of 4 that the 16-bit length holds. */
#define STUN_MAX_BODY_LEN 65532
#define STUN_MAX_MSG_LEN (STUN_HEADER_LEN + STUN_MAX_BODY_LEN)

#define CHANNEL_DATA_HEADER_LEN 4
#define CHANNEL_NUMBER_MIN 0x4000
#define CHANNEL_NUMBER_MAX 0x7FFF
#define CHANNEL_DATA_MAX_DATA 65535
/* A ChannelData message without padding, and with a stream's padding. */
#define CHANNEL_DATA_MAX_LEN (CHANNEL_DATA_HEADER_LEN + CHANNEL_DATA_MAX_DATA)
#define CHANNEL_DATA_MAX_PADDED_LEN ((CHANNEL_DATA_MAX_LEN + 3) & ~3)

/* The longest message stun_frame_next() returns, and the most one message
 * takes in the stream: a cap of this size never drops. */
#define STUN_FRAME_MAX_MSG_LEN STUN_MAX_MSG_LEN

typedef enum stun_kind {
  STUN_KIND_INVALID,
  STUN_KIND_STUN,
  STUN_KIND_CHANNEL_DATA,
} stun_kind_t;

/* What stun_frame_next() returns. */
enum {
  STUN_FRAME_OVERSIZE = -2,   /* a message larger than the caller's buffer */
  STUN_FRAME_BAD_STREAM = -1, /* not a message: close the stream */
  STUN_FRAME_NEED_MORE = 0,   /* no whole message yet */
  STUN_FRAME_OK = 1,
};

/* Judges a datagram d[0..n) received over UDP:
 *   STUN_KIND_STUN          exactly one STUN message: a sound header and
 *                           n == 20 + LENGTH;
 *   STUN_KIND_CHANNEL_DATA  one ChannelData message: a channel in range
 *                           and 4 + LENGTH <= n <= 4 + LENGTH rounded up
 *                           to a multiple of 4 (the padding's bytes may be
 *                           anything);
 *   STUN_KIND_INVALID       anything else (truncated, trailing bytes, a bad
 *                           cookie or length, first bits 10 or 11).
 * For the first two, *msg_len (if msg_len is not NULL) is the message's
 * length without padding: n for STUN, 4 + LENGTH for ChannelData; 0 for
 * STUN_KIND_INVALID. */
stun_kind_t stun_classify(const uint8_t *d, size_t n, size_t *msg_len);

/* Appends the datagram d[0..n) to out as the stream carries it: a STUN
 * message as it is, a ChannelData message as its 4 + LENGTH bytes and
 * zero padding to a multiple of 4 (whatever padding it came with is not
 * copied). Returns 0, or -1 with out unchanged if stun_classify() refuses
 * d or out cannot take the bytes (out of memory, or its end frozen). */
int stun_frame_append(struct evbuffer *out, const uint8_t *d, size_t n);

/* Takes the next whole message off in:
 *   STUN_FRAME_OK         the message is in buf (a STUN message whole, a
 *                         ChannelData message as its 4 + LENGTH bytes, its
 *                         padding drained but not copied) and its length
 *                         in *len;
 *   STUN_FRAME_NEED_MORE  no whole message (with its padding) yet: in is
 *                         untouched;
 *   STUN_FRAME_BAD_STREAM the bytes at the front are no message header,
 *                         decided as soon as the offending byte is in (a
 *                         desynchronised or hostile peer, or a buffer that
 *                         cannot be read): in is untouched, and the caller
 *                         closes the stream;
 *   STUN_FRAME_OVERSIZE   a sound message longer than cap: drained with
 *                         its padding and dropped, so the stream stays in
 *                         step; *len says how long it was.
 * The one copy is into buf. */
int stun_frame_next(struct evbuffer *in, uint8_t *buf, size_t cap, size_t *len);

#endif
