/* fuzz_udp_frame: the transparent-UDP framer against arbitrary stream
 * bytes, and arbitrary datagrams through append and split back.
 *
 * Input: one control byte, then the body. Bits 0-4 give the size of the
 * pieces the stream arrives in (1 to 32 bytes, each piece its own chain,
 * added by reference so the framer cannot write into it); bit 7 picks
 * the mode:
 *   0  stream: the body is what a peer sent, split with a buffer of the
 *      size bits 5-6 pick (the largest, 0, 16 or 255 bytes);
 *   1  round trip: the body is datagrams, each a 2-byte big-endian length
 *      and that many bytes (the last cut short by the end of the input),
 *      appended with udp_frame_append and split back with the largest
 *      buffer: exactly those datagrams must come out, in order.
 *
 * Checked after every call: the result is one of the three; an OK or a
 * drop took exactly its frame (length 2 + *len, whose first two bytes
 * say *len) and an OK copied the bytes that followed them; a NEED_MORE
 * took nothing and had no whole frame in front of it; no more was taken
 * than added. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/udp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PIECE_MASK 0x1f
#define FUZZ_CAP_SHIFT 5
#define FUZZ_CAP_MASK 0x03
#define FUZZ_ROUND_TRIP 0x80

static const size_t fuzz_caps[] = {UDP_FRAME_MAX_DGRAM, 0, 16, 255};

/* Where a split of one stream has got to. The stream's bytes are known
 * whole in advance (stream[0..stream_len)) and fed piece by piece. */
typedef struct fuzz_split {
  const uint8_t *stream;
  size_t stream_len;
  size_t cap;
  uint8_t *buf;
  size_t added, taken;
  /* Round trip only: what must come out, and how many did. */
  const uint8_t **want;
  const size_t *want_len;
  size_t n_want, n_out;
} fuzz_split_t;

static size_t fuzz_be16(const uint8_t *p) {
  return ((size_t)p[0] << 8) | p[1];
}

/* Splits what in holds until the framer needs more. */
static void fuzz_split_drain(fuzz_split_t *sp, struct evbuffer *in) {
  for (;;) {
    size_t before = evbuffer_get_length(in);
    if (sp->taken + before != sp->added || sp->taken > sp->added)
      __builtin_trap();
    const uint8_t *front = sp->stream + sp->taken;
    size_t len = (size_t)-1;
    int r = udp_frame_next(in, sp->buf, sp->cap, &len);
    if (r == UDP_FRAME_NEED_MORE) {
      if (evbuffer_get_length(in) != before)
        __builtin_trap();
      if (before >= UDP_FRAME_LEN_LEN && before >= UDP_FRAME_LEN_LEN + fuzz_be16(front))
        __builtin_trap();
      return;
    }
    if (r != UDP_FRAME_OK && r != UDP_FRAME_DROPPED)
      __builtin_trap();
    if (len > UDP_FRAME_MAX_DGRAM || before < UDP_FRAME_LEN_LEN + len || fuzz_be16(front) != len ||
        evbuffer_get_length(in) != before - UDP_FRAME_LEN_LEN - len)
      __builtin_trap();
    if (r == UDP_FRAME_DROPPED) {
      if (len <= sp->cap)
        __builtin_trap();
    } else {
      if (len > sp->cap || memcmp(sp->buf, front + UDP_FRAME_LEN_LEN, len) != 0)
        __builtin_trap();
      if (sp->want) {
        if (sp->n_out >= sp->n_want || sp->want_len[sp->n_out] != len ||
            memcmp(sp->buf, sp->want[sp->n_out], len) != 0)
          __builtin_trap();
        sp->n_out++;
      }
    }
    sp->taken += UDP_FRAME_LEN_LEN + len;
  }
}

/* Feeds the stream in pieces, by reference, splitting after each. */
static void fuzz_split_run(fuzz_split_t *sp, size_t piece) {
  struct evbuffer *in = evbuffer_new();
  sp->buf = malloc(sp->cap ? sp->cap : 1);
  if (!in || !sp->buf)
    goto out;
  while (sp->added < sp->stream_len) {
    size_t n = sp->stream_len - sp->added < piece ? sp->stream_len - sp->added : piece;
    if (evbuffer_add_reference(in, sp->stream + sp->added, n, NULL, NULL) != 0)
      goto out;
    sp->added += n;
    fuzz_split_drain(sp, in);
  }
  /* What is left is less than one frame: the stream's unfinished tail. */
  if (sp->stream_len - sp->taken != evbuffer_get_length(in))
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
  /* Each datagram takes at least its 2 length bytes (the last may have
   * only 1, which counts as one more empty-handed datagram). */
  size_t max = size / UDP_FRAME_LEN_LEN + 1;
  const uint8_t **want = malloc(max * sizeof *want);
  size_t *want_len = malloc(max * sizeof *want_len);
  struct evbuffer *wire = evbuffer_new();
  size_t n = 0;
  if (!want || !want_len || !wire)
    goto out;
  for (size_t off = 0; off < size;) {
    size_t len = size - off >= UDP_FRAME_LEN_LEN ? fuzz_be16(body + off) : 0;
    off += size - off >= UDP_FRAME_LEN_LEN ? UDP_FRAME_LEN_LEN : size - off;
    if (len > size - off)
      len = size - off;
    size_t before = evbuffer_get_length(wire);
    if (udp_frame_append(wire, body + off, len) != 0)
      goto out; /* out of memory: the fuzzer's limit, not a finding */
    if (evbuffer_get_length(wire) != before + UDP_FRAME_LEN_LEN + len)
      __builtin_trap();
    want[n] = body + off;
    want_len[n] = len;
    n++;
    off += len;
  }
  /* Too long for a frame: refused, and nothing written. */
  static const uint8_t zeros[UDP_FRAME_MAX_DGRAM + 1];
  size_t before = evbuffer_get_length(wire);
  if (udp_frame_append(wire, zeros, sizeof zeros) != -1 || evbuffer_get_length(wire) != before)
    __builtin_trap();

  size_t wire_len = evbuffer_get_length(wire);
  const uint8_t *stream = wire_len ? evbuffer_pullup(wire, -1) : NULL;
  if (wire_len && !stream)
    goto out;
  fuzz_split_t sp = {.stream = stream,
                     .stream_len = wire_len,
                     .cap = UDP_FRAME_MAX_DGRAM,
                     .want = want,
                     .want_len = want_len,
                     .n_want = n};
  fuzz_split_run(&sp, piece);
  if (sp.n_out != n || sp.taken != wire_len)
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
