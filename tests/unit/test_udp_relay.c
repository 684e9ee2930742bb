/* test_udp_relay: the UDP modes' relay over a real stream socket.
 *
 * Topology of every test:
 *
 *   fake send() <== relay ==> socket bufferevent fd <-> test's peer fd
 *
 * The relay's stream is one end of a socketpair wrapped in a socket
 * bufferevent (close-on-free); the test holds the other end as a raw
 * nonblocking fd, writes frames into it as a far transport would and
 * reads back what the relay framed (a few tests put a pass-through
 * libevent filter over the relay's end, as a transport codec would). The
 * UDP side is the test's own
 * calls to udp_relay_datagram() and a fake send() that records every
 * datagram. The test drives the loop itself, one nonblocking pass at a
 * time, every wait bounded by passes and wall-clock time
 * (testutil.h's test_loop_*).
 *
 * Everywhere: done() and send() must never run inside udp_relay_start()
 * or udp_relay_datagram() (the fakes fail the test if they do), done()
 * comes once, and libevent never warns. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net/stun_frame.h"
#include "net/udp_relay.h"

#include "testutil.h"

#define WAIT_MAX_ITERATIONS 200000 /* per wait */
#define TEST_MAX_SECONDS 20        /* per test */

/* One datagram the fake send() was given. */
typedef struct dgram {
  uint8_t *data;
  size_t len;
} dgram_t;

typedef struct harness {
  test_loop_t loop;
  int peer;                /* the test's end of the stream */
  struct bufferevent *bev; /* the relay's end: the test only looks at it */
  udp_relay_t *relay;
  bool bev_given; /* handed to udp_relay_start(), which owns it since */
  bool in_api; /* inside udp_relay_start() or udp_relay_datagram() */
  /* what the fake send() got */
  dgram_t *sent;
  size_t n_sent, cap_sent;
  size_t abort_at; /* send() aborts the relay on this datagram (1-based); 0: never */
  /* done() bookkeeping */
  int done_calls;
  size_t sent_at_done; /* datagrams send() had got when done() came */
  udp_relay_stats_t stats;
  char reason[128];
  bool poke_in_done; /* done() tries udp_relay_datagram() and udp_relay_abort() */
  /* what the peer read from the stream */
  struct evbuffer *from_relay;
  bool peer_eof;
} harness_t;

/* ---- the fakes ---- */

static void fake_send(void *ctx, const uint8_t *p, size_t len) {
  harness_t *h = ctx;
  if (h->in_api)
    fail_msg("send() called from inside udp_relay_start() or udp_relay_datagram()");
  if (h->done_calls)
    fail_msg("send() called after done()");
  if (h->n_sent == h->cap_sent) {
    h->cap_sent = h->cap_sent ? 2 * h->cap_sent : 64;
    h->sent = realloc(h->sent, h->cap_sent * sizeof *h->sent);
    assert_non_null(h->sent);
  }
  dgram_t *d = &h->sent[h->n_sent++];
  d->len = len;
  d->data = malloc(len ? len : 1);
  assert_non_null(d->data);
  if (len)
    memcpy(d->data, p, len);
  if (h->abort_at && h->n_sent == h->abort_at) {
    udp_relay_abort(h->relay);
    h->relay = NULL;
  }
}

static void fake_done(void *ctx, const udp_relay_stats_t *stats, const char *reason) {
  harness_t *h = ctx;
  if (h->in_api)
    fail_msg("done() called from inside udp_relay_start() or udp_relay_datagram()");
  h->done_calls++;
  h->sent_at_done = h->n_sent;
  h->stats = *stats;
  assert_non_null(reason);
  snprintf(h->reason, sizeof h->reason, "%s", reason);
  if (h->poke_in_done) {
    /* Still valid until done() returns, but no longer relaying. */
    assert_ptr_equal(udp_relay_stats(h->relay), stats);
    uint8_t one = 1;
    assert_false(udp_relay_datagram(h->relay, &one, 1));
    udp_relay_abort(h->relay); /* nothing: the relay frees itself */
  }
  h->relay = NULL;
}

/* ---- plumbing ---- */

static void describe_progress(const void *arg, char *out, size_t cap) {
  const harness_t *h = arg;
  snprintf(out, cap, " (sent %zu datagrams; peer got %zu bytes%s; done calls %d)", h->n_sent,
           evbuffer_get_length(h->from_relay), h->peer_eof ? " and EOF" : "", h->done_calls);
}

