/* test_stun_frame: STUN-mode framing against real STUN messages (built by
 * hand, and RFC 5769's sample request and response) and ChannelData of
 * every padding, every way a datagram or a stream header can be wrong,
 * and a stream of messages split back at every byte boundary.
 *
 * Stream bytes reach the splitter by reference (evbuffer_add_reference)
 * from a read-only mapping, one chain per arrival, so messages straddle
 * chains and a splitter that wrote into its input would crash. After
 * every call the harness checks that exactly the returned messages (with
 * their padding) were taken, and nothing on NEED_MORE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/stun_frame.h"

#include "testutil.h"

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_SOFTWARE 0x8022

static const uint8_t txid[STUN_TXID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 s2.1: a Binding Request with SOFTWARE, PRIORITY,
 * ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY and FINGERPRINT. */
static const uint8_t rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 s2.2: a Binding Success Response, XOR-MAPPED-ADDRESS
 * 192.0.2.1:32853. */
static const uint8_t rfc5769_response[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* The ChannelData lengths the tests walk through: every padding, and the
 * largest. */
static const size_t cd_lens[] = {0, 1, 2, 3, 4, 5, 100, 65535};
#define N_CD_LENS (sizeof cd_lens / sizeof cd_lens[0])

/* The largest message: a ChannelData one, padded. */
#define MSG_MAX CHANNEL_DATA_MAX_PADDED_LEN
#define STUN_BUF_MAX STUN_MAX_MSG_LEN

/* ---- building messages ---- */

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

/* Appends a TLV attribute with its padding at out + *off. */
static void stun_attr(uint8_t *out, size_t *off, uint16_t type, const void *v, size_t vlen) {
  put16(out + *off, type);
  put16(out + *off + 2, (uint32_t)vlen);
  memcpy(out + *off + 4, v, vlen);
  size_t padded = (vlen + 3) & ~(size_t)3;
  memset(out + *off + 4 + vlen, 0, padded - vlen);
  *off += 4 + padded;
}

/* A STUN header for a body of body_len bytes that follows it in out.
 * Returns the message's length. */
static size_t stun_header(uint8_t *out, uint16_t type, size_t body_len) {
  put16(out, type);
  put16(out + 2, (uint32_t)body_len);
  put32(out + 4, STUN_MAGIC_COOKIE);
  memcpy(out + 8, txid, STUN_TXID_LEN);
  return STUN_HEADER_LEN + body_len;
}

/* Binding Request, no attributes. */
static size_t binding_request(uint8_t out[STUN_HEADER_LEN]) {
  return stun_header(out, STUN_BINDING_REQUEST, 0);
}

/* Binding Request with SOFTWARE "ptdispatch" (10 bytes, 2 of padding). */
static size_t binding_request_software(uint8_t *out) {
  size_t off = STUN_HEADER_LEN;
  stun_attr(out, &off, STUN_ATTR_SOFTWARE, "ptdispatch", 10);
  return stun_header(out, STUN_BINDING_REQUEST, off - STUN_HEADER_LEN);
}

/* Binding Success Response, XOR-MAPPED-ADDRESS 192.0.2.1:32853 as RFC
 * 5389 s15.2 computes it (port and address XORed with the cookie). */
static size_t binding_success(uint8_t *out) {
  uint8_t xma[8];
  xma[0] = 0;
  xma[1] = 0x01; /* IPv4 */
  put16(xma + 2, 32853 ^ (STUN_MAGIC_COOKIE >> 16));
  put32(xma + 4, 0xC0000201u ^ STUN_MAGIC_COOKIE);
  size_t off = STUN_HEADER_LEN;
  stun_attr(out, &off, STUN_ATTR_XOR_MAPPED_ADDRESS, xma, sizeof xma);
  return stun_header(out, STUN_BINDING_SUCCESS, off - STUN_HEADER_LEN);
}

/* ChannelData on chan with len pattern bytes and pad bytes of padding
 * (value fill). Returns 4 + len + pad. */
static size_t channel_data(uint8_t *out, uint16_t chan, size_t len, size_t pad, uint8_t fill) {
  put16(out, chan);
  put16(out + 2, (uint32_t)len);
  test_fill_pattern(out + CHANNEL_DATA_HEADER_LEN, len, (uint32_t)len + 1);
  memset(out + CHANNEL_DATA_HEADER_LEN + len, fill, pad);
  return CHANNEL_DATA_HEADER_LEN + len + pad;
}

static size_t pad4(size_t n) {
  return (n + 3) & ~(size_t)3;
}

/* ---- read-only stream bytes ---- */

/* A read-only copy of p[0..n) (n > 0) in its own mapping. */
static uint8_t *ro_new(const uint8_t *p, size_t n) {
  uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(m != MAP_FAILED);
  memcpy(m, p, n);
  assert_int_equal(mprotect(m, n, PROT_READ), 0);
  return m;
}

static void ro_free(uint8_t *m, size_t n) {
  assert_int_equal(munmap(m, n), 0);
}

static void add_ref(struct evbuffer *b, const uint8_t *p, size_t n) {
  if (n > 0)
    assert_int_equal(evbuffer_add_reference(b, p, n, NULL, NULL), 0);
}

/* ---- a stream of messages and what splitting it must give ---- */

#define MAX_MSGS 32

/* A stream's bytes and, per message, where it is and how long. */
typedef struct stream {
  uint8_t *wire; /* malloc'd */
  size_t wire_len, cap;
  size_t n;
  size_t off[MAX_MSGS];
  size_t len[MAX_MSGS];       /* as returned: without padding */
  size_t wire_size[MAX_MSGS]; /* with padding */
} stream_t;

static void stream_init(stream_t *s, size_t cap) {
  memset(s, 0, sizeof *s);
  s->wire = malloc(cap);
  assert_non_null(s->wire);
  s->cap = cap;
}

/* Room for the next message, to build in place. */
static uint8_t *stream_tail(stream_t *s, size_t need) {
  assert_true(s->wire_len + need <= s->cap);
  return s->wire + s->wire_len;
}

/* Records the message just built at the tail: len bytes of message,
 * wire_size bytes in all. */
static void stream_took(stream_t *s, size_t len, size_t wire_size) {
  assert_true(s->n < MAX_MSGS);
  s->off[s->n] = s->wire_len;
  s->len[s->n] = len;
  s->wire_size[s->n] = wire_size;
  s->n++;
  s->wire_len += wire_size;
}

static void stream_add_stun(stream_t *s, const uint8_t *msg, size_t len) {
  memcpy(stream_tail(s, len), msg, len);
  stream_took(s, len, len);
}

/* ChannelData as a stream carries it, padded (with fill) to 4. */
static void stream_add_cd(stream_t *s, uint16_t chan, size_t len, uint8_t fill) {
  size_t m = CHANNEL_DATA_HEADER_LEN + len;
  channel_data(stream_tail(s, pad4(m)), chan, len, pad4(m) - m, fill);
  stream_took(s, m, pad4(m));
}

/* Where a split of one stream has got to. */
typedef struct split {
  const stream_t *s;
  const uint8_t *ro;
  size_t cap;
  size_t added, taken, next;
  uint8_t *buf;
} split_t;

/* Splits what in holds, checking each result against the stream. */
static void split_drain(split_t *sp, struct evbuffer *in) {
  for (;;) {
    size_t before = evbuffer_get_length(in);
    assert_int_equal(sp->taken + before, sp->added);
    size_t len = (size_t)-1;
    int r = stun_frame_next(in, sp->buf, sp->cap, &len);
    assert_int_not_equal(r, STUN_FRAME_BAD_STREAM);
    if (r == STUN_FRAME_NEED_MORE) {
      assert_int_equal(evbuffer_get_length(in), before);
      uint8_t front[8];
      size_t k = before < sizeof front ? before : sizeof front;
      if (k > 0) {
        assert_int_equal(evbuffer_copyout(in, front, k), (ev_ssize_t)k);
        assert_memory_equal(front, sp->ro + sp->taken, k);
      }
      if (sp->next < sp->s->n)
        assert_true(before < sp->s->wire_size[sp->next]);
      return;
    }
    assert_true(sp->next < sp->s->n);
    size_t want = sp->s->len[sp->next];
    assert_int_equal(len, want);
    if (want > sp->cap) {
      assert_int_equal(r, STUN_FRAME_OVERSIZE);
    } else {
      assert_int_equal(r, STUN_FRAME_OK);
      assert_memory_equal(sp->buf, sp->ro + sp->s->off[sp->next], want);
      size_t msg_len = 0;
      assert_int_not_equal(stun_classify(sp->buf, len, &msg_len), STUN_KIND_INVALID);
      assert_int_equal(msg_len, len);
    }
    sp->taken += sp->s->wire_size[sp->next];
    sp->next++;
    assert_int_equal(evbuffer_get_length(in), sp->added - sp->taken);
  }
}

/* Feeds s's bytes in the pieces sizes[0..n) and splits after each. */
static void split_in_pieces(const stream_t *s, size_t cap, const size_t *sizes, size_t n) {
  uint8_t *ro = ro_new(s->wire, s->wire_len);
  split_t sp = {.s = s, .ro = ro, .cap = cap, .buf = malloc(cap ? cap : 1)};
  assert_non_null(sp.buf);
  struct evbuffer *in = evbuffer_new();
  assert_non_null(in);
  for (size_t i = 0; i < n; i++) {
    add_ref(in, ro + sp.added, sizes[i]);
    sp.added += sizes[i];
    split_drain(&sp, in);
  }
  assert_int_equal(sp.added, s->wire_len);
  assert_int_equal(sp.next, s->n);
  assert_int_equal(evbuffer_get_length(in), 0);
  evbuffer_free(in);
  free(sp.buf);
  ro_free(ro, s->wire_len);
}

static void split_byte_by_byte(const stream_t *s, size_t cap) {
  size_t *sizes = malloc(s->wire_len * sizeof *sizes);
  assert_non_null(sizes);
  for (size_t i = 0; i < s->wire_len; i++)
    sizes[i] = 1;
  split_in_pieces(s, cap, sizes, s->wire_len);
  free(sizes);
}

static void split_every_two_ways(const stream_t *s, size_t cap) {
  for (size_t cut = 0; cut <= s->wire_len; cut++) {
    size_t sizes[2] = {cut, s->wire_len - cut};
    split_in_pieces(s, cap, sizes, 2);
  }
}

/* STUN messages of each kind and ChannelData of each padding, with
 * padding bytes that are not zero (a receiver ignores their value). */
static void mixed_stream(stream_t *s) {
  uint8_t m[256];
  stream_init(s, 4096);
  stream_add_stun(s, m, binding_request(m));
  stream_add_cd(s, 0x4000, 0, 0);
  stream_add_cd(s, 0x4001, 1, 0);
  stream_add_stun(s, m, binding_request_software(m));
  stream_add_cd(s, 0x7FFF, 2, 0xAA);
  stream_add_cd(s, 0x5000, 3, 0);
  stream_add_stun(s, m, binding_success(m));
  stream_add_cd(s, 0x4000, 4, 0);
  stream_add_cd(s, 0x4000, 5, 0xFF);
  stream_add_stun(s, rfc5769_request, sizeof rfc5769_request);
  stream_add_cd(s, 0x6abc, 100, 0);
  stream_add_stun(s, rfc5769_response, sizeof rfc5769_response);
  stream_add_cd(s, 0x4000, 0, 0);
}

/* ---- stun_classify: valid messages ---- */

static void assert_kind(const uint8_t *d, size_t n, stun_kind_t kind, size_t msg_len) {
  size_t got = (size_t)-1;
  assert_int_equal(stun_classify(d, n, &got), kind);
  assert_int_equal(got, msg_len);
}

static void test_classify_binding_request(void **state) {
  (void)state;
  uint8_t m[64];
  size_t n = binding_request(m);
  assert_int_equal(n, 20);
  const uint8_t want[] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
  assert_memory_equal(m, want, sizeof want);
  assert_kind(m, n, STUN_KIND_STUN, 20);
  n = binding_request_software(m);
  assert_int_equal(n, 20 + 4 + 12);
  assert_kind(m, n, STUN_KIND_STUN, n);
}

static void test_classify_binding_success(void **state) {
  (void)state;
  uint8_t m[64];
  size_t n = binding_success(m);
  assert_int_equal(n, 20 + 12);
  /* The same attribute bytes as RFC 5769's response holds. */
  assert_memory_equal(m + 20, rfc5769_response + 36, 12);
  assert_kind(m, n, STUN_KIND_STUN, n);
}

static void test_classify_rfc5769(void **state) {
  (void)state;
  assert_kind(rfc5769_request, sizeof rfc5769_request, STUN_KIND_STUN, 108);
  assert_kind(rfc5769_response, sizeof rfc5769_response, STUN_KIND_STUN, 80);
}

static void test_classify_any_type_with_top_bits_00(void **state) {
  (void)state;
  uint8_t m[STUN_HEADER_LEN];
  static const uint16_t types[] = {0x0000, 0x0011, 0x0111, 0x0003, 0x3FFF, 0x2000};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    stun_header(m, types[i], 0);
    assert_kind(m, sizeof m, STUN_KIND_STUN, sizeof m);
  }
}

