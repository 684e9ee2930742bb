/* test_udp_frame: transparent-UDP framing against exact bytes, and a
 * stream of frames split back at every byte boundary.
 *
 * Stream bytes reach the splitter by reference (evbuffer_add_reference)
 * from a read-only mapping, one chain per arrival, so frames straddle
 * chains and a splitter that wrote into its input would crash. After
 * every call the harness checks that exactly the returned frames were
 * taken: a NEED_MORE leaves the buffer as it was, an OK or a drop takes
 * 2 + length bytes and no more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "net/udp_frame.h"

#include "testutil.h"

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

/* ---- a stream of frames and what splitting it must give ---- */

#define MAX_DGRAMS 16

/* The datagrams of a test stream, and the stream that frames them. */
typedef struct stream {
  size_t n;
  const uint8_t *dgram[MAX_DGRAMS];
  size_t len[MAX_DGRAMS];
  uint8_t *wire; /* malloc'd */
  size_t wire_len;
} stream_t;

/* Frames the datagrams by hand, not with udp_frame_append, so the
 * splitter is checked against the format rather than against its twin. */
static void stream_make(stream_t *s, size_t n, const uint8_t *const *dgram, const size_t *len) {
  assert_true(n <= MAX_DGRAMS);
  memset(s, 0, sizeof *s);
  s->n = n;
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += 2 + len[i];
  s->wire = malloc(total);
  assert_non_null(s->wire);
  for (size_t i = 0; i < n; i++) {
    s->dgram[i] = dgram[i];
    s->len[i] = len[i];
    s->wire[s->wire_len++] = (uint8_t)(len[i] >> 8);
    s->wire[s->wire_len++] = (uint8_t)len[i];
    if (len[i] > 0)
      memcpy(s->wire + s->wire_len, dgram[i], len[i]);
    s->wire_len += len[i];
  }
}

static void stream_free(stream_t *s) {
  free(s->wire);
}

/* Where a split of one stream has got to. */
typedef struct split {
  const stream_t *s;
  const uint8_t *ro; /* the stream's bytes, read-only */
  size_t cap;
  size_t added, taken, next; /* bytes fed, bytes taken, next datagram */
  uint8_t *buf;              /* cap bytes (at least 1) */
} split_t;

/* Splits what in holds, checking each result against the stream. */
static void split_drain(split_t *sp, struct evbuffer *in) {
  for (;;) {
    size_t before = evbuffer_get_length(in);
    assert_int_equal(sp->taken + before, sp->added);
    size_t len = (size_t)-1;
    int r = udp_frame_next(in, sp->buf, sp->cap, &len);
    if (r == UDP_FRAME_NEED_MORE) {
      assert_int_equal(evbuffer_get_length(in), before);
      /* The front is where the next frame starts. */
      uint8_t front[8];
      size_t k = before < sizeof front ? before : sizeof front;
      if (k > 0) {
        assert_int_equal(evbuffer_copyout(in, front, k), (ev_ssize_t)k);
        assert_memory_equal(front, sp->ro + sp->taken, k);
      }
      /* A whole frame there is not "need more". */
      if (sp->next < sp->s->n)
        assert_true(before < 2 + sp->s->len[sp->next]);
      return;
    }
    assert_true(sp->next < sp->s->n);
    size_t want = sp->s->len[sp->next];
    assert_int_equal(len, want);
    if (want > sp->cap) {
      assert_int_equal(r, UDP_FRAME_DROPPED);
    } else {
      assert_int_equal(r, UDP_FRAME_OK);
      if (want > 0)
        assert_memory_equal(sp->buf, sp->s->dgram[sp->next], want);
    }
    sp->taken += 2 + want;
    sp->next++;
    assert_int_equal(evbuffer_get_length(in), before - 2 - want);
  }
}

/* Feeds s's bytes in the pieces sizes[0..n) (which sum to the stream's
 * length) and splits after each; every datagram must come out, in order. */
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

/* Datagrams of assorted lengths, empty ones among them, for the stream
 * tests. */
static const size_t mixed_len[] = {0, 1, 2, 3, 255, 256, 0, 300, 4};
#define N_MIXED (sizeof mixed_len / sizeof mixed_len[0])

