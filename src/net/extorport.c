/* extorport: see extorport.h.
 *
 * Each state copies at most one message out of in (evbuffer_copyout),
 * and drains it only when the whole message is there. Secrets that pass
 * through locals (expected hashes, copies of the server's message) are
 * wiped before the function returns. */
#define EXTORPORT_PRIVATE
#include "net/extorport.h"

#include <event2/buffer.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/evbuf.h"

/* The server's list is distinct values 1..255 and a 0: anything longer
 * without its 0 is not an ExtORPort. */
#define EXTORPORT_AUTH_TYPES_MAX 256
#define EXTORPORT_SERVER_AUTH_LEN (EXTORPORT_HASH_LEN + EXTORPORT_NONCE_LEN)
#define EXTORPORT_STATUS_LEN 1
/* The spec has the bridge send only OKAY or DENY; a bridge that keeps
 * sending something else is not going to say either. */
#define EXTORPORT_MAX_SKIPPED 16

static const char extorport_server_label[] = "ExtORPort authentication server-to-client hash";
static const char extorport_client_label[] = "ExtORPort authentication client-to-server hash";

static void extorport_hash(const char *label, const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const uint8_t client_nonce[static EXTORPORT_NONCE_LEN],
                           const uint8_t server_nonce[static EXTORPORT_NONCE_LEN],
                           uint8_t out[static EXTORPORT_HASH_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, cookie, EXTORPORT_COOKIE_LEN);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label));
  crypto_auth_hmacsha256_update(&st, client_nonce, EXTORPORT_NONCE_LEN);
  crypto_auth_hmacsha256_update(&st, server_nonce, EXTORPORT_NONCE_LEN);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void extorport_server_hash(const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const uint8_t client_nonce[static EXTORPORT_NONCE_LEN],
                           const uint8_t server_nonce[static EXTORPORT_NONCE_LEN],
                           uint8_t out[static EXTORPORT_HASH_LEN]) {
  extorport_hash(extorport_server_label, cookie, client_nonce, server_nonce, out);
}

void extorport_client_hash(const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const uint8_t client_nonce[static EXTORPORT_NONCE_LEN],
                           const uint8_t server_nonce[static EXTORPORT_NONCE_LEN],
                           uint8_t out[static EXTORPORT_HASH_LEN]) {
  extorport_hash(extorport_client_label, cookie, client_nonce, server_nonce, out);
}

void extorport_write_command(struct evbuffer *out, uint16_t cmd, const void *body, size_t len) {
  uint8_t hdr[EXTORPORT_CMD_HDR_LEN] = {
      (uint8_t)(cmd >> 8),
      (uint8_t)cmd,
      (uint8_t)(len >> 8),
      (uint8_t)len,
  };
  evbuffer_add(out, hdr, sizeof hdr);
  if (len > 0)
    evbuffer_add(out, body, len);
}

void extorport_client_init(extorport_client_t *c, const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const char *useraddr, const char *transport) {
  memset(c, 0, sizeof *c);
  c->state = EXTORPORT_AUTH_TYPES;
  c->result = EXTORPORT_MORE;
  memcpy(c->cookie, cookie, EXTORPORT_COOKIE_LEN);
  randombytes_buf(c->client_nonce, sizeof c->client_nonce);
  if (useraddr)
    snprintf(c->useraddr, sizeof c->useraddr, "%s", useraddr);
  c->transport = transport;
}

void extorport_client_set_nonce(extorport_client_t *c,
                                const uint8_t nonce[static EXTORPORT_NONCE_LEN]) {
  memcpy(c->client_nonce, nonce, EXTORPORT_NONCE_LEN);
}

void extorport_client_clear(extorport_client_t *c) {
  if (c)
    sodium_memzero(c, sizeof *c);
}

/* Ends the handshake: the cookie is not needed any more either way. */
static extorport_result_t extorport_finish(extorport_client_t *c, extorport_result_t r) {
  sodium_memzero(c->cookie, sizeof c->cookie);
  sodium_memzero(c->client_nonce, sizeof c->client_nonce);
  c->state = EXTORPORT_FINISHED;
  c->result = r;
  return r;
}

/* Copies exactly len bytes from the front of in into buf if that many
 * are there. Returns 0, or -1 when fewer have arrived. */
static int extorport_peek_exact(struct evbuffer *in, uint8_t *buf, size_t len) {
  size_t have;
  return evbuf_peek(in, buf, len, &have) == 0 && have == len ? 0 : -1;
}

static extorport_result_t extorport_auth_types(extorport_client_t *c, struct evbuffer *in,
                                               struct evbuffer *out) {
  uint8_t buf[EXTORPORT_AUTH_TYPES_MAX];
  size_t have;
  if (evbuf_peek(in, buf, sizeof buf, &have) != 0) {
    snprintf(c->why, sizeof c->why, "cannot read the ExtORPort's auth types");
    return extorport_finish(c, EXTORPORT_FAILED);
  }
  if (have == 0)
    return EXTORPORT_MORE;
  const uint8_t *end = memchr(buf, EXTORPORT_AUTH_END, have);
  if (!end) {
    if (have < sizeof buf)
      return EXTORPORT_MORE;
    snprintf(c->why, sizeof c->why, "the ExtORPort's auth-type list has no end in %zu bytes",
             sizeof buf);
    return extorport_finish(c, EXTORPORT_FAILED);
  }
  size_t n = (size_t)(end - buf);
  evbuffer_drain(in, n + 1);
  if (!memchr(buf, EXTORPORT_AUTH_SAFE_COOKIE, n)) {
    snprintf(c->why, sizeof c->why, "the ExtORPort does not offer SAFE_COOKIE authentication");
    return extorport_finish(c, EXTORPORT_FAILED);
  }
  const uint8_t type = EXTORPORT_AUTH_SAFE_COOKIE;
  evbuffer_add(out, &type, 1);
  evbuffer_add(out, c->client_nonce, sizeof c->client_nonce);
  c->state = EXTORPORT_SERVER_AUTH;
  return EXTORPORT_MORE;
}

