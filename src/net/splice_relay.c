/* splice_relay: see splice_relay.h.
 *
 * Each side is a socket with two persistent events: readable (bytes to
 * take from it toward the peer) and writable (bytes held for it can go
 * out). Each direction, named after the side it reads, holds its bytes in
 * flight either in a pipe (spliced in from its socket, spliced out to the
 * peer's) or in a backlog evbuffer: the bytes the bufferevents held at the
 * start, and the user-space fallback. At most one of the two holds bytes
 * at a time (reads go to the pipe only while the backlog is empty, and to
 * the backlog only while the pipe is), so order is kept. A direction
 * reads only while it holds nothing: if the peer's socket is full, the
 * bytes wait in the pipe and the sender's socket buffer fills, which is
 * TCP's backpressure. (Waiting on "readable" while holding bytes would
 * spin: a pipe can refuse more when its slots are full of small pieces,
 * though the socket stays readable.)
 *
 * Every callback runs one pump (move what can move, within a budget, so
 * one busy connection does not starve the others) and then settle: the
 * half-close, giving back an empty pipe and an empty backlog (an idle
 * connection holds neither), the events each direction needs, and done()
 * once both directions are finished. Callbacks never nest, so done() is
 * the last thing a callback does and the owner may free everything in
 * it. */
#include "net/splice_relay.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/sockio.h"
#include "net/splice_pipe.h"

/* Bytes one callback moves in one direction before the loop may serve
 * other connections: a few pipefuls. */
#define SPLICE_RELAY_BUDGET (4 * 1024 * 1024)

typedef struct sr_side {
  splice_relay_t *sr;
  struct sr_side *peer;
  int fd;
  struct event *rd_ev; /* readable: bytes to take toward the peer */
  struct event *wr_ev; /* writable: the peer's held bytes can go out */
  bool rd_on, wr_on;   /* whether each event is added */
  size_t *moved;       /* bytes read from this side (as the general path counts) */
  /* Bytes read from this side, waiting for the peer (see above). */
  struct evbuffer *backlog;
  splice_pipe_t pipe;
  size_t in_pipe;
  bool read_done;  /* EOF, or this side or its peer failed: no more reads */
  bool write_shut; /* shutdown(SHUT_WR) sent on this socket */
  bool failed;     /* the socket errored: nothing more goes through it */
  bool no_splice;  /* splice() refused this socket: copy instead */
} sr_side_t;

struct splice_relay {
  sr_side_t a, b;
  time_t *last_activity;
  splice_relay_done_fn done;
  void *ctx;
  const char *reason; /* the first error, for done() */
  bool finished;
};

/* What a socket bufferevent's ops table is: libevent has no public
 * "which kind is this bufferevent", and a TLS bufferevent on a socket has
 * a descriptor and nothing underneath too, yet must never be spliced.
 * Learned once from a bufferevent made for the purpose. */
static const struct bufferevent_ops *socket_ops;

static bool is_socket_bev(struct bufferevent *bev) {
  if (!socket_ops) {
    struct bufferevent *probe = bufferevent_socket_new(bufferevent_get_base(bev), -1, 0);
    if (!probe)
      return false;
    socket_ops = probe->be_ops;
    bufferevent_free(probe);
  }
  int fd = bufferevent_getfd(bev);
  int type = 0;
  socklen_t len = sizeof type;
  return bev->be_ops == socket_ops && fd >= 0 &&
         getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

bool splice_relay_eligible(struct bufferevent *a, struct bufferevent *b) {
  return is_socket_bev(a) && is_socket_bev(b);
}

static size_t held(const sr_side_t *s) {
  return s->in_pipe + (s->backlog ? evbuffer_get_length(s->backlog) : 0);
}

static void touch(splice_relay_t *sr) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  *sr->last_activity = ts.tv_sec;
}

/* Drops what s holds for its peer (the peer is gone). A pipe that may
 * hold bytes is closed, never pooled. */
static void drop_held(sr_side_t *s) {
  splice_pipe_put(&s->pipe, s->in_pipe == 0);
  s->in_pipe = 0;
  if (s->backlog) {
    evbuffer_free(s->backlog);
    s->backlog = NULL;
  }
}

/* x's socket failed: nothing more is read from it or sent to it. What x
 * sent before still goes to the peer; what waited for x is dropped, and
 * the peer is not read any more, since nothing can reach x. */
static void side_failed(sr_side_t *x, int err) {
  splice_relay_t *sr = x->sr;
  if (!sr->reason)
    sr->reason = err ? strerror(err) : "connection error";
  if (x->failed)
    return;
  x->failed = true;
  x->read_done = true;
  x->peer->read_done = true;
  drop_held(x->peer);
}

/* Sends what s holds toward its peer. Returns the bytes sent; sets
 * *blocked when the peer's socket takes nothing more now; -1 (errno) when
 * the peer's socket failed. */