static void test_classify_largest_stun(void **state) {
  (void)state;
  uint8_t *m = calloc(1, STUN_MAX_MSG_LEN + 4);
  assert_non_null(m);
  stun_header(m, STUN_BINDING_REQUEST, STUN_MAX_BODY_LEN);
  assert_kind(m, STUN_MAX_MSG_LEN, STUN_KIND_STUN, STUN_MAX_MSG_LEN);
  free(m);
}

static void test_classify_channel_data_every_padding(void **state) {
  (void)state;
  uint8_t *m = malloc(MSG_MAX + 4);
  assert_non_null(m);
  for (size_t i = 0; i < N_CD_LENS; i++) {
    size_t len = cd_lens[i], base = CHANNEL_DATA_HEADER_LEN + len;
    /* Without padding, with each amount up to the next multiple of 4
     * (padding of any value), and one byte past it. */
    for (size_t pad = 0; base + pad <= pad4(base); pad++) {
      size_t n = channel_data(m, 0x4000, len, pad, 0xAA);
      assert_kind(m, n, STUN_KIND_CHANNEL_DATA, base);
    }
    size_t n = channel_data(m, 0x4000, len, pad4(base) - base + 1, 0);
    assert_kind(m, n, STUN_KIND_INVALID, 0);
  }
  free(m);
}

