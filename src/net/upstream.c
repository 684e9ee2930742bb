/* upstream: see upstream.h.
 *
 * The handshake over a connected bufferevent, one state per answer we
 * wait for:
 *   SOCKS5   METHOD -> [AUTH ->] REPLY
 *   SOCKS4a  REPLY
 *   HTTP     RESPONSE
 * Each read callback runs the codec for the current state; a whole answer
 * either moves on (sending the next message) or ends the handshake. The
 * handshake owns the bufferevent until it ends: then it hands it to done()
 * with the bytes after the proxy's answer still in its input, or frees it.
 * Reading is turned off at the hand-over, as a fresh connection from
 * dial_start() has it, so the new owner decides when to read. */
#include "net/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "lib/log.h"
#include "net/socks5.h"
#include "net/upstream_codec.h"

typedef enum {
  UPSTREAM_WAIT_S5_METHOD,
  UPSTREAM_WAIT_S5_AUTH,
  UPSTREAM_WAIT_S5_REPLY,
  UPSTREAM_WAIT_S4_REPLY,
  UPSTREAM_WAIT_HTTP_RESPONSE,
} upstream_state_t;

/* What one step of the handshake decided. */
typedef enum { UPSTREAM_STEP_WAIT, UPSTREAM_STEP_DONE, UPSTREAM_STEP_FAIL } upstream_step_t;

struct upstream {
  struct bufferevent *bev;
  const upstream_proxy_t *proxy;
  addr_endpoint_t dest;
  upstream_state_t state;
  upstream_done_fn done;
  void *ctx;
  int err; /* with UPSTREAM_STEP_FAIL */
};

const char *upstream_type_name(upstream_type_t type) {
  switch (type) {
  case UPSTREAM_SOCKS5:
    return "socks5";
  case UPSTREAM_SOCKS4A:
    return "socks4a";
  case UPSTREAM_HTTP:
    return "http";
  }
  return "unknown";
}

static void upstream_finish(upstream_t *u, int err) {
  upstream_done_fn done = u->done;
  void *ctx = u->ctx;
  struct bufferevent *bev = u->bev;
  free(u);
  if (err != 0) {
    bufferevent_free(bev);
    done(ctx, NULL, err);
    return;
  }
  bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
  bufferevent_disable(bev, EV_READ);
  done(ctx, bev, 0);
}

static upstream_step_t upstream_fail(upstream_t *u, int err) {
  u->err = err;
  return UPSTREAM_STEP_FAIL;
}

/* A malformed answer: nothing more can be learned from this proxy. */
static upstream_step_t upstream_garbled(upstream_t *u) {
  log_debug("upstream %s proxy: malformed answer", upstream_type_name(u->proxy->type));
  return upstream_fail(u, EPROTO);
}

/* The proxy declined; code is its own reply code, for the debug log (the
 * caller logs the failure itself, from err). */
static upstream_step_t upstream_declined(upstream_t *u, const char *what, int code, int err) {
  log_debug("upstream %s proxy declined: %s %d", upstream_type_name(u->proxy->type), what,
            code);
  return upstream_fail(u, err);
}

static upstream_step_t upstream_send_s5_connect(upstream_t *u) {
  int err = upstream_socks5_write_connect(bufferevent_get_output(u->bev), &u->dest);
  if (err != 0)
    return upstream_fail(u, err);
  u->state = UPSTREAM_WAIT_S5_REPLY;
  return UPSTREAM_STEP_WAIT;
}

static upstream_step_t upstream_s5_method(upstream_t *u, struct evbuffer *in) {
  uint8_t method = 0;
  upstream_result_t r = upstream_socks5_read_method(in, &method);
  if (r != UPSTREAM_OK)
    return r == UPSTREAM_NEED_MORE ? UPSTREAM_STEP_WAIT : upstream_garbled(u);
  if (method == SOCKS5_METHOD_NONE_ACCEPTABLE)
    return upstream_declined(u, "method", method, EACCES);
  uint8_t offered = u->proxy->has_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NO_AUTH;
  if (method != offered)
    return upstream_garbled(u);
  if (method == SOCKS5_METHOD_NO_AUTH)
    return upstream_send_s5_connect(u);
  int err = upstream_socks5_write_auth(bufferevent_get_output(u->bev), u->proxy->user,
                                       u->proxy->pass);
  if (err != 0)
    return upstream_fail(u, err);
  u->state = UPSTREAM_WAIT_S5_AUTH;
  return UPSTREAM_STEP_WAIT;
}

static upstream_step_t upstream_s5_auth(upstream_t *u, struct evbuffer *in) {
  uint8_t status = 0;
  upstream_result_t r = upstream_socks5_read_auth(in, &status);
  if (r != UPSTREAM_OK)
    return r == UPSTREAM_NEED_MORE ? UPSTREAM_STEP_WAIT : upstream_garbled(u);
  if (status != 0)
    return upstream_declined(u, "user name and password, status", status, EACCES);
  return upstream_send_s5_connect(u);
}