static ssize_t send_held(sr_side_t *s, bool *blocked) {
  ssize_t n;
  if (s->backlog && evbuffer_get_length(s->backlog) > 0) {
    n = evbuffer_write(s->backlog, s->peer->fd);
  } else if (s->in_pipe > 0) {
    n = splice(s->pipe.rd, NULL, s->peer->fd, NULL, s->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0)
      s->in_pipe -= (size_t)n;
  } else {
    return 0;
  }
  if (n > 0)
    return n;
  if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    *blocked = true;
    return 0;
  }
  return -1;
}

typedef enum {
  TAKE_SOME, /* bytes read */
  TAKE_DRY,  /* the socket has nothing more for now */
  TAKE_FULL, /* no room: send first */
  TAKE_EOF,  /* (after any bytes read in the same call) */
  TAKE_ERROR /* errno says which */
} take_t;

/* Reads from s's socket into its pipe, or into its backlog when the
 * backlog already holds bytes, no pipe can be had, or splice is refused.
 * *got is the number of bytes read, also with TAKE_EOF and TAKE_ERROR. */
static take_t take_in(sr_side_t *s, size_t *got) {
  *got = 0;
  bool backlog_busy = s->backlog && evbuffer_get_length(s->backlog) > 0;
  if (!s->no_splice && !backlog_busy && (s->pipe.rd >= 0 || splice_pipe_get(&s->pipe) == 0)) {
    if (s->in_pipe >= s->pipe.cap)
      return TAKE_FULL;
    ssize_t n = splice(s->fd, NULL, s->pipe.wr, NULL, s->pipe.cap - s->in_pipe,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      s->in_pipe += (size_t)n;
      *got = (size_t)n;
      return TAKE_SOME;
    }
    if (n == 0)
      return TAKE_EOF;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return TAKE_DRY;
    if (s->in_pipe > 0 || (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP))
      return TAKE_ERROR;
    s->no_splice = true; /* not a socket splice can read: copy from now on */
    splice_pipe_put(&s->pipe, true);
  }
  if (s->in_pipe > 0)
    return TAKE_FULL; /* the pipe's bytes go first */
  if (!s->backlog && !(s->backlog = evbuffer_new())) {
    errno = ENOMEM;
    return TAKE_ERROR;
  }
  size_t have = evbuffer_get_length(s->backlog);
  if (have >= RELAY_HIGH_WATER)
    return TAKE_FULL;
  sockio_end_t end;
  *got = sockio_read(s->backlog, s->fd, RELAY_HIGH_WATER - have, &end);
  switch (end) {
  case SOCKIO_EOF:
    return TAKE_EOF;
  case SOCKIO_ERROR:
    return TAKE_ERROR;
  case SOCKIO_LIMIT:
    return TAKE_SOME;
  case SOCKIO_DRAINED:
    break;
  }
  return *got ? TAKE_SOME : TAKE_DRY;
}

/* Moves bytes from s toward its peer until nothing moves, the peer's
 * socket is full, or the budget is spent. */
static void pump(sr_side_t *s) {
  sr_side_t *p = s->peer;
  size_t budget = SPLICE_RELAY_BUDGET;
  bool blocked = false, dry = false;
  while (budget > 0) {
    size_t moved = 0;
    bool progress = false;
    if (!p->failed && held(s) > 0) {
      ssize_t n = send_held(s, &blocked);
      if (n < 0) {
        side_failed(p, errno);
        break;
      }
      moved += (size_t)n;
    }
    if (!s->read_done && !blocked && !dry) {
      size_t got;
      take_t t = take_in(s, &got);
      *s->moved += got;
      moved += got;
      if (t == TAKE_DRY)
        dry = true;
      else if (t == TAKE_EOF)
        s->read_done = progress = true;
      else if (t == TAKE_ERROR) {
        side_failed(s, errno);
        progress = true; /* what s sent before still goes out */
      }
    }
    if (moved) {
      touch(s->sr);
      progress = true;
    }
    if (!progress)
      break;
    budget = moved >= budget ? 0 : budget - moved;
  }
}

static void set_event(struct event *ev, bool *on, bool want) {
  if (want && !*on)
    *on = event_add(ev, NULL) == 0;
  else if (!want && *on) {
    event_del(ev);
    *on = false;
  }
}

static bool direction_done(const sr_side_t *s) {
  return s->read_done && held(s) == 0 && (s->peer->write_shut || s->peer->failed);
}

/* After a pump: half-close once everything before the EOF is out, give
 * back what an idle direction does not need, and wait for what it does. */
static void settle_direction(sr_side_t *s) {
  sr_side_t *p = s->peer;
  if (s->read_done && held(s) == 0 && !p->write_shut && !p->failed) {
    shutdown(p->fd, SHUT_WR); /* a peer already gone shows on its own events */
    p->write_shut = true;
  }
  if (s->in_pipe == 0)
    splice_pipe_put(&s->pipe, true);
  if (s->backlog && evbuffer_get_length(s->backlog) == 0) {
    evbuffer_free(s->backlog);
    s->backlog = NULL;
  }
  set_event(s->rd_ev, &s->rd_on, !s->read_done && held(s) == 0);
  set_event(p->wr_ev, &p->wr_on, !p->failed && held(s) > 0);
}

