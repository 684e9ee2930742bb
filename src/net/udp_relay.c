/* udp_relay: see udp_relay.h.
 *
 * One bufferevent (a socket, or a codec's filter: only its evbuffers and
 * callbacks are used, never its fd) and up to two events of our own:
 *
 *   later_ev  made active by hand, so that whatever must not run inside
 *             the owner's call runs from the loop instead: the end
 *             (done(), then the frees) and the frames that were already
 *             buffered when udp_relay_start() took the stream;
 *   idle_ev   the idle timer, only with a timeout. It is armed for the
 *             whole timeout and re-armed, when it fires, for what is left
 *             since the last activity; activity itself only stores a
 *             time, so a busy relay touches the timer heap once per
 *             timeout instead of once per datagram.
 *
 * States: running -> ending (reason set: nothing more is read or framed;
 * later_ev pending) -> done() -> freed. udp_relay_abort() frees from any
 * state but the last.
 *
 * Frames from the stream are split into one static scratch buffer, not
 * one per relay: there may be a relay per UDP peer by the thousand,
 * everything runs on the loop's one thread, and a datagram lives there
 * only for the duration of send(). */
#include "net/udp_relay.h"

#include <stdlib.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net/stun_frame.h"

/* The stream's input may hold this much before libevent stops reading it.
 * Whole frames are taken as they complete, so the input holds at most one
 * partial frame between callbacks; the mark only has to let the largest
 * frame complete. */
#define UDP_RELAY_READ_HIGH_WATER (256 * 1024)

#define UDP_RELAY_MAX(a, b) ((a) > (b) ? (a) : (b))
/* The longest datagram either framing can hand over. */
#define UDP_RELAY_SCRATCH_LEN UDP_RELAY_MAX(UDP_FRAME_MAX_DGRAM, STUN_FRAME_MAX_MSG_LEN)

_Static_assert(UDP_RELAY_READ_HIGH_WATER >= UDP_FRAME_MAX_LEN &&
                   UDP_RELAY_READ_HIGH_WATER >= CHANNEL_DATA_MAX_PADDED_LEN &&
                   UDP_RELAY_READ_HIGH_WATER >= STUN_FRAME_MAX_MSG_LEN,
               "a read high-water mark below a whole frame would stall the stream");

static uint8_t udp_relay_scratch[UDP_RELAY_SCRATCH_LEN];

struct udp_relay {
  struct bufferevent *stream;
  udp_relay_opts_t opts;
  udp_relay_stats_t stats;
  struct event *later_ev;
  struct event *idle_ev;
  uint64_t last_activity_ms;
  const char *reason; /* set once the relay is ending */
  bool delivering;    /* inside the loop that calls send() */
  bool aborted;       /* udp_relay_abort() from inside send(): free on the way out */
  bool finishing;     /* inside done() */
};

/* What one attempt to take a frame off the stream gave, for both framers
 * (whose return codes differ: -1 is a drop for one, a bad stream for the
 * other). */
typedef enum {
  NEXT_FRAME,
  NEXT_NEED_MORE,
  NEXT_OVERSIZE,
  NEXT_BAD_STREAM,
} next_result_t;

/* Coarse is plenty for a timeout counted in seconds, and it is what
 * libevent's own timers run on by default. */
