/* test_obfs4_codec: obfs4's per-connection codec (obfs4_codec.c) run the
 * way the client and server roles run it, through codec_stream_wrap().
 *
 * Each codec's wire is one end of an AF_UNIX socketpair. The test holds
 * the other end as a "tap" (a bufferevent of its own) that records every
 * byte the codec puts on the wire, with the loop pass that brought it,
 * and either forwards it to the other codec's tap or keeps it for the
 * test to inspect, alter and deliver by hand. So the handshake can be cut
 * into pieces, a reply corrupted, a request replayed, and each burst's
 * size on the wire measured.
 *
 * The server codecs share one obfs4_server_ctx_t built as obfs4.c builds
 * it (state.h, replay.h, probdist.h), from a fixed identity and DRBG seed.
 * The seed is one whose packet length distribution has 55 values, so a
 * client still shaping its bursts with its own random distribution would
 * match the server's about once in 13 bursts, and whose inter-arrival
 * distribution has no zero delay, so paced chunks never leave together.
 *
 * What this file does not do: the handshake, framing, DRBG and
 * distribution arithmetic have their own tests (test_obfs4_*.c); here they
 * are only used, to build the server context and to play a hand-made
 * client that reads the server's first frames.
 *
 * The loop runs one EVLOOP_ONCE pass at a time with a short guard timer
 * (so a pacing codec's timers wake it and no pass blocks for long), each
 * pass counted and timed by testutil's test_loop. */
#define PROBDIST_PRIVATE /* probdist_shared_cached */
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

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "lib/kvlist.h"
#include "transports/obfs4/framing.h"
#include "transports/obfs4/handshake.h"
#include "transports/obfs4/obfs4_codec.h"
#include "transports/obfs4/probdist.h"
#include "lib/replay.h"
#include "transports/obfs4/state.h"
#include "transports/transport.h"

#include "testutil.h"

#define WAIT_MAX_ITERATIONS 20000
#define TEST_MAX_SECONDS 20
/* Longest one loop pass waits when nothing happens. */
#define GUARD_US 5000
/* Passes in a row with nothing in flight before the wire counts as quiet. */
#define QUIET_PASSES 3
#define MAX_ENDS 16
#define MIB (1024 * 1024)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The PRNG seed frame that follows the server's reply: frame overhead,
 * packet header, 24 seed bytes. */
#define SEED_FRAME_LEN (OBFS4_HEADER_LEN + OBFS4_SEED_PACKET_LEN)
#define SHORTEST_REQUEST (OBFS4_CLIENT_HS_MIN_LEN + OBFS4_CLIENT_MIN_PAD)

#define NODE_ID_HEX "0102030405060708090a0b0c0d0e0f1011121314"
#define PRIVATE_KEY_HEX "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define DRBG_SEED_HEX "04142434445464748494a4b4c4d4e4f40414243444546474"

/* ---- harness ---- */

typedef struct bytes {
  uint8_t *p;
  size_t len, cap;
} bytes_t;

/* One read of the tap that brought bytes: when, and where the recording
 * stood after it. */
typedef struct arrival {
  long pass;
  struct timespec t;
  size_t end;
} arrival_t;

typedef struct harness harness_t;

/* The test's end of one codec's wire. */
typedef struct tap {
  harness_t *h;
  int fd;
  struct bufferevent *bev;
  struct tap *peer; /* the other codec's tap, for forwarding */
  bool forward;     /* pass what is read on to peer (else only record it) */
  size_t fwd_off;   /* rec bytes already forwarded */
  bytes_t rec;      /* every byte the codec sent, in order */
  arrival_t *arrivals;
  size_t n_arrivals, cap_arrivals;
  bool eof, reset;
  bool shut_pending, shut; /* forwarding the codec peer's EOF */
} tap_t;

/* One codec stream as its owner sees it. */
typedef struct end {
  struct bufferevent *plain; /* NULL once the test freed it */
  struct bufferevent *wire;  /* borrowed: the stream owns it */
  codec_t *codec;            /* borrowed: the stream owns it */
  int wire_fd;
  tap_t tap;
  struct evbuffer *got; /* plaintext delivered */
  int connected, errors, eofs;
  size_t got_at_eof;
} end_t;

struct harness {
  test_loop_t loop;
  struct event *guard;
  long pass;
  obfs4_server_ctx_t ctx;
  bool ctx_set;
  end_t ends[MAX_ENDS];
  int n_ends;
};

