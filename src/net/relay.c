/* relay: see relay.h.
 *
 * Each side is one bufferevent. Bytes read on a side are moved (not
 * copied: evbuffer_add_buffer hands over the chains) to the peer's output.
 * Backpressure: when the peer's output reaches RELAY_HIGH_WATER, reading
 * on this side stops; the peer's write callback (output drained to half
 * the mark) resumes it. So a connection holds at most about
 * 2 x RELAY_HIGH_WATER bytes however fast one end sends.
 *
 * Direction a->b is finished when a has reached EOF (or failed) and b's
 * socket has been shut down for writing after everything was flushed (or
 * b failed). The relay ends when both directions are finished.
 *
 * That is the general path, for any bufferevents (codec streams are
 * filters). When both are bare socket bufferevents, splice_relay.h takes
 * them over instead and this file only keeps the idle timer and the
 * bookkeeping common to both. */
#define RELAY_PRIVATE
#include "net/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/addr.h"
#include "lib/sockio.h"
#include "net/splice_relay.h"
#include "transports/transport.h"

#define RELAY_MAX_SINGLE_IO (128 * 1024)

typedef struct relay_side {
  struct bufferevent *bev;
  struct bufferevent *bottom; /* the socket bufferevent under any filters */
  struct relay_side *peer;
  relay_t *relay;
  size_t *moved;       /* bytes moved from this side to its peer */
  bool read_done;      /* EOF seen, or reading impossible */
  bool write_shut;     /* shutdown(SHUT_WR) issued after the flush */
  bool shut_pending;   /* waiting for output to drain before shutting */
  bool finish_flushed; /* the filters were told no more data follows */
  bool failed;         /* the socket errored: nothing more goes through it */
} relay_side_t;

struct relay {
  relay_side_t a, b;    /* the general path */
  splice_relay_t *fast; /* or the fast path, which owns the sockets */
  relay_stats_t stats;
  relay_done_fn done;
  void *ctx;
  struct event *idle_ev;
  unsigned idle_timeout_s;
  time_t last_activity;
  struct event *finish_ev; /* finishes the relay from the loop, never nested */
  const char *reason;      /* the first error seen, for done() */
  bool finished;
};

static void relay_free(relay_t *r) {
  splice_relay_free(r->fast);
  if (r->idle_ev)
    event_free(r->idle_ev);
  if (r->finish_ev)
    event_free(r->finish_ev);
  if (r->a.bev)
    bufferevent_free(r->a.bev);
  if (r->b.bev)
    bufferevent_free(r->b.bev);
  free(r);
}

static time_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static void relay_finish(relay_t *r, const char *reason) {
  if (r->finished)
    return;
  r->finished = true;
  /* Tear the sockets down before telling the owner, so the owner's
   * bookkeeping (connection counts, drain-then-exit) sees them closed. */
  relay_stats_t stats = r->stats;
  relay_done_fn done = r->done;
  void *ctx = r->ctx;
  relay_free(r);
  if (done)
    done(ctx, &stats, reason);
}

static bool direction_done(const relay_side_t *from) {
  return from->read_done && (from->peer->write_shut || from->peer->failed);
}

/* Callbacks can nest (a flush runs the filter, which runs on_write), so
 * no callback frees the relay itself: they ask the loop to check. */
static void maybe_finish(relay_t *r) {
  if (direction_done(&r->a) && direction_done(&r->b))
    event_active(r->finish_ev, EV_TIMEOUT, 0);
}

static evutil_socket_t side_fd(const relay_side_t *s) { return bufferevent_getfd(s->bottom); }

/* Called when the bottom socket's output buffer shrinks: once it is empty
 * the half-close can go out. */
static void bottom_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                           void *arg) {
  relay_side_t *s = arg;
  if (!s->shut_pending || evbuffer_get_length(buf) != 0 || codec_stream_held(s->bev) != 0)
    return;
  s->shut_pending = false;
  s->write_shut = true;
  shutdown(side_fd(s), SHUT_WR);
  evbuffer_remove_cb(buf, bottom_drained, s);
  maybe_finish(s->relay);
}

/* Half-close toward s once all queued bytes, through every filter, have
 * reached the socket. */
