/* fuzz_stun_frame: the STUN-mode framer against arbitrary stream bytes,
 * and arbitrary datagrams through classify, append and split back.
 *
 * Input: one control byte, then the body. Bits 0-4 give the size of the
 * pieces the stream arrives in (1 to 32 bytes, each piece its own chain,
 * added by reference so the framer cannot write into it); bit 7 picks
 * the mode:
 *   0  stream: the body is what a peer sent, split with a buffer of the
 *      size bits 5-6 pick (the largest, 0, 20 or 100 bytes) until the
 *      framer calls the stream bad or the input ends;
 *   1  round trip: the body is datagrams, each a 2-byte big-endian length
 *      and that many bytes (the last cut short by the end of the input).
 *      Each is classified, appended when valid, and the stream split
 *      back with the largest buffer must give exactly the valid ones,
 *      ChannelData without whatever padding it came with, and with zeros
 *      as its padding in the stream.
 *
 * The judge of every result is fuzz_ref_classify, written from the RFCs'
 * text apart from the code under test, applied to what the framer had in
 * front of it completed the easiest valid way: an OK or a drop must have
 * taken exactly one valid message with its padding (and an OK copied its
 * bytes, which stun_classify must accept too); a NEED_MORE must have taken
 * nothing while what is there can still become a message and is not yet a
 * whole one; a bad stream must have taken nothing, say so again when
 * asked again, and hold bytes no message can start with. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/stun_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PIECE_MASK 0x1f
#define FUZZ_CAP_SHIFT 5
#define FUZZ_CAP_MASK 0x03
#define FUZZ_ROUND_TRIP 0x80
#define FUZZ_LEN_LEN 2

static const size_t fuzz_caps[] = {STUN_FRAME_MAX_MSG_LEN, 0, 20, 100};

static size_t fuzz_be16(const uint8_t *p) {
  return ((size_t)p[0] << 8) | p[1];
}

static size_t fuzz_pad4(size_t n) {
  return n % 4 ? n + 4 - n % 4 : n;
}

/* RFC 5389 s6 and RFC 5766 s11, read afresh. */
static stun_kind_t fuzz_ref_classify(const uint8_t *d, size_t n, size_t *msg_len) {
  *msg_len = 0;
  if (n < 4)
    return STUN_KIND_INVALID;
  unsigned first = ((unsigned)d[0] << 8) | d[1];
  size_t length = fuzz_be16(d + 2);
  if (first >= CHANNEL_NUMBER_MIN && first <= CHANNEL_NUMBER_MAX) {
    size_t m = 4 + length;
    if (n < m || n > fuzz_pad4(m))
      return STUN_KIND_INVALID;
    *msg_len = m;
    return STUN_KIND_CHANNEL_DATA;
  }
  if ((first & 0xC000) != 0 || n < 20 || n != 20 + length || length % 4 != 0)
    return STUN_KIND_INVALID;
  uint32_t cookie = ((uint32_t)d[4] << 24) | ((uint32_t)d[5] << 16) | ((uint32_t)d[6] << 8) | d[7];
  if (cookie != 0x2112A442u)
    return STUN_KIND_INVALID;
  *msg_len = n;
  return STUN_KIND_STUN;
}

/* What the first have bytes at r could still become: the bytes there,
 * then a length of 0 and the cookie where they are missing, and the rest
 * of the message as long as its length says. Returns whether that
 * message is valid, with its length and its size in a stream. */
