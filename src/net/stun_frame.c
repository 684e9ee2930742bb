/* stun_frame: STUN-aware UDP mode's framing; see stun_frame.h.
 *
 * One judge of message headers serves both directions. It reads at most
 * the first 8 bytes (type, length, cookie; a transaction id can be
 * anything) and decides as soon as a byte shows garbage, so a stream that
 * is not STUN is refused on its first bad byte instead of after a length
 * it claims. stun_classify() holds a datagram's size against what the
 * header promises; stun_frame_next() waits for that many bytes in the
 * stream. */
#include "net/stun_frame.h"

#include <string.h>

#include <event2/buffer.h>

#include "lib/evbuf.h"

/* What the judge needs to see: type, length and cookie. */
#define STUN_JUDGE_LEN 8
#define STUN_OFF_LENGTH 2
#define STUN_OFF_COOKIE 4

_Static_assert(CHANNEL_DATA_MAX_PADDED_LEN <= STUN_FRAME_MAX_MSG_LEN,
               "a cap of STUN_FRAME_MAX_MSG_LEN must fit every message");

typedef enum stun_head {
  STUN_HEAD_BAD,   /* no message starts like this */
  STUN_HEAD_SHORT, /* sound so far; more bytes needed to tell */
  STUN_HEAD_OK,
} stun_head_t;

/* A sound header's message. */
typedef struct stun_msg {
  stun_kind_t kind;
  size_t len;      /* without padding */
  size_t wire_len; /* as the stream carries it */
} stun_msg_t;

static size_t stun_pad4(size_t n) {
  return (n + 3) & ~(size_t)3;
}

/* Judges the first have bytes of a message (have may be any number). */
static stun_head_t stun_head_judge(const uint8_t *h, size_t have, stun_msg_t *m) {
  static const uint8_t cookie[4] = {(uint8_t)(STUN_MAGIC_COOKIE >> 24),
                                    (uint8_t)(STUN_MAGIC_COOKIE >> 16),
                                    (uint8_t)(STUN_MAGIC_COOKIE >> 8), (uint8_t)STUN_MAGIC_COOKIE};
  if (have < 1)
    return STUN_HEAD_SHORT;
  /* 0x4000..0x7FFF are exactly the values whose first bits are 01, so the
   * top two bits alone settle the kind and the channel range. */
  switch (h[0] >> 6) {
  case 0:
    m->kind = STUN_KIND_STUN;
    break;
  case 1:
    m->kind = STUN_KIND_CHANNEL_DATA;
    break;
  default:
    return STUN_HEAD_BAD; /* RFC 5766 s11 reserves 0x8000..0xFFFF */
  }
  if (have < STUN_OFF_LENGTH + 2)
    return STUN_HEAD_SHORT;
  size_t length = ((size_t)h[STUN_OFF_LENGTH] << 8) | h[STUN_OFF_LENGTH + 1];
  if (m->kind == STUN_KIND_CHANNEL_DATA) {
    m->len = CHANNEL_DATA_HEADER_LEN + length;
    m->wire_len = stun_pad4(m->len);
    return STUN_HEAD_OK;
  }
  if (length % 4 != 0)
    return STUN_HEAD_BAD;
  size_t n = have < STUN_JUDGE_LEN ? have : STUN_JUDGE_LEN;
  for (size_t i = STUN_OFF_COOKIE; i < n; i++) {
    if (h[i] != cookie[i - STUN_OFF_COOKIE])
      return STUN_HEAD_BAD;
  }
  if (have < STUN_JUDGE_LEN)
    return STUN_HEAD_SHORT;
  m->len = STUN_HEADER_LEN + length;
  m->wire_len = m->len;
  return STUN_HEAD_OK;
}

stun_kind_t stun_classify(const uint8_t *d, size_t n, size_t *msg_len) {
  stun_msg_t m = {STUN_KIND_INVALID, 0, 0};
  stun_kind_t kind = STUN_KIND_INVALID;
  if (stun_head_judge(d, n, &m) == STUN_HEAD_OK) {
    /* A STUN message is a multiple of 4 already, so wire_len == len and
     * this one test says "exactly one, no more" for both kinds. */
    if (n >= m.len && n <= m.wire_len)
      kind = m.kind;
  }
  if (msg_len)
    *msg_len = kind == STUN_KIND_INVALID ? 0 : m.len;
  return kind;
}

int stun_frame_append(struct evbuffer *out, const uint8_t *d, size_t n) {
  size_t len;
  stun_kind_t kind = stun_classify(d, n, &len);
  if (kind == STUN_KIND_INVALID)
    return -1;
  if (kind == STUN_KIND_STUN)
    return evbuffer_add(out, d, len) == 0 ? 0 : -1;
  /* Message and padding in one reservation, so a failure adds neither
   * (a message without its padding would misalign the next one). */
  size_t wire_len = stun_pad4(len);
  struct evbuffer_iovec v;
  if (evbuffer_reserve_space(out, (ev_ssize_t)wire_len, &v, 1) != 1)
    return -1;
  memcpy(v.iov_base, d, len);
  memset((uint8_t *)v.iov_base + len, 0, wire_len - len);
  v.iov_len = wire_len;
  /* Commit cannot fail for the one vector reserve just gave us. */
  evbuffer_commit_space(out, &v, 1);
  return 0;
}

int stun_frame_next(struct evbuffer *in, uint8_t *buf, size_t cap, size_t *len) {
  uint8_t head[STUN_JUDGE_LEN];
  size_t have;
  stun_msg_t m;
  if (evbuf_peek(in, head, sizeof head, &have) != 0)
    return STUN_FRAME_BAD_STREAM;
  switch (stun_head_judge(head, have, &m)) {
  case STUN_HEAD_BAD:
    return STUN_FRAME_BAD_STREAM;
  case STUN_HEAD_SHORT:
    return STUN_FRAME_NEED_MORE;
  case STUN_HEAD_OK:
    break;
  }
  /* The padding too: without state between calls, a message returned
   * before its padding is in would leave us misaligned. */
  if (evbuffer_get_length(in) < m.wire_len)
    return STUN_FRAME_NEED_MORE;
  if (m.len > cap) {
    if (evbuffer_drain(in, m.wire_len) != 0)
      return STUN_FRAME_BAD_STREAM;
    *len = m.len;
    return STUN_FRAME_OVERSIZE;
  }
  if (evbuffer_copyout(in, buf, m.len) != (ev_ssize_t)m.len || evbuffer_drain(in, m.wire_len) != 0)
    return STUN_FRAME_BAD_STREAM;
  *len = m.len;
  return STUN_FRAME_OK;
}