static uint64_t now_ms(void) {
  struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void relay_free(udp_relay_t *r) {
  if (r->later_ev)
    event_free(r->later_ev);
  if (r->idle_ev)
    event_free(r->idle_ev);
  if (r->stream)
    bufferevent_free(r->stream);
  free(r);
}

/* Asks the loop to end the relay. The first reason is the one reported;
 * from here on nothing is read from the stream or framed onto it. */
static void relay_end(udp_relay_t *r, const char *reason) {
  if (r->reason)
    return;
  r->reason = reason;
  bufferevent_disable(r->stream, EV_READ | EV_WRITE);
  event_active(r->later_ev, EV_TIMEOUT, 0);
}

/* Bytes waiting to go out: the stream's output and that of every
 * bufferevent under it. A filter only holds bytes back in its own output
 * when the one below it has a write high-water mark; without one they all
 * pile up below, where the top output alone would never show them. */
static size_t queued_out(struct bufferevent *bev) {
  size_t n = 0;
  for (; bev; bev = bufferevent_get_underlying(bev))
    n += evbuffer_get_length(bufferevent_get_output(bev));
  return n;
}

static next_result_t next_frame(udp_relay_t *r, struct evbuffer *in, size_t *len) {
  if (r->opts.framing == UDP_FRAMING_STUN) {
    switch (stun_frame_next(in, udp_relay_scratch, sizeof udp_relay_scratch, len)) {
    case STUN_FRAME_OK:
      return NEXT_FRAME;
    case STUN_FRAME_NEED_MORE:
      return NEXT_NEED_MORE;
    case STUN_FRAME_OVERSIZE:
      return NEXT_OVERSIZE;
    default:
      return NEXT_BAD_STREAM;
    }
  }
  switch (udp_frame_next(in, udp_relay_scratch, sizeof udp_relay_scratch, len)) {
  case UDP_FRAME_OK:
    return NEXT_FRAME;
  case UDP_FRAME_DROPPED:
    return NEXT_OVERSIZE;
  default:
    return NEXT_NEED_MORE;
  }
}

/* Hands every whole frame in the stream's input to send(). Returns false
 * if the owner aborted the relay from inside send(), which has then been
 * freed. */
static bool deliver(udp_relay_t *r) {
  struct evbuffer *in = bufferevent_get_input(r->stream);
  bool any = false;
  r->delivering = true;
  while (!r->reason && !r->aborted) {
    size_t len = 0;
    next_result_t res = next_frame(r, in, &len);
    if (res == NEXT_NEED_MORE)
      break;
    if (res == NEXT_BAD_STREAM) {
      relay_end(r, "not a STUN or ChannelData message");
      break;
    }
    if (res == NEXT_OVERSIZE) {
      r->stats.dropped.oversize++;
      continue;
    }
    r->stats.from_stream++;
    r->stats.from_stream_bytes += len;
    any = true;
    r->opts.send(r->opts.ctx, udp_relay_scratch, len);
  }
  r->delivering = false;
  if (r->aborted) {
    relay_free(r);
    return false;
  }
  /* Once per batch: the clock is cheap, but a batch can be thousands. */
  if (any)
    r->last_activity_ms = now_ms();
  return true;
}

static void on_read(struct bufferevent *bev, void *arg) { deliver(arg); }

static void on_event(struct bufferevent *bev, short what, void *arg) {
  udp_relay_t *r = arg;
  if (what & BEV_EVENT_EOF) {
    /* The peer's last frames may still be in the input (a filter can
     * hand them up together with the EOF): they are owed. A half-closed
     * stream then ends the relay: UDP has no half-close to pass on. */
    if (deliver(r))
      relay_end(r, "closed by the peer");
  } else if (what & BEV_EVENT_ERROR) {
    relay_end(r, "stream error");
  }
  /* BEV_EVENT_CONNECTED (a codec's late ready()) and others: nothing to do. */
}

static void on_later(evutil_socket_t fd, short what, void *arg) {
  udp_relay_t *r = arg;
  if (!r->reason) {
    /* Frames buffered before udp_relay_start() took the stream. */
    deliver(r);
    return;
  }
  r->finishing = true;
  if (r->opts.done)
    r->opts.done(r->opts.ctx, &r->stats, r->reason);
  relay_free(r);
}

static void idle_arm(udp_relay_t *r, uint64_t ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(r->idle_ev, &tv);
}

static void on_idle(evutil_socket_t fd, short what, void *arg) {
  udp_relay_t *r = arg;
  if (r->reason)
    return;
  uint64_t timeout_ms = (uint64_t)r->opts.idle_timeout_s * 1000;
  uint64_t idle_ms = now_ms() - r->last_activity_ms;
  if (idle_ms >= timeout_ms)
    relay_end(r, "idle timeout");
  else
    idle_arm(r, timeout_ms - idle_ms);
}

udp_relay_t *udp_relay_start(struct bufferevent *stream, const udp_relay_opts_t *opts) {
  struct event_base *base = bufferevent_get_base(stream);
  udp_relay_t *r = calloc(1, sizeof *r);
  if (!r) {
    bufferevent_free(stream);
    return NULL;
  }
  r->stream = stream;
  r->opts = *opts;
  r->last_activity_ms = now_ms();
  r->later_ev = event_new(base, -1, 0, on_later, r);
  if (!r->later_ev)
    goto fail;
  if (opts->idle_timeout_s) {
    r->idle_ev = evtimer_new(base, on_idle, r);
    if (!r->idle_ev)
      goto fail;
    idle_arm(r, (uint64_t)opts->idle_timeout_s * 1000);
  }
  bufferevent_setwatermark(stream, EV_READ, 0, UDP_RELAY_READ_HIGH_WATER);
  bufferevent_setcb(stream, on_read, NULL, on_event, r);
  bufferevent_enable(stream, EV_READ | EV_WRITE);
  /* Frames that came before we took over (behind a handshake) would wait
   * for the next read; send() is the owner's code, which must not run
   * before this function has returned. */
  if (evbuffer_get_length(bufferevent_get_input(stream)) > 0)
    event_active(r->later_ev, EV_TIMEOUT, 0);
  return r;
fail:
  relay_free(r);
  return NULL;
}

bool udp_relay_datagram(udp_relay_t *r, const uint8_t *dgram, size_t len) {
  if (r->reason || r->aborted)
    return false;
  if (r->opts.framing == UDP_FRAMING_STUN) {
    if (stun_classify(dgram, len, NULL) == STUN_KIND_INVALID) {
      r->stats.dropped.invalid++;
      return false;
    }
  } else if (len > UDP_FRAME_MAX_DGRAM) {
    r->stats.dropped.oversize++;
    return false;
  }
  if (queued_out(r->stream) > UDP_RELAY_OUT_MAX) {
    r->stats.dropped_full++;
    return false;
  }
  struct evbuffer *out = bufferevent_get_output(r->stream);
  int rc = r->opts.framing == UDP_FRAMING_STUN ? stun_frame_append(out, dgram, len)
                                               : udp_frame_append(out, dgram, len);
  if (rc != 0) {
    /* Out of memory: the output could not take it, as when it is full. */
    r->stats.dropped_full++;
    return false;
  }
  r->stats.to_stream++;
  r->stats.to_stream_bytes += len;
  r->last_activity_ms = now_ms();
  return true;
}

void udp_relay_abort(udp_relay_t *r) {
  if (!r || r->finishing)
    return; /* inside done(): it is freed as soon as done() returns */
  if (r->delivering) {
    r->aborted = true; /* inside send(): deliver() frees it on the way out */
    return;
  }
  relay_free(r);
}

const udp_relay_stats_t *udp_relay_stats(const udp_relay_t *r) { return &r->stats; }
