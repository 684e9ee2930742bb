/* fuzz_socks4: the SOCKS4/4a request parser against arbitrary client bytes.
 *
 * The input is what a client sends: one request after another (a client
 * sends one, but parsing on after it checks that exactly one request was
 * drained). It is run twice: arriving all at once, and in two chunks cut
 * at data[0] % size, so the NEED_MORE path meets every cut. Properties,
 * __builtin_trap() on violation: NEED_MORE and ERROR leave the buffer as
 * it was; OK drains at most one maximal request (8 + 256 + 256 bytes);
 * decoded text is NUL-terminated within its field. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "net/socks4.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SOCKS4_MAX_ROUNDS 16
#define FUZZ_SOCKS4_REQ_MAX (8 + SOCKS4_USERID_MAX + 1 + SOCKS4_HOST_MAX + 1)

static void fuzz_socks4_use(const socks4_request_t *req, struct evbuffer *out) {
  if (strnlen(req->userid, sizeof req->userid) >= sizeof req->userid ||
      strnlen(req->dest.host, sizeof req->dest.host) >= sizeof req->dest.host)
    __builtin_trap();
  /* A 4a name is never empty; an IPv4 literal always has its address. */
  if (req->dest.family == AF_UNSPEC ? req->dest.host[0] == '\0'
                                    : (req->dest.family != AF_INET || req->dest.salen == 0))
    __builtin_trap();
  socks4_write_reply(out, req->cmd == SOCKS4_CMD_CONNECT ? SOCKS4_REP_GRANTED
                                                         : SOCKS4_REP_REJECTED);
}

/* Parses requests until one waits or fails. Returns 0 after an error. */
static int fuzz_socks4_step(struct evbuffer *in, struct evbuffer *out, void *unused) {
  (void)unused;
  for (int round = 0; round < FUZZ_SOCKS4_MAX_ROUNDS; round++) {
    size_t before = evbuffer_get_length(in);
    socks4_request_t req;
    socks4_result_t r = socks4_read_request(in, &req);
    size_t after = evbuffer_get_length(in);
    if (r != SOCKS4_OK && after != before)
      __builtin_trap();
    if (r == SOCKS4_ERROR) {
      socks4_write_reply(out, SOCKS4_REP_REJECTED);
      return 0;
    }
    if (r == SOCKS4_NEED_MORE) {
      /* Waiting is only right while a request could still complete. */
      if (before >= FUZZ_SOCKS4_REQ_MAX)
        __builtin_trap();
      return 1;
    }
    if (before - after > FUZZ_SOCKS4_REQ_MAX || before == after)
      __builtin_trap();
    fuzz_socks4_use(&req, out);
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_feed_split(data, size, size, fuzz_socks4_step, NULL);
  if (size > 0)
    fuzz_feed_split(data, size, data[0] % size, fuzz_socks4_step, NULL);
  return 0;
}
