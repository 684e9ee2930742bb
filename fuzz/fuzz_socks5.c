/* fuzz_socks5: the SOCKS5 codec against arbitrary client bytes.
 *
 * The input is what a client sends: a greeting; then, for the method
 * socks5_choose_method picks, an RFC 1929 request (0x02) or a JSON
 * parameter block (0x09, with a small limit so that both the 0x10 path
 * and whole blocks are reached); then requests. It is run
 * twice: once arriving all at once, and once in two chunks split at
 * data[0] % size, so the NEED_MORE path (peek, leave the buffer alone,
 * resume when more arrives) meets every possible cut. Each run parses
 * greetings and requests in turn until the codec stops making progress,
 * which also exercises a pipelined greeting+request in one segment. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/socks5.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough rounds to get through several pipelined messages; the loop also
 * stops as soon as a round consumes nothing. */
#define FUZZ_SOCKS5_MAX_ROUNDS 64
/* Small, so inputs of a few hundred bytes cross it both ways. */
#define FUZZ_SOCKS5_JSON_LIMIT 256

/* Where the client is in the handshake. */
typedef enum {
  FUZZ_PHASE_GREETING,
  FUZZ_PHASE_USERPASS,
  FUZZ_PHASE_JSON,
  FUZZ_PHASE_REQUEST,
} fuzz_phase_t;

/* Touches the decoded fields so a bad length or a missing NUL shows up
 * under ASan, and writes the reply a server would send. */
static void fuzz_socks5_use_request(const socks5_request_t *req, struct evbuffer *out) {
  size_t hl = strlen(req->dest.host);
  if (hl > ADDR_HOST_MAX)
    __builtin_trap();
  uint8_t rep = req->cmd == SOCKS5_CMD_CONNECT ? SOCKS5_REP_SUCCEEDED
                                               : SOCKS5_REP_CMD_NOT_SUPPORTED;
  /* A domain's sa is empty, which the writer must answer as 0.0.0.0:0. */
  socks5_write_reply(out, rep, (const struct sockaddr *)&req->dest.sa);
}

/* One greeting: answers with the method we would choose, and moves to its
 * sub-negotiation (none for 0x00; 0xFF ends the run). */
static socks5_result_t fuzz_socks5_greeting(struct evbuffer *in, struct evbuffer *out,
                                            fuzz_phase_t *phase) {
  socks5_greeting_t g;
  socks5_result_t r = socks5_read_greeting(in, &g);
  if (r != SOCKS5_OK)
    return r;
  if (g.n_methods == 0 || g.n_methods > sizeof g.methods)
    __builtin_trap();
  uint8_t m = socks5_choose_method(&g);
  if (m != SOCKS5_METHOD_NONE_ACCEPTABLE && !socks5_greeting_offers(&g, m))
    __builtin_trap();
  socks5_write_method(out, m);
  switch (m) {
  case SOCKS5_METHOD_USERPASS:
    *phase = FUZZ_PHASE_USERPASS;
    return SOCKS5_OK;
  case SOCKS5_METHOD_JSON:
    *phase = FUZZ_PHASE_JSON;
    return SOCKS5_OK;
  case SOCKS5_METHOD_NO_AUTH:
    *phase = FUZZ_PHASE_REQUEST;
    return SOCKS5_OK;
  default:
    return SOCKS5_ERROR; /* the client must close */
  }
}

static socks5_result_t fuzz_socks5_userpass(struct evbuffer *in, struct evbuffer *out,
                                            fuzz_phase_t *phase) {
  socks5_userpass_t up;
  socks5_result_t r = socks5_read_userpass(in, &up);
  if (r == SOCKS5_OK) {
    if (up.ulen > sizeof up.uname || up.plen > sizeof up.passwd)
      __builtin_trap();
    socks5_write_userpass_status(out, SOCKS5_USERPASS_SUCCESS);
    *phase = FUZZ_PHASE_REQUEST;
  }
  return r;
}

static socks5_result_t fuzz_socks5_json(struct evbuffer *in, struct evbuffer *out,
                                        fuzz_phase_t *phase) {
  char *json = NULL;
  size_t len = 0;
  uint8_t reply = 0;
  socks5_result_t r = socks5_read_json_block(in, FUZZ_SOCKS5_JSON_LIMIT, &json, &len, &reply);
  if (r == SOCKS5_OK) {
    /* The body is readable to its length, and NUL-terminated after it. */
    if (len > FUZZ_SOCKS5_JSON_LIMIT || json == NULL || json[len] != '\0' ||
        reply != SOCKS5_REP_SUCCEEDED)
      __builtin_trap();
    free(json);
    *phase = FUZZ_PHASE_REQUEST;
  } else if (r == SOCKS5_ERROR) {
    if (json != NULL)
      __builtin_trap();
    socks5_write_reply(out, reply, NULL);
  }
  return r;
}

static socks5_result_t fuzz_socks5_request(struct evbuffer *in, struct evbuffer *out) {
  socks5_request_t req;
  uint8_t reply = 0;
  socks5_result_t r = socks5_read_request(in, &req, &reply);
  if (r == SOCKS5_OK)
    fuzz_socks5_use_request(&req, out);
  else if (r == SOCKS5_ERROR)
    socks5_write_reply(out, reply, NULL);
  return r;
}

/* Parses what in holds from where the fuzz_phase_t at arg says. Returns 1
 * if more bytes might let it continue, 0 once it has hit an error. */
static int fuzz_socks5_step(struct evbuffer *in, struct evbuffer *out, void *arg) {
  fuzz_phase_t *phase = arg;
  for (int round = 0; round < FUZZ_SOCKS5_MAX_ROUNDS; round++) {
    size_t before = evbuffer_get_length(in);
    socks5_result_t r;
    switch (*phase) {
    case FUZZ_PHASE_GREETING:
      r = fuzz_socks5_greeting(in, out, phase);
      break;
    case FUZZ_PHASE_USERPASS:
      r = fuzz_socks5_userpass(in, out, phase);
      break;
    case FUZZ_PHASE_JSON:
      r = fuzz_socks5_json(in, out, phase);
      break;
    default:
      r = fuzz_socks5_request(in, out);
      break;
    }
    if (r == SOCKS5_ERROR)
      return 0;
    /* Whole messages only: a NEED_MORE must not have eaten anything. */
    if (r == SOCKS5_NEED_MORE) {
      if (evbuffer_get_length(in) != before)
        __builtin_trap();
      return 1;
    }
  }
  return 1;
}

/* Feeds data[0..size) into a fresh buffer, cut at split. */
static void fuzz_socks5_run(const uint8_t *data, size_t size, size_t split) {
  fuzz_phase_t phase = FUZZ_PHASE_GREETING;
  fuzz_feed_split(data, size, split, fuzz_socks5_step, &phase);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_socks5_run(data, size, size);
  if (size > 0)
    fuzz_socks5_run(data, size, data[0] % size);
  return 0;
}
