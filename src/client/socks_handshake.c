/* socks_handshake: see socks_handshake.h.
 *
 * Arguments: the listener's own (-options) are the base and the
 * connection's (0x02, 0x09, SOCKS4 USERID) override them key by key. They
 * are checked against the transport only once the request has arrived, so
 * a rejection (0x13, or 0x5B for SOCKS4) is an ordinary reply to the
 * client's CONNECT rather than bytes it never asked for. */
#include "client/socks_handshake.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/socks4.h"
#include "net/socks5.h"
#include "net/socks_args.h"

void client_socks_init(client_socks_t *hs, const transport_ops_t *t, const kvlist_t *base_args,
                       size_t json_limit) {
  memset(hs, 0, sizeof *hs);
  hs->state = CSOCKS_FIRST;
  hs->transport = t;
  hs->base_args = base_args;
  hs->json_limit = json_limit;
}

void client_socks_clear(client_socks_t *hs) {
  kvlist_free(hs->args);
  hs->args = NULL;
}

static client_socks_result_t fail5(client_socks_t *hs, struct evbuffer *out, uint8_t rep) {
  socks5_write_reply(out, rep, NULL);
  hs->state = CSOCKS_READY;
  return CSOCKS_CLOSE;
}

static client_socks_result_t fail4(client_socks_t *hs, struct evbuffer *out) {
  socks4_write_reply(out, SOCKS4_REP_REJECTED);
  hs->state = CSOCKS_READY;
  return CSOCKS_CLOSE;
}

/* Per-connection arguments arrived: they override the listener's. */
static void take_args(client_socks_t *hs, kvlist_t *conn_args) {
  if (!conn_args)
    return;
  if (!hs->base_args || hs->base_args->n == 0) {
    kvlist_free(hs->args);
    hs->args = conn_args;
    return;
  }
  kvlist_t *merged = kvlist_copy(hs->base_args);
  for (size_t i = 0; i < conn_args->n; i++)
    kvlist_set(merged, conn_args->items[i].key, conn_args->items[i].value);
  kvlist_free(conn_args);
  kvlist_free(hs->args);
  hs->args = merged;
}

/* The arguments the transport will get; the base ones when the
 * connection brought none. */
static const kvlist_t *effective_args(const client_socks_t *hs) {
  return hs->args ? hs->args : hs->base_args;
}

/* 0 when the transport takes this connection's arguments; otherwise why. */
static int check_args(client_socks_t *hs) {
  char err[sizeof hs->why - 32];
  if (hs->transport->client_args_check(effective_args(hs), err, sizeof err) == 0)
    return 0;
  snprintf(hs->why, sizeof hs->why, "arguments refused: %s", err);
  hs->args_refused = true;
  return -1;
}

/* Leaves the listener's arguments in place of a copy, so the caller can
 * always read hs->args for the transport. */
static void settle_args(client_socks_t *hs) {
  if (!hs->args && hs->base_args)
    hs->args = kvlist_copy(hs->base_args);
}

static client_socks_result_t step_greeting(client_socks_t *hs, struct evbuffer *in,
                                           struct evbuffer *out) {
  socks5_greeting_t g;
  socks5_result_t r = socks5_read_greeting(in, &g);
  if (r == SOCKS5_NEED_MORE)
    return CSOCKS_MORE;
  if (r == SOCKS5_ERROR) {
    snprintf(hs->why, sizeof hs->why, "not a SOCKS5 greeting");
    hs->state = CSOCKS_READY;
    return CSOCKS_CLOSE;
  }
  uint8_t method = socks5_choose_method(&g);
  socks5_write_method(out, method);
  switch (method) {
  case SOCKS5_METHOD_JSON:
    hs->state = CSOCKS5_JSON;
    break;
  case SOCKS5_METHOD_USERPASS:
    hs->state = CSOCKS5_USERPASS;
    break;
  case SOCKS5_METHOD_NO_AUTH:
    hs->state = CSOCKS5_REQUEST;
    break;
  default:
    snprintf(hs->why, sizeof hs->why, "no acceptable SOCKS5 authentication method");
    hs->state = CSOCKS_READY;
    return CSOCKS_CLOSE;
  }
  return CSOCKS_DIAL; /* not final: the caller's loop steps again */
}

