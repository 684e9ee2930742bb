/* test_relay: the relay core over real sockets.
 *
 * Topology of every test:
 *
 *   test's app fd <-> relayA fd ==relay== relayB fd <-> test's far fd
 *
 * The two middle fds are wrapped in socket bufferevents (close-on-free) and
 * handed to relay_start. The scenarios run over four variants of that:
 *
 *   splice  both bare sockets: the fast path (splice_relay.h);
 *   plain   relayB wrapped with the plain transport's codec, which is the
 *           identity, so it is the fast path too (what ptdispatch runs);
 *   nopipe  the fast path with no pipe to be had (splice_pipe.h's cap at
 *           0): its user-space fallback;
 *   codec   relayB behind a codec that copies but does not say it is the
 *           identity: the codec adapter's filter bufferevent, so the
 *           general bufferevent path.
 *
 * Each variant asserts which path it took. The test drives the event loop
 * itself (EVLOOP_NONBLOCK, one pass per step) while reading and writing
 * its own two ends with nonblocking calls. Every wait is bounded by an
 * iteration count and by a wall-clock limit per test, and fails with the
 * name of what it was waiting for. Streams are pseudo-random bytes
 * compared as they arrive. Every test ends with no pipe in use. */
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define RELAY_PRIVATE
#include "lib/sockio.h"
#include "net/relay.h"
#define SPLICE_PIPE_PRIVATE
#include "net/splice_pipe.h"
#include "transports/transport.h"

#include "testutil.h"

#define MIB (1024 * 1024)
#define WAIT_MAX_ITERATIONS 200000 /* per wait */
#define TEST_MAX_SECONDS 20        /* per test */
/* How many loop passes with no byte accepted count as "the sender is
 * blocked for good". */
#define STALL_ITERATIONS 3000

/* One direction of test traffic: what the sending end writes, and how much
 * of it the receiving end has read back (checked byte for byte). */
typedef struct flow {
  uint8_t *data;
  size_t len;
  size_t sent;
  size_t recvd;
  bool eof;          /* the receiving end read EOF */
  bool reset;        /* the receiving end read an error (ECONNRESET) */
  bool write_failed; /* the sending end got EPIPE/ECONNRESET */
} flow_t;

typedef struct harness {
  test_loop_t loop;
  int app; /* the test's end of app <-> relayA */
  int far; /* the test's end of relayB <-> far */
  relay_t *relay;
  const transport_ops_t *plain;
  transport_server_t *srv;
  /* done() bookkeeping */
  int done_calls;
  relay_stats_t stats;
  bool reason_null;
  char reason[128];
  flow_t up;   /* app -> far */
  flow_t down; /* far -> app */
} harness_t;

typedef enum { WRAP_NONE, WRAP_PLAIN, WRAP_COPY } wrap_t;

typedef struct relay_opts {
  wrap_t wrap_b;   /* what relayB's socket bufferevent is wrapped in */
  bool no_pipes;   /* no pipe to be had: the fast path must copy */
  bool tcp_far;    /* relayB <-> far is a TCP loopback pair, not AF_UNIX */
  unsigned idle_s; /* relay idle timeout */
} relay_opts_t;

/* The variants (see the top of the file). */
static const relay_opts_t splice_relay = {0};
static const relay_opts_t plain_relay = {.wrap_b = WRAP_PLAIN};
static const relay_opts_t nopipe_relay = {.no_pipes = true};
static const relay_opts_t codec_relay = {.wrap_b = WRAP_COPY};

/* ---- a codec that copies without saying it is the identity ---- */

static codec_result_t copy_move(codec_t *c, struct evbuffer *src, struct evbuffer *dst) {
  return evbuffer_add_buffer(dst, src) == 0 ? CODEC_OK : CODEC_ERROR;
}

static void copy_free(codec_t *c) { free(c); }

static const codec_ops_t copy_codec_ops = {
    .on_wire = copy_move,
    .on_plain = copy_move,
    .free = copy_free,
};

/* ---- plumbing ---- */

static void flow_init(flow_t *f, size_t len, uint32_t seed) {
  memset(f, 0, sizeof *f);
  f->len = len;
  if (len)
    f->data = test_pattern_new(len, seed);
}

/* The receiving end has seen its connection end, cleanly or not. */
static bool flow_closed(const flow_t *f) { return f->eof || f->reset; }