static void test_classify_channel_range(void **state) {
  (void)state;
  uint8_t m[16];
  static const uint16_t good[] = {CHANNEL_NUMBER_MIN, 0x4001, 0x4FFF, 0x5000, CHANNEL_NUMBER_MAX};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    assert_kind(m, channel_data(m, good[i], 0, 0, 0), STUN_KIND_CHANNEL_DATA, 4);
    assert_kind(m, channel_data(m, good[i], 5, 3, 0), STUN_KIND_CHANNEL_DATA, 9);
  }
  static const uint16_t bad[] = {0x3FFF, 0x8000, 0xBFFF, 0xC000, 0xFFFF, 0x0000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_kind(m, channel_data(m, bad[i], 0, 0, 0), STUN_KIND_INVALID, 0);
    assert_kind(m, channel_data(m, bad[i], 5, 3, 0), STUN_KIND_INVALID, 0);
    assert_kind(m, channel_data(m, bad[i], 12, 0, 0), STUN_KIND_INVALID, 0);
  }
}

static void test_classify_msg_len_may_be_null(void **state) {
  (void)state;
  uint8_t m[STUN_HEADER_LEN];
  binding_request(m);
  assert_int_equal(stun_classify(m, sizeof m, NULL), STUN_KIND_STUN);
  assert_int_equal(stun_classify(m, sizeof m - 1, NULL), STUN_KIND_INVALID);
  assert_int_equal(stun_classify(NULL, 0, NULL), STUN_KIND_INVALID);
}

