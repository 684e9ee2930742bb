/* test_codec_stream: codec_stream_wrap() with a codec defined here.
 *
 * The test codec XORs every byte with 0x5A in both directions, queues a
 * 4-byte hello on io->wire_out from start(), treats a raw 0xFF wire byte as
 * a protocol violation (CODEC_ERROR) and a raw 0xFE as a probe
 * (CODEC_DISCARD), reports a settable count of held bytes, can be told to hold plaintext back
 * (CODEC_NEED_MORE without draining) until the test releases it and calls
 * io->kick(), and counts its frees. The wire is one end of an AF_UNIX
 * socketpair; the test owns the other end and drives the event loop in
 * bounded nonblocking passes. The identity short-cut is tested with the
 * plain transport's codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "transports/transport.h"

#include "testutil.h"

#define XOR_KEY 0x5A
#define XOR_BAD_WIRE_BYTE 0xFF
#define XOR_PROBE_WIRE_BYTE 0xFE
#define HELLO "HELO"
#define HELLO_LEN 4
#define WAIT_MAX_ITERATIONS 100000
#define TEST_MAX_SECONDS 20

/* ---- the test codec ---- */

typedef struct xor_codec {
  codec_t base;
  bool hold;       /* on_plain leaves plaintext untouched while set */
  bool fail_start; /* start() returns CODEC_ERROR */
  int on_plain_calls;
  int on_wire_calls;
  size_t held;
} xor_codec_t;

static int g_frees;

static xor_codec_t *xor_of(codec_t *c) { return (xor_codec_t *)c; }

/* Moves all of src to dst, XORing each byte. */
static void xor_move(struct evbuffer *src, struct evbuffer *dst) {
  size_t len = evbuffer_get_length(src);
  if (len == 0)
    return;
  uint8_t *tmp = malloc(len);
  assert_non_null(tmp);
  assert_int_equal(evbuffer_remove(src, tmp, len), (int)len);
  for (size_t i = 0; i < len; i++)
    tmp[i] ^= XOR_KEY;
  assert_int_equal(evbuffer_add(dst, tmp, len), 0);
  free(tmp);
}

static codec_result_t xor_start(codec_t *c) {
  if (xor_of(c)->fail_start)
    return CODEC_ERROR;
  assert_non_null(c->io);
  assert_int_equal(evbuffer_add(c->io->wire_out, HELLO, HELLO_LEN), 0);
  return CODEC_OK;
}

static codec_result_t xor_on_wire(codec_t *c, struct evbuffer *wire_in,
                                  struct evbuffer *plain_out) {
  xor_of(c)->on_wire_calls++;
  size_t len = evbuffer_get_length(wire_in);
  if (len == 0)
    return CODEC_OK;
  struct evbuffer_ptr found = evbuffer_search(wire_in, "\xff", 1, NULL);
  if (found.pos >= 0)
    return CODEC_ERROR;
  found = evbuffer_search(wire_in, "\xfe", 1, NULL);
  if (found.pos >= 0)
    return CODEC_DISCARD;
  xor_move(wire_in, plain_out);
  return CODEC_OK;
}

static codec_result_t xor_on_plain(codec_t *c, struct evbuffer *plain_in,
                                   struct evbuffer *wire_out) {
  xor_codec_t *x = xor_of(c);
  x->on_plain_calls++;
  if (x->hold)
    return CODEC_NEED_MORE;
  xor_move(plain_in, wire_out);
  return CODEC_OK;
}

static void xor_free(codec_t *c) {
  g_frees++;
  free(c);
}

static const codec_ops_t xor_ops = {
    .start = xor_start,
    .on_wire = xor_on_wire,
    .on_plain = xor_on_plain,
    .free = xor_free,
};

static size_t xor_held(const codec_t *c) { return ((const xor_codec_t *)c)->held; }

static const codec_ops_t xor_ops_held = {
    .start = xor_start,
    .on_wire = xor_on_wire,
    .on_plain = xor_on_plain,
    .free = xor_free,
    .handshake = true,
    .held = xor_held,
};

static const codec_ops_t xor_ops_no_start = {
    .start = NULL,
    .on_wire = xor_on_wire,
    .on_plain = xor_on_plain,
    .free = xor_free,
};

/* ---- harness ---- */

