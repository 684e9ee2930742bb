/* upstream_codec: what the three upstream codecs share: which destinations
 * each proxy type can carry, peeking, and adding secrets to a buffer. */
#include "net/upstream_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "lib/evbuf.h"

/* RFC 3986 "unreserved": every DNS name fits, and none of these bytes can
 * end a request line, start a header, or change an authority's meaning. */
static bool upstream_name_char_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

int upstream_check_dest(upstream_type_t type, const addr_endpoint_t *dest) {
  if (dest->family == AF_INET6 && type == UPSTREAM_SOCKS4A)
    return EAFNOSUPPORT;
  if (dest->family != AF_UNSPEC)
    return 0;
  if (dest->host[0] == '\0')
    return EINVAL;
  if (type == UPSTREAM_HTTP) {
    for (const char *p = dest->host; *p; p++) {
      if (!upstream_name_char_ok((unsigned char)*p))
        return EINVAL;
    }
  }
  return 0;
}

size_t upstream_peek(struct evbuffer *in, uint8_t *buf, size_t cap) {
  size_t have;
  /* A failed read leaves have 0: "nothing yet", as callers expect. */
  (void)evbuf_peek(in, buf, cap, &have);
  return have;
}

typedef struct upstream_secret {
  size_t len;
  uint8_t data[]; /* flexible: the message itself */
} upstream_secret_t;

static void upstream_secret_wipe(const void *data, size_t datalen, void *extra) {
  upstream_secret_t *s = extra;
  sodium_memzero(s->data, s->len);
  free(s);
}

int upstream_add_secret(struct evbuffer *out, const void *data, size_t len) {
  upstream_secret_t *s = malloc(sizeof *s + len);
  if (!s)
    return ENOMEM;
  s->len = len;
  memcpy(s->data, data, len);
  /* On failure libevent has not taken the reference: wipe it here. */
  if (evbuffer_add_reference(out, s->data, len, upstream_secret_wipe, s) != 0) {
    upstream_secret_wipe(s->data, len, s);
    return ENOMEM;
  }
  return 0;
}