static void mixed_stream(stream_t *s, uint8_t *pool) {
  const uint8_t *d[N_MIXED];
  size_t off = 0;
  for (size_t i = 0; i < N_MIXED; i++) {
    d[i] = pool + off;
    off += mixed_len[i];
  }
  stream_make(s, N_MIXED, d, mixed_len);
}

#define MIXED_POOL 1024

/* ---- udp_frame_append ---- */

static void test_append_known_bytes(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  assert_int_equal(udp_frame_append(b, (const uint8_t *)"abc", 3), 0);
  assert_int_equal(udp_frame_append(b, NULL, 0), 0);
  assert_int_equal(udp_frame_append(b, (const uint8_t *)"\x00", 1), 0);
  const uint8_t want[] = {0x00, 0x03, 'a', 'b', 'c', 0x00, 0x00, 0x00, 0x01, 0x00};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_append_after_existing_bytes(void **state) {
  (void)state;
  /* Behind a reference chunk, which the framer must not write into. */
  static const uint8_t ref[] = {'x', 'y'};
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  add_ref(b, ref, sizeof ref);
  assert_int_equal(udp_frame_append(b, (const uint8_t *)"hi", 2), 0);
  const uint8_t want[] = {'x', 'y', 0x00, 0x02, 'h', 'i'};
  assert_evbuffer_is(b, want, sizeof want);
  evbuffer_free(b);
}

static void test_append_length_is_big_endian(void **state) {
  (void)state;
  uint8_t *d = test_pattern_new(0x1234, 7);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  assert_int_equal(udp_frame_append(b, d, 0x1234), 0);
  assert_int_equal(evbuffer_get_length(b), 2 + 0x1234);
  uint8_t *got = evbuffer_pullup(b, -1);
  assert_int_equal(got[0], 0x12);
  assert_int_equal(got[1], 0x34);
  assert_memory_equal(got + 2, d, 0x1234);
  evbuffer_free(b);
  free(d);
}

static void test_append_max(void **state) {
  (void)state;
  uint8_t *d = test_pattern_new(UDP_FRAME_MAX_DGRAM, 1);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  assert_int_equal(udp_frame_append(b, d, UDP_FRAME_MAX_DGRAM), 0);
  assert_int_equal(evbuffer_get_length(b), UDP_FRAME_MAX_LEN);
  uint8_t *got = evbuffer_pullup(b, -1);
  assert_int_equal(got[0], 0xFF);
  assert_int_equal(got[1], 0xFF);
  assert_memory_equal(got + 2, d, UDP_FRAME_MAX_DGRAM);
  evbuffer_free(b);
  free(d);
}

static void test_append_too_long(void **state) {
  (void)state;
  uint8_t *d = test_pattern_new(UDP_FRAME_MAX_DGRAM + 1, 2);
  struct evbuffer *b = test_evbuffer_with("xy", 2);
  assert_int_equal(udp_frame_append(b, d, UDP_FRAME_MAX_DGRAM + 1), -1);
  assert_int_equal(udp_frame_append(b, d, SIZE_MAX), -1);
  assert_evbuffer_is(b, "xy", 2);
  evbuffer_free(b);
  free(d);
}

static void test_append_failure_leaves_out_unchanged(void **state) {
  (void)state;
  /* A frozen end refuses new bytes, as memory running out would. */
  struct evbuffer *b = test_evbuffer_with("xy", 2);
  assert_int_equal(evbuffer_freeze(b, 0), 0);
  assert_int_equal(udp_frame_append(b, (const uint8_t *)"abc", 3), -1);
  assert_int_equal(udp_frame_append(b, NULL, 0), -1);
  assert_int_equal(evbuffer_unfreeze(b, 0), 0);
  assert_evbuffer_is(b, "xy", 2);
  evbuffer_free(b);
}

/* ---- udp_frame_next ---- */

static void test_next_one(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x03, 'a', 'b', 'c'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  uint8_t buf[16];
  size_t len = 0;
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(buf, "abc", 3);
  assert_int_equal(evbuffer_get_length(b), 0);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  evbuffer_free(b);
}

static void test_next_empty_buffer(void **state) {
  (void)state;
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  uint8_t buf[4];
  size_t len = 7;
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  assert_int_equal(len, 7);
  evbuffer_free(b);
}

static void test_next_every_prefix_needs_more(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
  uint8_t buf[16];
  size_t len;
  for (size_t n = 0; n < sizeof msg; n++) {
    struct evbuffer *b = test_evbuffer_with(msg, n);
    assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
    assert_evbuffer_is(b, msg, n);
    evbuffer_free(b);
  }
}

static void test_next_zero_length(void **state) {
  (void)state;
  /* An empty datagram fits any buffer, even none at all. */
  const uint8_t msg[] = {0x00, 0x00, 0x00, 0x00};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  size_t len = 7;
  assert_int_equal(udp_frame_next(b, NULL, 0, &len), UDP_FRAME_OK);
  assert_int_equal(len, 0);
  assert_int_equal(evbuffer_get_length(b), 2);
  assert_int_equal(udp_frame_next(b, NULL, 0, &len), UDP_FRAME_OK);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_next_leaves_the_rest(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x01, 'a', 0x00, 0x02, 'b', 'c', 0x00, 0x03, 'd'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  uint8_t buf[16];
  size_t len;
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_OK);
  assert_int_equal(len, 1);
  assert_int_equal(buf[0], 'a');
  assert_evbuffer_is(b, msg + 3, sizeof msg - 3);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_OK);
  assert_int_equal(len, 2);
  assert_memory_equal(buf, "bc", 2);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  assert_evbuffer_is(b, msg + 7, 3);
  evbuffer_free(b);
}