/* A connected TCP pair on 127.0.0.1. */
static void tcp_pair(int fds[2]) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(l >= 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(listen(l, 1), 0);
  socklen_t sl = sizeof sin;
  assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(c >= 0);
  assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof sin), 0);
  int s = accept(l, NULL, NULL);
  assert_true(s >= 0);
  close(l);
  fds[0] = s;
  fds[1] = c;
}

/* For a give-up message: how far both flows and done() got. */
static void describe_progress(const void *arg, char *out, size_t cap) {
  const harness_t *h = arg;
  snprintf(out, cap, " (up: sent %zu got %zu; down: sent %zu got %zu; done calls %d)", h->up.sent,
           h->up.recvd, h->down.sent, h->down.recvd, h->done_calls);
}

/* Writes what the socket takes of f's unsent bytes. Returns bytes taken. */
static size_t write_some(int fd, flow_t *f) {
  if (fd < 0 || f->write_failed)
    return 0;
  return test_write_some(fd, f->data, f->len, &f->sent, &f->write_failed);
}

/* Takes bytes that arrived for the flow arg, checking them against what
 * was sent. */
static void check_arrived(void *arg, const uint8_t *p, size_t n) {
  flow_t *f = arg;
  if (f->recvd + n > f->sent)
    fail_msg("received %zu bytes but only %zu were sent", f->recvd + n, f->sent);
  if (memcmp(p, f->data + f->recvd, n) != 0)
    fail_msg("received bytes differ from sent bytes in [%zu, %zu)", f->recvd, f->recvd + n);
  f->recvd += n;
}

/* Reads whatever has arrived for f and checks it against what was sent. */
static void read_some(int fd, flow_t *f) {
  if (fd < 0 || flow_closed(f))
    return;
  test_read_end_t end = test_read_some(fd, check_arrived, f, true);
  f->eof = end == TEST_READ_EOF;
  f->reset = end == TEST_READ_RESET;
}

/* Moves both flows as far as the sockets allow, then runs one loop pass. */
static void pump(harness_t *h) {
  write_some(h->app, &h->up);
  write_some(h->far, &h->down);
  test_loop_step(&h->loop);
  read_some(h->far, &h->up);
  read_some(h->app, &h->down);
}

static void on_done(void *ctx, const relay_stats_t *stats, const char *reason) {
  harness_t *h = ctx;
  h->done_calls++;
  h->stats = *stats;
  h->reason_null = reason == NULL;
  if (reason)
    snprintf(h->reason, sizeof h->reason, "%s", reason);
  h->relay = NULL; /* freed itself */
}

/* Makes the two socket pairs of the topology above, keeps the test's ends
 * in h, and returns relayA's and relayB's bufferevents (relayB's behind the
 * plain codec if o asks), not yet relaying. */