static void bytes_add(bytes_t *b, const uint8_t *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    b->p = realloc(b->p, cap);
    assert_non_null(b->p);
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void on_guard(evutil_socket_t fd, short what, void *arg) {}

/* One pass: waits for something to happen (at most GUARD_US), runs it,
 * then testutil's bounded nonblocking pass. */
static void step(harness_t *h) {
  struct timeval tv = {0, GUARD_US};
  assert_int_equal(evtimer_add(h->guard, &tv), 0);
  assert_true(event_base_loop(h->loop.base, EVLOOP_ONCE) >= 0);
  test_loop_step(&h->loop);
  h->pass++;
}

#define WAIT_FOR(h, cond, what)                                                                    \
  do {                                                                                             \
    test_loop_begin_wait(&(h)->loop, (what));                                                      \
    while (!(cond))                                                                                \
      step(h);                                                                                     \
  } while (0)

static void settle(harness_t *h, int passes, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  for (int i = 0; i < passes; i++)
    step(h);
}

static void describe(const void *arg, char *out, size_t cap) {
  const harness_t *h = arg;
  size_t used = 0;
  for (int i = 0; i < h->n_ends && used < cap; i++) {
    const end_t *e = &h->ends[i];
    int n = snprintf(out + used, cap - used,
                     "; end %d: connected %d errors %d eofs %d got %zu sent %zu held %zu", i,
                     e->connected, e->errors, e->eofs, evbuffer_get_length(e->got), e->tap.rec.len,
                     e->plain ? codec_stream_held(e->plain) : 0);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}

static void tap_maybe_shut(tap_t *t) {
  if (!t->shut_pending || t->shut || evbuffer_get_length(bufferevent_get_output(t->bev)) != 0)
    return;
  t->shut = true;
  /* The codec's side may already be gone; nothing to assert then. */
  (void)shutdown(t->fd, SHUT_WR);
}

/* Passes on what the tap has not forwarded yet, and its codec's EOF once
 * everything before it went. */
static void tap_forward(tap_t *t) {
  if (!t->forward || !t->peer)
    return;
  if (t->fwd_off < t->rec.len) {
    assert_int_equal(
        bufferevent_write(t->peer->bev, t->rec.p + t->fwd_off, t->rec.len - t->fwd_off), 0);
    t->fwd_off = t->rec.len;
  }
  if (t->eof) {
    t->peer->shut_pending = true;
    tap_maybe_shut(t->peer);
  }
}

static void tap_read_cb(struct bufferevent *bev, void *arg) {
  tap_t *t = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(in);
  if (n == 0)
    return;
  bytes_add(&t->rec, evbuffer_pullup(in, -1), n);
  evbuffer_drain(in, n);
  if (t->n_arrivals == t->cap_arrivals) {
    t->cap_arrivals = t->cap_arrivals ? 2 * t->cap_arrivals : 64;
    t->arrivals = realloc(t->arrivals, t->cap_arrivals * sizeof *t->arrivals);
    assert_non_null(t->arrivals);
  }
  arrival_t *a = &t->arrivals[t->n_arrivals++];
  a->pass = t->h->pass;
  clock_gettime(CLOCK_MONOTONIC, &a->t);
  a->end = t->rec.len;
  tap_forward(t);
}

static void tap_write_cb(struct bufferevent *bev, void *arg) { tap_maybe_shut(arg); }

static void tap_event_cb(struct bufferevent *bev, short what, void *arg) {
  tap_t *t = arg;
  if (what & BEV_EVENT_EOF) {
    t->eof = true;
    tap_forward(t);
  }
  if (what & BEV_EVENT_ERROR)
    t->reset = true;
}

/* The test speaks on a codec's wire itself. */
static void tap_send(tap_t *t, const uint8_t *p, size_t n) {
  assert_int_equal(bufferevent_write(t->bev, p, n), 0);
}

static void end_read_cb(struct bufferevent *bev, void *arg) {
  end_t *e = arg;
  evbuffer_add_buffer(e->got, bufferevent_get_input(bev));
}

static void end_event_cb(struct bufferevent *bev, short what, void *arg) {
  end_t *e = arg;
  evbuffer_add_buffer(e->got, bufferevent_get_input(bev));
  if (what & BEV_EVENT_CONNECTED)
    e->connected++;
  if (what & BEV_EVENT_ERROR)
    e->errors++;
  if (what & BEV_EVENT_EOF) {
    e->eofs++;
    e->got_at_eof = evbuffer_get_length(e->got);
  }
}

/* Wraps codec over a fresh socketpair; the tap starts out holding. */
static end_t *end_new(harness_t *h, codec_t *codec) {
  assert_non_null(codec);
  assert_true(h->n_ends < MAX_ENDS);
  end_t *e = &h->ends[h->n_ends++];
  e->got = evbuffer_new();
  assert_non_null(e->got);
  int p[2];
  test_socketpair_nonblock(p);
  e->tap.h = h;
  e->tap.fd = p[0];
  e->tap.bev = bufferevent_socket_new(h->loop.base, p[0], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(e->tap.bev);
  bufferevent_setcb(e->tap.bev, tap_read_cb, tap_write_cb, tap_event_cb, &e->tap);
  assert_int_equal(bufferevent_enable(e->tap.bev, EV_READ | EV_WRITE), 0);
  e->wire_fd = p[1];
  e->wire = bufferevent_socket_new(h->loop.base, p[1], BEV_OPT_CLOSE_ON_FREE);
  assert_non_null(e->wire);
  e->codec = codec;
  e->plain = codec_stream_wrap(e->wire, codec);
  assert_non_null(e->plain);
  assert_ptr_equal(bufferevent_get_underlying(e->plain), e->wire);
  bufferevent_setcb(e->plain, end_read_cb, NULL, end_event_cb, e);
  assert_int_equal(bufferevent_enable(e->plain, EV_READ | EV_WRITE), 0);
  return e;
}

static end_t *server_end(harness_t *h) {
  assert_true(h->ctx_set);
  return end_new(h, obfs4_server_codec_new(&h->ctx));
}

static end_t *client_end(harness_t *h, obfs4_iat_mode_t iat) {
  assert_true(h->ctx_set);
  return end_new(h, obfs4_client_codec_new(&h->ctx.state.id.pub, iat));
}

static void link_taps(end_t *c, end_t *s, bool forward_c, bool forward_s) {
  c->tap.peer = &s->tap;
  s->tap.peer = &c->tap;
  c->tap.forward = forward_c;
  s->tap.forward = forward_s;
}

static void end_free_stream(end_t *e) {
  bufferevent_free(e->plain);
  e->plain = NULL;
}

static bool fd_has_unread(int fd) {
  int n = 0;
  assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
  return n > 0;
}

/* Nothing of e's in flight: no byte queued or unread on either side of
 * its wire, and its codec holds nothing back. */
static bool end_quiet(const end_t *e) {
  if (fd_has_unread(e->tap.fd) || evbuffer_get_length(bufferevent_get_output(e->tap.bev)) != 0)
    return false;
  if (!e->plain)
    return true; /* its socket is closed (and its number maybe reused) */
  return !fd_has_unread(e->wire_fd) && evbuffer_get_length(bufferevent_get_output(e->wire)) == 0 &&
         codec_stream_held(e->plain) == 0;
}

static bool all_quiet(const harness_t *h) {
  for (int i = 0; i < h->n_ends; i++)
    if (!end_quiet(&h->ends[i]))
      return false;
  return true;
}

/* Runs the loop until nothing is in flight for QUIET_PASSES passes: every
 * byte any codec wrote has reached its tap and been forwarded, every
 * byte sent to a codec has been read by it. */
static void wait_quiet(harness_t *h, const char *what) {
  test_loop_begin_wait(&h->loop, what);
  for (int calm = 0; calm < QUIET_PASSES;) {
    step(h);
    calm = all_quiet(h) ? calm + 1 : 0;
  }
}

/* The bridge's identity from options, as a server given node-id,
 * private-key and drbg-seed loads it (no state directory then). */
static void ctx_load_state(harness_t *h, obfs4_iat_mode_t iat) {
  kvlist_t *opts = kvlist_new();
  char iat_text[2] = {(char)('0' + iat), '\0'};
  char err[256] = "";
  assert_non_null(opts);
  assert_int_equal(kvlist_add(opts, "node-id", NODE_ID_HEX), 0);
  assert_int_equal(kvlist_add(opts, "private-key", PRIVATE_KEY_HEX), 0);
  assert_int_equal(kvlist_add(opts, "drbg-seed", DRBG_SEED_HEX), 0);
  assert_int_equal(kvlist_add(opts, "iat-mode", iat_text), 0);
  int rc = obfs4_state_load(&h->ctx.state, opts, NULL, err, sizeof err);
  kvlist_free(opts);
  if (rc != 0)
    fail_msg("obfs4_state_load: %s", err);
}

/* The listener's shared context, as obfs4.c derives it from the state. */
static void ctx_init(harness_t *h, obfs4_iat_mode_t iat) {
  assert_false(h->ctx_set);
  ctx_load_state(h, iat);
  assert_int_equal(h->ctx.state.iat_mode, iat);
  h->ctx.replay = replay_filter_new(OBFS4_REPLAY_MAX_ENTRIES, OBFS4_REPLAY_TTL_S);
  assert_non_null(h->ctx.replay);
  probdist_init(&h->ctx.len_dist, h->ctx.state.drbg_seed, 0, OBFS4_MAX_SEGMENT_LEN, false);
  uint8_t iat_seed[DRBG_SEED_LEN];
  obfs4_iat_seed(iat_seed, h->ctx.state.drbg_seed);
  probdist_init(&h->ctx.iat_dist, iat_seed, 0, 100, false);
  h->ctx_set = true;
  /* The premises the file's header states about this seed. */
  assert_int_equal(h->ctx.len_dist.n, 55);
  for (int i = 0; i < h->ctx.iat_dist.n; i++)
    assert_true(h->ctx.iat_dist.min + h->ctx.iat_dist.values[i] > 0);
}

static int setup(void **state) {
  harness_t *h = calloc(1, sizeof *h);
  if (!h)
    return -1;
  if (test_loop_init(&h->loop, WAIT_MAX_ITERATIONS, TEST_MAX_SECONDS) != 0) {
    free(h);
    return -1;
  }
  h->loop.describe = describe;
  h->loop.describe_arg = h;
  h->guard = evtimer_new(h->loop.base, on_guard, NULL);
  if (!h->guard)
    return -1;
  test_libevent_warnings_reset();
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness_t *h = *state;
  for (int i = 0; i < h->n_ends; i++) {
    end_t *e = &h->ends[i];
    if (e->plain)
      bufferevent_free(e->plain);
    bufferevent_free(e->tap.bev);
  }
  event_free(h->guard);
  test_loop_free(&h->loop); /* runs the deferred frees */
  for (int i = 0; i < h->n_ends; i++) {
    end_t *e = &h->ends[i];
    evbuffer_free(e->got);
    free(e->tap.rec.p);
    free(e->tap.arrivals);
  }
  /* Shared tables no stream holds any more: nothing left behind. */
  probdist_shared_flush();
  if (h->ctx_set) {
    replay_filter_free(h->ctx.replay);
    obfs4_server_state_clear(&h->ctx.state);
  }
  int rc = test_libevent_warnings_check();
  free(h);
  return rc;
}

/* A client and a server whose taps forward both ways, handshake done. */
static void connected_pair(harness_t *h, obfs4_iat_mode_t iat, end_t **c, end_t **s) {
  *s = server_end(h);
  *c = client_end(h, iat);
  link_taps(*c, *s, true, true);
  WAIT_FOR(h, (*c)->connected && (*s)->connected, "both handshakes done");
  /* The seed frame that came with the reply has been read too. */
  wait_quiet(h, "the handshake's bytes delivered");
  assert_int_equal((*c)->connected, 1);
  assert_int_equal((*s)->connected, 1);
  assert_int_equal((*c)->errors + (*s)->errors, 0);
}

/* ---- checks ---- */

static void assert_got(end_t *e, const void *want, size_t len) {
  assert_int_equal(evbuffer_get_length(e->got), len);
  if (len > 0)
    assert_memory_equal(evbuffer_pullup(e->got, -1), want, len);
}

/* A server end that never answered: no byte on its wire, no event but
 * (later) EOF, no plaintext. */
static void assert_silent(const end_t *s) {
  assert_int_equal(s->tap.rec.len, 0);
  assert_int_equal(s->connected, 0);
  assert_int_equal(s->errors, 0);
  assert_int_equal(evbuffer_get_length(s->got), 0);
}

/* Wire bytes of n plaintext bytes framed as obfs4 does: full packets of
 * OBFS4_MAX_PACKET_PAYLOAD, the last one shorter. */
static size_t framed_len(size_t n) {
  size_t frames = (n + OBFS4_MAX_PACKET_PAYLOAD - 1) / OBFS4_MAX_PACKET_PAYLOAD;
  return n + frames * OBFS4_HEADER_LEN;
}

/* A burst of len wire bytes padded toward target (obfs4proxy's padBurst):
 * one padding frame, or a full one and a short one when the gap cannot
 * hold a frame header. */
static size_t padded_len(size_t len, size_t target) {
  size_t tail = len % OBFS4_MAX_SEGMENT_LEN;
  size_t pad = target >= tail ? target - tail : OBFS4_MAX_SEGMENT_LEN - tail + target;
  if (pad > OBFS4_HEADER_LEN)
    return len + pad;
  if (pad > 0)
    return len + OBFS4_MAX_SEGMENT_LEN + OBFS4_HEADER_LEN + pad;
  return len;
}

/* The wire length of one burst of n plaintext bytes is what padding to
 * one of the distribution's values gives: whole frames, and a length mod
 * 1448 the distribution produces (or, padBurst's corner, 21 past it). */
static void assert_burst_shaped(const probdist_t *d, size_t n, size_t wire) {
  size_t data = framed_len(n);
  for (int i = 0; i < d->n; i++)
    if (padded_len(data, (size_t)(d->min + d->values[i])) == wire)
      return;
  fail_msg("a burst of %zu plaintext bytes took %zu wire bytes (%zu mod %d): no value of the "
           "length distribution pads %zu framed bytes to that",
           n, wire, wire % OBFS4_MAX_SEGMENT_LEN, OBFS4_MAX_SEGMENT_LEN, data);
}

static int timespec_cmp(const struct timespec *a, const struct timespec *b) {
  if (a->tv_sec != b->tv_sec)
    return a->tv_sec < b->tv_sec ? -1 : 1;
  if (a->tv_nsec != b->tv_nsec)
    return a->tv_nsec < b->tv_nsec ? -1 : 1;
  return 0;
}

/* Sends everything e's owner wrote, waits until the codec holds nothing
 * back, then half-closes e's wire, as the relay does. */
static void half_close(harness_t *h, end_t *e) {
  bufferevent_flush(e->plain, EV_WRITE, BEV_FINISHED);
  WAIT_FOR(h,
           evbuffer_get_length(bufferevent_get_output(e->plain)) == 0 &&
               evbuffer_get_length(bufferevent_get_output(e->wire)) == 0 &&
               codec_stream_held(e->plain) == 0,
           "everything sent before the half-close");
  assert_int_equal(shutdown(e->wire_fd, SHUT_WR), 0);
}

/* Writes the bursts of sizes[] (each one bufferevent_write) from data. */
static void write_bursts(end_t *e, const uint8_t *data, const size_t *sizes, size_t n) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(bufferevent_write(e->plain, data + off, sizes[i]), 0);
    off += sizes[i];
  }
}

static size_t sum(const size_t *sizes, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += sizes[i];
  return total;
}

/* ---- the handshake ---- */

/* The client talks first with one request of legal length; the server
 * answers only once all of it is in, then both report ready once. */
static void test_handshake_request_then_reply(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *s = server_end(h);
  end_t *c = client_end(h, OBFS4_IAT_NONE);
  wait_quiet(h, "the client's request");
  const bytes_t *req = &c->tap.rec;
  size_t len = req->len;
  assert_in_range(len, SHORTEST_REQUEST, OBFS4_MAX_HANDSHAKE_LEN);
  assert_int_equal(c->connected + c->errors + c->eofs, 0);

  /* The request in pieces: nothing comes back before its last byte. */
  const size_t cuts[] = {1, OBFS4_CLIENT_HS_MIN_LEN - 1, SHORTEST_REQUEST - 1, len - 1};
  size_t sent = 0;
  for (size_t i = 0; i < COUNT(cuts); i++) {
    tap_send(&s->tap, req->p + sent, cuts[i] - sent);
    sent = cuts[i];
    wait_quiet(h, "a partial request read by the server");
    assert_silent(s);
    assert_int_equal(s->eofs, 0);
  }
  tap_send(&s->tap, req->p + sent, 1);
  WAIT_FOR(h, s->connected, "the server ready after the whole request");
  wait_quiet(h, "the server's reply");
  size_t reply = s->tap.rec.len;
  assert_in_range(reply, OBFS4_SERVER_HS_MIN_LEN + SEED_FRAME_LEN, OBFS4_MAX_HANDSHAKE_LEN);
  assert_int_equal(c->connected, 0);

  tap_send(&c->tap, s->tap.rec.p, reply);
  WAIT_FOR(h, c->connected, "the client ready after the reply");
  settle(h, 20, "passes after both are ready");
  assert_int_equal(c->connected, 1);
  assert_int_equal(s->connected, 1);
  assert_int_equal(c->errors + s->errors + c->eofs + s->eofs, 0);
  /* Each side sent its one handshake message and nothing else. */
  assert_int_equal(c->tap.rec.len, len);
  assert_int_equal(s->tap.rec.len, reply);
}

/* Every client pads its request afresh. */
static void test_client_requests_vary(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c[8];
  for (size_t i = 0; i < COUNT(c); i++)
    c[i] = client_end(h, OBFS4_IAT_NONE);
  wait_quiet(h, "eight requests");
  bool differ = false;
  for (size_t i = 0; i < COUNT(c); i++) {
    assert_in_range(c[i]->tap.rec.len, SHORTEST_REQUEST, OBFS4_MAX_HANDSHAKE_LEN);
    differ |= c[i]->tap.rec.len != c[0]->tap.rec.len;
    assert_int_equal(c[i]->connected + c[i]->errors, 0);
  }
  /* Eight equal draws from some 8000 lengths: about 2^-91. */
  assert_true(differ);
}

/* Plaintext an owner writes before the handshake is done waits in the
 * stream, and goes once it is (transport.h: the codec kicks), with no
 * further write to prompt it. */
static void test_plaintext_written_early_flows_after_handshake(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *s = server_end(h);
  end_t *c = client_end(h, OBFS4_IAT_NONE);
  assert_int_equal(bufferevent_write(c->plain, "early", 5), 0);
  wait_quiet(h, "the client's request");
  assert_in_range(c->tap.rec.len, SHORTEST_REQUEST, OBFS4_MAX_HANDSHAKE_LEN);
  link_taps(c, s, true, true);
  tap_send(&s->tap, c->tap.rec.p, c->tap.rec.len);
  c->tap.fwd_off = c->tap.rec.len;
  WAIT_FOR(h, c->connected && s->connected, "both handshakes done");
  wait_quiet(h, "everything in flight delivered");
  size_t waiting = evbuffer_get_length(bufferevent_get_output(c->plain));
  if (waiting != 0)
    fail_msg("%zu plaintext bytes still wait in the client's stream after its handshake: "
             "the codec did not call io->kick()",
             waiting);
  assert_got(s, "early", 5);
}

/* The codecs as the transport hands them out (obfs4.c): a server instance
 * from options and a state directory, a client from the arguments that
 * instance reports for SMETHOD ARGS:. The close delay is the one
 * obfs4proxy's own code prints for this drbg-seed (24 s; the vectors of
 * tests/integration/test_obfs4_probes.py). */
static void test_transport_ops_pair(void **state) {
  harness_t *h = *state;
  const transport_ops_t *t = transport_find("obfs4");
  assert_non_null(t);
  test_tmpdir_t dir;
  assert_int_equal(test_tmpdir_make(&dir, "ptd-obfs4-codec"), 0);
  kvlist_t *opts = kvlist_new();
  assert_non_null(opts);
  assert_int_equal(kvlist_add(opts, "node-id", NODE_ID_HEX), 0);
  assert_int_equal(kvlist_add(opts, "private-key", PRIVATE_KEY_HEX), 0);
  assert_int_equal(
      kvlist_add(opts, "drbg-seed", "37bdb1eb664d454e586af85e9b7972318acdcabb343b8ff4"), 0);
  assert_int_equal(kvlist_add(opts, "iat-mode", "0"), 0);
  const kvlist_t *args = NULL;
  char err[256] = "";
  transport_server_t *srv = t->server_new(opts, dir.path, &args, err, sizeof err);
  if (!srv)
    fail_msg("server_new: %s", err);
  assert_int_equal(t->server_close_delay_s(srv), 24);
  assert_non_null(args);
  assert_int_equal(strlen(kvlist_get(args, "cert")), OBFS4_CERT_LEN);
  assert_string_equal(kvlist_get(args, "iat-mode"), "0");
  assert_int_equal(t->client_args_check(args, err, sizeof err), 0);

  end_t *s = end_new(h, t->server_codec_new(srv));
  end_t *c = end_new(h, t->client_codec_new(args, err, sizeof err));
  link_taps(c, s, true, true);
  WAIT_FOR(h, c->connected && s->connected, "both handshakes done");
  assert_int_equal(bufferevent_write(c->plain, "ping", 4), 0);
  assert_int_equal(bufferevent_write(s->plain, "pong", 4), 0);
  WAIT_FOR(h, evbuffer_get_length(s->got) == 4 && evbuffer_get_length(c->got) == 4,
           "ping and pong");
  assert_got(s, "ping", 4);
  assert_got(c, "pong", 4);

  /* The server's codecs use the instance: they go first. */
  end_free_stream(c);
  end_free_stream(s);
  WAIT_FOR(h, c->tap.eof && s->tap.eof, "both streams freed");
  settle(h, 5, "passes after the frees");
  t->server_free(srv);
  kvlist_free(opts);
  assert_int_equal(test_tmpdir_remove(&dir), 0);
}

/* ---- data ---- */

/* Bursts of 0 to 100 KiB both ways at once arrive intact; each side's
 * half-close reaches the other after its data, and the other direction
 * keeps working after it. */
static void test_data_both_ways_and_half_close(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c, *s;
  connected_pair(h, OBFS4_IAT_NONE, &c, &s);
  const size_t up[] = {0, 1, 1427, 1428, 1448, 2855, 5000, 65536, 102400, 7};
  const size_t down[] = {102400, 3, 0, 1426, 65535, 1449, 9000, 1};
  const size_t after_eof = 3000;
  size_t up_len = sum(up, COUNT(up)), down_len = sum(down, COUNT(down));
  uint8_t *up_data = test_pattern_new(up_len, 11);
  uint8_t *down_data = test_pattern_new(down_len + after_eof, 12);
  write_bursts(c, up_data, up, COUNT(up));
  write_bursts(s, down_data, down, COUNT(down));
  WAIT_FOR(h, evbuffer_get_length(s->got) >= up_len && evbuffer_get_length(c->got) >= down_len,
           "both ways' data delivered");
  assert_got(s, up_data, up_len);
  assert_got(c, down_data, down_len);

  half_close(h, c);
  WAIT_FOR(h, s->eofs, "the client's EOF at the server");
  assert_int_equal(s->got_at_eof, up_len);
  /* The other way is still open. */
  assert_int_equal(bufferevent_write(s->plain, down_data + down_len, after_eof), 0);
  half_close(h, s);
  WAIT_FOR(h, c->eofs, "the server's EOF at the client");
  assert_int_equal(c->got_at_eof, down_len + after_eof);
  assert_got(c, down_data, down_len + after_eof);
  assert_got(s, up_data, up_len);
  assert_int_equal(c->eofs, 1);
  assert_int_equal(s->eofs, 1);
  assert_int_equal(c->connected, 1);
  assert_int_equal(s->connected, 1);
  assert_int_equal(c->errors + s->errors, 0);
  free(up_data);
  free(down_data);
}

/* iat-mode 0: each burst (one bufferevent_write, one on_plain call) is
 * padded to a length of the server's length distribution. The client's
 * bursts too, so it took the server's seed: with its own random
 * distribution, twelve of them would all fit by chance about once in
 * 10^13 runs. */
static void test_bursts_padded_to_server_distribution(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c, *s;
  connected_pair(h, OBFS4_IAT_NONE, &c, &s);
  const size_t sizes[] = {1, 100, 1406, 1407, 1427, 1428, 2000, 2854, 4000, 10000, 65536, 100000};
  uint8_t *data = test_pattern_new(100000, 21);
  end_t *from[2] = {c, s}, *to[2] = {s, c};
  for (int dir = 0; dir < 2; dir++) {
    for (size_t i = 0; i < COUNT(sizes); i++) {
      size_t wire_before = from[dir]->tap.rec.len;
      size_t got_before = evbuffer_get_length(to[dir]->got);
      assert_int_equal(bufferevent_write(from[dir]->plain, data, sizes[i]), 0);
      WAIT_FOR(h, evbuffer_get_length(to[dir]->got) == got_before + sizes[i], "one burst");
      wait_quiet(h, "the burst's padding");
      assert_int_equal(evbuffer_get_length(to[dir]->got), got_before + sizes[i]);
      assert_memory_equal(evbuffer_pullup(to[dir]->got, -1) + got_before, data, sizes[i]);
      assert_burst_shaped(&h->ctx.len_dist, sizes[i], from[dir]->tap.rec.len - wire_before);
    }
  }
  assert_int_equal(c->errors + s->errors, 0);
  free(data);
}

/* The padding arithmetic, exactly: a server whose length distribution
 * has the one value 700 (set in the shared context's public field), and
 * bursts whose framed tail (plaintext + 21 per frame, mod 1448) falls
 * on each side of it. */
static void test_server_pads_bursts_exactly(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  probdist_t *d = &h->ctx.len_dist;
  d->n = 1;
  d->values[0] = 700 - d->min;
  d->prob[0] = 1.0;
  d->alias[0] = 0;
  end_t *c, *s;
  connected_pair(h, OBFS4_IAT_NONE, &c, &s);
  static const struct {
    size_t plain, wire;
  } cases[] = {
      {679, 700},         /* tail 700: no padding at all */
      {657, 700},         /* tail 678: the smallest padding frame, 22 bytes */
      {658, 2169},        /* tail 679, 21 short: a full frame, then 679 + 21 + 21 */
      {678, 2169},        /* tail 699, 1 short: the same way */
      {779, 2148},        /* tail 800, past 700: on to 700 in the next segment */
      {1427, 2148},       /* one full frame, tail 0 */
      {1427 + 679, 2148}, /* a full frame and tail 700 */
      {1, 700},
  };
  uint8_t *data = test_pattern_new(1427 + 679, 91);
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t wire_before = s->tap.rec.len, got_before = evbuffer_get_length(c->got);
    assert_int_equal(bufferevent_write(s->plain, data, cases[i].plain), 0);
    WAIT_FOR(h, evbuffer_get_length(c->got) == got_before + cases[i].plain, "one burst");
    wait_quiet(h, "the burst's padding");
    assert_int_equal(s->tap.rec.len - wire_before, cases[i].wire);
    assert_memory_equal(evbuffer_pullup(c->got, -1) + got_before, data, cases[i].plain);
  }
  assert_int_equal(c->errors + s->errors, 0);
  free(data);
}

