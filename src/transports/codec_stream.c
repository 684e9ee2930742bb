/* codec_stream: runs a codec over a connected wire bufferevent by way of a
 * libevent filter bufferevent, so the relay sees a plain bufferevent.
 *
 *   relay <-> filter bufferevent (plaintext) <-> codec <-> wire bufferevent
 *
 * The filter's input filter is the codec's on_wire, its output filter the
 * codec's on_plain. Wire bytes gather in wire_in, which the codec drains
 * as it decodes whole frames; each time the socket is readable we also
 * take what else it holds in big reads (lib/sockio.h). A codec error is
 * turned into BEV_EVENT_ERROR on the filter from the event loop, so the
 * relay tears the connection down the same way it does for a socket
 * error. Buffers: the filter owns its input and output, libevent the wire
 * bufferevent's, this stream wire_in; all go with the filter.
 *
 * An identity codec (transport.h) gets no adapter at all: the wire is
 * handed back as it is.
 *
 * ready() becomes BEV_EVENT_CONNECTED on the filter, from the event loop
 * like an error, so the owner never runs inside a filter callback. Once
 * discarding (CODEC_DISCARD, or codec_stream_discard), wire bytes are
 * dropped as they arrive and the codec is never called again; EOF and
 * errors from the socket still reach the owner. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/sockio.h"
#include "transports/transport.h"

/* How much encoded output may wait on the wire socket. A filter only stops
 * pushing into the bufferevent below it when that one has a write
 * high-water mark; without it everything the relay hands the filter lands
 * here unbounded, and the relay's own backpressure never engages. */
#define CODEC_STREAM_WIRE_HIGH_WATER (256 * 1024)

typedef struct codec_stream {
  codec_io_t io; /* first: the codec's io pointer converts back */
  codec_t *codec;
  struct bufferevent *filter;
  struct bufferevent *wire;
  struct evbuffer *wire_in; /* wire bytes the codec has not consumed yet */
  struct event *kick_ev;
  struct event *error_ev;
  struct event *ready_ev;
  bool failed;
  bool kick_pending;
  bool discarding;
  bool ready_sent;
  struct codec_stream *next_held; /* in stream_table, if the codec paces */
} codec_stream_t;

/* Streams whose codec can hold bytes back, by filter pointer, so that
 * codec_stream_held() can answer for a bufferevent (libevent offers no
 * way back from a filter to its context). Only pacing codecs are here. */
#define STREAM_TABLE_SIZE 1024
static codec_stream_t *stream_table[STREAM_TABLE_SIZE];

static size_t stream_slot(const struct bufferevent *bev) {
  return ((uintptr_t)bev >> 6) % STREAM_TABLE_SIZE;
}

static void stream_table_add(codec_stream_t *cs) {
  size_t i = stream_slot(cs->filter);
  cs->next_held = stream_table[i];
  stream_table[i] = cs;
}

static void stream_table_remove(codec_stream_t *cs) {
  for (codec_stream_t **p = &stream_table[stream_slot(cs->filter)]; *p; p = &(*p)->next_held)
    if (*p == cs) {
      *p = cs->next_held;
      return;
    }
}

size_t codec_stream_held(const struct bufferevent *bev) {
  for (codec_stream_t *cs = stream_table[stream_slot(bev)]; cs; cs = cs->next_held)
    if (cs->filter == bev)
      return cs->failed ? 0 : cs->codec->ops->held(cs->codec);
  return 0;
}

/* A deferred event holds a reference on the filter, so an owner that
 * frees the stream meanwhile cannot have it finalised under the callback;
 * the callback drops the reference last (it may free cs). */
static void stream_defer(codec_stream_t *cs, struct event *ev) {
  bufferevent_incref(cs->filter);
  event_active(ev, EV_TIMEOUT, 0);
}

static void stream_fail(codec_stream_t *cs) {
  if (cs->failed)
    return;
  cs->failed = true;
  stream_defer(cs, cs->error_ev);
}

static enum bufferevent_filter_result to_filter_result(codec_stream_t *cs, codec_result_t r) {
  switch (r) {
  case CODEC_OK:
    return BEV_OK;
  case CODEC_NEED_MORE:
    return BEV_NEED_MORE;
  case CODEC_DISCARD:
    cs->discarding = true;
    evbuffer_drain(cs->wire_in, evbuffer_get_length(cs->wire_in));
    return BEV_OK;
  case CODEC_ERROR:
    break;
  }
  stream_fail(cs);
  return BEV_ERROR;
}

static enum bufferevent_filter_result on_wire_filter(struct evbuffer *src, struct evbuffer *dst,
                                                     ev_ssize_t limit,
                                                     enum bufferevent_flush_mode mode,
                                                     void *arg) {
  codec_stream_t *cs = arg;
  if (cs->failed)
    return BEV_ERROR;
  if (cs->discarding) {
    evbuffer_drain(src, evbuffer_get_length(src));
    return BEV_OK;
  }
  /* Called because the socket was readable: take the rest of what is
   * there in big reads (see sockio.h), up to the wire high-water mark.
   * The socket bufferevent's input cannot be appended to from outside, so
   * wire bytes gather in our own buffer, which the codec consumes. */
  evbuffer_add_buffer(cs->wire_in, src);
  size_t held = evbuffer_get_length(cs->wire_in);
  if (held < CODEC_STREAM_WIRE_HIGH_WATER && !bufferevent_get_underlying(cs->wire))
    sockio_read_more(cs->wire_in, bufferevent_getfd(cs->wire),
                     CODEC_STREAM_WIRE_HIGH_WATER - held);
  return to_filter_result(cs, cs->codec->ops->on_wire(cs->codec, cs->wire_in, dst));
}