static int setup(void **state) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return -1;
  if (test_loop_init(&h->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0) {
    free(h);
    return -1;
  }
  h->loop.describe = describe_progress;
  h->loop.describe_arg = h;
  h->from_relay = evbuffer_new();
  if (!h->from_relay) {
    test_loop_free(&h->loop);
    free(h);
    return -1;
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 || evutil_make_socket_nonblocking(fds[0]) ||
      evutil_make_socket_nonblocking(fds[1]) ||
      !(h->bev = bufferevent_socket_new(h->loop.base, fds[1], BEV_OPT_CLOSE_ON_FREE))) {
    evbuffer_free(h->from_relay);
    test_loop_free(&h->loop);
    free(h);
    return -1;
  }
  h->peer = fds[0];
  test_libevent_warnings_reset();
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness_t *h = *state;
  if (h->relay)
    udp_relay_abort(h->relay);
  else if (!h->bev_given)
    bufferevent_free(h->bev);
  if (h->peer >= 0)
    close(h->peer);
  test_loop_free(&h->loop);
  for (size_t i = 0; i < h->n_sent; i++)
    free(h->sent[i].data);
  free(h->sent);
  evbuffer_free(h->from_relay);
  free(h);
  return test_libevent_warnings_check();
}

static void start(harness_t *h, udp_framing_t framing, unsigned idle_s) {
  const udp_relay_opts_t o = {
      .framing = framing,
      .idle_timeout_s = idle_s,
      .send = fake_send,
      .done = fake_done,
      .ctx = h,
  };
  h->bev_given = true;
  h->in_api = true;
  h->relay = udp_relay_start(h->bev, &o);
  h->in_api = false;
  assert_non_null(h->relay);
}

static bool datagram(harness_t *h, const uint8_t *p, size_t len) {
  h->in_api = true;
  bool ok = udp_relay_datagram(h->relay, p, len);
  h->in_api = false;
  assert_int_equal(h->done_calls, 0);
  return ok;
}

static void take_bytes(void *arg, const uint8_t *p, size_t n) {
  assert_int_equal(evbuffer_add(arg, p, n), 0);
}

static void read_peer(harness_t *h) {
  if (h->peer_eof)
    return;
  if (test_read_some(h->peer, take_bytes, h->from_relay, true) != TEST_READ_WOULD_BLOCK)
    h->peer_eof = true;
}

/* One loop pass, then whatever reached the peer. */
static void pump(harness_t *h) {
  test_loop_step(&h->loop);
  read_peer(h);
}

/* As pump(), then a millisecond's sleep: for waits on a timer. */
static void pump_slowly(harness_t *h) {
  pump(h);
  struct timespec ms = {0, 1000000};
  nanosleep(&ms, NULL);
}

/* Writes all of p[0..n) into the stream, running the loop while the
 * socket is full. */
static void peer_write(harness_t *h, const uint8_t *p, size_t n) {
  size_t off = 0;
  test_loop_begin_wait(&h->loop, "the stream to take the peer's bytes");
  while (off < n) {
    test_write_some(h->peer, p, n, &off, NULL);
    if (off < n)
      pump(h);
  }
}

static void wait_sent(harness_t *h, size_t n) {
  test_loop_begin_wait(&h->loop, "datagrams at send()");
  while (h->n_sent < n)
    pump(h);
  assert_int_equal(h->n_sent, n);
}

static void wait_from_relay(harness_t *h, size_t n) {
  test_loop_begin_wait(&h->loop, "bytes at the peer");
  while (evbuffer_get_length(h->from_relay) < n)
    pump(h);
}

static void wait_done(harness_t *h, const char *reason) {
  test_loop_begin_wait(&h->loop, "done()");
  while (h->done_calls == 0)
    pump(h);
  assert_string_equal(h->reason, reason);
  /* And only once, however long the loop runs on. */
  test_loop_begin_wait(&h->loop, "quiet after done()");
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->done_calls, 1);
}

/* The relay closed the stream: the peer reads EOF. */
static void wait_peer_eof(harness_t *h) {
  test_loop_begin_wait(&h->loop, "EOF at the peer");
  while (!h->peer_eof)
    pump(h);
}

/* Fills the relay's end's input with n bytes before the relay takes it,
 * as a handshake that read too far would leave it. */
static void prebuffer(harness_t *h, const uint8_t *p, size_t n) {
  struct evbuffer *in = bufferevent_get_input(h->bev);
  bufferevent_enable(h->bev, EV_READ);
  test_write_all(h->peer, p, n);
  test_loop_begin_wait(&h->loop, "bytes in the input before the relay starts");
  while (evbuffer_get_length(in) < n)
    test_loop_step(&h->loop);
  assert_int_equal(evbuffer_get_length(in), n);
}

static void assert_sent(const harness_t *h, size_t i, const uint8_t *p, size_t len) {
  assert_true(i < h->n_sent);
  assert_int_equal(h->sent[i].len, len);
  if (len)
    assert_memory_equal(h->sent[i].data, p, len);
}

