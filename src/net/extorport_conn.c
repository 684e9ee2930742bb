/* extorport_conn: see extorport_conn.h.
 *
 * Every step of the codec runs from a libevent callback: the socket's
 * read callback, a one-shot event that start() activates (so input the
 * bufferevent already holds is seen, without calling done() from inside
 * start()), or the deadline timer. finish() frees the handshake object
 * before calling done(), so done() may do anything, including free what
 * owns ctx. */
#include "net/extorport_conn.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXTORPORT_WHY_MAX 160

struct extorport_conn {
  struct bufferevent *bev;
  extorport_client_t hs;
  struct event *kick;     /* the first step, from the loop */
  struct event *deadline; /* the whole handshake's time limit */
  unsigned timeout_s;
  extorport_done_fn done;
  void *ctx;
};

static void conn_free(extorport_conn_t *x) {
  if (x->kick)
    event_free(x->kick);
  if (x->deadline)
    event_free(x->deadline);
  if (x->bev)
    bufferevent_free(x->bev);
  extorport_client_clear(&x->hs);
  free(x);
}

static void finish(extorport_conn_t *x, extorport_result_t r, const char *why) {
  char text[EXTORPORT_WHY_MAX];
  struct bufferevent *bev = x->bev;
  extorport_done_fn done = x->done;
  void *ctx = x->ctx;

  snprintf(text, sizeof text, "%s", why ? why : "");
  if (r == EXTORPORT_READY) {
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(bev, EV_READ);
    x->bev = NULL; /* handed over */
  }
  conn_free(x);
  done(ctx, r == EXTORPORT_READY ? bev : NULL, r, r == EXTORPORT_READY ? NULL : text);
}

static void step(extorport_conn_t *x) {
  extorport_result_t r = extorport_client_step(&x->hs, bufferevent_get_input(x->bev),
                                               bufferevent_get_output(x->bev));
  if (r != EXTORPORT_MORE)
    finish(x, r, x->hs.why);
}

static void on_read(struct bufferevent *bev, void *arg) { step(arg); }

static void on_event(struct bufferevent *bev, short what, void *arg) {
  extorport_conn_t *x = arg;
  char why[EXTORPORT_WHY_MAX];
  if (what & BEV_EVENT_EOF) {
    snprintf(why, sizeof why, "the ExtORPort closed the connection during the handshake");
  } else {
    int err = EVUTIL_SOCKET_ERROR();
    snprintf(why, sizeof why, "the ExtORPort connection failed during the handshake: %s",
             err ? evutil_socket_error_to_string(err) : "unknown error");
  }
  finish(x, EXTORPORT_FAILED, why);
}

static void on_kick(evutil_socket_t fd, short what, void *arg) { step(arg); }

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  extorport_conn_t *x = arg;
  char why[EXTORPORT_WHY_MAX];
  snprintf(why, sizeof why, "the ExtORPort handshake did not finish within %u s", x->timeout_s);
  finish(x, EXTORPORT_FAILED, why);
}

extorport_conn_t *extorport_conn_start(struct bufferevent *bev,
                                       const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                                       const char *useraddr, const char *transport,
                                       unsigned timeout_s, extorport_done_fn done, void *ctx) {
  struct event_base *base = bufferevent_get_base(bev);
  extorport_conn_t *x = calloc(1, sizeof *x);
  if (!x) {
    bufferevent_free(bev);
    return NULL;
  }
  x->bev = bev;
  x->timeout_s = timeout_s;
  x->done = done;
  x->ctx = ctx;
  extorport_client_init(&x->hs, cookie, useraddr, transport);
  x->kick = event_new(base, -1, 0, on_kick, x);
  if (timeout_s)
    x->deadline = evtimer_new(base, on_deadline, x);
  struct timeval tv = {(time_t)timeout_s, 0};
  if (!x->kick || (timeout_s && (!x->deadline || evtimer_add(x->deadline, &tv) != 0))) {
    conn_free(x);
    return NULL;
  }
  bufferevent_setcb(bev, on_read, NULL, on_event, x);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  event_active(x->kick, EV_TIMEOUT, 0);
  return x;
}

void extorport_conn_cancel(extorport_conn_t *x) {
  if (x)
    conn_free(x);
}