static void side_shutdown_write(relay_side_t *s) {
  if (s->write_shut || s->shut_pending || s->failed)
    return;
  if (s->bottom != s->bev && !s->finish_flushed) {
    /* Lets the codec emit any final bytes. The flush can call on_write,
     * and so this function, again: hence the flag and the re-check. */
    s->finish_flushed = true;
    bufferevent_flush(s->bev, EV_WRITE, BEV_FINISHED);
    if (s->write_shut || s->shut_pending || s->failed)
      return;
  }
  if (evbuffer_get_length(bufferevent_get_output(s->bev)) != 0)
    return; /* the filter still holds bytes; write_cb calls us again */
  struct evbuffer *out = bufferevent_get_output(s->bottom);
  /* A pacing codec releases what it holds into out from its timers, so
   * waiting for out to drain also waits for that. */
  if (evbuffer_get_length(out) == 0 && codec_stream_held(s->bev) == 0) {
    s->write_shut = true;
    shutdown(side_fd(s), SHUT_WR);
    return;
  }
  s->shut_pending = true;
  evbuffer_add_cb(out, bottom_drained, s);
}

static void move_input(relay_side_t *s) {
  struct evbuffer *in = bufferevent_get_input(s->bev);
  size_t n = evbuffer_get_length(in);
  if (n == 0)
    return;
  if (s->peer->failed) {
    evbuffer_drain(in, n);
    return;
  }
  evbuffer_add_buffer(bufferevent_get_output(s->peer->bev), in);
  *s->moved += n;
  s->relay->last_activity = now_s();
  if (evbuffer_get_length(bufferevent_get_output(s->peer->bev)) >= RELAY_HIGH_WATER)
    bufferevent_disable(s->bev, EV_READ);
}

/* A bare socket that was just readable: take what else is there in big
 * calls, straight into the peer's output, rather than 4 KiB per loop pass
 * (see sockio.h). A bufferevent's own input cannot be appended to from
 * outside; codec streams do the same on their side. */
static void read_more(relay_side_t *s) {
  if (s->bottom != s->bev || s->peer->failed || s->read_done)
    return;
  struct evbuffer *out = bufferevent_get_output(s->peer->bev);
  size_t queued = evbuffer_get_length(out);
  if (queued >= RELAY_HIGH_WATER)
    return;
  size_t n = sockio_read_more(out, side_fd(s), RELAY_HIGH_WATER - queued);
  *s->moved += n;
  if (evbuffer_get_length(out) >= RELAY_HIGH_WATER)
    bufferevent_disable(s->bev, EV_READ);
}

static void on_read(struct bufferevent *bev, void *arg) {
  relay_side_t *s = arg;
  size_t got = evbuffer_get_length(bufferevent_get_input(bev));
  move_input(s);
  /* A read shorter than libevent's cap emptied the socket: another
   * readv() would only say EAGAIN. (The cap is evbuffer_read()'s 4 KiB,
   * not the bufferevent's max_single_read, which is larger.) */
  if (got >= SOCKIO_LIBEVENT_READ_CAP)
    read_more(s);
}

static void on_write(struct bufferevent *bev, void *arg) {
  relay_side_t *s = arg;
  relay_side_t *p = s->peer;
  if (!p->read_done)
    bufferevent_enable(p->bev, EV_READ);
  else if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
    side_shutdown_write(s);
  maybe_finish(s->relay);
}

/* No more bytes will come from s: pass on what is buffered and half-close
 * toward the peer once it is flushed. */
static void side_read_finished(relay_side_t *s) {
  s->read_done = true;
  move_input(s);
  bufferevent_disable(s->bev, EV_READ);
  if (evbuffer_get_length(bufferevent_get_output(s->peer->bev)) == 0)
    side_shutdown_write(s->peer);
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
  relay_side_t *s = arg;
  relay_t *r = s->relay;
  if (what & BEV_EVENT_EOF) {
    side_read_finished(s);
    maybe_finish(r);
    return;
  }
  if (what & BEV_EVENT_ERROR) {
    int err = EVUTIL_SOCKET_ERROR();
    s->failed = true;
    if (s->shut_pending) {
      s->shut_pending = false;
      evbuffer_remove_cb(bufferevent_get_output(s->bottom), bottom_drained, s);
    }
    bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    if (!s->read_done)
      side_read_finished(s);
    /* Nothing can reach s any more: stop reading its peer. */
    s->peer->read_done = true;
    bufferevent_disable(s->peer->bev, EV_READ);
    if (!r->reason)
      r->reason = err ? strerror(err) : "connection error";
    maybe_finish(r);
  }
}

static void on_finish_check(evutil_socket_t fd, short what, void *arg) {
  relay_t *r = arg;
  if (direction_done(&r->a) && direction_done(&r->b))
    relay_finish(r, r->reason);
}