/* ---- length framing: frames by hand, not by the framer under test ---- */

static void add_frame(struct evbuffer *b, const uint8_t *p, size_t len) {
  uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
  assert_int_equal(evbuffer_add(b, hdr, 2), 0);
  if (len)
    assert_int_equal(evbuffer_add(b, p, len), 0);
}

/* Takes the next whole frame the peer read, into a malloc'ed buffer (the
 * caller frees). NULL when none is whole yet. */
static uint8_t *take_frame(harness_t *h, size_t *len) {
  uint8_t hdr[2];
  if (evbuffer_copyout(h->from_relay, hdr, 2) != 2)
    return NULL;
  size_t n = ((size_t)hdr[0] << 8) | hdr[1];
  if (evbuffer_get_length(h->from_relay) < 2 + n)
    return NULL;
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  evbuffer_drain(h->from_relay, 2);
  assert_int_equal(evbuffer_remove(h->from_relay, p, n), (int)n);
  *len = n;
  return p;
}

static void expect_frame(harness_t *h, const uint8_t *want, size_t want_len) {
  size_t len = 0;
  uint8_t *got = take_frame(h, &len);
  assert_non_null(got);
  assert_int_equal(len, want_len);
  if (len)
    assert_memory_equal(got, want, len);
  free(got);
}

static const size_t sizes[] = {0, 1, 1400, 8192, 65535};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static void test_length_to_stream(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  uint8_t *d[N_SIZES];
  size_t total = 0, bytes = 0;
  for (size_t i = 0; i < N_SIZES; i++) {
    d[i] = test_pattern_new(sizes[i], (uint32_t)(100 + i));
    assert_true(datagram(h, d[i], sizes[i]));
    total += 2 + sizes[i];
    bytes += sizes[i];
  }
  wait_from_relay(h, total);
  for (size_t i = 0; i < N_SIZES; i++) {
    expect_frame(h, d[i], sizes[i]);
    free(d[i]);
  }
  assert_int_equal(evbuffer_get_length(h->from_relay), 0);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->to_stream, N_SIZES);
  assert_int_equal(st->to_stream_bytes, bytes);
  assert_int_equal(st->from_stream, 0);
  assert_int_equal(h->n_sent, 0);
}

static void test_length_from_stream(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  struct evbuffer *b = evbuffer_new();
  uint8_t *d[N_SIZES];
  size_t bytes = 0;
  for (size_t i = 0; i < N_SIZES; i++) {
    d[i] = test_pattern_new(sizes[i], (uint32_t)(200 + i));
    add_frame(b, d[i], sizes[i]);
    bytes += sizes[i];
  }
  size_t n = evbuffer_get_length(b);
  peer_write(h, evbuffer_pullup(b, -1), n);
  wait_sent(h, N_SIZES);
  for (size_t i = 0; i < N_SIZES; i++) {
    assert_sent(h, i, d[i], sizes[i]);
    free(d[i]);
  }
  evbuffer_free(b);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->from_stream, N_SIZES);
  assert_int_equal(st->from_stream_bytes, bytes);
  assert_int_equal(st->dropped.oversize, 0);
  assert_int_equal(st->to_stream, 0);
  assert_int_equal(evbuffer_get_length(h->from_relay), 0);
}

#define N_SMALL 3000
#define SMALL_LEN(i) ((i) % 97)

/* Thousands of small datagrams each way, back to back, nothing lost or
 * reordered. */
static void test_length_many_small(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  uint8_t buf[97];
  size_t total = 0;
  for (size_t i = 0; i < N_SMALL; i++) {
    test_fill_pattern(buf, SMALL_LEN(i), (uint32_t)i + 1);
    assert_true(datagram(h, buf, SMALL_LEN(i)));
    total += 2 + SMALL_LEN(i);
  }
  struct evbuffer *b = evbuffer_new();
  for (size_t i = 0; i < N_SMALL; i++) {
    test_fill_pattern(buf, SMALL_LEN(i), (uint32_t)i + 50000);
    add_frame(b, buf, SMALL_LEN(i));
  }
  peer_write(h, evbuffer_pullup(b, -1), evbuffer_get_length(b));
  evbuffer_free(b);
  wait_sent(h, N_SMALL);
  wait_from_relay(h, total);
  for (size_t i = 0; i < N_SMALL; i++) {
    test_fill_pattern(buf, SMALL_LEN(i), (uint32_t)i + 1);
    expect_frame(h, buf, SMALL_LEN(i));
    test_fill_pattern(buf, SMALL_LEN(i), (uint32_t)i + 50000);
    assert_sent(h, i, buf, SMALL_LEN(i));
  }
  assert_int_equal(evbuffer_get_length(h->from_relay), 0);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->to_stream, N_SMALL);
  assert_int_equal(st->from_stream, N_SMALL);
}

