/* fuzz_upstream: the upstream proxy codecs against arbitrary proxy bytes.
 *
 * data[0] picks the parser: SOCKS5 method choice, RFC 1929 status, SOCKS5
 * reply, SOCKS4 reply, HTTP response; or, last, the HTTP request writer
 * given an arbitrary destination name. data[1] picks where the answer is
 * cut in two, so the NEED_MORE path (peek, leave the buffer alone, resume
 * when more arrives) meets every cut. The rest is the proxy's bytes.
 *
 * Checked: NEED_MORE and ERROR drain nothing; OK drains a whole answer of
 * a size the protocol allows and leaves the rest (the tunnel's bytes);
 * reply codes map to an errno; a request for a name the writer accepts
 * has exactly its own line ends, so no name can add a header. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/socks5.h"
#include "net/upstream_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
  FUZZ_UP_METHOD,
  FUZZ_UP_AUTH,
  FUZZ_UP_S5_REPLY,
  FUZZ_UP_S4_REPLY,
  FUZZ_UP_HTTP,
  FUZZ_UP_HTTP_REQUEST,
  FUZZ_UP_COUNT,
};

#define FUZZ_UP_HDR_LEN 2
/* VER REP RSV ATYP LEN NAME[255] PORT[2] */
#define FUZZ_UP_S5_REPLY_MAX (4 + 1 + 255 + 2)
#define FUZZ_UP_S5_REPLY_MIN (4 + 1 + 2)
#define FUZZ_UP_S4_REPLY_LEN 8

/* Runs one parser; returns its result and sets *code. */
static upstream_result_t fuzz_up_parse(int which, struct evbuffer *in, int *code) {
  uint8_t v = 0;
  upstream_result_t r;
  switch (which) {
  case FUZZ_UP_METHOD:
    r = upstream_socks5_read_method(in, &v);
    break;
  case FUZZ_UP_AUTH:
    r = upstream_socks5_read_auth(in, &v);
    break;
  case FUZZ_UP_S5_REPLY:
    r = upstream_socks5_read_reply(in, &v);
    if (r == UPSTREAM_OK)
      (void)socks5_reply_for_errno(upstream_socks5_rep_errno(v));
    break;
  case FUZZ_UP_S4_REPLY:
    r = upstream_socks4_read_reply(in, &v);
    if (r == UPSTREAM_OK)
      (void)socks5_reply_for_errno(upstream_socks4_cd_errno(v));
    break;
  default:
    r = upstream_http_read_response(in, code);
    if (r == UPSTREAM_OK) {
      if (*code < 100 || *code > 999)
        __builtin_trap();
      (void)socks5_reply_for_errno(upstream_http_status_errno(*code));
    }
    return r;
  }
  *code = v;
  return r;
}

/* Whether an answer of len bytes is one the protocol allows. */
static int fuzz_up_size_ok(int which, size_t len) {
  switch (which) {
  case FUZZ_UP_METHOD:
  case FUZZ_UP_AUTH:
    return len == 2;
  case FUZZ_UP_S5_REPLY:
    return len >= FUZZ_UP_S5_REPLY_MIN && len <= FUZZ_UP_S5_REPLY_MAX;
  case FUZZ_UP_S4_REPLY:
    return len == FUZZ_UP_S4_REPLY_LEN;
  default:
    return len > 0 && len <= UPSTREAM_HTTP_HEADER_MAX;
  }
}

/* Feeds p[0..len) cut at split. Returns the answer's length if one was
 * parsed, or 0. */
static size_t fuzz_up_run(int which, const uint8_t *p, size_t len, size_t split) {
  struct evbuffer *in = evbuffer_new();
  size_t taken = 0;
  if (!in)
    return 0;
  size_t fed = split;
  evbuffer_add(in, p, split);
  for (int round = 0; round < 2; round++) {
    size_t before = evbuffer_get_length(in);
    int code = 0;
    upstream_result_t r = fuzz_up_parse(which, in, &code);
    size_t after = evbuffer_get_length(in);
    if (r != UPSTREAM_OK && after != before)
      __builtin_trap(); /* whole answers only */
    if (r == UPSTREAM_OK) {
      taken = before - after;
      if (!fuzz_up_size_ok(which, taken))
        __builtin_trap();
      /* What is left is exactly what followed the answer. */
      uint8_t *rest = evbuffer_pullup(in, -1);
      if (after && (!rest || memcmp(rest, p + taken, after) != 0))
        __builtin_trap();
      break;
    }
    if (r == UPSTREAM_ERROR || fed == len)
      break;
    evbuffer_add(in, p + fed, len - fed);
    fed = len;
  }
  evbuffer_free(in);
  return taken;
}

/* The HTTP writer with p as the destination name: a name it accepts can
 * only ever give the three line ends of the request itself. */
static void fuzz_up_http_request(const uint8_t *p, size_t len) {
  addr_endpoint_t dest;
  memset(&dest, 0, sizeof dest);
  dest.family = AF_UNSPEC;
  dest.port = 443;
  size_t n = len < ADDR_HOST_MAX ? len : ADDR_HOST_MAX;
  memcpy(dest.host, p, n);
  upstream_proxy_t proxy;
  memset(&proxy, 0, sizeof proxy);
  proxy.type = UPSTREAM_HTTP;
  struct evbuffer *out = evbuffer_new();
  if (!out)
    return;
  int rc = upstream_http_write_connect(out, &dest, &proxy);
  size_t olen = evbuffer_get_length(out);
  if (rc != 0) {
    if (rc != EINVAL || olen != 0)
      __builtin_trap();
  } else {
    const uint8_t *req = evbuffer_pullup(out, -1);
    int line_ends = 0;
    for (size_t i = 0; i < olen; i++) {
      if (req[i] == '\n' && (i == 0 || req[i - 1] != '\r'))
        __builtin_trap();
      if (req[i] == '\r' && (i + 1 == olen || req[i + 1] != '\n'))
        __builtin_trap();
      line_ends += req[i] == '\n';
    }
    if (line_ends != 3)
      __builtin_trap();
  }
  evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < FUZZ_UP_HDR_LEN)
    return 0;
  int which = data[0] % FUZZ_UP_COUNT;
  const uint8_t *p = data + FUZZ_UP_HDR_LEN;
  size_t len = size - FUZZ_UP_HDR_LEN;
  if (which == FUZZ_UP_HTTP_REQUEST) {
    fuzz_up_http_request(p, len);
    return 0;
  }
  size_t whole = fuzz_up_run(which, p, len, len);
  size_t cut = len ? data[1] % (len + 1) : 0;
  /* However the bytes arrive, the same answer is found. */
  if (fuzz_up_run(which, p, len, cut) != whole)
    __builtin_trap();
  return 0;
}