/* The server's seed frame comes late (it normally travels with the
 * reply): a client that must send before it has one shapes with a random
 * distribution of its own meanwhile (and, paced, a random delay
 * distribution), then takes the seed when it comes, after which its
 * bursts are padded to the server's distribution. */
static void run_seed_late(harness_t *h, obfs4_iat_mode_t mode) {
  ctx_init(h, mode);
  end_t *s = server_end(h);
  end_t *c = client_end(h, mode);
  link_taps(c, s, true, false);
  WAIT_FOR(h, s->connected && s->tap.rec.len > SEED_FRAME_LEN, "the server's reply");
  wait_quiet(h, "the reply at the server's tap");
  size_t reply = s->tap.rec.len - SEED_FRAME_LEN;
  tap_send(&c->tap, s->tap.rec.p, reply);
  WAIT_FOR(h, c->connected, "the client's handshake done without the seed frame");

  uint8_t *data = test_pattern_new(30000, 51);
  assert_int_equal(bufferevent_write(c->plain, data, 30000), 0);
  WAIT_FOR(h, evbuffer_get_length(s->got) == 30000, "data shaped before the seed");
  assert_got(s, data, 30000);
  evbuffer_drain(s->got, 30000);

  s->tap.fwd_off = reply;
  s->tap.forward = true;
  tap_forward(&s->tap);
  wait_quiet(h, "the seed frame at the client");
  const size_t sizes[] = {1, 1406, 1428, 4000, 10000, 20000, 3, 777, 2854, 100, 65536, 12};
  for (size_t i = 0; i < COUNT(sizes); i++) {
    size_t wire_before = c->tap.rec.len;
    assert_int_equal(bufferevent_write(c->plain, data, sizes[i] < 30000 ? sizes[i] : 30000), 0);
    size_t n = sizes[i] < 30000 ? sizes[i] : 30000;
    WAIT_FOR(h, evbuffer_get_length(s->got) == n, "one burst after the seed");
    wait_quiet(h, "the burst's padding");
    assert_got(s, data, n);
    evbuffer_drain(s->got, n);
    assert_burst_shaped(&h->ctx.len_dist, n, c->tap.rec.len - wire_before);
  }
  assert_int_equal(c->errors + s->errors, 0);
  free(data);
}