/* The stream's bytes arrive one write at a time, with loop passes
 * between: each datagram goes out exactly when its frame's last byte is
 * in, not before. ends[k] is the offset just past frame k. */
static void drip(harness_t *h, const uint8_t *p, size_t n, const size_t *ends, size_t n_frames) {
  size_t k = 0;
  test_loop_begin_wait(&h->loop, "the stream, one byte at a time");
  for (size_t i = 0; i < n; i++) {
    test_write_all(h->peer, p + i, 1);
    for (int j = 0; j < 3; j++)
      pump(h);
    while (k < n_frames && i + 1 >= ends[k])
      k++;
    if (h->n_sent != k)
      fail_msg("after %zu of %zu bytes: %zu datagrams sent, want %zu", i + 1, n, h->n_sent, k);
  }
}

static void test_length_byte_at_a_time(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  const size_t lens[] = {300, 0, 3, 1};
  uint8_t *d[4];
  size_t ends[4];
  struct evbuffer *b = evbuffer_new();
  for (size_t i = 0; i < 4; i++) {
    d[i] = test_pattern_new(lens[i], (uint32_t)(300 + i));
    add_frame(b, d[i], lens[i]);
    ends[i] = evbuffer_get_length(b);
  }
  drip(h, evbuffer_pullup(b, -1), evbuffer_get_length(b), ends, 4);
  evbuffer_free(b);
  for (size_t i = 0; i < 4; i++) {
    assert_sent(h, i, d[i], lens[i]);
    free(d[i]);
  }
}

static void test_length_oversize_refused(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  uint8_t *big = test_pattern_new(65536, 9);
  assert_false(datagram(h, big, 65536));
  assert_true(datagram(h, big, 65535));
  free(big);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->dropped.oversize, 1);
  assert_int_equal(st->to_stream, 1);
  wait_from_relay(h, 2 + 65535);
}

/* ---- STUN framing ---- */

/* RFC 5769 s2.1's sample Binding Request (108 bytes). */
static const uint8_t stun_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* A bare Binding Request: header only. */
static const uint8_t stun_bare[STUN_HEADER_LEN] = {
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
};

/* ChannelData on channel 0x4001: "hello" (5 bytes, 3 of padding in a
 * stream), and 8 bytes (no padding). */
static const uint8_t cd_hello[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
static const uint8_t cd_hello_padded_junk[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e',
                                               'l',  'l',  'o',  0xAA, 0xBB, 0xCC};
static const uint8_t cd_hello_padded[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e',
                                          'l',  'l',  'o',  0,    0,   0};
static const uint8_t cd_eight[] = {0x7F, 0xFF, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};

static void test_stun_to_stream(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_STUN, 0);
  assert_true(datagram(h, stun_request, sizeof stun_request));
  assert_true(datagram(h, cd_hello, sizeof cd_hello));
  /* Padding that came over UDP is not copied: the stream gets zeros. */
  assert_true(datagram(h, cd_hello_padded_junk, sizeof cd_hello_padded_junk));
  assert_true(datagram(h, cd_eight, sizeof cd_eight));
  assert_true(datagram(h, stun_bare, sizeof stun_bare));
  struct evbuffer *want = evbuffer_new();
  evbuffer_add(want, stun_request, sizeof stun_request);
  evbuffer_add(want, cd_hello_padded, sizeof cd_hello_padded);
  evbuffer_add(want, cd_hello_padded, sizeof cd_hello_padded);
  evbuffer_add(want, cd_eight, sizeof cd_eight);
  evbuffer_add(want, stun_bare, sizeof stun_bare);
  size_t n = evbuffer_get_length(want);
  wait_from_relay(h, n);
  test_loop_steps(&h->loop, 10);
  read_peer(h);
  assert_evbuffer_is(h->from_relay, evbuffer_pullup(want, -1), n);
  evbuffer_free(want);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->to_stream, 5);
  assert_int_equal(st->to_stream_bytes, sizeof stun_request + sizeof cd_hello +
                                            sizeof cd_hello_padded_junk + sizeof cd_eight +
                                            sizeof stun_bare);
  assert_int_equal(st->dropped.invalid, 0);
}

