/* test_relay: the relay core over real sockets.
 *
 * Topology of every test:
 *
 *   test's app fd <-> relayA fd ==relay== relayB fd <-> test's far fd
 *
 * The two middle fds are wrapped in socket bufferevents (close-on-free) and
 * handed to relay_start; in the codec variants relayB's bufferevent is
 * wrapped again by codec_stream_wrap() with the plain transport's codec, so
 * the adapter path is exercised too. The test drives the event loop itself
 * (EVLOOP_NONBLOCK, one pass per step) while reading and writing its own two
 * ends with nonblocking calls. Every wait is bounded by an iteration count
 * and by a wall-clock limit per test, and fails with the name of what it was
 * waiting for. Streams are pseudo-random bytes compared as they arrive. */
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
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net/relay.h"
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

typedef struct relay_opts {
  bool codec;      /* wrap relayB with the plain codec adapter */
  bool tcp_far;    /* relayB <-> far is a TCP loopback pair, not AF_UNIX */
  unsigned idle_s; /* relay idle timeout */
} relay_opts_t;

/* The two relays every scenario runs over: socket bufferevents on both
 * sides, and the same with relayB behind the plain codec. */
static const relay_opts_t socket_relay = {0};
static const relay_opts_t codec_relay = {.codec = true};

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
  if (o->codec) {
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
  }
}

/* Starts the relay of the topology above. Returns h, for the scenario. */
static harness_t *start_relay(harness_t *h, const relay_opts_t *o) {
  struct bufferevent *a, *b;
  make_relay_ends(h, o, &a, &b);
  h->relay = relay_start(a, b, o->idle_s, on_done, h);
  assert_non_null(h->relay);
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
  return test_libevent_warnings_check();
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

/* ---- scenarios, shared by the plain and codec variants ---- */

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

/* far closes while bytes from app wait unread in its socket, with an RST
 * (linger_zero: SO_LINGER 0, for TCP) or plainly (AF_UNIX then resets the
 * peer by itself): done() reports a reason, and app is closed. */
static void run_far_closes_unread(harness_t *h, bool linger_zero, uint32_t seed) {
  flow_init(&h->up, 65536, seed);
  flow_init(&h->down, 0, seed + 1);
  test_loop_begin_wait(&h->loop, "unread bytes waiting at far");
  int pending = 0;
  while (pending <= 0) {
    write_some(h->app, &h->up);
    test_loop_step(&h->loop);
    assert_int_equal(ioctl(h->far, FIONREAD, &pending), 0);
  }
  if (linger_zero) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(h->far, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  }
  assert_int_equal(close(h->far), 0);
  h->far = -1;
  test_loop_begin_wait(&h->loop, "done() after far closed with unread bytes");
  while (h->done_calls == 0)
    pump(h);
  if (h->reason_null)
    fail_msg("a connection closed with unread bytes was reported as a clean finish");
  assert_true(strlen(h->reason) > 0);
  test_loop_begin_wait(&h->loop, "app to see its connection closed");
  while (!flow_closed(&h->down))
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

/* ---- tests ---- */

static void test_flow_both_ways(void **state) {
  run_flow(start_relay(*state, &socket_relay), 4 * MIB);
}

static void test_half_close(void **state) {
  run_half_close(start_relay(*state, &socket_relay));
}

/* Half-close the other way round: far shuts first. */
static void test_half_close_from_far(void **state) {
  harness_t *h = start_relay(*state, &socket_relay);
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
static void test_empty_close(void **state) {
  half_close_both_and_finish(start_relay(*state, &socket_relay), 0, 0);
}

static void test_backpressure_app_to_far(void **state) {
  run_backpressure(start_relay(*state, &socket_relay), true);
}

static void test_backpressure_far_to_app(void **state) {
  run_backpressure(start_relay(*state, &socket_relay), false);
}

/* far resets the connection (RST: SO_LINGER 0 with unread data). */
static void test_error_far_reset(void **state) {
  const relay_opts_t tcp_far = {.tcp_far = true};
  run_far_closes_unread(start_relay(*state, &tcp_far), true, 11);
}

/* The same over AF_UNIX: closing with unread data gives the peer
 * ECONNRESET. */
static void test_error_far_closed_unread_unix(void **state) {
  run_far_closes_unread(start_relay(*state, &socket_relay), false, 13);
}

static void test_abort(void **state) {
  run_abort(start_relay(*state, &socket_relay), 200000, 21);
  relay_abort(NULL); /* accepted, does nothing */
}

/* Abort while the relay holds buffered bytes under backpressure: its
 * buffers must be freed too. */
static void test_abort_with_buffered_data(void **state) {
  harness_t *h = start_relay(*state, &socket_relay);
  flow_init(&h->up, 4 * MIB, 23);
  write_until_blocked(h, h->app, &h->up);
  relay_abort(h->relay);
  h->relay = NULL;
  test_loop_begin_wait(&h->loop, "passes after the abort");
  test_loop_steps(&h->loop, 100);
  assert_int_equal(h->done_calls, 0);
}

/* Bytes already in a bufferevent's input when relay_start is called are
 * relayed too. */
static void test_prebuffered_input(void **state) {
  harness_t *h = *state;
  struct bufferevent *a, *b;
  make_relay_ends(h, &socket_relay, &a, &b);
  flow_init(&h->up, 1000, 31);
  flow_init(&h->down, 0, 32);
  write_some(h->app, &h->up);
  assert_int_equal(h->up.sent, 1000);
  bufferevent_enable(a, EV_READ);
  test_loop_begin_wait(&h->loop, "bytes buffered before the relay starts");
  while (evbuffer_get_length(bufferevent_get_input(a)) < 1000)
    test_loop_step(&h->loop);
  h->relay = relay_start(a, b, 0, on_done, h);
  assert_non_null(h->relay);
  test_loop_begin_wait(&h->loop, "pre-buffered bytes at far");
  while (h->up.recvd < 1000)
    pump(h);
  half_close_both_and_finish(h, 1000, 0);
}

/* With an idle timeout and no traffic, done() reports a reason. */
static void test_idle_timeout(void **state) {
  const relay_opts_t idle_1s = {.idle_s = 1};
  harness_t *h = start_relay(*state, &idle_1s);
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

/* ---- the codec adapter path (plain codec on relayB) ---- */

static void test_codec_flow_both_ways(void **state) {
  run_flow(start_relay(*state, &codec_relay), 4 * MIB);
}

static void test_codec_half_close(void **state) {
  run_half_close(start_relay(*state, &codec_relay));
}

static void test_codec_backpressure_app_to_far(void **state) {
  run_backpressure(start_relay(*state, &codec_relay), true);
}

static void test_codec_backpressure_far_to_app(void **state) {
  run_backpressure(start_relay(*state, &codec_relay), false);
}

static void test_codec_abort(void **state) {
  run_abort(start_relay(*state, &codec_relay), 100000, 41);
}

int main(void) {
  /* The relay writes to sockets whose peer may be gone; like ptdispatch
   * itself, the test must get EPIPE, not die of SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(test_libevent_log);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_flow_both_ways, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_close_from_far, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backpressure_app_to_far, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backpressure_far_to_app, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_far_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_far_closed_unread_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_with_buffered_data, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prebuffered_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_flow_both_ways, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_half_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_backpressure_app_to_far, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_backpressure_far_to_app, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_abort, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