static void test_seed_late(void **state) { run_seed_late(*state, OBFS4_IAT_NONE); }
static void test_seed_late_paced(void **state) { run_seed_late(*state, OBFS4_IAT_ENABLED); }

/* Every client of one bridge gets the same seed: they share one copy of
 * its tables (and, paced, of its delay tables), held while any of them
 * lives, and data still flows through each. */
static void test_clients_share_tables(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_ENABLED);
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 0);
  end_t *c[4], *s[4];
  for (int i = 0; i < 3; i++) {
    connected_pair(h, OBFS4_IAT_NONE, &c[i], &s[i]);
    assert_int_equal(probdist_shared_cached(), 1);
  }
  connected_pair(h, OBFS4_IAT_ENABLED, &c[3], &s[3]);
  assert_int_equal(probdist_shared_cached(), 2);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(bufferevent_write(c[i]->plain, "ping", 4), 0);
    WAIT_FOR(h, evbuffer_get_length(s[i]->got) == 4, "a burst from each client");
    assert_got(s[i], "ping", 4);
  }
  /* Held: a flush keeps them. Freed with the streams, idle: a flush
   * frees them. */
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 2);
  for (int i = 0; i < 4; i++)
    end_free_stream(c[i]);
  settle(h, 3, "the client streams' deferred frees");
  probdist_shared_flush();
  assert_int_equal(probdist_shared_cached(), 0);
}

