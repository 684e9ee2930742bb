/* upstream_socks4a: the client side of SOCKS4 with the 4a extension (a
 * name the proxy resolves), for dialing through an upstream proxy.
 * Conventions in upstream_codec.h. The user id is always empty: Tor sends
 * none either, and it would only identify the user to the proxy. */
#include <errno.h>
#include <string.h>

#include <netinet/in.h>

#include <event2/buffer.h>

#include "net/upstream_codec.h"

#define UPSTREAM_S4_VERSION 0x04
#define UPSTREAM_S4_CMD_CONNECT 0x01
#define UPSTREAM_S4_REPLY_VERSION 0x00
#define UPSTREAM_S4_REPLY_LEN 8
#define UPSTREAM_S4_IPV4_LEN 4
#define UPSTREAM_S4_GRANTED 0x5A
#define UPSTREAM_S4_REJECTED 0x5B
#define UPSTREAM_S4_NO_IDENTD 0x5C
#define UPSTREAM_S4_IDENTD_MISMATCH 0x5D
/* VN CD PORT[2] IP[4] USERID-NUL NAME NUL */
#define UPSTREAM_S4_REQ_MAX_LEN (4 + UPSTREAM_S4_IPV4_LEN + 1 + ADDR_HOST_MAX + 1)

int upstream_socks4a_write_connect(struct evbuffer *out, const addr_endpoint_t *dest) {
  uint8_t msg[UPSTREAM_S4_REQ_MAX_LEN];
  size_t n = 0;
  if (dest->family == AF_INET6)
    return EAFNOSUPPORT;
  msg[n++] = UPSTREAM_S4_VERSION;
  msg[n++] = UPSTREAM_S4_CMD_CONNECT;
  msg[n++] = (uint8_t)(dest->port >> 8);
  msg[n++] = (uint8_t)(dest->port & 0xff);
  if (dest->family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&dest->sa;
    memcpy(msg + n, &sin->sin_addr, UPSTREAM_S4_IPV4_LEN);
    n += UPSTREAM_S4_IPV4_LEN;
    msg[n++] = 0; /* empty user id */
  } else {
    size_t len = strnlen(dest->host, sizeof dest->host);
    if (len == 0 || len > ADDR_HOST_MAX)
      return EINVAL;
    /* 0.0.0.x with x != 0 says "a name follows" (the 4a extension). */
    static const uint8_t name_follows[UPSTREAM_S4_IPV4_LEN] = {0, 0, 0, 1};
    memcpy(msg + n, name_follows, sizeof name_follows);
    n += sizeof name_follows;
    msg[n++] = 0; /* empty user id */
    memcpy(msg + n, dest->host, len);
    n += len;
    msg[n++] = 0;
  }
  return evbuffer_add(out, msg, n) == 0 ? 0 : ENOMEM;
}

upstream_result_t upstream_socks4_read_reply(struct evbuffer *in, uint8_t *cd) {
  uint8_t buf[UPSTREAM_S4_REPLY_LEN];
  size_t have = upstream_peek(in, buf, sizeof buf);
  if (have >= 1 && buf[0] != UPSTREAM_S4_REPLY_VERSION)
    return UPSTREAM_ERROR;
  if (have < sizeof buf)
    return UPSTREAM_NEED_MORE;
  *cd = buf[1];
  evbuffer_drain(in, sizeof buf);
  return UPSTREAM_OK;
}

int upstream_socks4_cd_errno(uint8_t cd) {
  switch (cd) {
  case UPSTREAM_S4_GRANTED:
    return 0;
  case UPSTREAM_S4_REJECTED:
    return ECONNREFUSED;
  case UPSTREAM_S4_NO_IDENTD:
  case UPSTREAM_S4_IDENTD_MISMATCH:
    return EACCES;
  default:
    return EPROTO;
  }
}
