/* upstream_socks5: the client side of SOCKS5 (RFC 1928) and its
 * username/password sub-negotiation (RFC 1929), for dialing through an
 * upstream proxy. Conventions in upstream_codec.h: whole messages out,
 * peek and drain whole answers in. */
#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "net/socks5.h"
#include "net/upstream_codec.h"

#define UPSTREAM_S5_METHOD_REPLY_LEN 2
#define UPSTREAM_S5_AUTH_VERSION 0x01
#define UPSTREAM_S5_AUTH_REPLY_LEN 2
/* VER ULEN UNAME[255] PLEN PASSWD[255] */
#define UPSTREAM_S5_AUTH_MAX_LEN (3 + 2 * UPSTREAM_CRED_MAX)

/* Request and reply: VER CMD|REP RSV ATYP, an address, a 2-byte port. */
#define UPSTREAM_S5_OFF_VER 0
#define UPSTREAM_S5_OFF_REP 1
#define UPSTREAM_S5_OFF_ATYP 3
#define UPSTREAM_S5_HDR_LEN 4
#define UPSTREAM_S5_IPV4_LEN 4
#define UPSTREAM_S5_IPV6_LEN 16
#define UPSTREAM_S5_NAME_LEN_LEN 1 /* the length octet before a name */
#define UPSTREAM_S5_NAME_MAX 255
#define UPSTREAM_S5_PORT_LEN 2
#define UPSTREAM_S5_MSG_MAX_LEN                                                \
  (UPSTREAM_S5_HDR_LEN + UPSTREAM_S5_NAME_LEN_LEN + UPSTREAM_S5_NAME_MAX +     \
   UPSTREAM_S5_PORT_LEN)

void upstream_socks5_write_greeting(struct evbuffer *out, bool with_auth) {
  const uint8_t msg[3] = {SOCKS5_VERSION, 1,
                          with_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NO_AUTH};
  evbuffer_add(out, msg, sizeof msg);
}

upstream_result_t upstream_socks5_read_method(struct evbuffer *in, uint8_t *method) {
  uint8_t buf[UPSTREAM_S5_METHOD_REPLY_LEN];
  size_t have = upstream_peek(in, buf, sizeof buf);
  if (have >= 1 && buf[0] != SOCKS5_VERSION)
    return UPSTREAM_ERROR;
  if (have < sizeof buf)
    return UPSTREAM_NEED_MORE;
  *method = buf[1];
  evbuffer_drain(in, sizeof buf);
  return UPSTREAM_OK;
}

int upstream_socks5_write_auth(struct evbuffer *out, const char *user, const char *pass) {
  size_t ulen = strnlen(user, UPSTREAM_CRED_MAX + 1);
  size_t plen = strnlen(pass, UPSTREAM_CRED_MAX + 1);
  if (ulen == 0 || ulen > UPSTREAM_CRED_MAX || plen == 0 || plen > UPSTREAM_CRED_MAX)
    return EINVAL;
  uint8_t msg[UPSTREAM_S5_AUTH_MAX_LEN];
  size_t n = 0;
  msg[n++] = UPSTREAM_S5_AUTH_VERSION;
  msg[n++] = (uint8_t)ulen;
  memcpy(msg + n, user, ulen);
  n += ulen;
  msg[n++] = (uint8_t)plen;
  memcpy(msg + n, pass, plen);
  n += plen;
  int rc = upstream_add_secret(out, msg, n);
  sodium_memzero(msg, sizeof msg);
  return rc;
}

upstream_result_t upstream_socks5_read_auth(struct evbuffer *in, uint8_t *status) {
  uint8_t buf[UPSTREAM_S5_AUTH_REPLY_LEN];
  size_t have = upstream_peek(in, buf, sizeof buf);
  if (have >= 1 && buf[0] != UPSTREAM_S5_AUTH_VERSION && buf[0] != SOCKS5_VERSION)
    return UPSTREAM_ERROR;
  if (have < sizeof buf)
    return UPSTREAM_NEED_MORE;
  *status = buf[1];
  evbuffer_drain(in, sizeof buf);
  return UPSTREAM_OK;
}