static void make_relay_ends(harness_t *h, const relay_opts_t *o, struct bufferevent **a,
                            struct bufferevent **b) {
  int p1[2], p2[2];
  test_socketpair_nonblock(p1);
  if (o->tcp_far) {
    tcp_pair(p2);
    test_set_nonblock(p2[0]);
    test_set_nonblock(p2[1]);
  } else {
    test_socketpair_nonblock(p2);
  }
  h->app = p1[0];
  h->far = p2[1];
  *a = bufferevent_socket_new(h->loop.base, p1[1], BEV_OPT_CLOSE_ON_FREE);
  *b = bufferevent_socket_new(h->loop.base, p2[0], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(*a);
  assert_non_null(*b);
  if (o->wrap_b == WRAP_PLAIN) {
    h->plain = transport_find("plain");
    assert_non_null(h->plain);
    const kvlist_t *args = NULL;
    char err[256] = "";
    h->srv = h->plain->server_new(NULL, "/tmp", &args, err, sizeof err);
    if (!h->srv)
      fail_msg("plain server_new: %s", err);
    codec_t *c = h->plain->server_codec_new(h->srv);
    assert_non_null(c);
    *b = codec_stream_wrap(*b, c);
    assert_non_null(*b);
  } else if (o->wrap_b == WRAP_COPY) {
    codec_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->ops = &copy_codec_ops;
    *b = codec_stream_wrap(*b, c);
    assert_non_null(*b);
    assert_non_null(bufferevent_get_underlying(*b));
  }
  if (o->no_pipes)
    splice_pipe_set_max(0);
}

/* Starts the relay of the topology above. Returns h, for the scenario. */
static harness_t *start_relay(harness_t *h, const relay_opts_t *o) {
  struct bufferevent *a, *b;
  make_relay_ends(h, o, &a, &b);
  h->relay = relay_start(a, b, o->idle_s, on_done, h);
  assert_non_null(h->relay);
  assert_int_equal(relay_is_fast(h->relay), o->wrap_b != WRAP_COPY);
  return h;
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
  h->app = h->far = -1;
  h->reason_null = true;
  test_libevent_warnings_reset();
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness_t *h = *state;
  if (h->relay)
    relay_abort(h->relay);
  if (h->app >= 0)
    close(h->app);
  if (h->far >= 0)
    close(h->far);
  test_loop_free(&h->loop); /* runs the bufferevents' deferred frees */
  if (h->srv)
    h->plain->server_free(h->srv);
  free(h->up.data);
  free(h->down.data);
  free(h);
  int rc = test_libevent_warnings_check();
  /* Every relay gave its pipes back, whichever way it ended. */
  if (splice_pipe_in_use() != 0) {
    fprintf(stderr, "%zu pipe(s) still in use after the test\n", splice_pipe_in_use());
    rc = -1;
  }
  splice_pipe_set_max(SIZE_MAX);
  return rc;
}

/* After done(), a few more passes must not call it again. */
static void assert_done_once(harness_t *h) {
  test_loop_begin_wait(&h->loop, "quiet after done");
  test_loop_steps(&h->loop, 200);
  assert_int_equal(h->done_calls, 1);
}

/* Pumps until both test ends have seen their connection end. */
static void wait_both_ends_closed(harness_t *h, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  while (!(flow_closed(&h->up) && flow_closed(&h->down)))
    pump(h);
}

/* Both test ends half-close: each sees EOF (no reset), and done() reports
 * a clean finish, once, with exactly these counts. */
static void half_close_both_and_finish(harness_t *h, size_t a_to_b, size_t b_to_a) {
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  test_loop_begin_wait(&h->loop, "EOF at both ends and done() after both half-closes");
  while (!(h->up.eof && h->down.eof && h->done_calls > 0))
    pump(h);
  assert_false(h->up.reset || h->down.reset);
  assert_done_once(h);
  assert_true(h->reason_null);
  assert_int_equal(h->stats.a_to_b, a_to_b);
  assert_int_equal(h->stats.b_to_a, b_to_a);
}

/* Writes f from fd, with nobody reading at the other end, until the socket
 * has taken nothing for STALL_ITERATIONS passes. Fails if it takes all of
 * f: then nothing pushed back. */
static void write_until_blocked(harness_t *h, int fd, flow_t *f) {
  test_loop_begin_wait(&h->loop, "the writer to block");
  int idle = 0;
  while (idle < STALL_ITERATIONS) {
    size_t n = write_some(fd, f);
    test_loop_step(&h->loop);
    idle = n ? 0 : idle + 1;
    if (f->sent == f->len)
      fail_msg("all %zu bytes were accepted while nobody read: no backpressure", f->len);
  }
}

/* ---- scenarios, shared by the variants ---- */

/* Both directions at once, then both ends half-close: each end sees EOF and
 * done() reports a clean finish with exact counts. */
static void run_flow(harness_t *h, size_t len) {
  flow_init(&h->up, len, 0x1234);
  flow_init(&h->down, len, 0xBEEF);
  test_loop_begin_wait(&h->loop, "both flows delivered");
  while (h->up.recvd < len || h->down.recvd < len) {
    pump(h);
    assert_false(h->up.eof || h->down.eof || h->up.reset || h->down.reset);
    assert_int_equal(h->done_calls, 0);
  }
  /* Idle again: a spliced connection gives its pipes back. */
  test_loop_begin_wait(&h->loop, "passes while idle");
  test_loop_steps(&h->loop, 20);
  assert_int_equal(splice_pipe_in_use(), 0);
  half_close_both_and_finish(h, len, len);
}

/* app half-closes: far sees the bytes then EOF while far -> app still
 * works; then far closes and done() reports a clean finish. */
static void run_half_close(harness_t *h) {
  size_t up_len = 300000, down_len = 500000;
  flow_init(&h->up, up_len, 7);
  flow_init(&h->down, down_len, 8);
  h->down.len = 0; /* far says nothing until app has half-closed */

  test_loop_begin_wait(&h->loop, "app -> far bytes");
  while (h->up.sent < up_len)
    pump(h);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  test_loop_begin_wait(&h->loop, "far to read everything, then EOF");
  while (!h->up.eof)
    pump(h);
  assert_int_equal(h->up.recvd, up_len);
  assert_false(h->up.reset);
  assert_int_equal(h->done_calls, 0);

  h->down.len = down_len;
  test_loop_begin_wait(&h->loop, "far -> app after the half-close");
  while (h->down.recvd < down_len)
    pump(h);
  assert_false(h->down.eof);
  assert_int_equal(h->done_calls, 0);

  assert_int_equal(close(h->far), 0);
  h->far = -1;
  test_loop_begin_wait(&h->loop, "EOF at app and done() after far closed");
  while (!(h->down.eof && h->done_calls > 0))
    pump(h);
  assert_false(h->down.reset);
  assert_done_once(h);
  if (!h->reason_null)
    fail_msg("clean finish reported reason \"%s\"", h->reason);
  assert_int_equal(h->stats.a_to_b, up_len);
  assert_int_equal(h->stats.b_to_a, down_len);
}

/* One end writes 8 MiB while the other reads nothing: the writer must
 * block (EAGAIN for good) long before 8 MiB, i.e. the relay stopped
 * reading. Then the reader drains and every byte arrives intact. */
static void run_backpressure(harness_t *h, bool app_to_far) {
  size_t len = 8 * MIB;
  flow_t *f = app_to_far ? &h->up : &h->down;
  int wfd = app_to_far ? h->app : h->far;
  int rfd = app_to_far ? h->far : h->app;
  flow_init(f, len, 0xC0FFEE);

  write_until_blocked(h, wfd, f);
  /* Socket buffers on both pairs plus about 2 x RELAY_HIGH_WATER in the
   * relay: a few hundred KiB to about 1.5 MiB on Linux. */
  if (f->sent >= 4 * MIB)
    fail_msg("the writer blocked only after %zu bytes: buffering is not bounded", f->sent);
  assert_int_equal(f->recvd, 0);
  assert_int_equal(h->done_calls, 0);

  test_loop_begin_wait(&h->loop, "everything to arrive after the reader drains");
  while (f->recvd < len) {
    write_some(wfd, f);
    test_loop_step(&h->loop);
    read_some(rfd, f);
    assert_false(f->eof || f->reset);
  }
  half_close_both_and_finish(h, app_to_far ? len : 0, app_to_far ? 0 : len);
}

/* One test end closes while bytes from the other wait unread in its
 * socket, with an RST (linger_zero: SO_LINGER 0, for TCP) or plainly
 * (AF_UNIX then resets the peer by itself): done() reports a reason, and
 * the other end is closed. */
static void run_end_closes_unread(harness_t *h, bool far_closes, bool linger_zero, uint32_t seed) {
  int *closing = far_closes ? &h->far : &h->app;
  int writer = far_closes ? h->app : h->far;
  flow_t *to_closing = far_closes ? &h->up : &h->down;
  flow_t *to_other = far_closes ? &h->down : &h->up;
  flow_init(to_closing, 65536, seed);
  flow_init(to_other, 0, seed + 1);
  test_loop_begin_wait(&h->loop, "unread bytes waiting at the closing end");
  int pending = 0;
  while (pending <= 0) {
    write_some(writer, to_closing);
    test_loop_step(&h->loop);
    assert_int_equal(ioctl(*closing, FIONREAD, &pending), 0);
  }
  if (linger_zero) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(*closing, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  }
  assert_int_equal(close(*closing), 0);
  *closing = -1;
  test_loop_begin_wait(&h->loop, "done() after an end closed with unread bytes");
  while (h->done_calls == 0)
    pump(h);
  if (h->reason_null)
    fail_msg("a connection closed with unread bytes was reported as a clean finish");
  assert_true(strlen(h->reason) > 0);
  test_loop_begin_wait(&h->loop, "the other end to see its connection closed");
  while (!flow_closed(to_other))
    pump(h);
  assert_done_once(h);
}

/* relay_abort once traffic flows both ways tears everything down without
 * done(); the sockets close (both test ends see EOF or reset) and ASan sees
 * no leak. */
static void run_abort(harness_t *h, size_t len, uint32_t seed) {
  flow_init(&h->up, len, seed);
  flow_init(&h->down, len, seed + 1);
  test_loop_begin_wait(&h->loop, "some traffic before the abort");
  while (h->up.recvd < 1000 || h->down.recvd < 1000)
    pump(h);
  relay_abort(h->relay);
  h->relay = NULL;
  h->up.len = h->up.sent; /* stop writing */
  h->down.len = h->down.sent;
  wait_both_ends_closed(h, "both ends closed after the abort");
  assert_int_equal(h->done_calls, 0);
}

/* far shuts first: app reads everything then EOF, and app -> far still
 * works until app shuts too. */
static void run_half_close_from_far(harness_t *h) {
  flow_init(&h->up, 100000, 3);
  flow_init(&h->down, 100000, 4);
  test_loop_begin_wait(&h->loop, "far -> app bytes");
  while (h->down.sent < h->down.len)
    pump(h);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  test_loop_begin_wait(&h->loop, "app to read everything, then EOF");
  while (!h->down.eof)
    pump(h);
  assert_int_equal(h->down.recvd, h->down.len);
  test_loop_begin_wait(&h->loop, "app -> far after the half-close");
  while (h->up.recvd < h->up.len)
    pump(h);
  assert_int_equal(h->done_calls, 0);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  test_loop_begin_wait(&h->loop, "far EOF and done()");
  while (!(h->up.eof && h->done_calls > 0))
    pump(h);
  assert_done_once(h);
  assert_true(h->reason_null);
  assert_int_equal(h->stats.a_to_b, 100000);
  assert_int_equal(h->stats.b_to_a, 100000);
}

/* Nothing sent at all: immediate EOF from both ends is still a clean
 * finish with zero counts. */
static void run_empty_close(harness_t *h) { half_close_both_and_finish(h, 0, 0); }

/* Abort while the relay holds bytes under backpressure (in bufferevents,
 * or in pipes): its buffers are freed and its pipes given back (the
 * teardown checks), and done() is never called. */
static void run_abort_with_buffered_data(harness_t *h) {
  flow_init(&h->up, 4 * MIB, 23);
  write_until_blocked(h, h->app, &h->up);
  relay_abort(h->relay);
  h->relay = NULL;
  test_loop_begin_wait(&h->loop, "passes after the abort");
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->done_calls, 0);
}

