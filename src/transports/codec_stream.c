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
 * handed back as it is. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
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
  bool failed;
  bool kick_pending;
} codec_stream_t;

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

static void stream_kick(codec_io_t *io) {
  codec_stream_t *cs = (codec_stream_t *)io;
  if (cs->kick_pending)
    return;
  cs->kick_pending = true;
  stream_defer(cs, cs->kick_ev);
}

static void stream_free(void *arg) {
  codec_stream_t *cs = arg;
  if (cs->codec)
    cs->codec->ops->free(cs->codec);
  if (cs->kick_ev)
    event_free(cs->kick_ev);
  if (cs->error_ev)
    event_free(cs->error_ev);
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
  cs->kick_ev = event_new(base, -1, 0, on_kick, cs);
  cs->error_ev = event_new(base, -1, 0, on_error, cs);
  cs->wire_in = evbuffer_new();
  if (!cs->kick_ev || !cs->error_ev || !cs->wire_in)
    goto fail;
  codec->io = &cs->io;
  bufferevent_setwatermark(wire, EV_WRITE, 0, CODEC_STREAM_WIRE_HIGH_WATER);
  cs->filter = bufferevent_filter_new(wire, on_wire_filter, on_plain_filter,
                                      BEV_OPT_CLOSE_ON_FREE, stream_free, cs);
  if (!cs->filter)
    goto fail;
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