static enum bufferevent_filter_result on_plain_filter(struct evbuffer *src,
                                                      struct evbuffer *dst,
                                                      ev_ssize_t limit,
                                                      enum bufferevent_flush_mode mode,
                                                      void *arg) {
  codec_stream_t *cs = arg;
  if (cs->failed)
    return BEV_ERROR;
  if (cs->discarding) {
    /* A silent stream: nothing goes out. (Leaving src alone with BEV_OK
     * would make libevent call again at once, forever.) */
    evbuffer_drain(src, evbuffer_get_length(src));
    return BEV_OK;
  }
  return to_filter_result(cs, cs->codec->ops->on_plain(cs->codec, src, dst));
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
  codec_stream_t *cs = arg;
  struct bufferevent *filter = cs->filter;
  cs->kick_pending = false;
  if (!cs->failed) {
    bufferevent_flush(filter, EV_WRITE, BEV_NORMAL);
    /* A flush moves bytes but runs no callback: tell the reader. */
    if (bufferevent_flush(filter, EV_READ, BEV_NORMAL) > 0)
      bufferevent_trigger(filter, EV_READ, 0);
  }
  bufferevent_decref(filter);
}

static void on_error(evutil_socket_t fd, short what, void *arg) {
  codec_stream_t *cs = arg;
  struct bufferevent *filter = cs->filter;
  bufferevent_trigger_event(filter, BEV_EVENT_ERROR, 0);
  bufferevent_decref(filter);
}

static void on_ready(evutil_socket_t fd, short what, void *arg) {
  codec_stream_t *cs = arg;
  struct bufferevent *filter = cs->filter;
  if (!cs->failed && !cs->discarding)
    bufferevent_trigger_event(filter, BEV_EVENT_CONNECTED, 0);
  bufferevent_decref(filter);
}

static void stream_ready(codec_io_t *io) {
  codec_stream_t *cs = (codec_stream_t *)io;
  if (cs->ready_sent)
    return;
  cs->ready_sent = true;
  stream_defer(cs, cs->ready_ev);
}

static void stream_io_fail(codec_io_t *io) { stream_fail((codec_stream_t *)io); }

void codec_stream_discard(codec_t *codec) {
  codec_stream_t *cs = (codec_stream_t *)codec->io;
  cs->discarding = true;
  evbuffer_drain(cs->wire_in, evbuffer_get_length(cs->wire_in));
}

static void stream_kick(codec_io_t *io) {
  codec_stream_t *cs = (codec_stream_t *)io;
  if (cs->kick_pending)
    return;
  cs->kick_pending = true;
  stream_defer(cs, cs->kick_ev);
}

static void stream_free(void *arg) {
  codec_stream_t *cs = arg;
  if (cs->filter && cs->codec && cs->codec->ops->held)
    stream_table_remove(cs);
  if (cs->codec)
    cs->codec->ops->free(cs->codec);
  if (cs->kick_ev)
    event_free(cs->kick_ev);
  if (cs->error_ev)
    event_free(cs->error_ev);
  if (cs->ready_ev)
    event_free(cs->ready_ev);
  if (cs->wire_in)
    evbuffer_free(cs->wire_in);
  free(cs);
}

struct bufferevent *codec_stream_wrap(struct bufferevent *wire, codec_t *codec) {
  if (codec->ops->identity && !codec->ops->start) {
    /* A filter that changes nothing would only cost a copy per byte and
     * hide the socket from the relay. */
    codec->ops->free(codec);
    return wire;
  }
  struct event_base *base = bufferevent_get_base(wire);
  codec_stream_t *cs = calloc(1, sizeof *cs);
  if (!cs)
    goto fail;
  cs->codec = codec;
  cs->wire = wire;
  cs->io.base = base;
  cs->io.wire_out = bufferevent_get_output(wire);
  cs->io.kick = stream_kick;
  cs->io.ready = stream_ready;
  cs->io.error = stream_io_fail;
  cs->kick_ev = event_new(base, -1, 0, on_kick, cs);
  cs->error_ev = event_new(base, -1, 0, on_error, cs);
  cs->ready_ev = event_new(base, -1, 0, on_ready, cs);
  cs->wire_in = evbuffer_new();
  if (!cs->kick_ev || !cs->error_ev || !cs->ready_ev || !cs->wire_in)
    goto fail;
  codec->io = &cs->io;
  bufferevent_setwatermark(wire, EV_WRITE, 0, CODEC_STREAM_WIRE_HIGH_WATER);
  cs->filter = bufferevent_filter_new(wire, on_wire_filter, on_plain_filter,
                                      BEV_OPT_CLOSE_ON_FREE, stream_free, cs);
  if (!cs->filter)
    goto fail;
  if (codec->ops->held)
    stream_table_add(cs);
  if (codec->ops->start && codec->ops->start(codec) == CODEC_ERROR)
    stream_fail(cs);
  /* Bytes already read from the wire (an upstream proxy's reply came with
   * the server's first bytes) would wait for the next read event: a
   * filter only looks at its underlying input when new data arrives. The
   * deferred kick runs once the caller has enabled reading. */
  else if (evbuffer_get_length(bufferevent_get_input(wire)) > 0)
    stream_kick(&cs->io);
  return cs->filter;
fail:
  if (cs) {
    cs->codec = NULL;
    stream_free(cs);
  }
  codec->ops->free(codec);
  bufferevent_free(wire);
  return NULL;
}