/* With an idle timeout and no traffic, done() reports a reason. */
static void run_idle_timeout(harness_t *h) {
  flow_init(&h->up, 0, 1);
  flow_init(&h->down, 0, 2);
  test_loop_begin_wait(&h->loop, "the idle timeout");
  while (h->done_calls == 0) {
    pump(h);
    /* Don't spin through the iteration budget: the timer is seconds away. */
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_false(h->reason_null);
  assert_true(test_loop_elapsed_s(&h->loop) < 3.5);
  wait_both_ends_closed(h, "both ends closed after the timeout");
  assert_done_once(h);
}

/* app sends until the relay pushes back, then closes its socket for good
 * (not just a half-close): far still reads every byte, then EOF. The
 * relay closes only after what it holds is flushed. */
static void run_close_after_flush(harness_t *h) {
  flow_init(&h->up, 4 * MIB, 51);
  flow_init(&h->down, 0, 52);
  write_until_blocked(h, h->app, &h->up);
  assert_int_equal(close(h->app), 0);
  h->app = -1;
  h->up.len = h->up.sent;
  test_loop_begin_wait(&h->loop, "far to read everything app sent, then EOF");
  while (!flow_closed(&h->up))
    pump(h);
  assert_true(h->up.eof);
  assert_int_equal(h->up.recvd, h->up.sent);
  assert_int_equal(h->done_calls, 0);
  assert_int_equal(close(h->far), 0);
  h->far = -1;
  test_loop_begin_wait(&h->loop, "done() once far closed too");
  while (h->done_calls == 0)
    test_loop_step(&h->loop);
  assert_done_once(h);
  assert_int_equal(h->stats.a_to_b, h->up.sent);
}

/* Writes p[0..n) to fd, then runs the loop until bev has read it all
 * (buffered in its input, not relayed yet). */
static void fill_input(harness_t *h, struct bufferevent *bev, int fd, const uint8_t *p, size_t n) {
  size_t before = evbuffer_get_length(bufferevent_get_input(bev));
  size_t off = 0;
  test_write_some(fd, p, n, &off, NULL);
  assert_int_equal(off, n); /* a fresh socket takes a few KiB */
  bufferevent_enable(bev, EV_READ);
  test_loop_begin_wait(&h->loop, "bytes buffered before the relay starts");
  while (evbuffer_get_length(bufferevent_get_input(bev)) < before + n)
    test_loop_step(&h->loop);
  bufferevent_disable(bev, EV_READ);
}

/* Bytes the bufferevents hold when relay_start is called go out first and
 * in order: toward each end, what was queued in its own bufferevent's
 * output (a SOCKS reply, say), then what the other bufferevent had read
 * (an application's early data), then what arrives later. Only read
 * bytes count in the stats. */
static void run_prebuffered(harness_t *h, const relay_opts_t *o) {
  struct bufferevent *a, *b;
  make_relay_ends(h, o, &a, &b);
  size_t len = 300000;
  flow_init(&h->up, len, 31);
  flow_init(&h->down, len, 32);
  /* far is to get up[0, 900) from b's output, then up[900, 1900) that a
   * read early; app down[0, 700) from a's output, then down[700, 2200). */
  fill_input(h, a, h->app, h->up.data + 900, 1000);
  fill_input(h, b, h->far, h->down.data + 700, 1500);
  /* Queued last, right before the relay starts, as the client does with
   * its SOCKS reply: nothing ran the loop since. */
  assert_int_equal(bufferevent_write(b, h->up.data, 900), 0);
  assert_int_equal(bufferevent_write(a, h->down.data, 700), 0);
  h->up.sent = 1900;
  h->down.sent = 2200;
  h->relay = relay_start(a, b, 0, on_done, h);
  assert_non_null(h->relay);
  assert_int_equal(relay_is_fast(h->relay), o->wrap_b != WRAP_COPY);
  test_loop_begin_wait(&h->loop, "everything, in order, at both ends");
  while (h->up.recvd < len || h->down.recvd < len) {
    pump(h);
    assert_false(flow_closed(&h->up) || flow_closed(&h->down));
  }
  half_close_both_and_finish(h, len - 900, len - 700);
}

/* An error on one relay never touches another in the same loop: the
 * first one's far end closes with unread bytes while the second one moves
 * a flow each way, which must arrive whole and end cleanly. */
static void run_error_isolated(harness_t *h, const relay_opts_t *o) {
  harness_t *h2 = calloc(1, sizeof *h2);
  assert_non_null(h2);
  h2->loop = h->loop; /* the same base; its own wait counters */
  h2->app = h2->far = -1;
  h2->reason_null = true;
  start_relay(h2, o);
  start_relay(h, o);
  flow_init(&h2->up, MIB, 61);
  flow_init(&h2->down, MIB, 62);
  flow_init(&h->up, 65536, 63);
  flow_init(&h->down, 0, 64);
  test_loop_begin_wait(&h2->loop, "some of the second relay's traffic");
  while (h2->up.recvd < 100000 || h2->down.recvd < 100000)
    pump(h2);
  test_loop_begin_wait(&h->loop, "unread bytes at the first relay's far end");
  int pending = 0;
  while (pending <= 0) {
    write_some(h->app, &h->up);
    pump(h2);
    assert_int_equal(ioctl(h->far, FIONREAD, &pending), 0);
  }
  assert_int_equal(close(h->far), 0);
  h->far = -1;
  test_loop_begin_wait(&h->loop, "the first relay's done() with an error");
  while (h->done_calls == 0) {
    pump(h);
    pump(h2);
  }
  assert_false(h->reason_null);
  test_loop_begin_wait(&h2->loop, "the second relay's flows, whole");
  while (h2->up.recvd < MIB || h2->down.recvd < MIB) {
    pump(h2);
    assert_false(flow_closed(&h2->up) || flow_closed(&h2->down));
  }
  half_close_both_and_finish(h2, MIB, MIB);
  close(h2->app);
  close(h2->far);
  if (h2->srv)
    h2->plain->server_free(h2->srv);
  free(h2->up.data);
  free(h2->down.data);
  free(h2);
}

/* ---- tests ---- */

/* One test function per (scenario, variant). */
#define VARIANT_TESTS(v, opts)                                                                     \
  static void test_##v##_flow_both_ways(void **state) {                                            \
    run_flow(start_relay(*state, &opts), 4 * MIB);                                                 \
  }                                                                                                \
  static void test_##v##_half_close(void **state) { run_half_close(start_relay(*state, &opts)); }  \
  static void test_##v##_half_close_from_far(void **state) {                                       \
    run_half_close_from_far(start_relay(*state, &opts));                                           \
  }                                                                                                \
  static void test_##v##_empty_close(void **state) {                                               \
    run_empty_close(start_relay(*state, &opts));                                                   \
  }                                                                                                \
  static void test_##v##_backpressure_app_to_far(void **state) {                                   \
    run_backpressure(start_relay(*state, &opts), true);                                            \
  }                                                                                                \
  static void test_##v##_backpressure_far_to_app(void **state) {                                   \
    run_backpressure(start_relay(*state, &opts), false);                                           \
  }                                                                                                \
  static void test_##v##_far_closed_unread(void **state) {                                         \
    run_end_closes_unread(start_relay(*state, &opts), true, false, 13);                            \
  }                                                                                                \
  static void test_##v##_app_closed_unread(void **state) {                                         \
    run_end_closes_unread(start_relay(*state, &opts), false, false, 15);                           \
  }                                                                                                \
  static void test_##v##_abort(void **state) {                                                     \
    run_abort(start_relay(*state, &opts), 200000, 21);                                             \
  }                                                                                                \
  static void test_##v##_abort_with_buffered_data(void **state) {                                  \
    run_abort_with_buffered_data(start_relay(*state, &opts));                                      \
  }                                                                                                \
  static void test_##v##_prebuffered(void **state) { run_prebuffered(*state, &opts); }             \
  static void test_##v##_close_after_flush(void **state) {                                         \
    run_close_after_flush(start_relay(*state, &opts));                                             \
  }                                                                                                \
  static void test_##v##_error_isolated(void **state) { run_error_isolated(*state, &opts); }