/* ---- inter-arrival shaping ---- */

static void run_paced(harness_t *h, obfs4_iat_mode_t mode) {
  ctx_init(h, mode);
  end_t *c, *s;
  connected_pair(h, mode, &c, &s);

  /* One burst, watched pass by pass. */
  const size_t n = 20000;
  uint8_t *burst = test_pattern_new(n, 31);
  size_t wire_before = c->tap.rec.len, first = c->tap.n_arrivals;
  assert_int_equal(bufferevent_write(c->plain, burst, n), 0);
  size_t held = codec_stream_held(c->plain);
  assert_true(held > 0);
  assert_int_equal(held, c->codec->ops->held(c->codec));
  assert_int_equal(codec_stream_held(c->wire), 0);
  bool partly_out = false;
  test_loop_begin_wait(&h->loop, "the paced burst delivered");
  while (evbuffer_get_length(s->got) < n || codec_stream_held(c->plain) > 0) {
    step(h);
    held = codec_stream_held(c->plain);
    assert_int_equal(held, c->codec->ops->held(c->codec));
    if (c->tap.rec.len > wire_before && held > 0)
      partly_out = true;
  }
  assert_got(s, burst, n);
  /* Chunks left over time: some were on the wire while others waited. */
  assert_true(partly_out);
  size_t last = c->tap.n_arrivals - 1;
  assert_true(last > first);
  const arrival_t *a = c->tap.arrivals;
  assert_true(a[last].pass > a[first].pass);
  assert_true(timespec_cmp(&a[first].t, &a[last].t) < 0);
  for (size_t i = first + 1; i <= last; i++)
    assert_true(timespec_cmp(&a[i - 1].t, &a[i].t) <= 0);
  free(burst);

  /* Then bursts both ways at once, and half-closes that wait for the
   * held chunks. */
  const size_t up[] = {0, 1, 1448, 5000, 30000};
  const size_t down[] = {30000, 7, 1447, 0, 3000};
  size_t up_len = sum(up, COUNT(up)), down_len = sum(down, COUNT(down));
  uint8_t *up_data = test_pattern_new(up_len, 32);
  uint8_t *down_data = test_pattern_new(down_len, 33);
  evbuffer_drain(s->got, n);
  write_bursts(c, up_data, up, COUNT(up));
  write_bursts(s, down_data, down, COUNT(down));
  assert_true(codec_stream_held(c->plain) > 0);
  assert_true(codec_stream_held(s->plain) > 0);
  half_close(h, c);
  half_close(h, s);
  WAIT_FOR(h, c->eofs && s->eofs, "both EOFs");
  assert_int_equal(s->got_at_eof, up_len);
  assert_int_equal(c->got_at_eof, down_len);
  assert_got(s, up_data, up_len);
  assert_got(c, down_data, down_len);
  assert_int_equal(c->errors + s->errors, 0);
  assert_int_equal(c->connected + s->connected, 2);
  free(up_data);
  free(down_data);
}