static client_socks_result_t step_userpass(client_socks_t *hs, struct evbuffer *in,
                                           struct evbuffer *out) {
  socks5_userpass_t up;
  socks5_result_t r = socks5_read_userpass(in, &up);
  if (r == SOCKS5_NEED_MORE)
    return CSOCKS_MORE;
  kvlist_t *args = NULL;
  char err[192];
  if (r == SOCKS5_ERROR) {
    sodium_memzero(&up, sizeof up);
    snprintf(hs->why, sizeof hs->why, "bad RFC 1929 sub-negotiation");
    socks5_write_userpass_status(out, SOCKS5_USERPASS_FAILURE);
    hs->state = CSOCKS_READY;
    return CSOCKS_CLOSE;
  }
  int rc = socks_args_from_userpass(&up, &args, err, sizeof err);
  sodium_memzero(&up, sizeof up);
  if (rc != 0) {
    snprintf(hs->why, sizeof hs->why, "bad transport arguments in RFC 1929 fields: %s", err);
    socks5_write_userpass_status(out, SOCKS5_USERPASS_FAILURE);
    hs->state = CSOCKS_READY;
    return CSOCKS_CLOSE;
  }
  take_args(hs, args);
  socks5_write_userpass_status(out, SOCKS5_USERPASS_SUCCESS);
  hs->state = CSOCKS5_REQUEST;
  return CSOCKS_DIAL;
}

static client_socks_result_t step_json(client_socks_t *hs, struct evbuffer *in,
                                       struct evbuffer *out) {
  char *json = NULL;
  size_t len = 0;
  uint8_t rep = SOCKS5_REP_SETTINGS_PARSE;
  socks5_result_t r = socks5_read_json_block(in, hs->json_limit, &json, &len, &rep);
  if (r == SOCKS5_NEED_MORE)
    return CSOCKS_MORE;
  if (r == SOCKS5_ERROR) {
    snprintf(hs->why, sizeof hs->why, "connection settings refused (reply 0x%02x)", rep);
    return fail5(hs, out, rep);
  }
  kvlist_t *args = NULL;
  char err[192];
  int rc = socks_args_from_json(json, len, &args, &rep, err, sizeof err);
  sodium_memzero(json, len); /* arguments may be secrets (a password) */
  free(json);
  if (rc != 0) {
    snprintf(hs->why, sizeof hs->why, "connection settings: %s", err);
    return fail5(hs, out, rep);
  }
  take_args(hs, args);
  hs->state = CSOCKS5_REQUEST;
  return CSOCKS_DIAL;
}

static client_socks_result_t step_request5(client_socks_t *hs, struct evbuffer *in,
                                           struct evbuffer *out) {
  socks5_request_t req;
  uint8_t rep = SOCKS5_REP_GENERAL_FAILURE;
  socks5_result_t r = socks5_read_request(in, &req, &rep);
  if (r == SOCKS5_NEED_MORE)
    return CSOCKS_MORE;
  if (r == SOCKS5_ERROR) {
    snprintf(hs->why, sizeof hs->why, "bad SOCKS5 request (reply 0x%02x)", rep);
    return fail5(hs, out, rep);
  }
  if (req.cmd != SOCKS5_CMD_CONNECT) {
    snprintf(hs->why, sizeof hs->why, "SOCKS5 command 0x%02x not supported", req.cmd);
    return fail5(hs, out, SOCKS5_REP_CMD_NOT_SUPPORTED);
  }
  if (check_args(hs) != 0)
    return fail5(hs, out, SOCKS5_REP_SETTINGS_INVALID);
  hs->dest = req.dest;
  hs->state = CSOCKS_READY;
  settle_args(hs);
  return CSOCKS_DIAL;
}