VARIANT_TESTS(splice, splice_relay)
VARIANT_TESTS(plain, plain_relay)
VARIANT_TESTS(nopipe, nopipe_relay)
VARIANT_TESTS(codec, codec_relay)

#define VARIANT_ENTRIES(v)                                                                         \
  cmocka_unit_test_setup_teardown(test_##v##_flow_both_ways, setup, teardown),                     \
      cmocka_unit_test_setup_teardown(test_##v##_half_close, setup, teardown),                     \
      cmocka_unit_test_setup_teardown(test_##v##_half_close_from_far, setup, teardown),            \
      cmocka_unit_test_setup_teardown(test_##v##_empty_close, setup, teardown),                    \
      cmocka_unit_test_setup_teardown(test_##v##_backpressure_app_to_far, setup, teardown),        \
      cmocka_unit_test_setup_teardown(test_##v##_backpressure_far_to_app, setup, teardown),        \
      cmocka_unit_test_setup_teardown(test_##v##_far_closed_unread, setup, teardown),              \
      cmocka_unit_test_setup_teardown(test_##v##_app_closed_unread, setup, teardown),              \
      cmocka_unit_test_setup_teardown(test_##v##_abort, setup, teardown),                          \
      cmocka_unit_test_setup_teardown(test_##v##_abort_with_buffered_data, setup, teardown),       \
      cmocka_unit_test_setup_teardown(test_##v##_prebuffered, setup, teardown),                    \
      cmocka_unit_test_setup_teardown(test_##v##_close_after_flush, setup, teardown),              \
      cmocka_unit_test_setup_teardown(test_##v##_error_isolated, setup, teardown)

/* A large transfer each way, byte for byte, on the two fast variants. */
static void test_splice_large_transfer(void **state) {
  run_flow(start_relay(*state, &splice_relay), 48 * MIB);
}

static void test_nopipe_large_transfer(void **state) {
  run_flow(start_relay(*state, &nopipe_relay), 16 * MIB);
}

/* far resets the connection (RST: SO_LINGER 0 with unread data), over
 * TCP, on the fast and the general path. */
static void test_splice_far_reset_tcp(void **state) {
  const relay_opts_t o = {.tcp_far = true};
  run_end_closes_unread(start_relay(*state, &o), true, true, 11);
}

static void test_codec_far_reset_tcp(void **state) {
  const relay_opts_t o = {.wrap_b = WRAP_COPY, .tcp_far = true};
  run_end_closes_unread(start_relay(*state, &o), true, true, 17);
}

/* A whole flow over TCP on the fast path (splicing TCP differs from
 * AF_UNIX in the kernel). */
static void test_splice_flow_tcp(void **state) {
  const relay_opts_t o = {.tcp_far = true};
  run_flow(start_relay(*state, &o), 8 * MIB);
}

static void test_splice_idle_timeout(void **state) {
  const relay_opts_t o = {.idle_s = 1};
  run_idle_timeout(start_relay(*state, &o));
}

/* Traffic keeps a spliced relay alive past its idle timeout: bytes trickle
 * through for longer than the timeout, done() is not called meanwhile,
 * and it is once the trickle stops. */
static void test_splice_traffic_defers_idle_timeout(void **state) {
  const relay_opts_t o = {.idle_s = 2};
  harness_t *h = start_relay(*state, &o);
  flow_init(&h->up, 16, 71);
  flow_init(&h->down, 0, 72);
  for (size_t i = 1; i <= h->up.len; i++) {
    test_loop_begin_wait(&h->loop, "the next byte of a trickle, one every 200 ms");
    size_t len = h->up.len;
    h->up.len = i; /* one more byte may go */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
      pump(h);
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
      clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 200 ||
             h->up.recvd < i);
    h->up.len = len;
    assert_int_equal(h->done_calls, 0);
    if (test_loop_elapsed_s(&h->loop) > 5)
      break;
  }
  assert_true(test_loop_elapsed_s(&h->loop) > 2); /* longer than the timeout */
  h->up.len = h->up.sent;
  test_loop_begin_wait(&h->loop, "the idle timeout once the trickle stopped");
  while (h->done_calls == 0) {
    pump(h);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_false(h->reason_null);
  wait_both_ends_closed(h, "both ends closed after the timeout");
  assert_done_once(h);
}

/* On the general path a readable socket is emptied in big reads, not the
 * 4 KiB a bufferevent read callback takes: a bulk transfer would otherwise
 * cost an epoll_wait, an ioctl, an epoll_ctl and a readv per 4 KiB. With
 * the bytes already queued, a few loop passes move many times the cap.
 * (One pass: EVLOOP_NONBLOCK alone, as test_loop_step runs, loops until
 * nothing is active, which would hide the per-call cap.) */
static void test_codec_reads_in_big_calls(void **state) {
  harness_t *h = start_relay(*state, &codec_relay);
  size_t len = 160 * 1024;
  flow_init(&h->up, len, 41);
  write_some(h->app, &h->up);
  assert_true(h->up.sent >= 64 * 1024);
  int passes = 4;
  for (int i = 0; i < passes; i++) {
    assert_true(event_base_loop(h->loop.base, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0);
    read_some(h->far, &h->up);
  }
  if (h->up.recvd <= (size_t)passes * SOCKIO_LIBEVENT_READ_CAP)
    fail_msg("%d loop passes moved %zu of %zu queued bytes: reads of at most %d bytes", passes,
             h->up.recvd, h->up.sent, SOCKIO_LIBEVENT_READ_CAP);
}

static void test_codec_idle_timeout(void **state) {
  const relay_opts_t o = {.wrap_b = WRAP_COPY, .idle_s = 1};
  run_idle_timeout(start_relay(*state, &o));
}

static void test_abort_null(void **state) { relay_abort(NULL); /* accepted, does nothing */ }

/* The congestion controller of relayB's socket after the relay starts,
 * having set it to want first (false if the kernel refuses want). */
static bool controller_after_start(harness_t *h, const relay_opts_t *o, const char *want, char *got,
                                   size_t cap) {
  struct bufferevent *a, *b;
  make_relay_ends(h, o, &a, &b);
  int fd = bufferevent_getfd(b);
  if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, want, (socklen_t)strlen(want)) != 0) {
    bufferevent_free(a);
    bufferevent_free(b);
    close(h->app);
    close(h->far);
    h->app = h->far = -1;
    return false;
  }
  h->relay = relay_start(a, b, 0, on_done, h);
  assert_non_null(h->relay);
  memset(got, 0, cap);
  socklen_t len = (socklen_t)cap - 1;
  assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, got, &len), 0);
  relay_abort(h->relay);
  h->relay = NULL;
  close(h->app);
  close(h->far);
  h->app = h->far = -1;
  return true;
}

/* A loopback TCP socket paced by BBR is switched to Reno when relayed (see
 * relay.c: pacing a loopback hop only costs); a socket with another
 * controller keeps it. Which of the two the kernel lets a test set
 * depends on its modules and tcp_allowed_congestion_control, but one of
 * them at least must be settable. */
static void test_loopback_bbr_becomes_reno(void **state) {
  harness_t *h = *state;
  const relay_opts_t o = {.tcp_far = true};
  char cc[32];
  bool bbr = controller_after_start(h, &o, "bbr", cc, sizeof cc);
  if (bbr)
    assert_string_equal(cc, "reno");
  bool cubic = controller_after_start(h, &o, "cubic", cc, sizeof cc);
  if (cubic)
    assert_string_equal(cc, "cubic");
  if (!bbr && !cubic)
    fail_msg("the kernel lets this test set neither bbr nor cubic: nothing was checked");
}

int main(void) {
  /* The relay writes to sockets whose peer may be gone; like ptdispatch
   * itself, the test must get EPIPE, not die of SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      VARIANT_ENTRIES(splice),
      VARIANT_ENTRIES(plain),
      VARIANT_ENTRIES(nopipe),
      VARIANT_ENTRIES(codec),
      cmocka_unit_test_setup_teardown(test_splice_large_transfer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nopipe_large_transfer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_splice_far_reset_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_far_reset_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_splice_flow_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_splice_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_splice_traffic_defers_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_reads_in_big_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_null, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loopback_bbr_becomes_reno, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