static void test_iat_mode_1(void **state) { run_paced(*state, OBFS4_IAT_ENABLED); }
static void test_iat_mode_2(void **state) { run_paced(*state, OBFS4_IAT_PARANOID); }

/* Streams freed while their codecs still hold chunks and a timer is
 * armed: everything goes (LeakSanitizer), and no timer fires on freed
 * memory (AddressSanitizer). */
static void run_free_while_held(harness_t *h, obfs4_iat_mode_t mode) {
  ctx_init(h, mode);
  end_t *c, *s;
  connected_pair(h, mode, &c, &s);
  uint8_t *data = test_pattern_new(60000, 41);
  assert_int_equal(bufferevent_write(c->plain, data, 60000), 0);
  assert_int_equal(bufferevent_write(s->plain, data, 60000), 0);
  step(h);
  assert_true(codec_stream_held(c->plain) > 0);
  assert_true(codec_stream_held(s->plain) > 0);
  end_free_stream(c);
  end_free_stream(s);
  WAIT_FOR(h, (c->tap.eof || c->tap.reset) && (s->tap.eof || s->tap.reset),
           "both wires closed by the frees");
  /* Longer than the longest pacing delay (10 ms). */
  settle(h, 10, "passes after the frees");
  assert_int_equal(c->errors + s->errors, 0);
  free(data);
}