/* ---- stun_classify: rejections ---- */

static void test_classify_top_bits_10_and_11(void **state) {
  (void)state;
  uint8_t m[64];
  static const uint8_t tops[] = {0x80, 0xC0};
  for (size_t t = 0; t < sizeof tops; t++) {
    size_t n = binding_request_software(m);
    m[0] |= tops[t];
    assert_kind(m, n, STUN_KIND_INVALID, 0);
    n = channel_data(m, 0x4000, 8, 0, 0);
    m[0] = (uint8_t)((m[0] & 0x3F) | tops[t]);
    assert_kind(m, n, STUN_KIND_INVALID, 0);
  }
}

static void test_classify_bad_cookie(void **state) {
  (void)state;
  uint8_t m[64];
  size_t n = binding_request_software(m);
  for (size_t i = 4; i < 8; i++) {
    for (int bit = 0; bit < 8; bit++) {
      m[i] ^= (uint8_t)(1u << bit);
      assert_kind(m, n, STUN_KIND_INVALID, 0);
      m[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_kind(m, n, STUN_KIND_STUN, n);
  /* RFC 3489's STUN, before the cookie, is not ours to carry. */
  memset(m + 4, 0, 4);
  assert_kind(m, n, STUN_KIND_INVALID, 0);
}

static void test_classify_length_not_multiple_of_4(void **state) {
  (void)state;
  uint8_t m[64] = {0};
  for (size_t len = 1; len < 8; len++) {
    if (len % 4 == 0)
      continue;
    stun_header(m, STUN_BINDING_REQUEST, len);
    assert_kind(m, STUN_HEADER_LEN + len, STUN_KIND_INVALID, 0);
    assert_kind(m, STUN_HEADER_LEN + pad4(len), STUN_KIND_INVALID, 0);
  }
  stun_header(m, STUN_BINDING_REQUEST, 0xFFFF);
  assert_kind(m, sizeof m, STUN_KIND_INVALID, 0);
}

static void test_classify_truncated(void **state) {
  (void)state;
  uint8_t m[64];
  size_t n = binding_request_software(m);
  for (size_t k = 0; k < n; k++)
    assert_kind(m, k, STUN_KIND_INVALID, 0);
  assert_kind(rfc5769_request, sizeof rfc5769_request - 4, STUN_KIND_INVALID, 0);
  n = channel_data(m, 0x4000, 5, 0, 0);
  for (size_t k = 0; k < n; k++)
    assert_kind(m, k, STUN_KIND_INVALID, 0);
}

static void test_classify_trailing_bytes(void **state) {
  (void)state;
  uint8_t m[64] = {0};
  size_t n = binding_request(m);
  for (size_t extra = 1; extra <= 8; extra++)
    assert_kind(m, n + extra, STUN_KIND_INVALID, 0);
  /* Two messages in one datagram are not one message. */
  uint8_t two[2 * STUN_HEADER_LEN];
  binding_request(two);
  binding_request(two + STUN_HEADER_LEN);
  assert_kind(two, sizeof two, STUN_KIND_INVALID, 0);
  n = channel_data(m, 0x4000, 4, 0, 0);
  for (size_t extra = 1; extra <= 8; extra++)
    assert_kind(m, n + extra, STUN_KIND_INVALID, 0);
}

/* ---- stun_frame_append ---- */

static void test_append_stun_as_is(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  assert_int_equal(stun_frame_append(b, rfc5769_request, sizeof rfc5769_request), 0);
  assert_evbuffer_is(b, rfc5769_request, sizeof rfc5769_request);
  evbuffer_free(b);
}

static void test_append_channel_data_padded_with_zeros(void **state) {
  (void)state;
  uint8_t *m = malloc(MSG_MAX);
  uint8_t *want = malloc(MSG_MAX);
  assert_non_null(m);
  assert_non_null(want);
  for (size_t i = 0; i < N_CD_LENS; i++) {
    size_t len = cd_lens[i], base = CHANNEL_DATA_HEADER_LEN + len;
    size_t wn = channel_data(want, 0x4321, len, pad4(base) - base, 0);
    /* However it arrived: unpadded, or padded with anything. */
    for (size_t pad = 0; base + pad <= pad4(base); pad++) {
      size_t n = channel_data(m, 0x4321, len, pad, 0xEE);
      struct evbuffer *b = test_evbuffer_with(NULL, 0);
      assert_int_equal(stun_frame_append(b, m, n), 0);
      assert_int_equal(evbuffer_get_length(b) % 4, 0);
      assert_evbuffer_is(b, want, wn);
      evbuffer_free(b);
    }
  }
  free(m);
  free(want);
}

static void test_append_joins_messages(void **state) {
  (void)state;
  static const uint8_t ref[] = {'x'};
  uint8_t m[64], cd[8];
  size_t n = binding_request(m);
  size_t cn = channel_data(cd, 0x4000, 1, 0, 0);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  add_ref(b, ref, sizeof ref); /* a chunk the framer cannot write into */
  assert_int_equal(stun_frame_append(b, cd, cn), 0);
  assert_int_equal(stun_frame_append(b, m, n), 0);
  uint8_t want[1 + 8 + STUN_HEADER_LEN];
  want[0] = 'x';
  memcpy(want + 1, cd, cn);
  memset(want + 1 + cn, 0, 3);
  memcpy(want + 1 + 8, m, n);
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_append_invalid(void **state) {
  (void)state;
  uint8_t m[64];
  size_t n = binding_request(m);
  struct evbuffer *b = test_evbuffer_with("xy", 2);
  assert_int_equal(stun_frame_append(b, m, n - 1), -1);
  assert_int_equal(stun_frame_append(b, m, n + 1), -1);
  m[5] ^= 1;
  assert_int_equal(stun_frame_append(b, m, n), -1);
  n = channel_data(m, 0x8000, 4, 0, 0);
  assert_int_equal(stun_frame_append(b, m, n), -1);
  assert_int_equal(stun_frame_append(b, NULL, 0), -1);
  assert_evbuffer_is(b, "xy", 2);
  evbuffer_free(b);
}

static void test_append_failure_leaves_out_unchanged(void **state) {
  (void)state;
  /* A frozen end refuses new bytes, as memory running out would. */
  uint8_t m[64], cd[16];
  size_t n = binding_request(m);
  size_t cn = channel_data(cd, 0x4000, 5, 0, 0);
  struct evbuffer *b = test_evbuffer_with("xy", 2);
  assert_int_equal(evbuffer_freeze(b, 0), 0);
  assert_int_equal(stun_frame_append(b, m, n), -1);
  assert_int_equal(stun_frame_append(b, cd, cn), -1);
  assert_int_equal(evbuffer_unfreeze(b, 0), 0);
  assert_evbuffer_is(b, "xy", 2);
  evbuffer_free(b);
}

/* ---- stun_frame_next ---- */

static void test_next_one_of_each(void **state) {
  (void)state;
  uint8_t m[64], cd[16], buf[STUN_BUF_MAX];
  size_t n = binding_request_software(m);
  size_t cn = channel_data(cd, 0x4000, 5, 3, 0);
  struct evbuffer *b = test_evbuffer_with(cd, cn);
  assert_int_equal(evbuffer_add(b, m, n), 0);
  size_t len = 0;
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_OK);
  assert_int_equal(len, 9); /* the padding drained, not returned */
  assert_memory_equal(buf, cd, 9);
  assert_evbuffer_is(b, m, n);
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_OK);
  assert_int_equal(len, n);
  assert_memory_equal(buf, m, n);
  assert_int_equal(evbuffer_get_length(b), 0);
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
  evbuffer_free(b);
}

static void test_next_every_prefix_needs_more(void **state) {
  (void)state;
  uint8_t m[64], buf[STUN_BUF_MAX];
  size_t len, n = binding_request_software(m);
  for (size_t k = 0; k < n; k++) {
    struct evbuffer *b = test_evbuffer_with(m, k);
    assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
    assert_evbuffer_is(b, m, k);
    evbuffer_free(b);
  }
  /* ChannelData waits for its padding too, even with all its data in. */
  n = channel_data(m, 0x4000, 5, 3, 0);
  for (size_t k = 0; k < n; k++) {
    struct evbuffer *b = test_evbuffer_with(m, k);
    assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
    assert_evbuffer_is(b, m, k);
    evbuffer_free(b);
  }
}

/* Asserts that stun_frame_next refuses what b holds and leaves it be,
 * however often asked. */
static void assert_bad_stream(struct evbuffer *b, const uint8_t *want, size_t n) {
  uint8_t buf[STUN_BUF_MAX];
  size_t len = 7;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_BAD_STREAM);
    assert_evbuffer_is(b, want, n);
  }
  assert_int_equal(len, 7);
}

