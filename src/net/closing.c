/* closing: see closing.h. */
#include "net/closing.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>

#define CLOSE_FLUSH_TIMEOUT_S 10 /* for the reply to leave */
#define CLOSE_LINGER_S 2         /* for the peer's EOF after ours */
/* Lingering sockets count against no connection limit, so their number is
 * bounded here: past it, a reply is dropped rather than a descriptor
 * spent. */
#define CLOSING_MAX 256

typedef struct closing {
  struct bufferevent *bev;
  /* One-shot: a read timeout would restart with every byte, and a peer
   * that keeps sending would hold the socket for ever. */
  struct event *deadline;
  int peer_done; /* the peer's EOF came while our reply was still queued */
  struct closing *prev, *next;
} closing_t;

/* The process has one event loop; the connections closing on it. */
static closing_t *closing_list;
static size_t closing_count;

static void closing_free(closing_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    closing_list = c->next;
  if (c->next)
    c->next->prev = c->prev;
  closing_count--;
  event_free(c->deadline);
  bufferevent_free(c->bev);
  free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
  closing_t *c = arg;
  /* A peer that half-closed may still read: the reply goes out first. */
  if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
      evbuffer_get_length(bufferevent_get_output(bev)) != 0) {
    c->peer_done = 1;
    bufferevent_disable(bev, EV_READ);
    return;
  }
  closing_free(c);
}

static void discard_input(struct bufferevent *bev, void *arg) {
  struct evbuffer *in = bufferevent_get_input(bev);
  evbuffer_drain(in, evbuffer_get_length(in));
}

static void shut_when_drained(struct bufferevent *bev, void *arg) {
  closing_t *c = arg;
  if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
    return;
  if (c->peer_done) {
    closing_free(c);
    return;
  }
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0)
    shutdown(fd, SHUT_WR);
  bufferevent_disable(bev, EV_WRITE);
  struct timeval linger = {CLOSE_LINGER_S, 0};
  evtimer_add(c->deadline, &linger);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) { closing_free(arg); }

void net_close_when_flushed(struct bufferevent *bev) {
  closing_t *c = closing_count < CLOSING_MAX ? calloc(1, sizeof *c) : NULL;
  if (c)
    c->deadline = evtimer_new(bufferevent_get_base(bev), on_deadline, c);
  if (!c || !c->deadline) {
    free(c);
    bufferevent_free(bev); /* the reply is lost, the descriptor is not */
    return;
  }
  closing_count++;
  c->bev = bev;
  c->next = closing_list;
  if (closing_list)
    closing_list->prev = c;
  closing_list = c;
  /* A peer that never reads cannot hold the socket past the deadline. */
  struct timeval limit = {CLOSE_FLUSH_TIMEOUT_S, 0};
  evtimer_add(c->deadline, &limit);
  bufferevent_set_timeouts(bev, NULL, NULL);
  bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
  bufferevent_setwatermark(bev, EV_READ, 0, 0);
  bufferevent_setcb(bev, discard_input, shut_when_drained, on_event, c);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  discard_input(bev, c);
  shut_when_drained(bev, c);
}

void net_closing_free_all(void) {
  while (closing_list)
    closing_free(closing_list);
}