static void settle(splice_relay_t *sr) {
  settle_direction(&sr->a);
  settle_direction(&sr->b);
  if (sr->finished || !direction_done(&sr->a) || !direction_done(&sr->b))
    return;
  sr->finished = true;
  set_event(sr->a.rd_ev, &sr->a.rd_on, false);
  set_event(sr->a.wr_ev, &sr->a.wr_on, false);
  set_event(sr->b.rd_ev, &sr->b.rd_on, false);
  set_event(sr->b.wr_ev, &sr->b.wr_on, false);
  sr->done(sr->ctx, sr->reason); /* may free sr: nothing after this */
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
  sr_side_t *s = arg;
  pump(s);
  settle(s->sr);
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
  sr_side_t *s = arg;
  pump(s->peer);
  settle(s->sr);
}

/* Appends what src holds to *dst, making *dst if needed. A socket
 * bufferevent's output is frozen at its front (only libevent may drain
 * it); the bufferevent is being retired, so it is thawed first. */
static void take_bytes(struct evbuffer *dst, struct evbuffer *src) {
  evbuffer_unfreeze(src, 1);
  evbuffer_add_buffer(dst, src);
}

/* Detaches the socket from bev (so freeing it does not close it) and
 * frees bev; no callback of it runs again. */
static void retire_bev(struct bufferevent *bev) {
  bufferevent_setfd(bev, -1);
  bufferevent_free(bev);
}

void splice_relay_free(splice_relay_t *sr) {
  if (!sr)
    return;
  sr_side_t *sides[2] = {&sr->a, &sr->b};
  for (int i = 0; i < 2; i++) {
    sr_side_t *s = sides[i];
    if (s->rd_ev)
      event_free(s->rd_ev);
    if (s->wr_ev)
      event_free(s->wr_ev);
    drop_held(s);
    if (s->fd >= 0)
      close(s->fd);
  }
  free(sr);
}

static bool side_setup(splice_relay_t *sr, sr_side_t *s, sr_side_t *peer, struct bufferevent *bev,
                       struct bufferevent *peer_bev, size_t *moved) {
  struct event_base *base = bufferevent_get_base(bev);
  s->sr = sr;
  s->peer = peer;
  s->fd = -1; /* set once there is no way back */
  s->moved = moved;
  s->pipe = SPLICE_PIPE_NONE;
  int fd = bufferevent_getfd(bev);
  s->rd_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, s);
  s->wr_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, s);
  /* Toward the peer go first what the peer's bufferevent had queued, then
   * what this one had read. */
  size_t carry = evbuffer_get_length(bufferevent_get_output(peer_bev)) +
                 evbuffer_get_length(bufferevent_get_input(bev));
  s->backlog = carry ? evbuffer_new() : NULL;
  return s->rd_ev && s->wr_ev && (carry == 0 || s->backlog);
}

splice_relay_t *splice_relay_start(struct bufferevent *a, struct bufferevent *b,
                                   relay_stats_t *stats, time_t *last_activity,
                                   splice_relay_done_fn done, void *ctx) {
  splice_relay_t *sr = calloc(1, sizeof *sr);
  if (!sr)
    return NULL;
  bool ok_a = side_setup(sr, &sr->a, &sr->b, a, b, &stats->a_to_b);
  bool ok_b = side_setup(sr, &sr->b, &sr->a, b, a, &stats->b_to_a);
  if (!ok_a || !ok_b) {
    splice_relay_free(sr); /* fds are still -1: a and b keep their sockets */
    return NULL;
  }
  sr->last_activity = last_activity;
  sr->done = done;
  sr->ctx = ctx;
  /* No way back from here. The bufferevents must not act any more: no
   * callbacks, no reads or writes (a drained input would otherwise
   * re-enable reading). */
  bufferevent_setcb(a, NULL, NULL, NULL, NULL);
  bufferevent_setcb(b, NULL, NULL, NULL, NULL);
  bufferevent_disable(a, EV_READ | EV_WRITE);
  bufferevent_disable(b, EV_READ | EV_WRITE);
  /* Bytes the bufferevents had read count as relayed; bytes queued on
   * their outputs were written by the owner, not relayed. */
  stats->a_to_b += evbuffer_get_length(bufferevent_get_input(a));
  stats->b_to_a += evbuffer_get_length(bufferevent_get_input(b));
  if (sr->a.backlog) {
    take_bytes(sr->a.backlog, bufferevent_get_output(b));
    take_bytes(sr->a.backlog, bufferevent_get_input(a));
  }
  if (sr->b.backlog) {
    take_bytes(sr->b.backlog, bufferevent_get_output(a));
    take_bytes(sr->b.backlog, bufferevent_get_input(b));
  }
  sr->a.fd = bufferevent_getfd(a);
  sr->b.fd = bufferevent_getfd(b);
  retire_bev(a);
  retire_bev(b);
  evutil_make_socket_nonblocking(sr->a.fd);
  evutil_make_socket_nonblocking(sr->b.fd);
  settle_direction(&sr->a);
  settle_direction(&sr->b);
  return sr;
}
