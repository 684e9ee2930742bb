/* fuzz_socks5: the SOCKS5 codec against arbitrary client bytes.
 *
 * The input is what a client sends: a greeting, then requests. It is run
 * twice: once arriving all at once, and once in two chunks split at
 * data[0] % size, so the NEED_MORE path (peek, leave the buffer alone,
 * resume when more arrives) meets every possible cut. Each run parses
 * greetings and requests in turn until the codec stops making progress,
 * which also exercises a pipelined greeting+request in one segment. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough rounds to get through several pipelined messages; the loop also
 * stops as soon as a round consumes nothing. */
#define FUZZ_SOCKS5_MAX_ROUNDS 64

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

/* Parses what in holds: one greeting, then requests. Returns 1 if more
 * bytes might let it continue, 0 once it has hit an error. */
static int fuzz_socks5_step(struct evbuffer *in, struct evbuffer *out, int *greeted) {
  for (int round = 0; round < FUZZ_SOCKS5_MAX_ROUNDS; round++) {
    size_t before = evbuffer_get_length(in);
    socks5_result_t r;
    if (!*greeted) {
      socks5_greeting_t g;
      r = socks5_read_greeting(in, &g);
      if (r == SOCKS5_OK) {
        if (g.n_methods == 0 || g.n_methods > sizeof g.methods)
          __builtin_trap();
        socks5_write_method(out, socks5_greeting_offers(&g, SOCKS5_METHOD_NO_AUTH)
                                     ? SOCKS5_METHOD_NO_AUTH
                                     : SOCKS5_METHOD_NONE_ACCEPTABLE);
        *greeted = 1;
      }
    } else {
      socks5_request_t req;
      uint8_t reply = 0;
      r = socks5_read_request(in, &req, &reply);
      if (r == SOCKS5_OK)
        fuzz_socks5_use_request(&req, out);
      else if (r == SOCKS5_ERROR)
        socks5_write_reply(out, reply, NULL);
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
  struct evbuffer *in = evbuffer_new();
  struct evbuffer *out = evbuffer_new();
  int greeted = 0;
  if (in == NULL || out == NULL)
    goto cleanup;
  if (evbuffer_add(in, data, split) != 0)
    goto cleanup;
  if (!fuzz_socks5_step(in, out, &greeted))
    goto cleanup;
  if (evbuffer_add(in, data + split, size - split) != 0)
    goto cleanup;
  fuzz_socks5_step(in, out, &greeted);
cleanup:
  if (in != NULL)
    evbuffer_free(in);
  if (out != NULL)
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_socks5_run(data, size, size);
  if (size > 0)
    fuzz_socks5_run(data, size, data[0] % size);
  return 0;
}