static void test_next_oversize(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x05, '1', '2', '3', '4', '5', 0x00, 0x04, 'a', 'b', 'c', 'd'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  uint8_t buf[4];
  size_t len = 0;
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_DROPPED);
  assert_int_equal(len, 5);
  assert_evbuffer_is(b, msg + 7, 6);
  /* A datagram exactly the buffer's size fits. */
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_OK);
  assert_int_equal(len, 4);
  assert_memory_equal(buf, "abcd", 4);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_next_oversize_waits_for_all_of_it(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x05, '1', '2', '3', '4'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  uint8_t buf[2];
  size_t len;
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  assert_evbuffer_is(b, msg, sizeof msg);
  assert_int_equal(evbuffer_add(b, "5", 1), 0);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_DROPPED);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
}

static void test_next_max_datagram(void **state) {
  (void)state;
  uint8_t *d = test_pattern_new(UDP_FRAME_MAX_DGRAM, 3);
  uint8_t *buf = malloc(UDP_FRAME_MAX_DGRAM);
  assert_non_null(buf);
  struct evbuffer *b = test_evbuffer_with(NULL, 0);
  assert_int_equal(udp_frame_append(b, d, UDP_FRAME_MAX_DGRAM), 0);
  assert_int_equal(udp_frame_append(b, d, UDP_FRAME_MAX_DGRAM), 0);
  size_t len = 0;
  assert_int_equal(udp_frame_next(b, buf, UDP_FRAME_MAX_DGRAM - 1, &len), UDP_FRAME_DROPPED);
  assert_int_equal(len, UDP_FRAME_MAX_DGRAM);
  assert_int_equal(evbuffer_get_length(b), UDP_FRAME_MAX_LEN);
  assert_int_equal(udp_frame_next(b, buf, UDP_FRAME_MAX_DGRAM, &len), UDP_FRAME_OK);
  assert_int_equal(len, UDP_FRAME_MAX_DGRAM);
  assert_memory_equal(buf, d, UDP_FRAME_MAX_DGRAM);
  assert_int_equal(evbuffer_get_length(b), 0);
  evbuffer_free(b);
  free(buf);
  free(d);
}

static void test_next_frozen_input_takes_nothing(void **state) {
  (void)state;
  const uint8_t msg[] = {0x00, 0x01, 'a', 0x00, 0x09, '1', '2', '3', '4', '5', '6', '7', '8', '9'};
  struct evbuffer *b = test_evbuffer_with(msg, sizeof msg);
  uint8_t buf[4];
  size_t len;
  assert_int_equal(evbuffer_freeze(b, 1), 0);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  assert_evbuffer_is(b, msg, sizeof msg);
  assert_int_equal(evbuffer_unfreeze(b, 1), 0);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_OK);
  /* Not even a datagram that is to be dropped. */
  assert_int_equal(evbuffer_freeze(b, 1), 0);
  assert_int_equal(udp_frame_next(b, buf, sizeof buf, &len), UDP_FRAME_NEED_MORE);
  assert_evbuffer_is(b, msg + 3, sizeof msg - 3);
  assert_int_equal(evbuffer_unfreeze(b, 1), 0);
  evbuffer_free(b);
}