typedef struct harness {
  test_loop_t loop;
  int wire_fd;              /* the test's end of the wire */
  struct bufferevent *wire; /* the adapter's wire bufferevent (borrowed) */
  struct bufferevent *plain;
  xor_codec_t *codec;       /* borrowed: owned by the stream */
  struct evbuffer *plain_got; /* plaintext the stream delivered */
  struct evbuffer *wire_got;  /* bytes read from the wire socket */
  short events;               /* every event flag the stream reported */
  bool wire_eof;
} harness_t;

static void on_plain_read(struct bufferevent *bev, void *arg) {
  harness_t *h = arg;
  evbuffer_add_buffer(h->plain_got, bufferevent_get_input(bev));
}

static void on_plain_event(struct bufferevent *bev, short what, void *arg) {
  harness_t *h = arg;
  h->events |= what;
}

static int setup(void **state) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return -1;
  h->plain_got = evbuffer_new();
  h->wire_got = evbuffer_new();
  if (test_loop_init(&h->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0 || !h->plain_got ||
      !h->wire_got)
    return -1;
  h->wire_fd = -1;
  g_frees = 0;
  test_libevent_warnings_reset();
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness_t *h = *state;
  if (h->plain)
    bufferevent_free(h->plain);
  if (h->wire_fd >= 0)
    close(h->wire_fd);
  test_loop_free(&h->loop); /* runs deferred bufferevent frees */
  int rc = test_libevent_warnings_check();
  if (h->codec && g_frees != 1) {
    fprintf(stderr, "codec freed %d times, want exactly once\n", g_frees);
    rc = -1;
  }
  evbuffer_free(h->plain_got);
  evbuffer_free(h->wire_got);
  free(h);
  return rc;
}

static void add_to_wire_got(void *arg, const uint8_t *p, size_t n) {
  harness_t *h = arg;
  assert_int_equal(evbuffer_add(h->wire_got, p, n), 0);
}

/* Reads what the wire socket has into wire_got. */
static void read_wire(harness_t *h) {
  if (h->wire_fd < 0 || h->wire_eof)
    return;
  if (test_read_some(h->wire_fd, add_to_wire_got, h, false) == TEST_READ_EOF)
    h->wire_eof = true;
}

/* Writes as much of data[*off..len) as the wire socket takes. */
static void write_wire(harness_t *h, const uint8_t *data, size_t len, size_t *off) {
  test_write_some(h->wire_fd, data, len, off, NULL);
}

/* One loop pass, then whatever it put on the wire. */
static void step_and_read(harness_t *h) {
  test_loop_step(&h->loop);
  read_wire(h);
}

/* n loop passes, reading the wire after each: time for whatever would go
 * out to go out, before the test checks what did. */
static void run_passes(harness_t *h, int n, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  for (int i = 0; i < n; i++)
    step_and_read(h);
}

/* Runs the loop until wire_got holds at least len bytes. */
static void wait_wire_bytes(harness_t *h, size_t len, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  while (evbuffer_get_length(h->wire_got) < len)
    step_and_read(h);
}

/* Runs the loop until the stream reported an event in mask. */
static void wait_event(harness_t *h, short mask, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  while (!(h->events & mask))
    test_loop_step(&h->loop);
}

/* Frees the plaintext bufferevent; the stream must free the codec, and
 * only once, however many passes follow. */
static void free_stream_expect_codec_freed_once(harness_t *h) {
  bufferevent_free(h->plain);
  h->plain = NULL;
  test_loop_begin_wait(&h->loop, "the codec's free");
  while (g_frees == 0)
    test_loop_step(&h->loop);
  test_loop_steps(&h->loop, 50);
  assert_int_equal(g_frees, 1);
}

static xor_codec_t *xor_new(const codec_ops_t *ops) {
  xor_codec_t *x = calloc(1, sizeof *x);
  assert_non_null(x);
  x->base.ops = ops;
  return x;
}