static void test_next_bad_first_byte(void **state) {
  (void)state;
  /* Decided on the first byte: top bits 10 or 11 start no message. */
  static const uint8_t firsts[] = {0x80, 0xBF, 0xC0, 0xFF, 'G' | 0x80};
  for (size_t i = 0; i < sizeof firsts; i++) {
    struct evbuffer *b = test_evbuffer_with(&firsts[i], 1);
    assert_bad_stream(b, &firsts[i], 1);
    evbuffer_free(b);
  }
}

static void test_next_bad_length_on_its_last_byte(void **state) {
  (void)state;
  uint8_t m[STUN_HEADER_LEN + 8];
  stun_header(m, STUN_BINDING_REQUEST, 6);
  struct evbuffer *b = test_evbuffer_with(m, 3);
  uint8_t buf[64];
  size_t len;
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
  assert_int_equal(evbuffer_add(b, m + 3, 1), 0);
  assert_bad_stream(b, m, 4);
  evbuffer_free(b);
}

static void test_next_bad_cookie_on_its_first_wrong_byte(void **state) {
  (void)state;
  uint8_t m[STUN_HEADER_LEN];
  for (size_t i = 4; i < 8; i++) {
    binding_request(m);
    m[i] ^= 0x40;
    struct evbuffer *b = test_evbuffer_with(m, i);
    uint8_t buf[64];
    size_t len;
    assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
    assert_int_equal(evbuffer_add(b, m + i, 1), 0);
    assert_bad_stream(b, m, i + 1);
    assert_int_equal(evbuffer_add(b, m + i + 1, sizeof m - i - 1), 0);
    assert_bad_stream(b, m, sizeof m);
    evbuffer_free(b);
  }
}