static void test_iat_mode_1_free_while_held(void **state) {
  run_free_while_held(*state, OBFS4_IAT_ENABLED);
}

static void test_iat_mode_2_free_while_held(void **state) {
  run_free_while_held(*state, OBFS4_IAT_PARANOID);
}

/* ---- probes: the server stays silent ---- */

/* Probes sent to the server ends: none of them answered, and each keeps
 * reading whatever comes (1 MiB more each: more than a socket buffer
 * holds, so it left the test's side only because the server read it),
 * sends nothing even when its owner writes, and sees the prober's EOF as
 * EOF. */
static void assert_probes_ignored(harness_t *h, end_t **probed, size_t n) {
  wait_quiet(h, "the probes read");
  for (size_t i = 0; i < n; i++) {
    assert_silent(probed[i]);
    assert_int_equal(probed[i]->eofs, 0);
  }
  uint8_t *more = test_pattern_new(MIB, 51);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(bufferevent_write(probed[i]->plain, "answer?", 7), 0);
    tap_send(&probed[i]->tap, more, MIB);
  }
  free(more);
  wait_quiet(h, "1 MiB more read by every probed server");
  for (size_t i = 0; i < n; i++) {
    assert_silent(probed[i]);
    assert_int_equal(shutdown(probed[i]->tap.fd, SHUT_WR), 0);
  }
  for (size_t i = 0; i < n; i++) {
    WAIT_FOR(h, probed[i]->eofs, "the prober's EOF");
    assert_silent(probed[i]);
  }
}

static void test_server_ignores_garbage(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  const size_t sizes[] = {1,
                          OBFS4_CLIENT_HS_MIN_LEN,
                          SHORTEST_REQUEST,
                          5000,
                          OBFS4_MAX_HANDSHAKE_LEN - 1,
                          OBFS4_MAX_HANDSHAKE_LEN,
                          OBFS4_MAX_HANDSHAKE_LEN + 1,
                          20000};
  end_t *probed[COUNT(sizes)];
  for (size_t i = 0; i < COUNT(sizes); i++) {
    probed[i] = server_end(h);
    uint8_t *junk = test_pattern_new(sizes[i], (uint32_t)(100 + i));
    tap_send(&probed[i]->tap, junk, sizes[i]);
    free(junk);
  }
  assert_probes_ignored(h, probed, COUNT(sizes));
}

/* A real client's request played again on a second connection. */
static void test_server_ignores_replayed_request(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c, *s;
  connected_pair(h, OBFS4_IAT_NONE, &c, &s);
  bytes_t req = {0};
  bytes_add(&req, c->tap.rec.p, c->tap.rec.len);
  end_t *again = server_end(h);
  tap_send(&again->tap, req.p, req.len);
  assert_probes_ignored(h, &again, 1);
  /* The first connection is unaffected. */
  assert_int_equal(bufferevent_write(c->plain, "still here", 10), 0);
  WAIT_FOR(h, evbuffer_get_length(s->got) == 10, "data on the first connection");
  assert_got(s, "still here", 10);
  free(req.p);
}

/* A request with one byte after MAC_C is not a request (the mark must end
 * what the client sent); the same request without it is. */
static void test_server_ignores_request_with_trailing_byte(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c = client_end(h, OBFS4_IAT_NONE);
  wait_quiet(h, "the client's request");
  bytes_t req = {0};
  bytes_add(&req, c->tap.rec.p, c->tap.rec.len);
  bytes_add(&req, (const uint8_t *)"x", 1);
  end_t *probed = server_end(h);
  tap_send(&probed->tap, req.p, req.len);
  assert_probes_ignored(h, &probed, 1);
  /* Never accepted, so not in the replay filter either. */
  end_t *s = server_end(h);
  c->tap.fwd_off = c->tap.rec.len; /* delivered by hand below */
  link_taps(c, s, true, true);
  tap_send(&s->tap, req.p, req.len - 1);
  WAIT_FOR(h, c->connected && s->connected, "the request without the byte accepted");
  free(req.p);
}

/* ---- the client refuses bad replies ---- */

/* A pair whose server's reply (and seed frame) the tap holds back. */
static void pair_reply_held(harness_t *h, end_t **c, end_t **s, size_t *reply_len) {
  *s = server_end(h);
  *c = client_end(h, OBFS4_IAT_NONE);
  link_taps(*c, *s, true, false);
  WAIT_FOR(h, (*s)->connected, "the server's reply");
  wait_quiet(h, "all of the server's reply");
  *reply_len = (*s)->tap.rec.len - SEED_FRAME_LEN;
  assert_int_equal((*c)->connected + (*c)->errors, 0);
}

static void test_client_rejects_bit_flipped_reply(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  /* A bit of AUTH, and of MAC_S (the reply's last byte). */
  for (int which = 0; which < 2; which++) {
    end_t *c, *s;
    size_t reply_len;
    pair_reply_held(h, &c, &s, &reply_len);
    bytes_t bad = {0};
    bytes_add(&bad, s->tap.rec.p, s->tap.rec.len);
    size_t pos = which == 0 ? 32 + 5 : reply_len - 1;
    bad.p[pos] ^= 0x10;
    tap_send(&c->tap, bad.p, bad.len);
    WAIT_FOR(h, c->errors, "BEV_EVENT_ERROR at the client");
    settle(h, 10, "passes after the error");
    assert_int_equal(c->errors, 1);
    assert_int_equal(c->connected, 0);
    assert_int_equal(evbuffer_get_length(c->got), 0);
    free(bad.p);
  }
}

/* With M_S damaged the reply is not found: the client waits, until 8192
 * bytes hold none. */
static void test_client_rejects_reply_without_mark(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c, *s;
  size_t reply_len;
  pair_reply_held(h, &c, &s, &reply_len);
  bytes_t bad = {0};
  bytes_add(&bad, s->tap.rec.p, s->tap.rec.len);
  bad.p[reply_len - OBFS4_MAC_LEN - OBFS4_MARK_LEN] ^= 0x01;
  if (bad.len < OBFS4_MAX_HANDSHAKE_LEN) {
    tap_send(&c->tap, bad.p, bad.len);
    wait_quiet(h, "the damaged reply read");
    assert_int_equal(c->errors + c->connected, 0);
    uint8_t *fill = test_pattern_new(OBFS4_MAX_HANDSHAKE_LEN - bad.len, 61);
    tap_send(&c->tap, fill, OBFS4_MAX_HANDSHAKE_LEN - bad.len);
    free(fill);
  } else {
    tap_send(&c->tap, bad.p, bad.len);
  }
  WAIT_FOR(h, c->errors, "BEV_EVENT_ERROR at 8192 bytes");
  assert_int_equal(c->connected, 0);
  free(bad.p);
}