static client_socks_result_t step_request4(client_socks_t *hs, struct evbuffer *in,
                                           struct evbuffer *out) {
  socks4_request_t req;
  socks4_result_t r = socks4_read_request(in, &req);
  if (r == SOCKS4_NEED_MORE)
    return CSOCKS_MORE;
  if (r == SOCKS4_ERROR) {
    snprintf(hs->why, sizeof hs->why, "bad SOCKS4 request");
    return fail4(hs, out);
  }
  if (req.cmd != SOCKS4_CMD_CONNECT) {
    sodium_memzero(req.userid, sizeof req.userid);
    snprintf(hs->why, sizeof hs->why, "SOCKS4 command 0x%02x not supported", req.cmd);
    return fail4(hs, out);
  }
  /* pt-spec 3.5: SOCKS4 carries the arguments in USERID. */
  if (req.userid[0] != '\0') {
    kvlist_t *args = NULL;
    char err[192];
    int rc = socks_args_from_userid(req.userid, &args, err, sizeof err);
    sodium_memzero(req.userid, sizeof req.userid);
    if (rc != 0) {
      snprintf(hs->why, sizeof hs->why, "bad transport arguments in SOCKS4 USERID: %s", err);
      return fail4(hs, out);
    }
    take_args(hs, args);
  }
  if (check_args(hs) != 0)
    return fail4(hs, out);
  hs->dest = req.dest;
  hs->state = CSOCKS_READY;
  settle_args(hs);
  return CSOCKS_DIAL;
}

static client_socks_result_t step_first(client_socks_t *hs, struct evbuffer *in) {
  uint8_t v;
  if (evbuffer_copyout(in, &v, 1) != 1)
    return CSOCKS_MORE;
  if (v == SOCKS5_VERSION) {
    hs->version = 5;
    hs->state = CSOCKS5_GREETING;
  } else if (v == SOCKS4_VERSION) {
    hs->version = 4;
    hs->state = CSOCKS4_REQUEST;
  } else {
    snprintf(hs->why, sizeof hs->why, "not SOCKS (first byte 0x%02x)", v);
    hs->state = CSOCKS_READY;
    return CSOCKS_CLOSE;
  }
  return CSOCKS_DIAL;
}

client_socks_result_t client_socks_step(client_socks_t *hs, struct evbuffer *in,
                                        struct evbuffer *out) {
  /* Each stage returns CSOCKS_DIAL to mean "advanced"; only a stage that
   * reached CSOCKS_READY means it for real. */
  for (;;) {
    client_socks_result_t r;
    switch (hs->state) {
    case CSOCKS_FIRST:
      r = step_first(hs, in);
      break;
    case CSOCKS5_GREETING:
      r = step_greeting(hs, in, out);
      break;
    case CSOCKS5_USERPASS:
      r = step_userpass(hs, in, out);
      break;
    case CSOCKS5_JSON:
      r = step_json(hs, in, out);
      break;
    case CSOCKS5_REQUEST:
      r = step_request5(hs, in, out);
      break;
    case CSOCKS4_REQUEST:
      r = step_request4(hs, in, out);
      break;
    case CSOCKS_READY:
    default:
      return CSOCKS_MORE; /* done already: the caller stopped reading */
    }
    if (r != CSOCKS_DIAL || hs->state == CSOCKS_READY)
      return r;
  }
}

void client_socks_reply_timeout(client_socks_t *hs, struct evbuffer *out) {
  if (hs->state == CSOCKS5_JSON)
    socks5_write_reply(out, SOCKS5_REP_SETTINGS_TIMEOUT, NULL);
  hs->state = CSOCKS_READY;
}

void client_socks_reply_dialed(client_socks_t *hs, struct evbuffer *out,
                               const struct sockaddr *bound, int err) {
  if (hs->version == 4)
    socks4_write_reply(out, err ? SOCKS4_REP_REJECTED : SOCKS4_REP_GRANTED);
  else
    socks5_write_reply(out, err ? socks5_reply_for_errno(err) : SOCKS5_REP_SUCCEEDED,
                       err ? NULL : bound);
}