static bool fuzz_completion(const uint8_t *r, size_t have, size_t *len, size_t *wire) {
  static uint8_t cand[STUN_FRAME_MAX_MSG_LEN];
  static const uint8_t fill[8] = {0x00, 0x00, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
  size_t k = have < sizeof fill ? have : sizeof fill;
  memcpy(cand, r, k);
  memcpy(cand + k, fill + k, sizeof fill - k);
  size_t length = fuzz_be16(cand + 2);
  bool cd = (cand[0] & 0xC0) == 0x40;
  size_t n = cd ? 4 + length : 20 + length;
  if (n > sizeof cand)
    return false; /* a STUN length over 65532 is no multiple of 4 */
  size_t m;
  stun_kind_t kind = fuzz_ref_classify(cand, n, &m);
  *len = m;
  *wire = kind == STUN_KIND_CHANNEL_DATA ? fuzz_pad4(m) : m;
  return kind != STUN_KIND_INVALID;
}

/* Where a split of one stream has got to. */
typedef struct fuzz_split {
  const uint8_t *stream;
  size_t stream_len;
  size_t cap;
  uint8_t *buf;
  size_t added, taken;
  bool bad;
  /* Round trip only: what must come out, and how many did. */
  const uint8_t **want;
  const size_t *want_len;
  size_t n_want, n_out;
} fuzz_split_t;

static void fuzz_check_message(const uint8_t *msg, size_t len) {
  size_t m = 0, ref_m = 0;
  stun_kind_t kind = stun_classify(msg, len, &m);
  if (kind == STUN_KIND_INVALID || m != len || fuzz_ref_classify(msg, len, &ref_m) != kind ||
      ref_m != len)
    __builtin_trap();
}

/* Splits what in holds until the framer needs more or gives up. */
static void fuzz_split_drain(fuzz_split_t *sp, struct evbuffer *in) {
  for (;;) {
    size_t before = evbuffer_get_length(in);
    if (sp->taken + before != sp->added || sp->taken > sp->added)
      __builtin_trap();
    const uint8_t *front = sp->stream + sp->taken;
    size_t c_len = 0, c_wire = 0;
    bool can_be = fuzz_completion(front, before, &c_len, &c_wire);
    size_t len = (size_t)-1;
    int r = stun_frame_next(in, sp->buf, sp->cap, &len);
    switch (r) {
    case STUN_FRAME_NEED_MORE:
      if (evbuffer_get_length(in) != before || (before > 0 && !can_be) ||
          (can_be && before >= c_wire))
        __builtin_trap();
      return;
    case STUN_FRAME_BAD_STREAM:
      if (evbuffer_get_length(in) != before || can_be || before == 0)
        __builtin_trap();
      if (stun_frame_next(in, sp->buf, sp->cap, &len) != STUN_FRAME_BAD_STREAM ||
          evbuffer_get_length(in) != before)
        __builtin_trap();
      sp->bad = true;
      return;
    case STUN_FRAME_OK:
    case STUN_FRAME_OVERSIZE:
      if (!can_be || len != c_len || before < c_wire || evbuffer_get_length(in) != before - c_wire)
        __builtin_trap();
      fuzz_check_message(front, len);
      if (r == STUN_FRAME_OVERSIZE) {
        if (len <= sp->cap)
          __builtin_trap();
      } else {
        if (len > sp->cap || memcmp(sp->buf, front, len) != 0)
          __builtin_trap();
        fuzz_check_message(sp->buf, len);
        if (sp->want) {
          if (sp->n_out >= sp->n_want || sp->want_len[sp->n_out] != len ||
              memcmp(sp->buf, sp->want[sp->n_out], len) != 0)
            __builtin_trap();
          /* Padding we wrote is zeros, whatever the datagram came with. */
          for (size_t i = len; i < c_wire; i++) {
            if (front[i] != 0)
              __builtin_trap();
          }
          sp->n_out++;
        }
      }
      sp->taken += c_wire;
      break;
    default:
      __builtin_trap();
    }
  }
}

/* Feeds the stream in pieces, by reference, splitting after each, until
 * it ends or turns out bad (the caller would close it). */
static void fuzz_split_run(fuzz_split_t *sp, size_t piece) {
  struct evbuffer *in = evbuffer_new();
  sp->buf = malloc(sp->cap ? sp->cap : 1);
  if (!in || !sp->buf)
    goto out;
  while (sp->added < sp->stream_len && !sp->bad) {
    size_t n = sp->stream_len - sp->added < piece ? sp->stream_len - sp->added : piece;
    if (evbuffer_add_reference(in, sp->stream + sp->added, n, NULL, NULL) != 0)
      goto out;
    sp->added += n;
    fuzz_split_drain(sp, in);
  }
  if (sp->added - sp->taken != evbuffer_get_length(in))
    __builtin_trap();
out:
  if (in)
    evbuffer_free(in);
  free(sp->buf);
}

static void fuzz_stream(const uint8_t *body, size_t size, size_t piece, size_t cap) {
  fuzz_split_t sp = {.stream = body, .stream_len = size, .cap = cap};
  fuzz_split_run(&sp, piece);
}

static void fuzz_round_trip(const uint8_t *body, size_t size, size_t piece) {
  size_t max = size / FUZZ_LEN_LEN + 1;
  const uint8_t **want = malloc(max * sizeof *want);
  size_t *want_len = malloc(max * sizeof *want_len);
  struct evbuffer *wire = evbuffer_new();
  size_t n = 0;
  if (!want || !want_len || !wire)
    goto out;
  for (size_t off = 0; off < size;) {
    size_t len = size - off >= FUZZ_LEN_LEN ? fuzz_be16(body + off) : 0;
    off += size - off >= FUZZ_LEN_LEN ? FUZZ_LEN_LEN : size - off;
    if (len > size - off)
      len = size - off;
    const uint8_t *d = body + off;
    off += len;
    size_t m = 0, ref_m = 0;
    stun_kind_t kind = stun_classify(d, len, &m);
    if (fuzz_ref_classify(d, len, &ref_m) != kind || m != ref_m)
      __builtin_trap();
    size_t before = evbuffer_get_length(wire);
    int r = stun_frame_append(wire, d, len);
    size_t grew = evbuffer_get_length(wire) - before;
    if (kind == STUN_KIND_INVALID) {
      if (r != -1 || grew != 0)
        __builtin_trap();
      continue;
    }
    if (r != 0)
      goto out; /* out of memory: the fuzzer's limit, not a finding */
    if (grew != (kind == STUN_KIND_CHANNEL_DATA ? fuzz_pad4(m) : m) || grew % 4 != 0)
      __builtin_trap();
    want[n] = d;
    want_len[n] = m;
    n++;
  }

  size_t wire_len = evbuffer_get_length(wire);
  const uint8_t *stream = wire_len ? evbuffer_pullup(wire, -1) : NULL;
  if (wire_len && !stream)
    goto out;
  fuzz_split_t sp = {.stream = stream,
                     .stream_len = wire_len,
                     .cap = STUN_FRAME_MAX_MSG_LEN,
                     .want = want,
                     .want_len = want_len,
                     .n_want = n};
  fuzz_split_run(&sp, piece);
  if (sp.bad || sp.n_out != n || sp.taken != wire_len)
    __builtin_trap();
out:
  if (wire)
    evbuffer_free(wire);
  free(want);
  free(want_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t ctl = data[0];
  size_t piece = (size_t)(ctl & FUZZ_PIECE_MASK) + 1;
  if (ctl & FUZZ_ROUND_TRIP)
    fuzz_round_trip(data + 1, size - 1, piece);
  else
    fuzz_stream(data + 1, size - 1, piece, fuzz_caps[(ctl >> FUZZ_CAP_SHIFT) & FUZZ_CAP_MASK]);
  return 0;
}