/* ---- streams ---- */

static void test_stream_byte_by_byte(void **state) {
  (void)state;
  uint8_t *pool = test_pattern_new(MIXED_POOL, 4);
  stream_t s;
  mixed_stream(&s, pool);
  split_byte_by_byte(&s, UDP_FRAME_MAX_DGRAM);
  /* With a small buffer the long ones drop and the stream stays in step. */
  split_byte_by_byte(&s, 100);
  split_byte_by_byte(&s, 0);
  stream_free(&s);
  free(pool);
}

static void test_stream_every_two_way_split(void **state) {
  (void)state;
  uint8_t *pool = test_pattern_new(MIXED_POOL, 5);
  stream_t s;
  mixed_stream(&s, pool);
  split_every_two_ways(&s, UDP_FRAME_MAX_DGRAM);
  split_every_two_ways(&s, 255);
  stream_free(&s);
  free(pool);
}

static void test_stream_all_at_once(void **state) {
  (void)state;
  uint8_t *pool = test_pattern_new(MIXED_POOL, 6);
  stream_t s;
  mixed_stream(&s, pool);
  size_t sizes[1] = {s.wire_len};
  split_in_pieces(&s, UDP_FRAME_MAX_DGRAM, sizes, 1);
  stream_free(&s);
  free(pool);
}

static void test_stream_largest_byte_by_byte(void **state) {
  (void)state;
  uint8_t *big = test_pattern_new(UDP_FRAME_MAX_DGRAM, 8);
  const uint8_t *d[] = {big, big, big + 1};
  const size_t len[] = {UDP_FRAME_MAX_DGRAM, 0, UDP_FRAME_MAX_DGRAM - 1};
  stream_t s;
  stream_make(&s, 3, d, len);
  split_byte_by_byte(&s, UDP_FRAME_MAX_DGRAM);
  split_byte_by_byte(&s, UDP_FRAME_MAX_DGRAM - 1);
  stream_free(&s);
  free(big);
}

/* What udp_frame_append writes, udp_frame_next splits back the same. */
static void test_round_trip(void **state) {
  (void)state;
  static const size_t lens[] = {0, 1, 17, 1400, 0, 65535, 2, 512, 65534, 3};
  enum { N = sizeof lens / sizeof lens[0], SHIFTS = 3 };
  /* Each datagram starts a little further in, so no two are the same. */
  uint8_t *pool = test_pattern_new(UDP_FRAME_MAX_DGRAM + SHIFTS, 9);
  struct evbuffer *wire = test_evbuffer_with(NULL, 0);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(udp_frame_append(wire, pool + i % SHIFTS, lens[i]), 0);
  uint8_t *buf = malloc(UDP_FRAME_MAX_DGRAM);
  assert_non_null(buf);
  for (size_t i = 0; i < N; i++) {
    size_t len = 0;
    assert_int_equal(udp_frame_next(wire, buf, UDP_FRAME_MAX_DGRAM, &len), UDP_FRAME_OK);
    assert_int_equal(len, lens[i]);
    if (len > 0)
      assert_memory_equal(buf, pool + i % SHIFTS, len);
  }
  assert_int_equal(evbuffer_get_length(wire), 0);
  evbuffer_free(wire);
  free(buf);
  free(pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_known_bytes),
      cmocka_unit_test(test_append_after_existing_bytes),
      cmocka_unit_test(test_append_length_is_big_endian),
      cmocka_unit_test(test_append_max),
      cmocka_unit_test(test_append_too_long),
      cmocka_unit_test(test_append_failure_leaves_out_unchanged),
      cmocka_unit_test(test_next_one),
      cmocka_unit_test(test_next_empty_buffer),
      cmocka_unit_test(test_next_every_prefix_needs_more),
      cmocka_unit_test(test_next_zero_length),
      cmocka_unit_test(test_next_leaves_the_rest),
      cmocka_unit_test(test_next_oversize),
      cmocka_unit_test(test_next_oversize_waits_for_all_of_it),
      cmocka_unit_test(test_next_max_datagram),
      cmocka_unit_test(test_next_frozen_input_takes_nothing),
      cmocka_unit_test(test_stream_byte_by_byte),
      cmocka_unit_test(test_stream_every_two_way_split),
      cmocka_unit_test(test_stream_all_at_once),
      cmocka_unit_test(test_stream_largest_byte_by_byte),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
