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
#include <errno.h>
#include <fcntl.h>
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

#define MIB (1024 * 1024)
#define WAIT_MAX_ITERATIONS 200000 /* per wait */
#define TEST_MAX_SECONDS 20        /* per test */
#define IO_CHUNK 65536
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
  struct event_base *base;
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
  /* loop bounds */
  struct timespec t0;
  long iterations;
  const char *waiting_for;
  flow_t up;   /* app -> far */
  flow_t down; /* far -> app */
} harness_t;

typedef struct relay_opts {
  bool codec;      /* wrap relayB with the plain codec adapter */
  bool tcp_far;    /* relayB <-> far is a TCP loopback pair, not AF_UNIX */
  unsigned idle_s; /* relay idle timeout */
} relay_opts_t;

/* libevent reports misuse (a bufferevent freed twice, ...) only as a log
 * line; count those and fail the test on any. */
static int g_ev_warnings;
static char g_ev_last_warning[256];

static void on_libevent_log(int severity, const char *msg) {
  if (severity < EVENT_LOG_WARN)
    return;
  g_ev_warnings++;
  snprintf(g_ev_last_warning, sizeof g_ev_last_warning, "%s", msg);
}

/* ---- plumbing ---- */

static void fill_pseudo_random(uint8_t *p, size_t len, uint32_t seed) {
  uint32_t x = seed ? seed : 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

static void flow_init(flow_t *f, size_t len, uint32_t seed) {
  memset(f, 0, sizeof *f);
  f->len = len;
  if (len) {
    f->data = malloc(len);
    assert_non_null(f->data);
    fill_pseudo_random(f->data, len, seed);
  }
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  assert_true(fl >= 0);
  assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

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

static double elapsed_s(const harness_t *h) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - h->t0.tv_sec) + (double)(now.tv_nsec - h->t0.tv_nsec) / 1e9;
}

static void begin_wait(harness_t *h, const char *what) {
  h->iterations = 0;
  h->waiting_for = what;
}

/* One nonblocking pass of the event loop, within the bounds. */
static void step(harness_t *h) {
  if (++h->iterations > WAIT_MAX_ITERATIONS)
    fail_msg("gave up waiting for %s after %d loop iterations (up: sent %zu got %zu; "
             "down: sent %zu got %zu; done calls %d)",
             h->waiting_for, WAIT_MAX_ITERATIONS, h->up.sent, h->up.recvd, h->down.sent,
             h->down.recvd, h->done_calls);
  if (elapsed_s(h) > TEST_MAX_SECONDS)
    fail_msg("gave up waiting for %s after %d s (up: sent %zu got %zu; down: sent %zu got "
             "%zu; done calls %d)",
             h->waiting_for, TEST_MAX_SECONDS, h->up.sent, h->up.recvd, h->down.sent,
             h->down.recvd, h->done_calls);
  assert_true(event_base_loop(h->base, EVLOOP_NONBLOCK) >= 0);
}

/* Writes what the socket takes of f's unsent bytes. Returns bytes taken. */
static size_t write_some(int fd, flow_t *f) {
  size_t total = 0;
  while (fd >= 0 && f->sent < f->len && !f->write_failed) {
    size_t n = f->len - f->sent;
    if (n > IO_CHUNK)
      n = IO_CHUNK;
    ssize_t w = write(fd, f->data + f->sent, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (errno == EPIPE || errno == ECONNRESET) {
        f->write_failed = true;
        break;
      }
      fail_msg("write: %s", strerror(errno));
    }
    f->sent += (size_t)w;
    total += (size_t)w;
  }
  return total;
}

/* Reads whatever has arrived for f and checks it against what was sent. */
static size_t read_some(int fd, flow_t *f) {
  uint8_t buf[IO_CHUNK];
  size_t total = 0;
  while (fd >= 0 && !f->eof && !f->reset) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (errno == ECONNRESET) {
        f->reset = true;
        break;
      }
      fail_msg("read: %s", strerror(errno));
    }
    if (r == 0) {
      f->eof = true;
      break;
    }
    if (f->recvd + (size_t)r > f->sent)
      fail_msg("received %zu bytes but only %zu were sent", f->recvd + (size_t)r, f->sent);
    if (memcmp(buf, f->data + f->recvd, (size_t)r) != 0)
      fail_msg("received bytes differ from sent bytes in [%zu, %zu)", f->recvd,
               f->recvd + (size_t)r);
    f->recvd += (size_t)r;
    total += (size_t)r;
  }
  return total;
}