static void test_stun_from_stream(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_STUN, 0);
  struct evbuffer *b = evbuffer_new();
  evbuffer_add(b, stun_request, sizeof stun_request);
  /* The stream's padding, whatever its bytes, is stripped. */
  evbuffer_add(b, cd_hello_padded_junk, sizeof cd_hello_padded_junk);
  evbuffer_add(b, cd_eight, sizeof cd_eight);
  evbuffer_add(b, stun_bare, sizeof stun_bare);
  uint8_t big[CHANNEL_DATA_HEADER_LEN + 65535];
  big[0] = 0x40;
  big[1] = 0x02;
  big[2] = 0xFF;
  big[3] = 0xFF;
  test_fill_pattern(big + 4, 65535, 77);
  evbuffer_add(b, big, sizeof big);
  evbuffer_add(b, "\0", 1); /* its one byte of padding */
  evbuffer_add(b, cd_hello_padded, sizeof cd_hello_padded);
  peer_write(h, evbuffer_pullup(b, -1), evbuffer_get_length(b));
  evbuffer_free(b);
  wait_sent(h, 6);
  assert_sent(h, 0, stun_request, sizeof stun_request);
  assert_sent(h, 1, cd_hello, sizeof cd_hello);
  assert_sent(h, 2, cd_eight, sizeof cd_eight);
  assert_sent(h, 3, stun_bare, sizeof stun_bare);
  assert_sent(h, 4, big, sizeof big);
  assert_sent(h, 5, cd_hello, sizeof cd_hello);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->from_stream, 6);
  assert_int_equal(st->from_stream_bytes, sizeof stun_request + 2 * sizeof cd_hello +
                                              sizeof cd_eight + sizeof stun_bare + sizeof big);
  assert_int_equal(h->done_calls, 0);
}

/* A ChannelData message goes out only once its padding is in too. */
static void test_stun_byte_at_a_time(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_STUN, 0);
  struct evbuffer *b = evbuffer_new();
  size_t ends[3];
  evbuffer_add(b, stun_bare, sizeof stun_bare);
  ends[0] = evbuffer_get_length(b);
  evbuffer_add(b, cd_hello_padded, sizeof cd_hello_padded);
  ends[1] = evbuffer_get_length(b);
  evbuffer_add(b, cd_eight, sizeof cd_eight);
  ends[2] = evbuffer_get_length(b);
  drip(h, evbuffer_pullup(b, -1), evbuffer_get_length(b), ends, 3);
  evbuffer_free(b);
  assert_sent(h, 0, stun_bare, sizeof stun_bare);
  assert_sent(h, 1, cd_hello, sizeof cd_hello);
  assert_sent(h, 2, cd_eight, sizeof cd_eight);
}

/* Whatever is not one whole STUN or ChannelData message is refused,
 * counted, and never reaches the stream, which stays usable. */
static void test_stun_invalid_refused(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_STUN, 0);
  uint8_t bad_cookie[sizeof stun_bare], bad_length[sizeof stun_bare];
  uint8_t trailing[sizeof stun_bare + 1];
  memcpy(bad_cookie, stun_bare, sizeof stun_bare);
  bad_cookie[7] ^= 1;
  memcpy(bad_length, stun_bare, sizeof stun_bare);
  bad_length[3] = 2; /* not a multiple of 4 */
  memcpy(trailing, stun_bare, sizeof stun_bare);
  trailing[sizeof stun_bare] = 0;
  const uint8_t junk[] = {0x80, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  const uint8_t cd_short[] = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l'};
  uint8_t cd_overpadded[sizeof cd_hello_padded + 4];
  memset(cd_overpadded, 0, sizeof cd_overpadded);
  memcpy(cd_overpadded, cd_hello, sizeof cd_hello);
  struct {
    const uint8_t *p;
    size_t n;
  } bad[] = {
      {junk, sizeof junk},
      {stun_bare, sizeof stun_bare - 1},
      {bad_cookie, sizeof bad_cookie},
      {bad_length, sizeof bad_length},
      {trailing, sizeof trailing},
      {cd_short, sizeof cd_short},
      {cd_overpadded, sizeof cd_overpadded},
      {stun_request, 0},
  };
  size_t n_bad = sizeof bad / sizeof bad[0];
  for (size_t i = 0; i < n_bad; i++)
    if (datagram(h, bad[i].p, bad[i].n))
      fail_msg("invalid datagram %zu was accepted", i);
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->dropped.invalid, n_bad);
  assert_int_equal(st->to_stream, 0);
  test_loop_steps(&h->loop, 20);
  read_peer(h);
  assert_int_equal(evbuffer_get_length(h->from_relay), 0);
  assert_true(datagram(h, stun_bare, sizeof stun_bare));
  wait_from_relay(h, sizeof stun_bare);
  assert_evbuffer_is(h->from_relay, stun_bare, sizeof stun_bare);
}

/* A stream header that is neither message ends the relay, after the good
 * messages in front of it have gone out; the stream is closed. */