static upstream_step_t upstream_s5_reply(upstream_t *u, struct evbuffer *in) {
  uint8_t rep = 0;
  upstream_result_t r = upstream_socks5_read_reply(in, &rep);
  if (r != UPSTREAM_OK)
    return r == UPSTREAM_NEED_MORE ? UPSTREAM_STEP_WAIT : upstream_garbled(u);
  int err = upstream_socks5_rep_errno(rep);
  return err ? upstream_declined(u, "reply", rep, err) : UPSTREAM_STEP_DONE;
}

static upstream_step_t upstream_s4_reply(upstream_t *u, struct evbuffer *in) {
  uint8_t cd = 0;
  upstream_result_t r = upstream_socks4_read_reply(in, &cd);
  if (r != UPSTREAM_OK)
    return r == UPSTREAM_NEED_MORE ? UPSTREAM_STEP_WAIT : upstream_garbled(u);
  int err = upstream_socks4_cd_errno(cd);
  return err ? upstream_declined(u, "reply", cd, err) : UPSTREAM_STEP_DONE;
}

static upstream_step_t upstream_http_response(upstream_t *u, struct evbuffer *in) {
  int status = 0;
  upstream_result_t r = upstream_http_read_response(in, &status);
  if (r != UPSTREAM_OK)
    return r == UPSTREAM_NEED_MORE ? UPSTREAM_STEP_WAIT : upstream_garbled(u);
  int err = upstream_http_status_errno(status);
  return err ? upstream_declined(u, "status", status, err) : UPSTREAM_STEP_DONE;
}

static upstream_step_t upstream_step(upstream_t *u, struct evbuffer *in) {
  switch (u->state) {
  case UPSTREAM_WAIT_S5_METHOD:
    return upstream_s5_method(u, in);
  case UPSTREAM_WAIT_S5_AUTH:
    return upstream_s5_auth(u, in);
  case UPSTREAM_WAIT_S5_REPLY:
    return upstream_s5_reply(u, in);
  case UPSTREAM_WAIT_S4_REPLY:
    return upstream_s4_reply(u, in);
  case UPSTREAM_WAIT_HTTP_RESPONSE:
    return upstream_http_response(u, in);
  }
  return upstream_fail(u, EPROTO);
}

static void upstream_on_read(struct bufferevent *bev, void *arg) {
  upstream_t *u = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  /* A proxy may answer twice in one segment; each step drains one answer
   * and says whether to wait. The state count bounds the loop. */
  for (;;) {
    upstream_state_t before = u->state;
    upstream_step_t s = upstream_step(u, in);
    if (s == UPSTREAM_STEP_DONE) {
      upstream_finish(u, 0);
      return;
    }
    if (s == UPSTREAM_STEP_FAIL) {
      upstream_finish(u, u->err);
      return;
    }
    if (u->state == before || evbuffer_get_length(in) == 0)
      return;
  }
}

static void upstream_on_event(struct bufferevent *bev, short what, void *arg) {
  upstream_t *u = arg;
  int err = ECONNRESET; /* EOF, or an error the socket did not name */
  if (what & BEV_EVENT_TIMEOUT) {
    err = ETIMEDOUT;
  } else if (what & BEV_EVENT_ERROR) {
    int e = EVUTIL_SOCKET_ERROR();
    if (e != 0)
      err = e;
  }
  log_debug("upstream %s proxy: connection ended during the handshake",
            upstream_type_name(u->proxy->type));
  upstream_finish(u, err);
}

/* Queues the first message for the proxy's type and sets the state. */
static int upstream_send_first(upstream_t *u) {
  struct evbuffer *out = bufferevent_get_output(u->bev);
  switch (u->proxy->type) {
  case UPSTREAM_SOCKS5:
    upstream_socks5_write_greeting(out, u->proxy->has_auth);
    u->state = UPSTREAM_WAIT_S5_METHOD;
    return 0;
  case UPSTREAM_SOCKS4A:
    u->state = UPSTREAM_WAIT_S4_REPLY;
    return upstream_socks4a_write_connect(out, &u->dest);
  case UPSTREAM_HTTP:
    u->state = UPSTREAM_WAIT_HTTP_RESPONSE;
    return upstream_http_write_connect(out, &u->dest, u->proxy);
  }
  return EINVAL;
}

upstream_t *upstream_start(struct bufferevent *bev, const upstream_proxy_t *proxy,
                           const addr_endpoint_t *dest, upstream_done_fn done, void *ctx,
                           int *err) {
  int e = upstream_check_dest(proxy->type, dest);
  if (e != 0) {
    *err = e;
    return NULL;
  }
  upstream_t *u = calloc(1, sizeof *u);
  if (!u) {
    *err = ENOMEM;
    return NULL;
  }
  u->bev = bev;
  u->proxy = proxy;
  u->dest = *dest;
  u->done = done;
  u->ctx = ctx;
  e = upstream_send_first(u);
  if (e != 0) {
    free(u);
    *err = e;
    return NULL;
  }
  bufferevent_setcb(bev, upstream_on_read, NULL, upstream_on_event, u);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  return u;
}

void upstream_cancel(upstream_t *u) {
  if (!u)
    return;
  bufferevent_free(u->bev);
  free(u);
}