/* Moves both flows as far as the sockets allow, then runs one loop pass. */
static void pump(harness_t *h) {
  write_some(h->app, &h->up);
  write_some(h->far, &h->down);
  step(h);
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

static void start_relay(harness_t *h, const relay_opts_t *o) {
  int p1[2], p2[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p1), 0);
  if (o->tcp_far)
    tcp_pair(p2);
  else
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
  h->app = p1[0];
  h->far = p2[1];
  for (int i = 0; i < 2; i++) {
    set_nonblock(p1[i]);
    set_nonblock(p2[i]);
  }
  struct bufferevent *a = bufferevent_socket_new(h->base, p1[1], BEV_OPT_CLOSE_ON_FREE);
  struct bufferevent *b = bufferevent_socket_new(h->base, p2[0], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(a);
  assert_non_null(b);
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
    b = codec_stream_wrap(b, c);
    assert_non_null(b);
  }
  h->relay = relay_start(a, b, o->idle_s, on_done, h);
  assert_non_null(h->relay);
}

static int setup(void **state) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return -1;
  h->base = event_base_new();
  if (!h->base) {
    free(h);
    return -1;
  }
  h->app = h->far = -1;
  h->reason_null = true;
  g_ev_warnings = 0;
  g_ev_last_warning[0] = '\0';
  clock_gettime(CLOCK_MONOTONIC, &h->t0);
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
  event_base_free(h->base); /* runs the bufferevents' deferred frees */
  if (h->srv)
    h->plain->server_free(h->srv);
  free(h->up.data);
  free(h->down.data);
  free(h);
  if (g_ev_warnings) {
    fprintf(stderr, "libevent warned %d time(s), last: \"%s\"\n", g_ev_warnings,
            g_ev_last_warning);
    return -1;
  }
  return 0;
}

/* After done(), a few more passes must not call it again. */
static void assert_done_once(harness_t *h) {
  begin_wait(h, "quiet after done");
  for (int i = 0; i < 200; i++)
    step(h);
  assert_int_equal(h->done_calls, 1);
}

/* ---- scenarios, shared by the plain and codec variants ---- */

/* Both directions at once, then both ends half-close: each end sees EOF and
 * done() reports a clean finish with exact counts. */
static void run_flow(harness_t *h, size_t len) {
  flow_init(&h->up, len, 0x1234);
  flow_init(&h->down, len, 0xBEEF);
  begin_wait(h, "both flows delivered");
  while (h->up.recvd < len || h->down.recvd < len) {
    pump(h);
    assert_false(h->up.eof || h->down.eof || h->up.reset || h->down.reset);
    assert_int_equal(h->done_calls, 0);
  }
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  begin_wait(h, "EOF at both ends and done()");
  while (!(h->up.eof && h->down.eof && h->done_calls > 0))
    pump(h);
  assert_false(h->up.reset || h->down.reset);
  assert_done_once(h);
  assert_true(h->reason_null);
  assert_int_equal(h->stats.a_to_b, len);
  assert_int_equal(h->stats.b_to_a, len);
}

/* app half-closes: far sees the bytes then EOF while far -> app still
 * works; then far closes and done() reports a clean finish. */
static void run_half_close(harness_t *h) {
  size_t up_len = 300000, down_len = 500000;
  flow_init(&h->up, up_len, 7);
  flow_init(&h->down, down_len, 8);
  h->down.len = 0; /* far says nothing until app has half-closed */

  begin_wait(h, "app -> far bytes");
  while (h->up.sent < up_len)
    pump(h);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  begin_wait(h, "far to read everything, then EOF");
  while (!h->up.eof)
    pump(h);
  assert_int_equal(h->up.recvd, up_len);
  assert_false(h->up.reset);
  assert_int_equal(h->done_calls, 0);

  h->down.len = down_len;
  begin_wait(h, "far -> app after the half-close");
  while (h->down.recvd < down_len)
    pump(h);
  assert_false(h->down.eof);
  assert_int_equal(h->done_calls, 0);

  assert_int_equal(close(h->far), 0);
  h->far = -1;
  begin_wait(h, "EOF at app and done() after far closed");
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

  begin_wait(h, "the writer to block");
  int idle = 0;
  while (idle < STALL_ITERATIONS) {
    size_t n = write_some(wfd, f);
    step(h);
    idle = n ? 0 : idle + 1;
    if (f->sent == len)
      fail_msg("all %zu bytes were accepted while nobody read: no backpressure", len);
  }
  /* Socket buffers on both pairs plus about 2 x RELAY_HIGH_WATER in the
   * relay: a few hundred KiB to about 1.5 MiB on Linux. */
  if (f->sent >= 4 * MIB)
    fail_msg("the writer blocked only after %zu bytes: buffering is not bounded", f->sent);
  assert_int_equal(f->recvd, 0);
  assert_int_equal(h->done_calls, 0);

  begin_wait(h, "everything to arrive after the reader drains");
  while (f->recvd < len) {
    write_some(wfd, f);
    step(h);
    read_some(rfd, f);
    assert_false(f->eof || f->reset);
  }
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  begin_wait(h, "done() after both half-closes");
  while (!(h->up.eof && h->down.eof && h->done_calls > 0))
    pump(h);
  assert_done_once(h);
  assert_true(h->reason_null);
  assert_int_equal(h->stats.a_to_b, app_to_far ? len : 0);
  assert_int_equal(h->stats.b_to_a, app_to_far ? 0 : len);
}