static extorport_result_t extorport_server_auth(extorport_client_t *c, struct evbuffer *in,
                                                struct evbuffer *out) {
  uint8_t msg[EXTORPORT_SERVER_AUTH_LEN];
  uint8_t expected[EXTORPORT_HASH_LEN];
  extorport_result_t r = EXTORPORT_MORE;

  if (extorport_peek_exact(in, msg, sizeof msg) != 0)
    return EXTORPORT_MORE;
  evbuffer_drain(in, sizeof msg);
  const uint8_t *server_hash = msg;
  const uint8_t *server_nonce = msg + EXTORPORT_HASH_LEN;
  extorport_server_hash(c->cookie, c->client_nonce, server_nonce, expected);
  if (sodium_memcmp(expected, server_hash, sizeof expected) != 0) {
    snprintf(c->why, sizeof c->why,
             "the ExtORPort's server hash is wrong (is the cookie file the bridge's?)");
    r = extorport_finish(c, EXTORPORT_FAILED);
    goto out;
  }
  extorport_client_hash(c->cookie, c->client_nonce, server_nonce, expected);
  evbuffer_add(out, expected, sizeof expected);
  /* Both hashes are made: nothing needs the cookie again. */
  sodium_memzero(c->cookie, sizeof c->cookie);
  c->state = EXTORPORT_STATUS;
out:
  sodium_memzero(expected, sizeof expected);
  sodium_memzero(msg, sizeof msg);
  return r;
}

/* USERADDR, TRANSPORT, DONE: what the bridge learns about the client. */
static void extorport_send_metadata(const extorport_client_t *c, struct evbuffer *out) {
  if (c->useraddr[0] != '\0')
    extorport_write_command(out, EXTORPORT_CMD_USERADDR, c->useraddr, strlen(c->useraddr));
  if (c->transport) {
    size_t len = strlen(c->transport);
    if (len > 0 && len <= EXTORPORT_BODY_MAX)
      extorport_write_command(out, EXTORPORT_CMD_TRANSPORT, c->transport, len);
  }
  extorport_write_command(out, EXTORPORT_CMD_DONE, NULL, 0);
}

static extorport_result_t extorport_status(extorport_client_t *c, struct evbuffer *in,
                                           struct evbuffer *out) {
  uint8_t status;
  if (extorport_peek_exact(in, &status, EXTORPORT_STATUS_LEN) != 0)
    return EXTORPORT_MORE;
  evbuffer_drain(in, EXTORPORT_STATUS_LEN);
  if (status != EXTORPORT_STATUS_OK) {
    snprintf(c->why, sizeof c->why,
             "the ExtORPort refused our authentication (status %u)", (unsigned)status);
    return extorport_finish(c, EXTORPORT_FAILED);
  }
  extorport_send_metadata(c, out);
  c->state = EXTORPORT_REPLY;
  return EXTORPORT_MORE;
}

static extorport_result_t extorport_reply(extorport_client_t *c, struct evbuffer *in) {
  for (;;) {
    uint8_t hdr[EXTORPORT_CMD_HDR_LEN];
    if (extorport_peek_exact(in, hdr, sizeof hdr) != 0)
      return EXTORPORT_MORE;
    uint16_t cmd = (uint16_t)((hdr[0] << 8) | hdr[1]);
    size_t body = ((size_t)hdr[2] << 8) | hdr[3];
    /* Bodies are ignored, but only a whole command leaves the buffer:
     * what follows OKAY is the ORPort's first data. */
    if (evbuffer_get_length(in) < sizeof hdr + body)
      return EXTORPORT_MORE;
    evbuffer_drain(in, sizeof hdr + body);
    if (cmd == EXTORPORT_CMD_OKAY)
      return extorport_finish(c, EXTORPORT_READY);
    if (cmd == EXTORPORT_CMD_DENY) {
      snprintf(c->why, sizeof c->why, "the ExtORPort denied the connection");
      return extorport_finish(c, EXTORPORT_DENIED);
    }
    /* CONTROL is "not used", and unknown commands must be ignored. */
    if (++c->skipped > EXTORPORT_MAX_SKIPPED) {
      snprintf(c->why, sizeof c->why,
               "the ExtORPort sent %u commands that were neither OKAY nor DENY",
               c->skipped);
      return extorport_finish(c, EXTORPORT_FAILED);
    }
  }
}

extorport_result_t extorport_client_step(extorport_client_t *c, struct evbuffer *in,
                                         struct evbuffer *out) {
  for (;;) {
    extorport_state_t before = c->state;
    extorport_result_t r;
    switch (c->state) {
    case EXTORPORT_AUTH_TYPES:
      r = extorport_auth_types(c, in, out);
      break;
    case EXTORPORT_SERVER_AUTH:
      r = extorport_server_auth(c, in, out);
      break;
    case EXTORPORT_STATUS:
      r = extorport_status(c, in, out);
      break;
    case EXTORPORT_REPLY:
      r = extorport_reply(c, in);
      break;
    default:
      return c->result;
    }
    /* Several messages may have arrived together: go on while each step
     * completes one. */
    if (r != EXTORPORT_MORE || c->state == before)
      return r;
  }
}