/* Wraps one end of a fresh socketpair with codec x. */
static void wrap(harness_t *h, xor_codec_t *x) {
  int p[2];
  test_socketpair_nonblock(p);
  h->wire_fd = p[0];
  h->wire = bufferevent_socket_new(h->loop.base, p[1], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(h->wire);
  h->codec = x;
  h->plain = codec_stream_wrap(h->wire, &x->base);
  assert_non_null(h->plain);
  bufferevent_setcb(h->plain, on_plain_read, NULL, on_plain_event, h);
  assert_int_equal(bufferevent_enable(h->plain, EV_READ | EV_WRITE), 0);
}

/* Pattern bytes that the codec never turns into its error byte (caller
 * frees). */
static uint8_t *pattern(size_t len, uint32_t seed) {
  uint8_t *p = test_pattern_new(len, seed);
  for (size_t i = 0; i < len; i++) {
    if ((p[i] ^ XOR_KEY) == XOR_BAD_WIRE_BYTE || (p[i] ^ XOR_KEY) == XOR_PROBE_WIRE_BYTE)
      p[i] = 0; /* keep the encoded stream free of the error byte */
  }
  return p;
}

/* Asserts wire_got holds exactly hello + XOR(data). */
static void assert_wire_is_hello_then(harness_t *h, const uint8_t *data, size_t len) {
  assert_int_equal(evbuffer_get_length(h->wire_got), HELLO_LEN + len);
  uint8_t *got = evbuffer_pullup(h->wire_got, -1);
  assert_non_null(got);
  assert_memory_equal(got, HELLO, HELLO_LEN);
  for (size_t i = 0; i < len; i++) {
    if (got[HELLO_LEN + i] != (uint8_t)(data[i] ^ XOR_KEY))
      fail_msg("wire byte %zu is 0x%02x, want 0x%02x", i, got[HELLO_LEN + i],
               (uint8_t)(data[i] ^ XOR_KEY));
  }
}

/* ---- tests ---- */

static void test_io_is_set_up(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  wrap(h, x);
  assert_non_null(x->base.io);
  assert_ptr_equal(x->base.io->base, h->loop.base);
  assert_ptr_equal(x->base.io->wire_out, bufferevent_get_output(h->wire));
  assert_non_null(x->base.io->kick);
  assert_ptr_equal(bufferevent_get_underlying(h->plain), h->wire);
}

/* The hello from start() is the first thing on the wire, even when
 * plaintext is written before the loop ever runs. */
static void test_hello_first(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  const uint8_t data[] = "early plaintext";
  assert_int_equal(bufferevent_write(h->plain, data, sizeof data - 1), 0);
  wait_wire_bytes(h, HELLO_LEN + sizeof data - 1, "hello and data on the wire");
  assert_wire_is_hello_then(h, data, sizeof data - 1);
}

static void test_hello_alone(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  wait_wire_bytes(h, HELLO_LEN, "hello on the wire");
  run_passes(h, 50, "passes after the hello");
  assert_wire_is_hello_then(h, NULL, 0);
}

/* Without start() nothing is sent first. */
static void test_no_start_no_hello(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops_no_start));
  const uint8_t data[] = {0x00, 0x01, 0x5A, 0xA4};
  assert_int_equal(bufferevent_write(h->plain, data, sizeof data), 0);
  wait_wire_bytes(h, sizeof data, "data on the wire");
  const uint8_t want[] = {0x5A, 0x5B, 0x00, 0xFE};
  assert_int_equal(evbuffer_get_length(h->wire_got), sizeof want);
  assert_memory_equal(evbuffer_pullup(h->wire_got, -1), want, sizeof want);
}

static void test_plain_to_wire_xored(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  size_t len = 1024 * 1024;
  uint8_t *data = pattern(len, 1);
  size_t off = 0;
  test_loop_begin_wait(&h->loop, "1 MiB of plaintext encoded on the wire");
  while (evbuffer_get_length(h->wire_got) < HELLO_LEN + len) {
    if (off < len) {
      size_t n = len - off > TEST_IO_CHUNK ? TEST_IO_CHUNK : len - off;
      assert_int_equal(bufferevent_write(h->plain, data + off, n), 0);
      off += n;
    }
    step_and_read(h);
  }
  assert_wire_is_hello_then(h, data, len);
  free(data);
}

static void test_wire_to_plain_unxored(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  size_t len = 1024 * 1024;
  uint8_t *plain = pattern(len, 2);
  uint8_t *wire = malloc(len);
  assert_non_null(wire);
  for (size_t i = 0; i < len; i++)
    wire[i] = plain[i] ^ XOR_KEY;
  size_t off = 0;
  test_loop_begin_wait(&h->loop, "1 MiB of wire bytes decoded");
  while (evbuffer_get_length(h->plain_got) < len) {
    write_wire(h, wire, len, &off);
    step_and_read(h);
  }
  assert_int_equal(evbuffer_get_length(h->plain_got), len);
  assert_memory_equal(evbuffer_pullup(h->plain_got, -1), plain, len);
  assert_int_equal(h->events & (BEV_EVENT_ERROR | BEV_EVENT_EOF), 0);
  free(plain);
  free(wire);
}