static void test_stun_bad_stream(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_STUN, 0);
  uint8_t b[sizeof stun_bare + sizeof cd_hello_padded + 4];
  memcpy(b, stun_bare, sizeof stun_bare);
  memcpy(b + sizeof stun_bare, cd_hello_padded, sizeof cd_hello_padded);
  memcpy(b + sizeof stun_bare + sizeof cd_hello_padded, "\xC0\x00\x00\x00", 4);
  peer_write(h, b, sizeof b);
  wait_done(h, "not a STUN or ChannelData message");
  assert_int_equal(h->n_sent, 2);
  assert_sent(h, 0, stun_bare, sizeof stun_bare);
  assert_sent(h, 1, cd_hello, sizeof cd_hello);
  assert_int_equal(h->stats.from_stream, 2);
  wait_peer_eof(h);
}

/* The same with the bad bytes already buffered when the relay starts:
 * the verdict is reached from the loop, not inside udp_relay_start(). */
static void test_stun_bad_stream_prebuffered(void **state) {
  harness_t *h = *state;
  prebuffer(h, (const uint8_t *)"\x80\x00\x00\x00", 4);
  start(h, UDP_FRAMING_STUN, 0);
  assert_int_equal(h->done_calls, 0);
  wait_done(h, "not a STUN or ChannelData message");
  assert_int_equal(h->n_sent, 0);
  wait_peer_eof(h);
}

/* ---- how a relay ends ---- */

/* The peer sends frames and closes at once, before the loop has run:
 * every whole frame goes out before done(); a trailing half frame is
 * lost with the stream. */
static void test_eof_after_frames(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  struct evbuffer *b = evbuffer_new();
  const size_t n = 40;
  uint8_t d[1400];
  for (size_t i = 0; i < n; i++) {
    test_fill_pattern(d, sizeof d, (uint32_t)(400 + i));
    add_frame(b, d, sizeof d);
  }
  evbuffer_add(b, "\x00\x10half", 6);
  test_write_all(h->peer, evbuffer_pullup(b, -1), evbuffer_get_length(b));
  evbuffer_free(b);
  assert_int_equal(shutdown(h->peer, SHUT_WR), 0);
  wait_done(h, "closed by the peer");
  assert_int_equal(h->sent_at_done, n);
  for (size_t i = 0; i < n; i++) {
    test_fill_pattern(d, sizeof d, (uint32_t)(400 + i));
    assert_sent(h, i, d, sizeof d);
  }
  assert_int_equal(h->stats.from_stream, n);
  /* A half-closed stream ends the relay: it closes its end too. */
  wait_peer_eof(h);
}

/* An EOF reported while frames sit in the input (a filter hands up its
 * last bytes with the EOF; here: frames buffered before the relay took
 * the stream, and the EOF event raised by hand before the loop ran): the
 * frames go out first, and done() still only from the loop. */
static void test_eof_with_frames_in_input(void **state) {
  harness_t *h = *state;
  struct evbuffer *b = evbuffer_new();
  for (size_t i = 0; i < 5; i++)
    add_frame(b, (const uint8_t *)"abcdefgh", i);
  size_t len = evbuffer_get_length(b);
  prebuffer(h, evbuffer_pullup(b, -1), len);
  evbuffer_free(b);
  start(h, UDP_FRAMING_LENGTH, 0);
  assert_int_equal(h->n_sent, 0);
  bufferevent_trigger_event(h->bev, BEV_EVENT_EOF, 0);
  assert_int_equal(h->n_sent, 5);
  assert_int_equal(h->done_calls, 0);
  /* Ending: a datagram now is refused (and done() still not called). */
  assert_false(datagram(h, (const uint8_t *)"x", 1));
  wait_done(h, "closed by the peer");
  assert_int_equal(h->sent_at_done, 5);
  for (size_t i = 0; i < 5; i++)
    assert_sent(h, i, (const uint8_t *)"abcdefgh", i);
  assert_int_equal(h->stats.to_stream, 0);
}

static void test_stream_error(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  bufferevent_trigger_event(h->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING, 0);
  assert_int_equal(h->done_calls, 0);
  wait_done(h, "stream error");
  wait_peer_eof(h);
}

/* A relay's stats are still readable inside done(), and it refuses
 * datagrams and ignores an abort there (the fake checks; the sanitizer
 * build would see a double free). */
static void test_calls_inside_done(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  h->poke_in_done = true;
  assert_true(datagram(h, (const uint8_t *)"x", 1));
  shutdown(h->peer, SHUT_WR);
  wait_done(h, "closed by the peer");
  assert_int_equal(h->stats.to_stream, 1);
}

/* Seconds since a time from clock_gettime(CLOCK_MONOTONIC). */
static double since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void wait_idle_done(harness_t *h) {
  test_loop_begin_wait(&h->loop, "the idle timeout");
  while (h->done_calls == 0)
    pump_slowly(h);
  assert_string_equal(h->reason, "idle timeout");
}