static void test_next_bad_after_good(void **state) {
  (void)state;
  uint8_t m[64], buf[STUN_BUF_MAX];
  size_t n = binding_request(m);
  const uint8_t garbage[] = {0x00, 0x01, 0x00, 0x00, 'n', 'o', 't', ' ', 's', 't', 'u', 'n'};
  struct evbuffer *b = test_evbuffer_with(m, n);
  assert_int_equal(evbuffer_add(b, garbage, sizeof garbage), 0);
  size_t len;
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_OK);
  assert_int_equal(len, n);
  assert_bad_stream(b, garbage, sizeof garbage);
  evbuffer_free(b);
}

static void test_next_bad_spread_over_chains(void **state) {
  (void)state;
  /* A bad cookie whose bytes arrive in separate chains. */
  static const uint8_t m[] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x43};
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  for (size_t i = 0; i < sizeof m; i++)
    add_ref(b, m + i, 1);
  assert_bad_stream(b, m, sizeof m);
  evbuffer_free(b);
}

static void test_next_oversize(void **state) {
  (void)state;
  uint8_t m[64], cd[24], buf[STUN_BUF_MAX];
  size_t n = binding_request_software(m);         /* 36 */
  size_t cn = channel_data(cd, 0x4000, 13, 3, 0); /* 17, padded to 20 */
  struct evbuffer *b = test_evbuffer_with(m, n);
  assert_int_equal(evbuffer_add(b, cd, cn), 0);
  assert_int_equal(evbuffer_add(b, m, n), 0);
  assert_int_equal(evbuffer_add(b, cd, cn), 0);
  size_t len = 0;
  assert_int_equal(stun_frame_next(b, buf, n - 1, &len), STUN_FRAME_OVERSIZE);
  assert_int_equal(len, n);
  assert_int_equal(evbuffer_get_length(b), cn + n + cn);
  assert_int_equal(stun_frame_next(b, buf, 16, &len), STUN_FRAME_OVERSIZE);
  assert_int_equal(len, 17);
  assert_int_equal(evbuffer_get_length(b), n + cn); /* its padding too */
  /* Exactly the buffer's size fits. */
  assert_int_equal(stun_frame_next(b, buf, n, &len), STUN_FRAME_OK);
  assert_int_equal(len, n);
  assert_int_equal(stun_frame_next(b, buf, 17, &len), STUN_FRAME_OK);
  assert_int_equal(len, 17);
  assert_memory_equal(buf, cd, 17);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_next_oversize_waits_for_all_of_it(void **state) {
  (void)state;
  uint8_t cd[16], buf[4];
  size_t cn = channel_data(cd, 0x4000, 5, 3, 0);
  struct evbuffer *b = test_evbuffer_with(cd, cn - 1);
  size_t len;
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_NEED_MORE);
  assert_evbuffer_is(b, cd, cn - 1);
  assert_int_equal(evbuffer_add(b, cd + cn - 1, 1), 0);
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_OVERSIZE);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_next_frozen_input_is_refused(void **state) {
  (void)state;
  uint8_t m[64], buf[64];
  size_t n = binding_request(m);
  struct evbuffer *b = test_evbuffer_with(m, n);
  assert_int_equal(evbuffer_freeze(b, 1), 0);
  assert_bad_stream(b, m, n);
  assert_int_equal(evbuffer_unfreeze(b, 1), 0);
  size_t len;
  assert_int_equal(stun_frame_next(b, buf, sizeof buf, &len), STUN_FRAME_OK);
  evbuffer_free(b);
}