/* ---- tests ---- */

static void test_flow_both_ways(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  run_flow(h, 4 * MIB);
}

static void test_half_close(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  run_half_close(h);
}

/* Half-close the other way round: far shuts first. */
static void test_half_close_from_far(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  flow_init(&h->up, 100000, 3);
  flow_init(&h->down, 100000, 4);
  begin_wait(h, "far -> app bytes");
  while (h->down.sent < h->down.len)
    pump(h);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  begin_wait(h, "app to read everything, then EOF");
  while (!h->down.eof)
    pump(h);
  assert_int_equal(h->down.recvd, h->down.len);
  begin_wait(h, "app -> far after the half-close");
  while (h->up.recvd < h->up.len)
    pump(h);
  assert_int_equal(h->done_calls, 0);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  begin_wait(h, "far EOF and done()");
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
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  begin_wait(h, "done() with nothing relayed");
  while (!(h->up.eof && h->down.eof && h->done_calls > 0))
    pump(h);
  assert_done_once(h);
  assert_true(h->reason_null);
  assert_int_equal(h->stats.a_to_b, 0);
  assert_int_equal(h->stats.b_to_a, 0);
}

static void test_backpressure_app_to_far(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  run_backpressure(h, true);
}

static void test_backpressure_far_to_app(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  run_backpressure(h, false);
}

/* far resets the connection (RST: SO_LINGER 0 with unread data): done()
 * reports a reason, and app is closed. */
static void test_error_far_reset(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.tcp_far = true};
  start_relay(h, &o);
  flow_init(&h->up, 65536, 11);
  flow_init(&h->down, 0, 12);
  begin_wait(h, "unread bytes waiting at far");
  int pending = 0;
  while (pending <= 0) {
    write_some(h->app, &h->up);
    step(h);
    assert_int_equal(ioctl(h->far, FIONREAD, &pending), 0);
  }
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  assert_int_equal(setsockopt(h->far, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  assert_int_equal(close(h->far), 0);
  h->far = -1;
  begin_wait(h, "done() after the reset");
  while (h->done_calls == 0)
    pump(h);
  if (h->reason_null)
    fail_msg("a reset connection was reported as a clean finish");
  assert_true(strlen(h->reason) > 0);
  begin_wait(h, "app to see its connection closed");
  while (!(h->down.eof || h->down.reset))
    pump(h);
  assert_done_once(h);
}

/* The same over AF_UNIX: closing with unread data gives the peer
 * ECONNRESET. */
static void test_error_far_closed_unread_unix(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  flow_init(&h->up, 65536, 13);
  flow_init(&h->down, 0, 14);
  begin_wait(h, "unread bytes waiting at far");
  int pending = 0;
  while (pending <= 0) {
    write_some(h->app, &h->up);
    step(h);
    assert_int_equal(ioctl(h->far, FIONREAD, &pending), 0);
  }
  assert_int_equal(close(h->far), 0);
  h->far = -1;
  begin_wait(h, "done() after the abrupt close");
  while (h->done_calls == 0)
    pump(h);
  if (h->reason_null)
    fail_msg("an abruptly closed connection was reported as a clean finish");
  begin_wait(h, "app to see its connection closed");
  while (!(h->down.eof || h->down.reset))
    pump(h);
  assert_done_once(h);
}

/* relay_abort tears everything down without done(); the sockets close
 * (both test ends see EOF or reset) and ASan sees no leak. */
static void test_abort(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  flow_init(&h->up, 200000, 21);
  flow_init(&h->down, 200000, 22);
  begin_wait(h, "some traffic before the abort");
  while (h->up.recvd < 1000 || h->down.recvd < 1000)
    pump(h);
  relay_abort(h->relay);
  h->relay = NULL;
  begin_wait(h, "both ends closed after the abort");
  h->up.len = h->up.sent; /* stop writing */
  h->down.len = h->down.sent;
  while (!((h->up.eof || h->up.reset) && (h->down.eof || h->down.reset)))
    pump(h);
  assert_int_equal(h->done_calls, 0);
  relay_abort(NULL); /* accepted, does nothing */
}

/* Abort while the relay holds buffered bytes under backpressure: its
 * buffers must be freed too. */
static void test_abort_with_buffered_data(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {0};
  start_relay(h, &o);
  flow_init(&h->up, 4 * MIB, 23);
  begin_wait(h, "the writer to block");
  int idle = 0;
  while (idle < STALL_ITERATIONS) {
    size_t n = write_some(h->app, &h->up);
    step(h);
    idle = n ? 0 : idle + 1;
  }
  relay_abort(h->relay);
  h->relay = NULL;
  begin_wait(h, "passes after the abort");
  for (int i = 0; i < 100; i++)
    step(h);
  assert_int_equal(h->done_calls, 0);
}

/* Bytes already in a bufferevent's input when relay_start is called are
 * relayed too. */
static void test_prebuffered_input(void **state) {
  harness_t *h = *state;
  int p1[2], p2[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p1), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p2), 0);
  h->app = p1[0];
  h->far = p2[1];
  for (int i = 0; i < 2; i++) {
    set_nonblock(p1[i]);
    set_nonblock(p2[i]);
  }
  struct bufferevent *a = bufferevent_socket_new(h->base, p1[1], BEV_OPT_CLOSE_ON_FREE);
  struct bufferevent *b = bufferevent_socket_new(h->base, p2[0], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(a);
  assert_non_null(b);
  flow_init(&h->up, 1000, 31);
  flow_init(&h->down, 0, 32);
  write_some(h->app, &h->up);
  assert_int_equal(h->up.sent, 1000);
  bufferevent_enable(a, EV_READ);
  begin_wait(h, "bytes buffered before the relay starts");
  while (evbuffer_get_length(bufferevent_get_input(a)) < 1000)
    step(h);
  h->relay = relay_start(a, b, 0, on_done, h);
  assert_non_null(h->relay);
  begin_wait(h, "pre-buffered bytes at far");
  while (h->up.recvd < 1000)
    pump(h);
  assert_int_equal(shutdown(h->app, SHUT_WR), 0);
  assert_int_equal(shutdown(h->far, SHUT_WR), 0);
  begin_wait(h, "done()");
  while (h->done_calls == 0)
    pump(h);
  assert_int_equal(h->stats.a_to_b, 1000);
}