/* EOF on the wire reaches the plaintext side after the data. */
static void test_wire_eof(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  const uint8_t wire[] = {'h' ^ XOR_KEY, 'i' ^ XOR_KEY};
  size_t off = 0;
  write_wire(h, wire, sizeof wire, &off);
  assert_int_equal(off, sizeof wire);
  assert_int_equal(shutdown(h->wire_fd, SHUT_WR), 0);
  wait_event(h, BEV_EVENT_EOF, "BEV_EVENT_EOF on the plaintext side");
  assert_int_equal(evbuffer_get_length(h->plain_got), 2);
  assert_memory_equal(evbuffer_pullup(h->plain_got, -1), "hi", 2);
  assert_int_equal(h->events & BEV_EVENT_ERROR, 0);
}

static void test_codec_error_becomes_event_error(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  const uint8_t ok[] = {'o' ^ XOR_KEY, 'k' ^ XOR_KEY};
  size_t off = 0;
  write_wire(h, ok, sizeof ok, &off);
  test_loop_begin_wait(&h->loop, "the good bytes");
  while (evbuffer_get_length(h->plain_got) < 2)
    test_loop_step(&h->loop);
  assert_int_equal(h->events, 0);
  const uint8_t bad[] = {'x', XOR_BAD_WIRE_BYTE, 'y'};
  off = 0;
  write_wire(h, bad, sizeof bad, &off);
  wait_event(h, BEV_EVENT_ERROR, "BEV_EVENT_ERROR after CODEC_ERROR");
  /* Nothing of the bad frame leaked through as plaintext. */
  assert_int_equal(evbuffer_get_length(h->plain_got), 2);
  assert_memory_equal(evbuffer_pullup(h->plain_got, -1), "ok", 2);
  /* Freeing after the error frees the codec once. */
  free_stream_expect_codec_freed_once(h);
}

/* An error from start() is reported the same way. */
static void test_start_error_becomes_event_error(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  x->fail_start = true;
  wrap(h, x);
  wait_event(h, BEV_EVENT_ERROR, "BEV_EVENT_ERROR after start() failed");
}

static void test_free_runs_codec_free(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  wait_wire_bytes(h, HELLO_LEN, "hello");
  assert_int_equal(g_frees, 0);
  bufferevent_free(h->plain);
  h->plain = NULL;
  test_loop_begin_wait(&h->loop, "the codec's free and the wire closed");
  while (g_frees == 0 || !h->wire_eof)
    step_and_read(h);
  test_loop_steps(&h->loop, 50);
  assert_int_equal(g_frees, 1);
}

/* Freed before the loop ever ran (hello still queued): still one free. */
static void test_free_immediately(void **state) {
  harness_t *h = *state;
  wrap(h, xor_new(&xor_ops));
  free_stream_expect_codec_freed_once(h);
}

/* A codec holding plaintext (NEED_MORE, not drained) sends nothing; once
 * released, io->kick() makes the held bytes flow without any new write. */
static void test_hold_then_kick(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  x->hold = true;
  wrap(h, x);
  const uint8_t data[] = "held until the handshake is done";
  size_t len = sizeof data - 1;
  assert_int_equal(bufferevent_write(h->plain, data, len), 0);
  run_passes(h, 200, "passes while holding");
  assert_true(x->on_plain_calls > 0);
  assert_wire_is_hello_then(h, NULL, 0); /* only the hello went out */
  assert_int_equal(evbuffer_get_length(bufferevent_get_output(h->plain)), len);

  x->hold = false;
  x->base.io->kick(x->base.io);
  wait_wire_bytes(h, HELLO_LEN + len, "held bytes on the wire after kick()");
  assert_wire_is_hello_then(h, data, len);
  assert_int_equal(evbuffer_get_length(bufferevent_get_output(h->plain)), 0);
}

/* kick() with nothing held, and twice in a row, is harmless. */
static void test_kick_idle(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  wrap(h, x);
  x->base.io->kick(x->base.io);
  x->base.io->kick(x->base.io);
  run_passes(h, 50, "passes after idle kicks");
  assert_wire_is_hello_then(h, NULL, 0);
  assert_int_equal(h->events, 0);
}