int upstream_socks5_write_connect(struct evbuffer *out, const addr_endpoint_t *dest) {
  uint8_t msg[UPSTREAM_S5_MSG_MAX_LEN];
  size_t n = 0;
  msg[n++] = SOCKS5_VERSION;
  msg[n++] = SOCKS5_CMD_CONNECT;
  msg[n++] = 0; /* RSV */
  if (dest->family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&dest->sa;
    msg[n++] = SOCKS5_ATYP_IPV4;
    memcpy(msg + n, &sin->sin_addr, UPSTREAM_S5_IPV4_LEN);
    n += UPSTREAM_S5_IPV4_LEN;
  } else if (dest->family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&dest->sa;
    msg[n++] = SOCKS5_ATYP_IPV6;
    memcpy(msg + n, &sin6->sin6_addr, UPSTREAM_S5_IPV6_LEN);
    n += UPSTREAM_S5_IPV6_LEN;
  } else {
    size_t len = strnlen(dest->host, sizeof dest->host);
    if (len == 0 || len > UPSTREAM_S5_NAME_MAX)
      return EINVAL;
    msg[n++] = SOCKS5_ATYP_DOMAIN;
    msg[n++] = (uint8_t)len;
    memcpy(msg + n, dest->host, len);
    n += len;
  }
  msg[n++] = (uint8_t)(dest->port >> 8);
  msg[n++] = (uint8_t)(dest->port & 0xff);
  return evbuffer_add(out, msg, n) == 0 ? 0 : ENOMEM;
}

upstream_result_t upstream_socks5_read_reply(struct evbuffer *in, uint8_t *rep) {
  uint8_t buf[UPSTREAM_S5_MSG_MAX_LEN];
  size_t have = upstream_peek(in, buf, sizeof buf);
  if (have > UPSTREAM_S5_OFF_VER && buf[UPSTREAM_S5_OFF_VER] != SOCKS5_VERSION)
    return UPSTREAM_ERROR;
  if (have < UPSTREAM_S5_HDR_LEN)
    return UPSTREAM_NEED_MORE;
  size_t addr_len;
  switch (buf[UPSTREAM_S5_OFF_ATYP]) {
  case SOCKS5_ATYP_IPV4:
    addr_len = UPSTREAM_S5_IPV4_LEN;
    break;
  case SOCKS5_ATYP_IPV6:
    addr_len = UPSTREAM_S5_IPV6_LEN;
    break;
  case SOCKS5_ATYP_DOMAIN:
    if (have <= UPSTREAM_S5_HDR_LEN)
      return UPSTREAM_NEED_MORE;
    addr_len = UPSTREAM_S5_NAME_LEN_LEN + buf[UPSTREAM_S5_HDR_LEN];
    break;
  default:
    return UPSTREAM_ERROR;
  }
  size_t total = UPSTREAM_S5_HDR_LEN + addr_len + UPSTREAM_S5_PORT_LEN;
  if (have < total)
    return UPSTREAM_NEED_MORE;
  *rep = buf[UPSTREAM_S5_OFF_REP];
  evbuffer_drain(in, total);
  return UPSTREAM_OK;
}

int upstream_socks5_rep_errno(uint8_t rep) {
  switch (rep) {
  case SOCKS5_REP_SUCCEEDED:
    return 0;
  case SOCKS5_REP_GENERAL_FAILURE:
    return ECONNABORTED;
  case SOCKS5_REP_NOT_ALLOWED:
    return EACCES;
  case SOCKS5_REP_NET_UNREACHABLE:
    return ENETUNREACH;
  case SOCKS5_REP_HOST_UNREACHABLE:
    return EHOSTUNREACH;
  case SOCKS5_REP_CONN_REFUSED:
    return ECONNREFUSED;
  case SOCKS5_REP_TTL_EXPIRED:
    return ETIMEDOUT;
  case SOCKS5_REP_CMD_NOT_SUPPORTED:
    return EOPNOTSUPP;
  case SOCKS5_REP_ATYP_NOT_SUPPORTED:
    return EAFNOSUPPORT;
  default:
    return EPROTO;
  }
}