/* ---- streams ---- */

static void test_stream_byte_by_byte(void **state) {
  (void)state;
  stream_t s;
  mixed_stream(&s);
  split_byte_by_byte(&s, STUN_BUF_MAX);
  split_byte_by_byte(&s, 40); /* the RFC 5769 ones and the 100 drop */
  split_byte_by_byte(&s, 0);
  free(s.wire);
}

static void test_stream_every_two_way_split(void **state) {
  (void)state;
  stream_t s;
  mixed_stream(&s);
  split_every_two_ways(&s, STUN_BUF_MAX);
  split_every_two_ways(&s, 20);
  free(s.wire);
}

static void test_stream_largest_byte_by_byte(void **state) {
  (void)state;
  stream_t s;
  stream_init(&s, 2 * STUN_MAX_MSG_LEN + 2 * MSG_MAX);
  uint8_t *m = stream_tail(&s, STUN_MAX_MSG_LEN);
  test_fill_pattern(m, STUN_MAX_MSG_LEN, 11);
  stun_header(m, STUN_BINDING_REQUEST, STUN_MAX_BODY_LEN);
  stream_took(&s, STUN_MAX_MSG_LEN, STUN_MAX_MSG_LEN);
  stream_add_cd(&s, 0x4000, CHANNEL_DATA_MAX_DATA, 0);
  stream_add_cd(&s, 0x7FFF, CHANNEL_DATA_MAX_DATA - 1, 0);
  stream_add_stun(&s, rfc5769_response, sizeof rfc5769_response);
  assert_int_equal(s.wire_size[1], CHANNEL_DATA_MAX_PADDED_LEN);
  split_byte_by_byte(&s, STUN_FRAME_MAX_MSG_LEN);
  split_byte_by_byte(&s, CHANNEL_DATA_MAX_LEN - 1);
  free(s.wire);
}