static void test_idle_timeout(void **state) {
  harness_t *h = *state;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  start(h, UDP_FRAMING_LENGTH, 1);
  wait_idle_done(h);
  double t = since(&t0);
  if (t < 0.95 || t > 3)
    fail_msg("a 1 s idle timeout came after %.3f s", t);
  wait_done(h, "idle timeout");
  wait_peer_eof(h);
}

/* Datagrams each way, one every 200 ms for 2.5 s, keep a 1 s timeout
 * from firing; once they stop it fires about 1 s after the last. */
static void test_activity_defers_idle_timeout(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 1);
  struct timespec t0, last;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  last = t0;
  int k = 0;
  test_loop_begin_wait(&h->loop, "2.5 s of traffic");
  while (since(&t0) < 2.5) {
    if (since(&last) >= 0.2) {
      if (k++ % 2)
        assert_true(datagram(h, (const uint8_t *)"ping", 4));
      else
        test_write_all(h->peer, (const uint8_t *)"\x00\x04pong", 6);
      clock_gettime(CLOCK_MONOTONIC, &last);
    }
    pump_slowly(h);
    assert_int_equal(h->done_calls, 0);
  }
  /* The last write to the peer counts once the relay has read it. */
  size_t want = (size_t)(k + 1) / 2;
  test_loop_begin_wait(&h->loop, "the last pong");
  while (h->n_sent < want)
    pump(h);
  clock_gettime(CLOCK_MONOTONIC, &last);
  wait_idle_done(h);
  double t = since(&last);
  if (t < 0.75 || t > 3)
    fail_msg("the idle timeout came %.3f s after the last datagram, want about 1 s", t);
  assert_int_equal(h->stats.to_stream, (uint64_t)k / 2);
  assert_int_equal(h->stats.from_stream, want);
  wait_done(h, "idle timeout");
}

/* Refused datagrams are no activity: a peer sending junk cannot keep the
 * relay alive. */
static void test_junk_does_not_defer_idle_timeout(void **state) {
  harness_t *h = *state;
  struct timespec t0, last;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  start(h, UDP_FRAMING_STUN, 1);
  last = t0;
  test_loop_begin_wait(&h->loop, "the idle timeout despite junk");
  while (h->done_calls == 0) {
    if (since(&last) >= 0.1) {
      assert_false(datagram(h, (const uint8_t *)"junk", 4));
      clock_gettime(CLOCK_MONOTONIC, &last);
    }
    pump_slowly(h);
  }
  double t = since(&t0);
  if (t > 1.9)
    fail_msg("junk kept a 1 s idle timeout away for %.3f s", t);
  assert_string_equal(h->reason, "idle timeout");
  assert_true(h->stats.dropped.invalid >= 5);
}

/* ---- a filter as the stream, as a transport's codec gives ---- */

static enum bufferevent_filter_result pass_through(struct evbuffer *src, struct evbuffer *dst,
                                                   ev_ssize_t limit,
                                                   enum bufferevent_flush_mode mode, void *ctx) {
  return evbuffer_add_buffer(dst, src) == 0 ? BEV_OK : BEV_ERROR;
}

/* Puts a pass-through filter over the relay's end. The socket below has
 * no write high-water mark, so the filter hands on everything at once:
 * what waits to go out waits below it, not in its own output. */
static void use_filter(harness_t *h) {
  h->bev = bufferevent_filter_new(h->bev, pass_through, pass_through, BEV_OPT_CLOSE_ON_FREE, NULL,
                                  NULL);
  assert_non_null(h->bev);
}

/* Bytes waiting to go out at the relay's end, through any filter. */
static size_t queued(const harness_t *h) {
  size_t n = 0;
  for (struct bufferevent *b = h->bev; b; b = bufferevent_get_underlying(b))
    n += evbuffer_get_length(bufferevent_get_output(b));
  return n;
}

static void test_filter_round_trip(void **state) {
  harness_t *h = *state;
  use_filter(h);
  start(h, UDP_FRAMING_STUN, 0);
  assert_true(datagram(h, cd_hello, sizeof cd_hello));
  wait_from_relay(h, sizeof cd_hello_padded);
  assert_evbuffer_is(h->from_relay, cd_hello_padded, sizeof cd_hello_padded);
  peer_write(h, stun_request, sizeof stun_request);
  peer_write(h, cd_hello_padded_junk, sizeof cd_hello_padded_junk);
  wait_sent(h, 2);
  assert_sent(h, 0, stun_request, sizeof stun_request);
  assert_sent(h, 1, cd_hello, sizeof cd_hello);
  assert_int_equal(shutdown(h->peer, SHUT_WR), 0);
  wait_done(h, "closed by the peer");
  wait_peer_eof(h);
}

/* ---- a full stream output ---- */