/* kick() then free before the loop runs: the pending kick must not touch
 * the freed stream (ASan). */
static void test_kick_then_free(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  x->hold = true;
  wrap(h, x);
  assert_int_equal(bufferevent_write(h->plain, "abc", 3), 0);
  x->base.io->kick(x->base.io);
  free_stream_expect_codec_freed_once(h);
  assert_no_libevent_warnings();
}

/* start() failed (an error event is pending) and the stream is freed
 * before the loop runs: the pending error must not touch the freed stream,
 * and the codec is freed once. */
static void test_start_error_then_free(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops);
  x->fail_start = true;
  wrap(h, x);
  free_stream_expect_codec_freed_once(h);
  assert_no_libevent_warnings();
}

/* An identity codec gets no adapter: the wire itself comes back, the
 * codec is freed at once (exactly once), and bytes pass unchanged. The
 * plain transport's codec is one. */
static void test_identity_codec_returns_wire(void **state) {
  harness_t *h = *state;
  const transport_ops_t *plain = transport_find("plain");
  assert_non_null(plain);
  const kvlist_t *args = NULL;
  char err[128] = "";
  transport_server_t *srv = plain->server_new(NULL, "/tmp", &args, err, sizeof err);
  assert_non_null(srv);
  codec_t *c = plain->server_codec_new(srv);
  assert_non_null(c);
  assert_true(c->ops->identity);
  int p[2];
  test_socketpair_nonblock(p);
  h->wire_fd = p[0];
  h->wire = bufferevent_socket_new(h->loop.base, p[1], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(h->wire);
  h->plain = codec_stream_wrap(h->wire, c);
  assert_ptr_equal(h->plain, h->wire);
  assert_null(bufferevent_get_underlying(h->plain));
  bufferevent_setcb(h->plain, on_plain_read, NULL, on_plain_event, h);
  assert_int_equal(bufferevent_enable(h->plain, EV_READ | EV_WRITE), 0);
  const uint8_t data[] = {0x00, 0xFF, 0x5A, 'x'};
  assert_int_equal(bufferevent_write(h->plain, data, sizeof data), 0);
  wait_wire_bytes(h, sizeof data, "the bytes on the wire, unchanged");
  assert_memory_equal(evbuffer_pullup(h->wire_got, -1), data, sizeof data);
  size_t off = 0;
  write_wire(h, data, sizeof data, &off);
  test_loop_begin_wait(&h->loop, "the wire bytes back as plaintext, unchanged");
  while (evbuffer_get_length(h->plain_got) < sizeof data)
    test_loop_step(&h->loop);
  assert_memory_equal(evbuffer_pullup(h->plain_got, -1), data, sizeof data);
  plain->server_free(srv);
}

/* A codec that says it is the identity but must talk first (start())
 * still gets the adapter, so its start() runs. */
static void test_identity_with_start_keeps_adapter(void **state) {
  harness_t *h = *state;
  static const codec_ops_t ops = {
      .start = xor_start,
      .on_wire = xor_on_wire,
      .on_plain = xor_on_plain,
      .free = xor_free,
      .identity = true,
  };
  wrap(h, xor_new(&ops));
  assert_ptr_equal(bufferevent_get_underlying(h->plain), h->wire);
  wait_wire_bytes(h, HELLO_LEN, "hello on the wire");
  assert_wire_is_hello_then(h, NULL, 0);
}

/* ready() reaches the owner once as BEV_EVENT_CONNECTED, from the loop,
 * however often the codec calls it. */
static void test_ready_becomes_connected(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops_held);
  wrap(h, x);
  x->base.io->ready(x->base.io);
  assert_int_equal(h->events, 0); /* not from inside the codec's call */
  x->base.io->ready(x->base.io);
  wait_event(h, BEV_EVENT_CONNECTED, "BEV_EVENT_CONNECTED after ready()");
  assert_int_equal(h->events, BEV_EVENT_CONNECTED);
  free_stream_expect_codec_freed_once(h);
}

/* CODEC_DISCARD: no error, no plaintext, nothing sent, the codec never
 * called again; the peer's EOF still reaches the owner. */