static void on_idle_check(evutil_socket_t fd, short what, void *arg) {
  relay_t *r = arg;
  if (now_s() - r->last_activity >= (time_t)r->idle_timeout_s)
    relay_finish(r, "idle timeout");
}

static void side_init(relay_t *r, relay_side_t *s, relay_side_t *peer,
                      struct bufferevent *bev, size_t *moved) {
  s->bev = bev;
  s->bottom = bev;
  while (bufferevent_get_underlying(s->bottom))
    s->bottom = bufferevent_get_underlying(s->bottom);
  s->peer = peer;
  s->relay = r;
  s->moved = moved;
  /* libevent moves at most 16 KiB per read()/write() call by default;
   * bigger calls cut the syscall count of a bulk transfer several-fold. */
  bufferevent_set_max_single_read(s->bottom, RELAY_MAX_SINGLE_IO);
  bufferevent_set_max_single_write(s->bottom, RELAY_MAX_SINGLE_IO);
  bufferevent_setwatermark(bev, EV_WRITE, RELAY_HIGH_WATER / 2, 0);
  bufferevent_setwatermark(bev, EV_READ, 0, RELAY_HIGH_WATER);
  bufferevent_setcb(bev, on_read, on_write, on_event, s);
}

/* A loopback hop has no bottleneck link for a congestion controller to
 * model, yet BBR (a common system default) paces every segment with a
 * timer, which on a busy or virtualised host costs more CPU than moving
 * the bytes, and BBR is known to cap a CPU-starved sender far below what
 * the machine can do. make bench, 2 vCPUs: the plain tunnel's relays went
 * from about 0.85 to 0.25 CPU s/GiB, and the tunnel from about a third to
 * 0.7 of direct, once their loopback sockets used Reno. So a TCP socket of
 * ours whose both ends are loopback addresses and whose controller is BBR
 * gets Reno (always built in and allowed); every other socket keeps the
 * system's choice. Best effort: a failure changes nothing. */
static void unpace_loopback(struct bufferevent *bev) {
  int fd = bufferevent_getfd(bev);
  struct sockaddr_storage local, peer;
  socklen_t llen = sizeof local, plen = sizeof peer;
  char cc[16] = "";
  socklen_t cclen = sizeof cc - 1;
  if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
      getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
      !addr_is_loopback((struct sockaddr *)&local) ||
      !addr_is_loopback((struct sockaddr *)&peer) ||
      getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &cclen) != 0 ||
      strncmp(cc, "bbr", 3) != 0)
    return;
  setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", strlen("reno"));
}

static void on_fast_done(void *ctx, const char *reason) { relay_finish(ctx, reason); }

relay_t *relay_start(struct bufferevent *a, struct bufferevent *b, unsigned idle_timeout_s,
                     relay_done_fn done, void *ctx) {
  relay_t *r = calloc(1, sizeof *r);
  if (!r)
    goto fail;
  r->done = done;
  r->ctx = ctx;
  r->idle_timeout_s = idle_timeout_s;
  r->last_activity = now_s();
  if (idle_timeout_s) {
    struct timeval every = {idle_timeout_s, 0};
    r->idle_ev = event_new(bufferevent_get_base(a), -1, EV_PERSIST, on_idle_check, r);
    if (!r->idle_ev || event_add(r->idle_ev, &every) != 0)
      goto fail;
  }
  unpace_loopback(a);
  unpace_loopback(b);
  if (splice_relay_eligible(a, b)) {
    r->fast = splice_relay_start(a, b, &r->stats, &r->last_activity, on_fast_done, r);
    if (r->fast)
      return r;
    /* Out of memory for the fast path: the general one may still do. */
  }
  r->finish_ev = event_new(bufferevent_get_base(a), -1, 0, on_finish_check, r);
  if (!r->finish_ev)
    goto fail;
  side_init(r, &r->a, &r->b, a, &r->stats.a_to_b);
  side_init(r, &r->b, &r->a, b, &r->stats.b_to_a);
  bufferevent_enable(a, EV_READ | EV_WRITE);
  bufferevent_enable(b, EV_READ | EV_WRITE);
  /* Bytes that arrived before the relay took over (a SOCKS client that
   * sent data right behind its request) are already buffered. */
  move_input(&r->a);
  move_input(&r->b);
  return r;
fail:
  if (r)
    relay_free(r);
  bufferevent_free(a);
  bufferevent_free(b);
  return NULL;
}

void relay_abort(relay_t *r) {
  if (!r || r->finished)
    return;
  r->finished = true;
  relay_free(r);
}

bool relay_is_fast(const relay_t *r) { return r->fast != NULL; }