/* The peer reads nothing: once the stream's output holds more than
 * UDP_RELAY_OUT_MAX, datagrams are dropped and counted, the relay stays
 * up; when the peer reads, every accepted datagram arrives whole and in
 * order, and new ones are taken again. */
static void run_output_full(harness_t *h) {
  start(h, UDP_FRAMING_LENGTH, 0);
  uint8_t d[8192];
  size_t accepted = 0;
  test_loop_begin_wait(&h->loop, "a datagram refused for a full output");
  for (;;) {
    test_fill_pattern(d, sizeof d, (uint32_t)accepted + 1);
    if (!datagram(h, d, sizeof d))
      break;
    if (++accepted > 4 * UDP_RELAY_OUT_MAX / sizeof d)
      fail_msg("%zu datagrams accepted while nobody read: no limit", accepted);
    test_loop_step(&h->loop);
  }
  assert_true(queued(h) > UDP_RELAY_OUT_MAX);
  for (int i = 0; i < 9; i++) {
    test_loop_step(&h->loop);
    assert_false(datagram(h, d, sizeof d));
  }
  const udp_relay_stats_t *st = udp_relay_stats(h->relay);
  assert_int_equal(st->dropped_full, 10);
  assert_int_equal(st->to_stream, accepted);
  /* More than the limit was accepted: the socket took some, the output
   * the rest. */
  assert_true(accepted * (2 + sizeof d) > UDP_RELAY_OUT_MAX);

  wait_from_relay(h, accepted * (2 + sizeof d));
  for (size_t i = 0; i < accepted; i++) {
    test_fill_pattern(d, sizeof d, (uint32_t)i + 1);
    expect_frame(h, d, sizeof d);
  }
  assert_int_equal(evbuffer_get_length(h->from_relay), 0);
  assert_true(datagram(h, d, sizeof d));
  wait_from_relay(h, 2 + sizeof d);
  expect_frame(h, d, sizeof d);
  assert_int_equal(h->done_calls, 0);
}

static void test_output_full_drops(void **state) { run_output_full(*state); }

/* The same through a filter, whose own output stays empty: the limit
 * must count what waits below it. */
static void test_output_full_drops_through_filter(void **state) {
  harness_t *h = *state;
  use_filter(h);
  run_output_full(h);
}

/* ---- abort ---- */

/* Frees everything at once (the peer sees the stream close), with
 * datagrams queued and frames buffered, and done() never comes. */
static void test_abort(void **state) {
  harness_t *h = *state;
  prebuffer(h, (const uint8_t *)"\x00\x02hi", 4);
  start(h, UDP_FRAMING_LENGTH, 1);
  for (int i = 0; i < 100; i++)
    assert_true(datagram(h, (const uint8_t *)"0123456789", 10));
  udp_relay_abort(h->relay);
  h->relay = NULL;
  wait_peer_eof(h);
  test_loop_begin_wait(&h->loop, "quiet after abort");
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->done_calls, 0);
  assert_int_equal(h->n_sent, 0); /* the buffered frame died with it */
}

/* Aborting while the end is already on its way: done() does not come. */
static void test_abort_while_ending(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  bufferevent_trigger_event(h->bev, BEV_EVENT_ERROR, 0);
  udp_relay_abort(h->relay);
  h->relay = NULL;
  wait_peer_eof(h);
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->done_calls, 0);
}

/* The owner aborts from inside send(): no later frame is delivered and
 * done() never comes. */
static void test_abort_inside_send(void **state) {
  harness_t *h = *state;
  start(h, UDP_FRAMING_LENGTH, 0);
  h->abort_at = 2;
  struct evbuffer *b = evbuffer_new();
  for (size_t i = 0; i < 5; i++)
    add_frame(b, (const uint8_t *)"abcdefgh", 8);
  test_write_all(h->peer, evbuffer_pullup(b, -1), evbuffer_get_length(b));
  evbuffer_free(b);
  wait_peer_eof(h);
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->n_sent, 2);
  assert_int_equal(h->done_calls, 0);
}

static void test_abort_null(void **state) { udp_relay_abort(NULL); }

int main(void) {
  /* The relay writes to a socket whose peer may be gone. */
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_length_to_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_length_from_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_length_many_small, setup, teardown),
      cmocka_unit_test_setup_teardown(test_length_byte_at_a_time, setup, teardown),
      cmocka_unit_test_setup_teardown(test_length_oversize_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_to_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_from_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_byte_at_a_time, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_invalid_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_bad_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stun_bad_stream_prebuffered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eof_after_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eof_with_frames_in_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_calls_inside_done, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_activity_defers_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_junk_does_not_defer_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_filter_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_full_drops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_full_drops_through_filter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_while_ending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_inside_send, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_null, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