static void test_discard_swallows_silently(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops_held);
  wrap(h, x);
  wait_wire_bytes(h, HELLO_LEN, "hello");
  const uint8_t probe[] = {'a', XOR_PROBE_WIRE_BYTE, 'b'};
  size_t off = 0;
  write_wire(h, probe, sizeof probe, &off);
  test_loop_begin_wait(&h->loop, "the probe seen by the codec");
  while (x->on_wire_calls == 0)
    test_loop_step(&h->loop);
  int calls = x->on_wire_calls;
  uint8_t *more = pattern(64 * 1024, 7);
  off = 0;
  test_loop_begin_wait(&h->loop, "64 KiB after the probe swallowed");
  while (off < 64 * 1024) {
    write_wire(h, more, 64 * 1024, &off);
    step_and_read(h);
  }
  free(more);
  assert_int_equal(bufferevent_write(h->plain, "reply?", 6), 0);
  x->base.io->ready(x->base.io); /* too late: a discarded stream stays silent */
  run_passes(h, 200, "passes after the probe");
  assert_int_equal(x->on_wire_calls, calls);
  assert_int_equal(x->on_plain_calls, 0);
  assert_int_equal(evbuffer_get_length(h->plain_got), 0);
  assert_wire_is_hello_then(h, NULL, 0);
  assert_int_equal(h->events, 0);
  assert_int_equal(shutdown(h->wire_fd, SHUT_WR), 0);
  wait_event(h, BEV_EVENT_EOF, "the prober's EOF");
  assert_int_equal(h->events & (BEV_EVENT_ERROR | BEV_EVENT_CONNECTED), 0);
}

/* The owner gives up on a handshake: later wire bytes never reach the
 * codec. */
static void test_owner_discard(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops_held);
  wrap(h, x);
  wait_wire_bytes(h, HELLO_LEN, "hello");
  codec_stream_discard(&x->base);
  const uint8_t late[] = {'l' ^ XOR_KEY, 'a' ^ XOR_KEY, 't' ^ XOR_KEY, 'e' ^ XOR_KEY};
  size_t off = 0;
  write_wire(h, late, sizeof late, &off);
  run_passes(h, 200, "passes after discard");
  assert_int_equal(x->on_wire_calls, 0);
  assert_int_equal(evbuffer_get_length(h->plain_got), 0);
  assert_int_equal(h->events, 0);
}

/* error() from outside a codec call (a timer) is an error like any other. */
static void test_fail_from_timer(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops_held);
  wrap(h, x);
  x->base.io->error(x->base.io);
  wait_event(h, BEV_EVENT_ERROR, "BEV_EVENT_ERROR after error()");
  free_stream_expect_codec_freed_once(h);
}

/* codec_stream_held() finds the stream's codec, and knows nothing of
 * other bufferevents. */
static void test_held_lookup(void **state) {
  harness_t *h = *state;
  xor_codec_t *x = xor_new(&xor_ops_held);
  wrap(h, x);
  assert_int_equal(codec_stream_held(h->plain), 0);
  x->held = 12345;
  assert_int_equal(codec_stream_held(h->plain), 12345);
  assert_int_equal(codec_stream_held(h->wire), 0);
  /* A second stream has its own answer. */
  int p[2];
  test_socketpair_nonblock(p);
  struct bufferevent *wire2 = bufferevent_socket_new(h->loop.base, p[1], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(wire2);
  xor_codec_t *y = xor_new(&xor_ops_held);
  y->held = 7;
  struct bufferevent *plain2 = codec_stream_wrap(wire2, &y->base);
  assert_non_null(plain2);
  assert_int_equal(codec_stream_held(plain2), 7);
  assert_int_equal(codec_stream_held(h->plain), 12345);
  bufferevent_free(plain2);
  close(p[0]);
  test_loop_steps(&h->loop, 20);
  assert_int_equal(codec_stream_held(h->plain), 12345);
  g_frees--; /* y's free is not the harness codec's */
}

int main(void) {
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_io_is_set_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hello_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hello_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_start_no_hello, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plain_to_wire_xored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_to_plain_unxored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_eof, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_error_becomes_event_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_error_becomes_event_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_runs_codec_free, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_immediately, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hold_then_kick, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kick_idle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kick_then_free, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_error_then_free, setup, teardown),
      cmocka_unit_test_setup_teardown(test_identity_codec_returns_wire, setup, teardown),
      cmocka_unit_test_setup_teardown(test_identity_with_start_keeps_adapter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ready_becomes_connected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discard_swallows_silently, setup, teardown),
      cmocka_unit_test_setup_teardown(test_owner_discard, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_from_timer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_held_lookup, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