/* Datagrams as they come off UDP, padded or not, and some not STUN at
 * all: the valid ones are appended, and splitting gives exactly those
 * back (ChannelData without whatever padding it came with). */
static void test_round_trip(void **state) {
  (void)state;
  uint8_t *d = malloc(MSG_MAX + 1); /* one byte past the padding, too */
  uint8_t *buf = malloc(STUN_FRAME_MAX_MSG_LEN);
  assert_non_null(d);
  assert_non_null(buf);
  struct evbuffer *wire = test_evbuffer_with(NULL, 0);
  stream_t want;
  stream_init(&want, 4 * MSG_MAX);
  for (size_t i = 0; i < N_CD_LENS; i++) {
    size_t len = cd_lens[i], base = CHANNEL_DATA_HEADER_LEN + len;
    for (size_t pad = 0; base + pad <= pad4(base) + 1; pad++) {
      size_t n = channel_data(d, (uint16_t)(0x4000 + i), len, pad, 0x5A);
      int valid = base + pad <= pad4(base);
      assert_int_equal(stun_frame_append(wire, d, n), valid ? 0 : -1);
      if (valid) {
        memcpy(stream_tail(&want, base), d, base);
        stream_took(&want, base, base); /* compared unpadded */
      }
    }
    size_t n = binding_request_software(d);
    d[n - 1] = (uint8_t)i;
    assert_int_equal(stun_frame_append(wire, d, n), 0);
    stream_add_stun(&want, d, n);
    assert_int_equal(stun_frame_append(wire, d, n - 1), -1);
  }
  for (size_t i = 0; i < want.n; i++) {
    size_t len = 0;
    assert_int_equal(stun_frame_next(wire, buf, STUN_FRAME_MAX_MSG_LEN, &len), STUN_FRAME_OK);
    assert_int_equal(len, want.len[i]);
    assert_memory_equal(buf, want.wire + want.off[i], len);
  }
  assert_int_equal(evbuffer_get_length(wire), 0);
  evbuffer_free(wire);
  free(want.wire);
  free(buf);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_binding_request),
      cmocka_unit_test(test_classify_binding_success),
      cmocka_unit_test(test_classify_rfc5769),
      cmocka_unit_test(test_classify_any_type_with_top_bits_00),
      cmocka_unit_test(test_classify_largest_stun),
      cmocka_unit_test(test_classify_channel_data_every_padding),
      cmocka_unit_test(test_classify_channel_range),
      cmocka_unit_test(test_classify_msg_len_may_be_null),
      cmocka_unit_test(test_classify_top_bits_10_and_11),
      cmocka_unit_test(test_classify_bad_cookie),
      cmocka_unit_test(test_classify_length_not_multiple_of_4),
      cmocka_unit_test(test_classify_truncated),
      cmocka_unit_test(test_classify_trailing_bytes),
      cmocka_unit_test(test_append_stun_as_is),
      cmocka_unit_test(test_append_channel_data_padded_with_zeros),
      cmocka_unit_test(test_append_joins_messages),
      cmocka_unit_test(test_append_invalid),
      cmocka_unit_test(test_append_failure_leaves_out_unchanged),
      cmocka_unit_test(test_next_one_of_each),
      cmocka_unit_test(test_next_every_prefix_needs_more),
      cmocka_unit_test(test_next_bad_first_byte),
      cmocka_unit_test(test_next_bad_length_on_its_last_byte),
      cmocka_unit_test(test_next_bad_cookie_on_its_first_wrong_byte),
      cmocka_unit_test(test_next_bad_after_good),
      cmocka_unit_test(test_next_bad_spread_over_chains),
      cmocka_unit_test(test_next_oversize),
      cmocka_unit_test(test_next_oversize_waits_for_all_of_it),
      cmocka_unit_test(test_next_frozen_input_is_refused),
      cmocka_unit_test(test_stream_byte_by_byte),
      cmocka_unit_test(test_stream_every_two_way_split),
      cmocka_unit_test(test_stream_largest_byte_by_byte),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