/* A "server" that sends 8191 bytes of noise has not failed yet; the
 * 8192nd byte decides. */
static void test_client_errors_after_8192_bytes_of_noise(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *c = client_end(h, OBFS4_IAT_NONE);
  wait_quiet(h, "the client's request");
  uint8_t *noise = test_pattern_new(OBFS4_MAX_HANDSHAKE_LEN + 100, 71);
  tap_send(&c->tap, noise, OBFS4_MAX_HANDSHAKE_LEN - 1);
  wait_quiet(h, "8191 bytes read by the client");
  settle(h, 10, "passes after 8191 bytes");
  assert_int_equal(c->errors + c->connected, 0);
  tap_send(&c->tap, noise + OBFS4_MAX_HANDSHAKE_LEN - 1, 101);
  WAIT_FOR(h, c->errors, "BEV_EVENT_ERROR after 8192 bytes");
  settle(h, 10, "passes after the error");
  assert_int_equal(c->errors, 1);
  assert_int_equal(c->connected, 0);
  free(noise);
}

/* ---- the server's first frame: its PRNG seed ---- */

/* A client made by hand from handshake.h and framing.h: the server's
 * reply is followed by exactly one frame, a PRNG seed packet holding the
 * bridge's DRBG seed; its data frames decode with the same keys, and
 * frames sealed with the client's keys reach its owner. */
static void test_server_sends_seed_frame_first(void **state) {
  harness_t *h = *state;
  ctx_init(h, OBFS4_IAT_NONE);
  end_t *s = server_end(h);
  obfs4_client_hs_t hs;
  memset(&hs, 0, sizeof hs);
  hs.bridge = h->ctx.state.id.pub;
  elligator2_keypair_generate(&hs.eph);
  uint8_t req[OBFS4_MAX_HANDSHAKE_LEN];
  size_t req_len = obfs4_client_hs_request(&hs, req, OBFS4_CLIENT_MIN_PAD + 300,
                                           obfs4_epoch_hour((uint64_t)time(NULL)));
  assert_int_equal(req_len, SHORTEST_REQUEST + 300);
  tap_send(&s->tap, req, req_len);
  WAIT_FOR(h, s->connected, "the server ready");
  wait_quiet(h, "the reply and what follows it");

  size_t consumed = 0;
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  assert_int_equal(obfs4_client_hs_reply(&hs, s->tap.rec.p, s->tap.rec.len, &consumed, keymat),
                   OBFS4_HS_OK);
  assert_int_equal(s->tap.rec.len - consumed, SEED_FRAME_LEN);
  obfs4_deframer_t dec;
  obfs4_deframer_init(&dec, keymat + OBFS4_KEYMAT_S2C);
  struct evbuffer *in = test_evbuffer_with(s->tap.rec.p + consumed, SEED_FRAME_LEN);
  struct evbuffer *plain = evbuffer_new();
  assert_non_null(plain);
  uint8_t seed[OBFS4_SEED_PACKET_LEN];
  bool seed_seen = false;
  const char *why = NULL;
  assert_int_equal(obfs4_deframe(&dec, in, plain, seed, &seed_seen, &why), OBFS4_DEFRAME_OK);
  assert_true(seed_seen);
  assert_memory_equal(seed, h->ctx.state.drbg_seed, OBFS4_SEED_PACKET_LEN);
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(evbuffer_get_length(plain), 0);

  /* Server to hand-made client. */
  size_t n = 3000, before = s->tap.rec.len;
  uint8_t *data = test_pattern_new(n, 81);
  assert_int_equal(bufferevent_write(s->plain, data, n), 0);
  WAIT_FOR(h, s->tap.rec.len > before, "the server's frames");
  wait_quiet(h, "all of the server's burst");
  assert_int_equal(evbuffer_add(in, s->tap.rec.p + before, s->tap.rec.len - before), 0);
  assert_int_equal(obfs4_deframe(&dec, in, plain, seed, &seed_seen, &why), OBFS4_DEFRAME_OK);
  assert_false(seed_seen);
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_evbuffer_is(plain, data, n);

  /* Hand-made client to server. */
  obfs4_framer_t enc;
  obfs4_framer_init(&enc, keymat + OBFS4_KEYMAT_C2S);
  struct evbuffer *out = evbuffer_new();
  assert_non_null(out);
  for (size_t off = 0; off < n; off += OBFS4_MAX_PACKET_PAYLOAD) {
    size_t k = n - off < OBFS4_MAX_PACKET_PAYLOAD ? n - off : OBFS4_MAX_PACKET_PAYLOAD;
    assert_int_equal(obfs4_frame_packet(&enc, out, OBFS4_PACKET_PAYLOAD, data + off, k, 0), 0);
  }
  size_t wire = evbuffer_get_length(out);
  tap_send(&s->tap, evbuffer_pullup(out, -1), wire);
  WAIT_FOR(h, evbuffer_get_length(s->got) == n, "the hand-made frames at the server");
  assert_got(s, data, n);
  assert_int_equal(s->errors, 0);

  sodium_memzero(keymat, sizeof keymat);
  obfs4_client_hs_clear(&hs);
  obfs4_framer_clear(&enc);
  obfs4_deframer_clear(&dec);
  evbuffer_free(in);
  evbuffer_free(plain);
  evbuffer_free(out);
  free(data);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  signal(SIGPIPE, SIG_IGN);
  event_set_log_callback(test_libevent_log);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_handshake_request_then_reply),
      T(test_client_requests_vary),
      T(test_plaintext_written_early_flows_after_handshake),
      T(test_transport_ops_pair),
      T(test_data_both_ways_and_half_close),
      T(test_bursts_padded_to_server_distribution),
      T(test_server_pads_bursts_exactly),
      T(test_seed_late),
      T(test_seed_late_paced),
      T(test_clients_share_tables),
      T(test_iat_mode_1),
      T(test_iat_mode_2),
      T(test_iat_mode_1_free_while_held),
      T(test_iat_mode_2_free_while_held),
      T(test_server_ignores_garbage),
      T(test_server_ignores_replayed_request),
      T(test_server_ignores_request_with_trailing_byte),
      T(test_client_rejects_bit_flipped_reply),
      T(test_client_rejects_reply_without_mark),
      T(test_client_errors_after_8192_bytes_of_noise),
      T(test_server_sends_seed_frame_first),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