/* With an idle timeout and no traffic, done() reports a reason. */
static void test_idle_timeout(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.idle_s = 1};
  start_relay(h, &o);
  flow_init(&h->up, 0, 1);
  flow_init(&h->down, 0, 2);
  begin_wait(h, "the idle timeout");
  while (h->done_calls == 0) {
    pump(h);
    /* Don't spin through the iteration budget: the timer is seconds away. */
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_false(h->reason_null);
  assert_true(elapsed_s(h) < 3.5);
  begin_wait(h, "both ends closed after the timeout");
  while (!((h->up.eof || h->up.reset) && (h->down.eof || h->down.reset)))
    pump(h);
  assert_done_once(h);
}

/* ---- the codec adapter path (plain codec on relayB) ---- */

static void test_codec_flow_both_ways(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.codec = true};
  start_relay(h, &o);
  run_flow(h, 4 * MIB);
}

static void test_codec_half_close(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.codec = true};
  start_relay(h, &o);
  run_half_close(h);
}

static void test_codec_backpressure_app_to_far(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.codec = true};
  start_relay(h, &o);
  run_backpressure(h, true);
}

static void test_codec_backpressure_far_to_app(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.codec = true};
  start_relay(h, &o);
  run_backpressure(h, false);
}

static void test_codec_abort(void **state) {
  harness_t *h = *state;
  relay_opts_t o = {.codec = true};
  start_relay(h, &o);
  flow_init(&h->up, 100000, 41);
  flow_init(&h->down, 100000, 42);
  begin_wait(h, "some traffic before the abort");
  while (h->up.recvd < 1000 || h->down.recvd < 1000)
    pump(h);
  relay_abort(h->relay);
  h->relay = NULL;
  h->up.len = h->up.sent;
  h->down.len = h->down.sent;
  begin_wait(h, "both ends closed after the abort");
  while (!((h->up.eof || h->up.reset) && (h->down.eof || h->down.reset)))
    pump(h);
  assert_int_equal(h->done_calls, 0);
}

int main(void) {
  /* The relay writes to sockets whose peer may be gone; like ptdispatch
   * itself, the test must get EPIPE, not die of SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(on_libevent_log);
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
